//! An array's elements and a map's values, as Databricks reads them: `element_at(array, n)`
//! counts from 1 (from the end when `n` is negative), `array[i]` and `get(array, i)` count
//! from 0; an index outside the array is an error, where `try_element_at` and `get` give
//! `NULL`; a key a map does not hold is `NULL`. (DataFusion's `element_at` reads maps only,
//! and its `array[i]` counts from 1: [`subscript`] is what `array[i]` is planned as.)

use crate::spark::{Function, refused};
use deltalake::arrow::array::{Array, ArrayRef, AsArray, Int64Array, Scalar};
use deltalake::arrow::compute::kernels::cmp::eq;
use deltalake::arrow::compute::take;
use deltalake::arrow::datatypes::{DataType, Int64Type};
use deltalake::datafusion::common::{Result, exec_err};

/// How an index reads an array: from which first index, and whether one outside the array is
/// `NULL` or an error.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Indexing {
    /// `element_at`: from 1, from the end when negative; outside, an error.
    ElementAt,
    /// `try_element_at`: as `element_at`, and `NULL` outside.
    TryElementAt,
    /// `array[i]`: from 0; outside, an error.
    Subscript,
    /// `get`: from 0, and `NULL` outside.
    Get,
}

impl Indexing {
    fn first(self) -> i64 {
        match self {
            Indexing::ElementAt | Indexing::TryElementAt => 1,
            Indexing::Subscript | Indexing::Get => 0,
        }
    }

    fn tolerant(self) -> bool {
        matches!(self, Indexing::TryElementAt | Indexing::Get)
    }
}

pub(crate) fn functions() -> Vec<Function> {
    vec![
        Function::new(
            "element_at",
            |args| arguments("element_at", args),
            element_type,
            |args| elements(args, Indexing::ElementAt),
        ),
        Function::new(
            "try_element_at",
            |args| arguments("try_element_at", args),
            element_type,
            |args| elements(args, Indexing::TryElementAt),
        ),
        Function::new(
            "get",
            |args| arguments("get", args),
            element_type,
            |args| elements(args, Indexing::Get),
        ),
    ]
}

/// `array[i]` (and `map[key]`), as Spark reads it; not a function a statement can call by
/// name.
pub(crate) fn subscript() -> Function {
    Function::new(
        "subscript",
        |args| arguments("[]", args),
        element_type,
        |args| elements(args, Indexing::Subscript),
    )
}

fn arguments(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    match args {
        [DataType::List(_), n] if n.is_integer() || n.is_null() => {
            Ok(vec![args[0].clone(), DataType::Int64])
        }
        [DataType::LargeList(f) | DataType::FixedSizeList(f, _), n]
            if n.is_integer() || n.is_null() =>
        {
            Ok(vec![DataType::List(f.clone()), DataType::Int64])
        }
        [DataType::Map(entries, _), _] => match entries.data_type() {
            DataType::Struct(fields) if fields.len() == 2 => {
                Ok(vec![args[0].clone(), fields[0].data_type().clone()])
            }
            _ => refused(name, "(ARRAY, INT) or (MAP, key)", args),
        },
        _ => refused(name, "(ARRAY, INT) or (MAP, key)", args),
    }
}

fn element_type(args: &[DataType]) -> Result<DataType> {
    match args.first() {
        Some(DataType::List(f)) => Ok(f.data_type().clone()),
        Some(DataType::Map(entries, _)) => match entries.data_type() {
            DataType::Struct(fields) if fields.len() == 2 => Ok(fields[1].data_type().clone()),
            other => exec_err!("a map's entries are not a key and a value: {other}"),
        },
        other => exec_err!("element_at() of {other:?}"),
    }
}

/// The element each row asks for, its index read as `indexing` says.
fn elements(args: &[ArrayRef], indexing: Indexing) -> Result<ArrayRef> {
    let [collection, at] = args else {
        return exec_err!("element_at() takes 2 arguments");
    };
    let mut positions = Vec::with_capacity(collection.len());
    let values = match collection.data_type() {
        DataType::Map(..) => {
            let map = collection.as_map();
            for i in 0..map.len() {
                if map.is_null(i) || at.is_null(i) {
                    positions.push(None);
                    continue;
                }
                let offsets = map.value_offsets();
                let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                let keys = map.keys().slice(start, end - start);
                let found = eq(&keys, &Scalar::new(at.slice(i, 1)))?;
                let found = (0..found.len()).find(|&k| found.is_valid(k) && found.value(k));
                positions.push(found.map(|k| (start + k) as i64));
            }
            map.values().clone()
        }
        _ => {
            let list = collection.as_list::<i32>();
            let at = at.as_primitive::<Int64Type>();
            for i in 0..list.len() {
                if list.is_null(i) || at.is_null(i) {
                    positions.push(None);
                    continue;
                }
                let (n, len) = (at.value(i), i64::from(list.value_length(i)));
                let index = match indexing.first() {
                    1 if n == 0 => {
                        return exec_err!(
                            "[INVALID_INDEX_OF_ZERO] The index 0 is invalid. An index shall be \
                             either < 0 or > 0 (the first element has index 1)."
                        );
                    }
                    1 if n < 0 => len + n,
                    first => n - first,
                };
                if !(0..len).contains(&index) {
                    if indexing.tolerant() {
                        positions.push(None);
                        continue;
                    }
                    return match indexing.first() {
                        1 => exec_err!(
                            "[INVALID_ARRAY_INDEX_IN_ELEMENT_AT] The index {n} is out of bounds. \
                             The array has {len} elements. Use try_element_at to tolerate \
                             accessing element at invalid index and return NULL instead."
                        ),
                        _ => exec_err!(
                            "[INVALID_ARRAY_INDEX] The index {n} is out of bounds. The array \
                             has {len} elements. Use the SQL function get() to tolerate \
                             accessing element at invalid index and return NULL instead."
                        ),
                    };
                }
                positions.push(Some(i64::from(list.value_offsets()[i]) + index));
            }
            list.values().clone()
        }
    };
    Ok(take(&values, &Int64Array::from(positions), None)?)
}
