//! The names Databricks gives the columns of a result that the query does not name: the
//! expression as Spark prints it. `SELECT 1 + 1, count(*), upper(name), 'a'` has the columns
//! `(1 + 1)`, `count(1)`, `upper(name)` and `a`, where the engine would say `Int64(1) +
//! Int64(1)`, `count(*)`, `upper(t.name)` and `Utf8("a")`; and two columns may share a name
//! (`SELECT 1, 1`), which the engine refuses to plan. A cast of a column is named after the
//! column (`CAST(id AS STRING)` is `id`).
//!
//! Forms this does not spell as Spark does are named by their SQL text.

use deltalake::datafusion::sql::sqlparser::ast::{
    DuplicateTreatment, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
    UnaryOperator, Value,
};

/// The column a cast is of, when it is a cast of a column: its name as written.
pub(crate) fn cast_column(expr: &Expr) -> Option<&Ident> {
    let Expr::Cast { expr, .. } = expr else {
        return None;
    };
    match expr.as_ref() {
        Expr::Identifier(ident) => Some(ident),
        Expr::CompoundIdentifier(parts) => parts.last(),
        _ => None,
    }
}

/// The name Databricks gives the result column of `expr`.
pub(crate) fn spark_name(expr: &Expr) -> String {
    if let Some(column) = cast_column(expr) {
        return column.value.clone();
    }
    match expr {
        Expr::Identifier(ident) => ident.value.clone(),
        Expr::CompoundIdentifier(parts) => {
            parts.last().map(|p| p.value.clone()).unwrap_or_default()
        }
        Expr::Value(value) => match &value.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
            Value::Number(n, _) => n.to_string(),
            Value::Boolean(b) => b.to_string(),
            Value::Null => "NULL".to_owned(),
            other => other.to_string(),
        },
        Expr::Nested(inner) => spark_name(inner),
        Expr::BinaryOp { left, op, right } => {
            format!("({} {op} {})", spark_name(left), spark_name(right))
        }
        Expr::UnaryOp { op, expr } => match op {
            UnaryOperator::Not => format!("(NOT {})", spark_name(expr)),
            UnaryOperator::Minus => format!("(- {})", spark_name(expr)),
            _ => format!("({op}{})", spark_name(expr)),
        },
        Expr::IsNull(e) => format!("({} IS NULL)", spark_name(e)),
        Expr::IsNotNull(e) => format!("({} IS NOT NULL)", spark_name(e)),
        Expr::Cast { expr, data_type, .. } => {
            format!("CAST({} AS {})", spark_name(expr), data_type.to_string().to_uppercase())
        }
        Expr::Function(function) if function.over.is_none() && function.filter.is_none() => {
            function_name(function)
        }
        other => other.to_string(),
    }
}

/// `name(arguments)`, the name in lower case; `count(*)` is `count(1)`, as Spark rewrites it.
fn function_name(function: &Function) -> String {
    let name = function.name.to_string().to_lowercase();
    let list = match &function.args {
        FunctionArguments::None => return format!("{name}()"),
        FunctionArguments::Subquery(_) => return Expr::Function(function.clone()).to_string(),
        FunctionArguments::List(list) => list,
    };
    let arguments: Vec<String> = list
        .args
        .iter()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => spark_name(e),
            FunctionArg::Unnamed(FunctionArgExpr::Wildcard) if name == "count" => "1".to_owned(),
            other => other.to_string(),
        })
        .collect();
    let distinct = match list.duplicate_treatment {
        Some(DuplicateTreatment::Distinct) => "DISTINCT ",
        _ => "",
    };
    format!("{name}({distinct}{})", arguments.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::datafusion::sql::sqlparser::parser::Parser;

    fn named(sql: &str) -> String {
        let expr = Parser::new(&crate::dialect::Databricks)
            .try_with_sql(sql)
            .unwrap()
            .parse_expr()
            .unwrap();
        spark_name(&expr)
    }

    #[test]
    fn expressions_are_named_as_spark_prints_them() {
        for (sql, name) in [
            ("1", "1"),
            ("'a'", "a"),
            ("NULL", "NULL"),
            ("true", "true"),
            ("t.amount", "amount"),
            ("1 + 1", "(1 + 1)"),
            ("(1 + 1)", "(1 + 1)"),
            ("a > 1 AND b < 2", "((a > 1) AND (b < 2))"),
            ("NOT done", "(NOT done)"),
            ("-x", "(- x)"),
            ("x IS NULL", "(x IS NULL)"),
            ("COUNT(*)", "count(1)"),
            ("count(DISTINCT t.x)", "count(DISTINCT x)"),
            ("UPPER(name)", "upper(name)"),
            ("coalesce(NULL, 1)", "coalesce(NULL, 1)"),
            ("current_date()", "current_date()"),
            ("CAST(t.id AS STRING)", "id"),
            ("CAST('1' AS INT)", "CAST(1 AS INT)"),
        ] {
            assert_eq!(named(sql), name, "{sql}");
        }
    }
}
