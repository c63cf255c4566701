//! Functions whose output can be far larger than their input, bounded.
//!
//! The engine's memory pool counts what sorts, joins and aggregates hold, not the values a
//! function makes: `repeat(s, n)` over a column makes `n` times its bytes in one allocation, and a
//! few of them in one batch would take the whole machine's memory, which ends the process. These
//! functions are the built-in ones behind a check of how many bytes one batch of their results
//! would take; above [`MAX_BATCH_BYTES`] the statement fails instead.

use deltalake::arrow::array::{Array, ArrayRef, AsArray};
use deltalake::arrow::compute::cast;
use deltalake::arrow::datatypes::{DataType, FieldRef, Int64Type};
use deltalake::datafusion::common::{DataFusionError, Result};
use deltalake::datafusion::execution::{FunctionRegistry, SessionState};
use deltalake::datafusion::logical_expr::{
    ColumnarValue, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};
use std::sync::Arc;

/// The most bytes the results of one of these functions may take for one batch of rows.
pub const MAX_BATCH_BYTES: u64 = 256 << 20;

/// How a function's output grows with its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Growth {
    /// `repeat(s, n)`: the bytes of `s`, `n` times.
    Repeat,
    /// `lpad(s, n[, fill])`, `rpad(…)`: `n` characters of up to four bytes.
    Pad,
    /// `array_repeat(e, n)`: `n` copies of the element.
    ArrayRepeat,
    /// `range([start,] stop[, step])` and `generate_series(…)` as values: a list of integers
    /// (of dates and timestamps, a day or more apart, it stays small).
    Series,
    /// `array_resize(a, n[, fill])`: `n` elements.
    ArrayResize,
    /// `replace(s, from, to)`: `to` for every occurrence of `from` (between every character
    /// when `from` is empty).
    Replace,
    /// `regexp_replace(s, pattern, replacement[, flags])`: the replacement for every match (the
    /// first only without the `g` flag), each group it names copied again.
    RegexpReplace,
}

/// The bounded functions, by name.
const BOUNDED: [(&str, Growth); 9] = [
    ("repeat", Growth::Repeat),
    ("lpad", Growth::Pad),
    ("rpad", Growth::Pad),
    ("array_repeat", Growth::ArrayRepeat),
    ("range", Growth::Series),
    ("generate_series", Growth::Series),
    ("array_resize", Growth::ArrayResize),
    ("replace", Growth::Replace),
    ("regexp_replace", Growth::RegexpReplace),
];

/// Replaces the built-in functions that [`BOUNDED`] names in `state` with their bounded forms.
pub fn bound_functions(state: &mut SessionState) -> Result<()> {
    for (name, growth) in BOUNDED {
        let Some(inner) = state.scalar_functions().get(name).cloned() else {
            continue;
        };
        state.register_udf(Arc::new(ScalarUDF::new_from_impl(Bounded { inner, growth })))?;
    }
    Ok(())
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Bounded {
    inner: Arc<ScalarUDF>,
    growth: Growth,
}

impl ScalarUDFImpl for Bounded {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows.max(1);
        let bytes = match self.growth {
            Growth::Series => series_bytes(&args.args, rows)?,
            Growth::Replace => replace_bytes(&args.args, rows)?,
            Growth::RegexpReplace => regexp_replace_bytes(&args.args, rows)?,
            Growth::ArrayResize => match args.args.get(1) {
                Some(count) => {
                    let per = match args.args.get(2) {
                        Some(fill) => value_sizes(fill, rows)?,
                        None => vec![8; rows],
                    };
                    per.iter()
                        .zip(counts(count, rows)?)
                        .map(|(size, n)| (*size).max(8).saturating_mul(n))
                        .fold(0u64, u64::saturating_add)
                }
                None => 0,
            },
            growth => match (args.args.first(), args.args.get(1)) {
                (Some(value), Some(count)) => value_sizes(value, rows)?
                    .iter()
                    .zip(counts(count, rows)?)
                    .map(|(size, n)| {
                        let per = match growth {
                            Growth::Repeat => *size,
                            Growth::Pad => 4,
                            _ => (*size).max(8),
                        };
                        per.saturating_mul(n)
                    })
                    .fold(0u64, u64::saturating_add),
                _ => 0,
            },
        };
        if bytes > MAX_BATCH_BYTES {
            return Err(DataFusionError::ResourcesExhausted(format!(
                "{}() would make {} MiB of values for {rows} rows; at most {} MiB",
                self.name(),
                bytes >> 20,
                MAX_BATCH_BYTES >> 20
            )));
        }
        self.inner.invoke_with_args(args)
    }
}

/// The bytes of the integer lists `range` or `generate_series` would make: eight a value.
/// Arguments that are not integers (dates, timestamps) are not counted.
fn series_bytes(args: &[ColumnarValue], rows: usize) -> Result<u64> {
    let integers = |v: &ColumnarValue| -> Result<Option<Vec<Option<i64>>>> {
        let array = v.to_array(rows)?;
        if !array.data_type().is_integer() {
            return Ok(None);
        }
        let array = cast(&array, &DataType::Int64)?;
        Ok(Some(array.as_primitive::<Int64Type>().iter().collect()))
    };
    let mut columns = Vec::new();
    for arg in args {
        match integers(arg)? {
            Some(values) => columns.push(values),
            None => return Ok(0),
        }
    }
    let mut bytes = 0u64;
    for row in 0..rows {
        let at = |i: usize| columns.get(i).and_then(|c| c.get(row).copied().flatten());
        let (start, stop, step) = match columns.len() {
            1 => (Some(0), at(0), Some(1)),
            2 => (at(0), at(1), Some(1)),
            _ => (at(0), at(1), at(2)),
        };
        if let (Some(start), Some(stop), Some(step)) = (start, stop, step)
            && step != 0
        {
            let span = i128::from(stop) - i128::from(start);
            let values = (span / i128::from(step)).max(0) as u64;
            bytes = bytes.saturating_add(values.saturating_mul(8));
        }
    }
    Ok(bytes)
}

