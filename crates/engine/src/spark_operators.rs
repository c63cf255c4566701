//! Operators that answer otherwise in Databricks than in DataFusion, rewritten on the plan,
//! where their operands' types are known:
//! - `a / b` of integers or floating-point numbers is a `DOUBLE`, as Spark divides: `7 / 2` is
//!   3.5 and `sum(x) / count(x)` an average, never an integer cut short; a division by zero is
//!   `DIVIDE_BY_ZERO`, as with ANSI mode on (DataFusion's float division gives infinity).
//!   Decimals (with integers) divide as decimals, in DataFusion as in Spark.
//! - a timestamp cast to a string, as written (`CAST(ts AS STRING)`) or as type coercion casts
//!   it (`'at ' || ts`), reads `2024-01-01 10:00:00`, as Spark writes it, where DataFusion
//!   writes `2024-01-01T10:00:00` ([`crate::spark_time::timestamp_text`]). This one runs after
//!   type coercion ([`TimestampText`]), so that it sees the casts coercion adds.
//! - `array[i]` counts from 0, as Spark's subscript does, where DataFusion's counts from 1
//!   ([`crate::spark_element::subscript`]).

use crate::spark::{Function, refused};
use deltalake::arrow::array::{ArrayRef, AsArray, Float64Array, Int64Array};
use deltalake::arrow::datatypes::{DataType, Float64Type, Int64Type};
use deltalake::datafusion::common::config::ConfigOptions;
use deltalake::datafusion::common::tree_node::Transformed;
use deltalake::datafusion::common::tree_node::TreeNode;
use deltalake::datafusion::common::{DFSchema, Result, exec_err};
use deltalake::datafusion::logical_expr::LogicalPlan;
use deltalake::datafusion::logical_expr::expr::{Cast, ScalarFunction, TryCast};
use deltalake::datafusion::logical_expr::expr_rewriter::FunctionRewrite;
use deltalake::datafusion::logical_expr::expr_rewriter::NamePreserver;
use deltalake::datafusion::logical_expr::utils::merge_schema;
use deltalake::datafusion::logical_expr::{
    BinaryExpr, Expr, ExprSchemable, Operator, ScalarUDF, cast,
};
use deltalake::datafusion::optimizer::AnalyzerRule;
use std::sync::Arc;

/// The rewrite of `/` and of `[]`, holding the functions they become.
#[derive(Debug)]
pub(crate) struct SparkOperators {
    divide: Arc<ScalarUDF>,
    subscript: Arc<ScalarUDF>,
}

impl SparkOperators {
    pub(crate) fn new() -> SparkOperators {
        SparkOperators {
            divide: Arc::new(ScalarUDF::new_from_impl(Function::new(
                "divide",
                |args| Ok(vec![DataType::Float64; args.len()]),
                |_| Ok(DataType::Float64),
                |args| divide(args).map(|q| Arc::new(q) as ArrayRef),
            ))),
            subscript: Arc::new(ScalarUDF::new_from_impl(crate::spark_element::subscript())),
        }
    }
}

/// How an operand divides.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Operand {
    /// An integer or `NULL`: as a `DOUBLE`, unless the other is a decimal.
    Integer,
    /// As a `DOUBLE`, whatever the other is.
    Float,
    Decimal,
    /// Anything else (an interval, a string): left to DataFusion.
    Other,
}

fn operand(t: &DataType) -> Operand {
    match t {
        _ if t.is_integer() || t.is_null() => Operand::Integer,
        _ if t.is_floating() => Operand::Float,
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => Operand::Decimal,
        _ => Operand::Other,
    }
}

/// Whether `a / b` divides as `DOUBLE`s, as Spark's division does.
fn in_doubles(a: Operand, b: Operand) -> bool {
    let both = [a, b];
    if both.contains(&Operand::Other) {
        return false;
    }
    both.contains(&Operand::Float) || !both.contains(&Operand::Decimal)
}

impl FunctionRewrite for SparkOperators {
    fn name(&self) -> &str {
        "spark_operators"
    }

    fn rewrite(
        &self,
        expr: Expr,
        schema: &DFSchema,
        _config: &ConfigOptions,
    ) -> Result<Transformed<Expr>> {
        match expr {
            Expr::BinaryExpr(BinaryExpr { left, op: Operator::Divide, right }) => {
                let (l, r) = (operand(&left.get_type(schema)?), operand(&right.get_type(schema)?));
                if !in_doubles(l, r) {
                    return Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr {
                        left,
                        op: Operator::Divide,
                        right,
                    })));
                }
                Ok(Transformed::yes(
                    self.divide.call(vec![
                        cast(*left, DataType::Float64),
                        cast(*right, DataType::Float64),
                    ]),
                ))
            }
            Expr::ScalarFunction(f) if f.func.name() == "array_element" => Ok(Transformed::yes(
                Expr::ScalarFunction(ScalarFunction::new_udf(self.subscript.clone(), f.args)),
            )),
            other => Ok(Transformed::no(other)),
        }
    }
}

