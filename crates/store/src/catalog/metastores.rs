//! Unity Catalog metastores and their assignment to workspaces: a workspace with an assignment
//! is Unity Catalog enabled, and its catalogs other than `hive_metastore` live in the metastore.

use super::{
    CatalogError, CatalogResult, OWNER_NAME, administers, caller_identity, exists_or,
    find_principal, new_id,
};
use crate::Store;
use crate::read::FromColumn;
use crate::sql::Sql;
use patchbay_core::access::{Caller, WorkspaceAdmin};
use patchbay_core::catalog::{self as rules, HIVE_METASTORE, MAIN_CATALOG};
use patchbay_core::time::EpochMillis;
use patchbay_core::{PrincipalId, WorkspaceId};
use sqlx::{Any, Row, Transaction};

/// A metastore as stored, with its owner (the metastore admin) by id and by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetastoreRecord {
    pub id: String,
    pub name: String,
    pub storage_root: Option<String>,
    pub region: Option<String>,
    /// The metastore admin; `None` once that principal was deleted.
    pub owner_id: Option<PrincipalId>,
    pub owner: Option<String>,
    pub created_at: EpochMillis,
    pub created_by: String,
    pub updated_at: EpochMillis,
    pub updated_by: String,
}

/// A workspace's metastore assignment: what makes it Unity Catalog enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetastoreAssignment {
    pub workspace_id: WorkspaceId,
    pub metastore_id: String,
    pub default_catalog_name: String,
    /// The metastore admin (the metastore's owner), if it still exists.
    pub owner_id: Option<PrincipalId>,
}

/// What creating a metastore takes.
#[derive(Debug, Clone, Default)]
pub struct NewMetastore {
    pub name: String,
    pub storage_root: Option<String>,
    pub region: Option<String>,
    /// The metastore admin by name (user e-mail, group name or application id); the creator
    /// when absent.
    pub owner: Option<String>,
}

const METASTORE_SELECT: &str = "SELECT m.id, m.name, m.storage_root, m.region, m.owner_id, \
     m.created_at, m.created_by, m.updated_at, m.updated_by, ";

fn metastore_sql() -> Sql {
    Sql::new(&format!(
        "{METASTORE_SELECT}{OWNER_NAME} AS owner_name FROM metastores m \
         LEFT JOIN principals o ON o.id = m.owner_id \
         WHERE m.account_id = (SELECT account_id FROM workspaces WHERE id = "
    ))
}

fn record(row: &sqlx::any::AnyRow) -> CatalogResult<MetastoreRecord> {
    Ok(MetastoreRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        storage_root: row.try_get("storage_root")?,
        region: row.try_get("region")?,
        owner_id: Option::<PrincipalId>::from_column(row, "owner_id")?,
        owner: row.try_get("owner_name")?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
        updated_at: row.try_get("updated_at")?,
        updated_by: row.try_get("updated_by")?,
    })
}

fn no_such_metastore(id: &str) -> CatalogError {
    CatalogError::MetastoreNotFound { id: id.to_owned() }
}

async fn fetch(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    id: &str,
) -> CatalogResult<MetastoreRecord> {
    let mut sql = metastore_sql();
    sql.int(workspace_id.get()).push(") AND m.id = ").text(id);
    let row = sql.query().fetch_optional(&mut **tx).await?.ok_or_else(|| no_such_metastore(id))?;
    record(&row)
}

fn checked_name(name: &str) -> CatalogResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > rules::MAX_NAME_LEN {
        return Err(CatalogError::MetastoreNameLength);
    }
    if name.chars().any(char::is_control) {
        return Err(CatalogError::MetastoreNameControl);
    }
    Ok(name.to_owned())
}

fn checked_default_catalog(name: Option<&str>) -> CatalogResult<String> {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(n) => rules::normalize_name(n).map_err(CatalogError::Invalid),
        None => Ok(HIVE_METASTORE.to_owned()),
    }
}

impl Store {
    /// Creates a metastore in the admin's account. Its owner, the metastore admin, is the
    /// named principal or the creator.
    pub async fn create_metastore(
        &self,
        admin: &WorkspaceAdmin,
        new: &NewMetastore,
    ) -> CatalogResult<MetastoreRecord> {
        let workspace_id = admin.workspace_id();
        let caller = admin.caller();
        let name = checked_name(&new.name)?;
        let mut tx = self.begin_write().await?;
        let owner_id = match &new.owner {
            Some(owner) => find_principal(&mut tx, workspace_id, owner).await?.0,
            None => caller.principal_id,
        };
        let id = new_id();
        let now = self.now_millis();
        sqlx::query(
            "INSERT INTO metastores (id, account_id, name, storage_root, region, owner_id, \
             created_at, created_by, updated_at, updated_by) \
             SELECT $1, account_id, $2, $3, $4, $5, $6, $7, $6, $7 FROM workspaces WHERE id = $8",
        )
        .bind(id.as_str())
        .bind(name.as_str())
        .bind(new.storage_root.as_deref())
        .bind(new.region.as_deref())
        .bind(owner_id.get())
        .bind(now)
        .bind(caller.name.as_str())
        .bind(workspace_id.get())
        .execute(&mut *tx)
        .await
        .map_err(|e| exists_or(e, || CatalogError::MetastoreExists { name: Some(name) }))?;
        let created = fetch(&mut tx, workspace_id, &id).await?;
        tx.commit().await?;
        Ok(created)
    }

