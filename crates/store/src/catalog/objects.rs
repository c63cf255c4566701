//! Catalogs, schemas and tables (with their columns): create, read, list, update, delete, each
//! decided by the rules in `patchbay_core::catalog` on facts gathered in the same transaction.
//! patchbay keeps metadata only: a table is a record and its columns.

use super::{
    CatalogError, CatalogResult, Identity, OWNER_NAME, Resolved, administers, assigned_metastore,
    caller_identity, exists_or, facts, find_principal, granted, new_id, resolve,
};
use crate::sql::{Bind, Sql};
use crate::Store;
use patchbay_core::access::Caller;
use patchbay_core::catalog::{
    self as rules, AccessFacts, Action, DEFAULT_SCHEMA, HIVE_METASTORE, LevelFacts, Securable,
    SecurableType,
};
use patchbay_core::time::now_millis;
use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use std::collections::HashMap;

/// A catalog as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogRecord {
    pub id: String,
    pub name: String,
    /// `None` for `hive_metastore`, which belongs to the workspace, not to a metastore.
    pub metastore_id: Option<String>,
    /// `hive_metastore`: legacy privileges apply.
    pub legacy: bool,
    pub owner_id: Option<i64>,
    pub owner: Option<String>,
    pub comment: Option<String>,
    pub storage_root: Option<String>,
    pub properties: Map<String, Value>,
    pub created_at: i64,
    pub created_by: String,
    pub updated_at: i64,
    pub updated_by: String,
}

/// A schema as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaRecord {
    pub id: String,
    pub catalog_name: String,
    pub name: String,
    pub metastore_id: Option<String>,
    pub legacy: bool,
    pub owner_id: Option<i64>,
    pub owner: Option<String>,
    pub comment: Option<String>,
    pub properties: Map<String, Value>,
    pub created_at: i64,
    pub created_by: String,
    pub updated_at: i64,
    pub updated_by: String,
}

impl SchemaRecord {
    /// `catalog.schema`.
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.catalog_name, self.name)
    }
}

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
    pub table_type: String,
    pub data_source_format: Option<String>,
    pub storage_location: Option<String>,
    pub owner_id: Option<i64>,
    pub owner: Option<String>,
    pub comment: Option<String>,
    pub properties: Map<String, Value>,
    pub created_at: i64,
    pub created_by: String,
    pub updated_at: i64,
    pub updated_by: String,
    pub columns: Vec<ColumnRecord>,
}

impl TableRecord {
    /// `catalog.schema.table`.
    pub fn full_name(&self) -> String {
        format!("{}.{}.{}", self.catalog_name, self.schema_name, self.name)
    }
}

/// What creating a catalog takes.
#[derive(Debug, Clone, Default)]
pub struct NewCatalog {
    pub name: String,
    pub comment: Option<String>,
    pub storage_root: Option<String>,
    pub properties: Map<String, Value>,
}

/// What creating a schema takes.
#[derive(Debug, Clone, Default)]
pub struct NewSchema {
    pub catalog_name: String,
    pub name: String,
    pub comment: Option<String>,
    pub properties: Map<String, Value>,
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
}

/// A change to a catalog, schema or table; unset fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct CatalogUpdate {
    pub new_name: Option<String>,
    /// The new owner by name (user e-mail, group name or application id).
    pub owner: Option<String>,
    pub comment: Option<String>,
    pub properties: Option<Map<String, Value>>,
}

fn properties(row: &AnyRow) -> CatalogResult<Map<String, Value>> {
    let text: String = row.try_get("properties")?;
    Ok(match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    })
}

fn properties_text(map: &Map<String, Value>) -> String {
    Value::Object(map.clone()).to_string()
}

fn opt_text(v: Option<&str>) -> Bind {
    v.map_or(Bind::NullText, |s| Bind::Text(s.to_owned()))
}

const AUDIT: &str = "created_at, created_by, updated_at, updated_by";

fn catalog_sql() -> Sql {
    Sql::new(&format!(
        "SELECT c.id, c.workspace_id, c.metastore_id, c.name, c.comment, c.storage_root, \
         c.properties, c.owner_id, {OWNER_NAME} AS owner_name, c.created_at, c.created_by, \
         c.updated_at, c.updated_by FROM catalogs c LEFT JOIN principals o ON o.id = c.owner_id \
         WHERE "
    ))
}

