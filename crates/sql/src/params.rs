//! Named parameters: each `:name` in a statement becomes a typed literal of the value the
//! request gave for it. The value is always a quoted string (its quotes doubled) cast to the
//! parameter's type, and the type must be one of a fixed list, so no value or type can add SQL
//! of its own.

use crate::lexer::{self, Token};
use patchbay_server::statements::engine::{FailureCode, Parameter, SqlFailure};

/// The parameter types a request may give (`DECIMAL(p,s)` also).
const TYPES: &[&str] = &[
    "STRING",
    "BOOLEAN",
    "TINYINT",
    "BYTE",
    "SMALLINT",
    "SHORT",
    "INT",
    "INTEGER",
    "BIGINT",
    "LONG",
    "FLOAT",
    "REAL",
    "DOUBLE",
    "DECIMAL",
    "DATE",
    "TIMESTAMP",
    "TIMESTAMP_NTZ",
    "TIMESTAMP_LTZ",
    "BINARY",
    "VOID",
];

fn bad(message: String) -> SqlFailure {
    SqlFailure::new(FailureCode::BadRequest, "UNBOUND_SQL_PARAMETER", message)
        .with_sql_state("42P02")
}

/// The statement with its parameters written in; a statement without any is returned as is.
pub fn bind(statement: &str, parameters: &[Parameter]) -> Result<String, SqlFailure> {
    let tokens = lexer::tokens(statement).map_err(|e| {
        SqlFailure::new(FailureCode::BadRequest, "PARSE_SYNTAX_ERROR", e.0).with_sql_state("42601")
    })?;
    let markers: Vec<_> = tokens
        .iter()
        .filter_map(|t| match &t.token {
            Token::Parameter(name) => Some((t.start, t.end, name.as_str())),
            _ => None,
        })
        .collect();
    if markers.is_empty() {
        return Ok(statement.to_owned());
    }
    let mut out = String::with_capacity(statement.len());
    let mut at = 0;
    for (start, end, name) in markers {
        let parameter = parameters
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| bad(format!("Found the unbound parameter: {name}.")))?;
        out.push_str(&statement[at..start]);
        out.push_str(&literal(parameter)?);
        at = end;
    }
    out.push_str(&statement[at..]);
    Ok(out)
}

fn literal(parameter: &Parameter) -> Result<String, SqlFailure> {
    let type_name = parameter.type_name.trim().to_ascii_uppercase();
    let base = type_name.split('(').next().unwrap_or_default().trim();
    let decimal_args_ok = type_name == base
        || (base == "DECIMAL"
            && type_name[base.len()..]
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '(' | ')' | ',' | ' ')));
    if !TYPES.contains(&base) || !decimal_args_ok {
        return Err(bad(format!(
            "Parameter '{}' has type '{}', which is not a SQL type a parameter may have.",
            parameter.name, parameter.type_name
        )));
    }
    Ok(match (&parameter.value, base) {
        (None, _) | (_, "VOID") => format!("CAST(NULL AS {})", cast_type(&type_name, base)),
        (Some(v), "STRING") => lexer::string_literal(v),
        (Some(v), _) => {
            format!("CAST({} AS {})", lexer::string_literal(v), cast_type(&type_name, base))
        }
    })
}

/// The type to cast to, in the names the engine knows.
fn cast_type(type_name: &str, base: &str) -> String {
    match base {
        "BYTE" => "TINYINT".into(),
        "SHORT" => "SMALLINT".into(),
        "LONG" => "BIGINT".into(),
        "REAL" => "FLOAT".into(),
        "TIMESTAMP_LTZ" | "TIMESTAMP_NTZ" => "TIMESTAMP".into(),
        "VOID" => "STRING".into(),
        _ => type_name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, value: Option<&str>, type_name: &str) -> Parameter {
        Parameter {
            name: name.into(),
            value: value.map(str::to_owned),
            type_name: type_name.into(),
        }
    }

    #[test]
    fn values_become_quoted_typed_literals() {
        let sql = bind(
            "SELECT * FROM t WHERE id = :id AND name = :name AND note = ':id' AND x::int = 1",
            &[p("id", Some("7"), "INT"), p("name", Some("O'Brien"), "STRING")],
        )
        .unwrap();
        assert_eq!(
            sql,
            "SELECT * FROM t WHERE id = CAST('7' AS INT) AND name = 'O''Brien' AND note = ':id' \
             AND x::int = 1"
        );
        assert_eq!(
            bind("SELECT :v", &[p("v", None, "DECIMAL(10,2)")]).unwrap(),
            "SELECT CAST(NULL AS DECIMAL(10,2))"
        );
    }

    #[test]
    fn unbound_names_and_strange_types_are_refused() {
        assert!(bind("SELECT :missing", &[]).is_err());
        let injected = p("v", Some("1"), "INT) FROM secrets --");
        assert!(bind("SELECT :v", &[injected]).is_err());
        // A value cannot close its quotes.
        let sql = bind("SELECT :v", &[p("v", Some("x'; DROP TABLE t; --"), "STRING")]).unwrap();
        assert_eq!(sql, "SELECT 'x''; DROP TABLE t; --'");
    }
}
