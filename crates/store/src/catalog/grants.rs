//! Privileges on securables: the direct grants (the grants API and SQL `GRANT`/`REVOKE` share
//! them), the effective ones with inheritance catalog → schema → table, and `SHOW GRANTS`.

use super::objects::{for_caller, may_read_grants};
use super::{CatalogError, CatalogResult, Resolved, dedup, find_principal};
use crate::Store;
use crate::read::FromColumn;
use patchbay_core::access::Caller;
use patchbay_core::catalog::Privilege;
use patchbay_core::catalog::{self as rules, Securable};
use patchbay_core::time::EpochMillis;
use patchbay_core::{PrincipalId, WorkspaceId};
use sqlx::{Any, Row, Transaction};
use std::collections::BTreeMap;

/// The privileges one principal holds directly on a securable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivilegeAssignment {
    pub principal_id: PrincipalId,
    /// User e-mail, group name or service principal application id.
    pub principal: String,
    pub privileges: Vec<Privilege>,
}

/// One privilege in effect on a securable, and where it was granted if not on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectivePrivilege {
    pub privilege: Privilege,
    /// The catalog or schema it is inherited from; `None` when granted on the securable.
    pub inherited_from: Option<Securable>,
}

/// The privileges in effect for one grantee on a securable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveAssignment {
    pub principal_id: PrincipalId,
    pub principal: String,
    pub privileges: Vec<EffectivePrivilege>,
}

/// One change of a grants PATCH (or a SQL `GRANT`/`REVOKE`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantChange {
    /// User e-mail, group name or service principal application id.
    pub principal: String,
    pub add: Vec<String>,
    pub remove: Vec<String>,
}

/// One row of `SHOW GRANTS`: a privilege (or `OWN`) of a principal on a securable, which is
/// the one asked about or, for an inherited privilege, its catalog or schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRow {
    pub principal: String,
    /// `None` for the owner's row (`OWN`): ownership is not a privilege.
    pub privilege: Option<Privilege>,
    pub on: Securable,
}

/// Grants a privilege (no-op if held).
pub(crate) async fn insert_grant(
    tx: &mut Transaction<'static, Any>,
    now: EpochMillis,
    resolved: &Resolved,
    principal_id: PrincipalId,
    privilege: Privilege,
) -> CatalogResult<()> {
    let (column, id) = resolved.target();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO catalog_grants (securable_type, {column}, principal_id, privilege, granted_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
    )))
    .bind(resolved.securable.securable_type().as_str())
    .bind(id)
    .bind(principal_id.get())
    .bind(privilege.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn delete_grant(
    tx: &mut Transaction<'static, Any>,
    resolved: &Resolved,
    principal_id: PrincipalId,
    privilege: Privilege,
) -> CatalogResult<()> {
    let (column, id) = resolved.target();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM catalog_grants WHERE {column} = $1 AND principal_id = $2 AND privilege = $3"
    )))
    .bind(id)
    .bind(principal_id.get())
    .bind(privilege.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Direct grants on one object: (principal id, principal name, privilege), ordered.
async fn direct(
    tx: &mut Transaction<'static, Any>,
    column: &'static str,
    id: &str,
) -> CatalogResult<Vec<(PrincipalId, String, Privilege)>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT g.principal_id, g.privilege, CASE p.kind WHEN 'user' THEN p.user_name \
                WHEN 'service_principal' THEN p.application_id ELSE p.display_name END AS principal \
         FROM catalog_grants g JOIN principals p ON p.id = g.principal_id \
         WHERE g.{column} = $1 ORDER BY principal, g.principal_id, g.privilege"
    )))
    .bind(id)
    .fetch_all(&mut **tx)
    .await?
    .iter()
    .map(|r| {
        Ok((
            PrincipalId::from_column(r, "principal_id")?,
            r.try_get::<Option<String>, _>("principal")?
                .unwrap_or_default(),
            Privilege::from_column(r, "privilege")?,
        ))
    })
    .collect()
}

