//! `<catalog>.information_schema`: the catalog's `catalogs`, `schemata`, `tables`, `views` and
//! `columns`, as Unity Catalog names and types their columns, holding only what the caller may
//! see, and the views of what patchbay keeps none of (tags, row filters, column masks, key
//! constraints), empty; `system.information_schema` holds the same across every catalog the caller sees (dbt
//! reads its relations there). Each is made for the statement that reads it, from the same
//! listings as the catalog API.

use crate::failure;
use patchbay_core::access::Caller;
use patchbay_engine::arrow::array::{
    ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use patchbay_engine::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use patchbay_server::statements::engine::SqlFailure;
use patchbay_store::{Store, TableRecord};
use std::sync::Arc;

/// The schema every catalog has, holding these views.
pub const SCHEMA: &str = "information_schema";

/// The catalog whose `information_schema` spans every catalog.
const SYSTEM: &str = "system";

/// A column's value: text, a number, or a time (epoch milliseconds, shown as a TIMESTAMP).
enum Value {
    Text(Option<String>),
    Number(i64),
    Time(i64),
}

fn text(s: impl Into<String>) -> Value {
    Value::Text(Some(s.into()))
}

fn maybe(s: Option<String>) -> Value {
    Value::Text(s)
}

/// Who owns a catalog's, schema's or table's record and what it says of itself, who made it and
/// who changed it last, and when: the columns each view of such objects ends with.
macro_rules! stamps {
    ($record:ident) => {
        [
            maybe($record.meta.owner),
            maybe($record.meta.comment),
            Value::Time($record.meta.created_at),
            text($record.meta.created_by),
            Value::Time($record.meta.updated_at),
            text($record.meta.updated_by),
        ]
    };
}

/// The rows of `catalog.information_schema.view` for `caller`.
pub async fn view(
    store: &Store,
    caller: &Caller,
    catalog: &str,
    view: &str,
) -> Result<(SchemaRef, Vec<RecordBatch>), SqlFailure> {
    // `None`: every catalog the caller sees.
    let scope = (catalog != SYSTEM).then_some(catalog);
    // The columns, in Unity Catalog's order, and the rows.
    let (columns, rows): (&str, Vec<Vec<Value>>) = match view {
        "catalogs" => (
            "catalog_name catalog_owner comment created created_by last_altered last_altered_by",
            store
                .list_catalogs_for(caller)
                .await
                .map_err(|e| failure::store(&e))?
                .into_iter()
                .filter(|c| scope.is_none_or(|s| c.name == s))
                .map(|c| [text(c.name)].into_iter().chain(stamps!(c)).collect())
                .collect(),
        ),
        "schemata" => (
            "catalog_name schema_name schema_owner comment created created_by last_altered \
             last_altered_by",
            schemas(store, caller, scope)
                .await?
                .into_iter()
                .map(|s| {
                    [text(s.catalog_name), text(s.name)].into_iter().chain(stamps!(s)).collect()
                })
                .collect(),
        ),
        "tables" => (
            "table_catalog table_schema table_name table_type table_owner comment created \
             created_by last_altered last_altered_by data_source_format",
            tables(store, caller, scope)
                .await?
                .into_iter()
                .map(|t| {
                    [
                        text(t.catalog_name),
                        text(t.schema_name),
                        text(t.name),
                        text(t.table_type.as_str()),
                    ]
                    .into_iter()
                    .chain(stamps!(t))
                    .chain([maybe(t.data_source_format)])
                    .collect()
                })
                .collect(),
        ),
        "views" => (
            "table_catalog table_schema table_name view_definition",
            tables(store, caller, scope)
                .await?
                .into_iter()
                .filter(|t| t.table_type.is_view())
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
        "columns" => (
            "table_catalog table_schema table_name column_name ordinal_position data_type \
             full_data_type is_nullable comment",
            tables(store, caller, scope)
                .await?
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
        other => match EMPTY.iter().find(|(name, _)| *name == other) {
            Some((_, columns)) => (columns, Vec::new()),
            None => {
                return Err(failure::table_not_found(format!("{catalog}.{SCHEMA}.{other}")));
            }
        },
    };
    let columns: Vec<&str> = columns.split(' ').collect();
    Ok(batch(&columns, rows))
}

/// The views of what patchbay does not keep (tags, row filters, column masks, key
/// constraints), with Unity Catalog's columns: they exist and are empty, so that a client that
/// looks there finds there are none.
const EMPTY: &[(&str, &str)] = &[
    ("table_tags", "catalog_name schema_name table_name tag_name tag_value"),
    ("column_tags", "catalog_name schema_name table_name column_name tag_name tag_value"),
    ("row_filters", "table_catalog table_schema table_name filter_name target_columns"),
    ("column_masks", "table_catalog table_schema table_name column_name mask_name using_columns"),
    (
        "table_constraints",
        "constraint_catalog constraint_schema constraint_name table_catalog table_schema \
         table_name constraint_type is_deferrable initially_deferred enforced comment",
    ),
    (
        "key_column_usage",
        "constraint_catalog constraint_schema constraint_name table_catalog table_schema \
         table_name column_name ordinal_position position_in_unique_constraint",
    ),
    (
        "referential_constraints",
        "constraint_catalog constraint_schema constraint_name unique_constraint_catalog \
         unique_constraint_schema unique_constraint_name match_option update_rule delete_rule",
    ),
];

async fn schemas(
    store: &Store,
    caller: &Caller,
    catalog: Option<&str>,
) -> Result<Vec<patchbay_store::SchemaRecord>, SqlFailure> {
    let Some(catalog) = catalog else {
        return crate::commands::schemas_in_every_catalog(store, caller).await;
    };
    store.list_schemas_for(caller, catalog).await.map_err(failure::catalog)
}

/// Every table and view of the catalog the caller may see, with their columns.
async fn tables(
    store: &Store,
    caller: &Caller,
    catalog: Option<&str>,
) -> Result<Vec<TableRecord>, SqlFailure> {
    crate::commands::tables_in(store, caller, catalog.map(str::to_owned), None, None, true).await
}

/// What a column holds, by its name: every view names its numbers and times alike.
fn column_type(name: &str) -> DataType {
    match name {
        "ordinal_position" | "position_in_unique_constraint" => DataType::Int64,
        "created" | "last_altered" => {
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        }
        _ => DataType::Utf8,
    }
}

fn batch(columns: &[&str], mut rows: Vec<Vec<Value>>) -> (SchemaRef, Vec<RecordBatch>) {
    let schema = Arc::new(Schema::new(
        columns.iter().map(|c| Field::new(*c, column_type(c), true)).collect::<Vec<_>>(),
    ));
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let values = rows.iter_mut().map(|r| std::mem::replace(&mut r[i], Value::Text(None)));
            let number = |v: Value| match v {
                Value::Number(n) | Value::Time(n) => Some(n),
                Value::Text(_) => None,
            };
            match column_type(c) {
                DataType::Int64 => Arc::new(Int64Array::from_iter(values.map(number))) as ArrayRef,
                DataType::Timestamp(..) => Arc::new(
                    TimestampMicrosecondArray::from_iter(
                        values.map(|v| number(v).map(|ms| ms.saturating_mul(1000))),
                    )
                    .with_timezone("UTC"),
                ),
                _ => Arc::new(StringArray::from_iter(values.map(|v| match v {
                    Value::Text(t) => t,
                    Value::Number(n) | Value::Time(n) => Some(n.to_string()),
                }))),
            }
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays).expect("one array per column");
    (schema, vec![batch])
}
