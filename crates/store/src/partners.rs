//! Partner Connect's records: partner endpoints and custom partners, connections, the
//! organization's partner accounts, and the audit trail.

use crate::read::FromColumn;
use crate::read::Table;
use crate::sealed::partner_password_place;
use crate::sql::Sql;
use crate::{Conflict, Result, Store, StoreError};
use patchbay_core::access::{Caller, WorkspaceAdmin};
use patchbay_core::partner::{Credential, PartnerSpec};
use patchbay_core::time::EpochMillis;
use patchbay_core::{PrincipalId, WorkspaceId};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

/// How to reach a partner: one type from the admin's settings to the partner client.
pub use patchbay_core::partner::PartnerEndpoint;

/// A workspace's settings for one partner: its endpoint, and its definition if an admin
/// registered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerSettings {
    pub partner_id: String,
    pub custom: Option<PartnerSpec>,
    pub endpoint: Option<PartnerEndpoint>,
}

/// A connection, as core's rules read it; the store reads and writes it (`state` and `grants`
/// keep their stored spelling: see [`connection_from_row`]).
pub use patchbay_core::partner::ConnectionRecord;

/// The organization's account at a partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerAccount {
    pub partner_id: String,
    pub administrator_email: String,
    pub first_workspace_id: WorkspaceId,
    pub created_at: EpochMillis,
}

/// One audit event.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: i64,
    pub at: i64,
    pub actor_id: Option<PrincipalId>,
    pub actor_name: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub partner_id: Option<String>,
    pub detail: serde_json::Value,
}

/// Who did something, for the audit trail: an admin (with the proof), a caller acting on
/// their own behalf, or patchbay itself. Built only through these constructors.
#[derive(Debug, Clone)]
pub struct Actor {
    id: Option<PrincipalId>,
    name: String,
}

impl Actor {
    /// A workspace admin.
    pub fn of(admin: &WorkspaceAdmin) -> Actor {
        Actor::caller(admin.caller())
    }

    /// A caller acting on their own behalf (a user signing in).
    pub fn caller(caller: &Caller) -> Actor {
        Actor { id: Some(caller.principal_id), name: caller.name.clone() }
    }

    /// patchbay itself (the worker, the integrity check), under a name for the audit trail.
    pub fn system(name: &str) -> Actor {
        Actor { id: None, name: name.to_owned() }
    }

    /// The principal, when a principal acted.
    pub fn id(&self) -> Option<PrincipalId> {
        self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Filters and page of an audit query.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub partner_id: Option<String>,
    pub actor_name: Option<String>,
    /// Only events older than this id (the page token).
    pub before_id: Option<i64>,
    pub limit: i64,
}

const CONNECTION_COLUMNS: &str = "workspace_id, partner_id, uid, node_id, \
     pending_token_id, pending_since, previous_token_id, state, catalog_name, schemas, \
     service_principal_id, service_principal_name, application_id, token_owner_id, token_id, \
     warehouse_id, warehouse_created, cluster_id, partner_connection_id, grants, message, \
     created_by_id, created_by_name, created_at, updated_at, credential";

pub(crate) const CONNECTION_TABLE: Table<ConnectionRecord> =
    Table::new("connections", CONNECTION_COLUMNS, connection_from_row);

fn json_column(row: &AnyRow, name: &str) -> Result<serde_json::Value> {
    let text: String = row.try_get(name)?;
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Internal(format!("column {name} holds invalid JSON: {e}")))
}

/// A list kept as JSON (a connection's schemas and grants, a partner's hostnames) that does not
/// read as one: an error, never an empty list.
fn invalid_list(name: &str, e: serde_json::Error) -> StoreError {
    StoreError::Internal(format!("column {name} holds invalid {name}: {e}"))
}

