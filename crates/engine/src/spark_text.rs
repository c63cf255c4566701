//! Values as text, as Databricks writes them: the digests `sha1` and `crc32`, `format_number`
//! (`12,332.1235`), and `to_json` of an array, a map or a struct, whose JSON is also how a
//! result shows such a value ([`json_texts`]).

use crate::spark::{Function, refused};
use deltalake::arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray, StringBuilder};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, Field, Float64Type, Int64Type};
use deltalake::arrow::json::writer::{EncoderOptions, make_encoder};
use deltalake::datafusion::common::{Result, exec_err};
use sha1::{Digest, Sha1};
use std::sync::Arc;

pub(crate) fn functions() -> Vec<Function> {
    vec![
        Function::new("sha1", |args| bytes_argument("sha1", args), |_| Ok(DataType::Utf8), sha1),
        Function::new(
            "crc32",
            |args| bytes_argument("crc32", args),
            |_| Ok(DataType::Int64),
            crc32,
        ),
        Function::new(
            "format_number",
            |args| match args {
                [x, d] if (x.is_numeric() || x.is_null()) && (d.is_integer() || d.is_null()) => {
                    let x = match x {
                        DataType::Decimal128(..) => x.clone(),
                        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
                            DataType::Float64
                        }
                        _ if x.is_integer() || x.is_null() => DataType::Int64,
                        // Wider decimals are read as the widest this reads exactly.
                        _ => DataType::Decimal128(38, 18),
                    };
                    Ok(vec![x, DataType::Int64])
                }
                _ => refused("format_number", "(a number, INT)", args),
            },
            |_| Ok(DataType::Utf8),
            format_numbers,
        ),
        Function::new(
            "spark_substring",
            |args| match args {
                [s, rest @ ..]
                    if (1..=2).contains(&rest.len())
                        && (s.is_string() || s.is_null())
                        && rest.iter().all(|n| n.is_integer() || n.is_null()) =>
                {
                    let mut types = vec![DataType::Utf8];
                    types.extend(rest.iter().map(|_| DataType::Int64));
                    Ok(types)
                }
                _ => refused("substring", "(STRING, INT[, INT])", args),
            },
            |_| Ok(DataType::Utf8),
            substrings,
        ),
        Function::new(
            "to_json",
            |args| match args {
                [DataType::Struct(_) | DataType::Map(..) | DataType::List(_)] => Ok(args.to_vec()),
                [DataType::LargeList(f) | DataType::FixedSizeList(f, _)] => {
                    Ok(vec![DataType::List(f.clone())])
                }
                _ => refused("to_json", "a STRUCT, a MAP or an ARRAY", args),
            },
            |_| Ok(DataType::Utf8),
            |args| match args {
                [value] => Ok(Arc::new(json_texts(value)?) as ArrayRef),
                _ => exec_err!("to_json() takes 1 argument"),
            },
        ),
    ]
}

