//! `DESCRIBE TABLE EXTENDED t AS JSON`: one row, one column `json_metadata`, holding the table
//! as Databricks describes it in JSON: names, type, provider, location or view text, comment,
//! properties, owner, and its columns with their types as JSON (`{"name": "decimal",
//! "precision": 10, "scale": 2}`, `{"name": "array", "element_type": …}`). dbt-databricks reads
//! a relation's columns from it.

use patchbay_core::time::civil_date;
use patchbay_store::TableRecord;
use serde_json::{Map, Value, json};

/// The document for `record`; `location` is where a table's data is (a view has none).
pub fn document(record: &TableRecord, location: Option<String>) -> String {
    let columns: Vec<Value> = record
        .columns
        .iter()
        .map(|c| {
            let mut column = Map::new();
            column.insert("name".into(), json!(c.name));
            column.insert("type".into(), type_json(&c.type_text));
            if let Some(comment) = &c.comment {
                column.insert("comment".into(), json!(comment));
            }
            column.insert("nullable".into(), json!(c.nullable));
            Value::Object(column)
        })
        .collect();
    let mut doc = Map::new();
    doc.insert("table_name".into(), json!(record.name));
    doc.insert("catalog_name".into(), json!(record.catalog_name));
    doc.insert("schema_name".into(), json!(record.schema_name));
    doc.insert("namespace".into(), json!([record.schema_name]));
    doc.insert("type".into(), json!(record.table_type.as_str()));
    doc.insert("columns".into(), Value::Array(columns));
    if record.table_type.is_view() {
        doc.insert("view_text".into(), json!(record.view_definition));
        doc.insert("view_original_text".into(), json!(record.view_definition));
    } else {
        let provider = record.data_source_format.as_deref().unwrap_or("delta").to_lowercase();
        doc.insert("provider".into(), json!(provider));
        doc.insert("location".into(), json!(location));
    }
    if let Some(comment) = &record.meta.comment {
        doc.insert("comment".into(), json!(comment));
    }
    let properties: Map<String, Value> = record
        .meta
        .properties
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(crate::commands::property_text(v))))
        .collect();
    doc.insert("table_properties".into(), Value::Object(properties));
    doc.insert("created_time".into(), json!(iso_time(record.meta.created_at)));
    doc.insert("created_by".into(), json!(record.meta.created_by));
    doc.insert("last_access".into(), json!("UNKNOWN"));
    doc.insert("partition_provider".into(), json!("Catalog"));
    doc.insert("owner".into(), json!(record.meta.owner));
    Value::Object(doc).to_string()
}

/// A SQL type's JSON form, as `DESCRIBE … AS JSON` writes it. `type_text` is a type the
/// catalog accepted (`decimal(10,2)`, `array<struct<a:int>>`, `map<string,bigint>`).
pub fn type_json(type_text: &str) -> Value {
    let text = type_text.trim();
    let base_end = text.find(['<', '(']).unwrap_or(text.len());
    let base = text[..base_end].trim().to_ascii_lowercase();
    let inner = |open: char, close: char| {
        text[base_end..].trim().strip_prefix(open).and_then(|t| t.strip_suffix(close)).unwrap_or("")
    };
    match base.as_str() {
        "array" => json!({
            "name": "array",
            "element_type": type_json(inner('<', '>')),
            "element_nullable": true,
        }),
        "map" => {
            let parts = top_level(inner('<', '>'), ',');
            json!({
                "name": "map",
                "key_type": type_json(parts.first().copied().unwrap_or("")),
                "value_type": type_json(parts.get(1).copied().unwrap_or("")),
                "value_nullable": true,
            })
        }
        "struct" => {
            let fields: Vec<Value> = top_level(inner('<', '>'), ',')
                .into_iter()
                .filter(|f| !f.trim().is_empty())
                .map(|field| {
                    let (name, rest) = field.split_once(':').unwrap_or((field, ""));
                    json!({
                        "name": name.trim().trim_matches('`'),
                        "type": type_json(field_type(rest)),
                        "nullable": true,
                    })
                })
                .collect();
            json!({"name": "struct", "fields": fields})
        }
        "decimal" | "dec" | "numeric" => {
            let numbers: Vec<u32> =
                inner('(', ')').split(',').filter_map(|n| n.trim().parse().ok()).collect();
            json!({
                "name": "decimal",
                "precision": numbers.first().copied().unwrap_or(10),
                "scale": numbers.get(1).copied().unwrap_or(0),
            })
        }
        "varchar" | "char" => match inner('(', ')').trim().parse::<u32>() {
            Ok(length) => json!({"name": base, "length": length}),
            Err(_) => json!({"name": base}),
        },
        "string" => json!({"name": "string", "collation": "UTF8_BINARY"}),
        "timestamp" | "timestamp_ltz" => json!({"name": "timestamp_ltz"}),
        other => json!({ "name": simple_name(other) }),
    }
}

