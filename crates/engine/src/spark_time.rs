//! Time zones and months as Spark counts them: `from_utc_timestamp(ts, tz)` and
//! `to_utc_timestamp(ts, tz)` move a timestamp between UTC and a zone's wall clock (dbt's
//! `convert_timezone` is both), `months_between(a, b)` counts months the way Spark does,
//! fractions in 31-day months.
//!
//! A `TIMESTAMP` here is an instant in UTC, as it is on a warehouse whose session time zone is
//! UTC, so its wall clock is UTC's.

use crate::spark::{Function, refused, temporal};
use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDateTime, Offset, TimeZone, Timelike,
};
use deltalake::arrow::array::timezone::Tz;
use deltalake::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, StringArray, TimestampMicrosecondArray,
};
use deltalake::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use deltalake::datafusion::common::{Result, exec_err};
use std::sync::Arc;

pub(crate) fn functions() -> Vec<Function> {
    vec![
        Function::new(
            "from_utc_timestamp",
            |args| zone_arguments("from_utc_timestamp", args),
            |_| Ok(timestamp()),
            |args| shifted(args, Shift::FromUtc),
        ),
        Function::new(
            "to_utc_timestamp",
            |args| zone_arguments("to_utc_timestamp", args),
            |_| Ok(timestamp()),
            |args| shifted(args, Shift::ToUtc),
        ),
        Function::new(
            "months_between",
            |args| match args {
                [a, b] if temporal(a) && temporal(b) => Ok(vec![timestamp(), timestamp()]),
                [a, b, round] if temporal(a) && temporal(b) && boolean(round) => {
                    Ok(vec![timestamp(), timestamp(), DataType::Boolean])
                }
                _ => refused("months_between", "(TIMESTAMP, TIMESTAMP[, BOOLEAN])", args),
            },
            |_| Ok(DataType::Float64),
            months_between,
        ),
    ]
}

/// A timestamp as text, as Spark casts it to a `STRING`: `2024-01-01 10:00:00`, with the
/// fraction of a second only as far as it goes (`.5`, `.123456`), its wall clock UTC's. (The
/// engine's cast writes `2024-01-01T10:00:00`, so keys made of a cast timestamp differed from
/// Databricks'.) Not a function a statement calls by name: `CAST(ts AS STRING)` is planned as
/// this ([`crate::spark_operators`]).
pub(crate) fn timestamp_text() -> Function {
    Function::new(
        "timestamp_text",
        |args| match args {
            [DataType::Timestamp(..)] => Ok(vec![DataType::Timestamp(TimeUnit::Microsecond, None)]),
            _ => refused("timestamp_text", "a TIMESTAMP", args),
        },
        |_| Ok(DataType::Utf8),
        |args| {
            let [ts] = args else {
                return exec_err!("timestamp_text() takes 1 argument");
            };
            let texts: StringArray = ts
                .as_primitive::<TimestampMicrosecondType>()
                .iter()
                .map(|micros| micros.and_then(spark_timestamp_text))
                .collect();
            Ok(Arc::new(texts) as ArrayRef)
        },
    )
}

