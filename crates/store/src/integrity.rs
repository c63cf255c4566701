//! The invariants of Partner Connect, checked on a live database (`patchbay admin check`, and
//! the concurrency and crash tests after every storm):
//!
//! - every connection is complete (what it uses exists) or gone: none is stuck `CONNECTING` or
//!   in a rotation longer than a connect may take;
//! - nothing Partner Connect made for a partner — service principal, token, OAuth secret, U2M
//!   app, warehouse, cluster — outlives its connection, and every token it minted is one the
//!   connection records;
//! - every delete the partner is owed was delivered.
//!
//! What Partner Connect made is read from the audit trail, which records each creation in the
//! transaction that made it, with the partner: so the check also finds what older versions
//! left behind, before connections had identities.

use crate::connections::delete_credential_tx;
use crate::partners::{Actor, AuditLog};
use crate::read::FromColumn;
use crate::sql::Sql;
use crate::{Result, Store};
use patchbay_core::WorkspaceId;
use patchbay_core::compute::ObjectKind;
use patchbay_core::partner::Credential;
use serde_json::json;
use sqlx::Row;

/// What is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ViolationKind {
    /// Something Partner Connect made for a partner whose connection no longer uses it: a
    /// service principal, warehouse or cluster left behind, or a live token the connection
    /// does not record (a credential nobody tracks).
    Orphan,
    /// A connect or a rotation unfinished for longer than a connect may take; the worker
    /// undoes (or resumes) it.
    Stuck,
    /// A connected connection that lacks something it uses (deleted behind its back): its
    /// tile shows it as broken, and only an admin decides what to do.
    Broken,
    /// A notification of a deleted connection the partner has not received yet.
    Undelivered,
}

impl ViolationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ViolationKind::Orphan => "orphan",
            ViolationKind::Stuck => "stuck",
            ViolationKind::Broken => "broken",
            ViolationKind::Undelivered => "undelivered",
        }
    }
}

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    pub kind: ViolationKind,
    pub workspace_id: WorkspaceId,
    pub partner_id: String,
    /// `service_principal`, `token`, `oauth_secret`, `oauth_app`, `warehouse`, `cluster`,
    /// `connection` or `notification`.
    pub object_type: &'static str,
    pub object_id: String,
    pub detail: String,
}

/// What [`Store::repair_integrity`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repairs {
    pub removed: Vec<Violation>,
}

impl Store {
    /// Every violation of Partner Connect's invariants, in a stable order. `stale_millis`: how
    /// long a connect or rotation may run before it counts as stuck; `undelivered_millis`: how
    /// long a delete notification may wait.
    pub async fn check_integrity(
        &self,
        stale_millis: i64,
        undelivered_millis: i64,
    ) -> Result<Vec<Violation>> {
        let mut found = self.orphans().await?;
        let now = self.now_millis();
        let connections =
            self.connections_where(Sql::with("ORDER BY workspace_id, partner_id", [])).await?;
        for c in connections {
            let violation = |kind, object_type, object_id: &str, detail: String| Violation {
                kind,
                workspace_id: c.workspace_id,
                partner_id: c.partner_id.clone(),
                object_type,
                object_id: object_id.to_owned(),
                detail,
            };
            if c.state == patchbay_core::partner::ConnectionState::Connecting {
                if c.updated_at < now - stale_millis {
                    found.push(violation(
                        ViolationKind::Stuck,
                        "connection",
                        &c.uid,
                        "a connect unfinished for longer than a connect may take".into(),
                    ));
                }
                continue;
            }
            if let (Some(pending), Some(since)) = (&c.pending_token_id, c.pending_since)
                && since < now - stale_millis
            {
                found.push(violation(
                    ViolationKind::Stuck,
                    "token",
                    pending,
                    "a token rotation unfinished for longer than a delivery may take".into(),
                ));
            }
            if c.service_principal_name.is_some() && c.service_principal_id.is_none() {
                found.push(violation(
                    ViolationKind::Broken,
                    "service_principal",
                    c.application_id.as_deref().unwrap_or_default(),
                    "the connection's service principal was deleted".into(),
                ));
            } else if let Some(token) = &c.token_id
                && !self.credential_exists(c.workspace_id, c.credential, token).await?
            {
                found.push(violation(
                    ViolationKind::Broken,
                    "token",
                    token,
                    "the partner's token was deleted".into(),
                ));
            }
            let compute = [
                (ObjectKind::Warehouse, &c.warehouse_id, "warehouse", "SQL warehouse"),
                (ObjectKind::Cluster, &c.cluster_id, "cluster", "cluster"),
            ];
            for (kind, id, object_type, what) in compute {
                if let Some(id) = id
                    && !self.compute_exists(kind, c.workspace_id, id).await?
                {
                    found.push(violation(
                        ViolationKind::Broken,
                        object_type,
                        id,
                        format!("the connection's {what} was deleted"),
                    ));
                }
            }
        }
        let undelivered = sqlx::query(
            "SELECT id, workspace_id, partner_id, attempts, outcome FROM partner_notifications \
             WHERE delivered_at IS NULL AND created_at < $1 ORDER BY id",
        )
        .bind(now - undelivered_millis)
        .fetch_all(&self.pool)
        .await?;
        for row in undelivered {
            let id: i64 = row.try_get("id")?;
            let attempts: i64 = row.try_get("attempts")?;
            let outcome: Option<String> = row.try_get("outcome")?;
            found.push(Violation {
                kind: ViolationKind::Undelivered,
                workspace_id: WorkspaceId::from_column(&row, "workspace_id")?,
                partner_id: row.try_get("partner_id")?,
                object_type: "notification",
                object_id: id.to_string(),
                detail: format!(
                    "the partner has not been told the connection was deleted ({attempts} attempts{})",
                    outcome.map(|o| format!(", last: {o}")).unwrap_or_default()
                ),
            });
        }
        found.sort();
        Ok(found)
    }

