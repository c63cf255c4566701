//! SQL warehouses, clusters and jobs, and their object permissions, driven as the SDKs and
//! Terraform drive them: lifecycles, the state machine, who sees and changes what, and bad input.

mod common;

use axum::http::{Method, StatusCode};
use common::snapshot::{get_sorted, redacted, sorted_by};
use common::{ADMIN, SCIM, TestApp, denied, error, invalid, malformed, not_found, ok};
use patchbay_core::compute::ObjectKind;
use patchbay_store::ObjectRef;
use serde_json::{Value, json};

const WH: &str = "/api/2.0/sql/warehouses";
const CL: &str = "/api/2.1/clusters";
const JOBS: &str = "/api/2.2/jobs";
const PERMS: &str = "/api/2.0/permissions";

// ---- helpers ----

/// `token`'s POST of `body` to `path`, which must answer 200; the answer.
async fn post_ok(app: &TestApp, token: &str, path: &str, body: Value) -> Value {
    let r = app.post_as(Some(token), path, body).await;
    assert_eq!(r.status, StatusCode::OK, "POST {path}: {:?}", r.body);
    r.body
}

async fn create_warehouse(app: &TestApp, token: &str, name: &str) -> String {
    let body = json!({"name": name, "cluster_size": "2X-Small", "max_num_clusters": 1});
    let created = post_ok(app, token, WH, body).await;
    created["id"].as_str().unwrap().to_owned()
}

async fn get_warehouse(app: &TestApp, id: &str) -> Value {
    get_ok(app, &format!("{WH}/{id}")).await
}

async fn create_cluster(app: &TestApp, token: &str, name: &str) -> String {
    let body = json!({"cluster_name": name, "spark_version": "15.4.x-scala2.12",
                      "node_type_id": "i3.xlarge", "num_workers": 1});
    let created = post_ok(app, token, &format!("{CL}/create"), body).await;
    created["cluster_id"].as_str().unwrap().to_owned()
}

async fn get_cluster(app: &TestApp, id: &str) -> Value {
    get_ok(app, &format!("{CL}/get?cluster_id={id}")).await
}

async fn create_job(app: &TestApp, token: &str, name: &str) -> i64 {
    let body = json!({"name": name, "tasks": [{"task_key": "main",
                      "notebook_task": {"notebook_path": "/x"}}]});
    let created = post_ok(app, token, &format!("{JOBS}/create"), body).await;
    created["job_id"].as_i64().expect("job_id is a JSON number")
}

/// A service principal with the given entitlements and a token of its own, made the way an
/// admin does it: SCIM, the token permission, an on-behalf-of token.
async fn service_principal(app: &TestApp, name: &str, entitlements: &[&str]) -> (Value, String) {
    let sp = app.create_service_principal_entitled(name, entitlements).await;
    let app_id = sp["applicationId"].as_str().unwrap().to_owned();
    let r = app
        .admin_patch(
            &format!("{PERMS}/authorization/tokens"),
            json!({"access_control_list": [
                {"service_principal_name": app_id, "permission_level": "CAN_USE"}]}),
        )
        .await;
    ok(&r);
    let t = app
        .admin_post(
            "/api/2.0/token-management/on-behalf-of/tokens",
            json!({"application_id": app_id, "comment": "compute tests"}),
        )
        .await;
    ok(&t);
    (sp, t.body["token_value"].as_str().unwrap().to_owned())
}

async fn add_entitlement(app: &TestApp, resource: &str, id: &str, entitlement: &str) {
    let r = app
        .admin_patch(
            &format!("{SCIM}/{resource}/{id}"),
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "entitlements",
                                "value": [{"value": entitlement}]}]
            }),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
}

async fn grant(app: &TestApp, path: &str, entry: Value) {
    let r =
        app.admin_patch(&format!("{PERMS}/{path}"), json!({"access_control_list": [entry]})).await;
    ok(&r);
}

/// The direct levels of an ACL answer, as (name, level) pairs, inherited entries left out.
fn direct(acl: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in acl["access_control_list"].as_array().unwrap() {
        let name = ["user_name", "group_name", "service_principal_name"]
            .iter()
            .find_map(|k| e[*k].as_str())
            .unwrap()
            .to_owned();
        for p in e["all_permissions"].as_array().unwrap() {
            if p["inherited"] == false {
                out.push((name.clone(), p["permission_level"].as_str().unwrap().to_owned()));
            }
        }
    }
    out.sort();
    out
}

fn pair(name: &str, level: &str) -> (String, String) {
    (name.to_owned(), level.to_owned())
}

/// An ACL change of (user_name, permission_level) entries.
fn users_acl(entries: &[(&str, &str)]) -> Value {
    let entries: Vec<Value> = entries
        .iter()
        .map(|(user, level)| json!({"user_name": user, "permission_level": level}))
        .collect();
    json!({"access_control_list": entries})
}

/// `token`'s `method` (PUT or PATCH) of the ACL `body` to `path`, which must answer 200; the
/// direct levels of the ACL it answers.
async fn change_acl(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Value,
) -> Vec<(String, String)> {
    let r = app.call(method.clone(), path, Some(token), Some(body)).await;
    assert_eq!(r.status, StatusCode::OK, "{method} {path}: {:?}", r.body);
    direct(&r.body)
}

/// Whether the store holds no ACL entry for the object `object_id` of `kind`, as the object's
/// delete must leave it.
async fn stored_acl_is_empty(app: &TestApp, kind: ObjectKind, object_id: &str) -> bool {
    let object = ObjectRef::object(kind, object_id);
    let acl = app.store.acl(app.workspace_id, object).await.unwrap();
    acl.is_empty()
}

/// The body of an admin's GET, which must answer 200.
async fn get_ok(app: &TestApp, path: &str) -> Value {
    let r = app.admin_get(path).await;
    assert_eq!(r.status, StatusCode::OK, "GET {path}: {:?}", r.body);
    r.body
}

fn ids(list: &Value, key: &str, id: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} list in {list}"))
        .iter()
        .map(|w| w[id].as_str().map_or_else(|| w[id].to_string(), str::to_owned))
        .collect()
}

// ---- SQL warehouses ----

