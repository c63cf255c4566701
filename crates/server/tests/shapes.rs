//! The answers of the Secrets API and the legacy Groups API in snapshots
//! (`tests/snapshots/shapes__*.snap`): a field added, renamed or dropped fails here. A secret's
//! value never appears: the snapshots name the one the test put, so it would show.

mod common;

use axum::http::{Method, StatusCode};
use common::TestApp;
use common::snapshot::{get_sorted, redacted};
use serde_json::{Value, json};

/// An admin's call that must answer 200; its body.
async fn ok(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Value {
    let r = app.admin(method, path, body).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
    r.body
}

#[tokio::test]
async fn secret_answers_keep_their_wire_shapes() {
    let app = TestApp::new().await;
    let base = "/api/2.0/secrets";
    let value = "s3cr3t-value-never-returned";
    let mut changes = Vec::new();
    for (path, body) in [
        ("scopes/create", json!({"scope": "shapes"})),
        ("put", json!({"scope": "shapes", "key": "password", "string_value": value})),
        ("acls/put", json!({"scope": "shapes", "principal": "users", "permission": "READ"})),
    ] {
        changes.push(ok(&app, Method::POST, &format!("{base}/{path}"), Some(body)).await);
    }
    assert!(changes.iter().all(|b| *b == json!({})), "{changes:?}");
    let known = [(value, "secret_value")];
    for (name, path) in [
        ("secret_scopes", "scopes/list"),
        ("secrets", "list?scope=shapes"),
        ("secret_acl", "acls/get?scope=shapes&principal=users"),
        ("secret_acls", "acls/list?scope=shapes"),
    ] {
        let body = get_sorted(&app, &format!("{base}/{path}")).await;
        insta::assert_json_snapshot!(name, redacted(&body, &known));
    }
}

#[tokio::test]
async fn legacy_group_answers_keep_their_wire_shapes() {
    let app = TestApp::new().await;
    let base = "/api/2.0/groups";
    app.create_user("member@example.com").await;
    let created =
        ok(&app, Method::POST, &format!("{base}/create"), Some(json!({"group_name": "shapes"})))
            .await;
    insta::assert_json_snapshot!("group_created", created);
    ok(&app, Method::POST, &format!("{base}/create"), Some(json!({"group_name": "inner"}))).await;
    for body in [
        json!({"parent_name": "shapes", "user_name": "member@example.com"}),
        json!({"parent_name": "shapes", "group_name": "inner"}),
        json!({"parent_name": "inner", "user_name": "member@example.com"}),
    ] {
        let done = ok(&app, Method::POST, &format!("{base}/add-member"), Some(body)).await;
        assert_eq!(done, json!({}));
    }
    for (name, path) in [
        ("group_list", "list"),
        ("group_members", "list-members?group_name=shapes"),
        ("group_parents", "list-parents?user_name=member@example.com"),
    ] {
        let body = get_sorted(&app, &format!("{base}/{path}")).await;
        insta::assert_json_snapshot!(name, body);
    }
}
