//! Time as the API speaks it: epoch milliseconds.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, as in `creation_time` and `expiry_time`.
pub type EpochMillis = i64;

const MILLIS_PER_DAY: i64 = 86_400_000;

/// Now, in epoch milliseconds.
pub fn now_millis() -> EpochMillis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The day (epoch milliseconds at 00:00 UTC) that contains `t`: token use is tracked per day so
/// that authenticating a request writes to the database at most once a day per token.
pub fn day_of(t: EpochMillis) -> EpochMillis {
    t - t.rem_euclid(MILLIS_PER_DAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_of_truncates_to_midnight_utc() {
        assert_eq!(day_of(1_580_265_020_299), 1_580_256_000_000);
        assert_eq!(day_of(1_580_256_000_000), 1_580_256_000_000);
    }
}