fn spark_timestamp_text(micros: i64) -> Option<String> {
    let t = DateTime::from_timestamp_micros(micros)?.naive_utc();
    let mut text = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let fraction = micros.rem_euclid(1_000_000);
    if fraction != 0 {
        let digits = format!("{fraction:06}");
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    Some(text)
}

/// Databricks' `TIMESTAMP`: microseconds since the epoch, in UTC.
fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn boolean(t: &DataType) -> bool {
    matches!(t, DataType::Boolean | DataType::Null)
}

fn zone_arguments(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    match args {
        [ts, zone] if temporal(ts) && (zone.is_string() || zone.is_null()) => {
            Ok(vec![timestamp(), DataType::Utf8])
        }
        _ => refused(name, "(TIMESTAMP, STRING)", args),
    }
}

#[derive(Debug, Clone, Copy)]
enum Shift {
    /// The UTC instant's wall clock in the zone.
    FromUtc,
    /// The zone's wall clock as a UTC instant.
    ToUtc,
}

/// The zone `name` names: a region (`America/New_York`), `UTC`, or an offset (`+08:00`,
/// `GMT+8`, `UTC-05:30`).
fn zone(name: &str) -> Option<Tz> {
    let name = name.trim();
    if let Ok(tz) = name.parse::<Tz>() {
        return Some(tz);
    }
    let offset =
        ["UTC", "GMT", "UT"].iter().find_map(|prefix| name.strip_prefix(prefix)).unwrap_or(name);
    if offset.is_empty() || offset == "Z" {
        return "+00:00".parse().ok();
    }
    // `+8` and `-5:30`, with one digit for the hours, as Java reads them.
    let (sign, rest) = offset.split_at(offset.find(|c: char| c.is_ascii_digit())?);
    let (hours, minutes) = rest.split_once(':').unwrap_or((rest, "00"));
    if !matches!(sign, "+" | "-") || hours.len() > 2 || minutes.len() != 2 {
        return None;
    }
    format!("{sign}{hours:0>2}:{minutes}").parse().ok()
}

fn shifted(args: &[ArrayRef], shift: Shift) -> Result<ArrayRef> {
    let [ts, zones] = args else {
        return exec_err!("this function takes 2 arguments");
    };
    let ts = ts.as_primitive::<TimestampMicrosecondType>();
    let zones = zones.as_string::<i32>();
    let mut out = Vec::with_capacity(ts.len());
    for i in 0..ts.len() {
        if ts.is_null(i) || zones.is_null(i) {
            out.push(None);
            continue;
        }
        let Some(tz) = zone(zones.value(i)) else {
            return exec_err!(
                "[INVALID_TIMEZONE] The time zone '{}' is invalid: give a region such as \
                 'America/New_York' or an offset such as '+08:00'.",
                zones.value(i)
            );
        };
        let Some(wall) = DateTime::from_timestamp_micros(ts.value(i)).map(|t| t.naive_utc()) else {
            out.push(None);
            continue;
        };
        let moved = match shift {
            Shift::FromUtc => tz.from_utc_datetime(&wall).naive_local(),
            Shift::ToUtc => local_to_utc(&tz, wall),
        };
        out.push(Some(moved.and_utc().timestamp_micros()));
    }
    Ok(Arc::new(TimestampMicrosecondArray::from(out).with_timezone("UTC")))
}

/// The UTC time of the wall clock `wall` in `tz`. A time a change of clocks repeats is its
/// earlier instant; one it skips is read with the offset before the change (02:30 in a gap
/// from 02:00 to 03:00 is 03:30), as Java reads them.
fn local_to_utc(tz: &Tz, wall: NaiveDateTime) -> NaiveDateTime {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.naive_utc(),
        LocalResult::None => {
            let before = tz.offset_from_utc_datetime(&(wall - Duration::days(1))).fix();
            wall - Duration::seconds(i64::from(before.local_minus_utc()))
        }
    }
}

fn months_between(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (a, b) = match args {
        [a, b] | [a, b, _] => (
            a.as_primitive::<TimestampMicrosecondType>(),
            b.as_primitive::<TimestampMicrosecondType>(),
        ),
        _ => return exec_err!("months_between() takes 2 or 3 arguments"),
    };
    let round = args.get(2).map(|r| r.as_boolean());
    let months: Float64Array = (0..a.len())
        .map(|i| {
            if a.is_null(i) || b.is_null(i) || round.is_some_and(|r| r.is_null(i)) {
                return None;
            }
            let at = |micros: i64| DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc());
            let months = spark_months_between(at(a.value(i))?, at(b.value(i))?);
            Some(if round.is_none_or(|r| r.value(i)) {
                (months * 1e8).round() / 1e8
            } else {
                months
            })
        })
        .collect();
    Ok(Arc::new(months))
}

