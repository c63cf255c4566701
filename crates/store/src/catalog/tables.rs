//! Tables of a schema, with their columns: metadata only.

use super::objects::{
    CatalogUpdate, Kind, ObjectMeta, child, denied, for_caller, insert_row, load, managed, name,
    object, properties_text, visible_children,
};
use super::{CatalogError, CatalogResult, OWNER_NAME, exists_or, facts, identity, new_id, resolve};
use crate::Store;
use crate::sql::{Bind, Sql};
use patchbay_core::access::Caller;
use patchbay_core::catalog::{self as rules, AccessFacts, Action, Securable, TableType};
use patchbay_core::{PrincipalId, WorkspaceId};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// One column of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnRecord {
    pub name: String,
    pub position: i64,
    /// The API's `ColumnTypeName` (`INT`, `STRING`, `DECIMAL`, …).
    pub type_name: String,
    /// The SQL type (`int`, `decimal(10,2)`).
    pub type_text: String,
    pub type_json: String,
    pub nullable: bool,
    pub comment: Option<String>,
}

/// A table's metadata as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRecord {
    pub id: String,
    pub catalog_name: String,
    pub schema_name: String,
    pub name: String,
    pub metastore_id: Option<String>,
    pub legacy: bool,
    pub table_type: TableType,
    pub data_source_format: Option<String>,
    pub storage_location: Option<String>,
    pub meta: ObjectMeta,
    pub columns: Vec<ColumnRecord>,
    /// A view's query.
    pub view_definition: Option<String>,
}

impl TableRecord {
    /// `catalog.schema.table`.
    pub fn full_name(&self) -> String {
        format!("{}.{}.{}", self.catalog_name, self.schema_name, self.name)
    }

    /// Where the table's data is: the location it was given, or for a managed table where
    /// `managed` says the warehouses store a table of its id. A view has none.
    pub fn location(&self, managed: impl FnOnce(&str) -> Option<String>) -> Option<String> {
        match (&self.storage_location, self.table_type) {
            (Some(given), _) => Some(given.clone()),
            (None, TableType::Managed) => managed(&self.id),
            (None, _) => None,
        }
    }
}

/// What creating a table takes. Columns are checked against the API's type names.
#[derive(Debug, Clone, Default)]
pub struct NewTable {
    pub catalog_name: String,
    pub schema_name: String,
    pub name: String,
    pub table_type: String,
    pub data_source_format: Option<String>,
    pub storage_location: Option<String>,
    pub comment: Option<String>,
    pub properties: Map<String, Value>,
    pub columns: Vec<ColumnRecord>,
    /// A view's query (`table_type` `VIEW`).
    pub view_definition: Option<String>,
    /// The id the table's data is stored under, when its files were written before its
    /// metadata (a new one otherwise).
    pub id: Option<String>,
}

object!(
    TableRecord,
    Kind::Table,
    format!(
        "SELECT t.id, c.name AS catalog_name, s.name AS schema_name, c.workspace_id, \
         c.metastore_id, t.name, t.table_type, t.data_source_format, t.storage_location, \
         t.comment, t.properties, t.owner_id, {OWNER_NAME} AS owner_name, t.created_at, \
         t.created_by, t.updated_at, t.updated_by, t.view_definition FROM catalog_tables t \
         JOIN catalog_schemas s ON s.id = t.schema_id JOIN catalogs c ON c.id = s.catalog_id \
         LEFT JOIN principals o ON o.id = t.owner_id WHERE "
    ),
    |row| {
        catalog_name: row.get("catalog_name")?,
        schema_name: row.get("schema_name")?,
        table_type: row.get("table_type")?,
        data_source_format: row.get("data_source_format")?,
        storage_location: row.get("storage_location")?,
        columns: Vec::new(),
        view_definition: row.get("view_definition")?,
    },
    async fn complete(
        tx: &mut impl crate::read::Exec,
        tables: &mut [TableRecord],
    ) -> CatalogResult<()> {
        attach_columns(tx, tables).await
    }
);

