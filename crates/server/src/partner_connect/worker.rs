//! The background worker inside `patchbay serve`: it delivers what partners are owed (with
//! retries and backoff, surviving restarts) and undoes connects that were interrupted.

use super::catalog;
use crate::AppState;
use axum::http::StatusCode;
use patchbay_partner::client::CallError;
use patchbay_partner::protocol::DeleteConnectionRequest;
use patchbay_store::{Actor, Notification};
use std::time::Duration;

/// How long a claimed notification is leased to the node delivering it.
const LEASE_MILLIS: i64 = 5 * 60 * 1000;

/// Runs the worker until the process ends.
pub fn spawn(state: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = run_once(&state).await {
                tracing::warn!(error = %e, "partner worker pass failed");
            }
        }
    })
}

/// One pass: deliver due notifications, undo stale connects.
pub async fn run_once(state: &AppState) -> Result<(), patchbay_store::StoreError> {
    for n in state.store.claim_notifications(20, LEASE_MILLIS).await? {
        let (delivered, outcome) = deliver(state, &n).await;
        state
            .store
            .settle_notification(&n, delivered, &outcome)
            .await?;
    }
    let stale = state.settings().stale_connect_millis;
    for c in state.store.stale_connections(stale).await? {
        tracing::warn!(partner_id = %c.partner_id, "undoing an interrupted connect");
        let actor = Actor {
            id: None,
            name: "patchbay".into(),
        };
        state
            .store
            .remove_connection(
                c.workspace_id,
                &c.partner_id,
                &actor,
                "the connect was interrupted before the partner confirmed it",
            )
            .await?;
    }
    Ok(())
}

/// Delivers one claimed notification now; settles it and returns its outcome.
pub async fn deliver_now(
    state: &AppState,
    id: i64,
) -> Result<Option<String>, patchbay_store::StoreError> {
    let Some(n) = state.store.claim_notification(id, LEASE_MILLIS).await? else {
        return Ok(None);
    };
    let (delivered, outcome) = deliver(state, &n).await;
    state
        .store
        .settle_notification(&n, delivered, &outcome)
        .await?;
    Ok(Some(outcome))
}

/// Sends one notification. 404 `connection_not_found` counts as delivered: the partner has
/// nothing left to delete. So does a partner that no longer exists (nobody left to tell); any
/// other failure to look it up (the database unavailable) leaves the notification to retry.
async fn deliver(state: &AppState, n: &Notification) -> (bool, String) {
    let partner = match catalog::partner(state, n.workspace_id, &n.partner_id).await {
        Ok(p) => p,
        Err(e) if e.status == StatusCode::NOT_FOUND => return (true, "partner_removed".into()),
        Err(e) => {
            return (
                false,
                format!("failed: cannot look the partner up ({})", e.code),
            );
        }
    };
    let Ok(endpoint) = super::flow::endpoint_of(&partner) else {
        return (true, "no_endpoint".into());
    };
    match n.kind.as_str() {
        "delete_connection" => {
            let request = DeleteConnectionRequest {
                connection_id: n.payload["connection_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                cloud_provider: state.settings().cloud_provider.as_str().into(),
                databricks_organization_id: n.workspace_id,
                user_info: None,
            };
            let key = format!("notification-{}", n.id);
            match state
                .partner_client()
                .delete_connection(&endpoint, &request, &key)
                .await
            {
                None => (true, "no_endpoint".into()),
                Some(Ok(r)) => (
                    true,
                    serde_json::to_value(r.resource_status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                ),
                Some(Err(CallError::Status { status: 404, .. })) => {
                    (true, "connection_not_found".into())
                }
                Some(Err(e)) => (false, format!("failed: {e}")),
            }
        }
        other => (true, format!("unknown kind {other}")),
    }
}