/// Direct grants on the resolved securable itself.
async fn direct_on(
    tx: &mut Transaction<'static, Any>,
    resolved: &Resolved,
) -> CatalogResult<Vec<(PrincipalId, String, Privilege)>> {
    let (column, id) = resolved.target();
    direct(tx, column, id).await
}

/// Direct grants on each level of the chain, outermost first, with the securable of each.
async fn chain_grants(
    tx: &mut Transaction<'static, Any>,
    resolved: &Resolved,
) -> CatalogResult<Vec<(Securable, Vec<(PrincipalId, String, Privilege)>)>> {
    if resolved.securable == Securable::Metastore {
        return Ok(vec![(Securable::Metastore, direct_on(tx, resolved).await?)]);
    }
    let mut out = Vec::new();
    for (depth, (securable, node)) in
        resolved.securable.chain().into_iter().zip(resolved.chain.iter()).enumerate()
    {
        let column = ["catalog_id", "schema_id", "table_id"][depth.min(2)];
        out.push((securable, direct(tx, column, &node.id).await?));
    }
    Ok(out)
}

fn assignments(rows: &[(PrincipalId, String, Privilege)]) -> Vec<PrivilegeAssignment> {
    let mut out: Vec<PrivilegeAssignment> = Vec::new();
    for (id, name, privilege) in rows {
        match out.iter_mut().find(|a| a.principal_id == *id) {
            Some(a) => a.privileges.push(*privilege),
            None => out.push(PrivilegeAssignment {
                principal_id: *id,
                principal: name.clone(),
                privileges: vec![*privilege],
            }),
        }
    }
    out
}

/// Resolves the optional `principal` filter to an id (an unknown name is an error).
async fn filter_id(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    principal: Option<&str>,
) -> CatalogResult<Option<PrincipalId>> {
    match principal.map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Ok(Some(find_principal(tx, workspace_id, p).await?.0)),
        None => Ok(None),
    }
}

/// Resolves a securable whose grants the caller means to read, which it must be allowed to
/// ([`may_read_grants`]), and the principal it asks about, if any ([`filter_id`]).
async fn readable(
    tx: &mut Transaction<'static, Any>,
    caller: &Caller,
    securable: &Securable,
    principal: Option<&str>,
) -> CatalogResult<(Resolved, Option<PrincipalId>)> {
    let (_, resolved, facts) = for_caller(tx, caller, securable).await?;
    if !may_read_grants(&facts, securable) {
        return Err(CatalogError::MayNotReadGrants { on: securable.clone() });
    }
    let only = filter_id(tx, caller.workspace_id, principal).await?;
    Ok((resolved, only))
}

impl Store {
    /// The direct grants on a securable (not inherited ones), optionally of one principal.
    pub async fn grants(
        &self,
        caller: &Caller,
        securable: &Securable,
        principal: Option<&str>,
    ) -> CatalogResult<Vec<PrivilegeAssignment>> {
        let mut tx = self.begin_read().await?;
        let (resolved, only) = readable(&mut tx, caller, securable, principal).await?;
        let rows = direct_on(&mut tx, &resolved).await?;
        tx.rollback().await?;
        Ok(assignments(&rows)
            .into_iter()
            .filter(|a| only.is_none_or(|o| o == a.principal_id))
            .collect())
    }

