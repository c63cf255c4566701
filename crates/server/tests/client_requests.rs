//! Requests exactly as real clients send them where they differ from the SDKs' way:
//!
//! - the legacy `databricks-cli` 0.18 sends `Content-Type: text/json` on every request and the
//!   parameters of a DELETE as a JSON body (`unity-catalog metastores unassign` sends
//!   `{"metastore_id": …}`, `metastores delete --force` sends `{"force": true}`);
//! - the JS SDK (`@databricks/sdk-experimental` 0.17) sends a PATCH without any body, also
//!   when the caller gave it an access control list.
//!
//! Parameters are read from the query string or the body alike; a required body that is
//! missing is a 400 that changes nothing.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{Reply, SCIM, TestApp, enable_uc, error, invalid, ok};
use serde_json::{Value, json};

const UC: &str = "/api/2.1/unity-catalog";
const PERMS: &str = "/api/2.0/permissions";
const TOKEN_ACL: &str = "/api/2.0/permissions/authorization/tokens";

/// A request as `databricks_cli.sdk.api_client.ApiClient.perform_query` sends it: Bearer
/// token, `Content-Type: text/json`, and for methods other than GET the JSON body (`{}` when
/// the command has no parameters).
async fn legacy_cli(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Reply {
    raw(app, method, path, Some("text/json"), body.map(|b| b.to_string())).await
}

/// A [`legacy_cli`] request that must answer 200; its body.
async fn cli_ok(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Value {
    let r = legacy_cli(app, method.clone(), path, body).await;
    assert_eq!(r.status, StatusCode::OK, "{method} {path}: {:?}", r.body);
    r.body
}

/// `… delete` as the legacy CLI sends it (a DELETE with `{}`), which must answer 200.
async fn cli_delete(app: &TestApp, path: &str) {
    cli_ok(app, Method::DELETE, path, Some(json!({}))).await;
}

/// Any request with the admin's token, a content type (or none) and a body (or none).
async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Option<String>,
) -> Reply {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {}", app.admin_token))
        .header(header::USER_AGENT, "databricks-cli-0.18.0-test");
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    let req = req.body(body.map_or_else(Body::empty, Body::from)).expect("request");
    app.send(req).await
}

async fn current_assignment(app: &TestApp) -> Reply {
    app.admin_get(&format!("{UC}/current-metastore-assignment")).await
}

async fn metastore_exists(app: &TestApp, id: &str) -> bool {
    let r = app.admin_get(&format!("{UC}/metastores/{id}")).await;
    match r.status {
        StatusCode::OK => true,
        StatusCode::NOT_FOUND => {
            assert_eq!(r.body["error_code"], "METASTORE_DOES_NOT_EXIST");
            false
        }
        other => panic!("GET metastore answered {other}: {:?}", r.body),
    }
}

/// The admin's reads of `paths`, in order; each must answer 200.
async fn read_all(app: &TestApp, paths: &[String]) -> Vec<Value> {
    let mut all = Vec::new();
    for path in paths {
        let r = app.admin_get(path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.body);
        all.push(r.body);
    }
    all
}

async fn names(app: &TestApp, path: &str, key: &str) -> Vec<String> {
    let r = app.admin_get(path).await;
    ok(&r);
    let mut names = common::strings(&r.body, key, "name");
    names.sort();
    names
}

#[tokio::test]
async fn legacy_cli_unassigns_and_force_deletes_a_metastore_with_body_parameters() {
    let app = TestApp::new().await;
    let id = enable_uc(&app).await;
    let assignment = format!("{UC}/workspaces/{}/metastore", app.workspace_id);

    // The query string and the body disagree: refused, still assigned.
    let r = legacy_cli(
        &app,
        Method::DELETE,
        &format!("{assignment}?metastore_id={id}"),
        Some(json!({"metastore_id": "another"})),
    )
    .await;
    invalid(&r, "metastore_id");
    let r = current_assignment(&app).await;
    ok(&r);
    assert_eq!(r.body["metastore_id"], id);

    // `databricks unity-catalog metastores unassign --workspace-id … --metastore-id …`
    cli_ok(&app, Method::DELETE, &assignment, Some(json!({"metastore_id": id}))).await;
    let r = current_assignment(&app).await;
    error(&r, StatusCode::NOT_FOUND, "METASTORE_DOES_NOT_EXIST", "No metastore");

    // `metastores delete --id …` without --force sends {"force": false}: the metastore still
    // holds `main`, so it stays.
    let path = format!("{UC}/metastores/{id}");
    let r = legacy_cli(&app, Method::DELETE, &path, Some(json!({"force": false}))).await;
    error(&r, StatusCode::BAD_REQUEST, "METASTORE_NOT_EMPTY", "force=true");
    assert!(metastore_exists(&app, &id).await);
    // `--force`, disagreeing with the query string: refused.
    let r = legacy_cli(
        &app,
        Method::DELETE,
        &format!("{path}?force=false"),
        Some(json!({"force": true})),
    )
    .await;
    invalid(&r, "force");
    assert!(metastore_exists(&app, &id).await);
    // `--force`, agreeing with the query string (any case): deleted.
    cli_ok(&app, Method::DELETE, &format!("{path}?force=True"), Some(json!({"force": true}))).await;
    assert!(!metastore_exists(&app, &id).await);
}

#[tokio::test]
async fn legacy_cli_deletes_tables_schemas_and_catalogs() {
    let app = TestApp::new().await;
    enable_uc(&app).await;
    for (path, body) in [
        ("/schemas", json!({"catalog_name": "main", "name": "sales"})),
        ("/schemas", json!({"catalog_name": "main", "name": "ops"})),
        (
            "/tables",
            json!({"catalog_name": "main", "schema_name": "sales", "name": "orders",
                   "table_type": "MANAGED", "data_source_format": "DELTA",
                   "columns": [{"name": "id", "type_name": "LONG", "type_text": "bigint"}]}),
        ),
    ] {
        cli_ok(&app, Method::POST, &format!("{UC}{path}"), Some(body)).await;
    }
    let tables = format!("{UC}/tables?catalog_name=main&schema_name=sales");
    assert_eq!(names(&app, &tables, "tables").await, ["orders"]);

    // `tables delete --full-name main.sales.orders`: DELETE with `{}`.
    cli_delete(&app, &format!("{UC}/tables/main.sales.orders")).await;
    assert!(names(&app, &tables, "tables").await.is_empty());

    // `schemas delete --full-name main.ops`.
    cli_delete(&app, &format!("{UC}/schemas/main.ops")).await;
    let schemas = format!("{UC}/schemas?catalog_name=main");
    assert_eq!(names(&app, &schemas, "schemas").await, ["default", "sales"]);

    // `catalogs delete --name sales_cat` (the CLI sends `{}`), and a non-empty catalog with
    // force in the body, as other clients send it.
    for name in ["empty_cat", "full_cat"] {
        cli_ok(&app, Method::POST, &format!("{UC}/catalogs"), Some(json!({"name": name}))).await;
    }
    cli_ok(
        &app,
        Method::POST,
        &format!("{UC}/schemas"),
        Some(json!({"catalog_name": "full_cat", "name": "kept"})),
    )
    .await;
    cli_delete(&app, &format!("{UC}/catalogs/empty_cat")).await;
    let r =
        legacy_cli(&app, Method::DELETE, &format!("{UC}/catalogs/full_cat"), Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert!(
        names(&app, &format!("{UC}/catalogs"), "catalogs").await.contains(&"full_cat".to_owned()),
        "a refused delete keeps the catalog"
    );
    cli_ok(&app, Method::DELETE, &format!("{UC}/catalogs/full_cat"), Some(json!({"force": true})))
        .await;
    assert_eq!(
        names(&app, &format!("{UC}/catalogs"), "catalogs").await,
        ["hive_metastore", "main"]
    );
}

#[tokio::test]
async fn legacy_cli_reads_with_text_json_and_parameters_in_a_body() {
    let app = TestApp::new().await;
    enable_uc(&app).await;
    cli_ok(
        &app,
        Method::POST,
        &format!("{UC}/schemas"),
        Some(json!({"catalog_name": "main", "name": "sales"})),
    )
    .await;

    // GETs carry `Content-Type: text/json` and no body (parameters in the query string)…
    let by_query =
        legacy_cli(&app, Method::GET, &format!("{UC}/schemas?catalog_name=main"), None).await;
    ok(&by_query);
    // …and other clients put them in a body; both read the same.
    let by_body = legacy_cli(
        &app,
        Method::GET,
        &format!("{UC}/schemas"),
        Some(json!({"catalog_name": "main"})),
    )
    .await;
    ok(&by_body);
    assert_eq!(by_body.body, by_query.body);
    let both = legacy_cli(
        &app,
        Method::GET,
        &format!("{UC}/schemas?catalog_name=main"),
        Some(json!({"catalog_name": "main", "max_results": 0})),
    )
    .await;
    ok(&both);
    assert_eq!(both.body, by_query.body);
    let r = legacy_cli(
        &app,
        Method::GET,
        &format!("{UC}/schemas?catalog_name=main"),
        Some(json!({"catalog_name": "hive_metastore"})),
    )
    .await;
    invalid(&r, "catalog_name");

    // `unity-catalog permissions get --catalog main` and `update --json …`.
    let grants = format!("{UC}/permissions/catalog/main");
    cli_ok(
        &app,
        Method::PATCH,
        &grants,
        Some(json!({"changes": [{"principal": "users", "add": ["USE_CATALOG"]}]})),
    )
    .await;
    let r = legacy_cli(&app, Method::GET, &grants, None).await;
    ok(&r);
    assert!(
        r.body["privilege_assignments"]
            .as_array()
            .expect("privilege_assignments")
            .iter()
            .any(|a| a["principal"] == "users" && a["privileges"] == json!(["USE_CATALOG"])),
        "{:?}",
        r.body
    );
    let r = legacy_cli(&app, Method::GET, &grants, Some(json!({"principal": "users"}))).await;
    ok(&r);
    assert_eq!(
        r.body["privilege_assignments"],
        json!([{"principal": "users", "privileges": ["USE_CATALOG"]}])
    );

    // A SCIM list with its parameters in a body; a disagreement in the SCIM envelope.
    app.create_user("ana@example.com").await;
    app.create_user("bo@example.com").await;
    let r = legacy_cli(
        &app,
        Method::GET,
        &format!("{SCIM}/Users"),
        Some(json!({"filter": "userName eq \"bo@example.com\"", "count": 5})),
    )
    .await;
    ok(&r);
    let listed = common::strings(&r.body, "Resources", "userName");
    assert_eq!(listed, ["bo@example.com"]);
    let r =
        legacy_cli(&app, Method::GET, &format!("{SCIM}/Users?count=1"), Some(json!({"count": 2})))
            .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(r.body["status"], "400", "{:?}", r.body);
    assert!(r.body["detail"].as_str().expect("detail").contains("count"), "{:?}", r.body);
}

#[tokio::test]
async fn legacy_cli_tokens_create_list_and_revoke() {
    let app = TestApp::new().await;
    // `databricks tokens create --comment cli --lifetime-seconds 3600`
    let r = legacy_cli(
        &app,
        Method::POST,
        "/api/2.0/token/create",
        Some(json!({"lifetime_seconds": 3600, "comment": "cli"})),
    )
    .await;
    ok(&r);
    let token_id = r.body["token_info"]["token_id"].as_str().expect("token_id").to_owned();
    // `tokens list`: a GET with text/json; a `{}` body (what perform_query would send for any
    // other method) reads the same.
    for body in [None, Some(json!({}))] {
        let r = legacy_cli(&app, Method::GET, "/api/2.0/token/list", body).await;
        ok(&r);
        let ids = common::strings(&r.body, "token_infos", "token_id");
        assert!(ids.contains(&token_id), "{:?}", r.body);
    }
    // `tokens revoke --token-id …`
    cli_ok(&app, Method::POST, "/api/2.0/token/delete", Some(json!({"token_id": token_id}))).await;
    let r = legacy_cli(&app, Method::GET, "/api/2.0/token/list", None).await;
    ok(&r);
    assert!(
        !r.body["token_infos"]
            .as_array()
            .expect("token_infos")
            .iter()
            .any(|t| t["token_id"] == token_id.as_str()),
        "{:?}",
        r.body
    );
}

#[tokio::test]
async fn body_parameters_that_are_not_json_or_not_an_object_are_refused_and_delete_nothing() {
    let app = TestApp::new().await;
    let id = enable_uc(&app).await;
    let path = format!("{UC}/metastores/{id}");
    for (content_type, body, code) in [
        (Some("text/json"), "{\"force\": tru", "MALFORMED_REQUEST"),
        (Some("application/x-www-form-urlencoded"), "force=true", "MALFORMED_REQUEST"),
        (None, "[\"force\"]", "INVALID_PARAMETER_VALUE"),
        (Some("application/json"), "true", "INVALID_PARAMETER_VALUE"),
    ] {
        let r = raw(
            &app,
            Method::DELETE,
            &format!("{path}?force=true"),
            content_type,
            Some(body.to_owned()),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {:?}", r.body);
        assert_eq!(r.body["error_code"], code, "{body}: {:?}", r.body);
        assert!(metastore_exists(&app, &id).await, "{body} deleted it");
    }
    // An empty body or JSON null is no parameters at all.
    for body in ["", "  ", "null"] {
        let r = raw(
            &app,
            Method::GET,
            &format!("{UC}/catalogs"),
            Some("text/json"),
            Some(body.to_owned()),
        )
        .await;
        ok(&r);
    }
}

/// The JS SDK's `permissions.update` and `grants.update`: PATCH without a body.
#[tokio::test]
async fn a_patch_without_a_body_is_a_400_that_changes_nothing() {
    let app = TestApp::new().await;
    enable_uc(&app).await;
    let wh = app.create_warehouse("w", "2X-Small").await;
    let user = "someone@example.com";
    app.create_user(user).await;
    let warehouse_acl = format!("{PERMS}/warehouses/{wh}");
    let r = app
        .admin_patch(
            &warehouse_acl,
            json!({"access_control_list": [{"user_name": user, "permission_level": "CAN_USE"}]}),
        )
        .await;
    ok(&r);
    let grants = format!("{UC}/permissions/catalog/main");
    let r = app
        .admin_patch(&grants, json!({"changes": [{"principal": user, "add": ["USE_CATALOG"]}]}))
        .await;
    ok(&r);

    let read = |path: String| {
        let app = &app;
        async move {
            let r = app.admin_get(&path).await;
            ok(&r);
            r.body
        }
    };
    let before = (
        read(warehouse_acl.clone()).await,
        read(TOKEN_ACL.to_owned()).await,
        read(grants.clone()).await,
    );
    for (method, path, needle) in [
        (Method::PATCH, warehouse_acl.as_str(), "access_control_list"),
        (Method::PUT, warehouse_acl.as_str(), "access_control_list"),
        (Method::PATCH, TOKEN_ACL, "access_control_list"),
        (Method::PUT, TOKEN_ACL, "access_control_list"),
        (Method::PATCH, grants.as_str(), "changes"),
    ] {
        // No body at all (the JS SDK), an empty one, and `{}`.
        for (content_type, body) in [
            (Some("application/json"), None),
            (None, Some(String::new())),
            (Some("application/json"), Some("{}".to_owned())),
        ] {
            let r = raw(&app, method.clone(), path, content_type, body.clone()).await;
            invalid(&r, needle);
        }
    }
    let after = (
        read(warehouse_acl.clone()).await,
        read(TOKEN_ACL.to_owned()).await,
        read(grants.clone()).await,
    );
    assert_eq!(after, before, "a refused update changes nothing");
    assert!(
        after.0["access_control_list"]
            .as_array()
            .expect("access_control_list")
            .iter()
            .any(|e| e["user_name"] == user),
        "{:?}",
        after.0
    );

    // An explicit empty list is a request: PATCH adds nothing, PUT removes the direct entries.
    let r = app.admin_patch(&warehouse_acl, json!({"access_control_list": []})).await;
    ok(&r);
    assert_eq!(read(warehouse_acl.clone()).await, before.0);
    let r = app.admin_patch(&grants, json!({"changes": []})).await;
    ok(&r);
    assert_eq!(read(grants.clone()).await, before.2);

    // A body stays optional where nothing in it is required.
    let r = raw(&app, Method::POST, "/api/2.0/token/create", Some("application/json"), None).await;
    ok(&r);
    assert!(r.body["token_value"].is_string(), "{:?}", r.body);
}

/// Every endpoint whose body holds something required answers a request without a body
/// with a 400 in its own envelope, and changes nothing.
#[tokio::test]
async fn every_required_body_that_is_missing_is_a_400() {
    let app = TestApp::new().await;
    enable_uc(&app).await;
    let sp = app.create_service_principal_entitled("KEEP_USER", &["databricks-sql-access"]).await;
    let sp_id = sp["id"].as_str().expect("id").to_owned();
    let user_id = app.create_user("kept@example.com").await;
    let group_id = app.create_group("kept", &[&user_id]).await;
    let kept = [
        format!("{SCIM}/ServicePrincipals/{sp_id}"),
        format!("{SCIM}/Users/{user_id}"),
        format!("{SCIM}/Groups/{group_id}"),
    ];
    let scim_before = read_all(&app, &kept).await;
    let ws = app.workspace_id;
    let databricks = [
        (Method::POST, "/api/2.0/token/delete".to_owned()),
        (Method::POST, "/api/2.0/token-management/on-behalf-of/tokens".to_owned()),
        (Method::POST, format!("{UC}/metastores")),
        (Method::PUT, format!("{UC}/workspaces/{ws}/metastore")),
        (Method::POST, format!("{UC}/catalogs")),
        (Method::POST, format!("{UC}/schemas")),
        (Method::POST, format!("{UC}/tables")),
        (Method::PATCH, format!("{UC}/permissions/catalog/main")),
        (Method::PATCH, TOKEN_ACL.to_owned()),
        (Method::PUT, TOKEN_ACL.to_owned()),
        (Method::POST, "/api/2.0/sql/statements".to_owned()),
        (Method::POST, "/api/2.1/clusters/create".to_owned()),
        (Method::POST, "/api/2.1/clusters/edit".to_owned()),
        (Method::POST, "/api/2.1/clusters/start".to_owned()),
        (Method::POST, "/api/2.1/clusters/delete".to_owned()),
        (Method::POST, "/api/2.1/clusters/permanent-delete".to_owned()),
        (Method::POST, "/api/2.2/jobs/update".to_owned()),
        (Method::POST, "/api/2.2/jobs/reset".to_owned()),
        (Method::POST, "/api/2.2/jobs/delete".to_owned()),
    ];
    for (method, path) in databricks {
        let r = raw(&app, method.clone(), &path, None, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{method} {path}: {:?}", r.body);
        assert!(
            r.body["error_code"].is_string() && r.body["message"].is_string(),
            "{method} {path}: {:?}",
            r.body
        );
    }
    let scim = [
        (Method::POST, format!("{SCIM}/Users")),
        (Method::POST, format!("{SCIM}/Groups")),
        (Method::PUT, format!("{SCIM}/ServicePrincipals/{sp_id}")),
        (Method::PUT, format!("{SCIM}/Users/{user_id}")),
        (Method::PUT, format!("{SCIM}/Groups/{group_id}")),
        (Method::PATCH, format!("{SCIM}/ServicePrincipals/{sp_id}")),
        (Method::PATCH, format!("{SCIM}/Users/{user_id}")),
        (Method::PATCH, format!("{SCIM}/Groups/{group_id}")),
    ];
    for (method, path) in scim {
        let r = raw(&app, method.clone(), &path, Some("application/scim+json"), None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{method} {path}: {:?}", r.body);
        assert_eq!(r.body["status"], "400", "{method} {path}: {:?}", r.body);
        assert!(r.body["detail"].is_string(), "{method} {path}: {:?}", r.body);
    }
    let scim_after = read_all(&app, &kept).await;
    assert_eq!(scim_after, scim_before, "refused writes changed nothing");
    let r = current_assignment(&app).await;
    ok(&r);
    assert_eq!(r.body["default_catalog_name"], "main");
}

/// `unity-catalog catalogs delete --purge`: the CLI lists the catalog's tables with
/// `table-summaries`, deletes each, then each schema, then the catalog.
#[tokio::test]
async fn legacy_cli_purges_a_catalog_through_table_summaries() {
    let app = TestApp::new().await;
    enable_uc(&app).await;
    let post = |path: &'static str, body: Value| {
        let app = &app;
        async move {
            cli_ok(app, Method::POST, &format!("{UC}{path}"), Some(body)).await;
        }
    };
    post("/catalogs", json!({"name": "doomed"})).await;
    for schema in ["raw", "clean"] {
        post("/schemas", json!({"catalog_name": "doomed", "name": schema})).await;
        for table in ["orders", "order_lines", "users"] {
            post(
                "/tables",
                json!({"catalog_name": "doomed", "schema_name": schema, "name": table,
                       "table_type": "MANAGED", "data_source_format": "DELTA"}),
            )
            .await;
        }
    }
    let summaries = |query: &'static str| {
        let app = &app;
        async move {
            let r =
                legacy_cli(app, Method::GET, &format!("{UC}/table-summaries?{query}"), None).await;
            ok(&r);
            r.body["tables"]
                .as_array()
                .expect("tables")
                .iter()
                .map(|t| {
                    assert_eq!(t["table_type"], "MANAGED", "{t}");
                    t["full_name"].as_str().expect("full_name").to_owned()
                })
                .collect::<Vec<_>>()
        }
    };
    let all = summaries("catalog_name=doomed").await;
    assert_eq!(all.len(), 6, "{all:?}");
    assert_eq!(
        summaries("catalog_name=doomed&schema_name_pattern=r%25&table_name_pattern=order%25").await,
        ["doomed.raw.order_lines", "doomed.raw.orders"]
    );
    let r = legacy_cli(&app, Method::GET, &format!("{UC}/table-summaries"), None).await;
    invalid(&r, "catalog_name");

    for table in &all {
        cli_delete(&app, &format!("{UC}/tables/{table}")).await;
    }
    assert!(summaries("catalog_name=doomed").await.is_empty());
    // The CLI deletes every schema `schemas list` shows (`information_schema` aside).
    let schemas = names(&app, &format!("{UC}/schemas?catalog_name=doomed"), "schemas").await;
    assert!(
        schemas.contains(&"raw".to_owned()) && schemas.contains(&"clean".to_owned()),
        "{schemas:?}"
    );
    for schema in schemas {
        cli_delete(&app, &format!("{UC}/schemas/doomed.{schema}")).await;
    }
    cli_delete(&app, &format!("{UC}/catalogs/doomed")).await;
    assert_eq!(
        names(&app, &format!("{UC}/catalogs"), "catalogs").await,
        ["hive_metastore", "main"]
    );
}
