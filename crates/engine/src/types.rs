//! Databricks SQL types and their Arrow counterparts, the types a Delta table stores.

use crate::EngineError;
use deltalake::arrow::datatypes::{DataType, Schema, TimeUnit};

/// A column as the catalog records it: name, Databricks type name, nullability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    /// The Databricks type, upper-case, as `DESCRIBE` and the catalog API show it
    /// (`STRING`, `BIGINT`, `DECIMAL(10,2)`, `ARRAY<INT>`).
    pub type_name: String,
    pub nullable: bool,
    /// What the statement that made it said of it (`COMMENT '…'`); the catalog keeps it.
    pub comment: Option<String>,
}

/// A schema's columns, in Databricks' type names.
pub fn columns(schema: &Schema) -> Vec<Column> {
    schema
        .fields()
        .iter()
        .map(|f| Column {
            name: f.name().clone(),
            type_name: databricks_type_name(f.data_type()),
            nullable: f.is_nullable(),
            comment: None,
        })
        .collect()
}

/// The Arrow type that stores a Databricks type, from its name as written in a statement.
pub fn arrow_type(type_name: &str) -> Result<DataType, EngineError> {
    let text = type_name.trim();
    let upper = text.to_ascii_uppercase();
    let unsupported = || EngineError::Unsupported(format!("the column type {text}"));
    if let Some(inner) = strip_wrapped(&upper, "ARRAY<", ">") {
        let item = arrow_type(inner)?;
        return Ok(DataType::new_list(item, true));
    }
    if let Some(args) = strip_wrapped(&upper, "DECIMAL(", ")")
        .or_else(|| strip_wrapped(&upper, "NUMERIC(", ")"))
        .or_else(|| strip_wrapped(&upper, "DEC(", ")"))
    {
        let mut parts = args.split(',').map(str::trim);
        let precision: u8 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(unsupported)?;
        let scale: i8 = match parts.next() {
            Some(s) => s.parse().map_err(|_| unsupported())?,
            None => 0,
        };
        if parts.next().is_some()
            || precision == 0
            || precision > 38
            || scale < 0
            || scale as u8 > precision
        {
            return Err(unsupported());
        }
        return Ok(DataType::Decimal128(precision, scale));
    }
    Ok(match upper.as_str() {
        "STRING" | "VARCHAR" | "CHAR" | "TEXT" => DataType::Utf8,
        "BOOLEAN" | "BOOL" => DataType::Boolean,
        "TINYINT" | "BYTE" => DataType::Int8,
        "SMALLINT" | "SHORT" => DataType::Int16,
        "INT" | "INTEGER" => DataType::Int32,
        "BIGINT" | "LONG" => DataType::Int64,
        "FLOAT" | "REAL" => DataType::Float32,
        "DOUBLE" => DataType::Float64,
        "DECIMAL" | "NUMERIC" | "DEC" => DataType::Decimal128(10, 0),
        "DATE" => DataType::Date32,
        "TIMESTAMP" => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        "TIMESTAMP_NTZ" => DataType::Timestamp(TimeUnit::Microsecond, None),
        "BINARY" => DataType::Binary,
        _ if upper.starts_with("VARCHAR(") || upper.starts_with("CHAR(") => DataType::Utf8,
        _ => return Err(unsupported()),
    })
}

/// The Databricks name of the type an Arrow column holds (what `DESCRIBE` and result
/// manifests show).
pub fn databricks_type_name(data_type: &DataType) -> String {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "STRING".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 | DataType::UInt8 => "TINYINT".into(),
        DataType::Int16 | DataType::UInt16 => "SMALLINT".into(),
        DataType::Int32 | DataType::UInt32 => "INT".into(),
        DataType::Int64 | DataType::UInt64 => "BIGINT".into(),
        DataType::Float16 | DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) => {
            format!("DECIMAL({p},{s})")
        }
        DataType::Decimal256(p, s) => format!("DECIMAL({p},{s})"),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Timestamp(_, Some(_)) => "TIMESTAMP".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP_NTZ".into(),
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "BINARY".into(),
        DataType::List(item)
        | DataType::LargeList(item)
        | DataType::ListView(item)
        | DataType::FixedSizeList(item, _) => {
            format!("ARRAY<{}>", databricks_type_name(item.data_type()))
        }
        DataType::Struct(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|f| format!("{}: {}", f.name(), databricks_type_name(f.data_type())))
                .collect();
            format!("STRUCT<{}>", inner.join(", "))
        }
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => format!(
                "MAP<{}, {}>",
                databricks_type_name(kv[0].data_type()),
                databricks_type_name(kv[1].data_type())
            ),
            _ => "MAP".into(),
        },
        DataType::Null => "VOID".into(),
        DataType::Dictionary(_, value) => databricks_type_name(value),
        DataType::Interval(_) | DataType::Duration(_) => "INTERVAL".into(),
        other => other.to_string().to_uppercase(),
    }
}

fn strip_wrapped<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    text.strip_prefix(open)?.strip_suffix(close).map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_databricks_type_a_partner_declares_round_trips() {
        for name in [
            "STRING",
            "BOOLEAN",
            "TINYINT",
            "SMALLINT",
            "INT",
            "BIGINT",
            "FLOAT",
            "DOUBLE",
            "DATE",
            "TIMESTAMP",
            "TIMESTAMP_NTZ",
            "BINARY",
            "DECIMAL(10,2)",
            "DECIMAL(38,0)",
            "ARRAY<INT>",
            "ARRAY<ARRAY<STRING>>",
        ] {
            let arrow = arrow_type(name).unwrap();
            assert_eq!(databricks_type_name(&arrow), name, "{name}");
        }
    }

    #[test]
    fn aliases_map_to_the_canonical_type() {
        assert_eq!(databricks_type_name(&arrow_type("integer").unwrap()), "INT");
        assert_eq!(databricks_type_name(&arrow_type("varchar(20)").unwrap()), "STRING");
        assert_eq!(databricks_type_name(&arrow_type("long").unwrap()), "BIGINT");
        assert_eq!(databricks_type_name(&arrow_type("decimal").unwrap()), "DECIMAL(10,0)");
    }

    #[test]
    fn unknown_and_malformed_types_are_refused_by_name() {
        for bad in
            ["BLOB", "DECIMAL(0,0)", "DECIMAL(39,1)", "DECIMAL(5,6)", "DECIMAL(a)", "ARRAY<NOPE>"]
        {
            let err = arrow_type(bad).unwrap_err();
            assert!(matches!(err, EngineError::Unsupported(_)), "{bad}: {err}");
        }
    }
}