#[tokio::test]
async fn warehouse_lifecycle_in_the_sdks_shapes() {
    let app = TestApp::new().await;
    // What WarehousesAPI.create sends, plus fields newer SDKs add.
    let r = app
        .admin_post(
            WH,
            json!({
                "name": "FIVETRAN_ENDPOINT", "cluster_size": "2X-Small", "min_num_clusters": 1,
                "max_num_clusters": 1, "auto_stop_mins": 10, "enable_photon": true,
                "enable_serverless_compute": false, "warehouse_type": "CLASSIC",
                "spot_instance_policy": "COST_OPTIMIZED",
                "channel": {"name": "CHANNEL_NAME_CURRENT"},
                "tags": {"custom_tags": [{"key": "team", "value": "data"}]},
                "creator_name": "someone@else", "customer_version_label": "x",
                "reyden_cluster_size_multiplier": 1.0
            }),
        )
        .await;
    ok(&r);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");

    // The server decides the creator; the state is RUNNING at once (no transition delay).
    insta::assert_json_snapshot!(
        "lifecycle_warehouse",
        redacted(&get_warehouse(&app, &id).await, &[(&id, "warehouse_id")])
    );

    let list = app.admin_get(WH).await;
    ok(&list);
    assert_eq!(ids(&list.body, "warehouses", "id"), vec![id.clone()]);
    assert!(list.body.get("next_page_token").is_none());

    // Terraform reads the data source of its warehouse.
    let sources = app.admin_get("/api/2.0/preview/sql/data_sources").await;
    ok(&sources);
    insta::assert_json_snapshot!(
        "lifecycle_data_sources",
        redacted(&sources.body, &[(&id, "warehouse_id")])
    );

    // Edit changes what it names and keeps the rest.
    let r = app
        .admin_post(
            &format!("{WH}/{id}/edit"),
            json!({"name": "RENAMED", "cluster_size": "Small", "max_num_clusters": 3}),
        )
        .await;
    ok(&r);
    let w = get_warehouse(&app, &id).await;
    assert_eq!(
        (&w["name"], &w["cluster_size"], &w["max_num_clusters"], &w["auto_stop_mins"]),
        (&json!("RENAMED"), &json!("Small"), &json!(3), &json!(10))
    );
    assert_eq!(w["tags"]["custom_tags"][0]["value"], "data");
    assert_eq!(w["state"], "RUNNING", "an edit does not stop it");

    let r = app.admin_post(&format!("{WH}/{id}/stop"), json!({})).await;
    ok(&r);
    assert_eq!(get_warehouse(&app, &id).await["state"], "STOPPED");
    assert_eq!(get_warehouse(&app, &id).await["num_clusters"], 0);
    let r = app.admin(Method::POST, &format!("{WH}/{id}/start"), None).await;
    ok(&r);
    assert_eq!(get_warehouse(&app, &id).await["state"], "RUNNING");

    let r = app.admin_delete(&format!("{WH}/{id}")).await;
    ok(&r);
    let gone = app.admin_get(&format!("{WH}/{id}")).await;
    not_found(&gone, &id);
    let again = app.admin_delete(&format!("{WH}/{id}")).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let sources = app.admin_get("/api/2.0/preview/sql/data_sources").await;
    assert_eq!(sources.status, StatusCode::OK, "{:?}", sources.body);
    assert_eq!(sources.body, json!([]));
    assert!(
        stored_acl_is_empty(&app, ObjectKind::Warehouse, &id).await,
        "deleting a warehouse deletes its ACL"
    );
}

#[tokio::test]
async fn warehouse_defaults() {
    let app = TestApp::new().await;
    let id = {
        let r = app.admin_post(WH, json!({"name": "plain"})).await;
        ok(&r);
        r.body["id"].as_str().unwrap().to_owned()
    };
    let w = get_warehouse(&app, &id).await;
    assert_eq!(w["cluster_size"], "2X-Small");
    assert_eq!((&w["min_num_clusters"], &w["max_num_clusters"]), (&json!(1), &json!(1)));
    assert_eq!(w["auto_stop_mins"], 120, "the API's documented default");
    assert_eq!(w["enable_photon"], true);
    assert_eq!(w["warehouse_type"], "CLASSIC");
    assert_eq!(w["spot_instance_policy"], "COST_OPTIMIZED");
    assert_eq!(w["tags"], json!({}));

    let r = app
        .admin_post(
            WH,
            json!({"name": "serverless", "enable_serverless_compute": true,
                        "min_num_clusters": 2, "auto_stop_mins": 0}),
        )
        .await;
    ok(&r);
    let w = get_warehouse(&app, r.body["id"].as_str().unwrap()).await;
    assert_eq!(w["warehouse_type"], "PRO", "serverless means Pro");
    assert_eq!(w["max_num_clusters"], 2, "max follows min when not given");
    assert_eq!(w["auto_stop_mins"], 0);
}

#[tokio::test]
async fn bad_warehouse_requests_change_nothing() {
    let app = TestApp::new().await;
    let id = create_warehouse(&app, &app.admin_token, "keep").await;
    let bad = [
        (json!({"cluster_size": "Small"}), "name"),
        (json!({"name": "  "}), "name"),
        (json!({"name": "x".repeat(100)}), "100 characters"),
        (json!({"name": "a", "cluster_size": "Huge"}), "cluster_size"),
        (json!({"name": "a", "auto_stop_mins": 5}), "auto_stop_mins"),
        (json!({"name": "a", "min_num_clusters": 0}), "min_num_clusters"),
        (json!({"name": "a", "max_num_clusters": 41}), "max_num_clusters"),
        (json!({"name": "a", "min_num_clusters": 3, "max_num_clusters": 2}), "max_num_clusters"),
        (
            json!({"name": "a", "enable_serverless_compute": true, "warehouse_type": "CLASSIC"}),
            "PRO",
        ),
        (json!({"name": "a", "warehouse_type": "FAST"}), "warehouse_type"),
        (json!({"name": "a", "spot_instance_policy": "CHEAP"}), "spot_instance_policy"),
        (json!({"name": "a", "channel": {"name": "NIGHTLY"}}), "channel.name"),
        (json!({"name": "a", "tags": {"custom_tags": [{"value": "v"}]}}), "key"),
    ];
    for (body, needle) in bad {
        let r = app.admin_post(WH, body.clone()).await;
        invalid(&r, needle);
    }
    for body in [
        json!({"name": "a", "auto_stop_mins": "ten"}),
        json!({"name": "a", "enable_photon": "yes"}),
        json!({"name": 5}),
        json!(["name"]),
    ] {
        let r = app.admin_post(WH, body).await;
        malformed(&r, "Invalid request");
    }
    let r = app
        .send(
            axum::http::Request::post(WH)
                .header("authorization", format!("Bearer {}", app.admin_token))
                .body(axum::body::Body::from("{\"name\": "))
                .unwrap(),
        )
        .await;
    malformed(&r, "Malformed JSON");
    let dup = app.admin_post(WH, json!({"name": "keep"})).await;
    error(&dup, StatusCode::CONFLICT, "RESOURCE_ALREADY_EXISTS", "keep");

    // A bad edit changes nothing either.
    let other = create_warehouse(&app, &app.admin_token, "other").await;
    let before = get_warehouse(&app, &id).await;
    let r = app
        .admin_post(
            &format!("{WH}/{id}/edit"),
            json!({"cluster_size": "Small", "auto_stop_mins": 3}),
        )
        .await;
    invalid(&r, "auto_stop_mins");
    let r = app.admin_post(&format!("{WH}/{id}/edit"), json!({"name": "other"})).await;
    error(&r, StatusCode::CONFLICT, "RESOURCE_ALREADY_EXISTS", "other");
    assert_eq!(get_warehouse(&app, &id).await, before);
    let r = app.admin_post(&format!("{WH}/0123456789abcdef/edit"), json!({"name": "z"})).await;
    not_found(&r, "0123456789abcdef");

    let list = app.admin_get(WH).await;
    let mut names = ids(&list.body, "warehouses", "name");
    names.sort();
    assert_eq!(names, vec!["keep", "other"], "no bad request created anything");
    assert_ne!(id, other);
}

