//! Access control lists of workspace objects (the Permissions API), and the token permission
//! that decides who may hold personal access tokens.

use crate::read::FromColumn;
use crate::sql::Sql;
use crate::{Missing, Rejected, Result, Store, StoreError};
use patchbay_core::access::WorkspaceAdmin;
use patchbay_core::compute::{ObjectKind, PermissionLevel, TOKEN_LEVELS};
use patchbay_core::principal::{BuiltinGroup, PrincipalKind};
use patchbay_core::{PrincipalId, WorkspaceId};
use sqlx::{Any, Row, Transaction};

/// The object whose ACL decides who may use personal access tokens.
pub const TOKENS: ObjectRef<'static> = ObjectRef { kind: AclKind::Tokens, object_id: "tokens" };

/// What has an ACL: the token permission, or a warehouse, cluster or job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclKind {
    Tokens,
    Object(ObjectKind),
}

impl AclKind {
    /// The `object_type` of its rows in the ACL table.
    pub fn storage_type(self) -> &'static str {
        match self {
            AclKind::Tokens => "tokens",
            AclKind::Object(kind) => kind.storage_type(),
        }
    }

    /// The levels an entry may hold.
    fn levels(self) -> &'static [PermissionLevel] {
        match self {
            AclKind::Tokens => &TOKEN_LEVELS,
            AclKind::Object(kind) => kind.levels(),
        }
    }
}

/// An object that has an ACL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectRef<'a> {
    pub kind: AclKind,
    pub object_id: &'a str,
}

impl<'a> ObjectRef<'a> {
    /// A warehouse, cluster or job.
    pub fn object(kind: ObjectKind, object_id: &'a str) -> ObjectRef<'a> {
        ObjectRef { kind: AclKind::Object(kind), object_id }
    }
}

/// One direct entry of an ACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclEntry {
    pub principal_id: PrincipalId,
    pub kind: PrincipalKind,
    /// `userName`, group `displayName`, or service principal `applicationId`.
    pub name: String,
    pub display_name: Option<String>,
    pub permission_level: PermissionLevel,
}

/// How an ACL update combines with the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclUpdate {
    /// PUT: the entries become the whole ACL.
    Replace,
    /// PATCH: the entries are added; a principal's level is replaced by the new one.
    Merge,
}

/// `WITH RECURSIVE holders(id) AS (…)`: every principal that holds some permission on `object`
/// in `workspace_id`, directly or through (nested) group membership. Prefix of a statement.
fn holders_cte(workspace_id: WorkspaceId, object: ObjectRef<'_>) -> Sql {
    let mut sql = Sql::new(
        "WITH RECURSIVE holders(id) AS (\
           SELECT principal_id FROM object_permissions WHERE workspace_id = ",
    );
    sql.int(workspace_id.get())
        .push(" AND object_type = ")
        .text(object.kind.storage_type())
        .push(" AND object_id = ")
        .text(object.object_id)
        .push(" UNION SELECT m.member_id FROM memberships m JOIN holders h ON m.group_id = h.id) ");
    sql
}

impl Store {
    /// The direct entries of an object's ACL, ordered for display.
    pub async fn acl(
        &self,
        workspace_id: WorkspaceId,
        object: ObjectRef<'_>,
    ) -> Result<Vec<AclEntry>> {
        let rows = sqlx::query(
            "SELECT o.principal_id, o.permission_level, p.kind, p.user_name, p.application_id, \
                    p.display_name \
             FROM object_permissions o JOIN principals p ON p.id = o.principal_id \
             WHERE o.workspace_id = $1 AND o.object_type = $2 AND o.object_id = $3 \
             ORDER BY p.kind, p.display_name, p.id",
        )
        .bind(workspace_id.get())
        .bind(object.kind.storage_type())
        .bind(object.object_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get("kind")?;
                let kind = PrincipalKind::from_db(&kind).ok_or_else(|| {
                    StoreError::Internal(format!("unknown principal kind {kind}"))
                })?;
                let display_name: Option<String> = row.try_get("display_name")?;
                let name = match kind {
                    PrincipalKind::User => row.try_get::<Option<String>, _>("user_name")?,
                    PrincipalKind::ServicePrincipal => row.try_get("application_id")?,
                    PrincipalKind::Group => display_name.clone(),
                };
                Ok(AclEntry {
                    principal_id: PrincipalId::from_column(row, "principal_id")?,
                    kind,
                    name: name.unwrap_or_default(),
                    display_name,
                    permission_level: PermissionLevel::from_column(row, "permission_level")?,
                })
            })
            .collect()
    }

    /// Changes an object's ACL. For the token permission, every principal left without it
    /// loses its tokens in the same transaction.
    pub async fn update_acl(
        &self,
        admin: &WorkspaceAdmin,
        object: ObjectRef<'_>,
        entries: &[(PrincipalId, PermissionLevel)],
        update: AclUpdate,
    ) -> Result<Vec<AclEntry>> {
        let workspace_id = admin.workspace_id();
        let mut tx = self.begin_write().await?;
        if update == AclUpdate::Replace {
            delete_acl(&mut tx, workspace_id, object).await?;
        }
        for (principal_id, level) in entries {
            insert_entry(&mut tx, workspace_id, object, *principal_id, *level, true).await?;
        }
        if object == TOKENS {
            revoke_tokens_without_permission(&mut tx, workspace_id).await?;
        }
        tx.commit().await?;
        self.acl(workspace_id, object).await
    }
}

