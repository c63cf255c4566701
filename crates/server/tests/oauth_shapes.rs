//! The answers of OAuth and of the unauthenticated endpoints in snapshots
//! (`tests/snapshots/oauth_shapes__*.snap`): `/.well-known/databricks-config`, `/healthz`, the
//! discovery documents, service principals' secrets, the token endpoint's grant and its errors.
//! Every answer's keys must also be in byte order, the order its bytes have always had. No
//! credential appears: the snapshots name the secret and the access token this test got.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::TestApp;
use common::snapshot::redacted;
use serde_json::{Value, json};

/// A request (`form` makes it a form POST), as the admin when `admin`: the answer's status and
/// body, whose keys must be in byte order.
async fn answer(app: &TestApp, path: &str, admin: bool, form: Option<&str>) -> (StatusCode, Value) {
    let mut req = Request::builder().uri(path);
    if admin {
        req = req.header(header::AUTHORIZATION, format!("Bearer {}", app.admin_token));
    }
    if form.is_some() {
        req = req
            .method(Method::POST)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let req = req.body(Body::from(form.unwrap_or_default().to_owned()));
    let (status, bytes) = app.send_bytes(req.expect("request")).await;
    let body: Value = serde_json::from_slice(&bytes).expect("JSON");
    assert_eq!(String::from_utf8_lossy(&bytes), body.to_string(), "{path}: key order");
    (status, body)
}

#[tokio::test]
async fn oauth_answers_keep_their_wire_shapes() {
    let app = TestApp::new().await;
    let mut answers: Vec<(String, Value)> = Vec::new();
    let (_, config) = answer(&app, "/.well-known/databricks-config", false, None).await;
    let account = config["account_id"].as_str().expect("account_id").to_owned();
    answers.push(("databricks_config".into(), config));
    for (name, path) in [
        ("health", "/healthz".to_owned()),
        ("workspace_discovery", "/oidc/.well-known/oauth-authorization-server".into()),
        (
            "account_discovery",
            format!("/oidc/accounts/{account}/.well-known/oauth-authorization-server"),
        ),
    ] {
        let (status, body) = answer(&app, &path, false, None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        answers.push((name.into(), body));
    }

    let sp = app.create_service_principal_entitled("etl", &["workspace-access"]).await;
    let client_id = sp["applicationId"].as_str().expect("applicationId").to_owned();
    let secrets = format!(
        "/api/2.0/accounts/servicePrincipals/{}/credentials/secrets",
        sp["id"].as_str().expect("id")
    );
    let created = app.admin_post(&secrets, json!({"lifetime": "3600s"})).await.ok();
    let secret = created["secret"].as_str().expect("secret").to_owned();
    let secret_id = created["id"].as_str().expect("id").to_owned();
    answers.push(("secret_created".into(), created));
    answers.push(("secret_list".into(), answer(&app, &secrets, true, None).await.1));

    let form = |extra: &str| format!("client_id={client_id}&client_secret={secret}{extra}");
    let mut token = String::new();
    for (name, form, status) in [
        ("token_granted", form("&grant_type=client_credentials&scope=all-apis"), StatusCode::OK),
        (
            "token_error_invalid_client",
            format!("grant_type=client_credentials&client_id={client_id}&client_secret=nope"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "token_error_invalid_scope",
            form("&grant_type=client_credentials&scope=sql"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "token_error_unsupported_grant_type",
            form("&grant_type=password"),
            StatusCode::BAD_REQUEST,
        ),
        ("token_error_invalid_request", String::new(), StatusCode::BAD_REQUEST),
    ] {
        let (got, body) = answer(&app, "/oidc/v1/token", false, Some(&form)).await;
        assert_eq!(got, status, "{name}: {body}");
        if let Some(t) = body["access_token"].as_str() {
            token = t.to_owned();
        }
        answers.push((name.into(), body));
    }
    let deleted = app.admin_delete(&format!("{secrets}/{secret_id}")).await.ok();
    assert_eq!(deleted, json!({}));

    let mut known = vec![
        (account.as_str(), "account_id"),
        (client_id.as_str(), "application_id"),
        (secret.as_str(), "secret"),
        (token.as_str(), "access_token"),
    ];
    for field in ["secret_hash", "create_time", "update_time", "expire_time"] {
        let value = answers.iter().find_map(|(_, b)| b[field].as_str());
        known.push((value.expect(field), field));
    }
    for (name, body) in &answers {
        insta::assert_json_snapshot!(name.clone(), redacted(body, &known));
    }
}