/// The bytes `replace` would make: each row's string, and `to` for every occurrence of `from`.
/// The occurrences are counted only when the quick bound (as if every stretch of `from`'s
/// length matched) is over the limit.
fn replace_bytes(args: &[ColumnarValue], rows: usize) -> Result<u64> {
    let [s, from, to] = args else {
        return Ok(0);
    };
    let (s_sizes, from_sizes, to_sizes) =
        (value_sizes(s, rows)?, value_sizes(from, rows)?, value_sizes(to, rows)?);
    let quick = (0..rows)
        .map(|r| {
            let most = s_sizes[r] / from_sizes[r].max(1) + 1;
            s_sizes[r].saturating_add(most.saturating_mul(to_sizes[r]))
        })
        .fold(0u64, u64::saturating_add);
    if quick <= MAX_BATCH_BYTES {
        return Ok(quick);
    }
    let (s, from) = (Strings::of(s)?, Strings::of(from)?);
    Ok((0..rows)
        .map(|r| match (s.get(r), from.get(r)) {
            (Some(text), Some(pattern)) => {
                let found = if pattern.is_empty() {
                    text.chars().count() + 1
                } else {
                    text.matches(pattern).count()
                };
                s_sizes[r].saturating_add((found as u64).saturating_mul(to_sizes[r]))
            }
            _ => 0,
        })
        .fold(0u64, u64::saturating_add))
}

/// A bound on the bytes `regexp_replace` would make: a match can be as short as nothing, so a
/// row has at most one more match than characters (one without the `g` flag), each replaced by
/// the replacement; and every group reference in the replacement (a `\` or `$`) copies at most
/// the whole row again.
fn regexp_replace_bytes(args: &[ColumnarValue], rows: usize) -> Result<u64> {
    let (Some(s), Some(replacement)) = (args.first(), args.get(2)) else {
        return Ok(0);
    };
    let (texts, replacements) = (Strings::of(s)?, Strings::of(replacement)?);
    let flags = args.get(3).map(Strings::of).transpose()?;
    Ok((0..rows)
        .map(|r| {
            let (Some(text), Some(replacement)) = (texts.get(r), replacements.get(r)) else {
                return 0;
            };
            let global = flags.as_ref().and_then(|f| f.get(r)).is_some_and(|f| f.contains('g'));
            let matches = if global { text.chars().count() as u64 + 1 } else { 1 };
            let references = replacement.matches(['\\', '$']).count() as u64;
            let len = text.len() as u64;
            len.saturating_add(references.saturating_mul(len))
                .saturating_add(matches.saturating_mul(replacement.len() as u64))
        })
        .fold(0u64, u64::saturating_add))
}

/// A string argument, row by row, without copying a constant once per row.
enum Strings {
    One(Option<String>),
    Many(deltalake::arrow::array::LargeStringArray),
}

impl Strings {
    fn of(value: &ColumnarValue) -> Result<Strings> {
        Ok(match value {
            ColumnarValue::Scalar(s) => {
                let array = cast(&s.to_array_of_size(1)?, &DataType::LargeUtf8)?;
                let strings = array.as_string::<i64>();
                Strings::One(strings.is_valid(0).then(|| strings.value(0).to_owned()))
            }
            ColumnarValue::Array(a) => {
                Strings::Many(cast(a, &DataType::LargeUtf8)?.as_string::<i64>().clone())
            }
        })
    }

    fn get(&self, row: usize) -> Option<&str> {
        match self {
            Strings::One(s) => s.as_deref(),
            Strings::Many(a) => (row < a.len() && a.is_valid(row)).then(|| a.value(row)),
        }
    }
}

/// The bytes of each row's value: a string's or binary's length, otherwise the type's width (a
/// list's or struct's share of its array's memory). A constant is measured once, not made into
/// an array of one copy per row (a long string times a batch's rows is itself too much).
fn value_sizes(value: &ColumnarValue, rows: usize) -> Result<Vec<u64>> {
    if let ColumnarValue::Scalar(scalar) = value {
        let one = value_sizes(&ColumnarValue::Array(scalar.to_array_of_size(1)?), 1)?;
        return Ok(vec![one.first().copied().unwrap_or(0); rows]);
    }
    let array = value.to_array(rows)?;
    let sizes = match array.data_type() {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let strings = cast(&array, &DataType::LargeUtf8)?;
            strings.as_string::<i64>().iter().map(|s| s.map_or(0, |s| s.len() as u64)).collect()
        }
        _ => {
            let share = (array.get_array_memory_size() / array.len().max(1)) as u64;
            vec![share; array.len()]
        }
    };
    Ok(sizes)
}

/// Each row's count, negative and null ones as none.
fn counts(count: &ColumnarValue, rows: usize) -> Result<Vec<u64>> {
    let array: ArrayRef = cast(&count.to_array(rows)?, &DataType::Int64)?;
    Ok(array.as_primitive::<Int64Type>().iter().map(|n| n.map_or(0, |n| n.max(0) as u64)).collect())
}