/// The name Databricks gives a simple type, for each of its spellings.
fn simple_name(name: &str) -> &str {
    match name {
        "integer" => "int",
        "long" => "bigint",
        "short" => "smallint",
        "byte" => "tinyint",
        "bool" => "boolean",
        "real" => "float",
        other => other,
    }
}

/// A struct field's type, without a `NOT NULL` or `COMMENT '…'` after it.
fn field_type(rest: &str) -> &str {
    let upper = rest.to_ascii_uppercase();
    let depth_zero_end = [" NOT NULL", " COMMENT "]
        .iter()
        .filter_map(|word| upper.find(word))
        .min()
        .unwrap_or(rest.len());
    &rest[..depth_zero_end]
}

/// `text` split at `separator` where no `<…>`, `(…)` or quote is open.
fn top_level(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start, mut quote) = (0i32, 0, None);
    for (i, c) in text.char_indices() {
        match c {
            c if quote == Some(c) => quote = None,
            _ if quote.is_some() => {}
            '\'' | '`' | '"' => quote = Some(c),
            '<' | '(' => depth += 1,
            '>' | ')' => depth -= 1,
            c if c == separator && depth == 0 => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// `2026-01-04T10:00:00Z` for an instant in epoch milliseconds.
fn iso_time(millis: i64) -> String {
    let seconds = millis.div_euclid(1000);
    let (year, month, day) = civil_date(seconds.div_euclid(86_400));
    let of_day = seconds.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_written_as_databricks_writes_them() {
        assert_eq!(type_json("INT"), json!({"name": "int"}));
        assert_eq!(type_json("long"), json!({"name": "bigint"}));
        assert_eq!(
            type_json("decimal(12, 2)"),
            json!({"name": "decimal", "precision": 12, "scale": 2})
        );
        assert_eq!(type_json("decimal"), json!({"name": "decimal", "precision": 10, "scale": 0}));
        assert_eq!(type_json("string"), json!({"name": "string", "collation": "UTF8_BINARY"}));
        assert_eq!(type_json("timestamp"), json!({"name": "timestamp_ltz"}));
        assert_eq!(type_json("timestamp_ntz"), json!({"name": "timestamp_ntz"}));
        assert_eq!(type_json("varchar(20)"), json!({"name": "varchar", "length": 20}));
        assert_eq!(
            type_json("map<string,array<decimal(5,1)>>"),
            json!({
                "name": "map",
                "key_type": {"name": "string", "collation": "UTF8_BINARY"},
                "value_type": {
                    "name": "array",
                    "element_type": {"name": "decimal", "precision": 5, "scale": 1},
                    "element_nullable": true,
                },
                "value_nullable": true,
            })
        );
        assert_eq!(
            type_json("struct<a:int,`b c`:map<int,int> NOT NULL,d:string COMMENT 'x, y'>"),
            json!({"name": "struct", "fields": [
                {"name": "a", "type": {"name": "int"}, "nullable": true},
                {"name": "b c", "type": {
                    "name": "map", "key_type": {"name": "int"}, "value_type": {"name": "int"},
                    "value_nullable": true,
                }, "nullable": true},
                {"name": "d", "type": {"name": "string", "collation": "UTF8_BINARY"},
                 "nullable": true},
            ]})
        );
    }

    #[test]
    fn times_are_iso_8601_in_utc() {
        assert_eq!(iso_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_time(1_767_521_045_999), "2026-01-04T10:04:05Z");
        assert_eq!(iso_time(-1), "1969-12-31T23:59:59Z");
    }
}
