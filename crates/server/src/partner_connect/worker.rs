//! The background worker inside `patchbay serve`: it delivers what partners are owed (with
//! retries and backoff, surviving restarts) and undoes connects that were interrupted.

use super::catalog;
use crate::AppState;
use axum::http::StatusCode;
use patchbay_core::partner::{ConnectionState, Owed};
use patchbay_partner::client::CallError;
use patchbay_partner::protocol::DeleteConnectionRequest;
use patchbay_store::{Actor, ConnectionRecord, Notification, Rotation};
use std::time::Duration;

/// How long a claimed notification is leased to the node delivering it.
const LEASE_MILLIS: i64 = 5 * 60 * 1000;

/// Runs the worker until the process ends. It first finishes what this node's previous run
/// left (see [`recover_at_start`]).
pub fn spawn(state: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = recover_at_start(&state).await {
            tracing::warn!(error = %e, "recovering this node's unfinished steps failed; the worker retries them once they are stale");
        }
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = run_once(&state).await {
                tracing::warn!(error = %e, "partner worker pass failed");
            }
        }
    })
}

/// What this node (`Settings::node_id`) left unfinished when its previous run died: its
/// notification leases are released, its interrupted connects undone and its interrupted
/// rotations resumed, at once rather than when they go stale.
pub async fn recover_at_start(state: &AppState) -> Result<(), patchbay_store::StoreError> {
    let node = state.settings().node_id.clone();
    for c in state.store.release_node(&node).await? {
        finish_interrupted(state, &c, "the node running it restarted").await?;
    }
    Ok(())
}

/// One pass: deliver due notifications, finish steps that went stale (whatever node ran them).
pub async fn run_once(state: &AppState) -> Result<(), patchbay_store::StoreError> {
    let node = state.settings().node_id.as_str();
    for n in state.store.claim_notifications(20, LEASE_MILLIS, node).await? {
        let (delivered, outcome) = deliver(state, &n).await;
        state.store.settle_notification(&n, delivered, &outcome).await?;
    }
    let stale = state.settings().stale_connect_millis;
    for c in state.store.stale_steps(stale).await? {
        finish_interrupted(state, &c, "it was not finished in time").await?;
    }
    Ok(())
}

fn worker_actor() -> Actor {
    Actor::system("patchbay")
}

/// Ends a step nobody is running any more: a connect still `CONNECTING` is undone (the token
/// sent to the partner died with the process); a rotation still pending is resumed with a
/// fresh token (the pending one's value is lost), or undone if the partner cannot take it.
async fn finish_interrupted(
    state: &AppState,
    c: &ConnectionRecord,
    why: &str,
) -> Result<(), patchbay_store::StoreError> {
    let actor = worker_actor();
    if c.state == ConnectionState::Connecting {
        tracing::warn!(partner_id = %c.partner_id, reason = why, "undoing an interrupted connect");
        state
            .store
            .undo_connect(
                c.workspace_id,
                &c.partner_id,
                &c.uid,
                &actor,
                &format!("the connect was interrupted before the partner confirmed it ({why})"),
            )
            .await?;
        return Ok(());
    }
    let Some(pending) = &c.pending_token_id else {
        return Ok(());
    };
    tracing::warn!(partner_id = %c.partner_id, reason = why, "resuming an interrupted token rotation");
    let endpoint = match catalog::partner(state, c.workspace_id, &c.partner_id).await {
        Ok(partner) => super::flow::endpoint_of(&partner)
            .ok()
            .filter(|e| e.rotate_token_path.is_some())
            .map(|e| (partner, e)),
        Err(_) => None,
    };
    let Some((partner, endpoint)) = endpoint else {
        // Nowhere to deliver a fresh token: the lost one is revoked, the old one stays.
        match state
            .store
            .settle_rotation(c.workspace_id, &c.partner_id, &c.uid, pending, false, &actor)
            .await
        {
            Ok(_) | Err(patchbay_store::StoreError::Changed(_)) => return Ok(()),
            Err(e) => return Err(e),
        }
    };
    let started = match state
        .store
        .begin_rotation(
            c.workspace_id,
            &c.partner_id,
            &actor,
            Rotation::Resume { uid: &c.uid, pending },
            &state.settings().node_id,
        )
        .await
    {
        Ok(started) => started,
        // Settled, deleted or resumed by another step meanwhile.
        Err(
            patchbay_store::StoreError::Changed(_)
            | patchbay_store::StoreError::Refused(_)
            | patchbay_store::StoreError::Missing(_)
            | patchbay_store::StoreError::Rejected(_),
        ) => return Ok(()),
        Err(e) => return Err(e),
    };
    match super::flow::deliver_rotation(state, &partner, &endpoint, started, &actor).await {
        Ok(_) | Err(patchbay_store::StoreError::Changed(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Delivers one claimed notification now; settles it and returns its outcome.
pub async fn deliver_now(
    state: &AppState,
    id: i64,
) -> Result<Option<String>, patchbay_store::StoreError> {
    let node = state.settings().node_id.as_str();
    let Some(n) = state.store.claim_notification(id, LEASE_MILLIS, node).await? else {
        return Ok(None);
    };
    let (delivered, outcome) = deliver(state, &n).await;
    state.store.settle_notification(&n, delivered, &outcome).await?;
    Ok(Some(outcome))
}

/// Sends one notification. 404 `connection_not_found` counts as delivered: the partner has
/// nothing left to delete. So does a partner that no longer exists (nobody left to tell); any
/// other failure to look it up (the database unavailable) leaves the notification to retry.
/// One whose stored payload cannot be read is settled unsent, with an error in the log and
/// the reason as its outcome in the audit trail: retrying cannot mend it, and guessing its
/// fields would tell the partner something nobody asked.
async fn deliver(state: &AppState, n: &Notification) -> (bool, String) {
    let partner = match catalog::partner(state, n.workspace_id, &n.partner_id).await {
        Ok(p) => p,
        Err(e) if e.status == StatusCode::NOT_FOUND => return (true, "partner_removed".into()),
        Err(e) => {
            return (false, format!("failed: cannot look the partner up ({})", e.code));
        }
    };
    let Ok(endpoint) = super::flow::endpoint_of(&partner) else {
        return (true, "no_endpoint".into());
    };
    match &n.owed {
        Owed::DeleteConnection { connection_id } => {
            let request = DeleteConnectionRequest {
                connection_id: connection_id.clone(),
                cloud_provider: state.settings().cloud_provider.as_str().into(),
                databricks_organization_id: n.workspace_id.get(),
                user_info: None,
            };
            let key = format!("notification-{}", n.id);
            match state.partner_client().delete_connection(&endpoint, &request, &key).await {
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
        Owed::Unknown(other) => (true, format!("unknown kind {other}")),
        Owed::Unreadable(why) => {
            tracing::error!(
                notification = n.id,
                partner_id = %n.partner_id,
                kind = %n.kind,
                reason = %why,
                "a stored partner notification cannot be read; it is settled unsent"
            );
            (true, why.clone())
        }
    }
}
