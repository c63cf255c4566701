//! Databricks' functions that DataFusion has under other names or not at all: `array(…)` is
//! DataFusion's `make_array(…)`; `typeof(x)` names `x`'s type as Databricks does (`bigint`,
//! `array<string>`), where DataFusion's `arrow_typeof` gives Arrow's names; `date_add`,
//! `date_sub` and `datediff` count days on dates; `size` counts an array's or a map's elements;
//! `get_json_object` reads a value out of JSON text.

use crate::types::databricks_type_name;
use deltalake::arrow::array::{Array, AsArray, Int32Array, StringArray};
use deltalake::arrow::compute::kernels::arity::try_binary;
use deltalake::arrow::datatypes::{DataType, Date32Type, Int32Type};
use deltalake::arrow::error::ArrowError;
use deltalake::datafusion::common::{Result, ScalarValue, exec_err, plan_err};
use deltalake::datafusion::execution::{FunctionRegistry, SessionState};
use deltalake::datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::Arc;

/// Registers the functions of this module in `state`.
pub fn register(state: &mut SessionState) -> Result<()> {
    if let Some(make_array) = state.scalar_functions().get("make_array").cloned() {
        let array = make_array.as_ref().clone().with_aliases(["array"]);
        state.register_udf(Arc::new(array))?;
    }
    state.register_udf(Arc::new(ScalarUDF::new_from_impl(TypeOf::new())))?;
    for days in [Days::Add, Days::Sub, Days::Diff] {
        state.register_udf(Arc::new(ScalarUDF::new_from_impl(DayArithmetic::new(days))))?;
    }
    state.register_udf(Arc::new(ScalarUDF::new_from_impl(Size::new())))?;
    state.register_udf(Arc::new(ScalarUDF::new_from_impl(GetJsonObject::new())))?;
    Ok(())
}

/// `typeof(x)`: the Databricks name of `x`'s type, in lower case as Databricks writes it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct TypeOf {
    signature: Signature,
}

impl TypeOf {
    fn new() -> TypeOf {
        TypeOf {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for TypeOf {
    fn name(&self) -> &str {
        "typeof"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let name = match args.arg_fields.first() {
            Some(field) if field.data_type() == &DataType::Null => "void".to_owned(),
            Some(field) => databricks_type_name(field.data_type()).to_lowercase(),
            None => "void".to_owned(),
        };
        Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))))
    }
}

/// Day arithmetic on dates, as Spark has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Days {
    /// `date_add(start, days)`: the date `days` after `start`.
    Add,
    /// `date_sub(start, days)`: the date `days` before `start`.
    Sub,
    /// `datediff(end, start)`: how many days `end` is after `start`.
    Diff,
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct DayArithmetic {
    days: Days,
    signature: Signature,
}