/// Casts of timestamps to strings, made Spark's: an analyzer rule that runs after type
/// coercion, so it meets the casts coercion adds as well as those a statement writes. The
/// cast's result keeps its name and its type, so nothing above it changes.
#[derive(Debug)]
pub(crate) struct TimestampText(Arc<ScalarUDF>);

impl TimestampText {
    pub(crate) fn new() -> TimestampText {
        TimestampText(Arc::new(ScalarUDF::new_from_impl(crate::spark_time::timestamp_text())))
    }

    fn rewrite(&self, expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
        expr.transform_up(|expr| match expr {
            Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field })
                if field.data_type().is_string()
                    && matches!(expr.get_type(schema)?, DataType::Timestamp(..)) =>
            {
                // To the string type the cast made (`Utf8View` as often as `Utf8`).
                let text = self.0.call(vec![*expr]);
                Ok(Transformed::yes(cast(text, field.data_type().clone())))
            }
            other => Ok(Transformed::no(other)),
        })
    }
}

impl AnalyzerRule for TimestampText {
    fn name(&self) -> &str {
        "timestamp_text"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            // The types an expression of `plan` reads: its inputs', or a scan's own.
            let schema = match &plan {
                LogicalPlan::TableScan(scan) => DFSchema::try_from_qualified_schema(
                    scan.table_name.clone(),
                    &scan.source.schema(),
                )?,
                _ => merge_schema(&plan.inputs()),
            };
            let names = NamePreserver::new(&plan);
            plan.map_expressions(|expr| {
                let name = names.save(&expr);
                Ok(self.rewrite(expr, &schema)?.update_data(|e| name.restore(e)))
            })
        })
        .map(|t| t.data)
    }
}

const DIVIDE_BY_ZERO: &str = "[DIVIDE_BY_ZERO] Division by zero. Use `try_divide` to tolerate \
                              divisor being 0 and return NULL instead.";

/// `div(a, b)`, which `a DIV b` is: the quotient's whole part, truncated toward zero, as a
/// `BIGINT`. Two integers divide as integers (exactly, however large); anything else as
/// `DOUBLE`s.
pub(crate) fn functions() -> Vec<Function> {
    vec![Function::new(
        "div",
        |args| match args {
            [a, b] => match (operand(a), operand(b)) {
                (Operand::Other, _) | (_, Operand::Other) => refused("div", "two numbers", args),
                (Operand::Integer, Operand::Integer) => Ok(vec![DataType::Int64; 2]),
                _ => Ok(vec![DataType::Float64; 2]),
            },
            _ => refused("div", "two numbers", args),
        },
        |_| Ok(DataType::Int64),
        |args| match args.first().map(|a| a.data_type()) {
            Some(DataType::Float64) => {
                let quotients = divide(args)?;
                Ok(Arc::new(quotients.unary::<_, Int64Type>(|q| q.trunc() as i64)) as ArrayRef)
            }
            _ => whole_divide(args),
        },
    )]
}

/// `a DIV b` of two `BIGINT`s, truncated toward zero; a zero divisor is an error.
fn whole_divide(args: &[ArrayRef]) -> Result<ArrayRef> {
    let [a, b] = args else {
        return exec_err!("DIV takes 2 operands");
    };
    let (a, b) = (a.as_primitive::<Int64Type>(), b.as_primitive::<Int64Type>());
    let mut quotients = Vec::with_capacity(a.len());
    for (a, b) in a.iter().zip(b.iter()) {
        quotients.push(match (a, b) {
            (Some(_), Some(0)) => return exec_err!("{DIVIDE_BY_ZERO}"),
            (Some(a), Some(b)) => match a.checked_div(b) {
                Some(q) => Some(q),
                None => return exec_err!("[ARITHMETIC_OVERFLOW] {a} DIV {b} overflows BIGINT."),
            },
            _ => None,
        });
    }
    Ok(Arc::new(Int64Array::from(quotients)))
}

/// `a / b` in `DOUBLE`s; a zero divisor is an error, as in Databricks SQL.
fn divide(args: &[ArrayRef]) -> Result<Float64Array> {
    let [a, b] = args else {
        return exec_err!("/ takes 2 operands");
    };
    let (a, b) = (a.as_primitive::<Float64Type>(), b.as_primitive::<Float64Type>());
    let mut quotients = Vec::with_capacity(a.len());
    for (a, b) in a.iter().zip(b.iter()) {
        quotients.push(match (a, b) {
            (Some(_), Some(0.0)) => return exec_err!("{DIVIDE_BY_ZERO}"),
            (Some(a), Some(b)) => Some(a / b),
            _ => None,
        });
    }
    Ok(Float64Array::from(quotients))
}
