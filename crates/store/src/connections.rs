//! The local half of connect and delete: every object a connection uses is created, or
//! removed, in one transaction, together with the connection row and its audit events. The
//! partner is called between transactions, never inside one.

use crate::compute::{Clusters, Creatable, NewObject, Warehouses};
use crate::partners::{Actor, AuditLog, CONNECTION_TABLE, ConnectionRecord, audit};
use crate::permissions::{ObjectRef, TOKENS, grant_object_permission};
use crate::principals::{PrincipalAttributes, PrincipalData, insert_principal};
use crate::read::FromColumn;
use crate::sql::Sql;
use crate::tokens::{NewToken, insert_token};
use crate::{Changed, Missing, Rejected, Result, Store, StoreError, Taken};
use patchbay_core::access::WorkspaceAdmin;
use patchbay_core::catalog::Securable;
use patchbay_core::compute::ObjectKind;
use patchbay_core::compute::PermissionLevel::CanUse;
use patchbay_core::partner::delete::{self as removal_rule, PrincipalRemoval, Refusal, Remover};
use patchbay_core::partner::{
    ConnectionState, Credential, Grant, NotificationKind, Owed, Repaired,
};
use patchbay_core::principal::PrincipalKind;
use patchbay_core::time::EpochMillis;
use patchbay_core::token::TokenValue;
use patchbay_core::{PrincipalId, WorkspaceId};
use serde_json::json;
use sqlx::Row;

/// The plan of a connect is core's ([`patchbay_core::partner::plan`]); the store carries it out.
pub use patchbay_core::partner::{ComputePlan, ProvisionPlan};

/// How a connect ended at the partner (see [`Store::complete_connection`]).
#[derive(Debug, Clone, Copy)]
pub struct Completion<'a> {
    /// The connection the connect created.
    pub uid: &'a str,
    /// The partner's id of the connection, when it sent one.
    pub partner_connection_id: Option<&'a str>,
    /// What to tell users about it (e.g. that the partner did not confirm).
    pub message: Option<&'a str>,
    /// Who becomes the partner account's administrator if the organization has none there.
    pub account_administrator: Option<&'a str>,
}

/// Which connection an admin's delete is about, and why.
#[derive(Debug, Clone, Copy)]
pub struct Removal<'a> {
    /// Only the connection with this identity; `None`: whichever the partner has now.
    pub uid: Option<&'a str>,
    pub reason: &'a str,
}

/// How a rotation starts (see [`Store::begin_rotation`]).
#[derive(Debug, Clone, Copy)]
pub enum Rotation<'a> {
    /// The partner will be sent the new token: it stays pending until settled. `uid`: the
    /// connection the caller saw, if it names one.
    Deliver { uid: Option<&'a str> },
    /// The partner cannot be sent tokens: the new one is current at once, the old one kept
    /// until an admin confirms.
    Manual { uid: Option<&'a str> },
    /// A delivery that was interrupted: `pending`'s value is lost, a fresh token replaces it.
    Resume { uid: &'a str, pending: &'a str },
}

/// A started rotation: the connection as it was, and the new token (its value exists only
/// here).
#[derive(Debug)]
pub struct Rotated {
    pub connection: ConnectionRecord,
    pub token: TokenValue,
    pub token_id: String,
}

/// A removed connection, and the notification the partner is owed, if any.
#[derive(Debug)]
pub struct RemovedConnection {
    pub connection: ConnectionRecord,
    pub notification: Option<i64>,
}

/// A message owed to a partner.
#[derive(Debug, Clone)]
pub struct Notification {
    pub id: i64,
    pub workspace_id: WorkspaceId,
    pub partner_id: String,
    pub kind: NotificationKind,
    /// What it asks to be sent, read from its kind and stored payload.
    pub owed: Owed,
    pub attempts: i64,
}

/// The workspace has no connection to the partner: core's refusal, a 404 to the client.
fn no_connection(partner_id: &str) -> StoreError {
    StoreError::Refused(Refusal::NoConnection { partner_id: partner_id.to_owned() })
}

fn notification_from_row(r: &sqlx::any::AnyRow) -> Result<Notification> {
    let kind: NotificationKind = {
        let text: String = r.try_get("kind")?;
        let Ok(kind) = text.parse();
        kind
    };
    let payload: String = r.try_get("payload")?;
    Ok(Notification {
        id: r.try_get("id")?,
        workspace_id: WorkspaceId::from_column(r, "workspace_id")?,
        partner_id: r.try_get("partner_id")?,
        owed: Owed::read(&kind, &payload),
        kind,
        attempts: r.try_get("attempts")?,
    })
}

/// Writes the notification of a deleted connection the partner must get.
async fn enqueue_delete_notification(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    now: EpochMillis,
    workspace_id: WorkspaceId,
    partner_id: &str,
    partner_connection_id: &str,
) -> Result<i64> {
    let payload =
        json!({"connection_id": partner_connection_id, "databricks_organization_id": workspace_id});
    let row = sqlx::query(
        "INSERT INTO partner_notifications (workspace_id, partner_id, kind, payload, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(workspace_id.get())
    .bind(partner_id)
    .bind(NotificationKind::DeleteConnection.as_str())
    .bind(payload.to_string())
    .bind(now)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.try_get::<i64, _>("id")?)
}

/// The table a kind of credential lives in, its id column, and the audit noun.
fn credential_table(credential: Credential) -> (&'static str, &'static str, &'static str) {
    match credential {
        Credential::Token => ("tokens", "token_id", "token"),
        Credential::OAuthSecret => ("oauth_secrets", "secret_id", "oauth_secret"),
    }
}

/// Revokes a token or OAuth secret, if it still exists, with its audit event.
async fn revoke_token_tx(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    workspace_id: WorkspaceId,
    credential: Credential,
    token_id: &str,
    log: &mut AuditLog<'_>,
    why: &str,
) -> Result<()> {
    let noun = credential_table(credential).2;
    if delete_credential_tx(tx, workspace_id, credential, token_id).await? {
        log.push(&format!("{noun}.revoke"), noun, token_id, json!({"rotation": why}));
    }
    Ok(())
}

/// Deletes a token or OAuth secret of the workspace; `false` if there was none.
pub(crate) async fn delete_credential_tx(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    workspace_id: WorkspaceId,
    credential: Credential,
    id: &str,
) -> Result<bool> {
    let (table, column, _) = credential_table(credential);
    let gone = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM {table} WHERE workspace_id = $1 AND {column} = $2"
    )))
    .bind(workspace_id.get())
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(gone > 0)
}