impl DayArithmetic {
    fn new(days: Days) -> DayArithmetic {
        DayArithmetic {
            days,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// Whether a value of type `t` is read as a date where a date is wanted: a date, a timestamp
/// (its day) or a string (parsed), as Databricks casts them.
fn to_date(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(..)
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Null
    )
}

impl ScalarUDFImpl for DayArithmetic {
    fn name(&self) -> &str {
        match self.days {
            Days::Add => "date_add",
            Days::Sub => "date_sub",
            Days::Diff => "datediff",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        let [first, second] = args else {
            return plan_err!("{}() takes 2 arguments, not {}", self.name(), args.len());
        };
        let second_ok = match self.days {
            Days::Diff => to_date(second),
            Days::Add | Days::Sub => second.is_integer() || second == &DataType::Null,
        };
        if !to_date(first) || !second_ok {
            let wanted = match self.days {
                Days::Diff => "(DATE, DATE)",
                Days::Add | Days::Sub => "(DATE, INT)",
            };
            return plan_err!(
                "{}() takes {wanted}, not ({}, {})",
                self.name(),
                databricks_type_name(first),
                databricks_type_name(second)
            );
        }
        Ok(match self.days {
            Days::Diff => vec![DataType::Date32, DataType::Date32],
            Days::Add | Days::Sub => vec![DataType::Date32, DataType::Int32],
        })
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(match self.days {
            Days::Diff => DataType::Int32,
            Days::Add | Days::Sub => DataType::Date32,
        })
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [first, second] = arrays.as_slice() else {
            return exec_err!("{}() takes 2 arguments", self.name());
        };
        let start = first.as_primitive::<Date32Type>();
        let out_of_range =
            || ArrowError::ComputeError(format!("{}() is out of range", self.name()));
        let result: Arc<dyn Array> = match self.days {
            Days::Diff => Arc::new(try_binary::<_, _, _, Int32Type>(
                start,
                second.as_primitive::<Date32Type>(),
                |end, start| end.checked_sub(start).ok_or_else(out_of_range),
            )?),
            Days::Add | Days::Sub => {
                let sign = if self.days == Days::Add { 1 } else { -1 };
                Arc::new(try_binary::<_, _, _, Date32Type>(
                    start,
                    second.as_primitive::<Int32Type>(),
                    |date, days| {
                        days.checked_mul(sign)
                            .and_then(|days| date.checked_add(days))
                            .ok_or_else(out_of_range)
                    },
                )?)
            }
        };
        Ok(ColumnarValue::Array(result))
    }
}

/// `size(x)`: how many elements the array or map `x` holds (`NULL` for `NULL`, as Databricks
/// SQL answers with ANSI mode on).
#[derive(Debug, PartialEq, Eq, Hash)]
struct Size {
    signature: Signature,
}

impl Size {
    fn new() -> Size {
        Size {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for Size {
    fn name(&self) -> &str {
        "size"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args {
            [DataType::List(_) | DataType::Map(..) | DataType::Null] => Ok(args.to_vec()),
            [DataType::LargeList(field) | DataType::FixedSizeList(field, _)] => {
                Ok(vec![DataType::List(field.clone())])
            }
            [other] => plan_err!(
                "size() takes an ARRAY or a MAP, not {}",
                databricks_type_name(other)
            ),
            _ => plan_err!("size() takes 1 argument, not {}", args.len()),
        }
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int32)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [array] = arrays.as_slice() else {
            return exec_err!("size() takes 1 argument");
        };
        let sizes: Int32Array = match array.data_type() {
            DataType::List(_) => {
                let list = array.as_list::<i32>();
                (0..list.len())
                    .map(|i| list.is_valid(i).then(|| list.value_length(i)))
                    .collect()
            }
            DataType::Map(..) => {
                let map = array.as_map();
                (0..map.len())
                    .map(|i| map.is_valid(i).then(|| map.value_length(i)))
                    .collect()
            }
            _ => Int32Array::new_null(array.len()),
        };
        Ok(ColumnarValue::Array(Arc::new(sizes)))
    }
}

/// `get_json_object(json, path)`: the value at `path` (`$.a.b[0]`, `$['a b']`) in the JSON text
/// `json`, a string as its text and anything else as JSON; `NULL` when the text is not JSON,
/// the path is not one, or nothing is there.
#[derive(Debug, PartialEq, Eq, Hash)]
struct GetJsonObject {
    signature: Signature,
}

impl GetJsonObject {
    fn new() -> GetJsonObject {
        GetJsonObject {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for GetJsonObject {
    fn name(&self) -> &str {
        "get_json_object"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        match args {
            [_, _] => Ok(vec![DataType::Utf8, DataType::Utf8]),
            _ => plan_err!("get_json_object() takes 2 arguments, not {}", args.len()),
        }
    }

    fn return_type(&self, _args: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let [json, path] = arrays.as_slice() else {
            return exec_err!("get_json_object() takes 2 arguments");
        };
        let (json, path) = (json.as_string::<i32>(), path.as_string::<i32>());
        let values: StringArray = (0..json.len())
            .map(|i| {
                if json.is_null(i) || path.is_null(i) {
                    return None;
                }
                json_at(json.value(i), path.value(i))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(values)))
    }
}

/// One step of a JSON path.
#[derive(Debug, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

/// The steps of the JSON path `path`: `$`, then `.key`, `['key']` or `[n]` steps.
fn json_path(path: &str) -> Option<Vec<Step>> {
    let mut rest = path.trim().strip_prefix('$')?;
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end == 0 {
                return None;
            }
            steps.push(Step::Key(after[..end].to_owned()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix("['") {
            let end = after.find("']")?;
            steps.push(Step::Key(after[..end].to_owned()));
            rest = &after[end + 2..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            steps.push(Step::Index(after[..end].trim().parse().ok()?));
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

fn json_at(json: &str, path: &str) -> Option<String> {
    let mut value: serde_json::Value = serde_json::from_str(json).ok()?;
    for step in json_path(path)? {
        value = match (step, value) {
            (Step::Key(key), serde_json::Value::Object(mut object)) => object.remove(&key)?,
            (Step::Index(n), serde_json::Value::Array(mut array)) if n < array.len() => {
                array.swap_remove(n)
            }
            _ => return None,
        };
    }
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s),
        other => Some(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_paths_reach_keys_and_elements() {
        let json = r#"{"a": {"b": [10, {"c": "x"}]}, "d e": true, "n": null}"#;
        for (path, value) in [
            ("$.a.b[0]", Some("10")),
            ("$.a.b[1].c", Some("x")),
            ("$.a.b[1]", Some(r#"{"c":"x"}"#)),
            ("$['d e']", Some("true")),
            ("$.n", None),
            ("$.a.b[2]", None),
            ("$.missing", None),
            ("a.b", None),
            ("$..a", None),
        ] {
            assert_eq!(json_at(json, path).as_deref(), value, "{path}");
        }
        assert_eq!(json_at("not json", "$"), None);
    }
}
