//! Connections that never half-exist: concurrent connects, interrupted connects, and
//! notifications a partner must eventually get.

mod common;

use axum::http::StatusCode;
use common::sim::{point_at_sim, served_with_sim, sim, sim_faults, sim_received, sim_state};
use common::{SCIM, TestApp};
use patchbay_partner::sim::SimHandle;
use patchbay_server::partner_connect::worker;
use patchbay_store::Actor;
use serde_json::{Value, json};
use sqlx::Connection;

const PC: &str = "/api/2.0/partner-connect";

/// Points `partner_id` at the simulator, without a rotate-token extension.
async fn configure(app: &TestApp, partner_id: &str, sim: &SimHandle) {
    let endpoints =
        json!({"connect_path": "/connect", "delete_connection_path": "/delete-connection"});
    point_at_sim(app, partner_id, sim, endpoints).await;
}

async fn counts(app: &TestApp) -> (usize, usize, usize, usize) {
    let sps = app.admin_get(&format!("{SCIM}/ServicePrincipals")).await;
    let tokens = app.admin_get("/api/2.0/token-management/tokens").await;
    let warehouses = app.admin_get("/api/2.0/sql/warehouses").await;
    let connections = app.admin_get(&format!("{PC}/connections")).await;
    let len = |v: &Value| v.as_array().map_or(0, Vec::len);
    (
        len(&sps.body["Resources"]),
        len(&tokens.body["token_infos"]),
        len(&warehouses.body["warehouses"]),
        len(&connections.body["connections"]),
    )
}

#[tokio::test]
async fn twenty_concurrent_connects_make_one_connection() {
    let (app, sim) = served_with_sim().await;
    configure(&app, "rivery", &sim).await;
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move { app.connect_partner("rivery").await }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap().status);
    }
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
        "every click is a connect, a sign-in or a clear conflict: {statuses:?}"
    );
    assert_eq!(
        counts(&app).await,
        (1, 2, 1, 1),
        "one principal, one partner token (+ the admin's), one warehouse, one connection"
    );
    let first_connects = sim_state(&sim).await["received"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["body"]["user_info"]["is_connection_established"] == false)
        .count();
    assert_eq!(first_connects, 1, "the partner saw one first connect");
}

#[tokio::test]
async fn an_interrupted_connect_is_undone_by_the_worker() {
    let (app, sim) = served_with_sim().await;
    configure(&app, "hevo-data", &sim).await;
    let before = counts(&app).await;
    // What a crash right after the first transaction leaves: everything created, the partner
    // never told, the token value gone with the process.
    let admin = app.admin_handle().await;
    app.store
        .provision_connection(&admin, &common::ingest_plan("hevo-data"), "a-node-that-died")
        .await
        .unwrap();
    let tile = app.admin_get(&format!("{PC}/partners/hevo-data")).await;
    assert_eq!(tile.status, StatusCode::OK, "{:?}", tile.body);
    assert_eq!(tile.body["partner"]["connection_state"], "CONNECTING");
    assert_ne!(counts(&app).await, before);

    worker::run_once(&app.state).await.unwrap();
    assert_eq!(counts(&app).await, before, "nothing of the interrupted connect is left");
    assert!(audit_text(&app, "hevo-data").await.contains("interrupted"));
    // A fresh connect now works.
    let r = app.connect_partner("hevo-data").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let _ = Actor::system("");
}

#[tokio::test]
async fn a_failed_delete_notification_is_delivered_later() {
    let (app, _) = TestApp::serve_clocked().await;
    let sim = sim().await;
    configure(&app, "rudderstack", &sim).await;
    let r = app.connect_partner("rudderstack").await;
    assert_eq!(r.status, StatusCode::OK);
    let id = r.body["connection"]["partner_connection_id"].as_str().unwrap().to_owned();
    sim_faults(&sim, json!({"delete_500": 100})).await;
    let del = app.admin_delete(&format!("{PC}/connections/rudderstack")).await;
    assert_eq!(
        del.status,
        StatusCode::OK,
        "the workspace side is deleted whatever the partner says"
    );
    assert!(del.body["partner_status"].as_str().unwrap().starts_with("failed"), "{:?}", del.body);
    assert_eq!(counts(&app).await.3, 0);
    let still = sim_state(&sim).await["connections"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["connection_id"] == id);
    assert!(still, "the partner has not heard yet");

    sim_faults(&sim, json!({})).await;
    // The first retry is scheduled two seconds after the failed attempt.
    app.advance(std::time::Duration::from_millis(2100));
    worker::run_once(&app.state).await.unwrap();
    let gone = !sim_state(&sim).await["connections"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["connection_id"] == id);
    assert!(gone, "the worker delivered the notification");
    worker::run_once(&app.state).await.unwrap();
    let deletes = sim_received(&sim, "/delete-connection").await.len();
    let after = sim_received(&sim, "/delete-connection").await.len();
    assert_eq!(deletes, after, "a delivered notification is not sent again");
}