async fn token_exists_tx(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    workspace_id: WorkspaceId,
    credential: Credential,
    token_id: &str,
) -> Result<bool> {
    let (table, id, _) = credential_table(credential);
    Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT 1 AS yes FROM {table} WHERE workspace_id = $1 AND {id} = $2"
    )))
    .bind(workspace_id.get())
    .bind(token_id)
    .fetch_optional(&mut **tx)
    .await?
    .is_some())
}

/// Mints what a connection hands its partner for `owner_id`: a non-expiring token, or an
/// OAuth secret of the default lifetime; logs its creation. The value exists only in the
/// answer.
#[expect(
    clippy::too_many_arguments,
    reason = "what a connection step knows of the credential it mints, as plain values"
)]
async fn mint_credential(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    created: EpochMillis,
    workspace_id: WorkspaceId,
    credential: Credential,
    owner_id: PrincipalId,
    created_by_id: PrincipalId,
    created_by_name: &str,
    log: &mut AuditLog<'_>,
    detail: serde_json::Value,
) -> Result<(TokenValue, String)> {
    match credential {
        Credential::Token => {
            let (value, record) = insert_token(
                tx,
                created,
                workspace_id,
                &NewToken {
                    owner_id,
                    created_by_id,
                    created_by_username: created_by_name.to_owned(),
                    comment: "Partner Connect".into(),
                    lifetime_millis: None,
                },
            )
            .await?;
            log.push("token.create", "token", &record.token_id, detail);
            Ok((value, record.token_id))
        }
        Credential::OAuthSecret => {
            let (value, record) = crate::oauth::insert_oauth_secret(
                tx,
                created,
                workspace_id,
                owner_id,
                created_by_id,
                patchbay_core::oauth::DEFAULT_SECRET_LIFETIME_SECONDS,
            )
            .await?;
            log.push("oauth_secret.create", "oauth_secret", &record.secret_id, detail);
            Ok((value, record.secret_id))
        }
    }
}

/// Gives the connection's principal one of the catalog grants of its plan, in `tx`.
async fn grant_catalog(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    now: EpochMillis,
    workspace_id: WorkspaceId,
    principal_id: PrincipalId,
    grant: &Grant,
) -> Result<()> {
    let securable = Securable::parse(grant.securable_type.as_str(), &grant.full_name)
        .map_err(|reason| StoreError::Rejected(Rejected::Rule(reason)))?;
    crate::catalog::grant_tx(tx, now, workspace_id, &securable, principal_id, &grant.privileges)
        .await
}

/// Sets `set` (`column = $1, …`, with its values) on the connection `uid` of the partner, in
/// `tx`; a connection made since (another uid) is left as it is.
async fn update_connection(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    set: Sql,
    workspace_id: WorkspaceId,
    partner_id: &str,
    uid: &str,
) -> Result<()> {
    let mut sql = Sql::new("UPDATE connections SET ");
    sql.append(set)
        .push(" WHERE workspace_id = ")
        .int(workspace_id.get())
        .push(" AND partner_id = ")
        .text(partner_id)
        .push(" AND uid = ")
        .text(uid);
    sql.query().execute(&mut **tx).await?;
    Ok(())
}

/// Longest wait between two delivery attempts.
const MAX_BACKOFF_MILLIS: i64 = 10 * 60 * 1000;

/// What a provisioned connection hands over: the token value exists only here.
#[derive(Debug)]
pub struct Provisioned {
    pub connection: ConnectionRecord,
    pub token: TokenValue,
}

