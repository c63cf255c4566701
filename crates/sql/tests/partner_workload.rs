//! partner-sim uses what a connect gave it, as a real partner does: a workspace with SQL on a
//! real socket, a partner connected through Partner Connect, and partner-sim's workload run on
//! the warehouse with the token (or OAuth secret) it received. Each step's verdict is checked,
//! and then the workspace's own record of it: the query history, the tables written, the
//! tables left alone.

#[path = "../../server/tests/common/mod.rs"]
mod common;

use axum::http::StatusCode;
use common::{SCIM, TestApp};
use patchbay_partner::sim::{SimConfig, SimHandle, Workload, spawn};
use patchbay_server::{AppState, Settings};
use patchbay_sql::{EngineLimits, Warehouses};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const PC: &str = "/api/2.0/partner-connect";
const STATEMENTS: &str = "/api/2.0/sql/statements";
const UC: &str = "/api/2.1/unity-catalog";

/// A workspace that runs SQL, served on 127.0.0.1 (partner-sim calls it back).
struct Workspace {
    app: TestApp,
    _tables: tempfile::TempDir,
}

impl Workspace {
    async fn serve() -> Workspace {
        let tables = tempfile::tempdir().unwrap();
        let root = url::Url::from_directory_path(tables.path()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = TestApp::build_with_state(
            &url,
            |s: &mut Settings| {
                s.partner_retry =
                    patchbay_partner::client::RetryPolicy { delays: vec![Duration::ZERO; 3] };
                s.partner_timeout = Duration::from_secs(10);
            },
            |store, settings| {
                let warehouses =
                    Warehouses::new(store.clone(), root, EngineLimits::default()).expect("engine");
                AppState::with_sql(store, settings, Some(Arc::new(warehouses)))
            },
        )
        .await;
        let router = app.router.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Workspace { app, _tables: tables }
    }

    /// A statement as the admin; its body, which must say SUCCEEDED.
    async fn admin_sql(&self, warehouse: &str, statement: &str) -> Value {
        let r = self
            .app
            .admin_post(
                STATEMENTS,
                json!({"warehouse_id": warehouse, "statement": statement,
                            "wait_timeout": "50s"}),
            )
            .await;
        let body = r.ok();
        assert_eq!(body["status"]["state"], "SUCCEEDED", "{statement}: {body}");
        body
    }

    async fn warehouse(&self, name: &str) -> String {
        let r = self
            .app
            .admin_post(
                "/api/2.0/sql/warehouses",
                json!({"name": name, "cluster_size": "2X-Small", "max_num_clusters": 1}),
            )
            .await;
        r.ok()["id"].as_str().unwrap().to_owned()
    }

    /// Registers partner-sim as a custom partner of `profile`, authenticating with `auth`.
    async fn register(&self, sim: &SimHandle, name: &str, profile: &str, auth: &str) -> String {
        let (category, provisions) = match profile {
            "read" => ("BI_AND_VIZ", "selected_warehouse"),
            _ => ("INGEST", "new_warehouse"),
        };
        let r = self
            .app
            .admin_post(
                &format!("{PC}/partners"),
                json!({
                    "name": name, "category": category, "profile": profile,
                    "provisions": provisions, "auth_options": [auth],
                    "base_url": sim.url,
                    "endpoints": {"connect_path": "/connect",
                                  "delete_connection_path": "/delete-connection",
                                  "test_connection_path": "/test-connection"},
                    "credentials": {"username": sim.config.username,
                                    "password": sim.config.password},
                    "hostnames": ["127.0.0.1"],
                }),
            )
            .await;
        r.expect(StatusCode::CREATED)["partner"]["id"].as_str().unwrap().to_owned()
    }

    /// Connects the partner as the admin; the connection.
    async fn connect(&self, partner: &str, selection: Value) -> Value {
        let r = self.app.admin_post(&format!("{PC}/partners/{partner}/connect"), selection).await;
        let body = r.ok();
        assert_eq!(body["connection"]["state"], "CONNECTED", "{body}");
        body["connection"].clone()
    }

    /// The query history of one principal on one warehouse, as the admin reads it.
    async fn history(&self, principal_id: &str, warehouse: &str) -> Vec<Value> {
        let r = self
            .app
            .admin_get(&format!(
                "/api/2.0/sql/history/queries?max_results=1000\
                     &filter_by.user_ids={principal_id}&filter_by.warehouse_ids={warehouse}"
            ))
            .await;
        let mut queries = r.ok()["res"].as_array().unwrap().clone();
        queries.reverse(); // oldest first
        queries
    }
}

async fn sim(config: SimConfig) -> SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    spawn(listener, config).unwrap()
}