fn catalog_record(row: &AnyRow) -> CatalogResult<CatalogRecord> {
    let workspace_id: Option<i64> = row.try_get("workspace_id")?;
    Ok(CatalogRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        metastore_id: row.try_get("metastore_id")?,
        legacy: workspace_id.is_some(),
        owner_id: row.try_get("owner_id")?,
        owner: row.try_get("owner_name")?,
        comment: row.try_get("comment")?,
        storage_root: row.try_get("storage_root")?,
        properties: properties(row)?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
        updated_at: row.try_get("updated_at")?,
        updated_by: row.try_get("updated_by")?,
    })
}

fn schema_sql() -> Sql {
    Sql::new(&format!(
        "SELECT s.id, c.name AS catalog_name, c.workspace_id, c.metastore_id, s.name, s.comment, \
         s.properties, s.owner_id, {OWNER_NAME} AS owner_name, s.created_at, s.created_by, \
         s.updated_at, s.updated_by FROM catalog_schemas s JOIN catalogs c ON c.id = s.catalog_id \
         LEFT JOIN principals o ON o.id = s.owner_id WHERE "
    ))
}

fn schema_record(row: &AnyRow) -> CatalogResult<SchemaRecord> {
    let workspace_id: Option<i64> = row.try_get("workspace_id")?;
    Ok(SchemaRecord {
        id: row.try_get("id")?,
        catalog_name: row.try_get("catalog_name")?,
        name: row.try_get("name")?,
        metastore_id: row.try_get("metastore_id")?,
        legacy: workspace_id.is_some(),
        owner_id: row.try_get("owner_id")?,
        owner: row.try_get("owner_name")?,
        comment: row.try_get("comment")?,
        properties: properties(row)?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
        updated_at: row.try_get("updated_at")?,
        updated_by: row.try_get("updated_by")?,
    })
}

fn table_sql() -> Sql {
    Sql::new(&format!(
        "SELECT t.id, c.name AS catalog_name, s.name AS schema_name, c.workspace_id, \
         c.metastore_id, t.name, t.table_type, t.data_source_format, t.storage_location, \
         t.comment, t.properties, t.owner_id, {OWNER_NAME} AS owner_name, t.created_at, \
         t.created_by, t.updated_at, t.updated_by FROM catalog_tables t \
         JOIN catalog_schemas s ON s.id = t.schema_id JOIN catalogs c ON c.id = s.catalog_id \
         LEFT JOIN principals o ON o.id = t.owner_id WHERE "
    ))
}

fn table_record(row: &AnyRow) -> CatalogResult<TableRecord> {
    let workspace_id: Option<i64> = row.try_get("workspace_id")?;
    Ok(TableRecord {
        id: row.try_get("id")?,
        catalog_name: row.try_get("catalog_name")?,
        schema_name: row.try_get("schema_name")?,
        name: row.try_get("name")?,
        metastore_id: row.try_get("metastore_id")?,
        legacy: workspace_id.is_some(),
        table_type: row.try_get("table_type")?,
        data_source_format: row.try_get("data_source_format")?,
        storage_location: row.try_get("storage_location")?,
        owner_id: row.try_get("owner_id")?,
        owner: row.try_get("owner_name")?,
        comment: row.try_get("comment")?,
        properties: properties(row)?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
        updated_at: row.try_get("updated_at")?,
        updated_by: row.try_get("updated_by")?,
        columns: Vec::new(),
    })
}

async fn load_catalog(
    tx: &mut Transaction<'static, Any>,
    id: &str,
) -> CatalogResult<CatalogRecord> {
    let mut sql = catalog_sql();
    sql.push("c.id = ").text(id);
    catalog_record(&sql.query().fetch_one(&mut **tx).await?)
}

async fn load_schema(tx: &mut Transaction<'static, Any>, id: &str) -> CatalogResult<SchemaRecord> {
    let mut sql = schema_sql();
    sql.push("s.id = ").text(id);
    schema_record(&sql.query().fetch_one(&mut **tx).await?)
}

async fn load_table(tx: &mut Transaction<'static, Any>, id: &str) -> CatalogResult<TableRecord> {
    let mut sql = table_sql();
    sql.push("t.id = ").text(id);
    let mut table = table_record(&sql.query().fetch_one(&mut **tx).await?)?;
    attach_columns(tx, std::slice::from_mut(&mut table)).await?;
    Ok(table)
}