    /// Applies grants PATCH changes, all or nothing: every principal must exist and every
    /// privilege apply to the securable before anything changes. Removing `ALL_PRIVILEGES`
    /// from a Hive metastore object removes every privilege there. Needs the owner (of it or
    /// a parent), a metastore admin (workspace admin for `hive_metastore` objects) or
    /// `MANAGE`. Returns the direct grants afterwards.
    pub async fn update_grants(
        &self,
        caller: &Caller,
        securable: &Securable,
        changes: &[GrantChange],
    ) -> CatalogResult<Vec<PrivilegeAssignment>> {
        let mut tx = self.begin_write().await?;
        let (_, resolved, facts) = for_caller(&mut tx, caller, securable).await?;
        if !facts.may_manage() {
            return Err(CatalogError::MayNotGrant { on: securable.clone() });
        }
        let mut planned = Vec::with_capacity(changes.len());
        for change in changes {
            if change.principal.trim().is_empty() {
                return Err(CatalogError::NoPrincipal);
            }
            let (principal_id, _) =
                find_principal(&mut tx, caller.workspace_id, &change.principal).await?;
            let check = |list: &[String]| {
                list.iter()
                    .map(|p| rules::check_privilege(securable, p))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(CatalogError::Invalid)
            };
            let add = dedup(check(&change.add)?);
            let remove = rules::revoked_privileges(securable, &dedup(check(&change.remove)?));
            planned.push((principal_id, add, remove));
        }
        for (principal_id, add, remove) in &planned {
            for privilege in remove {
                delete_grant(&mut tx, &resolved, *principal_id, *privilege).await?;
            }
            for privilege in add {
                insert_grant(&mut tx, self.now_millis(), &resolved, *principal_id, *privilege)
                    .await?;
            }
        }
        let rows = direct_on(&mut tx, &resolved).await?;
        tx.commit().await?;
        Ok(assignments(&rows))
    }

    /// The privileges in effect on a securable, per grantee: those granted on it and those
    /// inherited from its catalog and schema.
    pub async fn effective_grants(
        &self,
        caller: &Caller,
        securable: &Securable,
        principal: Option<&str>,
    ) -> CatalogResult<Vec<EffectiveAssignment>> {
        let mut tx = self.begin_read().await?;
        let (resolved, only) = readable(&mut tx, caller, securable, principal).await?;
        let levels = chain_grants(&mut tx, &resolved).await?;
        tx.rollback().await?;
        let mut by_principal: BTreeMap<(String, PrincipalId), Vec<EffectivePrivilege>> =
            BTreeMap::new();
        // The securable's own grants first, then its schema's, then its catalog's.
        for (on, rows) in levels.into_iter().rev() {
            let inherited_from = (on != *securable).then_some(on);
            for (id, name, privilege) in rows {
                if only.is_some_and(|o| o != id) {
                    continue;
                }
                by_principal
                    .entry((name, id))
                    .or_default()
                    .push(EffectivePrivilege { privilege, inherited_from: inherited_from.clone() });
            }
        }
        Ok(by_principal
            .into_iter()
            .map(|((principal, principal_id), privileges)| EffectiveAssignment {
                principal_id,
                principal,
                privileges,
            })
            .collect())
    }

    /// `SHOW GRANTS [principal] ON …`: the owner (`OWN`), the direct grants and the inherited
    /// ones, optionally of one principal.
    pub async fn show_grants(
        &self,
        caller: &Caller,
        securable: &Securable,
        principal: Option<&str>,
    ) -> CatalogResult<Vec<GrantRow>> {
        let mut tx = self.begin_read().await?;
        let (resolved, only) = readable(&mut tx, caller, securable, principal).await?;
        let owner = match resolved.owner_id() {
            Some(id) if only.is_none_or(|o| o == id) => sqlx::query(
                "SELECT CASE kind WHEN 'user' THEN user_name \
                        WHEN 'service_principal' THEN application_id ELSE display_name END AS name \
                 FROM principals WHERE id = $1",
            )
            .bind(id.get())
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get::<Option<String>, _>("name"))
            .transpose()?
            .flatten(),
            _ => None,
        };
        let levels = chain_grants(&mut tx, &resolved).await?;
        tx.rollback().await?;
        let mut rows = Vec::new();
        if let Some(name) = owner {
            rows.push(GrantRow { principal: name, privilege: None, on: securable.clone() });
        }
        for (on, grants) in levels.into_iter().rev() {
            for (id, name, privilege) in grants {
                if only.is_none_or(|o| o == id) {
                    rows.push(GrantRow {
                        principal: name,
                        privilege: Some(privilege),
                        on: on.clone(),
                    });
                }
            }
        }
        Ok(rows)
    }
}
