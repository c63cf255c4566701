//! The answers of the Unity Catalog API in snapshots (`tests/snapshots/catalog_shapes__*.snap`):
//! the metastore and its assignment, catalogs, schemas, tables and their columns, grants direct
//! and effective, pages with a token, and the `{}` of the calls that report nothing. A field
//! added, renamed, dropped, or turned from absent into `null`, fails here; the reads also check
//! that every object's keys are in byte order, the order the bytes have always had.

mod common;

use axum::http::{Method, StatusCode};
use common::TestApp;
use common::snapshot::{get_sorted, redacted};
use serde_json::{Value, json};

const UC: &str = "/api/2.1/unity-catalog";

#[tokio::test]
async fn unity_catalog_answers_keep_their_wire_shapes() {
    let app = TestApp::new().await;
    app.create_user("member@example.com").await;
    let metastore = app
        .admin_post(
            &format!("{UC}/metastores"),
            json!({"name": "primary", "storage_root": "s3://bucket/uc", "region": "us-west-2"}),
        )
        .await
        .ok();
    let id = metastore["metastore_id"].as_str().expect("id").to_owned();
    let known = [(id.as_str(), "metastore_id")];
    let snap = |name: &str, body: &Value| {
        insta::assert_json_snapshot!(name.to_owned(), redacted(body, &known));
    };
    snap("metastore_created", &metastore);

    // The calls that change something: each answers in a shape of its own, or `{}`.
    let workspace = format!("{UC}/workspaces/{}/metastore", app.workspace_id);
    let table = json!({"name": "orders", "catalog_name": "sales", "schema_name": "raw",
        "table_type": "EXTERNAL", "data_source_format": "DELTA",
        "storage_location": "s3://bucket/orders", "comment": "every order",
        "properties": {"owner_team": "sales"},
        "columns": [
            {"name": "id", "type_name": "LONG", "type_text": "bigint", "type_json": "{}",
             "position": 0, "nullable": false, "comment": "the order"},
            {"name": "amount", "type_text": "decimal(10,2)", "position": 1}]});
    let mut empty = Vec::new();
    for (name, method, path, body) in [
        ("", Method::PUT, workspace.clone(), json!({"metastore_id": id})),
        ("", Method::PATCH, workspace.clone(), json!({"default_catalog_name": "main"})),
        (
            "metastore_updated",
            Method::PATCH,
            format!("{UC}/metastores/{id}"),
            json!({"new_name": "renamed", "owner": "admin@example.com"}),
        ),
        (
            "catalog_created",
            Method::POST,
            format!("{UC}/catalogs"),
            json!({"name": "sales", "comment": "the sales", "properties": {"b": "2", "a": "1"},
                   "storage_root": "s3://bucket/sales"}),
        ),
        (
            "catalog_updated",
            Method::PATCH,
            format!("{UC}/catalogs/sales"),
            json!({"comment": "all sales", "owner": "member@example.com"}),
        ),
        (
            "schema_created",
            Method::POST,
            format!("{UC}/schemas"),
            json!({"name": "raw", "catalog_name": "sales", "comment": "as it came"}),
        ),
        (
            "schema_updated",
            Method::PATCH,
            format!("{UC}/schemas/sales.raw"),
            json!({"properties": {"k": "v"}}),
        ),
        ("table_created", Method::POST, format!("{UC}/tables"), table),
        (
            "table_updated",
            Method::PATCH,
            format!("{UC}/tables/sales.raw.orders"),
            json!({"comment": "all orders"}),
        ),
        (
            "catalog_created_bare",
            Method::POST,
            format!("{UC}/catalogs"),
            json!({"name": "scratch"}),
        ),
        (
            "grants_updated",
            Method::PATCH,
            format!("{UC}/permissions/catalog/sales"),
            json!({"changes": [{"principal": "member@example.com",
                                "add": ["USE_CATALOG", "USE_SCHEMA", "SELECT"]}]}),
        ),
        (
            "",
            Method::PATCH,
            format!("{UC}/permissions/schema/sales.raw"),
            json!({"changes": [{"principal": "member@example.com", "add": ["MODIFY"]}],
                   "omit_permissions_in_response": true}),
        ),
    ] {
        let body = app.admin(method, &path, Some(body)).await.ok();
        match name {
            "" => empty.push(body),
            name => snap(name, &body),
        }
    }

    // The reads.
    for (name, path) in [
        ("metastore_summary", "/metastore_summary".to_owned()),
        ("metastore_assignment", "/current-metastore-assignment".into()),
        ("metastore", format!("/metastores/{id}")),
        ("metastore_list", "/metastores".into()),
        ("catalog", "/catalogs/sales".into()),
        ("catalog_hive_metastore", "/catalogs/hive_metastore".into()),
        ("catalog_list", "/catalogs".into()),
        ("catalog_page", "/catalogs?max_results=1".into()),
        ("schema", "/schemas/sales.raw".into()),
        ("schema_list", "/schemas?catalog_name=sales".into()),
        ("schema_page", "/schemas?catalog_name=sales&max_results=1".into()),
        ("table", "/tables/sales.raw.orders".into()),
        ("table_list", "/tables?catalog_name=sales&schema_name=raw".into()),
        (
            "table_list_without_columns",
            "/tables?catalog_name=sales&schema_name=raw&omit_columns=true".into(),
        ),
        ("table_exists", "/tables/sales.raw.orders/exists".into()),
        ("table_summaries", "/table-summaries?catalog_name=sales".into()),
        ("table_summaries_page", "/table-summaries?catalog_name=sales&max_results=1".into()),
        ("grants", "/permissions/catalog/sales".into()),
        (
            "grants_of_principal",
            "/permissions/schema/sales.raw?principal=member@example.com".into(),
        ),
        ("effective_grants", "/effective-permissions/table/sales.raw.orders".into()),
        ("metastore_grants", format!("/permissions/metastore/{id}")),
    ] {
        snap(name, &get_sorted(&app, &format!("{UC}{path}")).await);
    }

    // Deletes report nothing, as the calls above did.
    let unassign = format!("{workspace}?metastore_id={id}");
    for path in [
        format!("{UC}/tables/sales.raw.orders"),
        format!("{UC}/schemas/sales.raw"),
        format!("{UC}/catalogs/scratch"),
        format!("{UC}/catalogs/sales?force=true"),
        unassign,
        format!("{UC}/metastores/{id}?force=true"),
    ] {
        empty.push(app.admin_delete(&path).await.ok());
    }
    assert!(empty.iter().all(|b| *b == json!({})), "{empty:?}");

    // And a refusal, in the Databricks envelope.
    let missing = app.admin_get(&format!("{UC}/catalogs/nope")).await.expect(StatusCode::NOT_FOUND);
    snap("error_catalog_missing", &missing);
}