async fn attach_columns(
    tx: &mut Transaction<'static, Any>,
    tables: &mut [TableRecord],
) -> CatalogResult<()> {
    if tables.is_empty() {
        return Ok(());
    }
    let index: HashMap<String, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.id.clone(), i))
        .collect();
    let mut sql = Sql::new(
        "SELECT table_id, position, name, type_name, type_text, type_json, nullable, comment \
         FROM catalog_columns WHERE table_id IN (",
    );
    for (i, t) in tables.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.text(t.id.clone());
    }
    sql.push(") ORDER BY table_id, position");
    for row in sql.query().fetch_all(&mut **tx).await? {
        let table_id: String = row.try_get("table_id")?;
        if let Some(i) = index.get(&table_id) {
            tables[*i].columns.push(ColumnRecord {
                name: row.try_get("name")?,
                position: row.try_get("position")?,
                type_name: row.try_get("type_name")?,
                type_text: row.try_get("type_text")?,
                type_json: row.try_get("type_json")?,
                nullable: row.try_get::<i64, _>("nullable")? != 0,
                comment: row.try_get("comment")?,
            });
        }
    }
    Ok(())
}

/// Inserts a schema row; returns its id.
#[expect(
    clippy::too_many_arguments,
    reason = "one row's columns, called from two places"
)]
pub(crate) async fn insert_schema_row(
    tx: &mut Transaction<'static, Any>,
    catalog_id: &str,
    name: &str,
    comment: Option<&str>,
    properties: &str,
    owner_id: Option<i64>,
    by: &str,
    now: i64,
) -> CatalogResult<String> {
    let id = new_id();
    let mut sql = Sql::new(&format!(
        "INSERT INTO catalog_schemas (id, catalog_id, name, comment, properties, owner_id, {AUDIT}) VALUES ("
    ));
    sql.text(id.clone())
        .push(", ")
        .text(catalog_id)
        .push(", ")
        .text(name)
        .push(", ")
        .bind(opt_text(comment))
        .push(", ")
        .text(properties)
        .push(", ")
        .bind(owner_id.map_or(Bind::NullInt, Bind::Int))
        .push(", ")
        .int(now)
        .push(", ")
        .text(by)
        .push(", ")
        .int(now)
        .push(", ")
        .text(by)
        .push(")");
    sql.query()
        .execute(&mut **tx)
        .await
        .map_err(|e| exists_or(e, || CatalogError::SchemaExists { name: name.into() }))?;
    Ok(id)
}

/// Inserts a Unity Catalog catalog and its `default` schema, both owned by `owner_id`;
/// returns the catalog's id.
#[expect(
    clippy::too_many_arguments,
    reason = "one row's columns, called from two places"
)]
pub(crate) async fn insert_catalog_with_default_schema(
    tx: &mut Transaction<'static, Any>,
    metastore_id: &str,
    name: &str,
    comment: Option<&str>,
    storage_root: Option<&str>,
    properties: &str,
    owner_id: Option<i64>,
    by: &str,
) -> CatalogResult<String> {
    let id = new_id();
    let now = now_millis();
    let mut sql = Sql::new(&format!(
        "INSERT INTO catalogs (id, metastore_id, name, comment, storage_root, properties, owner_id, {AUDIT}) VALUES ("
    ));
    sql.text(id.clone())
        .push(", ")
        .text(metastore_id)
        .push(", ")
        .text(name)
        .push(", ")
        .bind(opt_text(comment))
        .push(", ")
        .bind(opt_text(storage_root))
        .push(", ")
        .text(properties)
        .push(", ")
        .bind(owner_id.map_or(Bind::NullInt, Bind::Int))
        .push(", ")
        .int(now)
        .push(", ")
        .text(by)
        .push(", ")
        .int(now)
        .push(", ")
        .text(by)
        .push(")");
    sql.query()
        .execute(&mut **tx)
        .await
        .map_err(|e| exists_or(e, || CatalogError::CatalogExists { name: name.into() }))?;
    insert_schema_row(
        tx,
        &id,
        DEFAULT_SCHEMA,
        Some("Default schema (auto-created)"),
        "{}",
        owner_id,
        by,
        now,
    )
    .await?;
    Ok(id)
}

fn name(raw: &str) -> CatalogResult<String> {
    rules::normalize_name(raw.trim()).map_err(CatalogError::Invalid)
}