    /// A metastore of the workspace's account.
    pub async fn get_metastore(
        &self,
        workspace_id: WorkspaceId,
        id: &str,
    ) -> CatalogResult<MetastoreRecord> {
        let mut tx = self.begin_read().await?;
        let found = fetch(&mut tx, workspace_id, id).await;
        tx.rollback().await?;
        found
    }

    /// The metastores of the workspace's account, by name.
    pub async fn list_metastores(
        &self,
        workspace_id: WorkspaceId,
    ) -> CatalogResult<Vec<MetastoreRecord>> {
        let mut sql = metastore_sql();
        sql.int(workspace_id.get()).push(") ORDER BY m.name, m.id");
        sql.query().fetch_all(&self.pool).await?.iter().map(record).collect()
    }

    /// The workspace's metastore (`GET /metastore_summary`).
    pub async fn metastore_summary(
        &self,
        workspace_id: WorkspaceId,
    ) -> CatalogResult<MetastoreRecord> {
        let assignment = self
            .metastore_assignment(workspace_id)
            .await?
            .ok_or(CatalogError::NoMetastoreSummary)?;
        self.get_metastore(workspace_id, &assignment.metastore_id).await
    }

    /// Renames a metastore or gives it a new owner. Allowed to its metastore admin and to
    /// workspace admins (who stand for the account admins here).
    pub async fn update_metastore(
        &self,
        caller: &Caller,
        id: &str,
        new_name: Option<&str>,
        owner: Option<&str>,
    ) -> CatalogResult<MetastoreRecord> {
        let workspace_id = caller.workspace_id;
        let mut tx = self.begin_write().await?;
        let current = fetch(&mut tx, workspace_id, id).await?;
        let identity = caller_identity(&mut tx, caller).await?;
        let node = super::Node { id: current.id.clone(), owner_id: current.owner_id };
        if !(identity.workspace_admin || administers(&identity, Some(&node))) {
            return Err(CatalogError::NotMetastoreAdmin { name: current.name });
        }
        let mut sql = Sql::new("UPDATE metastores SET updated_at = ");
        sql.int(self.now_millis()).push(", updated_by = ").text(caller.name.clone());
        if let Some(name) = new_name {
            sql.push(", name = ").text(checked_name(name)?);
        }
        if let Some(owner) = owner {
            let (owner_id, _) = find_principal(&mut tx, workspace_id, owner).await?;
            sql.push(", owner_id = ").int(owner_id.get());
        }
        sql.push(" WHERE id = ").text(id);
        sql.query()
            .execute(&mut *tx)
            .await
            .map_err(|e| exists_or(e, || CatalogError::MetastoreExists { name: None }))?;
        let updated = fetch(&mut tx, workspace_id, id).await?;
        tx.commit().await?;
        Ok(updated)
    }

    /// Deletes a metastore of the account. One that is assigned or holds catalogs needs
    /// `force`, which deletes its catalogs, schemas, tables and grants too. The ids of the
    /// tables that went come back: their data is the caller's to remove.
    pub async fn delete_metastore(
        &self,
        admin: &WorkspaceAdmin,
        id: &str,
        force: bool,
    ) -> CatalogResult<Vec<String>> {
        let mut tx = self.begin_write().await?;
        fetch(&mut tx, admin.workspace_id(), id).await?;
        let used = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM metastore_assignments WHERE metastore_id = $1) \
                  + (SELECT COUNT(*) FROM catalogs WHERE metastore_id = $1) AS n",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await?
        .try_get::<i64, _>("n")?;
        if used > 0 && !force {
            return Err(CatalogError::MetastoreNotEmpty { id: id.to_owned() });
        }
        let tables = super::objects::tables_under(&mut tx, "c.metastore_id", id).await?;
        sqlx::query("DELETE FROM metastores WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(tables)
    }

