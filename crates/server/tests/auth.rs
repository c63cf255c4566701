//! Who may call what: tokens, admins, and the envelopes of refusals.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{ADMIN, SCIM, TestApp};
use serde_json::json;

#[tokio::test]
async fn missing_malformed_and_unknown_tokens_are_401() {
    let app = TestApp::new().await;
    let path = format!("{SCIM}/Me");
    let no_token = app.get_as(None, &path).await;
    assert_eq!(no_token.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no_token.body["status"], "401");
    for token in ["nonsense", "dapi0123456789abcdef0123456789abcdef"] {
        let r = app.get_as(Some(token), &path).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(r.body["detail"], "Invalid access token.");
    }
}

#[tokio::test]
async fn curl_netrc_basic_auth_works() {
    let app = TestApp::new().await;
    use base64::Engine;
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("token:{}", app.admin_token));
    let req = Request::builder()
        .uri(format!("{SCIM}/ServicePrincipals"))
        .header("authorization", format!("Basic {basic}"))
        .body(Body::empty())
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

#[tokio::test]
async fn me_names_the_caller_and_its_workspace() {
    let app = TestApp::new().await;
    let r = app.admin_get(&format!("{SCIM}/Me")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["userName"], ADMIN);
    assert_eq!(r.headers["x-databricks-org-id"].to_str().unwrap(), app.workspace_id.to_string());
    let groups = common::strings(&r.body, "groups", "display");
    assert!(groups.iter().any(|g| g == "admins"), "{groups:?}");
}

#[tokio::test]
async fn a_non_admin_reads_but_gets_403_on_every_scim_write() {
    let app = TestApp::new().await;
    let (user_id, token) = app.plain_user("plain@example.com").await;
    let me = app.me_as(&token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["userName"], "plain@example.com");
    let list = app.get_as(Some(&token), &format!("{SCIM}/Users")).await;
    assert_eq!(list.status, StatusCode::OK);

    let sp = app.create_service_principal("x").await;
    let sp_id = sp["id"].as_str().unwrap().to_owned();
    let group = app.admin_post(&format!("{SCIM}/Groups"), json!({"displayName": "g"})).await;
    assert_eq!(group.status, StatusCode::CREATED, "{:?}", group.body);
    let group_id = group.body["id"].as_str().unwrap().to_owned();
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "add", "path": "entitlements", "value": [{"value": "allow-cluster-create"}]}]});
    let writes = [
        (Method::POST, format!("{SCIM}/Users"), Some(json!({"userName": "x@example.com"}))),
        (Method::POST, format!("{SCIM}/ServicePrincipals"), Some(json!({"displayName": "y"}))),
        (Method::POST, format!("{SCIM}/Groups"), Some(json!({"displayName": "z"}))),
        (
            Method::PUT,
            format!("{SCIM}/Users/{user_id}"),
            Some(json!({"userName": "plain@example.com"})),
        ),
        (Method::PATCH, format!("{SCIM}/Users/{user_id}"), Some(patch.clone())),
        (Method::PATCH, format!("{SCIM}/ServicePrincipals/{sp_id}"), Some(patch.clone())),
        (
            Method::PUT,
            format!("{SCIM}/ServicePrincipals/{sp_id}"),
            Some(json!({"displayName": "y"})),
        ),
        (Method::PATCH, format!("{SCIM}/Groups/{group_id}"), Some(patch)),
        (Method::PUT, format!("{SCIM}/Groups/{group_id}"), Some(json!({"displayName": "g2"}))),
        (Method::DELETE, format!("{SCIM}/ServicePrincipals/{sp_id}"), None),
        (Method::DELETE, format!("{SCIM}/Groups/{group_id}"), None),
        (Method::DELETE, format!("{SCIM}/Users/{user_id}"), None),
    ];
    for (method, path, body) in writes {
        let r = app.call(method.clone(), &path, Some(&token), body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(r.body["status"], "403");
    }
    // Nothing changed.
    let sp_after = app.admin_get(&format!("{SCIM}/ServicePrincipals/{sp_id}")).await;
    assert_eq!(sp_after.status, StatusCode::OK, "{:?}", sp_after.body);
    assert_eq!(sp_after.body["displayName"], "x");
    assert!(sp_after.body.get("entitlements").is_none());
}

#[tokio::test]
async fn a_token_dies_with_its_principal_on_the_very_next_call() {
    let app = TestApp::new().await;
    let (user_id, token) = app.plain_user("leaver@example.com").await;
    let ok = app.me_as(&token).await;
    assert_eq!(ok.status, StatusCode::OK);
    let del = app.admin_delete(&format!("{SCIM}/Users/{user_id}")).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let after = app.me_as(&token).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_deactivated_user_is_refused() {
    let app = TestApp::new().await;
    let (user_id, token) = app.plain_user("paused@example.com").await;
    let r = app
        .admin_put(
            &format!("{SCIM}/Users/{user_id}"),
            json!({"userName": "paused@example.com", "active": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let after = app.me_as(&token).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn discovery_endpoints_need_no_token() {
    let app = TestApp::new().await;
    let health = app.get_as(None, "/healthz").await;
    assert_eq!(health.status, StatusCode::OK);
    let config = app.get_as(None, "/.well-known/databricks-config").await;
    assert_eq!(config.status, StatusCode::OK);
    assert_eq!(
        config.body["workspace_id"],
        app.workspace_id.to_string(),
        "a string, as the Go SDK needs"
    );
    let unknown = app.get_as(None, "/api/2.0/nope").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.body["error_code"], "ENDPOINT_NOT_FOUND");
}