fn denied(e: rules::Denied) -> CatalogError {
    CatalogError::Refused(e.0)
}

fn manage_denied(on: &Securable) -> CatalogError {
    CatalogError::NotOwner { on: on.clone() }
}


/// Resolves a securable for a caller, with the facts about it.
pub(crate) async fn for_caller(
    tx: &mut Transaction<'static, Any>,
    caller: &Caller,
    securable: &Securable,
) -> CatalogResult<(Identity, Resolved, AccessFacts)> {
    let resolved = resolve(tx, caller.workspace_id, securable).await?;
    let identity = caller_identity(tx, caller).await?;
    let facts = facts(tx, &identity, &resolved).await?;
    Ok((identity, resolved, facts))
}

/// Per-object facts for the children of a resolved parent: the parent's levels plus one.
async fn child_facts(
    tx: &mut Transaction<'static, Any>,
    identity: &Identity,
    parent: &AccessFacts,
    column: &'static str,
    children: &[(String, Option<i64>)],
) -> CatalogResult<Vec<AccessFacts>> {
    let ids: Vec<&str> = children.iter().map(|(id, _)| id.as_str()).collect();
    let grants = granted(tx, &identity.ids, column, &ids).await?;
    Ok(children
        .iter()
        .map(|(id, owner)| {
            let mut facts = parent.clone();
            facts.levels.push(LevelFacts {
                owned: identity.holds(*owner),
                privileges: grants
                    .iter()
                    .filter(|(object, _)| object == id)
                    .map(|(_, p)| p.clone())
                    .collect(),
            });
            facts
        })
        .collect())
}

impl Store {
    /// The catalogs the caller may see: `hive_metastore` always; in the metastore, all of them
    /// for a metastore admin, else those it owns or holds a privilege on.
    pub async fn list_catalogs_for(&self, caller: &Caller) -> crate::Result<Vec<CatalogRecord>> {
        let mut tx = self.pool.begin().await?;
        let found = list_catalogs(&mut tx, caller).await;
        tx.rollback().await?;
        Ok(found?)
    }

    /// A catalog by name, without any permission check (for Partner Connect's own rules).
    pub async fn catalog(
        &self,
        workspace_id: i64,
        name: &str,
    ) -> crate::Result<Option<CatalogRecord>> {
        let mut tx = self.pool.begin().await?;
        let found = match resolve(
            &mut tx,
            workspace_id,
            &Securable::Catalog(name.to_lowercase()),
        )
        .await
        {
            Ok(r) => Some(load_catalog(&mut tx, &r.chain[0].id).await?),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(e.into()),
        };
        tx.rollback().await?;
        Ok(found)
    }

    /// A catalog the caller may see.
    pub async fn get_catalog(&self, caller: &Caller, name: &str) -> CatalogResult<CatalogRecord> {
        let securable = Securable::Catalog(self::name(name)?);
        let mut tx = self.pool.begin().await?;
        let (_, resolved, facts) = for_caller(&mut tx, caller, &securable).await?;
        if !(resolved.legacy() || facts.visible(SecurableType::Catalog)) {
            return Err(CatalogError::NoUseCatalog { on: securable });
        }
        let record = load_catalog(&mut tx, &resolved.chain[0].id).await?;
        tx.rollback().await?;
        Ok(record)
    }

