//! `patchbay admin migrate-db`: an installation made through the API on SQLite, copied into an
//! empty database (PostgreSQL when `PATCHBAY_TEST_DATABASE_URL` is set, else another SQLite
//! file), then served from there with the same tokens.

mod common;

use common::{Server, serve_command};
use patchbay_partner::sim::SimConfig;
use patchbay_store::testing::TestDatabase;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Output};

const SCIM: &str = "/api/2.0/preview/scim/v2";
const PC: &str = "/api/2.0/partner-connect";
const UC: &str = "/api/2.1/unity-catalog";

/// The API of one server, as one caller.
struct Api {
    http: reqwest::Client,
    url: String,
}

impl Api {
    fn new(url: &str) -> Api {
        Api { http: common::client(), url: url.to_owned() }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        common::call(&self.http, method, &format!("{}{path}", self.url), token, body).await
    }

    async fn ok(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Value {
        let (status, body) = self.call(method.clone(), path, token, body).await;
        assert!((200..300).contains(&status), "{method} {path}: {status} {body}");
        body
    }

    async fn get(&self, path: &str, token: &str) -> Value {
        self.ok(reqwest::Method::GET, path, token, None).await
    }
}

fn names(list: &Value, key: &str, attr: &str) -> Vec<String> {
    let mut out: Vec<String> = list[key]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e[attr].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    out.sort();
    out
}

fn migrate(from_data_dir: &Path, to: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args(["admin", "migrate-db", "--from-data-dir"])
        .arg(from_data_dir)
        .args(["--to", to])
        .output()
        .expect("run migrate-db")
}

/// What the test made before the move, to find again after it.
struct Made {
    admin_token: String,
    sp_token: String,
    sp_application_id: String,
    warehouse_id: String,
    audit_events: usize,
    run_id: i64,
}

async fn make_an_installation(api: &Api, admin_token: String, sim_url: &str) -> Made {
    use reqwest::Method;
    let t = admin_token.as_str();
    api.ok(
        Method::POST,
        &format!("{SCIM}/Users"),
        t,
        Some(json!({"userName": "alice@example.com"})),
    )
    .await;
    let sp = api
        .ok(
            Method::POST,
            &format!("{SCIM}/ServicePrincipals"),
            t,
            Some(json!({"displayName": "ETL_BOT"})),
        )
        .await;
    let sp_application_id = sp["applicationId"].as_str().expect("applicationId").to_owned();
    api.ok(
        Method::PATCH,
        "/api/2.0/permissions/authorization/tokens",
        t,
        Some(json!({"access_control_list": [
            {"service_principal_name": sp_application_id, "permission_level": "CAN_USE"}]})),
    )
    .await;
    let obo = api
        .ok(
            Method::POST,
            "/api/2.0/token-management/on-behalf-of/tokens",
            t,
            Some(json!({"application_id": sp_application_id, "comment": "etl"})),
        )
        .await;
    let sp_token = obo["token_value"].as_str().expect("token_value").to_owned();
    let warehouse = api
        .ok(
            Method::POST,
            "/api/2.0/sql/warehouses",
            t,
            Some(json!({"name": "shared", "cluster_size": "Small"})),
        )
        .await;
    let warehouse_id = warehouse["id"].as_str().expect("id").to_owned();
    api.ok(
        Method::PATCH,
        &format!("{UC}/permissions/schema/hive_metastore.default"),
        t,
        Some(json!({"changes": [{"principal": "alice@example.com", "add": ["SELECT"]}]})),
    )
    .await;

    api.ok(
        Method::PUT,
        &format!("{PC}/partners/rivery"),
        t,
        Some(json!({
            "base_url": sim_url,
            "endpoints": {"connect_path": "/connect", "delete_connection_path": "/delete-connection",
                          "test_connection_path": "/test-connection", "rotate_token_path": "/rotate-token"},
            "credentials": {"username": SimConfig::default().username,
                            "password": SimConfig::default().password},
            "hostnames": ["127.0.0.1"],
        })),
    )
    .await;
    api.ok(Method::POST, &format!("{PC}/partners/rivery/connect"), t, Some(json!({}))).await;
    let audit = api.get(&format!("{PC}/audit"), t).await;
    let audit_events = audit["events"].as_array().map_or(0, Vec::len);
    assert!(audit_events > 0, "the connect wrote audit events");

    // A job run with its task run, and a secret scope with a secret and an ACL entry.
    let job = api
        .ok(
            Method::POST,
            "/api/2.2/jobs/create",
            t,
            Some(json!({"name": "nightly", "tasks": [{"task_key": "main"}]})),
        )
        .await;
    let run = api
        .ok(Method::POST, "/api/2.2/jobs/run-now", t, Some(json!({"job_id": job["job_id"]})))
        .await;
    let run_id = run["run_id"].as_i64().expect("run_id");
    api.ok(Method::POST, "/api/2.0/secrets/scopes/create", t, Some(json!({"scope": "etl"}))).await;
    api.ok(
        Method::POST,
        "/api/2.0/secrets/put",
        t,
        Some(json!({"scope": "etl", "key": "password", "string_value": "x"})),
    )
    .await;
    api.ok(
        Method::POST,
        "/api/2.0/secrets/acls/put",
        t,
        Some(json!({"scope": "etl", "principal": sp_application_id, "permission": "READ"})),
    )
    .await;
    Made { admin_token, sp_token, sp_application_id, warehouse_id, audit_events, run_id }
}

#[tokio::test]
async fn an_installation_moves_to_an_empty_database_with_its_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let target = TestDatabase::create().await.unwrap();
    let sim = patchbay_partner::sim::spawn(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
        SimConfig::default(),
    )
    .unwrap();