async fn attach_columns(
    tx: &mut impl crate::read::Exec,
    tables: &mut [TableRecord],
) -> CatalogResult<()> {
    if tables.is_empty() {
        return Ok(());
    }
    let index: HashMap<String, usize> =
        tables.iter().enumerate().map(|(i, t)| (t.id.clone(), i)).collect();
    let mut sql = Sql::new(
        "SELECT table_id, position, name, type_name, type_text, type_json, nullable, comment \
         FROM catalog_columns WHERE table_id IN (",
    );
    sql.list(tables.iter().map(|t| Bind::from(t.id.as_str())))
        .push(") ORDER BY table_id, position");
    let columns = crate::read::fetch_all(tx, &sql, |row| {
        Ok((
            row.get::<String>("table_id")?,
            ColumnRecord {
                name: row.get("name")?,
                position: row.get("position")?,
                type_name: row.get("type_name")?,
                type_text: row.get("type_text")?,
                type_json: row.get("type_json")?,
                nullable: row.get::<i64>("nullable")? != 0,
                comment: row.get("comment")?,
            },
        ))
    })
    .await?;
    for (table_id, column) in columns {
        if let Some(i) = index.get(&table_id) {
            tables[*i].columns.push(column);
        }
    }
    Ok(())
}

/// A table (or view) and the facts of the principal's access to it, read in one snapshot.
async fn access_of(
    exec: &mut impl crate::read::Exec,
    workspace_id: WorkspaceId,
    principal_id: PrincipalId,
    is_admin: bool,
    securable: &Securable,
) -> CatalogResult<(TableRecord, AccessFacts)> {
    let resolved = resolve(exec, workspace_id, securable).await?;
    let mut identity = identity(exec, workspace_id, principal_id).await?;
    identity.workspace_admin |= is_admin;
    let facts = facts(exec, &identity, &resolved).await?;
    let record = load(exec, &resolved.chain[2].id).await?;
    Ok((record, facts))
}

impl Store {
    /// The tables of a schema the caller may read, with their columns unless `omit_columns`.
    pub async fn list_tables_for(
        &self,
        caller: &Caller,
        catalog: &str,
        schema: &str,
        omit_columns: bool,
    ) -> CatalogResult<Vec<TableRecord>> {
        let securable = Securable::Schema(name(catalog)?, name(schema)?);
        let mut tx = self.begin_read().await?;
        let (identity, resolved, facts) = for_caller(&mut tx, caller, &securable).await?;
        let mut visible = visible_children(&mut tx, &identity, &resolved, &facts).await?;
        if !omit_columns {
            attach_columns(&mut tx, &mut visible).await?;
        }
        tx.rollback().await?;
        Ok(visible)
    }

    /// A table the caller may read: `USE_CATALOG`, `USE_SCHEMA` and `SELECT` or ownership
    /// (`USAGE` and `SELECT` or `READ_METADATA` on `hive_metastore` objects), or an admin.
    pub async fn get_table(
        &self,
        caller: &Caller,
        securable: &Securable,
    ) -> CatalogResult<TableRecord> {
        self.get_object(caller, securable, |_, facts| {
            facts.check(Action::ReadTable, securable).map_err(denied)
        })
        .await
    }