/// The workload partner-sim ran for its connection `partner_connection_id`, once it ended.
async fn finished_workload(sim: &SimHandle, partner_connection_id: &str) -> Value {
    for _ in 0..600 {
        let state: Value =
            reqwest::get(format!("{}/_sim/state", sim.url)).await.unwrap().json().await.unwrap();
        let workload =
            state["connections"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["connection_id"] == partner_connection_id)
                .unwrap_or_else(|| panic!("partner-sim has no connection {partner_connection_id}"))
                ["workload"]
                .clone();
        if workload["state"] != "running" {
            return workload;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("partner-sim's workload did not end within a minute");
}

fn statements(workload: &Value) -> Vec<String> {
    workload["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["statement"].as_str().unwrap_or("-").to_owned())
        .collect()
}

fn texts(body: &Value) -> Vec<Vec<String>> {
    body["result"]["data_array"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap_or("NULL").to_owned())
                .collect()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_partner_writes_its_own_table_and_is_refused_the_rest() {
    let ws = Workspace::serve().await;
    let admin_wh = ws.warehouse("admin").await;
    // What the partner did not create (the Hive metastore: the workspace has no Unity Catalog).
    ws.admin_sql(&admin_wh, "CREATE TABLE hive_metastore.default.salaries (who STRING, pay INT)")
        .await;
    ws.admin_sql(&admin_wh, "INSERT INTO hive_metastore.default.salaries VALUES ('ceo', 1000)")
        .await;
    let sim = sim(SimConfig {
        probe_table: Some("hive_metastore.default.salaries".into()),
        ..SimConfig::default()
    })
    .await;

    // With a token, and with an OAuth secret the partner exchanges.
    for (name, auth) in [("Acme Ingest", "AUTH_PAT"), ("Acme M2M", "AUTH_OAUTH_M2M")] {
        let partner = ws.register(&sim, name, "ingest", auth).await;
        let connection = ws.connect(&partner, json!({})).await;
        let warehouse = connection["warehouse_id"].as_str().unwrap().to_owned();
        let id = connection["partner_connection_id"].as_str().unwrap();
        let workload = finished_workload(&sim, id).await;
        assert_eq!(workload["state"], "passed", "{name}: {workload:#}");
        assert_eq!(workload["kind"], "ingest");
        assert_eq!(workload["warehouse_id"], warehouse.as_str());
        assert_eq!(workload["catalog"], "hive_metastore");
        let sent = statements(&workload);
        let tag: String = id.chars().filter(char::is_ascii_alphanumeric).take(8).collect();
        let table = format!("`hive_metastore`.`partner_sim_{tag}`.`events`");
        assert_eq!(
            sent,
            [
                format!("CREATE SCHEMA IF NOT EXISTS `hive_metastore`.`partner_sim_{tag}`"),
                format!("CREATE TABLE {table} (id BIGINT, kind STRING)"),
                format!("INSERT INTO {table} VALUES (1, 'connect'), (2, 'sync'), (3, 'check')"),
                format!("SELECT id, kind FROM {table} ORDER BY id"),
                "SELECT * FROM hive_metastore.default.salaries LIMIT 1".to_owned(),
            ],
            "{name}"
        );
        let steps = workload["steps"].as_array().unwrap();
        assert!(steps.iter().all(|s| s["result"] == "pass"), "{workload:#}");
        assert_eq!(steps[3]["actual"], "SUCCEEDED, 3 rows");
        let probe = &steps[4];
        assert_eq!(probe["expected"], "refusal");
        let refusal = probe["actual"].as_str().unwrap();
        assert!(
            refusal.starts_with("FAILED PERMISSION_DENIED")
                && refusal.contains("INSUFFICIENT_PERMISSIONS"),
            "{refusal}"
        );

        // The workspace's own record: the partner's principal ran these five statements on
        // its warehouse, four finished and the probe was refused.
        let principal = connection["service_principal"]["id"].as_str().unwrap();
        let history = ws.history(principal, &warehouse).await;
        let texts_run: Vec<&str> =
            history.iter().map(|q| q["query_text"].as_str().unwrap()).collect();
        assert_eq!(texts_run, sent, "{name}");
        let statuses: Vec<&str> = history.iter().map(|q| q["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["FINISHED", "FINISHED", "FINISHED", "FINISHED", "FAILED"]);
        assert!(history[4]["error_message"].as_str().unwrap().contains("INSUFFICIENT_PERMISSIONS"));
        // What it wrote is there for the admin to read; what it was refused is unchanged.
        let rows =
            ws.admin_sql(&admin_wh, &format!("SELECT id, kind FROM {table} ORDER BY id")).await;
        assert_eq!(texts(&rows), [["1", "connect"], ["2", "sync"], ["3", "check"]]);
        let rows =
            ws.admin_sql(&admin_wh, "SELECT who, pay FROM hive_metastore.default.salaries").await;
        assert_eq!(texts(&rows), [["ceo", "1000"]]);
    }

    // The sim's page shows each connection's steps.
    let page = reqwest::get(format!("{}/", sim.url)).await.unwrap().text().await.unwrap();
    assert!(page.contains("workload: ingest, <strong>passed</strong>"), "{page}");
    assert!(page.contains("SELECT * FROM hive_metastore.default.salaries LIMIT 1"), "{page}");
    assert!(page.contains("FAILED PERMISSION_DENIED"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_partner_reads_the_schema_it_was_given_and_nothing_else() {
    let ws = Workspace::serve().await;
    // Unity Catalog, with `main` as the default catalog.
    common::enable_uc(&ws.app).await;
    // The schema the admin fills and selects for the partner, and one it does not.
    let warehouse = ws.warehouse("shared").await;
    for statement in [
        "CREATE SCHEMA main.mart",
        "CREATE TABLE main.mart.revenue AS SELECT 'q1' AS quarter, 100 AS total",
        "CREATE TABLE main.mart.costs AS SELECT 'q1' AS quarter, 60 AS total",
        "CREATE SCHEMA main.private",
        "CREATE TABLE main.private.payroll AS SELECT 'ceo' AS who, 1000 AS pay",
    ] {
        ws.admin_sql(&warehouse, statement).await;
    }
    let sim = sim(SimConfig { workload: Workload::Read, ..SimConfig::default() }).await;
    let partner = ws.register(&sim, "Acme BI", "read", "AUTH_PAT").await;
    let connection = ws
        .connect(
            &partner,
            json!({"warehouse_id": warehouse, "catalog_name": "main", "schemas": ["mart"]}),
        )
        .await;
    let id = connection["partner_connection_id"].as_str().unwrap();
    let workload = finished_workload(&sim, id).await;
    assert_eq!(workload["state"], "passed", "{workload:#}");
    assert_eq!(workload["kind"], "read");
    let tag: String = id.chars().filter(char::is_ascii_alphanumeric).take(8).collect();
    let mut sent = statements(&workload);
    // The two tables are read in the order SHOW TABLES lists them.
    sent[2..4].sort();
    assert_eq!(
        sent,
        [
            "SHOW SCHEMAS IN `main`".to_owned(),
            "SHOW TABLES IN `main`.`mart`".to_owned(),
            "SELECT * FROM `main`.`mart`.`costs` LIMIT 10".to_owned(),
            "SELECT * FROM `main`.`mart`.`revenue` LIMIT 10".to_owned(),
            format!("CREATE TABLE `main`.`mart`.`partner_sim_probe_{tag}` (id INT)"),
        ],
        "{workload:#}"
    );
    let steps = workload["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["result"] == "pass"), "{workload:#}");
    assert_eq!(steps[1]["actual"], "SUCCEEDED, 2 rows");
    assert_eq!(steps[2]["actual"], "SUCCEEDED, 1 row");
    let refusal = steps[4]["actual"].as_str().unwrap();
    assert!(refusal.starts_with("FAILED PERMISSION_DENIED"), "{refusal}");
    // The refused create made nothing; the history says the same as the partner.
    let r = ws.app.admin_get(&format!("{UC}/tables/main.mart.partner_sim_probe_{tag}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    let principal = connection["service_principal"]["id"].as_str().unwrap();
    let history = ws.history(principal, &warehouse).await;
    assert_eq!(history.len(), 5, "{history:#?}");
    assert_eq!(history.iter().filter(|q| q["status"] == "FINISHED").count(), 4);
    // The admin's own statements on the same warehouse are not the partner's.
    let me = ws.app.admin_get(&format!("{SCIM}/Me")).await;
    let admin_id = me.ok()["id"].as_str().unwrap().to_owned();
    assert!(
        ws.history(&admin_id, &warehouse)
            .await
            .iter()
            .all(|q| q["user_name"] == "admin@example.com")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_workload_runs_when_the_configuration_says_none() {
    let ws = Workspace::serve().await;
    let sim = sim(SimConfig { workload: Workload::None, ..SimConfig::default() }).await;
    let partner = ws.register(&sim, "Quiet Ingest", "ingest", "AUTH_PAT").await;
    let connection = ws.connect(&partner, json!({})).await;
    let id = connection["partner_connection_id"].as_str().unwrap();
    let workload = finished_workload(&sim, id).await;
    assert_eq!(workload["state"], "not_run", "{workload:#}");
    assert!(workload["note"].as_str().unwrap().contains("none"), "{workload:#}");
    let principal = connection["service_principal"]["id"].as_str().unwrap();
    let warehouse = connection["warehouse_id"].as_str().unwrap();
    assert!(ws.history(principal, warehouse).await.is_empty());
}
