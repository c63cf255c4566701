//! Partner Connect over OAuth machine-to-machine (`auth_options: ["AUTH_OAUTH_M2M"]`), end to
//! end with partner-sim on real sockets: the partner receives an OAuth secret and no token,
//! exchanges it at the token endpoint and calls `/Me`; rotation swaps the secret; health warns
//! before it expires; delete ends the partner's access.

mod common;

use axum::http::{Method, StatusCode};
use common::sim::{served_with_sim, sim_get, sim_received};
use common::{SCIM, TestApp, behind_the_back};
use patchbay_partner::sim::SimHandle;
use serde_json::{Value, json};

const PC: &str = "/api/2.0/partner-connect";

/// Registers the custom partner "Acme Ingest" at the simulator, with `auth_options`.
async fn register(app: &TestApp, sim: &SimHandle, auth_options: Value) -> common::Reply {
    app.admin_post(&format!("{PC}/partners"), json!({
            "name": "Acme Ingest", "category": "INGEST", "profile": "ingest",
            "auth_options": auth_options,
            "base_url": sim.url,
            "endpoints": {"connect_path": "/connect", "delete_connection_path": "/delete-connection",
                          "test_connection_path": "/test-connection", "rotate_token_path": "/rotate-token"},
            "credentials": {"username": sim.config.username, "password": sim.config.password},
            "hostnames": ["127.0.0.1"],
        }))
    .await
}

async fn secrets(app: &TestApp, principal_id: &str) -> Vec<String> {
    let r = app
        .admin_get(&format!(
            "/api/2.0/accounts/servicePrincipals/{principal_id}/credentials/secrets"
        ))
        .await
        .ok();
    common::strings(&r, "secrets", "id")
}

#[tokio::test]
async fn auth_options_are_checked_when_a_partner_registers() {
    let (app, sim) = served_with_sim().await;
    for bad in [
        json!(["AUTH_PAT", "AUTH_OAUTH_M2M"]),
        json!(["AUTH_OAUTH_U2M", "AUTH_PAT", "AUTH_OAUTH_M2M"]),
        json!(["AUTH_SOMETHING"]),
    ] {
        let r = register(&app, &sim, bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {:?}", r.body);
    }
    let r = app
        .admin_put(&format!("{PC}/partners/fivetran"), json!({"auth_options": ["AUTH_OAUTH_M2M"]}))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "built-in partners keep PAT");
    let tile = app.admin_get(&format!("{PC}/partners/fivetran")).await.ok();
    assert_eq!(tile["partner"]["auth_options"], json!(["AUTH_PAT"]));
    let r = register(&app, &sim, json!(["AUTH_OAUTH_M2M"])).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["partner"]["auth_options"], json!(["AUTH_OAUTH_M2M"]));
}

