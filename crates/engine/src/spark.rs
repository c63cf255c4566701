//! Databricks' functions that DataFusion has under other names or not at all: `array(…)` is
//! DataFusion's `make_array(…)`; `typeof(x)` names `x`'s type as Databricks does (`bigint`,
//! `array<string>`), where DataFusion's `arrow_typeof` gives Arrow's names; `date_add`,
//! `date_sub` and `datediff` count days on dates; `size` counts an array's or a map's elements;
//! `get_json_object` reads a value out of JSON text. More are in [`crate::spark_time`] (time
//! zones, months), [`crate::spark_text`] (digests, numbers as text, JSON) and
//! [`crate::spark_element`] (`element_at`), each a [`Function`] of plain parts.

use crate::types::databricks_type_name;
use deltalake::arrow::array::{Array, ArrayRef, AsArray, Int32Array, StringArray};
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
    let functions = functions()
        .into_iter()
        .chain(crate::spark_time::functions())
        .chain(crate::spark_text::functions())
        .chain(crate::spark_element::functions())
        .chain(crate::spark_hash::functions())
        .chain(crate::spark_operators::functions());
    for function in functions {
        state.register_udf(Arc::new(ScalarUDF::new_from_impl(function)))?;
    }
    state.register_function_rewrite(Arc::new(crate::spark_operators::SparkOperators::new()))?;
    state.add_analyzer_rule(Arc::new(crate::spark_operators::TimestampText::new()));
    Ok(())
}

/// A function given as plain parts: its name, the argument types it reads those it is called
/// with as (or why it refuses them), its result's type, and what it computes over whole
/// columns of arguments.
#[derive(Debug)]
pub(crate) struct Function {
    pub name: &'static str,
    pub coerce: fn(&[DataType]) -> Result<Vec<DataType>>,
    pub returns: fn(&[DataType]) -> Result<DataType>,
    pub compute: fn(&[ArrayRef]) -> Result<ArrayRef>,
    signature: Signature,
}

