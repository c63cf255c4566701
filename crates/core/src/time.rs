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

/// Now, for the creation time of something a list orders by creation: strictly later than any
/// creation time this process handed out before, so that two tokens or jobs made within one
/// millisecond still list in the order they were made.
pub fn creation_millis() -> EpochMillis {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = now_millis();
    let previous = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(now.max(last + 1))
        })
        .unwrap_or(now);
    now.max(previous + 1)
}

/// The day (epoch milliseconds at 00:00 UTC) that contains `t`: token use is tracked per day so
/// that authenticating a request writes to the database at most once a day per token.
pub fn day_of(t: EpochMillis) -> EpochMillis {
    t - t.rem_euclid(MILLIS_PER_DAY)
}

/// The proleptic Gregorian date (year, month, day) of a day counted from 1970-01-01, which may be
/// negative (Howard Hinnant's `civil_from_days`).
pub fn civil_date(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_of_days_around_the_epoch() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(-1), (1969, 12, 31));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(20_792), (2026, 12, 5));
    }

    #[test]
    fn creation_times_strictly_increase() {
        let times: Vec<_> = (0..1000).map(|_| creation_millis()).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]));
        assert!(times[0] >= now_millis() - 1000);
    }

    #[test]
    fn day_of_truncates_to_midnight_utc() {
        assert_eq!(day_of(1_580_265_020_299), 1_580_256_000_000);
        assert_eq!(day_of(1_580_256_000_000), 1_580_256_000_000);
    }
}
