//! Secret scopes, secrets and secret ACLs (`/api/2.0/secrets`). Every call checks, inside its
//! own transaction, what the caller holds on the scope ([`secrets::allows`]): admins MANAGE
//! every scope, others need an ACL entry of their own or of a group they are in. Of a secret
//! only the key, the length and a salted digest of the value are stored, never the value.

use crate::permissions::memberships_cte;
use crate::read::FromColumn;
use crate::sql::Sql;
use crate::{Denied, Missing, Rejected, Result, Store, StoreError, Taken, conflict_or};
use patchbay_core::access::Caller;
use patchbay_core::principal::BuiltinGroup;
use patchbay_core::secrets::{
    self, AclPermission, DATABRICKS_BACKEND, Fingerprint, MAX_SCOPES_PER_WORKSPACE,
    MAX_SECRETS_PER_SCOPE, ScopeAction,
};
use patchbay_core::time::EpochMillis;
use patchbay_core::{PrincipalId, WorkspaceId};
use sqlx::{Any, Row, Transaction};

/// A secret scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretScope {
    pub name: String,
    pub backend_type: String,
}

/// A secret, as listed: its key and when it was last put.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMeta {
    pub key: String,
    pub last_updated_timestamp: EpochMillis,
}

/// One entry of a scope's ACL: the principal as the API names it (user name, application id
/// or group name) and its level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretAcl {
    pub principal: String,
    pub permission: AclPermission,
}

fn scope_taken(name: &str) -> StoreError {
    StoreError::Taken(Taken::Scope { name: name.to_owned() })
}

fn scope_not_found(scope: &str) -> StoreError {
    StoreError::Missing(Missing::Scope { name: scope.to_owned() })
}

/// The principal of an ACL entry: a user name (any case), a service principal's application
/// id, or a group name.
const PRINCIPAL_BY_NAME: &str = "SELECT id, COALESCE(user_name, application_id, display_name) AS name \
     FROM principals WHERE workspace_id = $1 AND ((kind = 'user' AND LOWER(user_name) = LOWER($2)) \
     OR (kind = 'service_principal' AND application_id = $2) OR (kind = 'group' AND display_name = $2))";

impl Store {
    /// Creates a scope. Its creator gets MANAGE, or, with `manage_by_users`
    /// (`initial_manage_principal: users`), the `users` group does.
    pub async fn create_secret_scope(
        &self,
        caller: &Caller,
        name: &str,
        manage_by_users: bool,
    ) -> Result<SecretScope> {
        let mut tx = self.begin_write().await?;
        let exists =
            sqlx::query("SELECT 1 AS yes FROM secret_scopes WHERE workspace_id = $1 AND name = $2")
                .bind(caller.workspace_id.get())
                .bind(name)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_some() {
            return Err(scope_taken(name));
        }
        let count: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM secret_scopes WHERE workspace_id = $1")
                .bind(caller.workspace_id.get())
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
        if count >= MAX_SCOPES_PER_WORKSPACE {
            return Err(StoreError::Rejected(Rejected::ScopeLimit));
        }
        sqlx::query(
            "INSERT INTO secret_scopes (workspace_id, name, backend_type, creator_id, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(caller.workspace_id.get())
        .bind(name)
        .bind(DATABRICKS_BACKEND)
        .bind(caller.principal_id.get())
        .bind(self.now_millis())
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_or(e, || scope_taken(name)))?;
        let manager = if manage_by_users {
            crate::principals::builtin_group_id(&mut tx, caller.workspace_id, BuiltinGroup::Users)
                .await?
        } else {
            caller.principal_id
        };
        write_acl(&mut tx, caller.workspace_id, name, manager, AclPermission::Manage).await?;
        tx.commit().await?;
        Ok(SecretScope { name: name.to_owned(), backend_type: DATABRICKS_BACKEND.to_owned() })
    }