#[tokio::test]
async fn warehouse_lists_page_until_no_token() {
    let app = TestApp::new().await;
    let mut created = Vec::new();
    for n in 0..5 {
        created.push(create_warehouse(&app, &app.admin_token, &format!("w{n}")).await);
    }
    created.sort();
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let path = match &token {
            Some(t) => format!("{WH}?page_size=2&page_token={t}"),
            None => format!("{WH}?page_size=2"),
        };
        let r = app.admin_get(&path).await;
        ok(&r);
        let page = ids(&r.body, "warehouses", "id");
        assert!(page.len() <= 2);
        seen.extend(page);
        token = r.body["next_page_token"].as_str().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, created);
    let r = app.admin_get(&format!("{WH}?page_size=x")).await;
    invalid(&r, "Invalid parameters");
}

#[tokio::test]
async fn warehouses_are_never_stopped_after_create_or_start() {
    let app = TestApp::build("http://127.0.0.1:1", |s| s.compute_transition_millis = 60_000).await;
    let id = create_warehouse(&app, &app.admin_token, "slow").await;
    assert_eq!(get_warehouse(&app, &id).await["state"], "STARTING");
    ok(&app.admin(Method::POST, &format!("{WH}/{id}/stop"), None).await);
    assert_eq!(get_warehouse(&app, &id).await["state"], "STOPPING");
    ok(&app.admin(Method::POST, &format!("{WH}/{id}/start"), None).await);
    assert_eq!(get_warehouse(&app, &id).await["state"], "STARTING");

    let app =
        TestApp::build_clocked("http://127.0.0.1:1", |s| s.compute_transition_millis = 150).await;
    let id = create_warehouse(&app, &app.admin_token, "soon").await;
    let state = get_warehouse(&app, &id).await["state"].clone();
    assert!(state == "STARTING" || state == "RUNNING", "{state}");
    app.advance(std::time::Duration::from_millis(200));
    assert_eq!(get_warehouse(&app, &id).await["state"], "RUNNING");
    ok(&app.admin(Method::POST, &format!("{WH}/{id}/stop"), None).await);
    app.advance(std::time::Duration::from_millis(200));
    assert_eq!(get_warehouse(&app, &id).await["state"], "STOPPED");
    ok(&app.admin(Method::POST, &format!("{WH}/{id}/start"), None).await);
    assert_ne!(get_warehouse(&app, &id).await["state"], "STOPPED");
}

// ---- clusters ----

#[tokio::test]
async fn cluster_lifecycle_on_both_api_versions() {
    let app = TestApp::new().await;
    let r = app
        .admin_post(
            &format!("{CL}/create"),
            json!({
                "cluster_name": "PROPHECY_CLUSTER", "spark_version": "14.3.x-scala2.12",
                "node_type_id": "anything", "num_workers": 2, "autotermination_minutes": 60,
                "custom_tags": {"team": "data"}, "spark_conf": {"spark.x": "1"},
                "aws_attributes": {"availability": "SPOT"}, "data_security_mode": "SINGLE_USER",
                "single_user_name": ADMIN
            }),
        )
        .await;
    ok(&r);
    let id = r.body["cluster_id"].as_str().unwrap().to_owned();
    let parts: Vec<&str> = id.split('-').collect();
    assert!(
        parts.len() == 3 && parts[0].len() == 4 && parts[1].len() == 6 && parts[2].len() == 8,
        "MMDD-HHMMSS-xxxxxxxx: {id}"
    );

    // Kept as sent (aws_attributes too), with the server's fields: RUNNING at once, a driver
    // like the workers, the default tags, the creator.
    insta::assert_json_snapshot!(
        "lifecycle_cluster",
        redacted(&get_cluster(&app, &id).await, &[(&id, "cluster_id")])
    );
    let legacy = app.admin_get(&format!("/api/2.0/clusters/get?cluster_id={id}")).await;
    ok(&legacy);
    assert_eq!(legacy.body["cluster_id"], id, "Terraform's /api/2.0 path");

    let list = app.admin_get(&format!("{CL}/list")).await;
    ok(&list);
    assert_eq!(ids(&list.body, "clusters", "cluster_id"), vec![id.clone()]);

    let r = app
        .admin_post(
            &format!("{CL}/edit"),
            json!({"cluster_id": id, "cluster_name": "renamed",
                        "spark_version": "15.4.x-scala2.12", "num_workers": 4}),
        )
        .await;
    ok(&r);
    let c = get_cluster(&app, &id).await;
    assert_eq!((&c["cluster_name"], &c["num_workers"]), (&json!("renamed"), &json!(4)));
    assert!(c.get("aws_attributes").is_none(), "edit replaces the whole spec");
    assert_eq!(c["state"], "RUNNING");

    let body = json!({"cluster_id": id});
    ok(&app.admin_post(&format!("{CL}/restart"), body.clone()).await);
    assert_eq!(get_cluster(&app, &id).await["state"], "RUNNING");
    ok(&app.admin_post(&format!("{CL}/delete"), body.clone()).await);
    let c = get_cluster(&app, &id).await;
    assert_eq!(c["state"], "TERMINATED", "delete terminates");
    assert!(c["terminated_time"].is_i64());
    let terminated = app
        .admin_get(&format!(
            "{CL}/list?filter_by.cluster_states=TERMINATED&filter_by.cluster_states=ERROR"
        ))
        .await;
    assert_eq!(ids(&terminated.body, "clusters", "cluster_id"), vec![id.clone()]);
    let running = app.admin_get(&format!("{CL}/list?filter_by.cluster_states=RUNNING")).await;
    assert_eq!(running.status, StatusCode::OK, "{:?}", running.body);
    assert_eq!(running.body["clusters"], json!([]));
    let r = app.admin_post(&format!("{CL}/restart"), body.clone()).await;
    invalid(&r, "start it");
    ok(&app.admin_post("/api/2.0/clusters/start", body.clone()).await);
    assert_eq!(get_cluster(&app, &id).await["state"], "RUNNING");

    ok(&app.admin_post(&format!("{CL}/permanent-delete"), body.clone()).await);
    let gone = app.admin_get(&format!("{CL}/get?cluster_id={id}")).await;
    invalid(&gone, &format!("Cluster {id} does not exist"));
    let list = app.admin_get(&format!("{CL}/list")).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    assert_eq!(list.body["clusters"], json!([]));
    assert!(
        stored_acl_is_empty(&app, ObjectKind::Cluster, &id).await,
        "deleting a cluster deletes its ACL"
    );
}

