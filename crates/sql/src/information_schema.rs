//! `<catalog>.information_schema`: the catalog's `catalogs`, `schemata`, `tables`, `views` and
//! `columns`, as Unity Catalog names their columns, holding only what the caller may see. Each
//! is made for the statement that reads it, from the same listings as the catalog API.

use crate::failure;
use patchbay_core::access::Caller;
use patchbay_engine::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use patchbay_engine::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use patchbay_server::statements::engine::SqlFailure;
use patchbay_store::{Store, TableRecord};
use std::sync::Arc;

/// The schema every catalog has, holding these views.
pub const SCHEMA: &str = "information_schema";

/// A column: text, or a number.
enum Value {
    Text(Option<String>),
    Number(i64),
}

fn text(s: impl Into<String>) -> Value {
    Value::Text(Some(s.into()))
}

fn maybe(s: Option<String>) -> Value {
    Value::Text(s)
}

/// The rows of `catalog.information_schema.view` for `caller`.
pub async fn view(
    store: &Store,
    caller: &Caller,
    catalog: &str,
    view: &str,
) -> Result<(SchemaRef, Vec<RecordBatch>), SqlFailure> {
    let (columns, rows): (&[&str], Vec<Vec<Value>>) = match view {
        "catalogs" => {
            let catalogs = store
                .list_catalogs_for(caller)
                .await
                .map_err(|e| failure::store(&e))?;
            (
                &[
                    "catalog_name",
                    "catalog_owner",
                    "comment",
                    "created",
                    "created_by",
                ],
                catalogs
                    .into_iter()
                    .filter(|c| c.name == catalog)
                    .map(|c| {
                        vec![
                            text(c.name),
                            maybe(c.owner),
                            maybe(c.comment),
                            Value::Number(c.created_at),
                            maybe(Some(c.created_by)),
                        ]
                    })
                    .collect(),
            )
        }
        "schemata" => {
            let schemas = schemas(store, caller, catalog).await?;
            (
                &[
                    "catalog_name",
                    "schema_name",
                    "schema_owner",
                    "comment",
                    "created",
                    "created_by",
                ],
                schemas
                    .into_iter()
                    .map(|s| {
                        vec![
                            text(s.catalog_name),
                            text(s.name),
                            maybe(s.owner),
                            maybe(s.comment),
                            Value::Number(s.created_at),
                            text(s.created_by),
                        ]
                    })
                    .collect(),
            )
        }
        "tables" | "views" | "columns" => {
            let tables = tables(store, caller, catalog).await?;
            match view {
                "tables" => (
                    &[
                        "table_catalog",
                        "table_schema",
                        "table_name",
                        "table_type",
                        "table_owner",
                        "comment",
                        "data_source_format",
                        "created",
                        "created_by",
                    ],
                    tables
                        .into_iter()
                        .map(|t| {
                            vec![
                                text(t.catalog_name),
                                text(t.schema_name),
                                text(t.name),
                                text(t.table_type),
                                maybe(t.owner),
                                maybe(t.comment),
                                maybe(t.data_source_format),
                                Value::Number(t.created_at),
                                text(t.created_by),
                            ]
                        })
                        .collect(),
                ),
                "views" => (
                    &[
                        "table_catalog",
                        "table_schema",
                        "table_name",
                        "view_definition",
                    ],
                    tables
                        .into_iter()
                        .filter(|t| t.table_type == "VIEW")
                        .map(|t| {
                            vec![
                                text(t.catalog_name),
                                text(t.schema_name),
                                text(t.name),
                                maybe(t.view_definition),
                            ]
                        })
                        .collect(),
                ),
                _ => (
                    &[
                        "table_catalog",
                        "table_schema",
                        "table_name",
                        "column_name",
                        "ordinal_position",
                        "data_type",
                        "full_data_type",
                        "is_nullable",
                        "comment",
                    ],
                    tables
                        .into_iter()
                        .flat_map(|t| {
                            let (c, s, n) = (t.catalog_name, t.schema_name, t.name);
                            t.columns.into_iter().map(move |col| {
                                vec![
                                    text(c.clone()),
                                    text(s.clone()),
                                    text(n.clone()),
                                    text(col.name),
                                    Value::Number(col.position),
                                    text(col.type_name),
                                    text(col.type_text),
                                    text(if col.nullable { "YES" } else { "NO" }),
                                    maybe(col.comment),
                                ]
                            })
                        })
                        .collect(),
                ),
            }
        }
        other => {
            return Err(failure::table_not_found(format!(
                "{catalog}.{SCHEMA}.{other}"
            )));
        }
    };
    Ok(batch(columns, rows))
}

async fn schemas(
    store: &Store,
    caller: &Caller,
    catalog: &str,
) -> Result<Vec<patchbay_store::SchemaRecord>, SqlFailure> {
    store
        .list_schemas_for(caller, catalog)
        .await
        .map_err(failure::catalog)
}

/// Every table and view of the catalog the caller may see, with their columns.
async fn tables(
    store: &Store,
    caller: &Caller,
    catalog: &str,
) -> Result<Vec<TableRecord>, SqlFailure> {
    crate::commands::tables_in(store, caller, Some(catalog.to_owned()), None, None, true).await
}

fn batch(columns: &[&str], rows: Vec<Vec<Value>>) -> (SchemaRef, Vec<RecordBatch>) {
    let numeric: Vec<bool> = (0..columns.len())
        .map(|i| {
            rows.first()
                .is_some_and(|r| matches!(r.get(i), Some(Value::Number(_))))
                || matches!(columns[i], "created" | "ordinal_position")
        })
        .collect();
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .zip(&numeric)
            .map(|(c, n)| Field::new(*c, if *n { DataType::Int64 } else { DataType::Utf8 }, true))
            .collect::<Vec<_>>(),
    ));
    let mut rows = rows;
    let arrays: Vec<ArrayRef> = (0..columns.len())
        .map(|i| {
            let values = rows
                .iter_mut()
                .map(|r| std::mem::replace(&mut r[i], Value::Text(None)));
            if numeric[i] {
                Arc::new(Int64Array::from(
                    values
                        .map(|v| match v {
                            Value::Number(n) => Some(n),
                            Value::Text(_) => None,
                        })
                        .collect::<Vec<_>>(),
                )) as ArrayRef
            } else {
                Arc::new(StringArray::from(
                    values
                        .map(|v| match v {
                            Value::Text(t) => t,
                            Value::Number(n) => Some(n.to_string()),
                        })
                        .collect::<Vec<_>>(),
                )) as ArrayRef
            }
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays).expect("one array per column");
    (schema, vec![batch])
}
