//! Databricks SQL as the parser reads it: sqlparser's `DatabricksDialect`, with `a DIV b`
//! (integer division), which that dialect does not read, and Spark's backslash escapes in
//! strings (`'it\'s'`, `'\\d+'`, `'a\nb'`), which it does not know either.

use deltalake::datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, Value, VisitMut, visit_expressions_mut,
};
use deltalake::datafusion::sql::sqlparser::dialect::{DatabricksDialect, Dialect};
use deltalake::datafusion::sql::sqlparser::keywords::Keyword;
use deltalake::datafusion::sql::sqlparser::parser::{Parser, ParserError};
use std::any::TypeId;

/// `DatabricksDialect` with `DIV`. Everything else is that dialect's: the parser takes this
/// for it ([`Dialect::dialect`]), and each of its choices is passed on.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Databricks;

const INNER: DatabricksDialect = DatabricksDialect;

impl Dialect for Databricks {
    fn dialect(&self) -> TypeId {
        TypeId::of::<DatabricksDialect>()
    }

    /// `a DIV b`: the quotient as a whole number. The right side binds as tightly as `*` and
    /// `/` do (the parser gives `DIV` their precedence), so `7 DIV 2 + 1` is `(7 DIV 2) + 1`.
    fn parse_infix(
        &self,
        parser: &mut Parser,
        expr: &Expr,
        precedence: u8,
    ) -> Option<Result<Expr, ParserError>> {
        if !parser.parse_keyword(Keyword::DIV) {
            return None;
        }
        Some(parser.parse_subexpr(precedence).map(|right| Expr::BinaryOp {
            left: Box::new(expr.clone()),
            op: BinaryOperator::MyIntegerDivide,
            right: Box::new(right),
        }))
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        INNER.is_delimited_identifier_start(ch)
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        INNER.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        INNER.is_identifier_part(ch)
    }

    fn supports_numeric_prefix(&self) -> bool {
        INNER.supports_numeric_prefix()
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        INNER.supports_filter_during_aggregation()
    }

    fn supports_group_by_expr(&self) -> bool {
        INNER.supports_group_by_expr()
    }

    fn supports_table_versioning(&self) -> bool {
        INNER.supports_table_versioning()
    }

    fn supports_lambda_functions(&self) -> bool {
        INNER.supports_lambda_functions()
    }

    fn supports_select_wildcard_except(&self) -> bool {
        INNER.supports_select_wildcard_except()
    }

    fn require_interval_qualifier(&self) -> bool {
        INNER.require_interval_qualifier()
    }

    fn supports_struct_literal(&self) -> bool {
        INNER.supports_struct_literal()
    }

    fn supports_nested_comments(&self) -> bool {
        INNER.supports_nested_comments()
    }

    fn supports_group_by_with_modifier(&self) -> bool {
        INNER.supports_group_by_with_modifier()
    }

    fn supports_values_as_table_factor(&self) -> bool {
        INNER.supports_values_as_table_factor()
    }

    fn supports_optimize_table(&self) -> bool {
        INNER.supports_optimize_table()
    }

    fn supports_bang_not_operator(&self) -> bool {
        INNER.supports_bang_not_operator()
    }

    fn supports_cte_without_as(&self) -> bool {
        INNER.supports_cte_without_as()
    }

    fn supports_select_item_multi_column_alias(&self) -> bool {
        INNER.supports_select_item_multi_column_alias()
    }

    /// Spark reads a backslash in a string as an escape: `\'` is a quote, `\\` a backslash,
    /// `\n` a new line, and any other character after one is that character…
    fn supports_string_literal_backslash_escape(&self) -> bool {
        true
    }

    /// …but before `%` and `_` the backslash stays, to escape a `LIKE` wildcard.
    fn ignores_wildcard_escapes(&self) -> bool {
        true
    }
}

/// `node` printed as SQL that this dialect reads back as the same node. sqlparser prints a
/// string with its quotes doubled but its backslashes as they are, which this dialect would
/// then read as escapes; so they are doubled too. (Text for delta-rs, whose parser knows no
/// escapes, is printed as sqlparser prints it.)
pub(crate) fn reparsable<T: VisitMut + Clone + std::fmt::Display>(node: &T) -> String {
    let mut node = node.clone();
    let _ = visit_expressions_mut(&mut node, |e| {
        if let Expr::Value(v) = e
            && let Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) = &mut v.value
            && s.contains('\\')
        {
            *s = s.replace('\\', "\\\\");
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    node.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> Expr {
        Parser::new(&Databricks)
            .try_with_sql(sql)
            .unwrap()
            .parse_expr()
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The operator at the root of `sql` and its left side.
    fn root(sql: &str) -> (BinaryOperator, String) {
        match parsed(sql) {
            Expr::BinaryOp { left, op, .. } => (op, left.to_string()),
            other => panic!("{sql} is not an operation: {other}"),
        }
    }

    #[test]
    fn div_binds_as_division_does() {
        assert_eq!(parsed("7 div 2").to_string(), "7 DIV 2");
        assert_eq!(root("7 DIV 2 + 1"), (BinaryOperator::Plus, "7 DIV 2".into()));
        assert_eq!(root("1 + 7 DIV 2"), (BinaryOperator::Plus, "1".into()));
        // Left to right among its equals.
        assert_eq!(root("8 DIV 2 DIV 2"), (BinaryOperator::MyIntegerDivide, "8 DIV 2".into()));
        assert_eq!(root("8 DIV 2 * 3"), (BinaryOperator::Multiply, "8 DIV 2".into()));
    }

    #[test]
    fn the_rest_is_databricks() {
        // Backticks quote, `!` is NOT, lambdas and time travel parse.
        for sql in ["`a b` + 1", "!true", "transform(x, v -> v + 1)"] {
            parsed(sql);
        }
        assert!(Databricks.supports_table_versioning());
        assert!((&Databricks as &dyn Dialect).is::<DatabricksDialect>());
    }
}
