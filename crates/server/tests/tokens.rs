//! Personal access tokens, token management and the token permission, as the admin guide's
//! rotation procedure and the SDKs use them.

mod common;

use axum::http::{Method, StatusCode};
use common::snapshot::{get_sorted, redacted, sorted_by};
use common::{SCIM, TestApp};
use serde_json::{Value, json};

const OBO: &str = "/api/2.0/token-management/on-behalf-of/tokens";
const TOKENS: &str = "/api/2.0/token-management/tokens";
const PERMS: &str = "/api/2.0/permissions/authorization/tokens";

async fn service_principal(app: &TestApp, name: &str) -> Value {
    let r =
        app.admin_post(&format!("{SCIM}/ServicePrincipals"), json!({"displayName": name})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    r.body
}

async fn grant_can_use(app: &TestApp, application_id: &str) {
    let r = app
        .admin_patch(PERMS, json!({"access_control_list": [{"service_principal_name": application_id, "permission_level": "CAN_USE"}]}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

async fn token_count(app: &TestApp) -> usize {
    let r = app.admin_get(TOKENS).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["token_infos"].as_array().expect("token_infos").len()
}

#[tokio::test]
async fn the_guides_rotation_procedure() {
    let app = TestApp::new().await;
    service_principal(&app, "FIVETRAN_USER").await;
    // 1. Find the application id.
    let list = app.admin_get(&format!("{SCIM}/ServicePrincipals")).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    let app_id = list.body["Resources"][0]["applicationId"].as_str().unwrap().to_owned();
    grant_can_use(&app, &app_id).await;
    // 2. Create a token on its behalf (create-token.json).
    let r = app
        .admin_post(OBO, json!({"application_id": app_id, "comment": "Partner Connect", "lifetime_seconds": 1209600}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let token = r.body["token_value"].as_str().unwrap().to_owned();
    assert!(token.starts_with("dapi") && token.len() == 36);
    let info = &r.body["token_info"];
    assert_eq!(info["comment"], "Partner Connect");
    assert_eq!(
        info["expiry_time"].as_i64().unwrap() - info["creation_time"].as_i64().unwrap(),
        1_209_600_000
    );
    assert!(
        info["owner_id"].is_i64()
            && info["created_by_id"].is_i64()
            && info["workspace_id"].is_i64()
    );
    assert_eq!(info["created_by_username"], common::ADMIN);
    // 3. The new token authenticates as the service principal.
    let me = app.me_as(&token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["userName"], app_id);
    // Delete: list, note token_id, DELETE.
    let tokens = app.admin_get(TOKENS).await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    let token_id = tokens.body["token_infos"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["comment"] == "Partner Connect")
        .unwrap()["token_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(token_id.len(), 64);
    let one = app.admin_get(&format!("{TOKENS}/{token_id}")).await;
    assert_eq!(one.status, StatusCode::OK, "{:?}", one.body);
    assert_eq!(one.body["token_info"]["token_id"], token_id, "GET by id is wrapped in token_info");
    assert!(one.body["token_info"]["last_used_day"].is_i64(), "the use above was recorded");
    let del = app.admin_delete(&format!("{TOKENS}/{token_id}")).await;
    assert_eq!(del.status, StatusCode::OK);
    let after = app.me_as(&token).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    let again = app.admin_delete(&format!("{TOKENS}/{token_id}")).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.body["error_code"], "RESOURCE_DOES_NOT_EXIST");
}

#[tokio::test]
async fn a_service_principal_without_can_use_gets_no_token() {
    let app = TestApp::new().await;
    let sp = service_principal(&app, "NO_TOKENS").await;
    let r =
        app.admin_post(OBO, json!({"application_id": sp["applicationId"], "comment": "x"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("CAN_USE"));
    assert_eq!(token_count(&app).await, 1, "only the admin's token exists");
}

#[tokio::test]
async fn losing_can_use_revokes_at_once() {
    let app = TestApp::new().await;
    let (_, user_token) = app.plain_user("worker@example.com").await;
    let sp = service_principal(&app, "PARTNER_USER").await;
    let app_id = sp["applicationId"].as_str().unwrap();
    grant_can_use(&app, app_id).await;
    let sp_token = app.admin_post(OBO, json!({"application_id": app_id})).await.ok()["token_value"]
        .as_str()
        .unwrap()
        .to_owned();
    for t in [&user_token, &sp_token] {
        assert_eq!(app.me_as(t).await.status, StatusCode::OK);
    }
    // Replace the ACL with admins only: users and the service principal lose CAN_USE.
    let r = app
        .admin_put(PERMS, json!({"access_control_list": [{"group_name": "admins", "permission_level": "CAN_MANAGE"}]}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    for t in [&user_token, &sp_token] {
        let r = app.me_as(t).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let me = app.admin_get(&format!("{SCIM}/Me")).await;
    assert_eq!(me.status, StatusCode::OK, "admins keep their tokens");
}

#[tokio::test]
async fn leaving_the_group_that_grants_can_use_revokes() {
    let app = TestApp::new().await;
    let sp = service_principal(&app, "GROUPED").await;
    let (sp_id, app_id) = (sp["id"].as_str().unwrap(), sp["applicationId"].as_str().unwrap());
    let gid = app.create_group("token-users", &[sp_id]).await;
    let r = app
        .admin_patch(PERMS, json!({"access_control_list": [{"group_name": "token-users", "permission_level": "CAN_USE"}]}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let token = app.admin_post(OBO, json!({"application_id": app_id})).await;
    assert_eq!(token.status, StatusCode::OK, "CAN_USE through a group counts: {:?}", token.body);
    let token = token.body["token_value"].as_str().unwrap().to_owned();
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "remove", "path": format!("members[value eq \"{sp_id}\"]")}]});
    app.admin_patch(&format!("{SCIM}/Groups/{gid}"), patch).await;
    let r = app.me_as(&token).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn deleting_a_service_principal_deletes_its_tokens() {
    let app = TestApp::new().await;
    let sp = service_principal(&app, "GONE").await;
    let app_id = sp["applicationId"].as_str().unwrap();
    grant_can_use(&app, app_id).await;
    let r = app.admin_post(OBO, json!({"application_id": app_id})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let token = r.body["token_value"].as_str().unwrap().to_owned();
    assert_eq!(token_count(&app).await, 2);
    app.admin_delete(&format!("{SCIM}/ServicePrincipals/{app_id}")).await;
    assert_eq!(token_count(&app).await, 1);
    let r = app.me_as(&token).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn own_tokens_create_list_delete() {
    let app = TestApp::new().await;
    let (_, token) = app.plain_user("self@example.com").await;
    let created =
        app.create_token_as(&token, json!({"comment": "laptop", "lifetime_seconds": 3600})).await;
    let second = created["token_value"].as_str().unwrap().to_owned();
    let info = &created["token_info"];
    assert!(info.get("owner_id").is_none(), "own tokens show the public info only");
    let new_id = info["token_id"].as_str().unwrap().to_owned();

    let never = app.create_token_as(&second, json!({"comment": "forever"})).await;
    assert_eq!(never["token_info"]["expiry_time"], -1);

    let list = app.get_as(Some(&token), "/api/2.0/token/list").await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    let comments = common::strings(&list.body, "token_infos", "comment");
    assert_eq!(comments, ["test", "laptop", "forever"], "only the caller's own tokens");

    // Someone else's token id is simply not found.
    let admin_list = app.admin_get(TOKENS).await;
    assert_eq!(admin_list.status, StatusCode::OK, "{:?}", admin_list.body);
    let admin_token_id = &common::strings(&admin_list.body, "token_infos", "token_id")[0];
    let r = app.delete_token_as(&token, admin_token_id).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = app.delete_token_as(&token, &new_id).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.me_as(&second).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let app = TestApp::with_manual_clock().await;
    let created = app
        .create_token_as(&app.admin_token, json!({"comment": "short", "lifetime_seconds": 1}))
        .await;
    let token = created["token_value"].as_str().unwrap().to_owned();
    assert_eq!(app.me_as(&token).await.status, StatusCode::OK);
    app.advance(std::time::Duration::from_millis(1100));
    let r = app.me_as(&token).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn non_admins_get_403_on_token_management_and_permissions() {
    let app = TestApp::new().await;
    let (_, token) = app.plain_user("nosy@example.com").await;
    let sp = service_principal(&app, "X").await;
    let any_id = "0".repeat(64);
    let calls = [
        (Method::GET, TOKENS.to_owned(), None),
        (Method::GET, format!("{TOKENS}/{any_id}"), None),
        (Method::DELETE, format!("{TOKENS}/{any_id}"), None),
        (Method::POST, OBO.to_owned(), Some(json!({"application_id": sp["applicationId"]}))),
        (Method::GET, PERMS.to_owned(), None),
        (Method::PATCH, PERMS.to_owned(), Some(json!({"access_control_list": []}))),
        (Method::PUT, PERMS.to_owned(), Some(json!({"access_control_list": []}))),
    ];
    for (method, path, body) in calls {
        let r = app.call(method.clone(), &path, Some(&token), body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(r.body["error_code"], "PERMISSION_DENIED");
    }
    assert_eq!(token_count(&app).await, 2);
}

#[tokio::test]
async fn bad_token_requests_are_400_and_create_nothing() {
    let app = TestApp::new().await;
    let sp = service_principal(&app, "BAD_INPUT").await;
    let app_id = sp["applicationId"].as_str().unwrap().to_owned();
    grant_can_use(&app, &app_id).await;
    let bodies = [
        json!({"application_id": app_id, "lifetime_seconds": 0}),
        json!({"application_id": app_id, "lifetime_seconds": -1}),
        json!({"application_id": app_id, "lifetime_seconds": 9_000_000_000_i64}),
        json!({"application_id": app_id, "lifetime_seconds": "3600"}),
        json!({"application_id": app_id, "comment": "x".repeat(5000)}),
        json!({"application_id": "00000000-0000-0000-0000-000000000000"}),
        json!({"application_id": "not-a-uuid"}),
        json!({}),
        json!({"application_id": app_id, "surprise": true}),
    ];
    for body in bodies {
        let r = app.admin_post(OBO, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {:?}", r.body);
        assert!(r.body["error_code"].is_string() && r.body["message"].is_string());
    }
    let req = axum::http::Request::builder()
        .method(Method::POST)
        .uri(OBO)
        .header("authorization", format!("Bearer {}", app.admin_token))
        .body(axum::body::Body::from("{not json"))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["error_code"], "MALFORMED_REQUEST");
    let r = app.admin_get(&format!("{TOKENS}/nope")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.admin_get(&format!("{TOKENS}?created_by_id=abc")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(token_count(&app).await, 1, "nothing was created");
}

#[tokio::test]
async fn the_workspace_maximum_lifetime_applies() {
    let app = TestApp::with_max_token_lifetime(Some(3600)).await;
    let r = app.admin_post("/api/2.0/token/create", json!({"lifetime_seconds": 7200})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["message"].as_str().unwrap().contains("maximum token lifetime of 3600 seconds"));
    let r = app.admin_post("/api/2.0/token/create", json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let info = &r.body["token_info"];
    assert_eq!(
        info["expiry_time"].as_i64().unwrap() - info["creation_time"].as_i64().unwrap(),
        3_600_000
    );
}

#[tokio::test]
async fn token_management_filters_by_creator() {
    let app = TestApp::new().await;
    let (user_id, token) = app.plain_user("maker@example.com").await;
    app.post_as(Some(&token), "/api/2.0/token/create", json!({"comment": "mine"})).await;
    let by_name = app.admin_get(&format!("{TOKENS}?created_by_username=maker@example.com")).await;
    assert_eq!(by_name.status, StatusCode::OK, "{:?}", by_name.body);
    let mut comments = common::strings(&by_name.body, "token_infos", "comment");
    // Both may be created in the same millisecond; their order is then the token ids'.
    comments.sort_unstable();
    assert_eq!(comments, ["mine", "test"]);
    let by_id = app.admin_get(&format!("{TOKENS}?created_by_id={user_id}")).await;
    assert_eq!(by_id.status, StatusCode::OK, "{:?}", by_id.body);
    assert_eq!(by_id.body["token_infos"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn token_permissions_get_put_patch_and_levels() {
    let app = TestApp::new().await;
    let r = app.admin_get(PERMS).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["object_id"], "authorization/tokens");
    assert_eq!(r.body["object_type"], "tokens");
    let acl = r.body["access_control_list"].as_array().unwrap();
    assert!(acl.contains(&json!({"group_name": "admins", "display_name": "admins",
        "all_permissions": [{"permission_level": "CAN_MANAGE", "inherited": false}]})));
    assert!(acl.contains(&json!({"group_name": "users", "display_name": "users",
        "all_permissions": [{"permission_level": "CAN_USE", "inherited": false}]})));

    let dropped = app.admin_put(PERMS, json!({"access_control_list": [{"group_name": "users", "permission_level": "CAN_USE"}]})).await;
    assert_eq!(dropped.status, StatusCode::BAD_REQUEST);
    assert_eq!(dropped.body["message"], "Cannot change permissions for group 'admins' to None.");
    let demoted = app.admin_patch(PERMS, json!({"access_control_list": [{"group_name": "admins", "permission_level": "CAN_USE"}]})).await;
    assert_eq!(demoted.status, StatusCode::BAD_REQUEST, "{:?}", demoted.body);
    assert_eq!(demoted.body["message"], "Cannot change permissions for group 'admins' to CAN_USE.");
    let unknown_level = app.admin_patch(PERMS, json!({"access_control_list": [{"group_name": "users", "permission_level": "CAN_FLY"}]})).await;
    assert_eq!(unknown_level.status, StatusCode::BAD_REQUEST);
    let unknown_principal = app.admin_patch(PERMS, json!({"access_control_list": [{"user_name": "ghost@example.com", "permission_level": "CAN_USE"}]})).await;
    assert_eq!(unknown_principal.status, StatusCode::BAD_REQUEST);
    let two_names = app.admin_patch(PERMS, json!({"access_control_list": [{"user_name": "admin@example.com", "group_name": "users", "permission_level": "CAN_USE"}]})).await;
    assert_eq!(two_names.status, StatusCode::BAD_REQUEST);
    let after = app.admin_get(PERMS).await;
    assert_eq!(after.status, StatusCode::OK, "{:?}", after.body);
    assert_eq!(after.body, r.body, "refused updates change nothing");

    let levels = app.admin_get(&format!("{PERMS}/permissionLevels")).await;
    assert_eq!(levels.status, StatusCode::OK, "{:?}", levels.body);
    let names = common::strings(&levels.body, "permission_levels", "permission_level");
    assert_eq!(names, ["CAN_USE", "CAN_MANAGE"]);
    let alias = app.admin_get("/api/2.0/preview/permissions/authorization/tokens").await;
    assert_eq!(alias.status, StatusCode::OK, "{:?}", alias.body);
    assert_eq!(alias.body, r.body);
}

// ---- wire shapes ----

/// The answers of the token, token-management and token permission APIs in snapshots
/// (`tests/snapshots/tokens__*.snap`). A token's value is in its create answer only: the
/// snapshots of the lists and of GET name every value the test minted, so one that appeared
/// there would change them.
#[tokio::test]
async fn token_answers_keep_their_wire_shapes() {
    let app = TestApp::new().await;
    let own = app
        .create_token_as(&app.admin_token, json!({"comment": "mine", "lifetime_seconds": 3600}))
        .await;
    let sp = service_principal(&app, "SHAPES").await;
    let app_id = sp["applicationId"].as_str().expect("applicationId");
    grant_can_use(&app, app_id).await;
    let obo = app.admin_post(OBO, json!({"application_id": app_id, "comment": "on behalf"})).await;
    assert_eq!(obo.status, StatusCode::OK, "{:?}", obo.body);
    let obo_id = obo.body["token_info"]["token_id"].as_str().expect("token_id").to_owned();
    let secret = |r: &Value| r["token_value"].as_str().expect("token_value").to_owned();
    let (own_value, obo_value) = (secret(&own), secret(&obo.body));
    let known = [
        (own_value.as_str(), "own_token_value"),
        (obo_value.as_str(), "obo_token_value"),
        (app.admin_token.as_str(), "admin_token_value"),
        (app_id, "application_id"),
    ];
    let get = |path: String| {
        let app = &app;
        async move { get_sorted(app, &path).await }
    };
    for (name, body) in [
        ("created_own", own.clone()),
        ("created_on_behalf_of", obo.body.clone()),
        ("own_list", sorted_by(get("/api/2.0/token/list".into()).await, "token_infos", "comment")),
        ("management_list", sorted_by(get(TOKENS.into()).await, "token_infos", "comment")),
        ("management_get", get(format!("{TOKENS}/{obo_id}")).await),
        ("permissions", get(PERMS.into()).await),
        ("permission_levels", get(format!("{PERMS}/permissionLevels")).await),
    ] {
        insta::assert_json_snapshot!(name, redacted(&body, &known));
    }
    // A token value where none belongs would show in a snapshot: redaction never hides one.
    let listed = get(TOKENS.into()).await;
    let mut leaked = listed.clone();
    leaked["token_infos"][0]["token_value"] = json!(obo_value);
    let shown = redacted(&leaked, &known);
    assert_eq!(shown["token_infos"][0]["token_value"], "[obo_token_value]");
    assert_ne!(shown, redacted(&listed, &known));
    for (method, path, body) in [
        (
            Method::POST,
            "/api/2.0/token/delete".to_owned(),
            Some(json!({"token_id": own["token_info"]["token_id"]})),
        ),
        (Method::DELETE, format!("{TOKENS}/{obo_id}"), None),
    ] {
        let r = app.admin(method, &path, body).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
        assert_eq!(r.body, json!({}), "{path}");
    }
}