/// Spark's months from `b` to `a`: whole months when both days of the month are the same or
/// both are the last of their months; otherwise the days and times between count in months of
/// 31 days.
fn spark_months_between(a: NaiveDateTime, b: NaiveDateTime) -> f64 {
    let month_index = |t: &NaiveDateTime| i64::from(t.year()) * 12 + i64::from(t.month());
    let months = (month_index(&a) - month_index(&b)) as f64;
    let last_day = |t: &NaiveDateTime| (t.date() + Duration::days(1)).day() == 1;
    if a.day() == b.day() || (last_day(&a) && last_day(&b)) {
        return months;
    }
    let seconds =
        |t: &NaiveDateTime| i64::from(t.day()) * 86_400 + i64::from(t.num_seconds_from_midnight());
    months + (seconds(&a) - seconds(&b)) as f64 / (31.0 * 86_400.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn months_between_counts_as_spark_does() {
        // Spark's own examples.
        let m = spark_months_between(at("1997-02-28 10:30:00"), at("1996-10-30 00:00:00"));
        assert_eq!((m * 1e8).round() / 1e8, 3.94959677);
        // The same day of the month, and two last days, are whole months, times aside.
        assert_eq!(spark_months_between(at("2024-03-15 23:00:00"), at("2024-01-15 01:00:00")), 2.0);
        assert_eq!(spark_months_between(at("2024-02-29 00:00:00"), at("2024-01-31 00:00:00")), 1.0);
        assert_eq!(
            spark_months_between(at("2024-01-01 00:00:00"), at("2024-02-01 00:00:00")),
            -1.0
        );
    }

    #[test]
    fn a_timestamp_is_written_as_spark_casts_it() {
        let micros = |text: &str| at(text).and_utc().timestamp_micros();
        let base = micros("2024-01-01 10:00:00");
        assert_eq!(spark_timestamp_text(base).unwrap(), "2024-01-01 10:00:00");
        assert_eq!(spark_timestamp_text(base + 500_000).unwrap(), "2024-01-01 10:00:00.5");
        assert_eq!(spark_timestamp_text(base + 123_456).unwrap(), "2024-01-01 10:00:00.123456");
        assert_eq!(
            spark_timestamp_text(micros("1969-12-31 23:59:59") + 250_000).unwrap(),
            "1969-12-31 23:59:59.25"
        );
    }

    #[test]
    fn zones_are_regions_and_offsets() {
        let utc = at("2024-07-01 12:00:00");
        let wall = |name: &str| zone(name).map(|tz| tz.from_utc_datetime(&utc).naive_local());
        assert_eq!(wall("America/New_York"), Some(at("2024-07-01 08:00:00")));
        assert_eq!(wall("+08:00"), Some(at("2024-07-01 20:00:00")));
        assert_eq!(wall("GMT+8"), Some(at("2024-07-01 20:00:00")));
        assert_eq!(wall("UTC-05:30"), Some(at("2024-07-01 06:30:00")));
        assert_eq!(wall("UTC"), Some(utc));
        assert_eq!(wall("Z"), Some(utc));
        assert_eq!(wall("Mars/Olympus"), None);
        assert_eq!(wall("+8:0"), None);
    }

    #[test]
    fn a_wall_clock_time_in_a_change_of_clocks_is_read_as_java_reads_it() {
        let tz = zone("Europe/Berlin").unwrap();
        // 2024-03-31 02:30 does not exist in Berlin (02:00 became 03:00): read as 03:30 CEST.
        assert_eq!(local_to_utc(&tz, at("2024-03-31 02:30:00")), at("2024-03-31 01:30:00"));
        // 2024-10-27 02:30 happened twice: the earlier, in CEST.
        assert_eq!(local_to_utc(&tz, at("2024-10-27 02:30:00")), at("2024-10-27 00:30:00"));
    }
}