    /// What Partner Connect made for a partner that its connection (if any) no longer uses.
    async fn orphans(&self) -> Result<Vec<Violation>> {
        // A credential the connection records as current, pending or previous.
        let recorded = |id: &str| {
            format!(
                "(c.token_id = o.{id} OR c.pending_token_id = o.{id} OR c.previous_token_id = o.{id})"
            )
        };
        let made = [
            Made {
                object_type: "service_principal",
                detail: "a service principal made for a connection that no longer uses it",
                table: "principals",
                id: "application_id",
                also: "o.kind = 'service_principal' AND ",
                used: "c.service_principal_id = o.id".into(),
            },
            Made {
                object_type: "warehouse",
                detail: "a SQL warehouse made for a connection that no longer uses it",
                table: "warehouses",
                id: "id",
                also: "",
                used: "c.warehouse_id = o.id AND c.warehouse_created <> 0".into(),
            },
            Made {
                object_type: "cluster",
                detail: "a cluster made for a connection that no longer uses it",
                table: "clusters",
                id: "id",
                also: "",
                used: "c.cluster_id = o.id".into(),
            },
            Made {
                object_type: "token",
                detail: "a live token made for a partner that its connection does not record",
                table: "tokens",
                id: "token_id",
                also: "",
                used: recorded("token_id"),
            },
            Made {
                object_type: "oauth_secret",
                detail: "a live OAuth secret made for a partner that its connection does not record",
                table: "oauth_secrets",
                id: "secret_id",
                also: "",
                used: recorded("secret_id"),
            },
        ];
        let mut queries: Vec<(&str, &str, String)> =
            made.iter().map(|m| (m.object_type, m.detail, m.orphans_sql())).collect();
        queries.push((
            "oauth_app",
            "an OAuth U2M app made for a connection that no longer exists",
            "SELECT o.workspace_id, o.partner_id, o.client_id AS object_id FROM oauth_apps o \
             WHERE NOT EXISTS (SELECT 1 FROM connections c WHERE c.workspace_id = o.workspace_id \
               AND c.partner_id = o.partner_id AND c.uid = o.connection_uid)"
                .into(),
        ));
        let mut found = Vec::new();
        for (object_type, detail, sql) in queries {
            for row in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await? {
                found.push(Violation {
                    kind: ViolationKind::Orphan,
                    workspace_id: WorkspaceId::from_column(&row, "workspace_id")?,
                    partner_id: row.try_get("partner_id")?,
                    object_type,
                    object_id: row.try_get("object_id")?,
                    detail: detail.to_owned(),
                });
            }
        }
        Ok(found)
    }

