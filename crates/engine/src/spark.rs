//! Databricks' names for functions DataFusion has under other names: `array(…)` is DataFusion's
//! `make_array(…)`, and `typeof(x)` names `x`'s type as Databricks does (`bigint`,
//! `array<string>`), where DataFusion's `arrow_typeof` gives Arrow's names.

use crate::types::databricks_type_name;
use deltalake::arrow::datatypes::DataType;
use deltalake::datafusion::common::{Result, ScalarValue};
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
