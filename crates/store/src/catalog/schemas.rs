//! Schemas of a catalog.

use super::objects::{
    AUDIT, CatalogUpdate, Kind, Object, denied, for_caller, load, managed, name, opt_text,
    properties, properties_text, update_row, visible_children,
};
use super::{CatalogError, CatalogResult, OWNER_NAME, exists_or, new_id};
use crate::Store;
use crate::sql::{Bind, Sql};
use patchbay_core::access::Caller;
use patchbay_core::catalog::{Action, DEFAULT_SCHEMA, HIVE_METASTORE, Securable, SecurableType};
use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

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

/// What creating a schema takes.
#[derive(Debug, Clone, Default)]
pub struct NewSchema {
    pub catalog_name: String,
    pub name: String,
    pub comment: Option<String>,
    pub properties: Map<String, Value>,
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

impl Object for SchemaRecord {
    const KIND: Kind = Kind::Schema;

    fn select() -> Sql {
        schema_sql()
    }

    fn from_row(row: &AnyRow) -> CatalogResult<Self> {
        schema_record(row)
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn owner_id(&self) -> Option<i64> {
        self.owner_id
    }
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

impl Store {
    /// The schemas of a catalog the caller may see.
    pub async fn list_schemas_for(
        &self,
        caller: &Caller,
        catalog: &str,
    ) -> CatalogResult<Vec<SchemaRecord>> {
        let securable = Securable::Catalog(name(catalog)?);
        let mut tx = self.begin_read().await?;
        let (identity, resolved, facts) = for_caller(&mut tx, caller, &securable).await?;
        let schemas = visible_children(&mut tx, &identity, &resolved, &facts).await?;
        tx.rollback().await?;
        Ok(schemas)
    }

    /// A schema the caller may see.
    pub async fn get_schema(
        &self,
        caller: &Caller,
        catalog: &str,
        schema: &str,
    ) -> CatalogResult<SchemaRecord> {
        let securable = Securable::Schema(name(catalog)?, name(schema)?);
        let mut tx = self.begin_read().await?;
        let (_, resolved, facts) = for_caller(&mut tx, caller, &securable).await?;
        if !facts.visible(SecurableType::Schema) {
            return Err(CatalogError::NoUseSchema {
                legacy: resolved.legacy(),
                on: securable,
            });
        }
        let record = load(&mut tx, &resolved.chain[1].id).await?;
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
            self.now_millis(),
        )
        .await?;
        let record = load(&mut tx, &id).await?;
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
        let (_, id) = managed(&mut tx, caller, Kind::Schema, &securable).await?;
        let new_name = update.new_name.as_deref().map(name).transpose()?;
        update_row(
            &mut tx,
            self.now_millis(),
            caller,
            Kind::Schema,
            &id,
            new_name.as_deref(),
            update,
        )
        .await?;
        let record = load(&mut tx, &id).await?;
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
        self.delete_object(caller, Kind::Schema, &securable, force)
            .await
    }
}