    /// Creates a catalog in the workspace's metastore, owned by the caller, with its `default`
    /// schema. Needs a metastore admin or `CREATE_CATALOG` on the metastore.
    pub async fn create_catalog(
        &self,
        caller: &Caller,
        new: &NewCatalog,
    ) -> CatalogResult<CatalogRecord> {
        let catalog = name(&new.name)?;
        let mut tx = self.begin_write().await?;
        let metastore = assigned_metastore(&mut tx, caller.workspace_id)
            .await?
            .ok_or(CatalogError::UnityCatalogDisabled)?;
        if catalog == HIVE_METASTORE {
            return Err(CatalogError::CatalogExists {
                name: HIVE_METASTORE.into(),
            });
        }
        let identity = caller_identity(&mut tx, caller).await?;
        let on_metastore = granted(
            &mut tx,
            &identity.ids,
            "metastore_id",
            &[metastore.id.as_str()],
        )
        .await?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
        if !rules::may_create_catalog(administers(&identity, Some(&metastore)), &on_metastore) {
            return Err(CatalogError::NoCreateCatalog);
        }
        let id = insert_catalog_with_default_schema(
            &mut tx,
            &metastore.id,
            &catalog,
            new.comment.as_deref(),
            new.storage_root.as_deref(),
            &properties_text(&new.properties),
            Some(caller.principal_id),
            &caller.name,
        )
        .await?;
        let record = load_catalog(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Renames a catalog, changes its owner, comment or properties. Needs the owner, a
    /// metastore admin (workspace admin for `hive_metastore`) or `MANAGE`.
    pub async fn update_catalog(
        &self,
        caller: &Caller,
        name: &str,
        update: &CatalogUpdate,
    ) -> CatalogResult<CatalogRecord> {
        let securable = Securable::Catalog(self::name(name)?);
        let mut tx = self.begin_write().await?;
        let (_, resolved, facts) = for_caller(&mut tx, caller, &securable).await?;
        if !facts.may_manage() {
            return Err(manage_denied(&securable));
        }
        let new_name = match &update.new_name {
            Some(n) if resolved.legacy() => {
                return Err(CatalogError::RenameLegacyCatalog { to: n.clone() });
            }
            Some(n) => Some(self::name(n)?),
            None => None,
        };
        if new_name.as_deref() == Some(HIVE_METASTORE) {
            return Err(CatalogError::CatalogExists {
                name: HIVE_METASTORE.into(),
            });
        }
        update_row(
            &mut tx,
            caller,
            "catalogs",
            &resolved.chain[0].id,
            new_name.as_deref(),
            update,
            |name| CatalogError::CatalogExists { name },
        )
        .await?;
        let record = load_catalog(&mut tx, &resolved.chain[0].id).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Deletes a catalog. One with schemas (other than an empty `default`) needs `force`,
    /// which deletes them, their tables and every grant on them.
    pub async fn delete_catalog(
        &self,
        caller: &Caller,
        name: &str,
        force: bool,
    ) -> CatalogResult<()> {
        let securable = Securable::Catalog(self::name(name)?);
        if securable.is_legacy() {
            return Err(CatalogError::DeleteLegacyCatalog);
        }
        let mut tx = self.begin_write().await?;
        let (_, resolved, facts) = for_caller(&mut tx, caller, &securable).await?;
        if !facts.may_manage() {
            return Err(manage_denied(&securable));
        }
        let id = resolved.chain[0].id.clone();
        let content = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM catalog_schemas WHERE catalog_id = $1 AND name <> 'default') \
                  + (SELECT COUNT(*) FROM catalog_tables t JOIN catalog_schemas s ON s.id = t.schema_id \
                     WHERE s.catalog_id = $1) AS n",
        )
        .bind(id.as_str())
        .fetch_one(&mut *tx)
        .await?
        .try_get::<i64, _>("n")?;
        if content > 0 && !force {
            return Err(CatalogError::CatalogNotEmpty {
                name: securable.full_name(),
            });
        }
        sqlx::query("DELETE FROM catalogs WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The schemas of a catalog the caller may see.
    pub async fn list_schemas_for(
        &self,
        caller: &Caller,
        catalog: &str,
    ) -> CatalogResult<Vec<SchemaRecord>> {
        let securable = Securable::Catalog(name(catalog)?);
        let mut tx = self.pool.begin().await?;
        let (identity, resolved, facts) = for_caller(&mut tx, caller, &securable).await?;
        let mut sql = schema_sql();
        sql.push("s.catalog_id = ")
            .text(resolved.chain[0].id.clone())
            .push(" ORDER BY s.name");
        let schemas = sql
            .query()
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(schema_record)
            .collect::<CatalogResult<Vec<_>>>()?;
        let children: Vec<(String, Option<i64>)> =
            schemas.iter().map(|s| (s.id.clone(), s.owner_id)).collect();
        let each = child_facts(&mut tx, &identity, &facts, "schema_id", &children).await?;
        tx.rollback().await?;
        Ok(schemas
            .into_iter()
            .zip(each)
            .filter(|(_, f)| f.visible(SecurableType::Schema))
            .map(|(s, _)| s)
            .collect())
    }

    /// A schema the caller may see.
    pub async fn get_schema(
        &self,
        caller: &Caller,
        catalog: &str,
        schema: &str,
    ) -> CatalogResult<SchemaRecord> {
        let securable = Securable::Schema(name(catalog)?, name(schema)?);
        let mut tx = self.pool.begin().await?;
        let (_, resolved, facts) = for_caller(&mut tx, caller, &securable).await?;
        if !facts.visible(SecurableType::Schema) {
            return Err(CatalogError::NoUseSchema {
                legacy: resolved.legacy(),
                on: securable,
            });
        }
        let record = load_schema(&mut tx, &resolved.chain[1].id).await?;
        tx.rollback().await?;
        Ok(record)
    }

    /// Creates a schema owned by the caller. Needs `USE_CATALOG` and `CREATE_SCHEMA` on the
    /// catalog (`USAGE` and `CREATE` on `hive_metastore`), ownership, or an admin.
    pub async fn create_schema(
        &self,
        caller: &Caller,
        new: &NewSchema,
    ) -> CatalogResult<SchemaRecord> {
        let catalog = Securable::Catalog(name(&new.catalog_name)?);
        let schema_name = name(&new.name)?;
        let securable = Securable::Schema(new.catalog_name.to_lowercase(), schema_name.clone());
        let mut tx = self.begin_write().await?;
        let (_, resolved, facts) = for_caller(&mut tx, caller, &catalog).await?;
        let catalog_id = resolved.chain[0].id.clone();
        let exists =
            sqlx::query("SELECT 1 AS yes FROM catalog_schemas WHERE catalog_id = $1 AND name = $2")
                .bind(catalog_id.as_str())
                .bind(schema_name.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
        if exists {
            return Err(CatalogError::SchemaExists {
                name: securable.full_name(),
            });
        }
        facts
            .check(Action::CreateSchema, &catalog)
            .map_err(denied)?;
        let id = insert_schema_row(
            &mut tx,
            &catalog_id,
            &schema_name,
            new.comment.as_deref(),
            &properties_text(&new.properties),
            Some(caller.principal_id),
            &caller.name,
            now_millis(),
        )
        .await?;
        let record = load_schema(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Renames a schema, changes its owner, comment or properties.
    pub async fn update_schema(
        &self,
        caller: &Caller,
        catalog: &str,
        schema: &str,
        update: &CatalogUpdate,
    ) -> CatalogResult<SchemaRecord> {
        let securable = Securable::Schema(name(catalog)?, name(schema)?);
        let mut tx = self.begin_write().await?;
        let (_, resolved, facts) = for_caller(&mut tx, caller, &securable).await?;
        if !facts.may_manage() {
            return Err(manage_denied(&securable));
        }
        let new_name = update.new_name.as_deref().map(name).transpose()?;
        update_row(
            &mut tx,
            caller,
            "catalog_schemas",
            &resolved.chain[1].id,
            new_name.as_deref(),
            update,
            |name| CatalogError::SchemaExists { name },
        )
        .await?;
        let record = load_schema(&mut tx, &resolved.chain[1].id).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Deletes a schema. One with tables needs `force`, which deletes them and their grants.
    /// `hive_metastore.default` cannot be deleted.
    pub async fn delete_schema(
        &self,
        caller: &Caller,
        catalog: &str,
        schema: &str,
        force: bool,
    ) -> CatalogResult<()> {
        let securable = Securable::Schema(name(catalog)?, name(schema)?);
        if securable == Securable::Schema(HIVE_METASTORE.into(), DEFAULT_SCHEMA.into()) {
            return Err(CatalogError::DeleteLegacyDefaultSchema);
        }
        let mut tx = self.begin_write().await?;
        let (_, resolved, facts) = for_caller(&mut tx, caller, &securable).await?;
        if !facts.may_manage() {
            return Err(manage_denied(&securable));
        }
        let id = resolved.chain[1].id.clone();
        let tables = sqlx::query("SELECT COUNT(*) AS n FROM catalog_tables WHERE schema_id = $1")
            .bind(id.as_str())
            .fetch_one(&mut *tx)
            .await?
            .try_get::<i64, _>("n")?;
        if tables > 0 && !force {
            return Err(CatalogError::SchemaNotEmpty {
                name: securable.full_name(),
                tables,
            });
        }
        sqlx::query("DELETE FROM catalog_schemas WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The tables of a schema the caller may read, with their columns unless `omit_columns`.
    pub async fn list_tables_for(
        &self,
        caller: &Caller,
        catalog: &str,
        schema: &str,
        omit_columns: bool,
    ) -> CatalogResult<Vec<TableRecord>> {
        let securable = Securable::Schema(name(catalog)?, name(schema)?);
        let mut tx = self.pool.begin().await?;
        let (identity, resolved, facts) = for_caller(&mut tx, caller, &securable).await?;
        let mut sql = table_sql();
        sql.push("t.schema_id = ")
            .text(resolved.chain[1].id.clone())
            .push(" ORDER BY t.name");
        let tables = sql
            .query()
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(table_record)
            .collect::<CatalogResult<Vec<_>>>()?;
        let children: Vec<(String, Option<i64>)> =
            tables.iter().map(|t| (t.id.clone(), t.owner_id)).collect();
        let each = child_facts(&mut tx, &identity, &facts, "table_id", &children).await?;
        let mut visible: Vec<TableRecord> = tables
            .into_iter()
            .zip(each)
            .filter(|(_, f)| f.visible(SecurableType::Table))
            .map(|(t, _)| t)
            .collect();
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
        let mut tx = self.pool.begin().await?;
        let (_, resolved, facts) = for_caller(&mut tx, caller, securable).await?;
        facts.check(Action::ReadTable, securable).map_err(denied)?;
        let record = load_table(&mut tx, &resolved.chain[2].id).await?;
        tx.rollback().await?;
        Ok(record)
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
        let schema = Securable::Schema(name(&new.catalog_name)?, name(&new.schema_name)?);
        let table_name = name(&new.name)?;
        let columns = checked_columns(&new.columns)?;
        let table_type = new.table_type.trim().to_ascii_uppercase();
        if !rules::TABLE_TYPES.contains(&table_type.as_str()) {
            return Err(CatalogError::UnsupportedTableType {
                given: new.table_type.clone(),
            });
        }
        let format = match new.data_source_format.as_deref().map(str::trim) {
            None | Some("") => (table_type != "VIEW").then(|| "DELTA".to_owned()),
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
        let exists =
            sqlx::query("SELECT 1 AS yes FROM catalog_tables WHERE schema_id = $1 AND name = $2")
                .bind(schema_id.as_str())
                .bind(table_name.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
        if exists {
            return Err(CatalogError::TableExists { name: full_name });
        }
        facts.check(Action::CreateTable, &schema).map_err(denied)?;
        let id = new_id();
        let now = now_millis();
        let mut sql = Sql::new(&format!(
            "INSERT INTO catalog_tables (id, schema_id, name, table_type, data_source_format, \
             storage_location, comment, properties, owner_id, {AUDIT}) VALUES ("
        ));
        sql.text(id.clone())
            .push(", ")
            .text(schema_id)
            .push(", ")
            .text(table_name.clone())
            .push(", ")
            .text(table_type)
            .push(", ")
            .bind(opt_text(format.as_deref()))
            .push(", ")
            .bind(opt_text(new.storage_location.as_deref()))
            .push(", ")
            .bind(opt_text(new.comment.as_deref()))
            .push(", ")
            .text(properties_text(&new.properties))
            .push(", ")
            .int(caller.principal_id)
            .push(", ")
            .int(now)
            .push(", ")
            .text(caller.name.clone())
            .push(", ")
            .int(now)
            .push(", ")
            .text(caller.name.clone())
            .push(")");
        sql.query()
            .execute(&mut *tx)
            .await
            .map_err(|e| exists_or(e, || CatalogError::TableExists { name: full_name }))?;
        for c in &columns {
            sqlx::query(
                "INSERT INTO catalog_columns (table_id, position, name, type_name, type_text, \
                 type_json, nullable, comment) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(id.as_str())
            .bind(c.position)
            .bind(c.name.as_str())
            .bind(c.type_name.as_str())
            .bind(c.type_text.as_str())
            .bind(c.type_json.as_str())
            .bind(i64::from(c.nullable))
            .bind(c.comment.as_deref())
            .execute(&mut *tx)
            .await?;
        }
        let record = load_table(&mut tx, &id).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Changes a table's owner or comment.
    pub async fn update_table(
        &self,
        caller: &Caller,
        securable: &Securable,
        update: &CatalogUpdate,
    ) -> CatalogResult<TableRecord> {
        let mut tx = self.begin_write().await?;
        let (_, resolved, facts) = for_caller(&mut tx, caller, securable).await?;
        if !facts.may_manage() {
            return Err(manage_denied(securable));
        }
        let new_name = update.new_name.as_deref().map(name).transpose()?;
        update_row(
            &mut tx,
            caller,
            "catalog_tables",
            &resolved.chain[2].id,
            new_name.as_deref(),
            update,
            |name| CatalogError::TableExists { name },
        )
        .await?;
        let record = load_table(&mut tx, &resolved.chain[2].id).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Deletes a table and the grants on it. Needs the owner (of it or of its schema or
    /// catalog), `MANAGE`, or an admin.
    pub async fn delete_table(&self, caller: &Caller, securable: &Securable) -> CatalogResult<()> {
        let mut tx = self.begin_write().await?;
        let (_, resolved, facts) = for_caller(&mut tx, caller, securable).await?;
        if !facts.may_manage() {
            return Err(manage_denied(securable));
        }
        sqlx::query("DELETE FROM catalog_tables WHERE id = $1")
            .bind(resolved.chain[2].id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn list_catalogs(
    tx: &mut Transaction<'static, Any>,
    caller: &Caller,
) -> CatalogResult<Vec<CatalogRecord>> {
    let metastore = assigned_metastore(tx, caller.workspace_id).await?;
    let identity = caller_identity(tx, caller).await?;
    let mut sql = catalog_sql();
    sql.push("c.workspace_id = ").int(caller.workspace_id);
    if let Some(m) = &metastore {
        sql.push(" OR c.metastore_id = ").text(m.id.clone());
    }
    sql.push(" ORDER BY c.name");
    let catalogs = sql
        .query()
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(catalog_record)
        .collect::<CatalogResult<Vec<_>>>()?;
    let ids: Vec<&str> = catalogs.iter().map(|c| c.id.as_str()).collect();
    let grants = granted(tx, &identity.ids, "catalog_id", &ids).await?;
    let metastore_admin = administers(&identity, metastore.as_ref());
    Ok(catalogs
        .into_iter()
        .filter(|c| {
            let facts = AccessFacts {
                legacy: c.legacy,
                superuser: if c.legacy {
                    identity.workspace_admin
                } else {
                    metastore_admin
                },
                levels: vec![LevelFacts {
                    owned: identity.holds(c.owner_id),
                    privileges: grants
                        .iter()
                        .filter(|(id, _)| *id == c.id)
                        .map(|(_, p)| p.clone())
                        .collect(),
                }],
            };
            c.legacy || facts.visible(SecurableType::Catalog)
        })
        .collect())
}

/// Applies a [`CatalogUpdate`] to one row of `table`.
async fn update_row(
    tx: &mut Transaction<'static, Any>,
    caller: &Caller,
    table: &'static str,
    id: &str,
    new_name: Option<&str>,
    update: &CatalogUpdate,
    exists: impl FnOnce(String) -> CatalogError,
) -> CatalogResult<()> {
    let mut sql = Sql::new(&format!("UPDATE {table} SET updated_at = "));
    sql.int(now_millis())
        .push(", updated_by = ")
        .text(caller.name.clone());
    if let Some(n) = new_name {
        sql.push(", name = ").text(n);
    }
    if let Some(owner) = &update.owner {
        let (owner_id, _) = find_principal(tx, caller.workspace_id, owner).await?;
        sql.push(", owner_id = ").int(owner_id);
    }
    if let Some(comment) = &update.comment {
        sql.push(", comment = ").text(comment.clone());
    }
    if let Some(p) = &update.properties {
        sql.push(", properties = ").text(properties_text(p));
    }
    sql.push(" WHERE id = ").text(id);
    sql.query()
        .execute(&mut **tx)
        .await
        .map_err(|e| exists_or(e, || exists(new_name.unwrap_or_default().to_owned())))?;
    Ok(())
}

/// Normalizes and checks columns: names unique, types known; positions default to the order
/// given; `type_text` defaults to the type name and `type_json` to Spark's field JSON.
fn checked_columns(columns: &[ColumnRecord]) -> CatalogResult<Vec<ColumnRecord>> {
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

/// Whether the caller may read a securable's grants: whoever may manage it or see it.
pub(crate) fn may_read_grants(facts: &AccessFacts, securable: &Securable) -> bool {
    facts.may_manage() || facts.visible(securable.securable_type())
}
