//! `patchbay admin check`'s rules on a database that holds what older versions could leave
//! behind: a connection's row gone while its principal, warehouse and token stayed (a stale
//! delete), and a rotation's token the connection never recorded.

mod common;

use axum::http::StatusCode;
use common::{TestApp, behind_the_back};
use patchbay_store::{Violation, ViolationKind};

const PC: &str = "/api/2.0/partner-connect";

/// What `patchbay admin check` finds: stale after a minute, any undelivered job at once.
async fn violations(app: &TestApp) -> Vec<Violation> {
    app.store.check_integrity(60_000, 0).await.expect("integrity check")
}

/// Completes `partner_id`'s provisioned connection as the partner's answer (connection `c-1`)
/// would; the connection as it was before, and whether the store took the completion.
async fn complete(
    app: &TestApp,
    admin: &patchbay_core::access::WorkspaceAdmin,
    partner_id: &str,
) -> (patchbay_store::ConnectionRecord, bool) {
    let c = app
        .store
        .connection(app.workspace_id, partner_id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no connection of {partner_id}"));
    let completed = app
        .store
        .complete_connection(
            admin,
            partner_id,
            patchbay_store::Completion {
                uid: &c.uid,
                partner_connection_id: Some("c-1"),
                message: None,
                account_administrator: None,
            },
        )
        .await
        .unwrap();
    (c, completed)
}

#[tokio::test]
async fn orphans_are_reported_and_repaired_and_live_connections_are_left_alone() {
    let (app, _) = TestApp::serve().await;
    let admin = app.admin_handle().await;
    let node = "a-node";
    // Two connections as a connect's first transaction makes them; the partner never called.
    for p in ["rivery", "hevo-data"] {
        app.store.provision_connection(&admin, &common::ingest_plan(p), node).await.unwrap();
    }
    // hevo-data completes; rivery's row vanishes as under the old stale delete.
    let (_, completed) = complete(&app, &admin, "hevo-data").await;
    assert!(completed);
    let found = violations(&app).await;
    assert!(found.is_empty(), "{found:#?}");
    behind_the_back(&app, "DELETE FROM connections WHERE partner_id = 'rivery'").await;

    let found = violations(&app).await;
    let mut kinds: Vec<(&str, ViolationKind)> =
        found.iter().map(|v| (v.object_type, v.kind)).collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            ("service_principal", ViolationKind::Orphan),
            ("token", ViolationKind::Orphan),
            ("warehouse", ViolationKind::Orphan),
        ],
        "{found:#?}"
    );
    assert!(found.iter().all(|v| v.partner_id == "rivery"), "{found:#?}");

    let repairs = app.store.repair_integrity(60_000).await.unwrap();
    assert_eq!(repairs.removed.len(), 3, "{repairs:#?}");
    let found = violations(&app).await;
    assert!(found.is_empty(), "{found:#?}");
    // What the orphans were is gone; hevo-data's connection is whole.
    let sps = app.admin_get("/api/2.0/preview/scim/v2/ServicePrincipals").await;
    assert_eq!(sps.status, StatusCode::OK, "{:?}", sps.body);
    let names = common::strings(&sps.body, "Resources", "displayName");
    assert_eq!(names, vec!["HEVO_DATA_USER"]);
    let c = app.admin_get(&format!("{PC}/connections/hevo-data")).await;
    assert_eq!(c.status, StatusCode::OK, "{:?}", c.body);
    assert_eq!(c.body["connection"]["state"], "CONNECTED", "{:?}", c.body);
}

#[tokio::test]
async fn an_untracked_partner_token_and_a_broken_connection_are_reported() {
    let (app, _) = TestApp::serve().await;
    let admin = app.admin_handle().await;
    let actor = patchbay_store::Actor::of(&admin);
    app.store.provision_connection(&admin, &common::ingest_plan("rivery"), "a-node").await.unwrap();
    let (c, completed) = complete(&app, &admin, "rivery").await;
    assert!(completed);
    // A rotation of an older version: the new token minted, the connection never told.
    let started = app
        .store
        .begin_rotation(
            app.workspace_id,
            "rivery",
            &actor,
            patchbay_store::Rotation::Deliver { uid: None },
            "a-node",
        )
        .await
        .unwrap();
    behind_the_back(&app, "UPDATE connections SET pending_token_id = NULL, pending_since = NULL")
        .await;
    // And the warehouse deleted behind the connection's back.
    let w = app
        .admin_delete(&format!("/api/2.0/sql/warehouses/{}", c.warehouse_id.clone().unwrap()))
        .await;
    assert_eq!(w.status, StatusCode::OK, "{:?}", w.body);

    let found = violations(&app).await;
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found.iter().any(|v| v.kind == ViolationKind::Orphan
        && v.object_type == "token"
        && v.object_id == started.token_id));
    assert!(found.iter().any(|v| v.kind == ViolationKind::Broken && v.object_type == "warehouse"));
    // Repair revokes the untracked token and leaves the broken connection to an admin.
    let repairs = app.store.repair_integrity(60_000).await.unwrap();
    assert_eq!(repairs.removed.len(), 1, "{repairs:#?}");
    let left = violations(&app).await;
    assert_eq!(left.len(), 1, "{left:#?}");
    assert_eq!(left[0].kind, ViolationKind::Broken);
    let t = app.admin_get(&format!("/api/2.0/token-management/tokens/{}", started.token_id)).await;
    assert_eq!(t.status, StatusCode::NOT_FOUND, "revoked: {:?}", t.body);
}
