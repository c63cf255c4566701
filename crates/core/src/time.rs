//! Time as the API speaks it: epoch milliseconds.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, as in `creation_time` and `expiry_time`.
pub type EpochMillis = i64;

const MILLIS_PER_DAY: i64 = 86_400_000;

/// What tells the time for every wall-clock decision: a token's or session's expiry, a retry's
/// schedule, a timestamp written to a record. One edge that tests must fake, so the store holds
/// one (and the server takes the store's): a test moves a [`ManualClock`] past an expiry instead
/// of sleeping until it. Elapsed time a piece of code measures for itself (a sleep, a latency)
/// stays on `Instant`.
pub trait Clock: Debug + Send + Sync {
    /// Now, in epoch milliseconds.
    fn now_millis(&self) -> EpochMillis;

    /// Now, in whole epoch seconds (a JWT's `iat` and `exp`).
    fn now_seconds(&self) -> i64 {
        self.now_millis().div_euclid(1000)
    }

    /// Now, for the creation time of something a list orders by creation: strictly later than
    /// any creation time this clock handed out before, so that two tokens or jobs made within
    /// one millisecond (or on a clock that stands still) still list in the order they were made.
    fn creation_millis(&self) -> EpochMillis;

    /// A number that orders things made many times a millisecond (lines of query history):
    /// strictly increasing, in microseconds of this clock's time. A lane apart from
    /// [`Clock::creation_millis`], which a burst of thousands a second would push ahead of
    /// the wall clock, and with it the creation times of tokens made after.
    fn sequence(&self) -> i64;
}

/// The real time of the machine.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> EpochMillis {
        now_millis()
    }

    /// Strictly increasing across the process, as the machine's clock is one.
    fn creation_millis(&self) -> EpochMillis {
        static LAST: AtomicI64 = AtomicI64::new(0);
        strictly_after(&LAST, now_millis())
    }

    fn sequence(&self) -> i64 {
        static LAST: AtomicI64 = AtomicI64::new(0);
        let micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        strictly_after(&LAST, micros)
    }
}

/// A clock that stands still until told to move: clones share one time, so a test keeps one
/// and hands another to the store. Its creation times are its own, so a test that moves its
/// clock far ahead does not move another's.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<ManualTime>);

#[derive(Debug)]
struct ManualTime {
    now: AtomicI64,
    last_creation: AtomicI64,
    last_sequence: AtomicI64,
}

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn at(at: EpochMillis) -> ManualClock {
        ManualClock(Arc::new(ManualTime {
            now: AtomicI64::new(at),
            last_creation: AtomicI64::new(0),
            last_sequence: AtomicI64::new(0),
        }))
    }

    /// A clock stopped at the real time now, so the records it stamps look like today's.
    pub fn starting_now() -> ManualClock {
        ManualClock::at(now_millis())
    }

    /// Moves the time forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.0.now.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> EpochMillis {
        self.0.now.load(Ordering::SeqCst)
    }

    fn creation_millis(&self) -> EpochMillis {
        strictly_after(&self.0.last_creation, self.now_millis())
    }

    fn sequence(&self) -> i64 {
        strictly_after(&self.0.last_sequence, self.now_millis().saturating_mul(1000))
    }
}

/// Now, in epoch milliseconds, on the machine's clock. Code that decides by the time takes it
/// from a [`Clock`] instead, so that tests can move it.
pub fn now_millis() -> EpochMillis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `now`, or just after the last time handed out from `last` if that is not earlier, recorded
/// in `last`.
fn strictly_after(last: &AtomicI64, now: EpochMillis) -> EpochMillis {
    let previous = last
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |handed_out| {
            Some(now.max(handed_out + 1))
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
    fn a_burst_of_sequence_numbers_does_not_move_creation_times() {
        let clock = SystemClock;
        let before = clock.creation_millis();
        let mut last = clock.sequence();
        for _ in 0..100_000 {
            let next = clock.sequence();
            assert!(next > last);
            last = next;
        }
        // A hundred thousand creation times would have moved it by as many milliseconds.
        assert!(clock.creation_millis() - before < 10_000);
        let manual = ManualClock::at(5);
        assert_eq!((manual.sequence(), manual.sequence()), (5000, 5001));
        assert_eq!(manual.creation_millis(), 5);
    }

    #[test]
    fn civil_dates_of_days_around_the_epoch() {
        assert_eq!(civil_date(0), (1970, 1, 1));
        assert_eq!(civil_date(-1), (1969, 12, 31));
        assert_eq!(civil_date(11_016), (2000, 2, 29));
        assert_eq!(civil_date(20_792), (2026, 12, 5));
    }

    #[test]
    fn creation_times_strictly_increase() {
        let times: Vec<_> = (0..1000).map(|_| SystemClock.creation_millis()).collect();
        assert!(times.windows(2).all(|w| w[0] < w[1]));
        assert!(times[0] >= now_millis() - 1000);
    }

    #[test]
    fn creation_times_increase_on_a_clock_that_stands_still_and_are_its_own() {
        let clock = ManualClock::at(now_millis() + 3_600_000);
        let first = clock.creation_millis();
        let second = clock.clone().creation_millis();
        assert_eq!(first, clock.now_millis());
        assert_eq!(second, first + 1);
        // Another clock, behind this one, is not pushed ahead by it.
        let behind = ManualClock::at(1_000);
        assert_eq!(behind.creation_millis(), 1_000);
    }

    #[test]
    fn a_manual_clock_moves_only_when_advanced_and_its_clones_follow() {
        let clock = ManualClock::at(1_000_500);
        let held = clock.clone();
        assert_eq!(held.now_millis(), 1_000_500);
        assert_eq!(held.now_millis(), 1_000_500);
        clock.advance(Duration::from_millis(1_600));
        assert_eq!(held.now_millis(), 1_002_100);
        assert_eq!(held.now_seconds(), 1_002);
        let shared: Arc<dyn Clock> = Arc::new(held);
        clock.advance(Duration::from_secs(1));
        assert_eq!(shared.now_millis(), 1_003_100);
    }

    #[test]
    fn the_system_clock_is_the_machine_s() {
        let before = now_millis();
        let read = SystemClock.now_millis();
        assert!(before <= read && read <= now_millis());
    }

    #[test]
    fn day_of_truncates_to_midnight_utc() {
        assert_eq!(day_of(1_580_265_020_299), 1_580_256_000_000);
        assert_eq!(day_of(1_580_256_000_000), 1_580_256_000_000);
    }
}