#[tokio::test]
async fn clusters_pend_and_terminate_over_time() {
    let app = TestApp::build("http://127.0.0.1:1", |s| s.compute_transition_millis = 60_000).await;
    let id = create_cluster(&app, &app.admin_token, "slow").await;
    assert_eq!(get_cluster(&app, &id).await["state"], "PENDING");
    let body = json!({"cluster_id": id});
    ok(&app.admin_post(&format!("{CL}/delete"), body.clone()).await);
    let c = get_cluster(&app, &id).await;
    assert_eq!(c["state"], "TERMINATING");
    assert!(c.get("terminated_time").is_none());
    ok(&app.admin_post(&format!("{CL}/start"), body).await);
    assert_eq!(get_cluster(&app, &id).await["state"], "PENDING");
}

#[tokio::test]
async fn bad_cluster_requests_change_nothing() {
    let app = TestApp::new().await;
    let id = create_cluster(&app, &app.admin_token, "keep").await;
    let create = format!("{CL}/create");
    for (body, needle) in [
        (json!({"cluster_name": "x"}), "spark_version"),
        (json!({"spark_version": "1", "autotermination_minutes": 5}), "autotermination_minutes"),
        (json!({"spark_version": "1", "num_workers": -1}), "num_workers"),
        (
            json!({"spark_version": "1", "autoscale": {"min_workers": 3, "max_workers": 1}}),
            "autoscale",
        ),
        (json!({"spark_version": "1", "data_security_mode": "OPEN"}), "data_security_mode"),
    ] {
        let r = app.admin_post(&create, body).await;
        invalid(&r, needle);
    }
    for body in [
        json!({"spark_version": "1", "num_workers": "two"}),
        json!({"spark_version": "1", "spark_conf": {"a": 1}}),
        json!({"spark_version": 15}),
    ] {
        let r = app.admin_post(&create, body).await;
        malformed(&r, "Invalid request");
    }
    let r = app.admin_get(&format!("{CL}/get")).await;
    invalid(&r, "cluster_id is required");
    for path in ["start", "restart", "delete", "permanent-delete"] {
        let r = app
            .admin_post(&format!("{CL}/{path}"), json!({"cluster_id": "0101-000000-nothere1"}))
            .await;
        invalid(&r, "Cluster 0101-000000-nothere1 does not exist");
        let r = app.admin_post(&format!("{CL}/{path}"), json!({})).await;
        invalid(&r, "cluster_id");
    }
    let r =
        app.admin_post(&format!("{CL}/edit"), json!({"cluster_id": id, "spark_version": ""})).await;
    invalid(&r, "spark_version");
    let r = app.admin_get(&format!("{CL}/list?filter_by.cluster_states=SLEEPING")).await;
    invalid(&r, "SLEEPING");
    let c = get_cluster(&app, &id).await;
    assert_eq!(c["cluster_name"], "keep");
    let list = app.admin_get(&format!("{CL}/list")).await;
    assert_eq!(ids(&list.body, "clusters", "cluster_id"), vec![id]);
}

// ---- jobs ----

#[tokio::test]
async fn job_lifecycle_on_every_api_version() {
    let app = TestApp::new().await;
    let r = app
        .admin_post(
            &format!("{JOBS}/create"),
            json!({
                "name": "nightly", "max_concurrent_runs": 2, "tags": {"team": "data"},
                "tasks": [
                    {"task_key": "ingest", "notebook_task": {"notebook_path": "/a"}},
                    {"task_key": "report", "depends_on": [{"task_key": "ingest"}]}
                ],
                "schedule": {"quartz_cron_expression": "0 0 1 * * ?", "timezone_id": "UTC"},
                "format": "MULTI_TASK"
            }),
        )
        .await;
    ok(&r);
    let job_id = r.body["job_id"].as_i64().expect("a JSON number");
    for version in ["2.0", "2.1", "2.2"] {
        let r = app.admin_get(&format!("/api/{version}/jobs/get?job_id={job_id}")).await;
        ok(&r);
        // The same job on every version: the settings as sent, defaults filled in.
        insta::assert_json_snapshot!(
            "lifecycle_job",
            redacted(&r.body, &[(&job_id.to_string(), "job_id")])
        );
    }

    let list = app.admin_get(&format!("{JOBS}/list")).await;
    ok(&list);
    assert_eq!(list.body["has_more"], false);
    assert_eq!(list.body["jobs"][0]["job_id"], job_id);
    assert!(list.body["jobs"][0]["settings"].get("tasks").is_none());
    let expanded = app.admin_get(&format!("{JOBS}/list?expand_tasks=true&name=NIGHTLY")).await;
    assert_eq!(expanded.status, StatusCode::OK, "{:?}", expanded.body);
    assert_eq!(expanded.body["jobs"][0]["settings"]["tasks"][0]["task_key"], "ingest");
    let none = app.admin_get(&format!("{JOBS}/list?name=other")).await;
    assert_eq!(none.status, StatusCode::OK, "{:?}", none.body);
    assert_eq!(none.body["jobs"], json!([]));

    // Update merges tasks by key and removes fields; reset replaces.
    let r = app
        .admin_post(
            &format!("{JOBS}/update"),
            json!({"job_id": job_id,
                        "new_settings": {"name": "nightly2",
                                         "tasks": [{"task_key": "report", "timeout_seconds": 60}]},
                        "fields_to_remove": ["schedule", "tasks/ingest"]}),
        )
        .await;
    ok(&r);
    let job = app.admin_get(&format!("{JOBS}/get?job_id={job_id}")).await;
    assert_eq!(job.status, StatusCode::OK, "{:?}", job.body);
    let settings = &job.body["settings"];
    assert_eq!(settings["name"], "nightly2");
    assert!(settings.get("schedule").is_none());
    assert_eq!(settings["tasks"], json!([{"task_key": "report", "timeout_seconds": 60}]));
    assert_eq!(settings["tags"]["team"], "data", "untouched fields stay");
    let r = app
        .admin_post(
            "/api/2.1/jobs/reset",
            json!({"job_id": job_id, "new_settings": {"name": "fresh"}}),
        )
        .await;
    ok(&r);
    let job = app.admin_get(&format!("{JOBS}/get?job_id={job_id}")).await;
    assert_eq!(job.status, StatusCode::OK, "{:?}", job.body);
    assert_eq!(job.body["settings"]["name"], "fresh");
    assert!(job.body["settings"].get("tags").is_none());

    ok(&app.admin_post(&format!("{JOBS}/delete"), json!({"job_id": job_id})).await);
    let gone = app.admin_get(&format!("/api/2.0/jobs/get?job_id={job_id}")).await;
    invalid(&gone, &format!("Job {job_id} does not exist."));
    assert!(
        stored_acl_is_empty(&app, ObjectKind::Job, &job_id.to_string()).await,
        "deleting a job deletes its ACL"
    );
}