    /// Whether a table exists: `false` when it does not, refused when the caller may not read
    /// it; an unknown catalog or schema is an error.
    pub async fn table_exists(
        &self,
        caller: &Caller,
        securable: &Securable,
    ) -> CatalogResult<bool> {
        match self.get_table(caller, securable).await {
            Ok(_) => Ok(true),
            Err(CatalogError::TableNotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Creates a table (metadata and columns) owned by the caller. Needs `USE_CATALOG`,
    /// `USE_SCHEMA` and `CREATE_TABLE` (`USAGE` and `CREATE` on `hive_metastore` schemas),
    /// ownership, or an admin.
    pub async fn create_table(
        &self,
        caller: &Caller,
        new: &NewTable,
    ) -> CatalogResult<TableRecord> {
        let (record, _) = self.put_table(caller, new, false).await?;
        Ok(record)
    }

    /// `CREATE OR REPLACE`: [`Store::create_table`], except that a table or view of the same
    /// name is replaced in the same transaction, so that readers see the old one or the new
    /// one and never neither. Replacing needs what dropping needs (the owner, `MANAGE`, or an
    /// admin) besides `CREATE TABLE`. The replaced object's record comes back, for its data to
    /// be removed.
    pub async fn replace_table(
        &self,
        caller: &Caller,
        new: &NewTable,
    ) -> CatalogResult<(TableRecord, Option<TableRecord>)> {
        self.put_table(caller, new, true).await
    }

    async fn put_table(
        &self,
        caller: &Caller,
        new: &NewTable,
        replace: bool,
    ) -> CatalogResult<(TableRecord, Option<TableRecord>)> {
        let schema = Securable::Schema(name(&new.catalog_name)?, name(&new.schema_name)?);
        let table_name = name(&new.name)?;
        let columns = checked_columns(&new.columns)?;
        let table_type = TableType::parse(&new.table_type)
            .ok_or_else(|| CatalogError::UnsupportedTableType { given: new.table_type.clone() })?;
        let format = match new.data_source_format.as_deref().map(str::trim) {
            None | Some("") => (!table_type.is_view()).then(|| "DELTA".to_owned()),
            Some(f) => {
                let f = f.to_ascii_uppercase();
                if !rules::DATA_SOURCE_FORMATS.contains(&f.as_str()) {
                    return Err(CatalogError::UnsupportedFormat { given: f });
                }
                Some(f)
            }
        };
        let mut tx = self.begin_write().await?;
        let (_, resolved, facts) = for_caller(&mut tx, caller, &schema).await?;
        let schema_id = resolved.chain[1].id.clone();
        let full_name = format!("{}.{table_name}", schema.full_name());
        if replace {
            // Replacements of one schema's tables take turns: each then finds what the one
            // before it made and replaces that.
            self.lock_object(&mut tx, Kind::Schema, &schema_id).await?;
        }
        let exists = child(&mut tx, Kind::Table, &schema_id, &table_name).await?.is_some();
        if exists && !replace {
            return Err(CatalogError::TableExists { name: full_name });
        }
        facts.check(Action::CreateTable, &schema).map_err(denied)?;
        let mut replaced = None;
        if exists {
            let Securable::Schema(catalog_name, schema_name) = &schema else {
                unreachable!("made as a schema above")
            };
            let old =
                Securable::Table(catalog_name.clone(), schema_name.clone(), table_name.clone());
            let (_, old_id) = managed(&mut tx, caller, Kind::Table, &old).await?;
            replaced = Some(load(&mut tx, &old_id).await?);
            sqlx::query("DELETE FROM catalog_tables WHERE id = $1")
                .bind(old_id.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let id = new.id.clone().unwrap_or_else(new_id);
        insert_row(
            "catalog_tables",
            "id, schema_id, name, table_type, data_source_format, storage_location, comment, \
             properties, view_definition, owner_id",
            [
                id.as_str().into(),
                schema_id.into(),
                table_name.as_str().into(),
                table_type.as_str().into(),
                format.as_deref().into(),
                new.storage_location.as_deref().into(),
                new.comment.as_deref().into(),
                properties_text(&new.properties).into(),
                new.view_definition.as_deref().into(),
                caller.principal_id.into(),
            ],
            self.now_millis(),
            &caller.name,
        )
        .query()
        .execute(&mut *tx)
        .await
        .map_err(|e| exists_or(e, || CatalogError::TableExists { name: full_name }))?;
        insert_columns(&mut tx, &id, &columns).await?;
        let record = load(&mut tx, &id).await?;
        tx.commit().await?;
        Ok((record, replaced))
    }

    /// A table or view as a SQL statement uses it, with the facts that decide what
    /// `principal_id` may do with it: the caller, or a view's owner for the objects the view
    /// reads. `is_admin` counts the principal as a workspace admin (a caller's token says so).
    pub async fn table_access(
        &self,
        workspace_id: WorkspaceId,
        principal_id: PrincipalId,
        is_admin: bool,
        securable: &Securable,
    ) -> CatalogResult<(TableRecord, AccessFacts)> {
        // Every statement a warehouse runs asks this: on SQLite it reads inline, in one read
        // transaction of a read-only connection, instead of a round trip to the pool's
        // connection thread for each query.
        if self.reader.is_some() {
            let mut read = self.read();
            return access_of(&mut read, workspace_id, principal_id, is_admin, securable).await;
        }
        let mut tx = self.begin_read().await?;
        let found = access_of(&mut tx, workspace_id, principal_id, is_admin, securable).await?;
        tx.rollback().await?;
        Ok(found)
    }

    /// Whether the caller could create this table now: the schema exists, no table has the
    /// name, and the caller may create tables there. For statements that write a table's
    /// data before its metadata ([`Store::create_table`] checks again, atomically).
    pub async fn check_new_table(&self, caller: &Caller, table: &Securable) -> CatalogResult<()> {
        let Securable::Table(catalog, schema, name) = table else {
            return Err(CatalogError::NotATable { name: table.full_name() });
        };
        let schema = Securable::Schema(catalog.clone(), schema.clone());
        let mut tx = self.begin_read().await?;
        let (_, resolved, facts) = for_caller(&mut tx, caller, &schema).await?;
        let exists = child(&mut tx, Kind::Table, &resolved.chain[1].id, name).await?.is_some();
        tx.rollback().await?;
        if exists {
            return Err(CatalogError::TableExists { name: table.full_name() });
        }
        facts.check(Action::CreateTable, &schema).map_err(denied)
    }

    /// Changes a table's owner or comment.
    pub async fn update_table(
        &self,
        caller: &Caller,
        securable: &Securable,
        update: &CatalogUpdate,
    ) -> CatalogResult<TableRecord> {
        self.update_renamed(caller, securable, update).await
    }

    /// Deletes a table and the grants on it. Needs the owner (of it or of its schema or
    /// catalog), `MANAGE`, or an admin. The table's id comes back: its data is the caller's to
    /// remove.
    pub async fn delete_table(
        &self,
        caller: &Caller,
        securable: &Securable,
    ) -> CatalogResult<Vec<String>> {
        self.delete_object(caller, Kind::Table, securable, false).await
    }
}

/// Adds checked columns to table `id`.
pub(super) async fn insert_columns(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    id: &str,
    columns: &[ColumnRecord],
) -> CatalogResult<()> {
    for c in columns {
        sqlx::query(
            "INSERT INTO catalog_columns (table_id, position, name, type_name, type_text, \
             type_json, nullable, comment) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(id)
        .bind(c.position)
        .bind(c.name.as_str())
        .bind(c.type_name.as_str())
        .bind(c.type_text.as_str())
        .bind(c.type_json.as_str())
        .bind(i64::from(c.nullable))
        .bind(c.comment.as_deref())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Normalizes and checks columns: names unique, types known; positions default to the order
/// given; `type_text` defaults to the type name and `type_json` to Spark's field JSON.
pub(super) fn checked_columns(columns: &[ColumnRecord]) -> CatalogResult<Vec<ColumnRecord>> {
    let mut seen = std::collections::HashSet::new();
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let column = name(&c.name)?;
            if !seen.insert(column.clone()) {
                return Err(CatalogError::DuplicateColumn { name: column });
            }
            let type_name = c.type_name.trim().to_ascii_uppercase();
            if !rules::COLUMN_TYPE_NAMES.contains(&type_name.as_str()) {
                return Err(CatalogError::UnknownColumnType {
                    column,
                    type_name: c.type_name.clone(),
                });
            }
            let type_text = if c.type_text.trim().is_empty() {
                type_name.to_ascii_lowercase()
            } else {
                c.type_text.trim().to_ascii_lowercase()
            };
            let type_json = if c.type_json.trim().is_empty() {
                serde_json::json!({
                    "name": column,
                    "type": rules::spark_type(&type_name, &type_text),
                    "nullable": c.nullable,
                    "metadata": {},
                })
                .to_string()
            } else {
                c.type_json.clone()
            };
            Ok(ColumnRecord {
                name: column,
                position: if c.position >= 0 {
                    c.position
                } else {
                    i64::try_from(i).unwrap_or(i64::MAX)
                },
                type_name,
                type_text,
                type_json,
                nullable: c.nullable,
                comment: c.comment.clone(),
            })
        })
        .collect()
}
