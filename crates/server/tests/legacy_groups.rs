//! The legacy Groups API (`/api/2.0/groups`) as databricks-cli 0.18's `databricks groups …`
//! sends it (`Content-Type: text/json`, GET parameters in the query or a JSON body): the same
//! groups SCIM serves, admin-only writes, the built-in groups protected, bad input refused.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{
    ALREADY_EXISTS, DOES_NOT_EXIST, INVALID, MALFORMED, Reply, SCIM, TestApp, denied, invalid,
    malformed, ok, refuses_each,
};
use serde_json::{Value, json};

const G: &str = "/api/2.0/groups";

/// A call as the legacy CLI makes it: `text/json`, the body as JSON text.
async fn cli(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Reply {
    let body = body.map_or_else(Body::empty, |b| Body::from(b.to_string()));
    cli_sending(app, token, method, path, body).await
}

/// [`cli`] with the body `body` as it is, JSON or not.
async fn cli_sending(app: &TestApp, token: &str, method: Method, path: &str, body: Body) -> Reply {
    let req = Request::builder()
        .method(method)
        .uri(format!("{G}/{path}"))
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "text/json")
        .body(body)
        .expect("request");
    app.send(req).await
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Reply {
    cli(app, token, Method::POST, path, Some(body)).await
}

/// A legacy-CLI GET of `path` (parameters in its query or in a JSON `body`), which must
/// answer 200.
async fn get_ok(app: &TestApp, token: &str, path: &str, body: Option<Value>) -> Reply {
    let r = cli(app, token, Method::GET, path, body).await;
    assert_eq!(r.status, StatusCode::OK, "GET {path}: {:?}", r.body);
    r
}

/// A legacy-CLI POST of `body` to `path`, which must answer 200.
async fn post_ok(app: &TestApp, token: &str, path: &str, body: Value) {
    let r = post(app, token, path, body).await;
    assert_eq!(r.status, StatusCode::OK, "POST {path}: {:?}", r.body);
}

fn names(r: &Reply) -> Vec<String> {
    r.body["group_names"]
        .as_array()
        .expect("group_names")
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn groups_and_members_as_the_cli_manages_them() {
    let app = TestApp::new().await;
    let admin = app.admin_token.clone();
    app.create_user("ann@example.com").await;

    let r = post(&app, &admin, "create", json!({"group_name": "data-eng"})).await;
    ok(&r);
    assert_eq!(r.body, json!({"group_name": "data-eng"}));
    post_ok(&app, &admin, "create", json!({"group_name": "analysts"})).await;
    let r = get_ok(&app, &admin, "list", None).await;
    assert_eq!(names(&r), ["admins", "analysts", "data-eng", "users"]);

    post_ok(
        &app,
        &admin,
        "add-member",
        json!({"user_name": "Ann@example.com", "parent_name": "data-eng"}),
    )
    .await;
    post_ok(
        &app,
        &admin,
        "add-member",
        json!({"group_name": "analysts", "parent_name": "data-eng"}),
    )
    .await;
    // Adding again changes nothing.
    post_ok(
        &app,
        &admin,
        "add-member",
        json!({"user_name": "ann@example.com", "parent_name": "data-eng"}),
    )
    .await;

    // list-members: from the query string, or from a JSON body on the GET.
    let r = get_ok(&app, &admin, "list-members?group_name=data-eng", None).await;
    assert_eq!(
        r.body["members"],
        json!([{"group_name": "analysts"}, {"user_name": "ann@example.com"}])
    );
    let r = get_ok(&app, &admin, "list-members", Some(json!({"group_name": "data-eng"}))).await;
    assert_eq!(r.body["members"].as_array().unwrap().len(), 2);

    let r = get_ok(&app, &admin, "list-parents?user_name=ann@example.com", None).await;
    assert_eq!(names(&r), ["data-eng", "users"]);
    let r = get_ok(&app, &admin, "list-parents", Some(json!({"group_name": "analysts"}))).await;
    assert_eq!(names(&r), ["data-eng"]);

    // The same group through SCIM.
    let r = app.admin_get(&format!("{SCIM}/Groups?filter=displayName+eq+%22data-eng%22")).await;
    ok(&r);
    assert_eq!(r.body["Resources"][0]["members"].as_array().unwrap().len(), 2);

    post_ok(
        &app,
        &admin,
        "remove-member",
        json!({"user_name": "ann@example.com", "parent_name": "data-eng"}),
    )
    .await;
    let r = cli(&app, &admin, Method::GET, "list-members?group_name=data-eng", None).await;
    assert_eq!(r.body["members"], json!([{"group_name": "analysts"}]));

    post_ok(&app, &admin, "delete", json!({"group_name": "data-eng"})).await;
    let r = cli(&app, &admin, Method::GET, "list", None).await;
    assert_eq!(names(&r), ["admins", "analysts", "users"]);
    let r = get_ok(&app, &admin, "list-parents?group_name=analysts", None).await;
    assert!(names(&r).is_empty());
}

#[tokio::test]
async fn only_admins_change_groups_and_anyone_reads_them() {
    let app = TestApp::new().await;
    let (_, user) = app.plain_user("bob@example.com").await;
    post_ok(&app, &app.admin_token.clone(), "create", json!({"group_name": "ops"})).await;
    for (path, body) in [
        ("create", json!({"group_name": "mine"})),
        ("add-member", json!({"user_name": "bob@example.com", "parent_name": "admins"})),
        ("add-member", json!({"user_name": "bob@example.com", "parent_name": "ops"})),
        ("remove-member", json!({"user_name": "bob@example.com", "parent_name": "users"})),
        ("delete", json!({"group_name": "ops"})),
    ] {
        let r = post(&app, &user, path, body).await;
        denied(&r, "admins");
    }
    let r = get_ok(&app, &user, "list", None).await;
    assert_eq!(names(&r), ["admins", "ops", "users"]);
    let r = get_ok(&app, &user, "list-parents?user_name=bob@example.com", None).await;
    assert_eq!(names(&r), ["users"], "bob did not make himself an admin");
    let r =
        cli(&app, &app.admin_token.clone(), Method::GET, "list-members?group_name=admins", None)
            .await;
    assert_eq!(r.body["members"], json!([{"user_name": common::ADMIN}]));
    let r = app.get_as(None, &format!("{G}/list")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_group_requests_are_refused_and_change_nothing() {
    let app = TestApp::new().await;
    let admin = app.admin_token.clone();
    app.create_user("cy@example.com").await;
    post_ok(&app, &admin, "create", json!({"group_name": "outer"})).await;
    post_ok(&app, &admin, "create", json!({"group_name": "inner"})).await;
    post_ok(&app, &admin, "add-member", json!({"group_name": "inner", "parent_name": "outer"}))
        .await;
    let bad = [
        ("create", json!({}), INVALID, "group_name is required"),
        ("create", json!({"group_name": "  "}), INVALID, "group_name"),
        ("create", json!({"group_name": "outer"}), ALREADY_EXISTS, "outer"),
        ("create", json!({"group_name": 7}), MALFORMED, "Invalid request"),
        ("add-member", json!({"parent_name": "outer"}), INVALID, "Exactly one"),
        (
            "add-member",
            json!({"user_name": "cy@example.com", "group_name": "inner", "parent_name": "outer"}),
            INVALID,
            "Exactly one",
        ),
        ("add-member", json!({"user_name": "cy@example.com"}), INVALID, "parent_name is required"),
        (
            "add-member",
            json!({"user_name": "cy@example.com", "parent_name": "nope"}),
            DOES_NOT_EXIST,
            "Group nope does not exist",
        ),
        (
            "add-member",
            json!({"user_name": "ghost@example.com", "parent_name": "outer"}),
            DOES_NOT_EXIST,
            "ghost@example.com",
        ),
        (
            "add-member",
            json!({"group_name": "outer", "parent_name": "inner"}),
            INVALID,
            "member of itself",
        ),
        (
            "add-member",
            json!({"group_name": "outer", "parent_name": "outer"}),
            INVALID,
            "member of itself",
        ),
        ("add-member", json!({"group_name": "inner", "parent_name": "admins"}), INVALID, "admins"),
        (
            "remove-member",
            json!({"user_name": "cy@example.com", "parent_name": "outer"}),
            DOES_NOT_EXIST,
            "not a member",
        ),
        ("delete", json!({"group_name": "admins"}), INVALID, "built-in"),
        ("delete", json!({"group_name": "users"}), INVALID, "built-in"),
        ("delete", json!({"group_name": "nope"}), DOES_NOT_EXIST, "nope"),
    ];
    refuses_each(bad, async |path, body| post(&app, &admin, path, body).await).await;
    let r = cli(&app, &admin, Method::GET, "list-members", None).await;
    invalid(&r, "group_name is required");
    let r = cli(&app, &admin, Method::GET, "list-parents", None).await;
    invalid(&r, "Exactly one");
    let r = cli(&app, &admin, Method::POST, "create", None).await;
    invalid(&r, "group_name is required");
    let r = cli_sending(&app, &admin, Method::POST, "create", Body::from("{not json")).await;
    malformed(&r, "Malformed JSON");

    let r = cli(&app, &admin, Method::GET, "list", None).await;
    assert_eq!(names(&r), ["admins", "inner", "outer", "users"]);
    let r = cli(&app, &admin, Method::GET, "list-members?group_name=outer", None).await;
    assert_eq!(r.body["members"], json!([{"group_name": "inner"}]));
    let r = cli(&app, &admin, Method::GET, "list-members?group_name=admins", None).await;
    assert_eq!(r.body["members"], json!([{"user_name": common::ADMIN}]));
}

/// Leaving the group that gave the token permission revokes the member's tokens at once, as
/// through SCIM.
#[tokio::test]
async fn leaving_a_group_can_cost_the_token_permission() {
    let app = TestApp::new().await;
    let admin = app.admin_token.clone();
    let sp = app.create_service_principal("loader").await;
    let app_id = sp["applicationId"].as_str().unwrap().to_owned();
    post_ok(&app, &admin, "create", json!({"group_name": "token-holders"})).await;
    ok(&app
        .admin_patch(
            "/api/2.0/permissions/authorization/tokens",
            json!({"access_control_list": [
                {"group_name": "token-holders", "permission_level": "CAN_USE"}]}),
        )
        .await);
    post_ok(
        &app,
        &admin,
        "add-member",
        json!({"user_name": app_id, "parent_name": "token-holders"}),
    )
    .await;
    let r = cli(&app, &admin, Method::GET, "list-members?group_name=token-holders", None).await;
    assert_eq!(r.body["members"], json!([{"service_principal_name": app_id}]));
    let t = app
        .admin_post(
            "/api/2.0/token-management/on-behalf-of/tokens",
            json!({"application_id": app_id}),
        )
        .await;
    ok(&t);
    let token = t.body["token_value"].as_str().unwrap().to_owned();
    let me = app.me_as(&token).await;
    ok(&me);

    post_ok(
        &app,
        &admin,
        "remove-member",
        json!({"user_name": app_id, "parent_name": "token-holders"}),
    )
    .await;
    let me = app.me_as(&token).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED, "{:?}", me.body);
}
