//! Unity Catalog and the legacy Hive metastore, black-box: the metastore and its assignment,
//! catalogs, schemas and tables with owners, grants with inheritance, and who may do what. The
//! SQL statements over the same catalog are tested in `crates/sql/tests`.

mod common;

use axum::http::StatusCode;
use common::{
    ADMIN, DOES_NOT_EXIST, INVALID, MALFORMED, Reply, SCIM, TestApp, enable_uc, refuses_each,
};
use patchbay_core::PrincipalId;
use patchbay_core::access::Caller;
use patchbay_core::catalog::Securable;
use patchbay_core::principal::PrincipalKind;
use serde_json::{Value, json};

const UC: &str = "/api/2.1/unity-catalog";

// ---- helpers --------------------------------------------------------------------------------

/// A service principal with a token, the way an admin sets one up: SCIM create, CAN_USE on
/// tokens, an on-behalf-of token. Returns (SCIM id, application id, token).
async fn service_principal(app: &TestApp, name: &str) -> (String, String, String) {
    let r = app.create_service_principal(name).await;
    let id = r["id"].as_str().unwrap().to_owned();
    let app_id = r["applicationId"].as_str().unwrap().to_owned();
    app.admin_patch(
        "/api/2.0/permissions/authorization/tokens",
        json!({"access_control_list": [
                {"service_principal_name": app_id, "permission_level": "CAN_USE"}]}),
    )
    .await
    .expect(StatusCode::OK);
    let r = app
        .admin_post(
            "/api/2.0/token-management/on-behalf-of/tokens",
            json!({"application_id": app_id}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    (id, app_id, r.body["token_value"].as_str().unwrap().to_owned())
}

async fn patch_grants(
    app: &TestApp,
    token: &str,
    securable: &str,
    principal: &str,
    add: &[&str],
    remove: &[&str],
) -> Reply {
    app.patch_as(
        Some(token),
        &format!("{UC}/permissions/{securable}"),
        json!({"changes": [{"principal": principal, "add": add, "remove": remove}]}),
    )
    .await
}

async fn grant(app: &TestApp, securable: &str, principal: &str, add: &[&str]) {
    let r = patch_grants(app, &app.admin_token, securable, principal, add, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{securable}: {:?}", r.body);
}

async fn get(app: &TestApp, token: &str, path: &str) -> Reply {
    app.get_as(Some(token), &format!("{UC}{path}")).await
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> Reply {
    app.post_as(Some(token), &format!("{UC}{path}"), body).await
}

/// A workspace with Unity Catalog enabled ([`enable_uc`]) and the admin's token.
async fn uc_app() -> (TestApp, String) {
    let app = TestApp::new().await;
    enable_uc(&app).await;
    let t = app.admin_token.clone();
    (app, t)
}

/// The store's id of the user `user_name`, who must exist.
async fn id_of_user(app: &TestApp, user_name: &str) -> PrincipalId {
    app.store
        .find_user(app.workspace_id, user_name)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no user {user_name}"))
        .id
}

/// Whether the store counts the principal `id` a metastore admin.
async fn is_metastore_admin(app: &TestApp, id: PrincipalId) -> bool {
    app.store.is_metastore_admin(app.workspace_id, id).await.unwrap()
}

fn names(body: &Value, key: &str) -> Vec<String> {
    common::strings(body, key, "name")
}

/// `{principal: [privileges]}` of a grants response, sorted.
fn grants_of(body: &Value) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = body["privilege_assignments"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|a| {
            let mut p: Vec<String> = a["privileges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p.as_str().unwrap().to_owned())
                .collect();
            p.sort();
            (a["principal"].as_str().unwrap().to_owned(), p)
        })
        .collect();
    out.sort();
    out
}

/// The effective privileges of one principal: (privilege, inherited_from_type, name).
fn effective_of(body: &Value, principal: &str) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = body["privilege_assignments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["principal"] == principal)
        .flat_map(|a| a["privileges"].as_array().unwrap().clone())
        .map(|p| {
            (
                p["privilege"].as_str().unwrap().to_owned(),
                p["inherited_from_type"].as_str().unwrap_or("").to_owned(),
                p["inherited_from_name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

fn triple(p: &str, t: &str, n: &str) -> (String, String, String) {
    (p.to_owned(), t.to_owned(), n.to_owned())
}

async fn create_schema(app: &TestApp, token: &str, catalog: &str, name: &str) -> Reply {
    post(app, token, "/schemas", json!({"catalog_name": catalog, "name": name})).await
}

async fn create_table(
    app: &TestApp,
    token: &str,
    catalog: &str,
    schema: &str,
    name: &str,
) -> Reply {
    post(
        app,
        token,
        "/tables",
        json!({
            "catalog_name": catalog, "schema_name": schema, "name": name,
            "table_type": "MANAGED", "data_source_format": "DELTA",
            "columns": [
                {"name": "id", "type_name": "LONG", "type_text": "bigint", "position": 0, "nullable": false},
                {"name": "amount", "type_name": "DECIMAL", "type_text": "decimal(10,2)", "position": 1},
            ],
        }),
    )
    .await
}

// ---- the metastore --------------------------------------------------------------------------

#[tokio::test]
async fn hive_metastore_exists_before_unity_catalog() {
    let app = TestApp::new().await;
    let token = app.admin_token.clone();
    let r = get(&app, &token, "/catalogs?max_results=0").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(names(&r.body, "catalogs"), ["hive_metastore"]);
    assert!(r.body.get("next_page_token").is_none());
    let hive = &r.body["catalogs"][0];
    assert_eq!(hive["catalog_type"], "INTERNAL_CATALOG");
    assert_eq!(hive["owner"], "admins");
    assert!(hive["created_at"].is_i64());
    let r = get(&app, &token, "/schemas?catalog_name=hive_metastore").await;
    assert_eq!(names(&r.body, "schemas"), ["default"]);
    assert_eq!(r.body["schemas"][0]["full_name"], "hive_metastore.default");

    for path in ["/current-metastore-assignment", "/metastore_summary"] {
        let r = get(&app, &token, path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.body["error_code"], "METASTORE_DOES_NOT_EXIST");
    }
    let r = post(&app, &token, "/catalogs", json!({"name": "main"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    assert_eq!(r.body["error_code"], "METASTORE_DOES_NOT_EXIST");
    assert!(app.store.metastore_assignment(app.workspace_id).await.unwrap().is_none());
}

#[tokio::test]
async fn enabling_unity_catalog_creates_main() {
    let app = TestApp::new().await;
    let (_, user_token) = app.plain_user("someone@example.com").await;
    let r = post(&app, &user_token, "/metastores", json!({"name": "x"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "only admins create metastores");

    let id = enable_uc(&app).await;
    let r = get(&app, &user_token, "/current-metastore-assignment").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"workspace_id": app.workspace_id, "metastore_id": id, "default_catalog_name": "main"})
    );
    assert!(r.body["workspace_id"].is_i64());
    let summary = get(&app, &user_token, "/metastore_summary").await;
    assert_eq!(summary.status, StatusCode::OK, "{:?}", summary.body);
    assert_eq!(summary.body["metastore_id"], id);
    assert_eq!(summary.body["owner"], ADMIN, "the creator is the metastore admin");
    assert_eq!(summary.body["storage_root"], "s3://bucket/uc");
    let one = get(&app, &app.admin_token, &format!("/metastores/{id}")).await;
    assert_eq!(one.status, StatusCode::OK, "{:?}", one.body);
    assert_eq!(one.body["name"], "primary");
    let list = get(&app, &app.admin_token, "/metastores").await;
    assert_eq!(names(&list.body, "metastores"), ["primary"]);
    assert_eq!(list.body["metastores"][0]["metastore_id"], id);

    let catalogs = get(&app, &app.admin_token, "/catalogs").await;
    assert_eq!(names(&catalogs.body, "catalogs"), ["hive_metastore", "main"]);
    let main = &catalogs.body["catalogs"][1];
    assert_eq!(main["catalog_type"], "MANAGED_CATALOG");
    assert_eq!(main["owner"], ADMIN);
    assert_eq!(main["metastore_id"], id);
    let schemas = get(&app, &app.admin_token, "/schemas?catalog_name=main").await;
    assert_eq!(names(&schemas.body, "schemas"), ["default"]);
    // A plain user sees hive_metastore but not main, on which it holds nothing.
    let theirs = get(&app, &user_token, "/catalogs").await;
    assert_eq!(names(&theirs.body, "catalogs"), ["hive_metastore"]);

    // Assigning again (same metastore) keeps main; the store reports it for Partner Connect.
    app.admin_put(
        &format!("{UC}/workspaces/{}/metastore", app.workspace_id),
        json!({"metastore_id": id, "default_catalog_name": "main"}),
    )
    .await
    .expect(StatusCode::OK);
    let assignment = app.store.metastore_assignment(app.workspace_id).await.unwrap().unwrap();
    assert_eq!(assignment.metastore_id, id);
    assert_eq!(assignment.default_catalog_name, "main");
    let admin = id_of_user(&app, ADMIN).await;
    assert_eq!(assignment.owner_id, Some(admin));
    assert!(is_metastore_admin(&app, admin).await);
    let main = app.store.catalog(app.workspace_id, "main").await.unwrap().unwrap();
    assert_eq!(main.meta.owner_id, Some(admin));
    assert!(app.store.schema_exists(app.workspace_id, "main", "default").await.unwrap());
    assert!(!app.store.schema_exists(app.workspace_id, "main", "nope").await.unwrap());
    assert!(!app.store.schema_exists(app.workspace_id, "nope", "default").await.unwrap());
}

#[tokio::test]
async fn metastore_assignment_bad_input() {
    let app = TestApp::new().await;
    let id = enable_uc(&app).await;
    let path = |ws: &str| format!("{UC}/workspaces/{ws}/metastore");
    let ws = app.workspace_id.to_string();
    for (p, body, (status, code)) in [
        (path("1234"), json!({"metastore_id": id}), DOES_NOT_EXIST),
        (path("abc"), json!({"metastore_id": id}), INVALID),
        (path(&ws), json!({}), INVALID),
        (
            path(&ws),
            json!({"metastore_id": "nope"}),
            (StatusCode::NOT_FOUND, "METASTORE_DOES_NOT_EXIST"),
        ),
        (path(&ws), json!({"metastore_id": id, "default_catalog_name": "a.b"}), INVALID),
        (path(&ws), json!({"metastore_id": id, "surprise": 1}), MALFORMED),
    ] {
        let r = app.admin_put(&p, body.clone()).await;
        assert_eq!(
            (r.status, r.body["error_code"].as_str()),
            (status, Some(code)),
            "{p} {body}: {:?}",
            r.body
        );
    }
    app.admin_post(&format!("{UC}/metastores"), json!({"name": " "}))
        .await
        .expect(StatusCode::BAD_REQUEST);
    let r = app.admin_post(&format!("{UC}/metastores"), json!({"name": "primary"})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.body["error_code"], "METASTORE_ALREADY_EXISTS");
    let r = app
        .admin_post(
            &format!("{UC}/metastores"),
            json!({"name": "other", "owner": "nobody@example.com"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["error_code"], "PRINCIPAL_DOES_NOT_EXIST");
    // The assignment is unchanged by all of that.
    let r = get(&app, &app.admin_token, "/current-metastore-assignment").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["metastore_id"], id);
    assert_eq!(r.body["default_catalog_name"], "main");
    // Unassigning turns Unity Catalog off again; hive_metastore stays.
    app.admin_delete(&format!("{}?metastore_id={id}", path(&ws))).await.expect(StatusCode::OK);
    let r = get(&app, &app.admin_token, "/catalogs").await;
    assert_eq!(names(&r.body, "catalogs"), ["hive_metastore"]);
    // A metastore that still holds catalogs is deleted only with force.
    let r = app.admin_delete(&format!("{UC}/metastores/{id}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(r.body["error_code"], "METASTORE_NOT_EMPTY", "{:?}", r.body);
    app.admin_delete(&format!("{UC}/metastores/{id}?force=true")).await.expect(StatusCode::OK);
    let r = get(&app, &app.admin_token, &format!("/metastores/{id}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    assert_eq!(r.body["error_code"], "METASTORE_DOES_NOT_EXIST");
}

#[tokio::test]
async fn a_group_can_be_the_metastore_admin() {
    let app = TestApp::new().await;
    let (user_id, user_token) = app.plain_user("steward@example.com").await;
    app.create_group("uc-admins", &[&user_id]).await;
    let r = app
        .admin_post(&format!("{UC}/metastores"), json!({"name": "grouped", "owner": "uc-admins"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["owner"], "uc-admins");
    let id = r.body["metastore_id"].as_str().unwrap().to_owned();
    app.admin_put(
        &format!("{UC}/workspaces/{}/metastore", app.workspace_id),
        json!({"metastore_id": id, "default_catalog_name": "main"}),
    )
    .await;
    // main belongs to the metastore admin group; its member may do all in it.
    let main = get(&app, &user_token, "/catalogs/main").await;
    assert_eq!(main.status, StatusCode::OK, "{:?}", main.body);
    assert_eq!(main.body["owner"], "uc-admins");
    let r = post(&app, &user_token, "/catalogs", json!({"name": "finance"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["owner"], "steward@example.com");
    // The workspace admin is not a metastore admin and may not create catalogs.
    let r = post(&app, &app.admin_token, "/catalogs", json!({"name": "hr"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("CREATE CATALOG"));
    // Until it is granted CREATE_CATALOG on the metastore.
    patch_grants(&app, &user_token, &format!("metastore/{id}"), ADMIN, &["CREATE_CATALOG"], &[])
        .await
        .expect(StatusCode::OK);
    post(&app, &app.admin_token, "/catalogs", json!({"name": "hr"})).await.expect(StatusCode::OK);
    let steward = id_of_user(&app, "steward@example.com").await;
    assert!(is_metastore_admin(&app, steward).await);
    let admin = id_of_user(&app, ADMIN).await;
    assert!(!is_metastore_admin(&app, admin).await);
    // Grants on the metastore are named by its id.
    get(&app, &user_token, "/permissions/metastore/not-the-id").await.expect(StatusCode::NOT_FOUND);
    let r = get(&app, &user_token, &format!("/permissions/METASTORE/{id}")).await;
    assert_eq!(grants_of(&r.body), [(ADMIN.to_owned(), vec!["CREATE_CATALOG".to_owned()])]);

    // Deleting the admin group leaves the metastore without an owner; the workspace admins
    // then administer it, and can name a new metastore admin.
    let group = app.store.find_group(app.workspace_id, "uc-admins").await.unwrap().unwrap();
    let r = app.admin_delete(&format!("{SCIM}/Groups/{}", group.id)).await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let summary = get(&app, &user_token, "/metastore_summary").await;
    assert_eq!(summary.status, StatusCode::OK, "{:?}", summary.body);
    assert!(summary.body.get("owner").is_none(), "{:?}", summary.body);
    assert!(is_metastore_admin(&app, admin).await);
    assert!(!is_metastore_admin(&app, steward).await);
    let r = app
        .admin_patch(&format!("{UC}/metastores/{id}"), json!({"owner": "steward@example.com"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["owner"], "steward@example.com", "{:?}", r.body);
    assert!(is_metastore_admin(&app, steward).await);
}

// ---- catalogs, schemas, tables --------------------------------------------------------------

#[tokio::test]
async fn catalog_schema_table_lifecycle() {
    let (app, t) = uc_app().await;
    let r = post(
        &app,
        &t,
        "/catalogs",
        json!({"name": "Sales", "comment": "money", "properties": {"team": "fin"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["name"], "sales", "names are lower case");
    assert_eq!(r.body["full_name"], "sales");
    assert_eq!(r.body["comment"], "money");
    assert_eq!(r.body["properties"]["team"], "fin");
    assert_eq!(r.body["owner"], ADMIN);
    let r = post(&app, &t, "/catalogs", json!({"name": "sales"})).await;
    assert_eq!(
        (r.status, r.body["error_code"].as_str()),
        (StatusCode::CONFLICT, Some("CATALOG_ALREADY_EXISTS"))
    );
    post(&app, &t, "/catalogs", json!({"name": "hive_metastore"}))
        .await
        .expect(StatusCode::CONFLICT);

    let r = create_schema(&app, &t, "sales", "raw").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["full_name"], "sales.raw");
    assert!(r.body["schema_id"].is_string());
    let r = create_schema(&app, &t, "sales", "raw").await;
    assert_eq!(
        (r.status, r.body["error_code"].as_str()),
        (StatusCode::CONFLICT, Some("SCHEMA_ALREADY_EXISTS"))
    );
    let r = create_schema(&app, &t, "nope", "raw").await;
    assert_eq!(
        (r.status, r.body["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("CATALOG_DOES_NOT_EXIST"))
    );

    create_table(&app, &t, "sales", "raw", "orders").await.expect(StatusCode::OK);
    let r = get(&app, &t, "/tables/sales.raw.orders").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["full_name"], "sales.raw.orders");
    assert_eq!(r.body["table_type"], "MANAGED");
    assert_eq!(r.body["data_source_format"], "DELTA");
    assert_eq!(r.body["owner"], ADMIN);
    assert!(r.body["created_at"].is_i64() && r.body["updated_at"].is_i64());
    let columns = r.body["columns"].as_array().unwrap();
    assert_eq!(columns.len(), 2);
    assert_eq!(columns[0]["name"], "id");
    assert_eq!(columns[0]["type_name"], "LONG");
    assert_eq!(columns[0]["nullable"], false);
    assert_eq!(columns[1]["type_text"], "decimal(10,2)");
    assert!(columns[1]["position"].is_i64());
    let r = create_table(&app, &t, "sales", "raw", "orders").await;
    assert_eq!(
        (r.status, r.body["error_code"].as_str()),
        (StatusCode::CONFLICT, Some("TABLE_ALREADY_EXISTS"))
    );
    let r = post(
        &app,
        &t,
        "/tables",
        json!({"catalog_name": "sales", "schema_name": "raw", "name": "ext",
        "table_type": "EXTERNAL", "storage_location": "s3://bucket/ext",
        "columns": [{"name": "a", "type_text": "string"}]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["columns"][0]["type_name"], "STRING");
    assert_eq!(r.body["storage_location"], "s3://bucket/ext");

    let r = get(&app, &t, "/tables?catalog_name=sales&schema_name=raw").await;
    assert_eq!(names(&r.body, "tables"), ["ext", "orders"]);
    let r = get(&app, &t, "/tables?catalog_name=sales&schema_name=raw&omit_columns=true").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["tables"][0].get("columns").is_none());
    let r = get(&app, &t, "/tables?catalog_name=sales&schema_name=nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    assert_eq!(r.body["error_code"], "SCHEMA_DOES_NOT_EXIST");
    get(&app, &t, "/tables?catalog_name=sales").await.expect(StatusCode::BAD_REQUEST);

    // Owner and comment changes.
    app.create_user("owner@example.com").await;
    let r = app
        .admin_patch(
            &format!("{UC}/tables/sales.raw.orders"),
            json!({"owner": "owner@example.com", "comment": "c"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["owner"], "owner@example.com");
    assert_eq!(r.body["comment"], "c");
    let r =
        app.admin_patch(&format!("{UC}/schemas/sales.raw"), json!({"comment": "landing"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["comment"], "landing");
    let r = app
        .admin_patch(&format!("{UC}/catalogs/sales"), json!({"owner": "nobody@example.com"}))
        .await;
    assert_eq!(
        (r.status, r.body["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("PRINCIPAL_DOES_NOT_EXIST"))
    );
    let r = app.admin_patch(&format!("{UC}/catalogs/sales"), json!({"owner": "admins"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["owner"], "admins");

    let r = get(&app, &t, "/tables/sales.raw.orders/exists").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, json!({"table_exists": true}));
    app.admin_delete(&format!("{UC}/tables/sales.raw.orders")).await.expect(StatusCode::OK);
    let r = get(&app, &t, "/tables/sales.raw.orders/exists").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, json!({"table_exists": false}));
    let r = get(&app, &t, "/tables/sales.raw.orders").await;
    assert_eq!(
        (r.status, r.body["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("TABLE_DOES_NOT_EXIST"))
    );

    let r = app.admin_delete(&format!("{UC}/schemas/sales.raw")).await;
    assert_eq!(
        (r.status, r.body["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("SCHEMA_NOT_EMPTY"))
    );
    let r = app.admin_delete(&format!("{UC}/catalogs/sales")).await;
    assert_eq!(
        (r.status, r.body["error_code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("CATALOG_NOT_EMPTY"))
    );
    app.admin_delete(&format!("{UC}/catalogs/sales?force=true")).await.expect(StatusCode::OK);
    let r = get(&app, &t, "/catalogs/sales").await;
    assert_eq!(
        (r.status, r.body["error_code"].as_str()),
        (StatusCode::NOT_FOUND, Some("CATALOG_DOES_NOT_EXIST"))
    );
    app.admin_delete(&format!("{UC}/catalogs/hive_metastore"))
        .await
        .expect(StatusCode::BAD_REQUEST);
    app.admin_delete(&format!("{UC}/schemas/hive_metastore.default"))
        .await
        .expect(StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn lists_page_with_tokens_until_the_last_page() {
    let (app, t) = uc_app().await;
    for name in ["c1", "c2", "c3"] {
        post(&app, &t, "/catalogs", json!({"name": name})).await.expect(StatusCode::OK);
    }
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let path = match &token {
            Some(tok) => format!("/catalogs?max_results=2&page_token={tok}"),
            None => "/catalogs?max_results=2".to_owned(),
        };
        let r = get(&app, &t, &path).await;
        seen.extend(names(&r.body, "catalogs"));
        match r.body.get("next_page_token").and_then(Value::as_str) {
            Some(next) => token = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["c1", "c2", "c3", "hive_metastore", "main"]);
    let r = get(&app, &t, "/catalogs?max_results=0").await;
    assert_eq!(names(&r.body, "catalogs").len(), 5);
    assert!(r.body.get("next_page_token").is_none());
    get(&app, &t, "/catalogs?max_results=-1").await.expect(StatusCode::BAD_REQUEST);
    get(&app, &t, "/permissions/catalog/main?max_results=10").await.expect(StatusCode::BAD_REQUEST);
}

// ---- grants ---------------------------------------------------------------------------------

#[tokio::test]
async fn grants_and_effective_permissions_with_inheritance() {
    let (app, t) = uc_app().await;
    app.create_user("analyst@example.com").await;
    let analyst = "analyst@example.com";
    create_table(&app, &t, "main", "default", "events").await.expect(StatusCode::OK);

    let r = get(&app, &t, "/permissions/catalog/main").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, json!({"privilege_assignments": []}));
    let before = get(&app, &t, "/effective-permissions/table/main.default.events").await;
    assert_eq!(before.status, StatusCode::OK, "{:?}", before.body);

    // Securable types are case-insensitive; privileges take either spelling.
    let r = patch_grants(&app, &t, "CATALOG/main", analyst, &["USE_CATALOG", "select"], &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        grants_of(&r.body),
        [(analyst.to_owned(), vec!["SELECT".to_owned(), "USE_CATALOG".to_owned()])]
    );
    grant(&app, "schema/main.default", analyst, &["USE_SCHEMA"]).await;
    grant(&app, "table/main.default.events", analyst, &["SELECT"]).await;

    let direct = get(&app, &t, "/permissions/table/main.default.events").await;
    assert_eq!(grants_of(&direct.body), [(analyst.to_owned(), vec!["SELECT".to_owned()])]);
    let effective = get(&app, &t, "/effective-permissions/table/main.default.events").await;
    assert_eq!(
        effective_of(&effective.body, analyst),
        vec![
            triple("SELECT", "", ""),
            triple("SELECT", "CATALOG", "main"),
            triple("USE_CATALOG", "CATALOG", "main"),
            triple("USE_SCHEMA", "SCHEMA", "main.default"),
        ]
    );
    let on_schema =
        get(&app, &t, &format!("/effective-permissions/schema/main.default?principal={analyst}"))
            .await;
    assert_eq!(
        effective_of(&on_schema.body, analyst),
        vec![
            triple("SELECT", "CATALOG", "main"),
            triple("USE_CATALOG", "CATALOG", "main"),
            triple("USE_SCHEMA", "", ""),
        ]
    );
    let filtered = get(&app, &t, "/permissions/catalog/main?principal=admins").await;
    assert_eq!(filtered.status, StatusCode::OK, "{:?}", filtered.body);
    assert_eq!(filtered.body, json!({"privilege_assignments": []}));
    let filtered = get(&app, &t, &format!("/permissions/catalog/main?principal={analyst}")).await;
    assert_eq!(grants_of(&filtered.body).len(), 1);

    // The store's view for Partner Connect: union of what is granted and inherited.
    let user = id_of_user(&app, analyst).await;
    let held = app
        .store
        .effective_privileges(
            app.workspace_id,
            &Securable::Table("main".into(), "default".into(), "events".into()),
            user,
        )
        .await
        .unwrap();
    assert_eq!(
        held.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        ["SELECT", "USE_CATALOG", "USE_SCHEMA"]
    );

    // Revoking what was granted restores the previous state.
    let r = patch_grants(&app, &t, "catalog/main", analyst, &[], &["USE_CATALOG", "SELECT"]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, json!({"privilege_assignments": []}));
    patch_grants(&app, &t, "schema/main.default", analyst, &[], &["USE_SCHEMA"])
        .await
        .expect(StatusCode::OK);
    patch_grants(&app, &t, "table/main.default.events", analyst, &[], &["SELECT"])
        .await
        .expect(StatusCode::OK);
    let after = get(&app, &t, "/effective-permissions/table/main.default.events").await;
    assert_eq!(after.status, StatusCode::OK, "{:?}", after.body);
    assert_eq!(after.body, before.body);
    // Removing what is not held changes nothing and is fine.
    patch_grants(&app, &t, "catalog/main", analyst, &[], &["MODIFY"]).await.expect(StatusCode::OK);
}

#[tokio::test]
async fn bad_grants_are_refused_and_change_nothing() {
    let (app, t) = uc_app().await;
    app.create_user("a@example.com").await;
    let (_, other_token) = app.plain_user("b@example.com").await;
    create_table(&app, &t, "main", "default", "t").await.expect(StatusCode::OK);
    grant(&app, "catalog/main", "a@example.com", &["USE_CATALOG"]).await;
    let snapshot = get(&app, &t, "/permissions/catalog/main").await.ok();

    let cases = [
        (
            "table/main.default.t",
            json!([{"principal": "a@example.com", "add": ["CREATE_SCHEMA"]}]),
            INVALID,
            "CREATE_SCHEMA",
        ),
        (
            "catalog/main",
            json!([{"principal": "a@example.com", "add": ["USAGE"]}]),
            INVALID,
            "legacy",
        ),
        (
            "catalog/main",
            json!([{"principal": "a@example.com", "add": ["SELECT", "FLY"]}]),
            INVALID,
            "FLY",
        ),
        (
            "catalog/main",
            json!([{"principal": "a@example.com", "add": ["SELECT"]}, {"principal": "ghost@example.com", "add": ["SELECT"]}]),
            (StatusCode::NOT_FOUND, "PRINCIPAL_DOES_NOT_EXIST"),
            "ghost@example.com",
        ),
        ("volume/main.default.v", json!([]), INVALID, "volume"),
        ("table/main.default", json!([]), INVALID, "catalog.schema.table"),
        (
            "table/main.default.missing",
            json!([{"principal": "a@example.com", "add": ["SELECT"]}]),
            (StatusCode::NOT_FOUND, "TABLE_DOES_NOT_EXIST"),
            "main.default.missing",
        ),
        (
            "schema/main.missing",
            json!([]),
            (StatusCode::NOT_FOUND, "SCHEMA_DOES_NOT_EXIST"),
            "main.missing",
        ),
        (
            "catalog/missing",
            json!([]),
            (StatusCode::NOT_FOUND, "CATALOG_DOES_NOT_EXIST"),
            "missing",
        ),
        ("catalog/main", json!([{"add": ["SELECT"]}]), INVALID, "principal"),
        ("catalog/main", json!([{"principal": "a@example.com", "add": ["OWN"]}]), INVALID, "owner"),
    ];
    refuses_each(cases, async |path, changes| {
        let path = format!("{UC}/permissions/{path}");
        app.admin_patch(&path, json!({"changes": changes})).await
    })
    .await;
    app.admin_patch(&format!("{UC}/permissions/catalog/main"), json!({"changes": "all"}))
        .await
        .expect(StatusCode::BAD_REQUEST);
    // Someone who neither owns main nor administers the metastore may not grant on it.
    patch_grants(&app, &other_token, "catalog/main", "b@example.com", &["USE_CATALOG"], &[])
        .await
        .expect(StatusCode::FORBIDDEN);
    assert_eq!(get(&app, &t, "/permissions/catalog/main").await.ok(), snapshot);
    let r = get(&app, &other_token, "/permissions/catalog/main").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "it cannot even see main");
}

// ---- enforcement ----------------------------------------------------------------------------

#[tokio::test]
async fn a_service_principal_reads_only_what_it_was_granted() {
    let (app, t) = uc_app().await;
    let (_, app_id, sp) = service_principal(&app, "READER_USER").await;
    create_schema(&app, &t, "main", "sales").await.expect(StatusCode::OK);
    create_table(&app, &t, "main", "sales", "orders").await.expect(StatusCode::OK);

    let r = get(&app, &sp, "/tables/main.sales.orders").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert_eq!(r.body["error_code"], "PERMISSION_DENIED");
    assert!(r.body["message"].as_str().unwrap().contains("USE CATALOG"), "{:?}", r.body);
    assert_eq!(names(&get(&app, &sp, "/catalogs").await.ok(), "catalogs"), ["hive_metastore"]);
    let r = get(&app, &sp, "/tables?catalog_name=main&schema_name=sales").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, json!({"tables": []}));

    grant(&app, "catalog/main", &app_id, &["USE_CATALOG"]).await;
    grant(&app, "schema/main.sales", &app_id, &["USE_SCHEMA"]).await;
    let r = get(&app, &sp, "/tables/main.sales.orders").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body["message"].as_str().unwrap().contains("SELECT"), "{:?}", r.body);
    assert_eq!(
        names(&get(&app, &sp, "/catalogs").await.ok(), "catalogs"),
        ["hive_metastore", "main"]
    );
    assert_eq!(
        names(&get(&app, &sp, "/schemas?catalog_name=main").await.ok(), "schemas"),
        ["sales"]
    );

    grant(&app, "table/main.sales.orders", &app_id, &["SELECT"]).await;
    let r = get(&app, &sp, "/tables/main.sales.orders").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["columns"].as_array().unwrap().len(), 2);
    let r = get(&app, &sp, "/tables?catalog_name=main&schema_name=sales").await;
    assert_eq!(names(&r.body, "tables"), ["orders"]);
    // Reading is not writing: it may not drop, re-own or grant on the table.
    app.delete_as(Some(&sp), &format!("{UC}/tables/main.sales.orders"))
        .await
        .expect(StatusCode::FORBIDDEN);
    patch_grants(&app, &sp, "table/main.sales.orders", &app_id, &["MODIFY"], &[])
        .await
        .expect(StatusCode::FORBIDDEN);

    patch_grants(&app, &t, "table/main.sales.orders", &app_id, &[], &["SELECT"])
        .await
        .expect(StatusCode::OK);
    get(&app, &sp, "/tables/main.sales.orders").await.expect(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_service_principal_creates_a_schema_and_owns_it() {
    let (app, t) = uc_app().await;
    let (sp_id, app_id, sp) = service_principal(&app, "HEVO_DATA_USER").await;
    create_schema(&app, &t, "main", "finance").await.expect(StatusCode::OK);
    create_table(&app, &t, "main", "finance", "ledger").await.expect(StatusCode::OK);

    grant(&app, "catalog/main", &app_id, &["USE_CATALOG"]).await;
    let r = create_schema(&app, &sp, "main", "hevo").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("CREATE SCHEMA"));
    grant(&app, "catalog/main", &app_id, &["CREATE_SCHEMA"]).await;
    let r = create_schema(&app, &sp, "main", "hevo").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["owner"], app_id);

    // Owning the schema lets it create and read tables there, and grant on them.
    let r = create_table(&app, &sp, "main", "hevo", "events").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["owner"], app_id);
    get(&app, &sp, "/tables/main.hevo.events").await.expect(StatusCode::OK);
    app.create_user("consumer@example.com").await;
    patch_grants(&app, &sp, "table/main.hevo.events", "consumer@example.com", &["SELECT"], &[])
        .await
        .expect(StatusCode::OK);
    // It reads nothing else, and may not grant on the catalog.
    get(&app, &sp, "/tables/main.finance.ledger").await.expect(StatusCode::FORBIDDEN);
    assert_eq!(
        names(&get(&app, &sp, "/schemas?catalog_name=main").await.ok(), "schemas"),
        ["hevo"]
    );
    patch_grants(&app, &sp, "catalog/main", &app_id, &["SELECT"], &[])
        .await
        .expect(StatusCode::FORBIDDEN);
    create_table(&app, &sp, "main", "finance", "sneaky").await.expect(StatusCode::FORBIDDEN);

    // Deleting the service principal deletes its grants; what it created stays, ownerless.
    let r = app.admin_delete(&format!("{SCIM}/ServicePrincipals/{sp_id}")).await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let r = get(&app, &t, "/permissions/catalog/main").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, json!({"privilege_assignments": []}));
    let r = get(&app, &t, "/schemas/main.hevo").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.get("owner").is_none(), "{:?}", r.body);
    let r = get(&app, &t, "/permissions/table/main.hevo.events").await;
    assert_eq!(
        grants_of(&r.body),
        [("consumer@example.com".to_owned(), vec!["SELECT".to_owned()])]
    );
}

#[tokio::test]
async fn nested_group_membership_counts() {
    let (app, t) = uc_app().await;
    let (sp_id, _, sp) = service_principal(&app, "GROUPED_USER").await;
    let inner_id = app.create_group("inner", &[&sp_id]).await;
    app.create_group("readers", &[&inner_id]).await;
    create_table(&app, &t, "main", "default", "shared").await.expect(StatusCode::OK);
    get(&app, &sp, "/tables/main.default.shared").await.expect(StatusCode::FORBIDDEN);
    grant(&app, "catalog/main", "readers", &["USE_CATALOG", "USE_SCHEMA", "SELECT"]).await;
    get(&app, &sp, "/tables/main.default.shared").await.expect(StatusCode::OK);
    let catalogs = app
        .store
        .list_catalogs_for(&Caller {
            workspace_id: app.workspace_id,
            principal_id: PrincipalId::parse(&sp_id).unwrap(),
            kind: PrincipalKind::ServicePrincipal,
            name: "x".into(),
            is_admin: false,
            token_id: String::new(),
        })
        .await
        .unwrap();
    assert_eq!(
        catalogs.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
        ["hive_metastore", "main"]
    );
    let r = get(&app, &t, "/permissions/catalog/main").await;
    assert_eq!(grants_of(&r.body)[0].0, "readers", "grants name the group");
}

#[tokio::test]
async fn hive_metastore_takes_legacy_privileges() {
    let app = TestApp::new().await;
    let t = app.admin_token.clone();
    let (_, user) = app.plain_user("etl@example.com").await;
    let (_, other) = app.plain_user("other@example.com").await;
    let etl = "etl@example.com";

    let r = create_schema(&app, &user, "hive_metastore", "ingest").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("USAGE"), "{:?}", r.body);
    let r = patch_grants(&app, &t, "catalog/hive_metastore", etl, &["USE_CATALOG"], &[]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["message"].as_str().unwrap().contains("USAGE"), "{:?}", r.body);
    // Workspace admins administer the Hive metastore: the ingest profile's grants.
    grant(&app, "catalog/hive_metastore", etl, &["USAGE", "CREATE"]).await;
    let r = create_schema(&app, &user, "hive_metastore", "ingest").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["owner"], etl);
    assert_eq!(r.body["catalog_type"], "INTERNAL_CATALOG");
    create_table(&app, &user, "hive_metastore", "ingest", "raw").await.expect(StatusCode::OK);

    // Reading someone else's table takes USAGE and SELECT or READ_METADATA.
    create_table(&app, &t, "hive_metastore", "default", "events").await.expect(StatusCode::OK);
    get(&app, &other, "/tables/hive_metastore.default.events").await.expect(StatusCode::FORBIDDEN);
    grant(&app, "schema/hive_metastore.default", "other@example.com", &["USAGE", "READ_METADATA"])
        .await;
    get(&app, &other, "/tables/hive_metastore.default.events").await.expect(StatusCode::OK);
    // Both spellings of ALL PRIVILEGES; revoking it clears everything there.
    let r = patch_grants(
        &app,
        &t,
        "table/hive_metastore.default.events",
        "other@example.com",
        &["ALL PRIVILEGES", "ALL_PRIVILEGES", "MODIFY"],
        &[],
    )
    .await;
    assert_eq!(
        grants_of(&r.body),
        [("other@example.com".to_owned(), vec!["ALL_PRIVILEGES".to_owned(), "MODIFY".to_owned()])]
    );
    let r = patch_grants(
        &app,
        &t,
        "table/hive_metastore.default.events",
        "other@example.com",
        &[],
        &["ALL PRIVILEGES"],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body, json!({"privilege_assignments": []}));
    let r = patch_grants(
        &app,
        &t,
        "table/hive_metastore.default.events",
        "other@example.com",
        &["USAGE"],
        &[],
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "USAGE applies to catalogs and schemas");

    // A plain user may not grant on what it does not own; the owner of a schema may.
    patch_grants(
        &app,
        &other,
        "schema/hive_metastore.default",
        "other@example.com",
        &["SELECT"],
        &[],
    )
    .await
    .expect(StatusCode::FORBIDDEN);
    patch_grants(
        &app,
        &user,
        "schema/hive_metastore.ingest",
        "other@example.com",
        &["SELECT"],
        &[],
    )
    .await
    .expect(StatusCode::OK);
    // The hive catalog is listed for everyone.
    assert_eq!(names(&get(&app, &other, "/catalogs").await.ok(), "catalogs"), ["hive_metastore"]);
}

// ---- schema migration -----------------------------------------------------------------------

/// Workspaces that existed before the catalog migration get their `hive_metastore` from it.
#[tokio::test]
async fn the_migration_gives_existing_workspaces_a_hive_metastore() {
    let app = TestApp::new().await;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.db.url).await.unwrap();
    for statement in [
        "DROP TABLE catalog_grants",
        "DROP TABLE catalog_columns",
        "DROP TABLE catalog_tables",
        "DROP TABLE catalog_schemas",
        "DROP TABLE catalogs",
        "DROP TABLE metastore_assignments",
        "DROP TABLE metastores",
        "DELETE FROM _sqlx_migrations WHERE version = 4",
    ] {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let store = app.db.store().await.unwrap();
    let hive = store.catalog(app.workspace_id, "hive_metastore").await.unwrap().unwrap();
    assert!(hive.legacy);
    assert_eq!(hive.meta.owner.as_deref(), Some("admins"));
    assert!(store.schema_exists(app.workspace_id, "hive_metastore", "default").await.unwrap());
    store.close().await;
}