pub(crate) fn connection_from_row(row: &AnyRow) -> Result<ConnectionRecord> {
    Ok(ConnectionRecord {
        workspace_id: WorkspaceId::from_column(row, "workspace_id")?,
        partner_id: row.try_get("partner_id")?,
        uid: row.try_get("uid")?,
        node_id: row.try_get("node_id")?,
        pending_token_id: row.try_get("pending_token_id")?,
        pending_since: row.try_get("pending_since")?,
        previous_token_id: row.try_get("previous_token_id")?,
        state: {
            let text: String = row.try_get("state")?;
            text.parse().map_err(StoreError::Internal)?
        },
        catalog_name: row.try_get("catalog_name")?,
        schemas: serde_json::from_str(&row.try_get::<String, _>("schemas")?)
            .map_err(|e| invalid_list("schemas", e))?,
        service_principal_id: row
            .try_get::<Option<i64>, _>("service_principal_id")?
            .map(PrincipalId::new),
        service_principal_name: row.try_get("service_principal_name")?,
        application_id: row.try_get("application_id")?,
        token_owner_id: Option::<PrincipalId>::from_column(row, "token_owner_id")?,
        token_id: row.try_get("token_id")?,
        credential: {
            let text: String = row.try_get("credential")?;
            Credential::from_db(&text)
                .ok_or_else(|| StoreError::Internal(format!("unknown credential kind {text}")))?
        },
        warehouse_id: row.try_get("warehouse_id")?,
        warehouse_created: row.try_get::<i64, _>("warehouse_created")? != 0,
        cluster_id: row.try_get("cluster_id")?,
        partner_connection_id: row.try_get("partner_connection_id")?,
        grants: serde_json::from_str(&row.try_get::<String, _>("grants")?)
            .map_err(|e| invalid_list("grants", e))?,
        message: row.try_get("message")?,
        created_by_id: PrincipalId::from_column(row, "created_by_id")?,
        created_by_name: row.try_get("created_by_name")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// A partner's settings as stored: the password still sealed.
struct StoredSettings {
    settings: PartnerSettings,
    password_sealed: Option<String>,
}

fn settings_from_row(row: &AnyRow) -> Result<StoredSettings> {
    let custom: Option<String> = row.try_get("custom_spec")?;
    let custom = custom
        .map(|c| serde_json::from_str::<PartnerSpec>(&c))
        .transpose()
        .map_err(|e| StoreError::Internal(format!("stored partner definition is invalid: {e}")))?;
    let base_url: Option<String> = row.try_get("base_url")?;
    let endpoint = match base_url {
        Some(base_url) => Some(PartnerEndpoint {
            base_url,
            connect_path: row.try_get("connect_path")?,
            delete_connection_path: row.try_get("delete_connection_path")?,
            test_connection_path: row.try_get("test_connection_path")?,
            rotate_token_path: row.try_get("rotate_token_path")?,
            username: row.try_get::<Option<String>, _>("username")?.unwrap_or_default(),
            // Opened by the store, which holds the key (`Store::open_settings`).
            password: String::new(),
            hostnames: serde_json::from_value(json_column(row, "hostnames")?)
                .map_err(|e| invalid_list("hostnames", e))?,
        }),
        None => None,
    };
    Ok(StoredSettings {
        settings: PartnerSettings { partner_id: row.try_get("partner_id")?, custom, endpoint },
        password_sealed: row.try_get("password_sealed")?,
    })
}

/// Every column: a partner's settings are read whole.
const SETTINGS_TABLE: Table<StoredSettings> =
    Table::new("partner_settings", "*", settings_from_row);

impl Store {
    /// Every partner setting of a workspace, for listings: the passwords stay sealed (each
    /// endpoint's `password` is empty), so a listing neither opens every partner's secret nor
    /// fails on one that does not open. A partner is called with the settings
    /// [`Store::partner_setting`] opens.
    pub async fn partner_listing(&self, workspace_id: WorkspaceId) -> Result<Vec<PartnerSettings>> {
        let filter =
            Sql::with("WHERE workspace_id = $1 ORDER BY partner_id", [workspace_id.into()]);
        let stored = self.rows_where(&SETTINGS_TABLE, filter).await?;
        Ok(stored
            .into_iter()
            .map(|s| {
                let mut settings = s.settings;
                if let Some(endpoint) = settings.endpoint.as_mut() {
                    endpoint.password.clear();
                }
                settings
            })
            .collect())
    }

    /// One partner's settings.
    pub async fn partner_setting(
        &self,
        workspace_id: WorkspaceId,
        partner_id: &str,
    ) -> Result<Option<PartnerSettings>> {
        let stored =
            self.workspace_row(&SETTINGS_TABLE, "partner_id", workspace_id, partner_id).await?;
        stored.map(|s| self.open_settings(workspace_id, s)).transpose()
    }

    /// `stored` with its password opened. A password that does not open (sealed with another
    /// key, or for another partner) is an error, never a partner called without it.
    fn open_settings(
        &self,
        workspace_id: WorkspaceId,
        stored: StoredSettings,
    ) -> Result<PartnerSettings> {
        let StoredSettings { mut settings, password_sealed } = stored;
        if let (Some(endpoint), Some(sealed)) = (settings.endpoint.as_mut(), password_sealed) {
            let place = partner_password_place(workspace_id, &settings.partner_id);
            endpoint.password = self.secret_key()?.open(&place, &sealed).ok_or_else(|| {
                StoreError::Internal(format!(
                    "partner {}'s password does not open with this installation's secret key",
                    settings.partner_id
                ))
            })?;
        }
        Ok(settings)
    }

    /// Registers or changes a partner's settings.
    pub async fn put_partner_settings(
        &self,
        admin: &WorkspaceAdmin,
        settings: &PartnerSettings,
    ) -> Result<()> {
        let workspace_id = admin.workspace_id();
        let custom = settings
            .custom
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let e = settings.endpoint.as_ref();
        let hostnames = serde_json::to_string(&e.map(|e| e.hostnames.clone()).unwrap_or_default())
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        let password_sealed = match e {
            Some(e) => Some(
                self.secret_key()?
                    .seal(&partner_password_place(workspace_id, &settings.partner_id), &e.password),
            ),
            None => None,
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO partner_settings (workspace_id, partner_id, custom_spec, base_url, connect_path, \
               delete_connection_path, test_connection_path, rotate_token_path, username, password_sealed, hostnames, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (workspace_id, partner_id) DO UPDATE SET custom_spec = excluded.custom_spec, \
               base_url = excluded.base_url, connect_path = excluded.connect_path, \
               delete_connection_path = excluded.delete_connection_path, \
               test_connection_path = excluded.test_connection_path, rotate_token_path = excluded.rotate_token_path, \
               username = excluded.username, password_sealed = excluded.password_sealed, password = NULL, \
               hostnames = excluded.hostnames, \
               updated_at = excluded.updated_at",
        )
        .bind(workspace_id.get())
        .bind(settings.partner_id.as_str())
        .bind(custom)
        .bind(e.map(|e| e.base_url.clone()))
        .bind(e.map_or_else(|| "/connect".to_owned(), |e| e.connect_path.clone()))
        .bind(e.and_then(|e| e.delete_connection_path.clone()))
        .bind(e.and_then(|e| e.test_connection_path.clone()))
        .bind(e.and_then(|e| e.rotate_token_path.clone()))
        .bind(e.map(|e| e.username.clone()))
        .bind(password_sealed)
        .bind(hostnames)
        .bind(self.now_millis())
        .execute(&mut *tx)
        .await?;
        audit(
            &mut tx,
            self.now_millis(),
            workspace_id,
            &Actor::of(admin),
            "partner.configure",
            "partner",
            &settings.partner_id,
            Some(&settings.partner_id),
            serde_json::json!({"custom": settings.custom.is_some()}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a partner's settings (and with them a custom partner). Refused while the partner
    /// has a connection.
    pub async fn delete_partner_settings(
        &self,
        admin: &WorkspaceAdmin,
        partner_id: &str,
    ) -> Result<bool> {
        let workspace_id = admin.workspace_id();
        let mut tx = self.begin_write().await?;
        let connected = sqlx::query(
            "SELECT 1 AS yes FROM connections WHERE workspace_id = $1 AND partner_id = $2",
        )
        .bind(workspace_id.get())
        .bind(partner_id)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
        if connected {
            return Err(StoreError::Conflict(Conflict::PartnerConnected {
                partner_id: partner_id.to_owned(),
            }));
        }
        let done =
            sqlx::query("DELETE FROM partner_settings WHERE workspace_id = $1 AND partner_id = $2")
                .bind(workspace_id.get())
                .bind(partner_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if done > 0 {
            audit(
                &mut tx,
                self.now_millis(),
                workspace_id,
                &Actor::of(admin),
                "partner.remove",
                "partner",
                partner_id,
                Some(partner_id),
                serde_json::json!({}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(done > 0)
    }

    /// Every connection of a workspace.
    pub async fn connections(&self, workspace_id: WorkspaceId) -> Result<Vec<ConnectionRecord>> {
        self.connections_where(Sql::with(
            "WHERE workspace_id = $1 ORDER BY partner_id",
            [workspace_id.into()],
        ))
        .await
    }

    /// The connections a `WHERE …` fragment (with any `ORDER BY`) picks, read whole.
    pub(crate) async fn connections_where(&self, filter: Sql) -> Result<Vec<ConnectionRecord>> {
        self.rows_where(&CONNECTION_TABLE, filter).await
    }

    /// One connection.
    pub async fn connection(
        &self,
        workspace_id: WorkspaceId,
        partner_id: &str,
    ) -> Result<Option<ConnectionRecord>> {
        self.workspace_row(&CONNECTION_TABLE, "partner_id", workspace_id, partner_id).await
    }

    /// The organization's account at a partner, if anyone connected.
    pub async fn partner_account(
        &self,
        workspace_id: WorkspaceId,
        partner_id: &str,
    ) -> Result<Option<PartnerAccount>> {
        let row = sqlx::query(
            "SELECT a.partner_id, a.administrator_email, a.first_workspace_id, a.created_at \
             FROM partner_accounts a JOIN workspaces w ON w.account_id = a.account_id \
             WHERE w.id = $1 AND a.partner_id = $2",
        )
        .bind(workspace_id.get())
        .bind(partner_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| -> Result<PartnerAccount> {
            Ok(PartnerAccount {
                partner_id: r.try_get("partner_id")?,
                administrator_email: r.try_get("administrator_email")?,
                first_workspace_id: WorkspaceId::from_column(&r, "first_workspace_id")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .transpose()
    }

    /// Audit events of a workspace, newest first.
    pub async fn audit_events(
        &self,
        workspace_id: WorkspaceId,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEvent>> {
        let mut sql = Sql::new(
            "SELECT id, at, actor_id, actor_name, action, object_type, object_id, partner_id, detail \
             FROM audit_events WHERE workspace_id = ",
        );
        sql.int(workspace_id.get());
        if let Some(p) = &query.partner_id {
            sql.push(" AND partner_id = ").text(p.clone());
        }
        if let Some(a) = &query.actor_name {
            sql.push(" AND LOWER(actor_name) = ").text(a.to_lowercase());
        }
        if let Some(before) = query.before_id {
            sql.push(" AND id < ").int(before);
        }
        sql.push(" ORDER BY id DESC LIMIT ").int(query.limit.clamp(1, 1000));
        sql.query()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(AuditEvent {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    actor_id: Option::<PrincipalId>::from_column(r, "actor_id")?,
                    actor_name: r.try_get("actor_name")?,
                    action: r.try_get("action")?,
                    object_type: r.try_get("object_type")?,
                    object_id: r.try_get("object_id")?,
                    partner_id: r.try_get("partner_id")?,
                    detail: json_column(r, "detail")?,
                })
            })
            .collect()
    }

    /// Records an audit event on its own.
    pub async fn record_audit(
        &self,
        workspace_id: WorkspaceId,
        actor: &Actor,
        action: &str,
        object: (&str, &str),
        partner_id: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        audit(
            &mut tx,
            self.now_millis(),
            workspace_id,
            actor,
            action,
            object.0,
            object.1,
            partner_id,
            detail,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Appends one audit event inside a transaction, so it exists exactly when the change does.
#[expect(clippy::too_many_arguments, reason = "an audit event has this many parts")]
pub(crate) async fn audit(
    tx: &mut Transaction<'static, Any>,
    now: EpochMillis,
    workspace_id: WorkspaceId,
    actor: &Actor,
    action: &str,
    object_type: &str,
    object_id: &str,
    partner_id: Option<&str>,
    detail: serde_json::Value,
) -> Result<()> {
    let mut log = AuditLog::new(workspace_id, actor, partner_id);
    log.push(action, object_type, object_id, detail);
    log.write(tx, now).await
}

/// The most audit events one INSERT statement writes.
const AUDIT_BATCH: usize = 100;

/// The audit events of one transaction, written just before it commits, in as few statements
/// as [`AUDIT_BATCH`] allows (a connect or a delete records a dozen or so).
pub(crate) struct AuditLog<'a> {
    workspace_id: WorkspaceId,
    actor: &'a Actor,
    partner_id: Option<&'a str>,
    events: Vec<(String, String, String, serde_json::Value)>,
}

impl<'a> AuditLog<'a> {
    pub(crate) fn new(
        workspace_id: WorkspaceId,
        actor: &'a Actor,
        partner_id: Option<&'a str>,
    ) -> Self {
        AuditLog { workspace_id, actor, partner_id, events: Vec::new() }
    }

    pub(crate) fn push(
        &mut self,
        action: &str,
        object_type: &str,
        object_id: &str,
        detail: serde_json::Value,
    ) {
        self.events.push((action.to_owned(), object_type.to_owned(), object_id.to_owned(), detail));
    }

    /// Writes the events; call it inside the transaction, before the commit. One statement per
    /// [`AUDIT_BATCH`] events, so that no number of events exceeds a database's limit on bound
    /// values (SQLite's is 32,766) or makes one statement huge.
    pub(crate) async fn write(
        self,
        tx: &mut Transaction<'static, Any>,
        now: EpochMillis,
    ) -> Result<()> {
        for batch in self.events.chunks(AUDIT_BATCH) {
            let mut sql = Sql::new(
                "INSERT INTO audit_events (workspace_id, at, actor_id, actor_name, action, object_type, object_id, partner_id, detail) VALUES ",
            );
            for (i, (action, object_type, object_id, detail)) in batch.iter().enumerate() {
                sql.push(if i == 0 { "(" } else { ", (" })
                    .list([
                        self.workspace_id.into(),
                        now.into(),
                        self.actor.id.into(),
                        self.actor.name.as_str().into(),
                        action.as_str().into(),
                        object_type.as_str().into(),
                        object_id.as_str().into(),
                        self.partner_id.into(),
                        detail.to_string().into(),
                    ])
                    .push(")");
            }
            sql.query().execute(&mut **tx).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// More events than one SQLite statement could bind (9 values each, 32,766 at most) commit
    /// together, in batches.
    #[tokio::test]
    async fn thousands_of_audit_events_commit_in_one_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let (store, workspace_id) = crate::bootstrap::fresh_store(dir.path()).await;
        let actor = Actor::system("patchbay");
        let events: i64 = 4000;
        let mut log = AuditLog::new(workspace_id, &actor, Some("rivery"));
        for i in 0..events {
            log.push(
                "grant",
                "schema",
                &format!("hive_metastore.s{i}"),
                serde_json::json!({"i": i}),
            );
        }
        let mut tx = store.begin_write().await.unwrap();
        log.write(&mut tx, store.now_millis()).await.unwrap();
        tx.commit().await.unwrap();
        let (count, distinct): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(DISTINCT object_id) FROM audit_events WHERE partner_id = 'rivery'",
        )
        .fetch_one(&store.pool)
        .await
        .unwrap();
        assert_eq!((count, distinct), (events, events), "every event, once");
        store.close().await;
    }

    /// A connection whose stored schemas are not a list of names is an error when read, as
    /// one whose grants are not grants is; never a connection with no schemas.
    #[tokio::test]
    async fn a_connection_with_unreadable_schemas_fails_loudly() {
        let dir = tempfile::tempdir().unwrap();
        let (store, workspace_id) = crate::bootstrap::fresh_store(dir.path()).await;
        for (partner_id, schemas, grants) in [
            ("fivetran", r#"{"not": "a list"}"#, "[]"),
            ("rivery", "[\"s\"", "[]"),
            ("dbt", "[]", "{}"),
        ] {
            sqlx::query(
                "INSERT INTO connections (workspace_id, partner_id, uid, state, schemas, grants, \
                 created_by_id, created_by_name, created_at, updated_at) \
                 VALUES ($1, $2, $2, 'CONNECTED', $3, $4, 1, 'admin', 0, 0)",
            )
            .bind(workspace_id.get())
            .bind(partner_id)
            .bind(schemas)
            .bind(grants)
            .execute(&store.pool)
            .await
            .unwrap();
            let column = if grants == "[]" { "schemas" } else { "grants" };
            match store.connection(workspace_id, partner_id).await {
                Err(StoreError::Internal(message)) => assert!(
                    message.starts_with(&format!("column {column} holds invalid {column}")),
                    "{message}"
                ),
                other => panic!("{partner_id}: {other:?}"),
            }
        }
        store.close().await;
    }

    /// A partner whose stored redirect hosts are not a list of names is an error when read:
    /// never a partner that may redirect nowhere, as if no host had been named.
    #[tokio::test]
    async fn a_partner_with_unreadable_hostnames_fails_loudly() {
        let dir = tempfile::tempdir().unwrap();
        let (store, workspace_id) = crate::bootstrap::fresh_store(dir.path()).await;
        for hostnames in ["{}", "[\"a\"", "[1]", "null"] {
            sqlx::query(
                "INSERT INTO partner_settings (workspace_id, partner_id, base_url, connect_path, \
                 hostnames, updated_at) VALUES ($1, 'rivery', 'https://p.example', '/connect', $2, 0)",
            )
            .bind(workspace_id.get())
            .bind(hostnames)
            .execute(&store.pool)
            .await
            .unwrap();
            match store.partner_listing(workspace_id).await {
                Err(StoreError::Internal(message)) => assert!(
                    message.starts_with("column hostnames holds invalid"),
                    "{hostnames}: {message}"
                ),
                other => panic!("{hostnames}: {other:?}"),
            }
            sqlx::query("DELETE FROM partner_settings").execute(&store.pool).await.unwrap();
        }
        store.close().await;
    }
}
