//! Authentication and `/Me` answer from what earlier requests read, for as long as the database
//! says the same. These tests warm that up and then change the database behind it: through the
//! API, and through a connection of its own, as another process or node would. Every change
//! must show on the very next request.

mod common;

use axum::http::StatusCode;
use common::{ADMIN, SCIM, TestApp};
use serde_json::json;
use sqlx::Executor;

/// Some calls, so that whatever a connection remembers is remembered.
async fn warm(app: &TestApp, token: &str) {
    for _ in 0..8 {
        let me = app.me_as(token).await;
        assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
    }
}

/// Runs `sql` on a connection of its own, outside patchbay.
async fn write_elsewhere(app: &TestApp, sql: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&app.db.url)
        .await
        .expect("a second connection");
    let done = pool.execute(sqlx::AssertSqlSafe(sql.to_owned())).await.expect("the write");
    assert!(done.rows_affected() > 0, "{sql} changed nothing");
    pool.close().await;
}

#[tokio::test]
async fn a_token_deleted_elsewhere_is_refused_on_its_next_use() {
    let app = TestApp::new().await;
    let (_, token) = app.plain_user("leaver@example.com").await;
    warm(&app, &token).await;
    write_elsewhere(
        &app,
        "DELETE FROM tokens WHERE owner_id IN \
           (SELECT id FROM principals WHERE user_name = 'leaver@example.com')",
    )
    .await;
    let me = app.me_as(&token).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{:?}", me.body);
    // The admin's own token still works: only what changed is forgotten for good.
    warm(&app, &app.admin_token).await;
}

#[tokio::test]
async fn a_token_revoked_through_the_api_is_refused_on_its_next_use() {
    let app = TestApp::new().await;
    let (_, token) = app.plain_user("short@example.com").await;
    warm(&app, &token).await;
    let listed = app.admin_get("/api/2.0/token-management/tokens").await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    let token_id = listed.body["token_infos"]
        .as_array()
        .expect("token_infos")
        .iter()
        .find(|t| t["comment"] == "test")
        .map(|t| t["token_id"].as_str().expect("token_id").to_owned())
        .expect("the user's token is listed");
    let revoked = app.admin_delete(&format!("/api/2.0/token-management/tokens/{token_id}")).await;
    assert!(revoked.status.is_success(), "{:?}", revoked.body);
    let me = app.me_as(&token).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{:?}", me.body);
}

#[tokio::test]
async fn me_shows_a_change_made_elsewhere_at_once() {
    let app = TestApp::new().await;
    warm(&app, &app.admin_token).await;
    write_elsewhere(
        &app,
        &format!(
            "UPDATE principals SET display_name = 'Renamed Elsewhere' WHERE user_name = '{ADMIN}'"
        ),
    )
    .await;
    let me = app.me_as(&app.admin_token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["displayName"], "Renamed Elsewhere");
}

#[tokio::test]
async fn a_principal_deactivated_elsewhere_is_refused_on_its_next_request() {
    let app = TestApp::new().await;
    let (_, token) = app.plain_user("paused@example.com").await;
    warm(&app, &token).await;
    write_elsewhere(
        &app,
        "UPDATE principals SET active = 0 WHERE user_name = 'paused@example.com'",
    )
    .await;
    let me = app.me_as(&token).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{:?}", me.body);
}

#[tokio::test]
async fn an_admin_removed_from_admins_elsewhere_loses_admin_rights_at_once() {
    let app = TestApp::new().await;
    let (user_id, token) = app.plain_user("deputy@example.com").await;
    let admins_id = app.scim_id_where("Groups", "displayName%20eq%20%22admins%22").await;
    let added = app
        .admin_patch(
            &format!("{SCIM}/Groups/{admins_id}"),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": user_id}]}],
            }),
        )
        .await;
    assert!(added.status.is_success(), "{:?}", added.body);
    let create_sp = |name: &'static str| {
        let app = &app;
        let token = token.clone();
        async move {
            app.post_as(
                Some(&token),
                &format!("{SCIM}/ServicePrincipals"),
                json!({"displayName": name}),
            )
            .await
            .status
        }
    };
    assert_eq!(create_sp("while-admin").await, StatusCode::CREATED);
    warm(&app, &token).await;
    write_elsewhere(
        &app,
        &format!("DELETE FROM memberships WHERE group_id = {admins_id} AND member_id = {user_id}"),
    )
    .await;
    assert_eq!(create_sp("after-removal").await, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_token_that_expires_while_remembered_is_refused() {
    let app = TestApp::with_manual_clock().await;
    let created = app
        .create_token_as(&app.admin_token, json!({"comment": "brief", "lifetime_seconds": 1}))
        .await;
    let token = created["token_value"].as_str().expect("token_value").to_owned();
    let expiry = created["token_info"]["expiry_time"].as_i64().expect("expiry_time");
    warm(&app, &token).await;
    // Moves to just past the expiry itself, not by a guess of how long a call takes.
    let now = app.state.now_millis();
    assert!(now <= expiry, "{now} is past the expiry {expiry} already");
    app.advance(std::time::Duration::from_millis(
        u64::try_from(expiry - now + 1).expect("expiry ahead"),
    ));
    let me = app.me_as(&token).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{:?}", me.body);
}