impl Store {
    /// Creates the connection row (state `CONNECTING`), its principal with entitlements and
    /// token permission, its compute, its grants and a non-expiring token, all or nothing.
    /// A connection that exists already is a conflict.
    pub async fn provision_connection(
        &self,
        admin: &WorkspaceAdmin,
        plan: &ProvisionPlan,
        node: &str,
    ) -> Result<Provisioned> {
        let workspace_id = admin.workspace_id();
        let caller = admin.caller();
        let actor = Actor::of(admin);
        let now = self.now_millis();
        let uid = uuid::Uuid::new_v4().simple().to_string();
        let mut tx = self.begin_write().await?;
        // The row is the claim: on PostgreSQL a concurrent insert of the same key waits for
        // this transaction and then does nothing.
        let claimed = sqlx::query(
            "INSERT INTO connections (workspace_id, partner_id, uid, node_id, state, catalog_name, schemas, \
             created_by_id, created_by_name, created_at, updated_at, credential) \
             VALUES ($1, $2, $3, $4, 'CONNECTING', $5, $6, $7, $8, $9, $9, $10) ON CONFLICT DO NOTHING",
        )
        .bind(workspace_id.get())
        .bind(plan.partner_id.as_str())
        .bind(uid.as_str())
        .bind(node)
        .bind(plan.catalog_name.as_deref())
        .bind(json!(plan.schemas).to_string())
        .bind(caller.principal_id.get())
        .bind(caller.name.as_str())
        .bind(now)
        .bind(plan.credential.as_db())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            return Err(StoreError::Taken(Taken::Connection {
                partner_id: plan.partner_id.clone(),
            }));
        }
        let partner = Some(plan.partner_id.as_str());
        let mut log = AuditLog::new(workspace_id, &actor, partner);

        // The principal whose token the partner gets.
        let (owner_id, owner_name, application_id) = match &plan.service_principal {
            Some(display_name) => {
                let application_id = patchbay_core::ids::new_application_id();
                let data = PrincipalData {
                    attributes: PrincipalAttributes {
                        application_id: Some(application_id.clone()),
                        display_name: Some(display_name.clone()),
                        active: Some(true),
                        entitlements: plan.entitlements.clone(),
                        ..PrincipalAttributes::default()
                    },
                    members: None,
                };
                let id = insert_principal(
                    &mut tx,
                    self.now_millis(),
                    workspace_id,
                    PrincipalKind::ServicePrincipal,
                    &data,
                    None,
                )
                .await?;
                log.push(
                    "service_principal.create",
                    "service_principal",
                    &application_id,
                    json!({"display_name": display_name, "entitlements": plan.entitlements}),
                );
                if plan.token_can_use {
                    grant_object_permission(&mut tx, workspace_id, TOKENS, id, CanUse).await?;
                    log.push(
                        "permission.grant",
                        "tokens",
                        "authorization/tokens",
                        json!({"principal": application_id, "permission_level": CanUse}),
                    );
                }
                (id, application_id.clone(), Some(application_id))
            }
            None => (caller.principal_id, caller.name.clone(), None),
        };

        let mut warehouse_id = None;
        let mut warehouse_created = false;
        let mut cluster_id = None;
        let partner = NewObject {
            now,
            workspace_id,
            creator_id: owner_id,
            creator_name: &owner_name,
            spec: &(),
        };
        match &plan.compute {
            ComputePlan::None => {}
            ComputePlan::NewWarehouse(name) => {
                // A warehouse of that name may exist already (a user's own, or one an older
                // version left behind); the connection's gets the first free suffix instead of
                // failing forever.
                let name =
                    &crate::compute::free_warehouse_name(&mut tx, workspace_id, name).await?;
                let spec = patchbay_core::compute::WarehouseSpec::partner_connect(name.as_str());
                let warehouse = Warehouses::insert(&mut tx, partner.with(&spec)).await?;
                log.push("warehouse.create", "warehouse", &warehouse.id, json!({"name": name}));
                warehouse_id = Some(warehouse.id);
                warehouse_created = true;
            }
            ComputePlan::ExistingWarehouse(id) => {
                if crate::compute::warehouse_exists(&mut tx, workspace_id, id).await? {
                    warehouse_id = Some(id.clone());
                } else {
                    return Err(StoreError::Rejected(Rejected::UnknownWarehouse {
                        id: id.clone(),
                    }));
                }
            }
            ComputePlan::NewCluster(name) => {
                let spec = patchbay_core::compute::ClusterSpec::partner_connect(name.as_str());
                let cluster = Clusters::insert(&mut tx, partner.with(&spec)).await?;
                log.push("cluster.create", "cluster", &cluster.cluster_id, json!({"name": name}));
                cluster_id = Some(cluster.cluster_id);
            }
        }
        if plan.warehouse_can_use
            && plan.service_principal.is_some()
            && let Some(id) = &warehouse_id
            && !warehouse_created
        {
            let warehouse = ObjectRef::object(ObjectKind::Warehouse, id);
            grant_object_permission(&mut tx, workspace_id, warehouse, owner_id, CanUse).await?;
            log.push(
                "permission.grant",
                "warehouse",
                id,
                json!({"principal": owner_name, "permission_level": CanUse}),
            );
        }

        if plan.service_principal.is_some() {
            for grant in &plan.grants {
                grant_catalog(&mut tx, self.now_millis(), workspace_id, owner_id, grant).await?;
                log.push(
                    "grant",
                    grant.securable_type.as_str(),
                    &grant.full_name,
                    json!({"principal": owner_name, "privileges": grant.privileges}),
                );
            }
        }

