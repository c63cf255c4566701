//! Groups by name, for the legacy Groups API (`/api/2.0/groups`, what `databricks groups …`
//! calls). The same groups and memberships SCIM serves, with SCIM's rules: only admins change
//! them, the built-in `admins` and `users` groups cannot be deleted, no group joins `admins`.
//! Leaving a group can cost the token permission, and with it every token, at once.

use crate::principals::{add_member, delete_principal_row, insert_principal, is_within};
use crate::read::FromColumn;
use crate::{
    Missing, PrincipalAttributes, PrincipalData, Rejected, Result, Store, StoreError, Taken,
    conflict_or,
};
use patchbay_core::access::WorkspaceAdmin;
use patchbay_core::principal::{BuiltinGroup, PrincipalKind};
use patchbay_core::{PrincipalId, WorkspaceId};
use sqlx::{Any, Row, Transaction};

/// A member, or would-be member, of a group, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamedPrincipal {
    /// A user name (any case), or a service principal's application id.
    User(String),
    Group(String),
}

/// A direct member of a group, as the legacy API names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedMember {
    pub kind: PrincipalKind,
    /// User name, application id or group name.
    pub name: String,
}

fn group_not_found(name: &str) -> StoreError {
    StoreError::Missing(Missing::Group { name: name.to_owned() })
}

impl Store {
    /// Creates an empty group.
    pub async fn create_group_named(&self, admin: &WorkspaceAdmin, name: &str) -> Result<()> {
        let workspace_id = admin.workspace_id();
        let mut tx = self.begin_write().await?;
        let duplicate = || {
            StoreError::Taken(Taken::Principal {
                kind: PrincipalKind::Group,
                name: name.to_owned(),
            })
        };
        if group_id(&mut tx, workspace_id, name).await?.is_some() {
            return Err(duplicate());
        }
        let data = PrincipalData {
            attributes: PrincipalAttributes {
                display_name: Some(name.to_owned()),
                ..PrincipalAttributes::default()
            },
            members: Some(Vec::new()),
        };
        insert_principal(
            &mut tx,
            self.now_millis(),
            workspace_id,
            PrincipalKind::Group,
            &data,
            None,
        )
        .await
        .map_err(|e| match e {
            StoreError::Database(db) => conflict_or(db, duplicate),
            other => other,
        })?;
        tx.commit().await?;
        Ok(())
    }