fn bytes_argument(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    match args {
        [t] if t.is_string()
            || t.is_null()
            || matches!(t, DataType::Binary | DataType::LargeBinary | DataType::BinaryView) =>
        {
            Ok(vec![DataType::Binary])
        }
        _ => refused(name, "a STRING or a BINARY", args),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha1(args: &[ArrayRef]) -> Result<ArrayRef> {
    let [bytes] = args else {
        return exec_err!("sha1() takes 1 argument");
    };
    let digests: StringArray =
        bytes.as_binary::<i32>().iter().map(|value| value.map(|v| hex(&Sha1::digest(v)))).collect();
    Ok(Arc::new(digests))
}

fn crc32(args: &[ArrayRef]) -> Result<ArrayRef> {
    let [bytes] = args else {
        return exec_err!("crc32() takes 1 argument");
    };
    let sums: Int64Array = bytes
        .as_binary::<i32>()
        .iter()
        .map(|value| value.map(|v| i64::from(crc32fast::hash(v))))
        .collect();
    Ok(Arc::new(sums))
}

/// The most decimals `format_number` writes: a double has no more than about 340 that mean
/// anything, and a statement may not make a value of any size it likes.
const MOST_DECIMALS: i64 = 1_000;

/// `format_number(x, d)`: `x` rounded half to even at `d` decimals, its thousands grouped
/// with commas; `NULL` for a negative `d`. A negative number keeps its sign when it rounds to
/// zero (`-0.00`), as Spark (Java) writes it.
fn format_numbers(args: &[ArrayRef]) -> Result<ArrayRef> {
    let [numbers, decimals] = args else {
        return exec_err!("format_number() takes 2 arguments");
    };
    let decimals = decimals.as_primitive::<Int64Type>();
    let digits = |i: usize, d: usize| -> Option<String> {
        match numbers.data_type() {
            DataType::Float64 => {
                let x = numbers.as_primitive::<Float64Type>().value(i);
                // The double's own decimal digits, far enough to tell a tie (0.125, exactly)
                // from a value just under one (2.675 is 2.67499999…), as Java rounds it.
                let precision = d + 40;
                x.is_finite().then(|| round_half_even(&format!("{x:.precision$}"), d))
            }
            DataType::Int64 => {
                Some(round_half_even(&numbers.as_primitive::<Int64Type>().value(i).to_string(), d))
            }
            DataType::Decimal128(..) => {
                let text = cast(&numbers.slice(i, 1), &DataType::Utf8).ok()?;
                Some(round_half_even(text.as_string::<i32>().value(0), d))
            }
            _ => None,
        }
    };
    if let Some(d) = decimals.iter().flatten().find(|d| *d > MOST_DECIMALS) {
        return exec_err!("format_number() writes at most {MOST_DECIMALS} decimals, not {d}");
    }
    let texts: StringArray = (0..numbers.len())
        .map(|i| {
            if numbers.is_null(i) || decimals.is_null(i) {
                return None;
            }
            let d = usize::try_from(decimals.value(i)).ok()?;
            digits(i, d).map(|text| grouped(&text))
        })
        .collect();
    Ok(Arc::new(texts))
}

/// The decimal text `number` (`-12.345`, `1e21` aside) rounded half to even at `decimals`
/// places, with exactly that many.
fn round_half_even(number: &str, decimals: usize) -> String {
    let (negative, number) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    let number = expanded(number);
    let (whole, fraction) = number.split_once('.').unwrap_or((&number, ""));
    let mut digits: Vec<u8> = whole.bytes().chain(fraction.bytes().take(decimals)).collect();
    digits.extend(std::iter::repeat_n(b'0', decimals.saturating_sub(fraction.len())));
    let rest = fraction.as_bytes().get(decimals..).unwrap_or_default();
    let last_odd = digits.last().is_some_and(|d| (d - b'0') % 2 == 1);
    let up = match rest.first() {
        Some(b'6'..=b'9') => true,
        Some(b'5') => rest[1..].iter().any(|&d| d != b'0') || last_odd,
        _ => false,
    };
    if up {
        let mut i = digits.len();
        loop {
            if i == 0 {
                digits.insert(0, b'1');
                break;
            }
            i -= 1;
            if digits[i] == b'9' {
                digits[i] = b'0';
            } else {
                digits[i] += 1;
                break;
            }
        }
    }
    let split = digits.len() - decimals;
    let whole = String::from_utf8_lossy(&digits[..split]).into_owned();
    let whole = if whole.is_empty() { "0".to_owned() } else { whole };
    let sign = if negative { "-" } else { "" };
    if decimals == 0 {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{}", String::from_utf8_lossy(&digits[split..]))
    }
}

/// `number` without an exponent: `1.5e3` is `1500.0`, `2e-3` is `0.002`.
fn expanded(number: &str) -> String {
    let Some((mantissa, exponent)) = number.split_once(['e', 'E']) else {
        return number.to_owned();
    };
    let exponent: i64 = exponent.parse().unwrap_or(0);
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{whole}{fraction}");
    let point = whole.len() as i64 + exponent;
    if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
    }
}

/// `text` (`-1234567.5`) with its whole part's thousands grouped: `-1,234,567.5`.
fn grouped(text: &str) -> String {
    let (sign, text) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    let mut out = String::from(sign);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(fraction) = fraction {
        out.push('.');
        out.push_str(fraction);
    }
    out
}

/// `substring(s, pos[, len])` (and `substr`, which [`crate::spark_syntax`] makes
/// `spark_substring`), as Spark counts: `pos` from 1, from the end when negative, and 0 as 1;
/// `len` characters from there, fewer at the end; `''` for none.
fn substrings(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (texts, positions) = match args {
        [s, pos, ..] => (s.as_string::<i32>(), pos.as_primitive::<Int64Type>()),
        _ => return exec_err!("substring() takes 2 or 3 arguments"),
    };
    let lengths = args.get(2).map(|l| l.as_primitive::<Int64Type>());
    let parts: StringArray = (0..texts.len())
        .map(|i| {
            if texts.is_null(i) || positions.is_null(i) || lengths.is_some_and(|l| l.is_null(i)) {
                return None;
            }
            let length = lengths.map_or(i64::MAX, |l| l.value(i));
            Some(spark_substring(texts.value(i), positions.value(i), length))
        })
        .collect();
    Ok(Arc::new(parts))
}

fn spark_substring(text: &str, pos: i64, length: i64) -> String {
    let chars = text.chars().count() as i64;
    let start = match pos {
        p if p > 0 => p - 1,
        p if p < 0 => chars + p,
        _ => 0,
    };
    let end = start.saturating_add(length);
    let start = start.max(0);
    if start >= end {
        return String::new();
    }
    text.chars().skip(start as usize).take((end - start).min(chars) as usize).collect()
}

/// The values of `column` as JSON text, as Databricks writes arrays, maps and structs
/// (`[1,2,null]`, `{"a":"x"}`), a struct's NULL fields left out; `NULL` for a NULL value.
pub fn json_texts(column: &ArrayRef) -> Result<StringArray> {
    let field = Arc::new(Field::new("v", column.data_type().clone(), true));
    let options = EncoderOptions::default()
        .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.3fZ".to_owned())
        .with_timestamp_format("%Y-%m-%dT%H:%M:%S%.3f".to_owned());
    let mut encoder = make_encoder(&field, column.as_ref(), &options)?;
    let mut texts = StringBuilder::new();
    let mut buffer = Vec::new();
    for i in 0..column.len() {
        if encoder.is_null(i) {
            texts.append_null();
            continue;
        }
        buffer.clear();
        encoder.encode(i, &mut buffer);
        texts.append_value(String::from_utf8_lossy(&buffer));
    }
    Ok(texts.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substrings_count_as_spark_does() {
        for (pos, length, part) in [
            (1, 2, "he"),
            (0, 2, "he"),
            (2, 100, "ello"),
            (-3, i64::MAX, "llo"),
            (-3, 2, "ll"),
            (-10, 7, "he"),
            (6, 1, ""),
            (2, -1, ""),
        ] {
            assert_eq!(spark_substring("hello", pos, length), part, "{pos}, {length}");
        }
        assert_eq!(spark_substring("héllo", 2, 2), "él");
    }

    #[test]
    fn numbers_round_half_to_even_and_group_their_thousands() {
        for (number, decimals, text) in [
            ("12332.123456", 4, "12,332.1235"),
            ("0.125", 2, "0.12"),
            ("0.135", 2, "0.14"),
            ("0.1251", 2, "0.13"),
            ("-1234567.5", 0, "-1,234,568"),
            ("-0.001", 2, "-0.00"),
            ("999.995", 2, "1,000.00"),
            ("5", 3, "5.000"),
            ("1.5e3", 1, "1,500.0"),
            ("2e-3", 3, "0.002"),
            ("123", 0, "123"),
        ] {
            assert_eq!(grouped(&round_half_even(number, decimals)), text, "{number}");
        }
        // A double is rounded by its own digits: 2.675 is just under, 0.125 exactly a tie.
        assert_eq!(round_half_even(&format!("{:.42}", 2.675_f64), 2), "2.67");
        assert_eq!(round_half_even(&format!("{:.42}", 0.125_f64), 2), "0.12");
    }
}
