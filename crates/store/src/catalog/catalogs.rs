//! Catalogs: the workspace's legacy `hive_metastore` and the catalogs of its metastore.

use super::objects::{
    CatalogUpdate, Kind, Object, ObjectMeta, insert_row, load, name, object, properties_text,
};
use super::schemas::insert_schema_row;
use super::{
    CatalogError, CatalogResult, OWNER_NAME, administers, assigned_metastore, caller_identity,
    exists_or, granted, new_id, resolve,
};
use crate::Store;
use patchbay_core::access::Caller;
use patchbay_core::catalog::{
    self as rules, AccessFacts, DEFAULT_SCHEMA, HIVE_METASTORE, LevelFacts, Securable,
    SecurableType,
};
use patchbay_core::time::EpochMillis;
use patchbay_core::{PrincipalId, WorkspaceId};
use serde_json::{Map, Value};
use sqlx::{Any, Transaction};

/// A catalog as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogRecord {
    pub id: String,
    pub name: String,
    /// `None` for `hive_metastore`, which belongs to the workspace, not to a metastore.
    pub metastore_id: Option<String>,
    /// `hive_metastore`: legacy privileges apply.
    pub legacy: bool,
    pub storage_root: Option<String>,
    pub meta: ObjectMeta,
}

/// What creating a catalog takes.
#[derive(Debug, Clone, Default)]
pub struct NewCatalog {
    pub name: String,
    pub comment: Option<String>,
    pub storage_root: Option<String>,
    pub properties: Map<String, Value>,
}

object!(
    CatalogRecord,
    Kind::Catalog,
    format!(
        "SELECT c.id, c.workspace_id, c.metastore_id, c.name, c.comment, c.storage_root, \
         c.properties, c.owner_id, {OWNER_NAME} AS owner_name, c.created_at, c.created_by, \
         c.updated_at, c.updated_by FROM catalogs c LEFT JOIN principals o ON o.id = c.owner_id \
         WHERE "
    ),
    |row| {
        storage_root: row.get("storage_root")?,
    }
);