#[tokio::test]
async fn an_m2m_partner_gets_a_secret_and_no_token_rotates_it_and_loses_it_on_delete() {
    let (app, sim) = served_with_sim().await;
    let r = register(&app, &sim, json!(["AUTH_OAUTH_M2M"])).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);

    let connected = app.connect_partner("acme-ingest").await.ok();
    let c = &connected["connection"];
    assert_eq!(c["state"], "CONNECTED", "{connected}");
    assert_eq!(c["credential"], "oauth_secret");
    let secret_id = c["token_id"].as_str().unwrap().to_owned();
    assert_eq!(c["oauth_secret"]["id"], secret_id.as_str());
    assert!(
        c["oauth_secret"]["expire_time"].as_i64().unwrap()
            > c["oauth_secret"]["create_time"].as_i64().unwrap()
    );
    assert!(!connected.to_string().contains("dose"), "no value in the answer");
    let sp_id = c["service_principal"]["id"].as_str().unwrap().to_owned();
    let application_id = c["service_principal"]["application_id"].as_str().unwrap().to_owned();
    let partner_connection = c["partner_connection_id"].as_str().unwrap().to_owned();

    // What the partner was sent: the secret and the client id, a null token.
    let sent = sim_received(&sim, "/connect").await.first().expect("a connect")["body"].clone();
    assert_eq!(sent["service_principal_oauth_secret"], "<redacted>", "{sent}");
    assert_eq!(sent["service_principal_id"], application_id.as_str());
    assert_eq!(sent["user_info"]["is_connection_established"], false);

    // The principal has the secret, no token, and workspace access.
    assert_eq!(secrets(&app, &sp_id).await, [secret_id.as_str()]);
    let tokens = app.admin_get("/api/2.0/token-management/tokens").await.ok();
    assert!(
        !tokens.to_string().contains(&application_id)
            && tokens["token_infos"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["owner_id"].to_string().trim_matches('"') != sp_id),
        "{tokens}"
    );
    let sp = app.admin_get(&format!("{SCIM}/ServicePrincipals/{sp_id}")).await.ok();
    assert!(sp["entitlements"].to_string().contains("workspace-access"), "{sp}");

    // Its access works: partner-sim exchanges the secret and calls /Me.
    let (status, who) =
        sim_get(&sim, &format!("/_sim/connections/{partner_connection}/whoami")).await;
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["userName"], application_id.as_str());
    let tested =
        app.admin(Method::POST, &format!("{PC}/connections/acme-ingest/test"), None).await.ok();
    assert_eq!(tested["connection"]["partner_test"]["passed"], true, "{tested}");

    // Rotation: a new secret delivered, the old one deleted.
    let rotated =
        app.admin_post(&format!("{PC}/connections/acme-ingest/rotate-token"), json!({})).await.ok();
    assert_eq!(rotated["delivered"], true, "{rotated}");
    let new_id = rotated["token_id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, secret_id);
    assert_eq!(secrets(&app, &sp_id).await, [new_id.as_str()]);
    let (status, who) =
        sim_get(&sim, &format!("/_sim/connections/{partner_connection}/whoami")).await;
    assert_eq!(status, 200, "the partner holds the new secret: {who}");
    let rotation =
        sim_received(&sim, "/rotate-token").await.first().expect("a rotation")["body"].clone();
    assert_eq!(rotation["service_principal_oauth_secret"], "<redacted>", "{rotation}");

    // Delete: the principal goes, and the partner's access with it.
    app.admin_delete(&format!("{PC}/connections/acme-ingest")).await.ok();
    let (status, _) =
        sim_get(&sim, &format!("/_sim/connections/{partner_connection}/whoami")).await;
    assert_ne!(status, 200, "the partner's access ended");
    let gone = app
        .admin_get(&format!("/api/2.0/accounts/servicePrincipals/{sp_id}/credentials/secrets"))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn health_reports_a_secret_that_expires_soon_or_expired() {
    let (app, sim) = served_with_sim().await;
    register(&app, &sim, json!(["AUTH_OAUTH_M2M"])).await.expect(StatusCode::CREATED);
    let connected = app.connect_partner("acme-ingest").await.ok();
    let secret_id = connected["connection"]["token_id"].as_str().unwrap().to_owned();
    let show = async || {
        app.admin_get(&format!("{PC}/connections/acme-ingest")).await.ok()["connection"].clone()
    };
    assert_eq!(show().await["state"], "CONNECTED");

    let soon = patchbay_core::time::now_millis() + 10 * 86_400_000;
    behind_the_back(
        &app,
        &format!("UPDATE oauth_secrets SET expire_time = {soon} WHERE secret_id = '{secret_id}'"),
    )
    .await;
    let c = show().await;
    assert_eq!(c["state"], "BROKEN", "{c}");
    let reason = c["reasons"][0].as_str().unwrap();
    assert!(reason.contains("expires on") && reason.contains(&secret_id), "{reason}");

    behind_the_back(
        &app,
        &format!("UPDATE oauth_secrets SET expire_time = 1000 WHERE secret_id = '{secret_id}'"),
    )
    .await;
    let c = show().await;
    assert!(c["reasons"][0].as_str().unwrap().contains("expired on 1970-01-01"), "{c}");

    // Rotation replaces it with a fresh one.
    app.admin_post(&format!("{PC}/connections/acme-ingest/rotate-token"), json!({})).await.ok();
    assert_eq!(show().await["state"], "CONNECTED");
}
