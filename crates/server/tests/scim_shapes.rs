//! The answers of the SCIM API in snapshots (`tests/snapshots/scim_shapes__*.snap`): a user, a
//! service principal and a group as writes and reads answer them, lists with a filter and with
//! `attributes`, `/Me`, the discovery documents, and the error envelopes, SCIM's and
//! Databricks'. Every answer's keys must also be in byte order, the order its bytes have always
//! had.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::snapshot::{get_sorted, redacted};
use common::{SCIM, TestApp};
use serde_json::{Value, json};

/// The admin's `method` on `path` with a JSON `body`: its status and its body, whose keys must
/// be in byte order.
async fn sent(app: &TestApp, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {}", app.admin_token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(match body {
            Value::Null => Body::empty(),
            body => Body::from(body.to_string()),
        })
        .expect("request");
    let (status, bytes) = app.send_bytes(req).await;
    let answer: Value = serde_json::from_slice(&bytes).expect("JSON");
    let text = String::from_utf8_lossy(&bytes);
    assert_eq!(text, answer.to_string(), "{path}: keys out of byte order");
    (status, answer)
}

/// Collects the times a resource carries (`meta.created`, `meta.lastModified`) wherever they
/// stand, and puts group members, listed in the order of their random ids, in order of type.
fn settle(body: &mut Value, times: &mut Vec<String>) {
    match body {
        Value::Object(map) => map.iter_mut().for_each(|(k, v)| match (k.as_str(), v) {
            ("created" | "lastModified", Value::String(s)) => times.push(s.clone()),
            ("members", Value::Array(members)) => {
                members.sort_by_key(|m| (m["type"].to_string(), m["display"].to_string()));
            }
            (_, v) => settle(v, times),
        }),
        Value::Array(items) => items.iter_mut().for_each(|v| settle(v, times)),
        _ => {}
    }
}

#[tokio::test]
async fn scim_answers_keep_their_wire_shapes() {
    let app = TestApp::new().await;
    let mut answers: Vec<(&str, Value)> = Vec::new();
    let mut created = Vec::new();
    for (name, path, body) in [
        (
            "user_created",
            "Users",
            json!({"userName": "ana@example.com", "externalId": "ext-ana",
                   "name": {"givenName": "Ana", "familyName": "Li"},
                   "emails": [{"value": "ana@example.com", "type": "work", "primary": true}],
                   "entitlements": [{"value": "databricks-sql-access"}]}),
        ),
        (
            "service_principal_created",
            "ServicePrincipals",
            json!({"displayName": "etl", "entitlements": [{"value": "workspace-access"}]}),
        ),
    ] {
        let (status, body) = sent(&app, Method::POST, &format!("{SCIM}/{path}"), body).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        created.push(body["id"].as_str().expect("id").to_owned());
        answers.push((name, body));
    }
    let (ana, sp) = (created[0].clone(), created[1].clone());
    let members = json!({"displayName": "analysts",
                         "members": [{"value": ana}, {"value": sp}]});
    let (status, group) = sent(&app, Method::POST, &format!("{SCIM}/Groups"), members).await;
    assert_eq!(status, StatusCode::CREATED, "{group}");
    let group_id = group["id"].as_str().expect("id").to_owned();
    answers.push(("group_created", group));
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                       "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let (status, patched) = sent(&app, Method::PATCH, &format!("{SCIM}/Users/{ana}"), patch).await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    answers.push(("user_patched", patched));

    let filter = "filter=userName%20eq%20%22ana@example.com%22";
    for (name, path) in [
        ("user", format!("Users/{ana}")),
        ("user_projected", format!("Users/{ana}?attributes=emails.value,name")),
        ("user_excluded", format!("Users/{ana}?excludedAttributes=emails,groups,meta")),
        ("service_principal", format!("ServicePrincipals/{sp}")),
        ("group", format!("Groups/{group_id}")),
        (
            "group_with_member_display",
            format!("Groups/{group_id}?attributes=members.display,members.value"),
        ),
        ("user_list_filtered", format!("Users?{filter}")),
        ("user_list_page", format!("Users?{filter}&startIndex=1&count=1&attributes=userName")),
        ("group_list_filtered", "Groups?filter=displayName%20eq%20%22analysts%22".into()),
        ("me", "Me".into()),
    ] {
        answers.push((name, get_sorted(&app, &format!("{SCIM}/{path}")).await));
    }
    // The discovery documents are the same in every run: as they are.
    for (name, path) in [
        ("service_provider_config", "ServiceProviderConfig"),
        ("resource_types", "ResourceTypes"),
        ("resource_type", "ResourceTypes/ServicePrincipal"),
        ("schemas", "Schemas"),
        ("schema", "Schemas/urn:ietf:params:scim:schemas:core:2.0:Group"),
    ] {
        let body = get_sorted(&app, &format!("{SCIM}/{path}")).await;
        insta::assert_json_snapshot!(name, body);
    }

    // The refusals: SCIM's envelope with and without a `scimType`, and Databricks' elsewhere.
    for (name, method, path, status) in [
        ("error_not_found", Method::GET, format!("{SCIM}/Users/123"), StatusCode::NOT_FOUND),
        (
            "error_invalid_filter",
            Method::GET,
            format!("{SCIM}/Users?filter=userName%20zz"),
            StatusCode::BAD_REQUEST,
        ),
        (
            "error_not_implemented",
            Method::POST,
            format!("{SCIM}/Bulk"),
            StatusCode::NOT_IMPLEMENTED,
        ),
        (
            "error_databricks",
            Method::GET,
            "/api/2.1/unity-catalog/catalogs/nope".into(),
            StatusCode::NOT_FOUND,
        ),
        (
            "error_databricks_body",
            Method::POST,
            "/api/2.1/unity-catalog/catalogs".into(),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let body = match method {
            Method::POST => json!({"name": 7}),
            _ => Value::Null,
        };
        let (got, body) = sent(&app, method, &path, body).await;
        assert_eq!(got, status, "{path}: {body}");
        answers.push((name, body));
    }

    // Redacted by what they are: the ids this test made and those of the built-in groups and
    // of the admin, the application id, the times.
    let mut known: Vec<(String, String)> =
        vec![(ana, "ana_id".into()), (sp, "etl_id".into()), (group_id, "analysts_id".into())];
    let me = get_sorted(&app, &format!("{SCIM}/Me")).await;
    known.push((me["id"].as_str().expect("id").into(), "admin_id".into()));
    let groups = get_sorted(&app, &format!("{SCIM}/Groups?attributes=displayName")).await;
    for g in groups["Resources"].as_array().expect("groups") {
        let name = format!("{}_id", g["displayName"].as_str().expect("name"));
        known.push((g["id"].as_str().expect("id").into(), name));
    }
    let application_id = answers[1].1["applicationId"].as_str().expect("app id");
    known.push((application_id.into(), "application_id".into()));
    let mut stamps = Vec::new();
    answers.iter_mut().for_each(|(_, body)| settle(body, &mut stamps));
    known.extend(stamps.into_iter().map(|t| (t, "time".to_owned())));
    let known: Vec<(&str, &str)> = known.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    for (name, body) in &answers {
        insta::assert_json_snapshot!(name.to_string(), redacted(body, &known));
    }
}
