//! The Secrets API as `w.secrets` and `databricks secrets` call it: scopes, secrets and ACLs,
//! who may do what (admins, a scope's creator, READ/WRITE/MANAGE holders, groups, service
//! principals), bad input changing nothing, and no secret value in any answer or in the
//! database file.

mod common;

use axum::http::StatusCode;
use base64::Engine;
use common::{
    ALREADY_EXISTS, DOES_NOT_EXIST, INVALID, MALFORMED, Reply, SCIM, TestApp, denied, invalid,
    not_found, ok, refuses_each,
};
use serde_json::{Value, json};

const S: &str = "/api/2.0/secrets";

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Reply {
    app.post_as(Some(token), &format!("{S}/{path}"), body).await
}

async fn get(app: &TestApp, token: &str, path_and_query: &str) -> Reply {
    app.get_as(Some(token), &format!("{S}/{path_and_query}")).await
}

/// A POST of `body` to the secrets API's `path` as `token`, which must answer 200.
async fn post_ok(app: &TestApp, token: &str, path: &str, body: Value) {
    let r = post(app, token, path, body).await;
    assert_eq!(r.status, StatusCode::OK, "POST {path}: {:?}", r.body);
}

/// Gives `principal` `permission` on `scope`, as `token`, which must be allowed to.
async fn put_acl(app: &TestApp, token: &str, scope: &str, principal: &str, permission: &str) {
    let body = json!({"scope": scope, "principal": principal, "permission": permission});
    post_ok(app, token, "acls/put", body).await;
}

fn keys(list: &Reply) -> Vec<String> {
    common::strings(&list.body, "secrets", "key")
}