    /// Removes what [`Store::check_integrity`] reports as orphans and undoes stuck connects.
    /// Safe beside a live server: an orphan stays one (a connection records what it uses in
    /// the transaction that creates it, and never takes up an older object), and a stuck
    /// connect is removed only by its identity. Broken connections and undelivered
    /// notifications are left to admins and the worker.
    pub async fn repair_integrity(&self, stale_millis: i64) -> Result<Repairs> {
        let actor = Actor::system("patchbay admin check");
        let mut repairs = Repairs::default();
        for v in self.check_integrity(stale_millis, i64::MAX).await? {
            let removed = match (v.kind, v.object_type) {
                (ViolationKind::Orphan, _) => self.remove_orphan(&v, &actor).await?,
                (ViolationKind::Stuck, "connection") => self
                    .undo_connect(
                        v.workspace_id,
                        &v.partner_id,
                        &v.object_id,
                        &actor,
                        "a connect left unfinished, removed by patchbay admin check",
                    )
                    .await?
                    .is_some(),
                _ => false,
            };
            if removed {
                repairs.removed.push(v);
            }
        }
        Ok(repairs)
    }

    /// Removes one orphan; `true` once it is gone (by this call or before it).
    async fn remove_orphan(&self, v: &Violation, actor: &Actor) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let mut log = AuditLog::new(v.workspace_id, actor, Some(&v.partner_id));
        let gone = match v.object_type {
            "service_principal" => {
                sqlx::query(
                    "DELETE FROM principals WHERE workspace_id = $1 AND kind = 'service_principal' \
                     AND application_id = $2",
                )
                .bind(v.workspace_id.get())
                .bind(v.object_id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    > 0
            }
            "warehouse" => {
                crate::compute::delete_warehouse_tx(&mut tx, v.workspace_id, &v.object_id).await?
            }
            "cluster" => {
                crate::compute::delete_cluster_tx(&mut tx, v.workspace_id, &v.object_id).await?
            }
            "token" => {
                delete_credential_tx(&mut tx, v.workspace_id, Credential::Token, &v.object_id)
                    .await?
            }
            "oauth_secret" => {
                delete_credential_tx(&mut tx, v.workspace_id, Credential::OAuthSecret, &v.object_id)
                    .await?
            }
            "oauth_app" => !crate::oauth::delete_oauth_apps(
                &mut tx,
                v.workspace_id,
                &v.partner_id,
                Some(&v.object_id),
            )
            .await?
            .is_empty(),
            _ => false,
        };
        if gone {
            log.push(
                &format!("{}.delete", v.object_type),
                v.object_type,
                &v.object_id,
                json!({"reason": "orphan removed by patchbay admin check --repair"}),
            );
            log.write(&mut tx, self.now_millis()).await?;
            tx.commit().await?;
        }
        // Not there any more is as good: a token goes with its principal.
        Ok(true)
    }
}

/// One kind of object Partner Connect makes for a partner, as the orphan check finds it: the
/// audit trail names it (`<object_type>.create`, by its `id` column), it still exists in
/// `table` (alias `o`, `also` narrowing the join) and no connection of its partner `used` it.
struct Made {
    object_type: &'static str,
    detail: &'static str,
    table: &'static str,
    id: &'static str,
    also: &'static str,
    used: String,
}

impl Made {
    /// Objects that still exist, whose creation the audit trail attributes to a partner, and
    /// that the partner's connection does not reference.
    fn orphans_sql(&self) -> String {
        let Made { object_type, table, id, also, used, .. } = self;
        format!(
            "SELECT DISTINCT a.workspace_id, a.partner_id, o.{id} AS object_id \
             FROM audit_events a JOIN {table} o ON o.workspace_id = a.workspace_id \
               AND {also}o.{id} = a.object_id \
             WHERE a.action = '{object_type}.create' AND a.partner_id IS NOT NULL \
               AND NOT EXISTS (SELECT 1 FROM connections c WHERE c.workspace_id = a.workspace_id \
                 AND c.partner_id = a.partner_id AND {used})"
        )
    }
}
