//! Two `patchbay serve` nodes on one database and one table storage, as behind a load balancer
//! that spreads a client's requests over them: tables written through one node are read
//! through the other, writes through both at once all land, and a statement's poll, chunks,
//! result links and cancel, and a session, work whichever node a request reaches; the same with
//! the tables in an S3 bucket.

mod common;

use common::s3::S3;
use common::{Server, client, json_ok, json_with, log_next_to, serve_command};
use patchbay_store::testing::TestDatabase;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A node with a data directory of its own, on the shared database and table storage.
fn node(data_dir: &Path, db: &TestDatabase, tables: &Path) -> Server {
    Server::spawn(node_command(data_dir, db, tables.as_os_str()))
}

fn node_command(data_dir: &Path, db: &TestDatabase, tables: &OsStr) -> Command {
    let mut cmd = serve_command("127.0.0.1:0", data_dir, Some(db.url.as_str()));
    // The nodes of one installation share its secret key.
    cmd.arg("--secret-key-file")
        .arg(data_dir.parent().expect("a node's directory").join("secret.key"));
    cmd.arg("--table-storage").arg(tables).stderr(log_next_to(data_dir));
    cmd
}

/// Runs `body` as a statement on `url`; the whole response.
async fn execute(url: &str, token: &str, body: Value) -> Value {
    json_ok(
        client()
            .post(format!("{url}/api/2.0/sql/statements"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request"),
    )
    .await
}

/// Runs `sql` on `url` and waits for it; the response, which must have succeeded.
async fn run(url: &str, token: &str, warehouse: &str, sql: &str) -> Value {
    let r = execute(
        url,
        token,
        json!({"warehouse_id": warehouse, "statement": sql, "wait_timeout": "50s"}),
    )
    .await;
    assert_eq!(r["status"]["state"], "SUCCEEDED", "{sql}: {r}");
    r
}

fn first_column(r: &Value) -> Vec<String> {
    r["result"]["data_array"]
        .as_array()
        .expect("data_array")
        .iter()
        .map(|row| row[0].as_str().expect("a value").to_owned())
        .collect()
}

/// The first column of what `sql` answers on the node at `url`; it must succeed.
async fn first_column_of(url: &str, token: &str, warehouse: &str, sql: &str) -> Vec<String> {
    first_column(&run(url, token, warehouse, sql).await)
}

async fn get(url: &str, token: &str, path: &str) -> reqwest::Response {
    client().get(format!("{url}{path}")).bearer_auth(token).send().await.expect("request")
}

/// Polls statement `id` through `url` until it ends.
async fn poll(url: &str, token: &str, id: &str) -> Value {
    for _ in 0..600 {
        let r = json_ok(get(url, token, &format!("/api/2.0/sql/statements/{id}")).await).await;
        assert_eq!(r["statement_id"], id);
        if !matches!(r["status"]["state"].as_str(), Some("PENDING" | "RUNNING")) {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("statement {id} did not end in a minute");
}

/// A warehouse with the table `landing.events`, which twenty INSERTs at once fill, half
/// through each node: every one lands, once, and each node reads all twenty rows. The
/// warehouse's id.
async fn twenty_inserts_through_both(a: &Server, b: &Server, token: &str) -> String {
    let warehouse: Value = json_ok(
        client()
            .post(format!("{}/api/2.0/sql/warehouses", a.url))
            .bearer_auth(token)
            .json(&json!({"name": "shared", "cluster_size": "2X-Small", "max_num_clusters": 1}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let warehouse = warehouse["id"].as_str().unwrap().to_owned();
    run(&a.url, token, &warehouse, "CREATE SCHEMA landing").await;
    run(&b.url, token, &warehouse, "CREATE TABLE landing.events (id BIGINT, node STRING)").await;
    let mut writes = Vec::new();
    for i in 0..20 {
        let (url, name) = if i % 2 == 0 { (a.url.clone(), "a") } else { (b.url.clone(), "b") };
        let (token, warehouse) = (token.to_owned(), warehouse.clone());
        writes.push(tokio::spawn(async move {
            let sql = format!("INSERT INTO landing.events VALUES ({i}, '{name}')");
            run(&url, &token, &warehouse, &sql).await;
        }));
    }
    for write in writes {
        write.await.expect("every INSERT succeeds");
    }
    let expected: Vec<String> = (0..20).map(|i| i.to_string()).collect();
    for url in [&a.url, &b.url] {
        let ids =
            first_column_of(url, token, &warehouse, "SELECT id FROM landing.events ORDER BY id")
                .await;
        assert_eq!(ids, expected, "each node reads all twenty rows, once");
    }
    warehouse
}

/// A statement that runs for a while: long enough to be polled and cancelled.
const SLOW: &str = "SELECT COUNT(*) FROM range(0, 2000000000) AS a(x) WHERE x % 7 = 3";

#[tokio::test]
async fn two_nodes_serve_the_same_tables_and_each_others_statements() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDatabase::create().await.unwrap();
    let tables = tmp.path().join("tables");
    let a = node(&tmp.path().join("a"), &db, &tables);
    let token = a.token.clone().expect("the first node prints the admin token");
    let b = node(&tmp.path().join("b"), &db, &tables);
    assert!(b.token.is_none(), "the second node joins the installation");
    let http = client();

    let warehouse = twenty_inserts_through_both(&a, &b, &token).await;

    // A statement run on node A, polled on node B until it ends, its result read there.
    let started = execute(
        &a.url,
        &token,
        json!({"warehouse_id": warehouse, "wait_timeout": "0s", "on_wait_timeout": "CONTINUE",
               "statement": "SELECT id, node FROM landing.events ORDER BY id"}),
    )
    .await;
    let id = started["statement_id"].as_str().unwrap().to_owned();
    let done = poll(&b.url, &token, &id).await;
    assert_eq!(done["status"]["state"], "SUCCEEDED", "{done}");
    assert_eq!(done["manifest"]["total_row_count"], 20);
    assert_eq!(done["result"]["data_array"][19], json!(["19", "b"]));
    let chunk = json_ok(
        get(&b.url, &token, &format!("/api/2.0/sql/statements/{id}/result/chunks/0")).await,
    )
    .await;
    assert_eq!(chunk["data_array"], done["result"]["data_array"]);

    // Someone else asking node B about it is told it does not exist, as on node A.
    let sp: Value = json_with(
        http.post(format!("{}/api/2.0/preview/scim/v2/ServicePrincipals", a.url))
            .bearer_auth(&token)
            .json(&json!({"displayName": "OTHER_USER"}))
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let may_use_tokens = http
        .patch(format!("{}/api/2.0/permissions/authorization/tokens", a.url))
        .bearer_auth(&token)
        .json(&json!({"access_control_list": [{"service_principal_name": sp["applicationId"],
                                               "permission_level": "CAN_USE"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(may_use_tokens.status(), 200);
    let other: Value = json_ok(
        http.post(format!("{}/api/2.0/token-management/on-behalf-of/tokens", a.url))
            .bearer_auth(&token)
            .json(&json!({"application_id": sp["applicationId"], "lifetime_seconds": 3600}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let other = other["token_value"].as_str().unwrap().to_owned();
    for url in [&a.url, &b.url] {
        let r =
            json_with(get(url, &other, &format!("/api/2.0/sql/statements/{id}")).await, 404).await;
        assert_eq!(r["error_code"], "RESOURCE_DOES_NOT_EXIST", "{r}");
    }

    // A result link made by node A, fetched through node B, serves the same bytes.
    let linked = execute(
        &a.url,
        &token,
        json!({"warehouse_id": warehouse, "wait_timeout": "30s", "disposition": "EXTERNAL_LINKS",
               "format": "ARROW_STREAM", "statement": "SELECT id FROM landing.events"}),
    )
    .await;
    let link =
        linked["result"]["external_links"][0]["external_link"].as_str().expect("a link").to_owned();
    assert!(link.starts_with(&a.url), "{link}");
    let through_b = link.replacen(&a.url, &b.url, 1);
    let from_a = http.get(&link).send().await.unwrap();
    assert_eq!(from_a.status(), 200);
    let from_b = http.get(&through_b).send().await.unwrap();
    assert_eq!(from_b.status(), 200);
    assert_eq!(from_b.headers()["content-type"], "application/vnd.apache.arrow.stream");
    assert_eq!(from_b.bytes().await.unwrap(), from_a.bytes().await.unwrap());
    let forged = format!("{}{}", &through_b[..through_b.len() - 4], "0000");
    assert_eq!(http.get(&forged).send().await.unwrap().status(), 403);

    // A statement running on node A, cancelled through node B.
    let slow = execute(
        &a.url,
        &token,
        json!({"warehouse_id": warehouse, "wait_timeout": "0s", "statement": SLOW}),
    )
    .await;
    let slow_id = slow["statement_id"].as_str().unwrap().to_owned();
    let cancel = http
        .post(format!("{}/api/2.0/sql/statements/{slow_id}/cancel", b.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 200);
    let ended = poll(&a.url, &token, &slow_id).await;
    assert_eq!(ended["status"]["state"], "CANCELED", "{ended}");

    // A session opened on node A, moved to another schema on node B, used on node A.
    let session: Value = json_ok(
        http.post(format!("{}/api/2.0/sql/sessions", a.url))
            .bearer_auth(&token)
            .json(&json!({"warehouse_id": warehouse}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let session = session["session_id"].as_str().unwrap().to_owned();
    let in_session =
        |sql: &str| json!({"session_id": session, "statement": sql, "wait_timeout": "30s"});
    let used = execute(&b.url, &token, in_session("USE SCHEMA landing")).await;
    assert_eq!(used["status"]["state"], "SUCCEEDED", "{used}");
    let count = execute(&a.url, &token, in_session("SELECT COUNT(*) FROM events")).await;
    assert_eq!(count["status"]["state"], "SUCCEEDED", "{count}");
    assert_eq!(first_column(&count), vec!["20".to_owned()]);
    let closed = http
        .delete(format!("{}/api/2.0/sql/sessions/{session}", b.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), 200);
    let gone = http
        .post(format!("{}/api/2.0/sql/statements", a.url))
        .bearer_auth(&token)
        .json(&json!({"session_id": session, "statement": "SELECT 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404, "a closed session is closed on every node");

    // Node A dies: what it held is unreachable, and node B says so rather than pretending.
    let held = execute(
        &a.url,
        &token,
        json!({"warehouse_id": warehouse, "wait_timeout": "30s", "statement": "SELECT 1"}),
    )
    .await;
    let held = held["statement_id"].as_str().unwrap().to_owned();
    a.kill9();
    let r =
        json_with(get(&b.url, &token, &format!("/api/2.0/sql/statements/{held}")).await, 503).await;
    assert_eq!(r["error_code"], "TEMPORARILY_UNAVAILABLE", "{r}");
    // Node B's own work goes on.
    let nodes: BTreeSet<String> =
        first_column_of(&b.url, &token, &warehouse, "SELECT DISTINCT node FROM landing.events")
            .await
            .into_iter()
            .collect();
    assert_eq!(nodes, BTreeSet::from(["a".to_owned(), "b".to_owned()]));
}

/// A node storing its tables in the bucket `url` of `s3`.
fn bucket_node(s3: &S3, data_dir: &Path, db: &TestDatabase, url: &str) -> Command {
    let mut cmd = node_command(data_dir, db, OsStr::new(url));
    s3.configure(&mut cmd);
    cmd
}

/// The tables stored under `tables/` in a listing of keys: the first path segment of each.
fn stored_tables(keys: &[String]) -> BTreeSet<String> {
    keys.iter()
        .filter_map(|k| k.strip_prefix("tables/")?.split_once('/'))
        .map(|(table, _)| table.to_owned())
        .filter(|table| !table.starts_with('_'))
        .collect()
}

#[tokio::test]
#[ignore = "needs an S3 endpoint (PATCHBAY_TEST_S3_ENDPOINT); scripts/test starts one"]
async fn two_nodes_share_tables_in_a_bucket() {
    let s3 = S3::from_env();
    let bucket = s3.bucket().await;
    let url = format!("s3://{bucket}/tables");
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDatabase::create().await.unwrap();
    let a = Server::spawn(bucket_node(&s3, &tmp.path().join("a"), &db, &url));
    let token = a.token.clone().expect("the first node prints the admin token");
    let b = Server::spawn(bucket_node(&s3, &tmp.path().join("b"), &db, &url));
    // The nodes' commits race for each version in the bucket.
    let warehouse = twenty_inserts_through_both(&a, &b, &token).await;

    // Changes through one node are what the other reads.
    run(&a.url, &token, &warehouse, "UPDATE landing.events SET node = 'moved' WHERE id < 5").await;
    run(&b.url, &token, &warehouse, "DELETE FROM landing.events WHERE id >= 15").await;
    run(&a.url, &token, &warehouse, "CREATE TABLE landing.copied AS SELECT * FROM landing.events")
        .await;
    let moved = first_column_of(
        &b.url,
        &token,
        &warehouse,
        "SELECT COUNT(*) FROM landing.copied WHERE node = 'moved'",
    )
    .await;
    assert_eq!(moved, vec!["5".to_owned()]);
    let left =
        first_column_of(&b.url, &token, &warehouse, "SELECT COUNT(*) FROM landing.copied").await;
    assert_eq!(left, vec!["15".to_owned()]);

    // The tables are Delta tables in the bucket, and nowhere on the nodes' disks.
    let keys = s3.keys(&bucket, "tables/").await;
    let tables = stored_tables(&keys);
    assert_eq!(tables.len(), 2, "two tables in the bucket: {keys:?}");
    for table in &tables {
        let first_commit = format!("tables/{table}/_delta_log/00000000000000000000.json");
        assert!(keys.contains(&first_commit), "{first_commit} in {keys:?}");
    }
    assert!(keys.iter().any(|k| k.ends_with(".parquet")), "the rows are in the bucket: {keys:?}");
    for node in ["a", "b"] {
        assert!(
            !tmp.path().join(node).join("tables").exists(),
            "node {node} keeps no tables of its own"
        );
    }
    assert!(
        !keys.iter().any(|k| k.contains("_patchbay_probe")),
        "the nodes' start-up checks leave nothing behind: {keys:?}"
    );

    // Dropping a table removes its objects from the bucket, and only its.
    run(&b.url, &token, &warehouse, "DROP TABLE landing.copied").await;
    let after = stored_tables(&s3.keys(&bucket, "tables/").await);
    assert_eq!(after.len(), 1, "one table left: {after:?}");
    assert!(after.is_subset(&tables));
    let count =
        first_column_of(&a.url, &token, &warehouse, "SELECT COUNT(*) FROM landing.events").await;
    assert_eq!(count, vec!["15".to_owned()]);
}

#[tokio::test]
#[ignore = "needs an S3 endpoint (PATCHBAY_TEST_S3_ENDPOINT); scripts/test starts one"]
async fn a_node_does_not_start_on_a_bucket_it_cannot_use() {
    let s3 = S3::from_env();
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDatabase::create().await.unwrap();
    let missing = format!("s3://patchbay-test-{}/tables", uuid::Uuid::new_v4().simple());
    let stderr = refused(bucket_node(&s3, &tmp.path().join("a"), &db, &missing)).await;
    assert!(stderr.contains("NoSuchBucket"), "{stderr}");

    // An endpoint in plain HTTP is used only when the operator says so, as the AWS tools do.
    let bucket = format!("s3://{}/tables", s3.bucket().await);
    let mut cmd = bucket_node(&s3, &tmp.path().join("b"), &db, &bucket);
    cmd.env_remove("AWS_ALLOW_HTTP");
    let stderr = refused(cmd).await;
    assert!(stderr.contains("set AWS_ALLOW_HTTP=true"), "{stderr}");

    // A store that ignores conditional writes would let two nodes' commits of one version
    // overwrite each other: refused. (The test endpoint ignores them in buckets named so.)
    let name = format!("patchbay-unconditional-{}", uuid::Uuid::new_v4().simple());
    s3.create(&name).await;
    let stderr =
        refused(bucket_node(&s3, &tmp.path().join("c"), &db, &format!("s3://{name}/t"))).await;
    assert!(stderr.contains("does not honour conditional writes"), "{stderr}");
    assert_eq!(s3.keys(&name, "").await, Vec::<String>::new(), "the check leaves nothing behind");
}

/// Runs `serve` with `cmd`, which must fail to start on its table storage; what it said.
async fn refused(mut cmd: Command) -> String {
    cmd.stderr(std::process::Stdio::piped());
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run patchbay serve"))
        .await
        .unwrap();
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(!out.status.success(), "serve must not start: {stderr}");
    assert!(
        stderr.starts_with("patchbay: cannot use the table storage s3://"),
        "the error names the storage: {stderr}"
    );
    assert!(!stdout.contains("listening on"), "it never listened: {stdout}");
    assert!(
        !stdout.contains("admin token"),
        "no admin token is shown by a start that fails: {stdout}"
    );
    stderr
}

#[tokio::test]
async fn nodes_on_https_with_certificates_of_their_own_pass_statements_on() {
    let tmp = tempfile::tempdir().unwrap();
    let db = TestDatabase::create().await.unwrap();
    let tables = tmp.path().join("tables");
    let start = |name: &str| {
        let mut cmd = node_command(&tmp.path().join(name), &db, tables.as_os_str());
        cmd.arg("--tls");
        Server::spawn(cmd)
    };
    let (a, b) = (start("a"), start("b"));
    let token = a.token.clone().expect("the admin token");
    // Each node made a CA of its own: the client trusts both, as a load balancer would.
    let ca = |name: &str| {
        let pem = std::fs::read(tmp.path().join(name).join("tls/ca.pem")).unwrap();
        reqwest::Certificate::from_pem(&pem).unwrap()
    };
    assert_ne!(
        std::fs::read(tmp.path().join("a/tls/ca.pem")).unwrap(),
        std::fs::read(tmp.path().join("b/tls/ca.pem")).unwrap(),
        "the nodes' CAs differ"
    );
    common::install_crypto();
    let https = reqwest::Client::builder().tls_certs_only([ca("a"), ca("b")]).build().unwrap();
    let call = |url: String, body: Option<Value>| {
        let request = match body {
            Some(body) => https.post(url).json(&body),
            None => https.get(url),
        };
        request.bearer_auth(&token).send()
    };
    let warehouse = json_ok(
        call(
            format!("{}/api/2.0/sql/warehouses", a.url),
            Some(json!({"name": "tls", "cluster_size": "2X-Small", "max_num_clusters": 1})),
        )
        .await
        .unwrap(),
    )
    .await;
    let statement = json!({"warehouse_id": warehouse["id"], "wait_timeout": "0s",
        "on_wait_timeout": "CONTINUE", "statement": "SELECT x * 2 FROM range(0, 5) AS t(x) ORDER BY x"});
    let started =
        json_ok(call(format!("{}/api/2.0/sql/statements", a.url), Some(statement)).await.unwrap())
            .await;
    let id = started["statement_id"].as_str().expect("an id").to_owned();
    // Polled through node B, which passes it on to node A over HTTPS, trusting A's CA.
    let mut done = Value::Null;
    for _ in 0..300 {
        done = json_ok(call(format!("{}/api/2.0/sql/statements/{id}", b.url), None).await.unwrap())
            .await;
        if !matches!(done["status"]["state"].as_str(), Some("PENDING" | "RUNNING")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(done["status"]["state"], "SUCCEEDED", "{done}");
    assert_eq!(first_column(&done), ["0", "2", "4", "6", "8"]);
}