        if plan.credential == Credential::OAuthSecret && plan.service_principal.is_none() {
            return Err(StoreError::Rejected(Rejected::OAuthSecretWithoutServicePrincipal));
        }
        let (token, token_id) = mint_credential(
            &mut tx,
            self.creation_millis(),
            workspace_id,
            plan.credential,
            owner_id,
            caller.principal_id,
            &caller.name,
            &mut log,
            json!({"owner": owner_name}),
        )
        .await?;

        if plan.u2m_app {
            let client_id = crate::oauth::insert_oauth_app(
                &mut tx,
                self.now_millis(),
                workspace_id,
                &plan.partner_id,
                &uid,
            )
            .await?;
            log.push("oauth_app.create", "oauth_app", &client_id, json!({}));
        }

        let made = Sql::with(
            "service_principal_id = $1, service_principal_name = $2, application_id = $3, \
             token_owner_id = $4, token_id = $5, warehouse_id = $6, warehouse_created = $7, \
             cluster_id = $8, grants = $9",
            [
                plan.service_principal.as_ref().map(|_| owner_id).into(),
                plan.service_principal.as_deref().into(),
                application_id.as_deref().into(),
                owner_id.into(),
                token_id.as_str().into(),
                warehouse_id.as_deref().into(),
                i64::from(warehouse_created).into(),
                cluster_id.as_deref().into(),
                json!(plan.grants).to_string().into(),
            ],
        );
        update_connection(&mut tx, made, workspace_id, &plan.partner_id, &uid).await?;
        log.push("connection.provision", "connection", &plan.partner_id, json!({}));
        log.write(&mut tx, self.now_millis()).await?;
        tx.commit().await?;
        let connection =
            self.connection(workspace_id, &plan.partner_id).await?.ok_or_else(|| {
                StoreError::Missing(Missing::ConnectionVanished {
                    partner_id: plan.partner_id.clone(),
                })
            })?;
        Ok(Provisioned { connection, token })
    }

    /// Marks a provisioned connection connected, and makes the connecting user the partner
    /// account's administrator if the organization has no account there yet. Only the
    /// connection this connect created (`uid`), and only while it is still being created:
    /// `false` when it was undone meanwhile (its node restarted, or it went stale), in which
    /// case nothing changed.
    pub async fn complete_connection(
        &self,
        admin: &WorkspaceAdmin,
        partner_id: &str,
        completion: Completion<'_>,
    ) -> Result<bool> {
        let workspace_id = admin.workspace_id();
        let actor = &Actor::of(admin);
        let Completion { uid, partner_connection_id, message, account_administrator } = completion;
        let mut tx = self.begin_write().await?;
        let moved = sqlx::query(
            "UPDATE connections SET state = 'CONNECTED', partner_connection_id = $1, message = $2, \
             node_id = NULL, updated_at = $3 \
             WHERE workspace_id = $4 AND partner_id = $5 AND uid = $6 AND state = 'CONNECTING'",
        )
        .bind(partner_connection_id)
        .bind(message)
        .bind(self.now_millis())
        .bind(workspace_id.get())
        .bind(partner_id)
        .bind(uid)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            return Ok(false);
        }
        if let Some(email) = account_administrator {
            sqlx::query(
                "INSERT INTO partner_accounts (account_id, partner_id, administrator_email, first_workspace_id, created_at) \
                 SELECT account_id, $1, $2, id, $3 FROM workspaces WHERE id = $4 ON CONFLICT DO NOTHING",
            )
            .bind(partner_id)
            .bind(email)
            .bind(self.now_millis())
            .bind(workspace_id.get())
            .execute(&mut *tx)
            .await?;
        }
        audit(
            &mut tx,
            self.now_millis(),
            workspace_id,
            actor,
            "connection.connected",
            "connection",
            partner_id,
            Some(partner_id),
            json!({"partner_connection_id": partner_connection_id, "message": message}),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The connection of `partner_id`, locked for the rest of `tx`: on SQLite the write
    /// transaction holds the database's write lock already; on PostgreSQL the row is locked, so
    /// a concurrent step waits and then sees what this one left.
    async fn lock_connection(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        workspace_id: WorkspaceId,
        partner_id: &str,
    ) -> Result<Option<ConnectionRecord>> {
        let sql = CONNECTION_TABLE.by_workspace_key("partner_id") + self.lock_clause();
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace_id.get())
            .bind(partner_id)
            .fetch_optional(&mut **tx)
            .await?
            .as_ref()
            .map(|row| CONNECTION_TABLE.read(row))
            .transpose()
    }

    /// An admin's delete: removes a connection and everything it created (see
    /// [`Store::remove_tx`]). A connection still being created is a conflict. `None` when there
    /// is no such connection (any more): of concurrent removals exactly one removes, and is
    /// acknowledged.
    pub async fn remove_connection(
        &self,
        admin: &WorkspaceAdmin,
        partner_id: &str,
        removal: Removal<'_>,
    ) -> Result<Option<RemovedConnection>> {
        self.remove_tx(
            admin.workspace_id(),
            partner_id,
            removal.uid,
            Remover::Admin,
            &Actor::of(admin),
            removal.reason,
        )
        .await
    }

    /// Undoes the connect that created the connection `uid`, which failed at the partner or
    /// was interrupted: that connection only, never one made after it. For the connect itself,
    /// the worker and the integrity repair.
    pub async fn undo_connect(
        &self,
        workspace_id: WorkspaceId,
        partner_id: &str,
        uid: &str,
        actor: &Actor,
        reason: &str,
    ) -> Result<Option<RemovedConnection>> {
        self.remove_tx(workspace_id, partner_id, Some(uid), Remover::Undo, actor, reason).await
    }

    /// Removes a connection and everything it created, in one transaction decided (by
    /// [`removal_rule::removal`]) on the connection as it is inside it: its principal (and with
    /// it every token, permission and grant it holds), the tokens it holds for the connecting
    /// user, the compute it created (never a warehouse the user selected), and the row; the
    /// partner's notification is written in the same transaction.
    async fn remove_tx(
        &self,
        workspace_id: WorkspaceId,
        partner_id: &str,
        expected_uid: Option<&str>,
        by: Remover,
        actor: &Actor,
        reason: &str,
    ) -> Result<Option<RemovedConnection>> {
        let mut tx = self.begin_write().await?;
        let Some(connection) = self.lock_connection(&mut tx, workspace_id, partner_id).await?
        else {
            return Ok(None);
        };
        let plan = match removal_rule::removal(&connection, expected_uid, by) {
            Ok(Some(plan)) => plan,
            Ok(None) => return Ok(None),
            Err(refusal) => return Err(StoreError::Refused(refusal)),
        };
        let mut log = AuditLog::new(workspace_id, actor, Some(partner_id));
        if let Some(id) = &plan.warehouse
            && crate::compute::delete_warehouse_tx(&mut tx, workspace_id, id).await?
        {
            log.push("warehouse.delete", "warehouse", id, json!({}));
        }
        if let Some(id) = &plan.cluster
            && crate::compute::delete_cluster_tx(&mut tx, workspace_id, id).await?
        {
            log.push("cluster.delete", "cluster", id, json!({}));
        }
        match &plan.principal {
            PrincipalRemoval::ServicePrincipal { id, application_id } => {
                let sp = *id;
                let tokens: Vec<String> =
                    sqlx::query_scalar("SELECT token_id FROM tokens WHERE owner_id = $1")
                        .bind(sp.get())
                        .fetch_all(&mut *tx)
                        .await?;
                let secrets: Vec<String> = sqlx::query_scalar(
                    "SELECT secret_id FROM oauth_secrets WHERE principal_id = $1",
                )
                .bind(sp.get())
                .fetch_all(&mut *tx)
                .await?;
                for secret in secrets {
                    log.push("oauth_secret.revoke", "oauth_secret", &secret, json!({}));
                }
                // Its secrets, and the access tokens they were exchanged for, go with it.
                sqlx::query("DELETE FROM principals WHERE id = $1 AND workspace_id = $2")
                    .bind(sp.get())
                    .bind(workspace_id.get())
                    .execute(&mut *tx)
                    .await?;
                for t in tokens {
                    log.push("token.revoke", "token", &t, json!({}));
                }
                log.push(
                    "service_principal.delete",
                    "service_principal",
                    application_id,
                    json!({}),
                );
            }
            PrincipalRemoval::UserTokens(tokens) => {
                for token_id in tokens {
                    let gone =
                        sqlx::query("DELETE FROM tokens WHERE token_id = $1 AND workspace_id = $2")
                            .bind(token_id.as_str())
                            .bind(workspace_id.get())
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                    if gone > 0 {
                        log.push("token.revoke", "token", token_id, json!({}));
                    }
                }
            }
            PrincipalRemoval::Gone => {}
        }
        // The partner's U2M app, with its users' grants.
        for client_id in
            crate::oauth::delete_oauth_apps(&mut tx, workspace_id, partner_id, None).await?
        {
            log.push("oauth_app.delete", "oauth_app", &client_id, json!({}));
        }
        let gone = sqlx::query(
            "DELETE FROM connections WHERE workspace_id = $1 AND partner_id = $2 AND uid = $3",
        )
        .bind(workspace_id.get())
        .bind(partner_id)
        .bind(connection.uid.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if gone != 1 {
            // Unreachable while the row is locked; refuse rather than half-remove.
            return Err(StoreError::Changed(Changed::WhileDeleting {
                partner_id: partner_id.to_owned(),
            }));
        }
        log.push("connection.delete", "connection", partner_id, json!({"reason": reason}));
        // The partner hears of it even if this process dies right after the commit.
        let notification = match &plan.notify {
            Some(connection_id) => Some(
                enqueue_delete_notification(
                    &mut tx,
                    self.now_millis(),
                    workspace_id,
                    partner_id,
                    connection_id,
                )
                .await?,
            ),
            None => None,
        };
        log.write(&mut tx, self.now_millis()).await?;
        tx.commit().await?;
        Ok(Some(RemovedConnection { connection, notification }))
    }

    /// Tells a partner, durably, that a connection it made is gone: for a connect whose
    /// connection was undone while the partner was setting up its side.
    pub async fn notify_connection_deleted(
        &self,
        workspace_id: WorkspaceId,
        partner_id: &str,
        partner_connection_id: &str,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id = enqueue_delete_notification(
            &mut tx,
            self.now_millis(),
            workspace_id,
            partner_id,
            partner_connection_id,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Starts a rotation of the connection's token, decided on the connection as it is inside
    /// the transaction: mints a new token for its principal and records it before the value
    /// leaves the process. [`Rotation::Deliver`] records it as pending (the partner is about to
    /// get it; [`Store::settle_rotation`] ends it); [`Rotation::Manual`] makes it current at
    /// once and keeps the old one as previous until an admin confirms.
    /// [`Rotation::Resume`] replaces a pending token whose delivery was interrupted (its value
    /// is lost) with a fresh one, revoking the lost one.
    pub async fn begin_rotation(
        &self,
        workspace_id: WorkspaceId,
        partner_id: &str,
        actor: &Actor,
        rotation: Rotation<'_>,
        node: &str,
    ) -> Result<Rotated> {
        let mut tx = self.begin_write().await?;
        let connection = self
            .lock_connection(&mut tx, workspace_id, partner_id)
            .await?
            .ok_or_else(|| no_connection(partner_id))?;
        let expected = match rotation {
            Rotation::Deliver { uid } | Rotation::Manual { uid } => uid,
            Rotation::Resume { uid, .. } => Some(uid),
        };
        let partner = || partner_id.to_owned();
        if expected.is_some_and(|uid| uid != connection.uid) {
            return Err(StoreError::Refused(Refusal::Changed { partner_id: partner() }));
        }
        if connection.state != ConnectionState::Connected {
            return Err(StoreError::Refused(Refusal::Connecting { partner_id: partner() }));
        }
        let (Some(owner_id), Some(_)) =
            (connection.service_principal_id, &connection.application_id)
        else {
            return Err(StoreError::Refused(Refusal::NothingToRotate { partner: partner() }));
        };
        match rotation {
            Rotation::Deliver { .. } if connection.pending_token_id.is_some() => {
                return Err(StoreError::Changed(Changed::RotationInProgress {
                    partner_id: partner(),
                }));
            }
            Rotation::Manual { .. }
                if match &connection.previous_token_id {
                    Some(previous) => {
                        token_exists_tx(&mut tx, workspace_id, connection.credential, previous)
                            .await?
                    }
                    None => false,
                } =>
            {
                return Err(StoreError::Changed(Changed::AwaitsConfirmation {
                    previous_token_id: connection.previous_token_id.clone().unwrap_or_default(),
                }));
            }
            Rotation::Resume { pending, .. }
                if connection.pending_token_id.as_deref() != Some(pending) =>
            {
                return Err(StoreError::Changed(Changed::RotationSettled {
                    partner_id: partner(),
                }));
            }
            _ => {}
        }
        let mut log = AuditLog::new(workspace_id, actor, Some(partner_id));
        if let Rotation::Resume { pending, .. } = rotation {
            revoke_token_tx(
                &mut tx,
                workspace_id,
                connection.credential,
                pending,
                &mut log,
                "interrupted",
            )
            .await?;
        }
        let (value, new_id) = mint_credential(
            &mut tx,
            self.creation_millis(),
            workspace_id,
            connection.credential,
            owner_id,
            actor.id().unwrap_or(connection.created_by_id),
            actor.name(),
            &mut log,
            json!({"rotation": true}),
        )
        .await?;
        let now = self.now_millis();
        match rotation {
            Rotation::Deliver { .. } | Rotation::Resume { .. } => {
                let pending = Sql::with(
                    "pending_token_id = $1, pending_since = $2, node_id = $3, updated_at = $2",
                    [new_id.as_str().into(), now.into(), node.into()],
                );
                update_connection(&mut tx, pending, workspace_id, partner_id, &connection.uid)
                    .await?;
            }
            Rotation::Manual { .. } => {
                let current = Sql::with(
                    "token_id = $1, previous_token_id = $2, updated_at = $3",
                    [new_id.as_str().into(), connection.token_id.as_deref().into(), now.into()],
                );
                update_connection(&mut tx, current, workspace_id, partner_id, &connection.uid)
                    .await?;
                log.push(
                    "connection.token_rotated",
                    "connection",
                    partner_id,
                    json!({"token_id": new_id, "delivered": false}),
                );
            }
        }
        log.write(&mut tx, self.now_millis()).await?;
        tx.commit().await?;
        Ok(Rotated { connection, token: value, token_id: new_id })
    }

    /// Ends a delivered-or-failed rotation, on the connection as it is inside the transaction:
    /// delivered, the new token becomes the partner's and the old one is revoked; not
    /// delivered, the new token is revoked and the old one stays. Only the rotation that
    /// minted `token_id` may end it: a [`StoreError::Changed`] otherwise.
    pub async fn settle_rotation(
        &self,
        workspace_id: WorkspaceId,
        partner_id: &str,
        uid: &str,
        token_id: &str,
        delivered: bool,
        actor: &Actor,
    ) -> Result<Option<String>> {
        let mut tx = self.begin_write().await?;
        let connection = self
            .lock_connection(&mut tx, workspace_id, partner_id)
            .await?
            .filter(|c| c.uid == uid && c.pending_token_id.as_deref() == Some(token_id))
            .ok_or_else(|| {
                StoreError::Changed(Changed::RotationEnded { partner_id: partner_id.to_owned() })
            })?;
        let mut log = AuditLog::new(workspace_id, actor, Some(partner_id));
        let revoked = if delivered {
            let current = Sql::with(
                "token_id = $1, pending_token_id = NULL, pending_since = NULL, node_id = NULL, \
                 updated_at = $2",
                [token_id.into(), self.now_millis().into()],
            );
            update_connection(&mut tx, current, workspace_id, partner_id, uid).await?;
            let old = connection.token_id.filter(|old| old != token_id);
            if let Some(old) = &old {
                revoke_token_tx(
                    &mut tx,
                    workspace_id,
                    connection.credential,
                    old,
                    &mut log,
                    "rotated",
                )
                .await?;
            }
            log.push(
                "connection.token_rotated",
                "connection",
                partner_id,
                json!({"token_id": token_id, "delivered": true}),
            );
            old
        } else {
            let undone = Sql::with(
                "pending_token_id = NULL, pending_since = NULL, node_id = NULL, updated_at = $1",
                [self.now_millis().into()],
            );
            update_connection(&mut tx, undone, workspace_id, partner_id, uid).await?;
            revoke_token_tx(
                &mut tx,
                workspace_id,
                connection.credential,
                token_id,
                &mut log,
                "undelivered",
            )
            .await?;
            None
        };
        log.write(&mut tx, self.now_millis()).await?;
        tx.commit().await?;
        Ok(revoked)
    }

    /// Ends a manual rotation: revokes a token of the connection's principal that the partner
    /// no longer uses. The token the connection holds now cannot be revoked this way.
    pub async fn finish_rotation(
        &self,
        admin: &WorkspaceAdmin,
        partner_id: &str,
        old_token_id: &str,
    ) -> Result<()> {
        let workspace_id = admin.workspace_id();
        let mut tx = self.begin_write().await?;
        let connection = self
            .lock_connection(&mut tx, workspace_id, partner_id)
            .await?
            .ok_or_else(|| no_connection(partner_id))?;
        if connection.token_id.as_deref() == Some(old_token_id)
            || connection.pending_token_id.as_deref() == Some(old_token_id)
        {
            return Err(StoreError::Rejected(Rejected::CurrentToken));
        }
        let (table, id, _) = credential_table(connection.credential);
        let owner = match connection.credential {
            Credential::Token => "owner_id",
            Credential::OAuthSecret => "principal_id",
        };
        let gone = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE workspace_id = $1 AND {id} = $2 AND {owner} = $3"
        )))
        .bind(workspace_id.get())
        .bind(old_token_id)
        .bind(connection.token_owner_id.map_or(0, PrincipalId::get))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if gone == 0 {
            return Err(StoreError::Missing(Missing::ConnectionToken {
                token_id: old_token_id.to_owned(),
            }));
        }
        if connection.previous_token_id.as_deref() == Some(old_token_id) {
            let confirmed =
                Sql::with("previous_token_id = NULL, updated_at = $1", [self.now_millis().into()]);
            update_connection(&mut tx, confirmed, workspace_id, partner_id, &connection.uid)
                .await?;
        }
        let noun = credential_table(connection.credential).2;
        audit(
            &mut tx,
            self.now_millis(),
            workspace_id,
            &Actor::of(admin),
            &format!("{noun}.revoke"),
            noun,
            old_token_id,
            Some(partner_id),
            json!({"rotation": true}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Claims up to `limit` notifications that are due, leasing them for `lease_millis` so that
    /// no other node delivers them meanwhile.
    pub async fn claim_notifications(
        &self,
        limit: i64,
        lease_millis: i64,
        node: &str,
    ) -> Result<Vec<Notification>> {
        self.lease_notifications(
            "id IN (SELECT id FROM partner_notifications WHERE delivered_at IS NULL \
             AND next_attempt_at <= $3 ORDER BY next_attempt_at LIMIT $4) \
             AND next_attempt_at <= $3",
            limit,
            lease_millis,
            node,
        )
        .await
    }

    /// Claims one notification now, whatever its schedule (the request that caused it delivers
    /// it at once); `None` if another node holds it or it was delivered.
    pub async fn claim_notification(
        &self,
        id: i64,
        lease_millis: i64,
        node: &str,
    ) -> Result<Option<Notification>> {
        let claimed = self
            .lease_notifications(
                "id = $4 AND (attempts = 0 OR next_attempt_at <= $3)",
                id,
                lease_millis,
                node,
            )
            .await?;
        Ok(claimed.into_iter().next())
    }

    /// Leases the undelivered notifications `which` selects to `node` for `lease_millis`,
    /// counting an attempt. `which` may use `$3` (now) and `$4` (`arg`).
    async fn lease_notifications(
        &self,
        which: &str,
        arg: i64,
        lease_millis: i64,
        node: &str,
    ) -> Result<Vec<Notification>> {
        let now = self.now_millis();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE partner_notifications SET next_attempt_at = $1, attempts = attempts + 1, leased_by = $2 \
             WHERE {which} AND delivered_at IS NULL \
             RETURNING id, workspace_id, partner_id, kind, payload, attempts"
        )))
        .bind(now + lease_millis)
        .bind(node)
        .bind(now)
        .bind(arg)
        .fetch_all(&self.writes)
        .await?;
        rows.iter().map(notification_from_row).collect()
    }

    /// Records a delivery attempt: done, or retry later with exponential backoff.
    pub async fn settle_notification(
        &self,
        n: &Notification,
        delivered: bool,
        outcome: &str,
    ) -> Result<()> {
        let now = self.now_millis();
        let backoff = (1000_i64 << n.attempts.clamp(0, 20)).min(MAX_BACKOFF_MILLIS);
        // The attempt and its audit event in one transaction: one commit, and neither without
        // the other.
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "UPDATE partner_notifications SET delivered_at = $1, outcome = $2, next_attempt_at = $3, leased_by = NULL \
             WHERE id = $4",
        )
        .bind(delivered.then_some(now))
        .bind(outcome)
        .bind(now + backoff)
        .bind(n.id)
        .execute(&mut *tx)
        .await?;
        let actor = Actor::system("patchbay");
        let detail = json!({
            "kind": n.kind.as_str(),
            "delivered": delivered,
            "outcome": outcome,
            "attempt": n.attempts,
        });
        audit(
            &mut tx,
            self.now_millis(),
            n.workspace_id,
            &actor,
            "partner.notify",
            "connection",
            &n.partner_id,
            Some(&n.partner_id),
            detail,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// What a node that restarts left unfinished, released at its start: its notification
    /// leases end now (another node, or itself, delivers them at once), and the connections on
    /// which it was running a step (a connect still `CONNECTING`, a rotation still pending) are
    /// returned to be undone or resumed. The steps died with the process, so nothing else runs
    /// them.
    pub async fn release_node(&self, node: &str) -> Result<Vec<ConnectionRecord>> {
        let now = self.now_millis();
        let released = sqlx::query(
            "UPDATE partner_notifications SET next_attempt_at = $1, leased_by = NULL \
             WHERE leased_by = $2 AND delivered_at IS NULL",
        )
        .bind(now)
        .bind(node)
        .execute(&self.writes)
        .await?
        .rows_affected();
        if released > 0 {
            tracing::info!(
                released,
                "released the notification leases of this node's previous run"
            );
        }
        self.connections_where(Sql::with(
            "WHERE node_id = $1 AND (state = 'CONNECTING' OR pending_token_id IS NOT NULL)",
            [node.into()],
        ))
        .await
    }

    /// Steps left unfinished for longer than `stale_millis`, whatever node ran them (it may be
    /// gone for good): connects still `CONNECTING` (their token value is lost, so they are
    /// undone) and rotations still pending (resumed with a fresh token).
    pub async fn stale_steps(&self, stale_millis: i64) -> Result<Vec<ConnectionRecord>> {
        self.connections_where(Sql::with(
            "WHERE (state = 'CONNECTING' AND updated_at < $1) \
             OR (pending_token_id IS NOT NULL AND pending_since < $1)",
            [(self.now_millis() - stale_millis).into()],
        ))
        .await
    }

    /// Restores what a connection's principal was given and lost: its entitlements, the token
    /// permission and its catalog grants. Returns what it did. Compute and a deleted principal
    /// cannot be restored this way (the partner would not know the new ones).
    pub async fn repair_connection(
        &self,
        admin: &WorkspaceAdmin,
        partner_id: &str,
        entitlements: &[String],
        token_can_use: bool,
    ) -> Result<Vec<Repaired>> {
        let workspace_id = admin.workspace_id();
        let actor = Actor::of(admin);
        let mut tx = self.begin_write().await?;
        let connection = self
            .lock_connection(&mut tx, workspace_id, partner_id)
            .await?
            .ok_or_else(|| no_connection(partner_id))?;
        if connection.state != ConnectionState::Connected {
            return Err(StoreError::Refused(Refusal::Connecting {
                partner_id: partner_id.to_owned(),
            }));
        }
        let Some(sp) = connection.service_principal_id else {
            return Err(StoreError::Rejected(Rejected::ServicePrincipalDeleted));
        };
        let mut done = Vec::new();
        for e in entitlements {
            let added = sqlx::query(
                "INSERT INTO principal_values (principal_id, attr, value, is_primary) VALUES ($1, 'entitlements', $2, 0) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(sp.get())
            .bind(e.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if added > 0 {
                done.push(Repaired::Entitlement(e.clone()));
            }
        }
        if token_can_use && !crate::permissions::holds(&mut tx, workspace_id, sp, TOKENS).await? {
            grant_object_permission(&mut tx, workspace_id, TOKENS, sp, CanUse).await?;
            done.push(Repaired::TokensCanUse);
        }
        for grant in &connection.grants {
            grant_catalog(&mut tx, self.now_millis(), workspace_id, sp, grant).await?;
        }
        if !connection.grants.is_empty() {
            done.push(Repaired::Grants);
        }
        audit(
            &mut tx,
            self.now_millis(),
            workspace_id,
            &actor,
            "connection.repair",
            "connection",
            partner_id,
            Some(partner_id),
            json!({"done": done.iter().map(ToString::to_string).collect::<Vec<_>>()}),
        )
        .await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Whether a token still exists (drift checks).
    pub async fn token_exists(&self, workspace_id: WorkspaceId, token_id: &str) -> Result<bool> {
        Ok(self.get_token(workspace_id, token_id).await?.is_some())
    }

    /// Whether a connection's credential still exists (drift checks).
    pub async fn credential_exists(
        &self,
        workspace_id: WorkspaceId,
        credential: Credential,
        id: &str,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let exists = token_exists_tx(&mut tx, workspace_id, credential, id).await?;
        tx.commit().await?;
        Ok(exists)
    }
}