/// The audit trail of `partner_id` as JSON text; the API must answer 200.
async fn audit_text(app: &TestApp, partner_id: &str) -> String {
    let audit = app.admin_get(&format!("{PC}/audit?partner_id={partner_id}")).await;
    assert_eq!(audit.status, StatusCode::OK, "{:?}", audit.body);
    audit.body.to_string()
}

/// Runs SQL of the test's own on the app's database, beside patchbay's connections.
async fn side_sql(app: &TestApp, sql: &str) {
    let mut side = sqlx::AnyConnection::connect(&app.db.url).await.expect("side connection");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut side).await.expect(sql);
    side.close().await.expect("close");
}

/// How many notifications are still owed to partners.
async fn owed_notifications(app: &TestApp) -> i64 {
    let mut side = sqlx::AnyConnection::connect(&app.db.url).await.expect("side connection");
    let (owed,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM partner_notifications WHERE delivered_at IS NULL")
            .fetch_one(&mut side)
            .await
            .expect("count");
    side.close().await.expect("close");
    owed
}

/// One worker pass with every owed notification due now rather than after its backoff.
async fn retry_owed_notifications_now(app: &TestApp) {
    side_sql(
        app,
        "UPDATE partner_notifications SET next_attempt_at = 0 WHERE delivered_at IS NULL",
    )
    .await;
    worker::run_once(&app.state).await.expect("worker pass");
}

/// Whether the partner still holds the connection `id`.
async fn partner_holds(sim: &SimHandle, id: &str) -> bool {
    sim_state(sim).await["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .any(|c| c["connection_id"] == id)
}

/// Connects `partner_id` to the simulator, then deletes the connection while the partner fails
/// every delete: the workspace side goes, and the notification stays owed to the worker.
/// Answers the partner's id of the connection.
async fn deleted_while_the_partner_fails(
    app: &TestApp,
    sim: &SimHandle,
    partner_id: &str,
) -> String {
    configure(app, partner_id, sim).await;
    let r = app.connect_partner(partner_id).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let id = r.body["connection"]["partner_connection_id"]
        .as_str()
        .expect("partner_connection_id")
        .to_owned();
    sim_faults(sim, json!({"delete_500": 100})).await;
    let del = app.admin_delete(&format!("{PC}/connections/{partner_id}")).await;
    assert_eq!(del.status, StatusCode::OK, "{:?}", del.body);
    assert!(
        del.body["partner_status"].as_str().is_some_and(|s| s.starts_with("failed")),
        "{:?}",
        del.body
    );
    sim_faults(sim, json!({})).await;
    id
}

/// The database fails while the worker delivers a delete notification (the partner's settings
/// cannot be read): the notification stays owed rather than being taken for a partner that no
/// longer exists, and once the database is back the worker tells the partner.
#[tokio::test]
async fn a_store_failure_during_delivery_leaves_the_notification_owed() {
    let (app, sim) = served_with_sim().await;
    let id = deleted_while_the_partner_fails(&app, &sim, "rudderstack").await;

    // The partner's settings cannot be read while the notifications table still works: the
    // worker claims the notification and fails to look the partner up.
    side_sql(&app, "ALTER TABLE partner_settings RENAME TO partner_settings_away").await;
    retry_owed_notifications_now(&app).await;
    assert!(partner_holds(&sim, &id).await, "the partner was not told");
    assert_eq!(
        owed_notifications(&app).await,
        1,
        "the notification is still owed, not settled as 'partner removed'"
    );

    // The database recovers: the next pass delivers it, once.
    side_sql(&app, "ALTER TABLE partner_settings_away RENAME TO partner_settings").await;
    retry_owed_notifications_now(&app).await;
    assert!(!partner_holds(&sim, &id).await, "the worker told the partner after the recovery");
    assert_eq!(owed_notifications(&app).await, 0, "nothing is owed any more");
    let audit = audit_text(&app, "rudderstack").await;
    assert!(!audit.contains("partner_removed"), "{audit}");
}

/// A notification whose stored payload cannot be read (a row edited by hand) is settled unsent:
/// the partner is not asked to delete a connection whose id was guessed, nothing stays owed to
/// be retried forever, and the audit trail gives the reason.
#[tokio::test]
async fn an_unreadable_notification_is_settled_unsent() {
    let (app, sim) = served_with_sim().await;
    let id = deleted_while_the_partner_fails(&app, &sim, "rudderstack").await;
    assert_eq!(owed_notifications(&app).await, 1);
    let sent = sim_received(&sim, "/delete-connection").await.len();

    side_sql(
        &app,
        r#"UPDATE partner_notifications SET payload = '{"databricks_organization_id": 1}'"#,
    )
    .await;
    retry_owed_notifications_now(&app).await;
    assert_eq!(
        sim_received(&sim, "/delete-connection").await.len(),
        sent,
        "nothing was sent for a notification without its connection id"
    );
    assert!(partner_holds(&sim, &id).await);
    assert_eq!(owed_notifications(&app).await, 0, "settled, not retried forever");
    let audit = audit_text(&app, "rudderstack").await;
    assert!(audit.contains("unreadable payload: missing field `connection_id`"), "{audit}");
}

#[tokio::test]
async fn drift_is_reported_and_repaired() {
    let (app, sim) = served_with_sim().await;
    let r = app
        .admin_put(&format!("{PC}/partners/rivery"), json!({"base_url": sim.url,
            "endpoints": {"connect_path": "/connect", "test_connection_path": "/test-connection", "rotate_token_path": "/rotate-token"},
            "credentials": {"username": sim.config.username, "password": sim.config.password}, "hostnames": ["127.0.0.1"]}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.connect_partner("rivery").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let c = &r.body["connection"];
    let (app_id, sp_id, token_id, partner_id) = (
        c["service_principal"]["application_id"].as_str().unwrap().to_owned(),
        c["service_principal"]["id"].as_str().unwrap().to_owned(),
        c["token_id"].as_str().unwrap().to_owned(),
        c["partner_connection_id"].as_str().unwrap().to_owned(),
    );
    // An admin's explicit test: the connection's health and the partner's own verdict.
    let get = || async {
        let r = app.admin_post(&format!("{PC}/connections/rivery/test"), json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["connection"].clone()
    };
    let healthy = get().await;
    assert_eq!(healthy["state"], "CONNECTED");
    assert_eq!(healthy["partner_test"]["passed"], true, "{healthy}");

    // Behind the connection's back: a grant revoked, an entitlement removed, the token deleted.
    let r = app
        .admin_patch(
            "/api/2.1/unity-catalog/permissions/catalog/hive_metastore",
            json!({"changes": [{"principal": app_id, "remove": ["USAGE"]}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "remove", "path": "entitlements[value eq \"allow-cluster-create\"]"}]});
    app.admin_patch(&format!("{SCIM}/ServicePrincipals/{sp_id}"), patch).await;
    let r = app.admin_delete(&format!("/api/2.0/token-management/tokens/{token_id}")).await;
    assert_eq!(r.status, StatusCode::OK);
    let broken = get().await;
    assert_eq!(broken["state"], "BROKEN");
    let reasons = broken["reasons"].to_string();
    assert!(reasons.contains("USAGE on catalog hive_metastore was revoked"), "{reasons}");
    assert!(reasons.contains("was deleted"), "{reasons}");
    assert_eq!(
        broken["partner_test"]["passed"], false,
        "the partner's token no longer works: {broken}"
    );

    let r = app.admin_post(&format!("{PC}/connections/rivery/repair"), json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["state"], "CONNECTED", "{:?}", r.body);
    let repaired = get().await;
    assert_eq!(repaired["state"], "CONNECTED", "{repaired}");
    assert_eq!(repaired["partner_test"]["passed"], true, "{repaired}");
    let sp = app.admin_get(&format!("{SCIM}/ServicePrincipals/{sp_id}")).await;
    assert_eq!(sp.status, StatusCode::OK, "{:?}", sp.body);
    assert!(sp.body["entitlements"].to_string().contains("allow-cluster-create"));
    let who: Value = reqwest::get(format!("{}/_sim/connections/{partner_id}/whoami", sim.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(who["userName"], app_id.as_str(), "the partner holds a working token again");
}