    /// Assigns a metastore to the admin's workspace (replacing any assignment), which makes it
    /// Unity Catalog enabled. A default catalog named `main` is created if the metastore lacks
    /// it, owned by the metastore admin, with its `default` schema.
    pub async fn assign_metastore(
        &self,
        admin: &WorkspaceAdmin,
        workspace_id: WorkspaceId,
        metastore_id: &str,
        default_catalog_name: Option<&str>,
    ) -> CatalogResult<()> {
        same_workspace(admin, workspace_id)?;
        let default_catalog = checked_default_catalog(default_catalog_name)?;
        let mut tx = self.begin_write().await?;
        let metastore = fetch(&mut tx, workspace_id, metastore_id).await?;
        sqlx::query(
            "INSERT INTO metastore_assignments (workspace_id, metastore_id, default_catalog_name, assigned_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (workspace_id) DO UPDATE SET \
             metastore_id = excluded.metastore_id, default_catalog_name = excluded.default_catalog_name, \
             assigned_at = excluded.assigned_at",
        )
        .bind(workspace_id.get())
        .bind(metastore_id)
        .bind(default_catalog.as_str())
        .bind(self.now_millis())
        .execute(&mut *tx)
        .await?;
        ensure_main(&mut tx, self.now_millis(), admin, &metastore, &default_catalog).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes the workspace's assignment: another metastore, or another default catalog.
    pub async fn update_metastore_assignment(
        &self,
        admin: &WorkspaceAdmin,
        workspace_id: WorkspaceId,
        metastore_id: Option<&str>,
        default_catalog_name: Option<&str>,
    ) -> CatalogResult<()> {
        same_workspace(admin, workspace_id)?;
        let current = self
            .metastore_assignment(workspace_id)
            .await?
            .ok_or(CatalogError::NotAssigned { workspace_id })?;
        let metastore_id = metastore_id.unwrap_or(&current.metastore_id);
        let default_catalog = default_catalog_name.unwrap_or(current.default_catalog_name.as_str());
        self.assign_metastore(admin, workspace_id, metastore_id, Some(default_catalog)).await
    }

    /// Removes the workspace's assignment: it is no longer Unity Catalog enabled (its
    /// `hive_metastore` stays).
    pub async fn unassign_metastore(
        &self,
        admin: &WorkspaceAdmin,
        workspace_id: WorkspaceId,
        metastore_id: &str,
    ) -> CatalogResult<()> {
        same_workspace(admin, workspace_id)?;
        let deleted = sqlx::query(
            "DELETE FROM metastore_assignments WHERE workspace_id = $1 AND metastore_id = $2",
        )
        .bind(workspace_id.get())
        .bind(metastore_id)
        .execute(&self.writes)
        .await?
        .rows_affected();
        if deleted == 0 {
            return Err(CatalogError::AssignmentNotFound {
                metastore_id: metastore_id.to_owned(),
                workspace_id,
            });
        }
        Ok(())
    }

    /// The workspace's metastore assignment, or `None` when it is not Unity Catalog enabled.
    pub async fn metastore_assignment(
        &self,
        workspace_id: WorkspaceId,
    ) -> crate::Result<Option<MetastoreAssignment>> {
        // Every statement without a catalog asks this: inline on SQLite.
        let mut sql = Sql::new(
            "SELECT a.workspace_id, a.metastore_id, a.default_catalog_name, m.owner_id \
             FROM metastore_assignments a JOIN metastores m ON m.id = a.metastore_id \
             WHERE a.workspace_id = ",
        );
        sql.int(workspace_id.get());
        crate::read::fetch_optional(&mut self.read(), &sql, |r| {
            Ok(MetastoreAssignment {
                workspace_id: r.get("workspace_id")?,
                metastore_id: r.get("metastore_id")?,
                default_catalog_name: r.get("default_catalog_name")?,
                owner_id: r.get("owner_id")?,
            })
        })
        .await
    }
}

fn same_workspace(admin: &WorkspaceAdmin, workspace_id: WorkspaceId) -> CatalogResult<()> {
    if admin.workspace_id() == workspace_id {
        Ok(())
    } else {
        Err(CatalogError::WorkspaceNotFound { workspace_id })
    }
}

/// Creates catalog `main` (with its `default` schema) when the assignment names it as the
/// default and the metastore lacks it.
async fn ensure_main(
    tx: &mut Transaction<'static, Any>,
    now: EpochMillis,
    admin: &WorkspaceAdmin,
    metastore: &MetastoreRecord,
    default_catalog: &str,
) -> CatalogResult<()> {
    if default_catalog != MAIN_CATALOG {
        return Ok(());
    }
    let exists = sqlx::query("SELECT 1 AS yes FROM catalogs WHERE metastore_id = $1 AND name = $2")
        .bind(metastore.id.as_str())
        .bind(MAIN_CATALOG)
        .fetch_optional(&mut **tx)
        .await?
        .is_some();
    if exists {
        return Ok(());
    }
    let owner = metastore.owner_id.or(Some(admin.caller().principal_id));
    super::catalogs::insert_catalog_with_default_schema(
        tx,
        now,
        &metastore.id,
        MAIN_CATALOG,
        Some("Main catalog (auto-created)"),
        None,
        "{}",
        owner,
        &admin.caller().name,
    )
    .await?;
    Ok(())
}