impl Function {
    pub fn new(
        name: &'static str,
        coerce: fn(&[DataType]) -> Result<Vec<DataType>>,
        returns: fn(&[DataType]) -> Result<DataType>,
        compute: fn(&[ArrayRef]) -> Result<ArrayRef>,
    ) -> Function {
        Function {
            name,
            coerce,
            returns,
            compute,
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

/// Functions are told apart by name, as the registry tells them.
impl PartialEq for Function {
    fn eq(&self, other: &Function) -> bool {
        self.name == other.name
    }
}

impl Eq for Function {}

impl std::hash::Hash for Function {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for Function {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, args: &[DataType]) -> Result<Vec<DataType>> {
        (self.coerce)(args)
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        (self.returns)(args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let scalars = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let result = (self.compute)(&arrays)?;
        // Arguments that are all constants make one value, whatever the batch's size.
        if scalars {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?));
        }
        Ok(ColumnarValue::Array(result))
    }
}

/// The refusal of a call to `name` with arguments of types `args`, which takes `wanted`.
pub(crate) fn refused<T>(name: &str, wanted: &str, args: &[DataType]) -> Result<T> {
    let given: Vec<String> = args.iter().map(databricks_type_name).collect();
    plan_err!("{name}() takes {wanted}, not ({})", given.join(", "))
}

/// The functions of this module.
fn functions() -> Vec<Function> {
    vec![
        // `typeof(x)`: the Databricks name of `x`'s type, in lower case as Databricks writes it.
        Function::new(
            "typeof",
            |args| match args {
                [_] => Ok(args.to_vec()),
                _ => plan_err!("typeof() takes 1 argument, not {}", args.len()),
            },
            |_| Ok(DataType::Utf8),
            |args| {
                let [value] = args else {
                    return exec_err!("typeof() takes 1 argument");
                };
                let name = match value.data_type() {
                    DataType::Null => "void".to_owned(),
                    other => databricks_type_name(other).to_lowercase(),
                };
                Ok(Arc::new(StringArray::from(vec![name; value.len()])) as ArrayRef)
            },
        ),
        // `date_add(start, days)`: the date `days` after `start`.
        Function::new(
            "date_add",
            |args| day_arguments("date_add", args),
            |_| Ok(DataType::Date32),
            |args| day_arithmetic(args, 1),
        ),
        // `date_sub(start, days)`: the date `days` before `start`.
        Function::new(
            "date_sub",
            |args| day_arguments("date_sub", args),
            |_| Ok(DataType::Date32),
            |args| day_arithmetic(args, -1),
        ),
        // `datediff(end, start)`: how many days `end` is after `start`.
        Function::new(
            "datediff",
            |args| match args {
                [end, start] if temporal(end) && temporal(start) => {
                    Ok(vec![DataType::Date32, DataType::Date32])
                }
                _ => refused("datediff", "(DATE, DATE)", args),
            },
            |_| Ok(DataType::Int32),
            |args| {
                let [end, start] = args else {
                    return exec_err!("datediff() takes 2 arguments");
                };
                let days = try_binary::<_, _, _, Int32Type>(
                    end.as_primitive::<Date32Type>(),
                    start.as_primitive::<Date32Type>(),
                    |end, start| end.checked_sub(start).ok_or_else(|| out_of_range("datediff")),
                )?;
                Ok(Arc::new(days) as ArrayRef)
            },
        ),
        // `size(x)`: how many elements the array or map `x` holds (`NULL` for `NULL`, as
        // Databricks SQL answers with ANSI mode on).
        Function::new(
            "size",
            |args| match args {
                [DataType::List(_) | DataType::Map(..) | DataType::Null] => Ok(args.to_vec()),
                [DataType::LargeList(field) | DataType::FixedSizeList(field, _)] => {
                    Ok(vec![DataType::List(field.clone())])
                }
                _ => refused("size", "an ARRAY or a MAP", args),
            },
            |_| Ok(DataType::Int32),
            sizes,
        ),
        // `get_json_object(json, path)`: the value at `path` (`$.a.b[0]`, `$['a b']`) in the
        // JSON text `json`, a string as its text and anything else as JSON; `NULL` when the
        // text is not JSON, the path is not one, or nothing is there.
        Function::new(
            "get_json_object",
            json_arguments,
            |_| Ok(DataType::Utf8),
            |args| json_values(args, false),
        ),
        // `raw:a.b` (see `crate::spark_syntax`): `get_json_object`, but a name after a dot is
        // matched in any case, as Databricks matches it there, and one that matches several
        // keys is an error; `['key']` is still matched with its case.
        Function::new(
            "json_path_text",
            json_arguments,
            |_| Ok(DataType::Utf8),
            |args| json_values(args, true),
        ),
    ]
}

/// The arguments of the functions that read JSON text: the text and a path.
fn json_arguments(args: &[DataType]) -> Result<Vec<DataType>> {
    match args {
        [_, _] => Ok(vec![DataType::Utf8, DataType::Utf8]),
        _ => plan_err!("takes JSON text and a path, not {} arguments", args.len()),
    }
}

/// The values at the paths of `args`' second column in the JSON texts of its first (see
/// [`json_at`]).
fn json_values(args: &[ArrayRef], any_case: bool) -> Result<ArrayRef> {
    let [json, path] = args else {
        return exec_err!("a JSON text and a path are 2 arguments, not {}", args.len());
    };
    let (json, path) = (json.as_string::<i32>(), path.as_string::<i32>());
    let values = json
        .iter()
        .zip(path.iter())
        .map(|(json, path)| match (json, path) {
            (Some(json), Some(path)) => json_at(json, path, any_case),
            _ => Ok(None),
        })
        .collect::<Result<StringArray>>()?;
    Ok(Arc::new(values) as ArrayRef)
}

/// Whether a value of type `t` is read as a date or a time where one is wanted: a date (its
/// midnight, where a time is wanted), a timestamp (its day, where a date is) or a string
/// (parsed), as Databricks casts them.
pub(crate) fn temporal(t: &DataType) -> bool {
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

fn day_arguments(name: &str, args: &[DataType]) -> Result<Vec<DataType>> {
    match args {
        [start, days] if temporal(start) && (days.is_integer() || days.is_null()) => {
            Ok(vec![DataType::Date32, DataType::Int32])
        }
        _ => refused(name, "(DATE, INT)", args),
    }
}

fn out_of_range(name: &str) -> ArrowError {
    ArrowError::ComputeError(format!("{name}() is out of range"))
}

/// The dates `days` days after `start` (before, for a `sign` of -1).
fn day_arithmetic(args: &[ArrayRef], sign: i32) -> Result<ArrayRef> {
    let [start, days] = args else {
        return exec_err!("date_add() and date_sub() take 2 arguments");
    };
    let dates = try_binary::<_, _, _, Date32Type>(
        start.as_primitive::<Date32Type>(),
        days.as_primitive::<Int32Type>(),
        |date, days| {
            days.checked_mul(sign)
                .and_then(|days| date.checked_add(days))
                .ok_or_else(|| out_of_range(if sign > 0 { "date_add" } else { "date_sub" }))
        },
    )?;
    Ok(Arc::new(dates))
}

fn sizes(args: &[ArrayRef]) -> Result<ArrayRef> {
    let [array] = args else {
        return exec_err!("size() takes 1 argument");
    };
    let sizes: Int32Array = match array.data_type() {
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            (0..list.len()).map(|i| list.is_valid(i).then(|| list.value_length(i))).collect()
        }
        DataType::Map(..) => {
            let map = array.as_map();
            (0..map.len()).map(|i| map.is_valid(i).then(|| map.value_length(i))).collect()
        }
        _ => Int32Array::new_null(array.len()),
    };
    Ok(Arc::new(sizes))
}

/// One step of a JSON path.
#[derive(Debug, PartialEq)]
enum Step {
    /// `['key']`: the key, in its case.
    Key(String),
    /// `.key`: the key, in any case where that is asked for.
    Name(String),
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
            steps.push(Step::Name(after[..end].to_owned()));
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

/// The value at `path` in the JSON text `json`; `any_case` matches a `.name` step's key in any
/// case, and refuses one that several keys match.
fn json_at(json: &str, path: &str, any_case: bool) -> Result<Option<String>> {
    let (Ok(mut value), Some(steps)) =
        (serde_json::from_str::<serde_json::Value>(json), json_path(path))
    else {
        return Ok(None);
    };
    for step in steps {
        let next = match (step, value) {
            (Step::Name(name), serde_json::Value::Object(mut object)) if any_case => {
                let mut matching = object.keys().filter(|k| k.eq_ignore_ascii_case(&name));
                match (matching.next().cloned(), matching.next()) {
                    (Some(key), None) => object.remove(&key),
                    (Some(_), Some(_)) => {
                        return exec_err!(
                            "The JSON field '{name}' is ambiguous: several fields have that name \
                             in different cases. Name it in brackets, ['{name}'], in its case."
                        );
                    }
                    (None, _) => None,
                }
            }
            (Step::Key(key) | Step::Name(key), serde_json::Value::Object(mut object)) => {
                object.remove(&key)
            }
            (Step::Index(n), serde_json::Value::Array(mut array)) if n < array.len() => {
                Some(array.swap_remove(n))
            }
            _ => None,
        };
        let Some(next) = next else {
            return Ok(None);
        };
        value = next;
    }
    Ok(match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s),
        other => Some(other.to_string()),
    })
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
            assert_eq!(json_at(json, path, false).unwrap().as_deref(), value, "{path}");
        }
        assert_eq!(json_at("not json", "$", false).unwrap(), None);
        // In any case, where that is asked for; an ambiguous name is an error.
        let json = r#"{"Owner": "amy", "Zip": 1, "zip": 2}"#;
        assert_eq!(json_at(json, "$.owner", true).unwrap().as_deref(), Some("amy"));
        assert_eq!(json_at(json, "$.owner", false).unwrap(), None);
        assert_eq!(json_at(json, "$['owner']", true).unwrap(), None);
        assert_eq!(json_at(json, "$['Zip']", true).unwrap().as_deref(), Some("1"));
        assert!(json_at(json, "$.zip", true).is_err());
    }
}
