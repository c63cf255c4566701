//! Schemas of a catalog.

use super::objects::{
    CatalogUpdate, Kind, ObjectMeta, child, denied, for_caller, insert_row, load, name, object,
    properties_text, visible_children,
};
use super::{CatalogError, CatalogResult, OWNER_NAME, exists_or, new_id};
use crate::Store;
use patchbay_core::PrincipalId;
use patchbay_core::access::Caller;
use patchbay_core::catalog::{Action, DEFAULT_SCHEMA, HIVE_METASTORE, Securable, SecurableType};
use serde_json::{Map, Value};
use sqlx::{Any, Transaction};

/// A schema as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaRecord {
    pub id: String,
    pub catalog_name: String,
    pub name: String,
    pub metastore_id: Option<String>,
    pub legacy: bool,
    pub meta: ObjectMeta,
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

object!(
    SchemaRecord,
    Kind::Schema,
    format!(
        "SELECT s.id, c.name AS catalog_name, c.workspace_id, c.metastore_id, s.name, s.comment, \
         s.properties, s.owner_id, {OWNER_NAME} AS owner_name, s.created_at, s.created_by, \
         s.updated_at, s.updated_by FROM catalog_schemas s JOIN catalogs c ON c.id = s.catalog_id \
         LEFT JOIN principals o ON o.id = s.owner_id WHERE "
    ),
    |row| {
        catalog_name: row.get("catalog_name")?,
    }
);

/// Inserts a schema row; returns its id.
#[expect(clippy::too_many_arguments, reason = "one row's columns, called from two places")]
pub(crate) async fn insert_schema_row(
    tx: &mut Transaction<'static, Any>,
    catalog_id: &str,
    name: &str,
    comment: Option<&str>,
    properties: &str,
    owner_id: Option<PrincipalId>,
    by: &str,
    now: i64,
) -> CatalogResult<String> {
    let id = new_id();
    insert_row(
        "catalog_schemas",
        "id, catalog_id, name, comment, properties, owner_id",
        [
            id.as_str().into(),
            catalog_id.into(),
            name.into(),
            comment.into(),
            properties.into(),
            owner_id.into(),
        ],
        now,
        by,
    )
    .query()
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
        self.get_object(caller, &securable, |resolved, facts| {
            if facts.visible(SecurableType::Schema) {
                Ok(())
            } else {
                Err(CatalogError::NoUseSchema { legacy: resolved.legacy(), on: securable.clone() })
            }
        })
        .await
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
        if child(&mut tx, Kind::Schema, &catalog_id, &schema_name).await?.is_some() {
            return Err(CatalogError::SchemaExists { name: securable.full_name() });
        }
        facts.check(Action::CreateSchema, &catalog).map_err(denied)?;
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
        self.update_renamed(caller, &securable, update).await
    }

    /// Deletes a schema. One with tables needs `force`, which deletes them and their grants.
    /// `hive_metastore.default` cannot be deleted. The ids of the tables that went come back:
    /// their data is the caller's to remove.
    pub async fn delete_schema(
        &self,
        caller: &Caller,
        catalog: &str,
        schema: &str,
        force: bool,
    ) -> CatalogResult<Vec<String>> {
        let securable = Securable::Schema(name(catalog)?, name(schema)?);
        if securable == Securable::Schema(HIVE_METASTORE.into(), DEFAULT_SCHEMA.into()) {
            return Err(CatalogError::DeleteLegacyDefaultSchema);
        }
        self.delete_object(caller, Kind::Schema, &securable, force).await
    }
}