/// Whether a principal holds any permission on `object`, directly or through a group: for the
/// token permission, where any level holds tokens. A compute object asks [`Store::may`].
pub(crate) async fn holds(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    principal_id: PrincipalId,
    object: ObjectRef<'_>,
) -> Result<bool> {
    let mut sql = holders_cte(workspace_id, object);
    sql.push("SELECT 1 AS yes FROM holders WHERE id = ").int(principal_id.get());
    Ok(sql.query().fetch_optional(&mut **tx).await?.is_some())
}

/// Sets the default ACLs of a new workspace: admins manage tokens, users use them.
pub(crate) async fn default_token_acl(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
) -> Result<()> {
    use PermissionLevel::{CanManage, CanUse};
    for (group, level) in [(BuiltinGroup::Admins, CanManage), (BuiltinGroup::Users, CanUse)] {
        let group_id = crate::principals::builtin_group_id(tx, workspace_id, group).await?;
        insert_entry(tx, workspace_id, TOKENS, group_id, level, false).await?;
    }
    Ok(())
}

/// Deletes the tokens of every principal of the workspace that no longer holds the token
/// permission: losing CAN_USE revokes at once.
pub(crate) async fn revoke_tokens_without_permission(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
) -> Result<u64> {
    let mut sql = holders_cte(workspace_id, TOKENS);
    sql.push("DELETE FROM tokens WHERE workspace_id = ")
        .int(workspace_id.get())
        .push(" AND owner_id NOT IN (SELECT id FROM holders)");
    Ok(sql.query().execute(&mut **tx).await?.rows_affected())
}

/// `WITH RECURSIVE mine(id) AS (…)`: the principal and every group it belongs to, directly or
/// through nested groups — whose ACL entries count for it. Prefix of a statement.
pub(crate) fn memberships_cte(principal_id: PrincipalId) -> Sql {
    let mut sql = Sql::new("WITH RECURSIVE mine(id) AS (SELECT id FROM principals WHERE id = ");
    sql.int(principal_id.get())
        .push(" UNION SELECT m.group_id FROM memberships m JOIN mine ON m.member_id = mine.id) ");
    sql
}

/// The levels a principal holds on `object`, directly or through (nested) groups.
pub(crate) async fn levels_held(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    principal_id: PrincipalId,
    object: ObjectRef<'_>,
) -> Result<Vec<PermissionLevel>> {
    let sql = levels_held_sql(workspace_id, principal_id, object);
    levels_of(&sql.query().fetch_all(&mut **tx).await?)
}

/// The levels read by [`levels_held_sql`].
pub(crate) fn levels_of(rows: &[sqlx::any::AnyRow]) -> Result<Vec<PermissionLevel>> {
    rows.iter().map(|row| PermissionLevel::from_column(row, "permission_level")).collect()
}

/// The statement of [`levels_held`]: the levels a principal holds on `object`, one a row.
pub(crate) fn levels_held_sql(
    workspace_id: WorkspaceId,
    principal_id: PrincipalId,
    object: ObjectRef<'_>,
) -> Sql {
    let mut sql = memberships_cte(principal_id);
    sql.push("SELECT o.permission_level FROM object_permissions o WHERE o.workspace_id = ")
        .int(workspace_id.get())
        .push(" AND o.object_type = ")
        .text(object.kind.storage_type())
        .push(" AND o.object_id = ")
        .text(object.object_id)
        .push(" AND o.principal_id IN (SELECT id FROM mine)");
    sql
}

