//! `SHOW CREATE TABLE t`: the statement that makes the table (or view) again, as Databricks
//! writes it: its columns with their comments, `USING delta`, its comment and its properties;
//! for a view, its columns and its query.

use patchbay_store::TableRecord;

/// The `CREATE` statement for `record`.
pub fn statement(record: &TableRecord) -> String {
    let name = [&record.catalog_name, &record.schema_name, &record.name]
        .iter()
        .map(|part| identifier(part))
        .collect::<Vec<_>>()
        .join(".");
    if record.table_type.is_view() {
        let columns: Vec<String> = record
            .columns
            .iter()
            .map(|c| {
                let mut line = format!("  {}", identifier(&c.name));
                if let Some(comment) = &c.comment {
                    line.push_str(&format!(" COMMENT {}", literal(comment)));
                }
                line
            })
            .collect();
        let mut text = format!("CREATE VIEW {name} (\n{})\n", columns.join(",\n"));
        if let Some(comment) = &record.meta.comment {
            text.push_str(&format!("COMMENT {}\n", literal(comment)));
        }
        text.push_str(&format!("AS {}\n", record.view_definition.as_deref().unwrap_or_default()));
        return text;
    }
    let columns: Vec<String> = record
        .columns
        .iter()
        .map(|c| {
            let mut line = format!("  {} {}", identifier(&c.name), type_text(&c.type_text));
            if !c.nullable {
                line.push_str(" NOT NULL");
            }
            if let Some(comment) = &c.comment {
                line.push_str(&format!(" COMMENT {}", literal(comment)));
            }
            line
        })
        .collect();
    let provider = record.data_source_format.as_deref().unwrap_or("delta").to_lowercase();
    let mut text = format!("CREATE TABLE {name} (\n{})\nUSING {provider}\n", columns.join(",\n"));
    if let Some(comment) = &record.meta.comment {
        text.push_str(&format!("COMMENT {}\n", literal(comment)));
    }
    if !record.meta.properties.is_empty() {
        let properties: Vec<String> = record
            .meta
            .properties
            .iter()
            .map(|(k, v)| {
                let value = crate::commands::property_text(v);
                format!("  {} = {}", literal(k), literal(&value))
            })
            .collect();
        text.push_str(&format!("TBLPROPERTIES (\n{})\n", properties.join(",\n")));
    }
    text
}

/// A name as it can be read back: bare when it is a plain word, in backticks otherwise.
fn identifier(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain { name.to_owned() } else { patchbay_engine::backticked(name) }
}

/// A string literal as Spark writes one: quotes and backslashes escaped with a backslash.
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A column's type as Databricks prints it: a simple type in capitals; a nested one as it was
/// given, since its field names keep their case.
fn type_text(text: &str) -> String {
    if text.contains('<') { text.to_owned() } else { text.to_ascii_uppercase() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_strings_are_written_to_be_read_back() {
        assert_eq!(identifier("orders"), "orders");
        assert_eq!(identifier("order date"), "`order date`");
        assert_eq!(identifier("1st"), "`1st`");
        assert_eq!(identifier("a`b"), "`a``b`");
        assert_eq!(literal(r"it's a\b"), r"'it\'s a\\b'");
        assert_eq!(type_text("decimal(10,2)"), "DECIMAL(10,2)");
        assert_eq!(type_text("struct<a:int>"), "struct<a:int>");
    }
}