    /// Every scope of the workspace, by name (scope names are not secret; any user may list
    /// them, as in Databricks).
    pub async fn list_secret_scopes(&self, caller: &Caller) -> Result<Vec<SecretScope>> {
        sqlx::query(
            "SELECT name, backend_type FROM secret_scopes WHERE workspace_id = $1 ORDER BY name",
        )
        .bind(caller.workspace_id.get())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(SecretScope { name: r.try_get("name")?, backend_type: r.try_get("backend_type")? })
        })
        .collect()
    }

    /// Deletes a scope with its secrets and ACL (MANAGE).
    pub async fn delete_secret_scope(&self, caller: &Caller, scope: &str) -> Result<()> {
        let mut tx = self.begin_scope(caller, scope, ScopeAction::Manage).await?;
        // Its secrets and ACL first, then the scope they name.
        for statement in [
            "DELETE FROM secrets WHERE workspace_id = $1 AND scope = $2",
            "DELETE FROM secret_acls WHERE workspace_id = $1 AND scope = $2",
            "DELETE FROM secret_scopes WHERE workspace_id = $1 AND name = $2",
        ] {
            sqlx::query(statement)
                .bind(caller.workspace_id.get())
                .bind(scope)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Puts a secret (WRITE): a new key, or a new value for a key. Only `value`'s fingerprint
    /// is stored.
    pub async fn put_secret(
        &self,
        caller: &Caller,
        scope: &str,
        key: &str,
        value: &Fingerprint,
    ) -> Result<()> {
        let mut tx = self.begin_scope(caller, scope, ScopeAction::WriteSecret).await?;
        let exists = sqlx::query(
            "SELECT 1 AS yes FROM secrets WHERE workspace_id = $1 AND scope = $2 AND secret_key = $3",
        )
        .bind(caller.workspace_id.get())
        .bind(scope)
        .bind(key)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if !exists {
            let count: i64 = sqlx::query(
                "SELECT COUNT(*) AS n FROM secrets WHERE workspace_id = $1 AND scope = $2",
            )
            .bind(caller.workspace_id.get())
            .bind(scope)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
            if count >= MAX_SECRETS_PER_SCOPE {
                return Err(StoreError::Rejected(Rejected::SecretLimit {
                    scope: scope.to_owned(),
                }));
            }
        }
        sqlx::query(
            "INSERT INTO secrets (workspace_id, scope, secret_key, value_length, value_salt, \
             value_digest, last_updated_timestamp) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (workspace_id, scope, secret_key) DO UPDATE SET \
             value_length = excluded.value_length, value_salt = excluded.value_salt, \
             value_digest = excluded.value_digest, \
             last_updated_timestamp = excluded.last_updated_timestamp",
        )
        .bind(caller.workspace_id.get())
        .bind(scope)
        .bind(key)
        .bind(value.length)
        .bind(value.salt.as_str())
        .bind(value.digest.as_str())
        .bind(self.now_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The keys of a scope (READ), never their values.
    pub async fn list_secrets(&self, caller: &Caller, scope: &str) -> Result<Vec<SecretMeta>> {
        let mut tx = self.read_scope(caller, scope, ScopeAction::ListSecrets).await?;
        let secrets = sqlx::query(
            "SELECT secret_key, last_updated_timestamp FROM secrets \
             WHERE workspace_id = $1 AND scope = $2 ORDER BY secret_key",
        )
        .bind(caller.workspace_id.get())
        .bind(scope)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            Ok(SecretMeta {
                key: r.try_get("secret_key")?,
                last_updated_timestamp: r.try_get("last_updated_timestamp")?,
            })
        })
        .collect::<Result<_>>()?;
        tx.rollback().await?;
        Ok(secrets)
    }

    /// Deletes a secret (WRITE).
    pub async fn delete_secret(&self, caller: &Caller, scope: &str, key: &str) -> Result<()> {
        let mut tx = self.begin_scope(caller, scope, ScopeAction::WriteSecret).await?;
        let deleted = sqlx::query(
            "DELETE FROM secrets WHERE workspace_id = $1 AND scope = $2 AND secret_key = $3",
        )
        .bind(caller.workspace_id.get())
        .bind(scope)
        .bind(key)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if deleted == 0 {
            return Err(StoreError::Missing(Missing::Secret {
                scope: scope.to_owned(),
                key: key.to_owned(),
            }));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Gives a principal a level on a scope, replacing the one it had (MANAGE).
    pub async fn put_secret_acl(
        &self,
        caller: &Caller,
        scope: &str,
        principal: &str,
        permission: AclPermission,
    ) -> Result<()> {
        let mut tx = self.begin_scope(caller, scope, ScopeAction::Manage).await?;
        let (id, _) = principal_by_name(&mut tx, caller.workspace_id, principal).await?;
        write_acl(&mut tx, caller.workspace_id, scope, id, permission).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a principal's entry from a scope's ACL (MANAGE).
    pub async fn delete_secret_acl(
        &self,
        caller: &Caller,
        scope: &str,
        principal: &str,
    ) -> Result<()> {
        let mut tx = self.begin_scope(caller, scope, ScopeAction::Manage).await?;
        let (id, _) = principal_by_name(&mut tx, caller.workspace_id, principal).await?;
        let deleted = sqlx::query(
            "DELETE FROM secret_acls WHERE workspace_id = $1 AND scope = $2 AND principal_id = $3",
        )
        .bind(caller.workspace_id.get())
        .bind(scope)
        .bind(id.get())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if deleted == 0 {
            return Err(acl_not_found(scope, principal));
        }
        tx.commit().await?;
        Ok(())
    }

    /// A scope's ACL (MANAGE), by principal name.
    pub async fn list_secret_acls(&self, caller: &Caller, scope: &str) -> Result<Vec<SecretAcl>> {
        let mut tx = self.read_scope(caller, scope, ScopeAction::Manage).await?;
        let acls = acl_entries(&mut tx, caller.workspace_id, scope, None).await?;
        tx.rollback().await?;
        Ok(acls)
    }

    /// One principal's entry in a scope's ACL (MANAGE).
    pub async fn secret_acl(
        &self,
        caller: &Caller,
        scope: &str,
        principal: &str,
    ) -> Result<SecretAcl> {
        let mut tx = self.read_scope(caller, scope, ScopeAction::Manage).await?;
        let (id, _) = principal_by_name(&mut tx, caller.workspace_id, principal).await?;
        let acl = acl_entries(&mut tx, caller.workspace_id, scope, Some(id))
            .await?
            .pop()
            .ok_or_else(|| acl_not_found(scope, principal))?;
        tx.rollback().await?;
        Ok(acl)
    }

    /// Starts a transaction on an existing scope in which the caller may do `action`: a write
    /// transaction, so that the check and the change see the same ACL, unless `action` only
    /// reads.
    async fn begin_scope(
        &self,
        caller: &Caller,
        scope: &str,
        action: ScopeAction,
    ) -> Result<Transaction<'static, Any>> {
        let mut tx = self.begin_write().await?;
        self.check_scope(&mut tx, caller, scope, action, self.lock_clause()).await?;
        Ok(tx)
    }

    /// A read-only transaction on an existing scope in which the caller may do `action`.
    async fn read_scope(
        &self,
        caller: &Caller,
        scope: &str,
        action: ScopeAction,
    ) -> Result<Transaction<'static, Any>> {
        let mut tx = self.pool.begin().await?;
        self.check_scope(&mut tx, caller, scope, action, "").await?;
        Ok(tx)
    }

    /// Checks that the scope exists (its row locked with `lock`, where the dialect has it) and
    /// that the caller may do `action` in it.
    async fn check_scope(
        &self,
        tx: &mut Transaction<'static, Any>,
        caller: &Caller,
        scope: &str,
        action: ScopeAction,
        lock: &str,
    ) -> Result<()> {
        let mut sql = Sql::new("SELECT 1 AS yes FROM secret_scopes WHERE workspace_id = ");
        sql.int(caller.workspace_id.get()).push(" AND name = ").text(scope).push(lock);
        if sql.query().fetch_optional(&mut **tx).await?.is_none() {
            return Err(scope_not_found(scope));
        }
        if !caller.is_admin {
            let mut sql = memberships_cte(caller.principal_id);
            sql.push("SELECT a.permission FROM secret_acls a WHERE a.workspace_id = ")
                .int(caller.workspace_id.get())
                .push(" AND a.scope = ")
                .text(scope)
                .push(" AND a.principal_id IN (SELECT id FROM mine)");
            let held: Vec<AclPermission> = sql
                .query()
                .fetch_all(&mut **tx)
                .await?
                .iter()
                .filter_map(|r| {
                    r.try_get::<String, _>("permission").ok().and_then(|p| AclPermission::parse(&p))
                })
                .collect();
            if !secrets::allows(false, &held, action) {
                return Err(StoreError::Denied(Denied::Scope {
                    user: caller.name.clone(),
                    needed: action.required().as_str(),
                    scope: scope.to_owned(),
                }));
            }
        }
        Ok(())
    }
}

fn acl_not_found(scope: &str, principal: &str) -> StoreError {
    StoreError::Missing(Missing::ScopeAcl {
        scope: scope.to_owned(),
        principal: principal.to_owned(),
    })
}

async fn principal_by_name(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    name: &str,
) -> Result<(PrincipalId, String)> {
    let row = sqlx::query(PRINCIPAL_BY_NAME)
        .bind(workspace_id.get())
        .bind(name)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::Missing(Missing::ScopePrincipal { name: name.to_owned() }))?;
    Ok((PrincipalId::from_column(&row, "id")?, row.try_get("name")?))
}

async fn write_acl(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    scope: &str,
    principal_id: PrincipalId,
    permission: AclPermission,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO secret_acls (workspace_id, scope, principal_id, permission) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (workspace_id, scope, principal_id) \
         DO UPDATE SET permission = excluded.permission",
    )
    .bind(workspace_id.get())
    .bind(scope)
    .bind(principal_id.get())
    .bind(permission.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn acl_entries(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    scope: &str,
    principal_id: Option<PrincipalId>,
) -> Result<Vec<SecretAcl>> {
    let mut sql = Sql::new(
        "SELECT COALESCE(p.user_name, p.application_id, p.display_name) AS principal, a.permission \
         FROM secret_acls a JOIN principals p ON p.id = a.principal_id WHERE a.workspace_id = ",
    );
    sql.int(workspace_id.get()).push(" AND a.scope = ").text(scope);
    if let Some(id) = principal_id {
        sql.push(" AND a.principal_id = ").int(id.get());
    }
    sql.push(" ORDER BY principal");
    sql.query()
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| {
            let permission: String = r.try_get("permission")?;
            Ok(SecretAcl {
                principal: r.try_get("principal")?,
                permission: AclPermission::parse(&permission).ok_or_else(|| {
                    crate::compute::corrupt(format!(
                        "unknown stored secret permission {permission}"
                    ))
                })?,
            })
        })
        .collect()
}