    /// The names of every group of the workspace, sorted.
    pub async fn group_names(&self, workspace_id: WorkspaceId) -> Result<Vec<String>> {
        sqlx::query(
            "SELECT display_name FROM principals WHERE workspace_id = $1 AND kind = 'group' \
             ORDER BY display_name",
        )
        .bind(workspace_id.get())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok(r.try_get("display_name")?))
        .collect()
    }

    /// The direct members of a group.
    pub async fn group_members_named(
        &self,
        workspace_id: WorkspaceId,
        group: &str,
    ) -> Result<Vec<NamedMember>> {
        let mut tx = self.pool.begin().await?;
        let id =
            group_id(&mut tx, workspace_id, group).await?.ok_or_else(|| group_not_found(group))?;
        let members = sqlx::query(
            "SELECT p.kind, COALESCE(p.user_name, p.application_id, p.display_name) AS name \
             FROM memberships m JOIN principals p ON p.id = m.member_id WHERE m.group_id = $1 \
             ORDER BY name",
        )
        .bind(id.get())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            let kind: String = r.try_get("kind")?;
            Ok(NamedMember {
                kind: PrincipalKind::from_db(&kind).ok_or_else(|| {
                    crate::compute::corrupt(format!("unknown principal kind {kind}"))
                })?,
                name: r.try_get("name")?,
            })
        })
        .collect::<Result<_>>()?;
        tx.rollback().await?;
        Ok(members)
    }

    /// The groups a user, service principal or group is directly a member of.
    pub async fn group_parents_named(
        &self,
        workspace_id: WorkspaceId,
        member: &NamedPrincipal,
    ) -> Result<Vec<String>> {
        let mut tx = self.pool.begin().await?;
        let id = principal_id(&mut tx, workspace_id, member).await?;
        let parents = sqlx::query(
            "SELECT g.display_name FROM memberships m JOIN principals g ON g.id = m.group_id \
             WHERE m.member_id = $1 ORDER BY g.display_name",
        )
        .bind(id.get())
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| Ok(r.try_get("display_name")?))
        .collect::<Result<_>>()?;
        tx.rollback().await?;
        Ok(parents)
    }

    /// Adds a member to a group; adding one that is already there changes nothing.
    pub async fn add_group_member_named(
        &self,
        admin: &WorkspaceAdmin,
        parent: &str,
        member: &NamedPrincipal,
    ) -> Result<()> {
        let (mut tx, (parent_id, builtin, member_id)) =
            self.begin_membership(admin, parent, member).await?;
        if let NamedPrincipal::Group(name) = member {
            if builtin == Some(BuiltinGroup::Admins) {
                return Err(StoreError::Rejected(Rejected::GroupInAdmins));
            }
            if member_id == parent_id || is_within(&mut *tx, parent_id, member_id).await? {
                return Err(StoreError::Rejected(Rejected::GroupCycle {
                    group: name.clone(),
                    parent: parent.to_owned(),
                }));
            }
        }
        add_member(&mut tx, parent_id, member_id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a direct member from a group.
    pub async fn remove_group_member_named(
        &self,
        admin: &WorkspaceAdmin,
        parent: &str,
        member: &NamedPrincipal,
    ) -> Result<()> {
        let (mut tx, (parent_id, _, member_id)) =
            self.begin_membership(admin, parent, member).await?;
        let removed = sqlx::query("DELETE FROM memberships WHERE group_id = $1 AND member_id = $2")
            .bind(parent_id.get())
            .bind(member_id.get())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if removed == 0 {
            let name = match member {
                NamedPrincipal::User(n) | NamedPrincipal::Group(n) => n,
            };
            return Err(StoreError::Missing(Missing::Membership {
                member: name.clone(),
                group: parent.to_owned(),
            }));
        }
        crate::permissions::revoke_tokens_without_permission(&mut tx, admin.workspace_id()).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The start of a change to a group's members: a write transaction, the group, which must
    /// exist (its id and which built-in group it is), and the id of the member or would-be
    /// member.
    async fn begin_membership(
        &self,
        admin: &WorkspaceAdmin,
        group: &str,
        member: &NamedPrincipal,
    ) -> Result<(Transaction<'static, Any>, (PrincipalId, Option<BuiltinGroup>, PrincipalId))> {
        let workspace_id = admin.workspace_id();
        let mut tx = self.begin_write().await?;
        let (group_id, builtin) =
            group_row(&mut tx, workspace_id, group).await?.ok_or_else(|| group_not_found(group))?;
        let member_id = principal_id(&mut tx, workspace_id, member).await?;
        Ok((tx, (group_id, builtin, member_id)))
    }

    /// Deletes a group (never a built-in one); its members stay.
    pub async fn delete_group_named(&self, admin: &WorkspaceAdmin, name: &str) -> Result<()> {
        let workspace_id = admin.workspace_id();
        let mut tx = self.begin_write().await?;
        let (id, builtin) =
            group_row(&mut tx, workspace_id, name).await?.ok_or_else(|| group_not_found(name))?;
        delete_principal_row(&mut tx, workspace_id, PrincipalKind::Group, id, builtin).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn group_id(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    name: &str,
) -> Result<Option<PrincipalId>> {
    Ok(group_row(tx, workspace_id, name).await?.map(|(id, _)| id))
}

/// A group by name: its id, and which built-in group it is.
async fn group_row(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    name: &str,
) -> Result<Option<(PrincipalId, Option<BuiltinGroup>)>> {
    let row = sqlx::query(
        "SELECT id, builtin FROM principals WHERE workspace_id = $1 AND kind = 'group' \
         AND display_name = $2",
    )
    .bind(workspace_id.get())
    .bind(name)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|row| {
        let builtin: Option<String> = row.try_get("builtin")?;
        Ok((
            PrincipalId::from_column(&row, "id")?,
            builtin.as_deref().and_then(BuiltinGroup::from_name),
        ))
    })
    .transpose()
}

/// The id of a named user (or service principal, by application id) or group.
async fn principal_id(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    who: &NamedPrincipal,
) -> Result<PrincipalId> {
    match who {
        NamedPrincipal::Group(name) => {
            group_id(tx, workspace_id, name).await?.ok_or_else(|| group_not_found(name))
        }
        NamedPrincipal::User(name) => {
            let row = sqlx::query(
                "SELECT id FROM principals WHERE workspace_id = $1 AND \
                 ((kind = 'user' AND LOWER(user_name) = LOWER($2)) \
                 OR (kind = 'service_principal' AND application_id = LOWER($2)))",
            )
            .bind(workspace_id.get())
            .bind(name.as_str())
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| StoreError::Missing(Missing::User { name: name.to_owned() }))?;
            Ok(PrincipalId::from_column(&row, "id")?)
        }
    }
}