    // On SQLite in a data directory, as a first node runs.
    let source_dir = tmp.path().join("source");
    let source = Server::spawn(serve_command("127.0.0.1:0", &source_dir, None));
    let api = Api::new(&source.url);
    let made = make_an_installation(
        &api,
        source.token.clone().expect("first start prints the token"),
        &sim.url,
    )
    .await;
    let before = api.get(&format!("{SCIM}/ServicePrincipals"), &made.admin_token).await;
    let source_url = source.url.clone();
    drop(source);

    let out = migrate(&source_dir, &target.url);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("copied the installation"), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("tokens") && !l.contains(" 0 rows")), "{stdout}");

    let again = migrate(&source_dir, &target.url);
    assert!(!again.status.success(), "a second copy is refused");
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("already holds a patchbay installation"), "{stderr}");

    // Served from the copy, at the same address (the workspace URL partners call): no new
    // bootstrap, the same data, the same tokens.
    let address = source_url.trim_start_matches("http://");
    let mut moved = serve_command(address, &tmp.path().join("moved"), Some(&target.url));
    // The partners' passwords were sealed with the first node's key.
    moved.arg("--secret-key-file").arg(source_dir.join("secret.key"));
    let moved = Server::spawn(moved);
    assert!(moved.token.is_none(), "the copy is an installation already");
    let api = Api::new(&moved.url);
    let admin = made.admin_token.as_str();
    let me = api.get(&format!("{SCIM}/Me"), admin).await;
    assert_eq!(me["userName"], "admin@example.com");
    let users = api.get(&format!("{SCIM}/Users"), admin).await;
    assert!(
        names(&users, "Resources", "userName").contains(&"alice@example.com".to_owned()),
        "{users}"
    );
    let after = api.get(&format!("{SCIM}/ServicePrincipals"), admin).await;
    assert_eq!(
        names(&after, "Resources", "displayName"),
        names(&before, "Resources", "displayName")
    );
    assert_eq!(names(&after, "Resources", "displayName"), ["ETL_BOT", "RIVERY_USER"]);
    let sp_me = api.get(&format!("{SCIM}/Me"), &made.sp_token).await;
    assert_eq!(sp_me["userName"], made.sp_application_id.as_str());
    api.get(&format!("/api/2.0/sql/warehouses/{}", made.warehouse_id), admin).await;
    let grants = api.get(&format!("{UC}/permissions/schema/hive_metastore.default"), admin).await;
    assert!(
        grants["privilege_assignments"]
            .as_array()
            .is_some_and(|a| a.iter().any(|p| p["principal"] == "alice@example.com"
                && p["privileges"].as_array().is_some_and(|v| v.contains(&json!("SELECT"))))),
        "{grants}"
    );
    let run = api.get(&format!("/api/2.2/jobs/runs/get?run_id={}", made.run_id), admin).await;
    assert_eq!(run["tasks"][0]["task_key"], "main", "{run}");
    let secrets = api.get("/api/2.0/secrets/list?scope=etl", &made.sp_token).await;
    assert_eq!(names(&secrets, "secrets", "key"), ["password"]);
    let connection = api
        .ok(reqwest::Method::POST, &format!("{PC}/connections/rivery/test"), admin, Some(json!({})))
        .await["connection"]
        .clone();
    assert_eq!(connection["state"], "CONNECTED", "{connection}");
    assert_eq!(
        connection["partner_test"]["passed"], true,
        "the partner's token works on the copy: {connection}"
    );

    // New rows get new ids (PostgreSQL sequences moved past the copied ones): deleting the
    // connection writes audit events and a partner notification.
    api.ok(reqwest::Method::DELETE, &format!("{PC}/connections/rivery"), admin, None).await;
    let audit = api.get(&format!("{PC}/audit"), admin).await;
    assert!(audit["events"].as_array().map_or(0, Vec::len) > made.audit_events, "{audit}");
    let after = api.get(&format!("{SCIM}/ServicePrincipals"), admin).await;
    assert_eq!(names(&after, "Resources", "displayName"), ["ETL_BOT"]);
}

#[test]
fn a_missing_source_is_refused_before_anything_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("target.db");
    let out = migrate(&tmp.path().join("nothing-here"), &format!("sqlite://{}", target.display()));
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no patchbay database"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!target.exists());
}