/// The direct entries of an object's ACL as (principal, level), inside a transaction.
pub(crate) async fn direct_levels(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    object: ObjectRef<'_>,
) -> Result<Vec<(PrincipalId, PermissionLevel)>> {
    let rows = sqlx::query(
        "SELECT principal_id, permission_level FROM object_permissions \
         WHERE workspace_id = $1 AND object_type = $2 AND object_id = $3 ORDER BY principal_id",
    )
    .bind(workspace_id.get())
    .bind(object.kind.storage_type())
    .bind(object.object_id)
    .fetch_all(&mut **tx)
    .await?;
    rows.iter()
        .map(|row| {
            Ok((
                PrincipalId::from_column(row, "principal_id")?,
                PermissionLevel::from_column(row, "permission_level")?,
            ))
        })
        .collect()
}

/// Makes `entries` the whole direct ACL of an object.
pub(crate) async fn write_acl(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    object: ObjectRef<'_>,
    entries: &[(PrincipalId, PermissionLevel)],
) -> Result<()> {
    delete_acl(tx, workspace_id, object).await?;
    for (principal_id, level) in entries {
        insert_entry(tx, workspace_id, object, *principal_id, *level, false).await?;
    }
    Ok(())
}

/// Adds one entry to an object's ACL. `upsert`: a principal that has an entry gets the new
/// level; otherwise a second entry for it is a unique violation.
async fn insert_entry(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    object: ObjectRef<'_>,
    principal_id: PrincipalId,
    level: PermissionLevel,
    upsert: bool,
) -> Result<()> {
    const INSERT: &str = "INSERT INTO object_permissions (workspace_id, object_type, object_id, \
         principal_id, permission_level) VALUES ($1, $2, $3, $4, $5)";
    const UPSERT: &str = "INSERT INTO object_permissions (workspace_id, object_type, object_id, \
         principal_id, permission_level) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (workspace_id, object_type, object_id, principal_id) \
         DO UPDATE SET permission_level = excluded.permission_level";
    sqlx::query(if upsert { UPSERT } else { INSERT })
        .bind(workspace_id.get())
        .bind(object.kind.storage_type())
        .bind(object.object_id)
        .bind(principal_id.get())
        .bind(level.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Removes an object's whole ACL, when the object itself is deleted.
pub(crate) async fn delete_acl(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    object: ObjectRef<'_>,
) -> Result<()> {
    sqlx::query(
        "DELETE FROM object_permissions WHERE workspace_id = $1 AND object_type = $2 AND object_id = $3",
    )
    .bind(workspace_id.get())
    .bind(object.kind.storage_type())
    .bind(object.object_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Gives a principal a level on an object inside a caller's transaction (Partner Connect grants
/// CAN_USE on a warehouse or on tokens this way); the level must be one of the object's kind. The principal's
/// previous direct level is replaced; a new IS_OWNER leaves the previous owner with CAN_MANAGE,
/// so an object keeps exactly one owner. Authorization is the caller's business.
pub(crate) async fn grant_object_permission(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    object: ObjectRef<'_>,
    principal_id: PrincipalId,
    level: PermissionLevel,
) -> Result<()> {
    if !object.kind.levels().contains(&level) {
        return Err(StoreError::Rejected(Rejected::Level { level, object: object.kind }));
    }
    let kind: String =
        sqlx::query("SELECT kind FROM principals WHERE id = $1 AND workspace_id = $2")
            .bind(principal_id.get())
            .bind(workspace_id.get())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or(StoreError::Missing(Missing::AclPrincipal { id: principal_id }))?
            .try_get("kind")?;
    if level == PermissionLevel::IsOwner {
        if kind == PrincipalKind::Group.as_db() {
            return Err(StoreError::Rejected(Rejected::GroupOwner));
        }
        sqlx::query(
            "UPDATE object_permissions SET permission_level = 'CAN_MANAGE' \
             WHERE workspace_id = $1 AND object_type = $2 AND object_id = $3 \
             AND permission_level = 'IS_OWNER' AND principal_id <> $4",
        )
        .bind(workspace_id.get())
        .bind(object.kind.storage_type())
        .bind(object.object_id)
        .bind(principal_id.get())
        .execute(&mut **tx)
        .await?;
    }
    insert_entry(tx, workspace_id, object, principal_id, level, true).await
}