fn acls(list: &Reply) -> Vec<(String, String)> {
    list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| {
            (
                a["principal"].as_str().unwrap().to_owned(),
                a["permission"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn scope_names(list: &Reply) -> Vec<String> {
    common::strings(&list.body, "scopes", "name")
}

#[tokio::test]
async fn scopes_secrets_and_acls_as_the_sdk_uses_them() {
    let app = TestApp::new().await;
    let admin = app.admin_token.clone();
    post_ok(
        &app,
        &admin,
        "scopes/create",
        json!({"scope": "jdbc", "scope_backend_type": "DATABRICKS"}),
    )
    .await;
    let r = get(&app, &admin, "scopes/list").await;
    ok(&r);
    assert_eq!(r.body["scopes"], json!([{"name": "jdbc", "backend_type": "DATABRICKS"}]));

    let before = patchbay_core::time::now_millis();
    post_ok(
        &app,
        &admin,
        "put",
        json!({"scope": "jdbc", "key": "password", "string_value": "s3cr3t-v4lue"}),
    )
    .await;
    let raw = base64::engine::general_purpose::STANDARD.encode(b"\x00\x01binary-v4lue");
    post_ok(
        &app,
        &admin,
        "put",
        json!({"scope": "jdbc", "key": "keystore.p12", "bytes_value": raw}),
    )
    .await;
    let r = get(&app, &admin, "list?scope=jdbc").await;
    ok(&r);
    assert_eq!(keys(&r), ["keystore.p12", "password"]);
    for s in r.body["secrets"].as_array().unwrap() {
        assert!(s["last_updated_timestamp"].as_i64().unwrap() >= before);
        assert_eq!(s.as_object().unwrap().len(), 2, "key and time only: {s}");
    }
    // Putting a key again replaces it.
    post_ok(
        &app,
        &admin,
        "put",
        json!({"scope": "jdbc", "key": "password", "string_value": "n3w-v4lue"}),
    )
    .await;
    assert_eq!(keys(&get(&app, &admin, "list?scope=jdbc").await).len(), 2);

    // The creator manages the scope.
    let r = get(&app, &admin, "acls/list?scope=jdbc").await;
    ok(&r);
    assert_eq!(acls(&r), [(common::ADMIN.to_owned(), "MANAGE".to_owned())]);
    app.create_user("reader@example.com").await;
    put_acl(&app, &admin, "jdbc", "reader@example.com", "READ").await;
    put_acl(&app, &admin, "jdbc", "users", "READ").await;
    let r = get(&app, &admin, "acls/get?scope=jdbc&principal=reader@example.com").await;
    ok(&r);
    assert_eq!(r.body, json!({"principal": "reader@example.com", "permission": "READ"}));
    put_acl(&app, &admin, "jdbc", "reader@example.com", "WRITE").await;
    let r = get(&app, &admin, "acls/list?scope=jdbc").await;
    assert_eq!(
        acls(&r),
        [
            (common::ADMIN.to_owned(), "MANAGE".to_owned()),
            ("reader@example.com".to_owned(), "WRITE".to_owned()),
            ("users".to_owned(), "READ".to_owned()),
        ]
    );
    post_ok(&app, &admin, "acls/delete", json!({"scope": "jdbc", "principal": "users"})).await;
    let r = get(&app, &admin, "acls/get?scope=jdbc&principal=users").await;
    not_found(&r, "users");

    post_ok(&app, &admin, "delete", json!({"scope": "jdbc", "key": "password"})).await;
    assert_eq!(keys(&get(&app, &admin, "list?scope=jdbc").await), ["keystore.p12"]);
    let r = post(&app, &admin, "delete", json!({"scope": "jdbc", "key": "password"})).await;
    not_found(&r, "password");

    post_ok(&app, &admin, "scopes/delete", json!({"scope": "jdbc"})).await;
    assert!(scope_names(&get(&app, &admin, "scopes/list").await).is_empty());
    let r = get(&app, &admin, "list?scope=jdbc").await;
    not_found(&r, "Scope jdbc does not exist");
    // A scope made again starts empty.
    post_ok(&app, &admin, "scopes/create", json!({"scope": "jdbc"})).await;
    assert!(keys(&get(&app, &admin, "list?scope=jdbc").await).is_empty());
}

#[tokio::test]
async fn no_caller_ever_gets_a_value_back() {
    let app = TestApp::new().await;
    let admin = app.admin_token.clone();
    post_ok(&app, &admin, "scopes/create", json!({"scope": "s"})).await;
    post_ok(&app, &admin, "put", json!({"scope": "s", "key": "k", "string_value": "v"})).await;
    for query in ["get?scope=s&key=k", "get?scope=s&key=missing", "get?scope=missing&key=k", "get"]
    {
        let r = get(&app, &admin, query).await;
        denied(&r, "inside a job or notebook");
    }
    let r = app.get_as(None, &format!("{S}/get?scope=s&key=k")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn who_may_do_what_in_a_scope() {
    let app = TestApp::new().await;
    let admin = app.admin_token.clone();
    let (_, owner) = app.plain_user("owner@example.com").await;
    let (_, reader) = app.plain_user("reader@example.com").await;
    let (_, writer) = app.plain_user("writer@example.com").await;
    let (_, stranger) = app.plain_user("stranger@example.com").await;

    // Any user may create a scope and manages it; admins manage it too.
    post_ok(&app, &owner, "scopes/create", json!({"scope": "team"})).await;
    put_acl(&app, &owner, "team", "reader@example.com", "READ").await;
    put_acl(&app, &owner, "team", "writer@example.com", "WRITE").await;
    post_ok(&app, &admin, "put", json!({"scope": "team", "key": "by-admin", "string_value": "a"}))
        .await;

    // READ lists keys, nothing more.
    let r = get(&app, &reader, "list?scope=team").await;
    ok(&r);
    assert_eq!(keys(&r), ["by-admin"]);
    let r =
        post(&app, &reader, "put", json!({"scope": "team", "key": "k", "string_value": "x"})).await;
    denied(&r, "WRITE");
    let r = get(&app, &reader, "acls/list?scope=team").await;
    denied(&r, "MANAGE");

    // WRITE puts and deletes secrets, but changes no ACL and deletes no scope.
    post_ok(
        &app,
        &writer,
        "put",
        json!({"scope": "team", "key": "by-writer", "string_value": "w"}),
    )
    .await;
    post_ok(&app, &writer, "delete", json!({"scope": "team", "key": "by-admin"})).await;
    let r = post(
        &app,
        &writer,
        "acls/put",
        json!({"scope": "team", "principal": "writer@example.com", "permission": "MANAGE"}),
    )
    .await;
    denied(&r, "MANAGE");
    let r = post(&app, &writer, "scopes/delete", json!({"scope": "team"})).await;
    denied(&r, "MANAGE");

    // No entry: nothing but the scope's name in the list.
    let r = get(&app, &stranger, "scopes/list").await;
    ok(&r);
    assert_eq!(scope_names(&r), ["team"]);
    for r in [
        get(&app, &stranger, "list?scope=team").await,
        post(&app, &stranger, "put", json!({"scope": "team", "key": "k", "string_value": "x"}))
            .await,
        get(&app, &stranger, "acls/get?scope=team&principal=owner@example.com").await,
    ] {
        denied(&r, "permission on scope team");
    }
    assert_eq!(keys(&get(&app, &owner, "list?scope=team").await), ["by-writer"]);

    // A group's level reaches its members; initial_manage_principal=users gives MANAGE to all users.
    put_acl(&app, &admin, "team", "users", "READ").await;
    ok(&get(&app, &stranger, "list?scope=team").await);
    post_ok(
        &app,
        &reader,
        "scopes/create",
        json!({"scope": "shared", "initial_manage_principal": "users"}),
    )
    .await;
    let r = get(&app, &admin, "acls/list?scope=shared").await;
    assert_eq!(acls(&r), [("users".to_owned(), "MANAGE".to_owned())]);
    post_ok(&app, &stranger, "put", json!({"scope": "shared", "key": "k", "string_value": "x"}))
        .await;

    // The owner deletes the scope; everything in it goes.
    post_ok(&app, &owner, "scopes/delete", json!({"scope": "team"})).await;
    let r = get(&app, &admin, "list?scope=team").await;
    not_found(&r, "team");
}

#[tokio::test]
async fn service_principals_hold_acls_by_application_id() {
    let app = TestApp::new().await;
    let admin = app.admin_token.clone();
    let sp = app.create_service_principal("etl").await;
    let app_id = sp["applicationId"].as_str().unwrap().to_owned();
    ok(&app
        .admin_patch(
            "/api/2.0/permissions/authorization/tokens",
            json!({"access_control_list": [
                {"service_principal_name": app_id, "permission_level": "CAN_USE"}]}),
        )
        .await);
    let t = app
        .admin_post(
            "/api/2.0/token-management/on-behalf-of/tokens",
            json!({"application_id": app_id}),
        )
        .await;
    ok(&t);
    let sp_token = t.body["token_value"].as_str().unwrap().to_owned();

    post_ok(&app, &admin, "scopes/create", json!({"scope": "etl"})).await;
    let r = get(&app, &sp_token, "list?scope=etl").await;
    denied(&r, "READ");
    put_acl(&app, &admin, "etl", &app_id, "WRITE").await;
    post_ok(&app, &sp_token, "put", json!({"scope": "etl", "key": "api-key", "string_value": "x"}))
        .await;
    let r = get(&app, &admin, &format!("acls/get?scope=etl&principal={app_id}")).await;
    ok(&r);
    assert_eq!(r.body["permission"], "WRITE");

    // Deleting the principal removes its entry.
    let id = sp["id"].as_str().unwrap();
    let r = app.admin_delete(&format!("{SCIM}/ServicePrincipals/{id}")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = get(&app, &admin, "acls/list?scope=etl").await;
    assert_eq!(acls(&r), [(common::ADMIN.to_owned(), "MANAGE".to_owned())]);
}

#[tokio::test]
async fn bad_secret_requests_are_refused_and_change_nothing() {
    let app = TestApp::new().await;
    let admin = app.admin_token.clone();
    post_ok(&app, &admin, "scopes/create", json!({"scope": "s"})).await;
    let bad = [
        ("scopes/create", json!({}), INVALID, "scope is required"),
        ("scopes/create", json!({"scope": "has space"}), INVALID, "alphanumeric"),
        ("scopes/create", json!({"scope": "x".repeat(129)}), INVALID, "128"),
        ("scopes/create", json!({"scope": "s"}), ALREADY_EXISTS, "Scope s already exists"),
        (
            "scopes/create",
            json!({"scope": "kv", "scope_backend_type": "AZURE_KEYVAULT"}),
            INVALID,
            "AZURE_KEYVAULT",
        ),
        (
            "scopes/create",
            json!({"scope": "p", "initial_manage_principal": "admins"}),
            INVALID,
            "initial_manage_principal",
        ),
        ("scopes/create", json!({"scope": 5}), MALFORMED, "Invalid request"),
        ("scopes/delete", json!({"scope": "nope"}), DOES_NOT_EXIST, "Scope nope does not exist"),
        (
            "put",
            json!({"scope": "nope", "key": "k", "string_value": "v"}),
            DOES_NOT_EXIST,
            "Scope nope does not exist",
        ),
        ("put", json!({"scope": "s", "key": "k"}), INVALID, "string_value"),
        (
            "put",
            json!({"scope": "s", "key": "k", "string_value": "v", "bytes_value": "dg=="}),
            INVALID,
            "Exactly one",
        ),
        ("put", json!({"scope": "s", "key": "k", "bytes_value": "not base64!"}), INVALID, "base64"),
        (
            "put",
            json!({"scope": "s", "key": "bad/key", "string_value": "v"}),
            INVALID,
            "alphanumeric",
        ),
        ("put", json!({"scope": "s", "string_value": "v"}), INVALID, "key is required"),
        (
            "put",
            json!({"scope": "s", "key": "big", "string_value": "x".repeat(128 * 1024 + 1)}),
            INVALID,
            "128 KiB",
        ),
        (
            "acls/put",
            json!({"scope": "s", "principal": "nobody@example.com", "permission": "READ"}),
            DOES_NOT_EXIST,
            "nobody@example.com",
        ),
        (
            "acls/put",
            json!({"scope": "s", "principal": "users", "permission": "OWN"}),
            INVALID,
            "MANAGE, WRITE or READ",
        ),
        ("acls/put", json!({"scope": "s", "permission": "READ"}), INVALID, "principal is required"),
        ("acls/delete", json!({"scope": "s", "principal": "users"}), DOES_NOT_EXIST, "users"),
    ];
    refuses_each(bad, async |path, body| post(&app, &admin, path, body).await).await;
    let r = get(&app, &admin, "list").await;
    invalid(&r, "scope is required");
    // The exact limit is accepted.
    post_ok(
        &app,
        &admin,
        "put",
        json!({"scope": "s", "key": "max", "string_value": "x".repeat(128 * 1024)}),
    )
    .await;

    assert_eq!(scope_names(&get(&app, &admin, "scopes/list").await), ["s"]);
    assert_eq!(keys(&get(&app, &admin, "list?scope=s").await), ["max"]);
    assert_eq!(
        acls(&get(&app, &admin, "acls/list?scope=s").await),
        [(common::ADMIN.to_owned(), "MANAGE".to_owned())]
    );
}

#[tokio::test]
async fn a_scope_holds_at_most_a_thousand_secrets() {
    let app = TestApp::new().await;
    let admin = app.admin_token.clone();
    post_ok(&app, &admin, "scopes/create", json!({"scope": "full"})).await;
    for i in 0..1000 {
        post_ok(
            &app,
            &admin,
            "put",
            json!({"scope": "full", "key": format!("k{i}"), "string_value": "v"}),
        )
        .await;
    }
    let r =
        post(&app, &admin, "put", json!({"scope": "full", "key": "one-more", "string_value": "v"}))
            .await;
    invalid(&r, "1000");
    // Replacing one that exists is still fine.
    post_ok(&app, &admin, "put", json!({"scope": "full", "key": "k7", "string_value": "w"})).await;
    assert_eq!(keys(&get(&app, &admin, "list?scope=full").await).len(), 1000);
}

/// Every value put through the API is absent from every answer and from the database files
/// (WAL included), in clear and in base64.
#[tokio::test]
async fn values_are_nowhere_to_be_found() {
    let app = TestApp::new().await;
    let admin = app.admin_token.clone();
    let clear = "MARKER-clear-0d5b7c1e9a";
    let binary = b"MARKER-bytes-77f3a2c4b1";
    let encoded = base64::engine::general_purpose::STANDARD.encode(binary);
    post_ok(&app, &admin, "scopes/create", json!({"scope": "hidden-scope"})).await;
    let mut answers = vec![
        post(
            &app,
            &admin,
            "put",
            json!({"scope": "hidden-scope", "key": "a", "string_value": clear}),
        )
        .await,
        post(
            &app,
            &admin,
            "put",
            json!({"scope": "hidden-scope", "key": "b", "bytes_value": encoded}),
        )
        .await,
    ];
    for path in [
        "list?scope=hidden-scope",
        "scopes/list",
        "acls/list?scope=hidden-scope",
        "get?scope=hidden-scope&key=a",
    ] {
        answers.push(get(&app, &admin, path).await);
    }
    assert!(answers[..2].iter().all(|r| r.status == StatusCode::OK));
    for r in &answers {
        let text = r.body.to_string();
        for needle in [clear, "MARKER-bytes", encoded.as_str()] {
            assert!(!text.contains(needle), "{needle} in {text}");
        }
    }
    // The database files (SQLite: the file and its WAL) hold the scope's name, which shows the
    // scan reads where the data went, and none of the values.
    if app.db.is_postgres() {
        return;
    }
    let files = app.db.sqlite_files();
    let mut all = Vec::new();
    for path in &files {
        all.extend(std::fs::read(path).expect("read a database file"));
    }
    let holds = |needle: &[u8]| all.windows(needle.len()).any(|w| w == needle);
    assert!(holds(b"hidden-scope"), "the scope is in {files:?}");
    for needle in [clear.as_bytes(), b"MARKER-bytes".as_slice(), encoded.as_bytes()] {
        assert!(!holds(needle), "a secret value is in {files:?}");
    }
}