#[tokio::test]
async fn job_lists_page_with_limit_offset_and_tokens() {
    let app = TestApp::new().await;
    let mut created = Vec::new();
    for n in 0..5 {
        created.push(create_job(&app, &app.admin_token, &format!("job{n}")).await);
    }
    let r = app.admin_get(&format!("{JOBS}/list?limit=2&offset=1")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let page: Vec<i64> =
        r.body["jobs"].as_array().unwrap().iter().map(|j| j["job_id"].as_i64().unwrap()).collect();
    assert_eq!(page, created[1..3]);
    assert_eq!(r.body["has_more"], true);

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10 {
        let path = match &token {
            Some(t) => format!("{JOBS}/list?limit=2&page_token={t}"),
            None => format!("{JOBS}/list?limit=2"),
        };
        let r = app.admin_get(&path).await;
        ok(&r);
        seen.extend(
            r.body["jobs"].as_array().unwrap().iter().map(|j| j["job_id"].as_i64().unwrap()),
        );
        token = r.body["next_page_token"].as_str().map(str::to_owned);
        assert_eq!(r.body["has_more"], token.is_some());
        if token.is_none() {
            break;
        }
    }
    assert_eq!(seen, created);
}

#[tokio::test]
async fn bad_job_requests_change_nothing() {
    let app = TestApp::new().await;
    let job_id = create_job(&app, &app.admin_token, "keep").await;
    for (body, needle) in [
        (json!({"name": 5}), "settings.name"),
        (json!({"name": "x", "tasks": [{"notebook_task": {}}]}), "task_key"),
        (json!({"name": "x", "tasks": [{"task_key": "a"}, {"task_key": "a"}]}), "unique"),
        (json!({"name": "x", "max_concurrent_runs": -1}), "max_concurrent_runs"),
        (
            json!({"name": "x", "access_control_list": [{"user_name": "ghost@example.com",
                                                       "permission_level": "CAN_VIEW"}]}),
            "ghost",
        ),
        (
            json!({"name": "x", "access_control_list": [{"user_name": ADMIN,
                                                       "permission_level": "CAN_ATTACH_TO"}]}),
            "CAN_ATTACH_TO",
        ),
    ] {
        let r = app.admin_post(&format!("{JOBS}/create"), body).await;
        invalid(&r, needle);
    }
    for (path, body, needle) in [
        ("delete", json!({}), "job_id is required"),
        ("delete", json!({"job_id": "abc"}), "job_id must be a number"),
        ("delete", json!({"job_id": 123}), "Job 123 does not exist."),
        ("update", json!({"job_id": 123, "new_settings": {}}), "Job 123 does not exist."),
        ("reset", json!({"job_id": job_id}), "new_settings is required"),
        ("update", json!({"job_id": job_id, "fields_to_remove": ["runs/x"]}), "fields_to_remove"),
        ("reset", json!({"job_id": job_id, "new_settings": {"tags": {"a": 1}}}), "settings.tags.a"),
    ] {
        let r = app.admin_post(&format!("{JOBS}/{path}"), body).await;
        invalid(&r, needle);
    }
    let r = app.admin_post(&format!("{JOBS}/delete"), json!({"job_id": [1]})).await;
    malformed(&r, "Invalid request");
    let r = app.admin_get(&format!("{JOBS}/list?limit=101")).await;
    invalid(&r, "limit");
    let r = app.admin_get(&format!("{JOBS}/get?job_id=x")).await;
    invalid(&r, "job_id");
    let list = app.admin_get(&format!("{JOBS}/list")).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    assert_eq!(list.body["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["jobs"][0]["settings"]["name"], "keep");
}

// ---- who sees and changes what ----

#[tokio::test]
async fn a_service_principal_sees_and_changes_only_what_it_was_given() {
    let app = TestApp::new().await;
    let (sp, token) = service_principal(&app, "PARTNER_USER", &[]).await;
    let app_id = sp["applicationId"].as_str().unwrap().to_owned();
    let t = Some(token.as_str());

    // Without allow-cluster-create or workspace-access it creates nothing.
    let r = app.post_as(t, WH, json!({"name": "mine"})).await;
    denied(&r, "allow-cluster-create");
    let r = app
        .post_as(t, &format!("{CL}/create"), json!({"spark_version": "1", "cluster_name": "mine"}))
        .await;
    denied(&r, "allow-cluster-create");
    let r = app.post_as(t, &format!("{JOBS}/create"), json!({"name": "mine"})).await;
    denied(&r, "workspace-access");

    let wh = create_warehouse(&app, &app.admin_token, "admins-warehouse").await;
    let cl = create_cluster(&app, &app.admin_token, "admins-cluster").await;
    let job = create_job(&app, &app.admin_token, "admins-job").await;

    // Nothing is visible, and nothing can be changed.
    let list = app.get_as(t, WH).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    assert_eq!(list.body["warehouses"], json!([]));
    let sources = app.get_as(t, "/api/2.0/preview/sql/data_sources").await;
    assert_eq!(sources.status, StatusCode::OK, "{:?}", sources.body);
    assert_eq!(sources.body, json!([]));
    let r = app.get_as(t, &format!("{WH}/{wh}")).await;
    not_found(&r, &wh);
    for action in ["start", "stop", "edit"] {
        let r = app.post_as(t, &format!("{WH}/{wh}/{action}"), json!({"name": "x"})).await;
        not_found(&r, &wh);
    }
    let r = app.delete_as(t, &format!("{WH}/{wh}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    for (path, list) in [(format!("{CL}/list"), "clusters"), (format!("{JOBS}/list"), "jobs")] {
        let r = app.get_as(t, &path).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body[list], json!([]));
    }
    // Clusters and jobs say "does not exist" the way the SDKs map to not-found.
    for (method, path, body) in [
        (Method::GET, format!("{CL}/get?cluster_id={cl}"), None),
        (Method::POST, format!("{CL}/delete"), Some(json!({"cluster_id": cl}))),
        (Method::GET, format!("{JOBS}/get?job_id={job}"), None),
    ] {
        let r = app.call(method, &path, t, body).await;
        invalid(&r, "does not exist");
    }
    let r = app.post_as(t, &format!("{JOBS}/delete"), json!({"job_id": job})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    for path in [
        format!("warehouses/{wh}"),
        format!("sql/warehouses/{wh}"),
        format!("clusters/{cl}"),
        format!("jobs/{job}"),
    ] {
        let r = app.get_as(t, &format!("{PERMS}/{path}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {:?}", r.body);
        let r = app
            .patch_as(
                t,
                &format!("{PERMS}/{path}"),
                json!({"access_control_list": [
                    {"service_principal_name": app_id, "permission_level": "CAN_MANAGE"}]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {:?}", r.body);
    }

    // Grants make them visible, and allow exactly what their level allows.
    let me = json!({"service_principal_name": app_id, "permission_level": "CAN_USE"});
    grant(&app, &format!("warehouses/{wh}"), me).await;
    grant(
        &app,
        &format!("clusters/{cl}"),
        json!({"service_principal_name": app_id, "permission_level": "CAN_ATTACH_TO"}),
    )
    .await;
    grant(
        &app,
        &format!("jobs/{job}"),
        json!({"service_principal_name": app_id, "permission_level": "CAN_VIEW"}),
    )
    .await;
    let list = app.get_as(t, WH).await;
    assert_eq!(ids(&list.body, "warehouses", "id"), vec![wh.clone()]);
    let sources = app.get_as(t, "/api/2.0/preview/sql/data_sources").await;
    assert_eq!(sources.status, StatusCode::OK, "{:?}", sources.body);
    assert_eq!(sources.body[0]["warehouse_id"], wh);
    ok(&app.get_as(t, &format!("{WH}/{wh}")).await);
    ok(&app.call(Method::POST, &format!("{WH}/{wh}/start"), t, None).await);
    let r = app.call(Method::POST, &format!("{WH}/{wh}/stop"), t, None).await;
    denied(&r, "CAN_MANAGE");
    let r = app.post_as(t, &format!("{WH}/{wh}/edit"), json!({"name": "mine"})).await;
    denied(&r, "CAN_MANAGE");
    let r = app.delete_as(t, &format!("{WH}/{wh}")).await;
    denied(&r, "CAN_MANAGE");
    let acl = app.get_as(t, &format!("{PERMS}/warehouses/{wh}")).await;
    ok(&acl);
    let r = app
        .patch_as(
            t,
            &format!("{PERMS}/warehouses/{wh}"),
            json!({"access_control_list": [
                {"service_principal_name": app_id, "permission_level": "CAN_MANAGE"}]}),
        )
        .await;
    denied(&r, "CAN_MANAGE");

    let r = app.get_as(t, &format!("{CL}/list")).await;
    assert_eq!(ids(&r.body, "clusters", "cluster_id"), vec![cl.clone()]);
    let r = app.post_as(t, &format!("{CL}/delete"), json!({"cluster_id": cl})).await;
    denied(&r, "CAN_RESTART");
    grant(
        &app,
        &format!("clusters/{cl}"),
        json!({"service_principal_name": app_id, "permission_level": "CAN_RESTART"}),
    )
    .await;
    ok(&app.post_as(t, &format!("{CL}/delete"), json!({"cluster_id": cl})).await);
    let r = app
        .post_as(t, &format!("{CL}/edit"), json!({"cluster_id": cl, "spark_version": "2"}))
        .await;
    denied(&r, "CAN_MANAGE");

    let r = app.get_as(t, &format!("{JOBS}/get?job_id={job}")).await;
    ok(&r);
    let r = app
        .post_as(
            t,
            &format!("{JOBS}/update"),
            json!({"job_id": job, "new_settings": {"name": "mine"}}),
        )
        .await;
    denied(&r, "CAN_MANAGE");

    // With the entitlements it creates its own, owns them, and still sees only what it may.
    let sp_id = sp["id"].as_str().unwrap();
    add_entitlement(&app, "ServicePrincipals", sp_id, "allow-cluster-create").await;
    add_entitlement(&app, "ServicePrincipals", sp_id, "workspace-access").await;
    let own_wh = create_warehouse(&app, &token, "PARTNER_ENDPOINT").await;
    let own_cl = create_cluster(&app, &token, "PARTNER_CLUSTER").await;
    let own_job = create_job(&app, &token, "partner-job").await;
    let acl = app.admin_get(&format!("{PERMS}/warehouses/{own_wh}")).await;
    assert_eq!(direct(&acl.body), vec![pair(&app_id, "IS_OWNER")]);
    assert_eq!(get_warehouse(&app, &own_wh).await["creator_name"], app_id);
    let mut visible = ids(&app.get_as(t, WH).await.ok(), "warehouses", "id");
    visible.sort();
    let mut expected = vec![wh.clone(), own_wh.clone()];
    expected.sort();
    assert_eq!(visible, expected);
    ok(&app.call(Method::POST, &format!("{WH}/{own_wh}/stop"), t, None).await);
    ok(&app.post_as(t, &format!("{CL}/permanent-delete"), json!({"cluster_id": own_cl})).await);
    ok(&app.post_as(t, &format!("{JOBS}/delete"), json!({"job_id": own_job})).await);
    ok(&app.delete_as(t, &format!("{WH}/{own_wh}")).await);
    // The admin sees everything, the principal's objects included.
    let all = app.admin_get(WH).await;
    assert_eq!(ids(&all.body, "warehouses", "id"), vec![wh]);
}

#[tokio::test]
async fn a_plain_user_needs_grants_and_the_cluster_entitlement() {
    let app = TestApp::new().await;
    let (user_id, token) = app.plain_user("analyst@example.com").await;
    let t = Some(token.as_str());
    let r = app.post_as(t, WH, json!({"name": "mine"})).await;
    denied(&r, "allow-cluster-create");
    // Every user has workspace-access through the users group: jobs are fine.
    let job = create_job(&app, &token, "analysis").await;
    let r = app.get_as(t, &format!("{JOBS}/list")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["jobs"][0]["job_id"], job);
    let admins_job = create_job(&app, &app.admin_token, "admins").await;
    let r = app.get_as(t, &format!("{JOBS}/get?job_id={admins_job}")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // A grant to a group the user is in only through another group still counts.
    let inner = app.create_group("analysts", &[&user_id]).await;
    let outer = app.create_group("data-team", &[&inner]).await;
    let wh = create_warehouse(&app, &app.admin_token, "shared").await;
    grant(
        &app,
        &format!("sql/warehouses/{wh}"),
        json!({"group_name": "data-team", "permission_level": "CAN_USE"}),
    )
    .await;
    let list = app.get_as(t, WH).await;
    assert_eq!(ids(&list.body, "warehouses", "id"), vec![wh.clone()]);
    ok(&app.call(Method::POST, &format!("{WH}/{wh}/start"), t, None).await);

    // The entitlement through a group allows creating.
    add_entitlement(&app, "Groups", &outer, "allow-cluster-create").await;
    create_warehouse(&app, &token, "analyst-warehouse").await;
    create_cluster(&app, &token, "analyst-cluster").await;
}

// ---- object permissions ----

#[tokio::test]
async fn permissions_answer_each_types_exact_shape() {
    let app = TestApp::new().await;
    app.create_user("viewer@example.com").await;
    let wh = create_warehouse(&app, &app.admin_token, "perm-wh").await;
    let cl = create_cluster(&app, &app.admin_token, "perm-cl").await;
    let job = create_job(&app, &app.admin_token, "perm-job").await;
    let cases = [
        (
            format!("sql/warehouses/{wh}"),
            "warehouses",
            format!("warehouses/{wh}"),
            "IS_OWNER",
            "/sql/warehouses/",
        ),
        (
            format!("warehouses/{wh}"),
            "warehouses",
            format!("warehouses/{wh}"),
            "IS_OWNER",
            "/sql/warehouses/",
        ),
        (
            format!("clusters/{cl}"),
            "cluster",
            format!("/clusters/{cl}"),
            "CAN_MANAGE",
            "/clusters/",
        ),
        (format!("jobs/{job}"), "job", format!("/jobs/{job}"), "IS_OWNER", "/jobs/"),
    ];
    for (path, object_type, object_id, creator_level, root) in &cases {
        let r = app.admin_get(&format!("{PERMS}/{path}")).await;
        ok(&r);
        assert_eq!(r.body["object_type"], *object_type, "{path}");
        assert_eq!(r.body["object_id"], *object_id, "{path}");
        assert_eq!(direct(&r.body), vec![pair(ADMIN, creator_level)], "{path}");
        let admins = r.body["access_control_list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["group_name"] == "admins")
            .expect("admins are shown");
        assert_eq!(
            admins["all_permissions"][0],
            json!({"permission_level": "CAN_MANAGE", "inherited": true,
                   "inherited_from_object": [root]})
        );
    }
    let levels = |body: &Value| -> Vec<String> {
        body["permission_levels"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                assert!(l["description"].as_str().is_some_and(|d| !d.is_empty()));
                l["permission_level"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    let r = app.admin_get(&format!("{PERMS}/warehouses/{wh}/permissionLevels")).await;
    assert_eq!(levels(&r.body), ["CAN_VIEW", "CAN_USE", "CAN_MONITOR", "CAN_MANAGE", "IS_OWNER"]);
    let r = app.admin_get(&format!("{PERMS}/clusters/{cl}/permissionLevels")).await;
    assert_eq!(levels(&r.body), ["CAN_ATTACH_TO", "CAN_RESTART", "CAN_MANAGE"]);
    let r = app.admin_get(&format!("{PERMS}/jobs/{job}/permissionLevels")).await;
    assert_eq!(levels(&r.body), ["CAN_VIEW", "CAN_MANAGE_RUN", "CAN_MANAGE", "IS_OWNER"]);

    // Terraform's PUT: the current user twice (CAN_MANAGE and IS_OWNER), plus the wanted ACL.
    let admin = app.admin_token.clone();
    for path in [format!("sql/warehouses/{wh}"), format!("jobs/{job}")] {
        let path = format!("{PERMS}/{path}");
        let terraform = users_acl(&[
            (ADMIN, "CAN_MANAGE"),
            ("viewer@example.com", "CAN_VIEW"),
            (ADMIN, "IS_OWNER"),
        ]);
        assert_eq!(
            change_acl(&app, &admin, Method::PUT, &path, terraform).await,
            vec![pair(ADMIN, "IS_OWNER"), pair("viewer@example.com", "CAN_VIEW")],
            "{path}"
        );
        // PATCH adds; PUT without an owner keeps the owner.
        let users = json!({"access_control_list": [
            {"group_name": "users", "permission_level": "CAN_VIEW"}]});
        let levels = change_acl(&app, &admin, Method::PATCH, &path, users).await;
        assert_eq!(levels.len(), 3);
        assert_eq!(
            change_acl(&app, &admin, Method::PUT, &path, users_acl(&[])).await,
            vec![pair(ADMIN, "IS_OWNER")],
            "{path}"
        );
        // Moving ownership leaves the previous owner CAN_MANAGE.
        let to_viewer = users_acl(&[("viewer@example.com", "IS_OWNER")]);
        assert_eq!(
            change_acl(&app, &admin, Method::PATCH, &path, to_viewer).await,
            vec![pair(ADMIN, "CAN_MANAGE"), pair("viewer@example.com", "IS_OWNER")]
        );
    }
    let get = app.admin_get(&format!("{JOBS}/get?job_id={job}")).await;
    assert_eq!(get.status, StatusCode::OK, "{:?}", get.body);
    assert_eq!(get.body["creator_user_name"], ADMIN, "the creator does not change");

    // Clusters have no owner: PUT [] empties the ACL (admins keep their inherited access).
    let r =
        app.admin_put(&format!("{PERMS}/clusters/{cl}"), json!({"access_control_list": []})).await;
    ok(&r);
    assert_eq!(direct(&r.body), vec![]);
    ok(&app.admin_post(&format!("{CL}/restart"), json!({"cluster_id": cl})).await);
}

#[tokio::test]
async fn bad_permission_requests_change_nothing() {
    let app = TestApp::new().await;
    app.create_user("someone@example.com").await;
    let wh = create_warehouse(&app, &app.admin_token, "w").await;
    let cl = create_cluster(&app, &app.admin_token, "c").await;
    let path = format!("{PERMS}/warehouses/{wh}");
    let before = app.admin_get(&path).await.ok();
    let cases = [
        (
            json!({"access_control_list": [{"user_name": ADMIN, "permission_level": "CAN_FLY"}]}),
            "CAN_FLY",
        ),
        (
            json!({"access_control_list": [{"user_name": ADMIN, "permission_level": "CAN_ATTACH_TO"}]}),
            "CAN_USE",
        ),
        (
            json!({"access_control_list": [{"user_name": "ghost@example.com", "permission_level": "CAN_USE"}]}),
            "ghost@example.com",
        ),
        (
            json!({"access_control_list": [{"service_principal_name": "not-a-uuid", "permission_level": "CAN_USE"}]}),
            "not-a-uuid",
        ),
        (
            json!({"access_control_list": [{"user_name": ADMIN, "group_name": "users", "permission_level": "CAN_USE"}]}),
            "exactly one",
        ),
        (json!({"access_control_list": [{"user_name": ADMIN}]}), "permission_level"),
        (
            json!({"access_control_list": [
            {"user_name": ADMIN, "permission_level": "IS_OWNER"},
            {"user_name": "someone@example.com", "permission_level": "IS_OWNER"}]}),
            "exactly one owner",
        ),
        (
            json!({"access_control_list": [{"group_name": "users", "permission_level": "IS_OWNER"}]}),
            "group cannot own",
        ),
        (
            json!({"access_control_list": [{"user_name": ADMIN, "permission_level": "CAN_VIEW"}]}),
            "keeps IS_OWNER",
        ),
    ];
    for (body, needle) in cases {
        for method in [Method::PATCH, Method::PUT] {
            let r = app.admin(method.clone(), &path, Some(body.clone())).await;
            if needle == "keeps IS_OWNER" && method == Method::PUT {
                ok(&r); // PUT keeps the owner: the stronger of the two levels wins.
                continue;
            }
            invalid(&r, needle);
        }
    }
    for body in [
        json!({"access_control_list": "everyone"}),
        json!({"access_control_list": [{"user_name": ADMIN, "permission_level": "CAN_USE", "extra": 1}]}),
        json!({"access_control_list": [{"user_name": 7, "permission_level": "CAN_USE"}]}),
    ] {
        let r = app.admin_patch(&path, body).await;
        malformed(&r, "Invalid request");
    }
    let r = app
        .admin_patch(
            &format!("{PERMS}/clusters/{cl}"),
            json!({"access_control_list": [{"user_name": ADMIN, "permission_level": "IS_OWNER"}]}),
        )
        .await;
    invalid(&r, "CAN_ATTACH_TO");
    for missing in [
        "warehouses/0123456789abcdef",
        "clusters/0101-000000-nothere1",
        "jobs/42",
        "jobs/not-a-number",
    ] {
        let r = app.admin_get(&format!("{PERMS}/{missing}")).await;
        not_found(&r, "does not exist");
        let r =
            app.admin_put(&format!("{PERMS}/{missing}"), json!({"access_control_list": []})).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{missing}");
    }
    let job = create_job(&app, &app.admin_token, "j").await;
    let r = app.admin_get(&format!("{PERMS}/jobs/0{job}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "only the canonical job id");
    let after = app.admin_get(&path).await.ok();
    assert_eq!(after, before);
}

#[tokio::test]
async fn only_an_admin_or_the_owner_moves_ownership() {
    let app = TestApp::new().await;
    let (_, manager) = app.plain_user("manager@example.com").await;
    app.create_user("other@example.com").await;
    let job = create_job(&app, &app.admin_token, "owned").await;
    grant(
        &app,
        &format!("jobs/{job}"),
        json!({"user_name": "manager@example.com", "permission_level": "CAN_MANAGE"}),
    )
    .await;
    let path = format!("{PERMS}/jobs/{job}");
    let to_manager = users_acl(&[("manager@example.com", "IS_OWNER")]);
    let r = app.patch_as(Some(&manager), &path, to_manager).await;
    denied(&r, "owner");
    let other_runs = users_acl(&[("other@example.com", "CAN_MANAGE_RUN")]);
    assert_eq!(
        change_acl(&app, &manager, Method::PATCH, &path, other_runs).await,
        vec![
            pair(ADMIN, "IS_OWNER"),
            pair("manager@example.com", "CAN_MANAGE"),
            pair("other@example.com", "CAN_MANAGE_RUN"),
        ]
    );
    // A job created with an access_control_list starts with it.
    let r = app
        .admin_post(
            &format!("{JOBS}/create"),
            json!({"name": "shared", "access_control_list": [
                {"user_name": "other@example.com", "permission_level": "CAN_VIEW"}]}),
        )
        .await;
    ok(&r);
    let acl = app.admin_get(&format!("{PERMS}/jobs/{}", r.body["job_id"])).await;
    assert_eq!(
        direct(&acl.body),
        vec![pair(ADMIN, "IS_OWNER"), pair("other@example.com", "CAN_VIEW")]
    );
}

#[tokio::test]
async fn token_permission_routes_are_untouched() {
    let app = TestApp::new().await;
    let r = app.admin_get(&format!("{PERMS}/authorization/tokens")).await;
    ok(&r);
    assert_eq!(r.body["object_type"], "tokens");
    assert_eq!(r.body["object_id"], "authorization/tokens");
}

// ---- wire shapes ----

/// Every answer of the warehouse, cluster, job and object permission APIs, field by field, in
/// snapshots (`tests/snapshots/compute__*.snap`): a field added, renamed, dropped or turned
/// from absent into `null` fails here.
#[tokio::test]
async fn compute_answers_keep_their_wire_shapes() {
    let app = TestApp::new().await;
    let created = app
        .admin_post(
            WH,
            json!({
                "name": "SHAPES", "cluster_size": "Small", "min_num_clusters": 1,
                "max_num_clusters": 2, "auto_stop_mins": 15, "enable_photon": true,
                "channel": {"name": "CHANNEL_NAME_PREVIEW", "dbsql_version": "2024.40"},
                "tags": {"custom_tags": [{"key": "team", "value": "data"}]},
                "instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/shapes",
                "statement_timeout": 600, "max_dbu": 10
            }),
        )
        .await;
    ok(&created);
    let wh = created.body["id"].as_str().expect("id").to_owned();
    let plain = create_warehouse(&app, &app.admin_token, "PLAIN").await;
    let r = app.admin(Method::POST, &format!("{WH}/{plain}/stop"), None).await;
    ok(&r);
    let cl = create_cluster(&app, &app.admin_token, "shapes").await;
    let r = app
        .admin_post(&format!("{CL}/create"), json!({"cluster_name": "stopped", "spark_version": "15.4.x-scala2.12",
                        "node_type_id": "i3.xlarge", "autoscale": {"min_workers": 1, "max_workers": 2},
                        "custom_tags": {"team": "data"}, "autotermination_minutes": 30}))
        .await;
    ok(&r);
    let stopped = r.body["cluster_id"].as_str().expect("cluster_id").to_owned();
    let r = app.admin_post(&format!("{CL}/delete"), json!({"cluster_id": stopped})).await;
    ok(&r);
    let job = create_job(&app, &app.admin_token, "shapes").await.to_string();
    let known = [
        (wh.as_str(), "warehouse_id"),
        (plain.as_str(), "plain_warehouse_id"),
        (cl.as_str(), "cluster_id"),
        (stopped.as_str(), "terminated_cluster_id"),
        (job.as_str(), "job_id"),
    ];
    let snap = |name: &str, body: &Value| {
        insta::assert_json_snapshot!(name.to_owned(), redacted(body, &known));
    };

    snap("warehouse_created", &created.body);
    snap("warehouse", &get_sorted(&app, &format!("{WH}/{wh}")).await);
    // Lists are in the order of random ids: sorted by name for the snapshots.
    snap("warehouse_list", &sorted_by(get_sorted(&app, WH).await, "warehouses", "name"));
    let page = get_sorted(&app, &format!("{WH}?page_size=1")).await;
    assert_eq!(page["warehouses"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["next_page_token"], page["warehouses"][0]["id"]);
    snap(
        "data_sources",
        &sorted_by(get_sorted(&app, "/api/2.0/preview/sql/data_sources").await, "", "name"),
    );

    snap("cluster", &get_ok(&app, &format!("{CL}/get?cluster_id={cl}")).await);
    snap(
        "cluster_list",
        &sorted_by(get_ok(&app, &format!("{CL}/list")).await, "clusters", "cluster_name"),
    );
    snap("spark_versions", &get_sorted(&app, &format!("{CL}/spark-versions")).await);
    snap("node_types", &get_sorted(&app, &format!("{CL}/list-node-types")).await);

    snap("job", &get_sorted(&app, &format!("{JOBS}/get?job_id={job}")).await);
    snap("job_list", &get_sorted(&app, &format!("{JOBS}/list")).await);
    snap(
        "job_list_expanded",
        &get_sorted(&app, &format!("{JOBS}/list?expand_tasks=true&limit=1")).await,
    );

    for (name, path) in [
        ("warehouse", format!("sql/warehouses/{wh}")),
        ("cluster", format!("clusters/{cl}")),
        ("job", format!("jobs/{job}")),
    ] {
        snap(&format!("{name}_permissions"), &get_sorted(&app, &format!("{PERMS}/{path}")).await);
        snap(
            &format!("{name}_permission_levels"),
            &get_sorted(&app, &format!("{PERMS}/{path}/permissionLevels")).await,
        );
    }
    // The calls that change something answer `{}`.
    for (path, body) in [
        (format!("{WH}/{wh}/edit"), json!({"name": "SHAPES_2"})),
        (format!("{WH}/{wh}/stop"), json!({})),
        (format!("{CL}/start"), json!({"cluster_id": stopped})),
        (format!("{JOBS}/update"), json!({"job_id": job, "new_settings": {"name": "shapes_2"}})),
    ] {
        let r = app.admin_post(&path, body).await;
        ok(&r);
        assert_eq!(r.body, json!({}), "{path}");
    }
}
