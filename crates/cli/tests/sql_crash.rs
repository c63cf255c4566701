//! SQL writes and `kill -9`: a real server process runs INSERTs and CREATE TABLE … AS SELECT
//! while it is killed, again and again. After each restart every acknowledged write is there,
//! no table is half-written (a table's rows are exactly a set of whole INSERTs), and every
//! table the catalog lists can be read. The same with the tables in an S3 bucket.

mod common;

use common::s3::S3;
use common::{Server, client, json_ok, scratch, serve_command};
use patchbay_store::testing::TestDatabase;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// Where the tables are: the data directory, or a bucket (`s3://…`) of a local S3 endpoint.
type Tables<'a> = Option<(&'a S3, &'a str)>;

fn start(data_dir: &Path, db: &TestDatabase, tables: Tables) -> Server {
    let database_url = db.is_postgres().then_some(db.url.as_str());
    let mut cmd = serve_command("127.0.0.1:0", data_dir, database_url);
    cmd.stderr(Stdio::null());
    if let Some((s3, url)) = tables {
        s3.configure(&mut cmd).args(["--table-storage", url]);
    }
    Server::spawn(cmd)
}

async fn statement(url: &str, token: &str, warehouse: &str, sql: &str) -> Option<Value> {
    let r = client()
        .post(format!("{url}/api/2.0/sql/statements"))
        .bearer_auth(token)
        .json(&json!({"warehouse_id": warehouse, "statement": sql, "wait_timeout": "30s"}))
        .send()
        .await
        .ok()?;
    let body: Value = r.json().await.ok()?;
    (body["status"]["state"] == "SUCCEEDED").then_some(body)
}

fn values(body: &Value) -> Vec<i64> {
    body["result"]["data_array"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[0].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn acknowledged_sql_writes_survive_kill_9_and_no_table_is_half_written() {
    kill_loop(None).await;
}

#[tokio::test]
#[ignore = "needs an S3 endpoint (PATCHBAY_TEST_S3_ENDPOINT); scripts/test starts one"]
async fn acknowledged_sql_writes_to_a_bucket_survive_kill_9() {
    let s3 = S3::from_env();
    let url = format!("s3://{}/tables", s3.bucket().await);
    kill_loop(Some((&s3, &url))).await;
}

/// Kills the server six times while writers run, with its tables in `storage`; checks every
/// acknowledged write and every listed table after each restart.
async fn kill_loop(storage: Tables<'_>) {
    let (_tmp, db, data) = scratch().await;
    let first = start(&data, &db, storage);
    let token = first.token.clone().expect("the admin token");
    let r: Value = json_ok(
        client()
            .post(format!("{}/api/2.0/sql/warehouses", first.url))
            .bearer_auth(&token)
            .json(&json!({"name": "wh", "cluster_size": "2X-Small", "max_num_clusters": 1}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let warehouse = r["id"].as_str().unwrap().to_owned();
    statement(&first.url, &token, &warehouse, "CREATE TABLE log (batch BIGINT, n BIGINT)")
        .await
        .expect("create");

    let mut server = Some(first);
    let mut acknowledged = BTreeSet::new();
    let mut tables = BTreeSet::new();
    let mut batch = 0i64;
    for round in 0..6u64 {
        let url = server.as_ref().unwrap().url.clone();
        // Writers run until the kill: each INSERT writes 100 rows of one batch number.
        let writer = {
            let (url, token, warehouse) = (url.clone(), token.clone(), warehouse.clone());
            let first_batch = batch;
            tokio::spawn(async move {
                let mut done = Vec::new();
                for b in first_batch.. {
                    let sql = format!("INSERT INTO log SELECT {b}, x FROM range(0, 100) AS t(x)");
                    match statement(&url, &token, &warehouse, &sql).await {
                        Some(_) => done.push(b),
                        None => break,
                    }
                    if b % 3 == 0 {
                        let ctas =
                            format!("CREATE TABLE copy_{b} AS SELECT * FROM log WHERE batch = {b}");
                        if statement(&url, &token, &warehouse, &ctas).await.is_none() {
                            break;
                        }
                        done.push(-b - 1);
                    }
                }
                done
            })
        };
        tokio::time::sleep(Duration::from_millis(300 + 170 * round)).await;
        server.take().unwrap().kill9();
        for b in writer.await.unwrap() {
            if b >= 0 {
                acknowledged.insert(b);
                batch = batch.max(b + 1);
            } else {
                tables.insert(-b - 1);
            }
        }
        // Attempts that were cut short may or may not have landed: the next round starts after
        // them, so each batch number is written by one INSERT at most.
        batch += 1;

        let next = start(&data, &db, storage);
        let url = next.url.clone();
        let counts = statement(
            &url,
            &token,
            &warehouse,
            "SELECT batch FROM log GROUP BY batch HAVING COUNT(*) <> 100",
        )
        .await
        .expect("the table reads after a crash");
        assert_eq!(values(&counts), Vec::<i64>::new(), "a batch was half-written");
        let present: BTreeSet<i64> = values(
            &statement(&url, &token, &warehouse, "SELECT DISTINCT batch FROM log")
                .await
                .expect("read"),
        )
        .into_iter()
        .collect();
        assert!(
            acknowledged.is_subset(&present),
            "acknowledged batches lost: {:?}",
            acknowledged.difference(&present).collect::<Vec<_>>()
        );
        for b in &tables {
            let copy =
                statement(&url, &token, &warehouse, &format!("SELECT COUNT(*) FROM copy_{b}"))
                    .await
                    .unwrap_or_else(|| panic!("the acknowledged table copy_{b} cannot be read"));
            assert_eq!(values(&copy), [100]);
        }
        // Every table the catalog lists reads, acknowledged or not.
        let listed = statement(&url, &token, &warehouse, "SHOW TABLES").await.expect("show");
        for row in listed["result"]["data_array"].as_array().unwrap() {
            let name = row[1].as_str().unwrap();
            statement(&url, &token, &warehouse, &format!("SELECT COUNT(*) FROM {name}"))
                .await
                .unwrap_or_else(|| panic!("listed table {name} cannot be read after a crash"));
        }
        server = Some(next);
    }
    assert!(acknowledged.len() > 5, "the writers made progress: {acknowledged:?}");
    if let Some((s3, url)) = storage {
        let bucket = url
            .strip_prefix("s3://")
            .and_then(|rest| rest.split('/').next())
            .expect("an s3:// URL");
        let keys = s3.keys(bucket, "").await;
        assert!(
            keys.iter().any(|k| k.ends_with(".parquet")),
            "the rows were written to the bucket: {keys:?}"
        );
        assert!(!data.join("tables").exists(), "and not to the data directory");
    }
}