/// Inserts a Unity Catalog catalog and its `default` schema, both owned by `owner_id`;
/// returns the catalog's id.
#[expect(clippy::too_many_arguments, reason = "one row's columns, called from two places")]
pub(crate) async fn insert_catalog_with_default_schema(
    tx: &mut Transaction<'static, Any>,
    now: EpochMillis,
    metastore_id: &str,
    name: &str,
    comment: Option<&str>,
    storage_root: Option<&str>,
    properties: &str,
    owner_id: Option<PrincipalId>,
    by: &str,
) -> CatalogResult<String> {
    let id = new_id();
    insert_row(
        "catalogs",
        "id, metastore_id, name, comment, storage_root, properties, owner_id",
        [
            id.as_str().into(),
            metastore_id.into(),
            name.into(),
            comment.into(),
            storage_root.into(),
            properties.into(),
            owner_id.into(),
        ],
        now,
        by,
    )
    .query()
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

impl Store {
    /// The catalogs the caller may see: `hive_metastore` always; in the metastore, all of them
    /// for a metastore admin, else those it owns or holds a privilege on.
    pub async fn list_catalogs_for(&self, caller: &Caller) -> crate::Result<Vec<CatalogRecord>> {
        let mut tx = self.begin_read().await?;
        let found = list_catalogs(&mut tx, caller).await;
        tx.rollback().await?;
        Ok(found?)
    }

    /// A catalog by name, without any permission check (for Partner Connect's own rules).
    pub async fn catalog(
        &self,
        workspace_id: WorkspaceId,
        name: &str,
    ) -> crate::Result<Option<CatalogRecord>> {
        let mut tx = self.begin_read().await?;
        let found =
            match resolve(&mut tx, workspace_id, &Securable::Catalog(name.to_lowercase())).await {
                Ok(r) => Some(load::<CatalogRecord>(&mut tx, &r.chain[0].id).await?),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e.into()),
            };
        tx.rollback().await?;
        Ok(found)
    }

    /// A catalog the caller may see.
    pub async fn get_catalog(&self, caller: &Caller, name: &str) -> CatalogResult<CatalogRecord> {
        let securable = Securable::Catalog(self::name(name)?);
        self.get_object(caller, &securable, |resolved, facts| {
            if resolved.legacy() || facts.visible(SecurableType::Catalog) {
                Ok(())
            } else {
                Err(CatalogError::NoUseCatalog { on: securable.clone() })
            }
        })
        .await
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
            return Err(CatalogError::CatalogExists { name: HIVE_METASTORE.into() });
        }
        let identity = caller_identity(&mut tx, caller).await?;
        let on_metastore =
            granted(&mut tx, &identity.ids, "metastore_id", &[metastore.id.as_str()])
                .await?
                .into_iter()
                .map(|(_, p)| p)
                .collect();
        if !rules::may_create_catalog(administers(&identity, Some(&metastore)), &on_metastore) {
            return Err(CatalogError::NoCreateCatalog);
        }
        let id = insert_catalog_with_default_schema(
            &mut tx,
            self.now_millis(),
            &metastore.id,
            &catalog,
            new.comment.as_deref(),
            new.storage_root.as_deref(),
            &properties_text(&new.properties),
            Some(caller.principal_id),
            &caller.name,
        )
        .await?;
        let record = load(&mut tx, &id).await?;
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
        self.update_object(caller, &securable, update, |resolved| {
            let new_name = match &update.new_name {
                Some(n) if resolved.legacy() => {
                    return Err(CatalogError::RenameLegacyCatalog { to: n.clone() });
                }
                Some(n) => Some(self::name(n)?),
                None => None,
            };
            if new_name.as_deref() == Some(HIVE_METASTORE) {
                return Err(CatalogError::CatalogExists { name: HIVE_METASTORE.into() });
            }
            Ok(new_name)
        })
        .await
    }

    /// Deletes a catalog. One with schemas (other than an empty `default`) needs `force`,
    /// which deletes them, their tables and every grant on them. The ids of the tables that
    /// went come back: their data is the caller's to remove.
    pub async fn delete_catalog(
        &self,
        caller: &Caller,
        name: &str,
        force: bool,
    ) -> CatalogResult<Vec<String>> {
        let securable = Securable::Catalog(self::name(name)?);
        if securable.is_legacy() {
            return Err(CatalogError::DeleteLegacyCatalog);
        }
        self.delete_object(caller, Kind::Catalog, &securable, force).await
    }
}

async fn list_catalogs(
    tx: &mut Transaction<'static, Any>,
    caller: &Caller,
) -> CatalogResult<Vec<CatalogRecord>> {
    let metastore = assigned_metastore(tx, caller.workspace_id).await?;
    let identity = caller_identity(tx, caller).await?;
    let mut sql = CatalogRecord::select();
    sql.push("c.workspace_id = ").int(caller.workspace_id.get());
    if let Some(m) = &metastore {
        sql.push(" OR c.metastore_id = ").text(m.id.clone());
    }
    sql.push(" ORDER BY c.name");
    let catalogs = sql
        .query()
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|row| CatalogRecord::from_row(row))
        .collect::<CatalogResult<Vec<_>>>()?;
    let ids: Vec<&str> = catalogs.iter().map(|c| c.id.as_str()).collect();
    let grants = granted(tx, &identity.ids, "catalog_id", &ids).await?;
    let metastore_admin = administers(&identity, metastore.as_ref());
    Ok(catalogs
        .into_iter()
        .filter(|c| {
            let facts = AccessFacts {
                legacy: c.legacy,
                superuser: if c.legacy { identity.workspace_admin } else { metastore_admin },
                levels: vec![LevelFacts {
                    owned: identity.holds(c.meta.owner_id),
                    privileges: grants
                        .iter()
                        .filter(|(id, _)| *id == c.id)
                        .map(|(_, p)| *p)
                        .collect(),
                }],
            };
            c.legacy || facts.visible(SecurableType::Catalog)
        })
        .collect())
}
