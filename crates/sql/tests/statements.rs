//! SQL on a warehouse through the Statement Execution API, black-box: a real server state with
//! the engine, real Delta tables in a temporary directory, principals set up through the API.
//! What each profile's principal may do with data, statement by statement; the API's waiting,
//! polling, cancelling, chunks, formats and links; sessions; history; hostile statements.

#[path = "../../server/tests/common/mod.rs"]
mod common;

use axum::http::{Method, StatusCode};
use common::{Reply, SCIM, TestApp};
use patchbay_engine::arrow::ipc::reader::StreamReader;
use patchbay_server::{AppState, Settings};
use patchbay_sql::{EngineLimits, Warehouses};
use serde_json::{Value, json};
use std::sync::Arc;

const STATEMENTS: &str = "/api/2.0/sql/statements";
const UC: &str = "/api/2.1/unity-catalog";

struct Sql {
    app: TestApp,
    warehouse: String,
    tables: tempfile::TempDir,
}

impl Sql {
    async fn new() -> Sql {
        Sql::with(|_| {}, EngineLimits::default()).await
    }

    async fn with(adjust: impl FnOnce(&mut Settings), limits: EngineLimits) -> Sql {
        Sql::on(adjust, limits, false).await
    }

    /// A workspace whose clock moves only when the test advances it.
    async fn clocked() -> Sql {
        Sql::on(|_| {}, EngineLimits::default(), true).await
    }

    async fn on(adjust: impl FnOnce(&mut Settings), limits: EngineLimits, clocked: bool) -> Sql {
        let tables = tempfile::tempdir().unwrap();
        let root = url::Url::from_directory_path(tables.path()).unwrap();
        let make_state = |store: patchbay_store::Store, settings| {
            let warehouses = Warehouses::new(store.clone(), root, limits).expect("engine");
            AppState::with_sql(store, settings, Some(Arc::new(warehouses)))
        };
        let url = "http://127.0.0.1:1";
        let app = if clocked {
            TestApp::build_with_state_clocked(url, adjust, make_state).await
        } else {
            TestApp::build_with_state(url, adjust, make_state).await
        };
        let r = app
            .admin_post(
                "/api/2.0/sql/warehouses",
                json!({"name": "wh", "cluster_size": "2X-Small", "max_num_clusters": 1}),
            )
            .await;
        let warehouse = r.ok()["id"].as_str().unwrap().to_owned();
        Sql { app, warehouse, tables }
    }

    async fn run(&self, token: &str, statement: &str) -> Reply {
        self.run_with(token, statement, json!({})).await
    }

    async fn run_with(&self, token: &str, statement: &str, extra: Value) -> Reply {
        let mut body = json!({"warehouse_id": self.warehouse, "statement": statement,
                              "wait_timeout": "50s"});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        self.app.call(Method::POST, STATEMENTS, Some(token), Some(body)).await
    }

    /// Runs as the admin and requires success.
    async fn admin(&self, statement: &str) -> Value {
        let r = self.run(&self.app.admin_token.clone(), statement).await;
        succeeded(&r, statement)
    }

    /// A service principal with a token and CAN_USE on the warehouse: (application id, token).
    async fn service_principal(&self, name: &str) -> (String, String) {
        let r = self
            .app
            .admin_post(&format!("{SCIM}/ServicePrincipals"), json!({"displayName": name}))
            .await;
        let app_id = r.expect(StatusCode::CREATED)["applicationId"].as_str().unwrap().to_owned();
        self.app
            .admin_patch(
                "/api/2.0/permissions/authorization/tokens",
                json!({"access_control_list": [
                    {"service_principal_name": app_id, "permission_level": "CAN_USE"}]}),
            )
            .await
            .ok();
        self.warehouse_level(&app_id, "CAN_USE").await;
        let r = self
            .app
            .admin_post(
                "/api/2.0/token-management/on-behalf-of/tokens",
                json!({"application_id": app_id}),
            )
            .await;
        let token = r.ok()["token_value"].as_str().unwrap().to_owned();
        (app_id, token)
    }

    /// A service principal as [`Sql::service_principal`] makes it, that may use the catalog
    /// `main` and has `privileges` on its schema `schema`.
    async fn granted(&self, name: &str, privileges: &str, schema: &str) -> (String, String) {
        let (app_id, token) = self.service_principal(name).await;
        self.admin(&format!("GRANT USE CATALOG ON CATALOG main TO `{app_id}`")).await;
        self.admin(&format!("GRANT {privileges} ON SCHEMA main.{schema} TO `{app_id}`")).await;
        (app_id, token)
    }

    /// Runs as the admin and requires failure with `code`: the error's message.
    async fn refused(&self, statement: &str, code: &str) -> String {
        let (got, message) = failed(&self.run(&self.app.admin_token.clone(), statement).await);
        assert_eq!(got, code, "{statement}: {message}");
        message
    }

    /// Runs as the admin, requires success: the rows as text.
    async fn rows(&self, statement: &str) -> Vec<Vec<String>> {
        texts(&self.admin(statement).await)
    }

    /// The query history as the admin sees it (its first 100 statements).
    async fn history(&self) -> Value {
        self.app.admin_get("/api/2.0/sql/history/queries?max_results=100").await.ok()
    }

    /// The history line that `matches`, once it is there: a line is written as its statement
    /// ends, and a cancelled statement's once its work has been dropped. Fails the test if none
    /// comes within a minute.
    async fn history_line(&self, matches: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..1200 {
            let body = self.history().await;
            let found =
                body["res"].as_array().and_then(|queries| queries.iter().find(|q| matches(q)));
            if let Some(query) = found {
                return query.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("no such line in the query history: {}", self.history().await)
    }

    /// The admin's request about statement `id`: `""` for the statement, `/cancel`; it must
    /// succeed.
    async fn about(&self, method: Method, id: &str, path: &str) -> Value {
        self.app.admin(method, &format!("{STATEMENTS}/{id}{path}"), None).await.ok()
    }

    /// How many tables have files under the table root.
    fn table_dirs(&self) -> usize {
        std::fs::read_dir(self.tables.path())
            .expect("the table root")
            .filter(|e| e.as_ref().is_ok_and(|e| e.path().is_dir()))
            .count()
    }

    /// Gives a service principal `level` on the warehouse, in place of the one it had.
    async fn warehouse_level(&self, service_principal: &str, level: &str) {
        self.app
            .admin_patch(
                &format!("/api/2.0/permissions/sql/warehouses/{}", self.warehouse),
                json!({"access_control_list": [
                    {"service_principal_name": service_principal, "permission_level": level}]}),
            )
            .await
            .ok();
    }
}

fn succeeded(r: &Reply, what: &str) -> Value {
    assert_eq!(r.status, StatusCode::OK, "{what}: {:?}", r.body);
    assert_eq!(r.body["status"]["state"], "SUCCEEDED", "{what}: {:?}", r.body);
    r.body.clone()
}

/// The error of a failed statement: (error_code, message).
fn failed(r: &Reply) -> (String, String) {
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["status"]["state"], "FAILED", "{:?}", r.body);
    assert!(r.body.get("result").is_none(), "no result for a failure");
    let error = &r.body["status"]["error"];
    (
        error["error_code"].as_str().unwrap().to_owned(),
        error["message"].as_str().unwrap().to_owned(),
    )
}

fn denied(r: &Reply) -> String {
    let (code, message) = failed(r);
    assert_eq!(code, "PERMISSION_DENIED", "{message}");
    assert!(message.contains("INSUFFICIENT_PERMISSIONS") && message.contains("42501"), "{message}");
    message
}

fn rows(body: &Value) -> Vec<Vec<Option<String>>> {
    body["result"]["data_array"]
        .as_array()
        .unwrap_or_else(|| panic!("no data_array in {body}"))
        .iter()
        .map(|row| row.as_array().unwrap().iter().map(|v| v.as_str().map(str::to_owned)).collect())
        .collect()
}

fn texts(body: &Value) -> Vec<Vec<String>> {
    rows(body).into_iter().map(|r| r.into_iter().map(Option::unwrap_or_default).collect()).collect()
}

fn column_names(body: &Value) -> Vec<String> {
    body["manifest"]["schema"]["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

// ---- data through a warehouse ---------------------------------------------------------------

#[tokio::test]
async fn tables_hold_rows_through_every_kind_of_statement() {
    let sql = Sql::new().await;
    common::enable_uc(&sql.app).await;
    sql.admin("CREATE SCHEMA main.sales").await;
    sql.admin("CREATE TABLE main.sales.orders (id BIGINT NOT NULL, customer STRING, amount DECIMAL(10,2))")
        .await;
    let r = sql
        .admin("INSERT INTO main.sales.orders VALUES (1, 'ada', 10.50), (2, 'bob', 20.00), (3, 'ada', 5.25)")
        .await;
    assert_eq!(texts(&r), [["3", "3"]]);
    assert_eq!(column_names(&r), ["num_affected_rows", "num_inserted_rows"]);

    let r = sql
        .admin(
            "WITH t AS (SELECT customer, SUM(amount) AS total FROM `main`.`sales`.`orders` \
             GROUP BY customer) SELECT customer, total, RANK() OVER (ORDER BY total DESC) AS r \
             FROM t ORDER BY customer",
        )
        .await;
    assert_eq!(texts(&r), [["ada", "15.75", "2"], ["bob", "20.00", "1"]]);
    let columns = &r["manifest"]["schema"]["columns"];
    assert_eq!(columns[1]["type_name"], "DECIMAL");
    assert_eq!(columns[0]["type_name"], "STRING");
    assert_eq!(r["manifest"]["total_row_count"], 2);
    assert_eq!(r["manifest"]["format"], "JSON_ARRAY");

    // A model as dbt builds it: CREATE OR REPLACE TABLE … USING DELTA AS SELECT, twice.
    for _ in 0..2 {
        sql.admin(
            "create or replace table main.sales.by_customer using delta as \
             select customer, count(*) as orders from main.sales.orders group by customer",
        )
        .await;
    }
    assert_eq!(
        sql.rows("SELECT customer, orders FROM main.sales.by_customer ORDER BY customer").await,
        [["ada", "2"], ["bob", "1"]]
    );
    let (_, message) = failed(
        &sql.run(&sql.app.admin_token, "CREATE TABLE main.sales.as_parquet (a INT) USING PARQUET")
            .await,
    );
    assert!(message.contains("Delta"), "{message}");

    assert_eq!(
        sql.rows("UPDATE main.sales.orders SET amount = amount * 2 WHERE customer = 'ada'").await,
        [["2"]]
    );
    assert_eq!(sql.rows("DELETE FROM main.sales.orders WHERE id = 2").await, [["1"]]);
    sql.admin("CREATE TABLE main.sales.updates AS SELECT 1 AS id, 'ann' AS customer, CAST(1.00 AS DECIMAL(10,2)) AS amount UNION ALL SELECT 9, 'zed', CAST(9.99 AS DECIMAL(10,2))")
        .await;
    sql.admin(
        "MERGE INTO main.sales.orders t USING main.sales.updates s ON t.id = s.id \
         WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
    )
    .await;
    assert_eq!(
        sql.rows("SELECT id, customer, amount FROM main.sales.orders ORDER BY id").await,
        [["1", "ann", "1.00"], ["3", "ada", "10.50"], ["9", "zed", "9.99"]]
    );
    sql.admin("CREATE VIEW main.sales.big AS SELECT id FROM main.sales.orders WHERE amount > 5")
        .await;
    assert_eq!(sql.rows("SELECT * FROM main.sales.big ORDER BY id").await, [["3"], ["9"]]);
    sql.admin("CREATE OR REPLACE VIEW main.sales.big AS SELECT id FROM main.sales.orders WHERE amount > 10")
        .await;
    assert_eq!(sql.rows("SELECT * FROM main.sales.big").await, [["3"]]);
    sql.admin("INSERT OVERWRITE main.sales.updates SELECT 5, 'eve', 1.00").await;
    assert_eq!(sql.rows("SELECT COUNT(*) FROM main.sales.updates").await, [["1"]]);
    // The catalog API shows what SQL made, columns included.
    let r = sql.app.admin_get(&format!("{UC}/tables/main.sales.updates")).await;
    let body = r.ok();
    assert_eq!(body["table_type"], "MANAGED");
    assert_eq!(body["columns"][1]["name"], "customer");
    // Its location is the Delta table the warehouses wrote, for other Delta readers; DESCRIBE
    // TABLE EXTENDED says the same.
    let location = body["storage_location"].as_str().expect("a location").to_owned();
    let id = body["table_id"].as_str().unwrap();
    let dir = sql.tables.path().join(id);
    assert_eq!(location, url::Url::from_file_path(&dir).unwrap().as_str());
    assert!(dir.join("_delta_log").is_dir(), "{location}");
    let described = sql.rows("DESCRIBE TABLE EXTENDED main.sales.updates").await;
    assert!(
        described.contains(&vec!["Location".to_owned(), location, String::new()]),
        "{described:?}"
    );
    let r = sql.app.admin_get(&format!("{UC}/tables/main.sales.big")).await;
    let view = r.ok();
    assert_eq!(view["view_definition"], "SELECT id FROM main.sales.orders WHERE amount > 10");
    // A view's columns are its query's, in the catalog as in DESCRIBE and information_schema,
    // where BI tools and the SQL connector's `columns()` look for them.
    assert_eq!(view["columns"][0]["name"], "id", "{view}");
    assert_eq!(view["columns"][0]["type_name"], "LONG", "{view}");
    assert_eq!(view["columns"].as_array().map(Vec::len), Some(1), "{view}");
    assert!(view.get("storage_location").is_none(), "a view stores nothing: {view}");
    let described = sql.rows("DESCRIBE TABLE main.sales.big").await;
    assert_eq!(described[0][..2], ["id".to_owned(), "bigint".to_owned()]);
    assert_eq!(
        sql.rows(
            "SELECT column_name FROM main.information_schema.columns \
                 WHERE table_name = 'big'"
        )
        .await,
        [["id"]]
    );

    // Session functions and parameters.
    let r = sql
        .run_with(
            &sql.app.admin_token,
            "SELECT current_user(), current_catalog(), :n + 1, :s",
            json!({"parameters": [{"name": "n", "value": "41", "type": "INT"},
                                  {"name": "s", "value": "it's"}]}),
        )
        .await;
    assert_eq!(texts(&succeeded(&r, "parameters")), [["admin@example.com", "main", "42", "it's"]]);

    // Databricks' names for functions DataFusion names otherwise.
    let r = sql
        .run_with(
            &sql.app.admin_token,
            "SELECT typeof(CAST(1 AS INT)) AS a, typeof(CAST(1 AS BIGINT)) AS b, \
             typeof('a') AS c, typeof(CAST(1.5 AS DOUBLE)) AS d, typeof(array('x', 'y')) AS e, \
             typeof(CAST(2.5 AS DECIMAL(10,2))) AS f, typeof(NULL) AS g, typeof(:d) AS h, \
             array(1, 2)[1] AS i",
            json!({"parameters": [{"name": "d", "value": "2024-02-29", "type": "DATE"}]}),
        )
        .await;
    assert_eq!(
        texts(&succeeded(&r, "typeof")),
        [[
            "int",
            "bigint",
            "string",
            "double",
            "array<string>",
            "decimal(10,2)",
            "void",
            "date",
            // A subscript counts from 0, as Spark's does.
            "2"
        ]]
    );

    // Spark's typed number literals, as the casts they stand for; one that does not fit its
    // type is refused, and a suffix in a string is text.
    assert_eq!(
        sql.rows(
            "SELECT 1.5D + 1 AS a, typeof(2.5D) AS b, typeof(2.5f) AS c, typeof(10L) AS d, \
             typeof(2S) AS e, typeof(3Y) AS f, typeof(1.25BD) AS g, 1.25BD AS h, .5D AS i, \
             '1.5D' AS j"
        )
        .await,
        [[
            "2.5",
            "double",
            "float",
            "bigint",
            "smallint",
            "tinyint",
            "decimal(3,2)",
            "1.25",
            "0.5",
            "1.5D"
        ]]
    );
    let (_, message) = failed(&sql.run(&sql.app.admin_token, "SELECT 300Y").await);
    assert!(message.contains("Can't cast value 300"), "{message}");

    // Spark's day arithmetic and `size`, which models written for Databricks use; a date may be
    // given as a string or a timestamp, and NULL stays NULL (an empty text here).
    assert_eq!(
        sql.rows(
            "SELECT date_add(DATE'2024-02-28', 2) AS a, date_sub('2024-03-01', 1) AS b, \
             datediff(DATE'2025-01-01', TIMESTAMP'2024-01-01 23:59:00') AS c, \
             date_add(DATE'2024-01-01', CAST(NULL AS INT)) AS d, typeof(date_add('2024-01-01', 1)) AS e, \
             typeof(datediff('2024-01-02', '2024-01-01')) AS f, size(array(1, 2, 3)) AS g, \
             size(CAST(NULL AS ARRAY<INT>)) AS h, typeof(size(array('x'))) AS i"
        )
        .await,
        [[
            "2024-03-01",
            "2024-02-29",
            "366",
            "",
            "date",
            "int",
            "3",
            "",
            "int"
        ]]
    );
    let (_, message) = failed(&sql.run(&sql.app.admin_token, "SELECT date_add(1.5, 1)").await);
    assert!(message.contains("date_add() takes (DATE, INT)"), "{message}");
    let (_, message) = failed(&sql.run(&sql.app.admin_token, "SELECT size('abc')").await);
    assert!(message.contains("size() takes an ARRAY or a MAP"), "{message}");

    // More of Databricks' functions, as they answer there: dates by Spark's patterns (a
    // pattern the engine would print as text), parts of dates, conditionals, JSON, digests,
    // regular expressions, and aggregates that skip NULLs.
    assert_eq!(
        sql.rows(
            "SELECT date_format(TIMESTAMP'2024-03-05 10:11:12.345', 'yyyy-MM-dd HH:mm:ss.SSS') AS a, \
             to_date('05/03/2024', 'dd/MM/yyyy') AS b, year(DATE'2024-03-05') AS c, \
             dayofweek(DATE'2024-03-05') AS d, hour(TIMESTAMP'2024-03-05 10:11:12') AS e, \
             add_months(DATE'2024-01-31', 1) AS f, last_day(DATE'2023-02-05') AS g, \
             trunc(DATE'2024-03-05', 'MM') AS h, dateadd(DAY, 2, DATE'2024-02-28') AS i, \
             timestampdiff(HOUR, TIMESTAMP'2024-01-01 00:00:00', TIMESTAMP'2024-01-02 06:00:00') AS j"
        )
        .await,
        [[
            "2024-03-05 10:11:12.345",
            "2024-03-05",
            "2024",
            "3",
            "10",
            "2024-02-29",
            "2023-02-28",
            "2024-03-01",
            "2024-03-01",
            "30"
        ]]
    );
    assert_eq!(
        sql.rows(
            "SELECT if(1 > 2, 'a', 'b') AS a, nvl2(NULL, 1, 2) AS b, isnull(NULL) AS c, \
             decode(2, 1, 'one', 2, 'two', 'many') AS d, int('7') + 1 AS e, \
             get_json_object('{\"a\": {\"b\": [1, {\"c\": \"x\"}]}}', '$.a.b[1].c') AS f, \
             sha2('abc', 256) AS g, regexp_extract('abc123', '([a-z]+)([0-9]+)', 2) AS h, \
             'abc' RLIKE '^a' AS i, locate('l', 'hello') AS j, pmod(-7, 3) AS k, \
             sort_array(array(2, NULL, 3), false) AS l, \
             named_struct('a', 1, 'b', 'x') AS m"
        )
        .await,
        [[
            "b",
            "2",
            "true",
            "two",
            "8",
            "x",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "123",
            "true",
            "3",
            "2",
            "[3,2,null]",
            r#"{"a":1,"b":"x"}"#
        ]]
    );
    assert_eq!(
        sql.rows(
            "SELECT base64('abcd') AS a, base64('ab') AS b, CAST(unbase64('YWI=') AS STRING) AS c, \
             try_divide(3, 2) AS d, try_divide(1, 0) AS e, \
             to_unix_timestamp(TIMESTAMP '1970-01-02 00:00:00') AS f, \
             date_diff(DAY, DATE '2026-01-01', DATE '2026-01-31') AS g"
        )
        .await,
        [["YWJjZA==", "YWI=", "ab", "1.5", "", "86400", "30"]]
    );
    assert_eq!(
        sql.rows(
            "SELECT collect_list(x) AS a, count_if(x > 1) AS b, max_by(x, y) AS c, \
             min_by(x, y) AS d, every(x > 0) AS e \
             FROM VALUES (1, 2), (NULL, 1), (3, 0) AS t(x, y)"
        )
        .await,
        [["[1,3]", "1", "1", "3", "true"]]
    );
    // Over no rows (or only NULLs) the lists are empty, not NULL.
    assert_eq!(
        sql.rows(
            "SELECT collect_list(x) AS a, collect_set(x) AS b, size(collect_list(x)) AS c \
             FROM VALUES (1), (NULL) AS t(x) WHERE x IS NULL"
        )
        .await,
        [["[]", "[]", "0"]]
    );

    // A result column the query does not name is named as Databricks names it, and two may
    // share a name.
    let r = sql
        .admin("SELECT 1, 1, 1 + 1, count(*), upper('a'), x > 1 FROM VALUES (2) AS t(x) GROUP BY x")
        .await;
    assert_eq!(texts(&r), [["1", "1", "2", "1", "A", "true"]]);
    assert_eq!(column_names(&r), ["1", "1", "(1 + 1)", "count(1)", "upper(a)", "(x > 1)"]);

    // A table made through the catalog API is empty and usable.
    sql.app
        .admin_post(&format!("{UC}/tables"), json!({"catalog_name": "main", "schema_name": "sales", "name": "api_made",
                        "table_type": "MANAGED", "data_source_format": "DELTA",
                        "columns": [{"name": "x", "type_name": "INT", "type_text": "int", "position": 0}]}))
        .await
        .ok();
    assert_eq!(sql.rows("SELECT COUNT(*) FROM main.sales.api_made").await, [["0"]]);
    sql.admin("INSERT INTO main.sales.api_made VALUES (7)").await;
    assert_eq!(sql.rows("SELECT x FROM main.sales.api_made").await, [["7"]]);

    // Dropping removes the table; its name can be used again, empty.
    sql.admin("DROP TABLE main.sales.updates").await;
    let (code, message) =
        failed(&sql.run(&sql.app.admin_token, "SELECT * FROM main.sales.updates").await);
    assert_eq!(code, "NOT_FOUND");
    assert!(message.contains("TABLE_OR_VIEW_NOT_FOUND"), "{message}");
    sql.admin("CREATE TABLE main.sales.updates (id INT)").await;
    assert_eq!(sql.rows("SELECT COUNT(*) FROM main.sales.updates").await, [["0"]]);
}

/// The message of a statement that fails as it runs.
async fn failure(sql: &Sql, statement: &str) -> String {
    failed(&sql.run(&sql.app.admin_token, statement).await).1
}

#[tokio::test]
async fn time_zones_digests_numbers_json_and_elements_answer_as_on_databricks() {
    let sql = Sql::new().await;

    // dbt's convert_timezone is to_utc_timestamp, then from_utc_timestamp; a zone is a region
    // or an offset; months count as Spark counts them, fractions in 31-day months.
    assert_eq!(
        sql.rows(
            "SELECT date_format(from_utc_timestamp(TIMESTAMP'2024-07-01 12:00:00', 'America/New_York'), 'yyyy-MM-dd HH:mm') AS a, \
             date_format(to_utc_timestamp(TIMESTAMP'2024-01-01 08:00:00', 'America/New_York'), 'yyyy-MM-dd HH:mm') AS b, \
             date_format(from_utc_timestamp('2024-01-01 00:00:00', '+05:30'), 'yyyy-MM-dd HH:mm') AS c, \
             typeof(to_utc_timestamp(DATE'2024-01-01', 'UTC')) AS d, \
             from_utc_timestamp(CAST(NULL AS TIMESTAMP), 'UTC') IS NULL AS e, \
             months_between(TIMESTAMP'1997-02-28 10:30:00', DATE'1996-10-30') AS f, \
             months_between(DATE'2024-03-31', DATE'2024-02-29') AS g, \
             months_between(DATE'2024-01-01', DATE'2024-02-01') AS h"
        )
        .await,
        [[
            "2024-07-01 08:00",
            "2024-01-01 13:00",
            "2024-01-01 05:30",
            "timestamp",
            "true",
            "3.94959677",
            "1.0",
            "-1.0"
        ]]
    );
    // The session's time zone is UTC: the current time is a TIMESTAMP (an instant), and a table
    // made of it holds TIMESTAMPs, as dbt's snapshot and audit columns do on Databricks.
    // So are a TIMESTAMP literal and a cast to TIMESTAMP (a model's staging casts), read in UTC.
    assert_eq!(
        sql.rows(
            "SELECT typeof(current_timestamp()) AS a, typeof(now()) AS b, \
             typeof(TIMESTAMP'2024-01-01 10:00:00') AS c, \
             typeof(CAST('2024-01-01 10:00:00' AS TIMESTAMP)) AS d, \
             to_unix_timestamp(TIMESTAMP'1970-01-02 00:00:00') AS e, \
             hour(CAST('2024-03-05 10:11:12' AS TIMESTAMP)) AS f"
        )
        .await,
        [["timestamp", "timestamp", "timestamp", "timestamp", "86400", "10"]]
    );
    common::enable_uc(&sql.app).await;
    sql.admin(
        "CREATE TABLE main.default.loads AS SELECT 1 AS id, current_timestamp() AS at, \
         CAST('2024-01-01 10:00:00' AS TIMESTAMP) AS since",
    )
    .await;
    assert_eq!(
        api_columns(&sql, "main.default.loads").await[1..],
        [column("at", "timestamp", None), column("since", "timestamp", None)]
    );
    assert_eq!(
        sql.rows(
            "SELECT CAST(since AS STRING) FROM main.default.loads \
             WHERE since = TIMESTAMP'2024-01-01 10:00:00'"
        )
        .await,
        [["2024-01-01 10:00:00"]]
    );

    // Dates as Spark names and counts them.
    assert_eq!(
        sql.rows(
            "SELECT from_unixtime(0, 'yyyy-MM-dd') AS a, weekday(DATE'2024-03-04') AS b, \
             typeof(weekday(DATE'2024-03-10')) AS c, next_day(DATE'2024-03-06', 'Mon') AS d, \
             next_day(DATE'2024-03-04', 'monday') AS e, \
             date_format(make_timestamp(2024, 1, 2, 3, 4, 5.5), 'yyyy-MM-dd HH:mm:ss.SSS') AS f"
        )
        .await,
        [["1970-01-01", "0", "int", "2024-03-11", "2024-03-11", "2024-01-02 03:04:05.500"]]
    );
    assert_eq!(
        sql.rows(
            "SELECT listagg(x, ',') AS a, to_json(map_from_arrays(array('k'), array(1))) AS b \
             FROM VALUES ('a'), ('b') AS t(x)"
        )
        .await,
        [["a,b", r#"{"k":1}"#]]
    );

    // A timestamp cast to text is written as Spark writes it (a key made of one matches
    // Databricks'), the fraction of a second as far as it goes.
    assert_eq!(
        sql.rows(
            "SELECT CAST(TIMESTAMP'2024-01-01 10:00:00' AS STRING) AS a, \
             string(TIMESTAMP'2024-01-01 10:00:00.5') AS b, \
             md5(CAST(TIMESTAMP'2024-01-01 10:00:00' AS STRING)) = md5('2024-01-01 10:00:00') AS c, \
             'at ' || TIMESTAMP'2024-01-01 10:00:00' AS d"
        )
        .await,
        [[
            "2024-01-01 10:00:00",
            "2024-01-01 10:00:00.5",
            "true",
            "at 2024-01-01 10:00:00"
        ]]
    );
    let message =
        failure(&sql, "SELECT from_utc_timestamp(TIMESTAMP'2024-01-01 00:00:00', 'Mars/Olympus')")
            .await;
    assert!(message.contains("INVALID_TIMEZONE"), "{message}");

    // Digests, numbers as text, JSON of nested values.
    assert_eq!(
        sql.rows(
            "SELECT sha1('abc') AS a, crc32('Spark') AS b, sha1(CAST(NULL AS STRING)) AS c, \
             format_number(12332.123456, 4) AS d, format_number(1234567, 0) AS e, \
             format_number(0.125, 2) AS f, format_number(-0.001, 2) AS g, \
             format_number(CAST(1234.5 AS DECIMAL(10, 2)), 1) AS h, format_number(5, -1) AS i, \
             to_json(named_struct('a', 1, 'b', 'x')) AS j, to_json(array(1, 2, NULL)) AS k, \
             to_json(named_struct('a', named_struct('b', array('x')))) AS l"
        )
        .await,
        [[
            "a9993e364706816aba3e25717850c26c9cd0d89d",
            "1557323817",
            "",
            "12,332.1235",
            "1,234,567",
            "0.12",
            "-0.00",
            "1,234.5",
            "",
            r#"{"a":1,"b":"x"}"#,
            "[1,2,null]",
            r#"{"a":{"b":["x"]}}"#
        ]]
    );

    // Spark's Murmur3 `hash`, bit for bit: the examples of Spark's manual, a BIGINT in 8 bytes,
    // a NULL that leaves the seed (42), -0.0 as 0.0.
    assert_eq!(
        sql.rows(
            "SELECT hash('Spark', array(123), 2) AS a, hash(1) AS b, hash(CAST(1 AS BIGINT)) AS c, \
             hash(NULL) AS d, hash(CAST(NULL AS INT), 1) AS e, hash(-0.0D) = hash(0.0D) AS f, \
             typeof(hash(1)) AS g"
        )
        .await,
        [["-1321691492", "-559580957", "-1712319331", "42", "-559580957", "true", "int"]]
    );
    assert_eq!(column_names(&sql.admin("SELECT hash(1, array(2))").await), ["hash(1, array(2))"]);

    // Strings as Spark cuts, joins and replaces them: a NULL part makes concat NULL, a
    // position of 0 is the first and a negative one counts from the end, every match is
    // replaced.
    assert_eq!(
        sql.rows(
            "SELECT concat('a', NULL) IS NULL AS a, concat('a', 'b', 1) AS b, \
             concat(array(1), array(2)) AS c, substr('hello', 0, 2) AS d, \
             substring('hello', -3) AS e, SUBSTRING('hello' FROM 2 FOR 2) AS f, \
             regexp_replace('a1b2', '[0-9]', '') AS g, \
             regexp_replace('a1b2', '([a-z])([0-9])', '$2$1') AS h, \
             slice(array(1, 2, 3, 4), -2, 2) AS i, sign(-3) AS j"
        )
        .await,
        [["true", "ab1", "[1,2]", "he", "llo", "el", "ab", "1a2b", "[3,4]", "-1.0"]]
    );

    // An array's elements count from 1, from the end when negative; a map's by key.
    assert_eq!(
        sql.rows(
            "SELECT element_at(array(10, 20, 30), 1) AS a, element_at(array(10, 20, 30), -1) AS b, \
             try_element_at(array(10), 5) AS c, element_at(map(array('a', 'b'), array(1, 2)), 'b') AS d, \
             element_at(map(array('a'), array(1)), 'z') AS e, \
             element_at(array('x', NULL), 2) IS NULL AS f, typeof(element_at(array('x'), 1)) AS g \
             FROM VALUES (1) AS t(one)"
        )
        .await,
        [["10", "30", "", "2", "", "true", "string"]]
    );
    let message = failure(&sql, "SELECT element_at(array(1, 2), 3)").await;
    assert!(
        message.contains("INVALID_ARRAY_INDEX_IN_ELEMENT_AT") && message.contains("try_element_at"),
        "{message}"
    );
    let message = failure(&sql, "SELECT try_element_at(array(1, 2), 0)").await;
    assert!(message.contains("INVALID_INDEX_OF_ZERO"), "{message}");
    let message = failure(&sql, "SELECT format_number(1.5D, 100000000)").await;
    assert!(message.contains("at most 1000 decimals"), "{message}");
    let message = failure(&sql, "SELECT element_at('abc', 1)").await;
    assert!(message.contains("element_at() takes"), "{message}");
}

#[tokio::test]
async fn what_dbt_databricks_sends_reads_and_writes_as_on_databricks() {
    let sql = Sql::new().await;
    common::enable_uc(&sql.app).await;

    // A backslash in a string escapes as Spark reads it; dbt escapes a quote in a description
    // so. A doubled quote is still one quote.
    assert_eq!(
        sql.rows(
            r"SELECT 'it\'s' AS a, 'a\\b' AS b, length('tab\there') AS c, 'x\_y' AS d, 'it''s' AS e, regexp_extract('ab12', '(\\d+)', 1) AS f"
        )
        .await,
        [["it's", "a\\b", "8", "x\\_y", "it's", "12"]]
    );
    sql.admin(
        r"CREATE TABLE main.default.people (id BIGINT, name STRING, tier STRING) COMMENT 'the shop\'s people'",
    )
    .await;
    sql.admin(r"COMMENT ON COLUMN main.default.people.name IS 'the person\'s name'").await;
    // A view's text is read again at each query: its strings mean what they meant.
    sql.admin(r"CREATE VIEW main.default.paths AS SELECT 'C:\\temp' AS path, 'it\'s' AS said")
        .await;
    assert_eq!(sql.rows("SELECT path, said FROM main.default.paths").await, [["C:\\temp", "it's"]]);

    // DESCRIBE TABLE EXTENDED … AS JSON: where dbt-databricks reads a relation's columns.
    let described = sql.rows("DESCRIBE TABLE EXTENDED main.default.people AS JSON").await;
    let doc: Value = serde_json::from_str(&described[0][0]).expect("JSON");
    assert_eq!(
        (
            &doc["table_name"],
            &doc["catalog_name"],
            &doc["schema_name"],
            &doc["type"],
            &doc["provider"],
            &doc["comment"]
        ),
        (
            &json!("people"),
            &json!("main"),
            &json!("default"),
            &json!("MANAGED"),
            &json!("delta"),
            &json!("the shop's people")
        )
    );
    assert_eq!(
        doc["columns"],
        json!([
            {"name": "id", "type": {"name": "bigint"}, "nullable": true},
            {"name": "name", "type": {"name": "string", "collation": "UTF8_BINARY"},
             "comment": "the person's name", "nullable": true},
            {"name": "tier", "type": {"name": "string", "collation": "UTF8_BINARY"},
             "nullable": true},
        ])
    );
    let view: Value = serde_json::from_str(
        &sql.rows("DESCRIBE TABLE EXTENDED main.default.paths AS JSON").await[0][0],
    )
    .expect("JSON");
    assert_eq!(view["type"], "VIEW");
    assert!(view["view_text"].as_str().unwrap().contains("temp"), "{view}");
    sql.refused("DESCRIBE TABLE main.default.people AS JSON", "BAD_REQUEST").await;

    // Databricks' path into JSON text (`raw:a.b`), as models read JSON columns a loader landed:
    // a value as text, cast after if asked; and a `:name` after a space is still a parameter.
    let r = sql
        .run_with(
            &sql.app.admin_token.clone(),
            r#"SELECT raw:customer.id AS a, raw:items[1].sku AS b, raw:['odd key'] AS c,
                      raw:customer.id::int + 1 AS d, raw:missing IS NULL AS e, raw:customer AS f,
                      raw:CUSTOMER.Id AS g, raw:['Customer'] IS NULL AS h
               FROM VALUES ('{"customer":{"id":7},"items":[{"sku":"x"},{"sku":"y"}],"odd key":true}')
               AS t(raw) WHERE raw:customer.id = :wanted"#,
            json!({"parameters": [{"name": "wanted", "value": "7"}]}),
        )
        .await;
    assert_eq!(
        texts(&succeeded(&r, "JSON paths")),
        [["7", "y", "true", "8", "true", r#"{"id":7}"#, "7", "true"]]
    );

    // A name after a dot is matched in any case; one several keys match is an error.
    sql.refused(r#"SELECT raw:zip FROM VALUES ('{"Zip": 1, "zip": 2}') AS t(raw)"#, "BAD_REQUEST")
        .await;

    // count(DISTINCT a, b) counts the distinct pairs in which neither is NULL, as Spark does.
    assert_eq!(
        sql.rows(
            "SELECT count(DISTINCT a, b) AS pairs, count(DISTINCT a) AS a_only FROM VALUES \
             (1, 'x'), (1, 'x'), (1, 'y'), (2, NULL), (NULL, 'z'), (3, 'x') AS t(a, b)"
        )
        .await,
        [["3", "3"]]
    );
    let named = sql.admin("SELECT count(DISTINCT a, b) FROM VALUES (1, 2) AS t(a, b)").await;
    assert_eq!(column_names(&named), ["count(DISTINCT a, b)"]);

    // SHOW CREATE TABLE writes a statement that makes the same table again.
    let shown = sql.rows("SHOW CREATE TABLE main.default.people").await;
    assert_eq!(
        shown[0][0],
        "CREATE TABLE main.default.people (\n  id BIGINT,\n  name STRING COMMENT 'the person\\'s name',\n  \
         tier STRING)\nUSING delta\nCOMMENT 'the shop\\'s people'\n"
    );
    sql.admin(&shown[0][0].replace("main.default.people ", "main.default.people_again ")).await;
    assert_eq!(
        api_columns(&sql, "main.default.people_again").await,
        api_columns(&sql, "main.default.people").await
    );
    let view = sql.rows("SHOW CREATE TABLE main.default.paths").await;
    assert!(
        view[0][0].starts_with("CREATE VIEW main.default.paths (\n  path,\n  said)\nAS SELECT"),
        "{view:?}"
    );

    // INSERT … BY NAME (dbt's append): each column goes to the table's of its name.
    sql.admin(
        "INSERT INTO main.default.people BY NAME SELECT 'gold' AS tier, 1 AS ID, 'Ada' AS name",
    )
    .await;
    assert_eq!(
        sql.rows("SELECT id, name, tier FROM main.default.people").await,
        [["1", "Ada", "gold"]]
    );
    sql.refused(
        "INSERT INTO main.default.people BY NAME SELECT 1 AS id, 'x' AS nickname",
        "BAD_REQUEST",
    )
    .await;

    // In WHEN NOT MATCHED only the source's row exists, and a bare name is the source's
    // (dbt's snapshots write their inserts so): the names both sides have are not ambiguous.
    sql.admin(
        "MERGE INTO main.default.people AS t USING (SELECT 2 AS id, 'Grace' AS name, \
         'silver' AS tier UNION ALL SELECT 1, 'Ada', 'platinum' UNION ALL SELECT 3, 'Edsger', 'none') AS s \
         ON s.id = t.id WHEN MATCHED THEN UPDATE SET tier = s.tier \
         WHEN NOT MATCHED AND tier <> 'none' THEN INSERT (id, name, tier) VALUES (id, upper(name), tier)",
    )
    .await;
    assert_eq!(
        sql.rows("SELECT id, name, tier FROM main.default.people ORDER BY id").await,
        [["1", "Ada", "platinum"], ["2", "GRACE", "silver"]]
    );

    // system.information_schema spans every catalog the caller sees, with Unity Catalog's
    // columns; what patchbay keeps none of (tags, row filters, masks, constraints) is empty.
    assert_eq!(
        sql.rows(
            "SELECT table_catalog, table_name, table_type, typeof(created), \
             last_altered >= created FROM system.information_schema.tables \
             WHERE table_schema = 'default' ORDER BY table_name"
        )
        .await,
        [
            ["main", "paths", "VIEW", "timestamp", "true"],
            ["main", "people", "MANAGED", "timestamp", "true"],
            ["main", "people_again", "MANAGED", "timestamp", "true"]
        ]
    );
    for view in [
        "system.information_schema.table_tags",
        "system.information_schema.column_tags",
        "system.information_schema.column_masks",
        "main.information_schema.row_filters",
        "main.information_schema.table_constraints",
        "main.information_schema.key_column_usage",
        "main.information_schema.referential_constraints",
    ] {
        assert_eq!(sql.rows(&format!("SELECT count(*) FROM {view}")).await, [["0"]], "{view}");
    }
    sql.refused("SELECT * FROM system.information_schema.volumes", "NOT_FOUND").await;
    // A principal granted nothing sees nothing there.
    let (_, token) = sql.service_principal("NOBODY_USER").await;
    let r = sql.run(&token, "SELECT count(*) FROM system.information_schema.tables").await;
    assert_eq!(texts(&succeeded(&r, "system tables")), [["0"]]);
}

#[tokio::test]
async fn integers_divide_as_doubles_and_subscripts_count_from_zero_as_in_spark() {
    let sql = Sql::new().await;
    common::enable_uc(&sql.app).await;
    // An average made of a sum and a count is not cut short to an integer; decimals divide as
    // decimals.
    assert_eq!(
        sql.rows(
            "SELECT 7 / 2 AS a, typeof(7 / 2) AS b, sum(x) / count(x) AS c, 1 / 4 + 1 AS d, \
             typeof(CAST(7 AS DECIMAL(10,2)) / 2) LIKE 'decimal%' AS e, \
             try_divide(7, 0) IS NULL AS f FROM VALUES (1), (2) AS t(x)"
        )
        .await,
        [["3.5", "double", "1.5", "1.25", "true", "true"]]
    );
    // A table or a view made of a division holds DOUBLEs.
    sql.admin("CREATE TABLE main.default.ratios AS SELECT 7 / 2 AS r").await;
    sql.admin("CREATE VIEW main.default.ratio_view AS SELECT 1 / 4 AS r").await;
    for (table, value) in [("ratios", "3.5"), ("ratio_view", "0.25")] {
        assert_eq!(
            api_columns(&sql, &format!("main.default.{table}")).await,
            [column("r", "double", None)]
        );
        assert_eq!(sql.rows(&format!("SELECT r FROM main.default.{table}")).await, [[value]]);
    }
    // `DIV` keeps the whole part, toward zero, as a BIGINT.
    assert_eq!(
        sql.rows(
            "SELECT 7 DIV 2 AS a, -7 div 2 AS b, 7.5D DIV 2 AS c, 7 DIV 2 + 1 AS d, \
             typeof(7 DIV 2) AS e, 9223372036854775807 DIV 2 AS f"
        )
        .await,
        [["3", "-3", "3", "4", "bigint", "4611686018427387903"]]
    );
    for statement in [
        "SELECT 1 / 0",
        "SELECT 1.5D / 0",
        "SELECT x / 0 FROM VALUES (1) AS t(x)",
        "SELECT 1 DIV 0",
    ] {
        let message = failure(&sql, statement).await;
        assert!(message.contains("DIVIDE_BY_ZERO"), "{statement}: {message}");
    }

    // An UPDATE's and a MERGE's expressions divide and call functions the same way; their
    // mistakes are the statement's (400s), not the storage's.
    sql.admin("CREATE TABLE main.default.scores (id INT, r DOUBLE, s STRING)").await;
    sql.admin("INSERT INTO main.default.scores VALUES (1, 0, 'a'), (2, 0, 'b')").await;
    sql.admin(
        "UPDATE main.default.scores SET r = 7 / 2, s = if(id = 1, 'one', 'other') WHERE id = 1",
    )
    .await;
    sql.admin("UPDATE main.default.scores SET r = id / 4 WHERE id = 2").await;
    let all = "SELECT id, r, s FROM main.default.scores ORDER BY id";
    assert_eq!(sql.rows(all).await, [["1", "3.5", "one"], ["2", "0.5", "b"]]);
    sql.admin(
        "MERGE INTO main.default.scores AS t USING (SELECT 2 AS id, 9 AS v) AS s ON t.id = s.id \
         WHEN MATCHED THEN UPDATE SET r = s.v DIV 2 + s.v / 4",
    )
    .await;
    assert_eq!(sql.rows(all).await[1], ["2", "6.25", "b"]);
    let message = sql.refused("UPDATE main.default.scores SET r = 1 / 0", "BAD_REQUEST").await;
    assert!(message.contains("DIVIDE_BY_ZERO"), "{message}");
    let message = sql.refused("UPDATE main.default.scores SET r = nope", "BAD_REQUEST").await;
    assert!(message.contains("nope"), "{message}");
    assert_eq!(sql.rows(all).await[1], ["2", "6.25", "b"]);

    // `array[i]` counts from 0; `get` gives NULL outside the array, where `[]` fails.
    assert_eq!(
        sql.rows(
            "SELECT x[0] AS a, x[1] AS b, get(x, 2) AS c, get(x, -1) AS d, \
             map(array('k'), array(7))['k'] AS e FROM VALUES (array(10, 20)) AS t(x)"
        )
        .await,
        [["10", "20", "", "", "7"]]
    );
    // A struct's field by name, after any expression.
    assert_eq!(
        sql.rows(
            "SELECT named_struct('a', 1, 'b', 2).b AS a, array(named_struct('a', 5))[0].a AS b, \
             named_struct('a', named_struct('c', 7)).a.c AS c"
        )
        .await,
        [["2", "5", "7"]]
    );
    let message = failure(&sql, "SELECT array(10, 20)[2]").await;
    assert!(message.contains("INVALID_ARRAY_INDEX") && message.contains("get()"), "{message}");
}

#[tokio::test]
async fn an_ingest_principal_owns_what_it_creates_and_reads_nothing_else() {
    let sql = Sql::new().await;
    common::enable_uc(&sql.app).await;
    sql.admin("CREATE SCHEMA main.finance").await;
    sql.admin("CREATE TABLE main.finance.salaries (who STRING, pay INT)").await;
    sql.admin("INSERT INTO main.finance.salaries VALUES ('ceo', 1000)").await;
    let (app_id, token) = sql.service_principal("FIVETRAN_USER").await;
    // The ingest profile: use of the catalog and creating schemas in it.
    sql.admin(&format!("GRANT USE CATALOG, CREATE SCHEMA ON CATALOG main TO `{app_id}`")).await;

    let run = |statement: &'static str| sql.run(&token, statement);
    succeeded(&run("CREATE SCHEMA main.fivetran_raw").await, "create schema");
    succeeded(
        &run("CREATE TABLE main.fivetran_raw.events (id BIGINT, kind STRING)").await,
        "create table",
    );
    succeeded(
        &run("INSERT INTO main.fivetran_raw.events VALUES (1, 'click'), (2, 'view')").await,
        "insert",
    );
    let r = run("SELECT kind FROM main.fivetran_raw.events ORDER BY id").await;
    assert_eq!(texts(&succeeded(&r, "select")), [["click"], ["view"]]);
    succeeded(&run("DELETE FROM main.fivetran_raw.events WHERE id = 2").await, "delete");
    let r = run("SHOW GRANTS ON TABLE main.fivetran_raw.events").await;
    assert!(texts(&succeeded(&r, "show grants")).contains(&vec![
        app_id.clone(),
        "OWN".to_owned(),
        "TABLE".to_owned(),
        "main.fivetran_raw.events".to_owned()
    ]));

    // A table it did not create: no reading, no writing, no dropping, and nothing changes.
    let message = denied(&run("SELECT * FROM main.finance.salaries").await);
    assert!(message.contains("USE SCHEMA"), "{message}");
    sql.admin(&format!("GRANT USE SCHEMA ON SCHEMA main.finance TO `{app_id}`")).await;
    let message = denied(&run("SELECT * FROM main.finance.salaries").await);
    assert!(message.contains("SELECT"), "{message}");
    denied(&run("INSERT INTO main.finance.salaries VALUES ('me', 99999)").await);
    denied(&run("UPDATE main.finance.salaries SET pay = 0").await);
    denied(&run("DELETE FROM main.finance.salaries").await);
    denied(
        &run("INSERT INTO main.fivetran_raw.events SELECT 3, who FROM main.finance.salaries").await,
    );
    denied(
        &run("CREATE TABLE main.fivetran_raw.copy AS SELECT * FROM main.finance.salaries").await,
    );
    denied(&run("CREATE VIEW main.fivetran_raw.peek AS SELECT * FROM main.finance.salaries").await);
    let (code, _) = failed(&run("DROP TABLE main.finance.salaries").await);
    assert_eq!(code, "PERMISSION_DENIED");
    assert_eq!(sql.rows("SELECT who, pay FROM main.finance.salaries").await, [["ceo", "1000"]]);
    assert_eq!(
        sql.rows("SELECT COUNT(*) FROM main.fivetran_raw.events").await,
        [["1"]],
        "the refused INSERT … SELECT wrote nothing"
    );
    let r = sql.app.admin_get(&format!("{UC}/tables/main.fivetran_raw.copy")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "the refused CTAS made no table");

    // Listings show it only what it may see.
    let r = run("SHOW TABLES IN main.fivetran_raw").await;
    assert_eq!(texts(&succeeded(&r, "show tables")), [["fivetran_raw", "events", "false"]]);
    let r = run("SHOW TABLES IN main.finance").await;
    assert!(rows(&succeeded(&r, "show tables")).is_empty());
}

/// The table's columns as the catalog API gives them: (name, type, comment).
async fn api_columns(sql: &Sql, table: &str) -> Vec<(String, String, Option<String>)> {
    let body = sql.app.admin_get(&format!("{UC}/tables/{table}")).await.ok();
    body["columns"]
        .as_array()
        .unwrap_or_else(|| panic!("no columns in {body}"))
        .iter()
        .enumerate()
        .map(|(i, c)| {
            assert_eq!(c["position"], i, "positions follow the order: {body}");
            (
                c["name"].as_str().unwrap().to_owned(),
                c["type_text"].as_str().unwrap().to_owned(),
                c["comment"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn column(name: &str, type_text: &str, comment: Option<&str>) -> (String, String, Option<String>) {
    (name.into(), type_text.into(), comment.map(str::to_owned))
}

#[tokio::test]
async fn a_tables_definition_changes_as_loaders_and_dbt_change_it() {
    let sql = Sql::new().await;
    common::enable_uc(&sql.app).await;
    sql.admin("CREATE SCHEMA main.raw").await;
    sql.admin(
        "CREATE TABLE main.raw.events (id BIGINT COMMENT 'the key', kind STRING) \
         COMMENT 'raw events' TBLPROPERTIES ('quality' = 'bronze')",
    )
    .await;
    sql.admin("INSERT INTO main.raw.events VALUES (1, 'click')").await;
    let body = sql.app.admin_get(&format!("{UC}/tables/main.raw.events")).await.ok();
    assert_eq!(body["comment"], "raw events");
    assert_eq!(body["properties"], json!({"quality": "bronze"}));

    // The source grew two columns: the rows there read NULL in them, new rows fill them.
    sql.admin(
        "ALTER TABLE main.raw.events ADD COLUMNS (amount DECIMAL(10,2) COMMENT 'in euros', \
         seen_at TIMESTAMP)",
    )
    .await;
    // The table's history says who changed its columns.
    let latest = texts(&sql.admin("DESCRIBE HISTORY main.raw.events LIMIT 1").await);
    assert_eq!((latest[0][2].as_str(), latest[0][3].as_str()), (common::ADMIN, "ADD COLUMN"));
    sql.admin(
        "INSERT INTO main.raw.events VALUES (2, 'buy', 9.5, TIMESTAMP '2026-12-01 10:00:00')",
    )
    .await;
    let body = sql.admin("SELECT id, kind, amount FROM main.raw.events ORDER BY id").await;
    assert_eq!(
        rows(&body),
        [
            [Some("1".to_owned()), Some("click".to_owned()), None],
            [Some("2".to_owned()), Some("buy".to_owned()), Some("9.50".to_owned())]
        ]
    );
    let four = [
        column("id", "bigint", Some("the key")),
        column("kind", "string", None),
        column("amount", "decimal(10,2)", Some("in euros")),
        column("seen_at", "timestamp", None),
    ];
    assert_eq!(api_columns(&sql, "main.raw.events").await, four);
    // The same change again is refused, naming the column, and changes nothing.
    let message =
        sql.refused("ALTER TABLE main.raw.events ADD COLUMN amount INT", "ALREADY_EXISTS").await;
    assert!(message.contains("amount"), "{message}");
    sql.refused("ALTER TABLE main.raw.events ADD COLUMN must INT NOT NULL", "NOT_IMPLEMENTED")
        .await;
    assert_eq!(api_columns(&sql, "main.raw.events").await, four);

    // dbt's documentation and properties.
    sql.admin("COMMENT ON TABLE main.raw.events IS 'One row an event'").await;
    sql.admin("ALTER TABLE main.raw.events ALTER COLUMN kind COMMENT 'what happened'").await;
    sql.admin("COMMENT ON COLUMN main.raw.events.id IS NULL").await;
    sql.admin(
        "ALTER TABLE main.raw.events SET TBLPROPERTIES ('delta.appendOnly' = 'false', \
         quality = 'silver')",
    )
    .await;
    sql.admin("ALTER TABLE main.raw.events UNSET TBLPROPERTIES ('quality')").await;
    sql.refused("ALTER TABLE main.raw.events UNSET TBLPROPERTIES ('quality')", "BAD_REQUEST").await;
    sql.admin("ALTER TABLE main.raw.events UNSET TBLPROPERTIES IF EXISTS ('quality')").await;
    sql.refused("COMMENT ON COLUMN main.raw.events.nope IS 'x'", "NOT_FOUND").await;
    assert_eq!(
        sql.rows("SHOW TBLPROPERTIES main.raw.events").await,
        [["delta.appendOnly", "false"]]
    );
    assert_eq!(
        sql.rows("SHOW TBLPROPERTIES main.raw.events ('quality')").await,
        [["quality", "Table main.raw.events does not have property: quality"]]
    );
    let body = sql.app.admin_get(&format!("{UC}/tables/main.raw.events")).await.ok();
    assert_eq!(body["comment"], "One row an event");
    assert_eq!(body["properties"], json!({"delta.appendOnly": "false"}));
    // dbt lists relations with SHOW TABLE EXTENDED and reads their kind from `information`.
    let listed = sql.rows("SHOW TABLE EXTENDED IN main.raw LIKE 'ev*'").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0][..3], ["raw", "events", "false"]);
    for line in [
        "Catalog: main\n",
        "Type: MANAGED\n",
        "Provider: delta\n",
        "Comment: One row an event\n",
        "Table Properties: [delta.appendOnly=false]\n",
        "Schema: root\n |-- id: bigint (nullable = true)\n",
        " |-- amount: decimal(10,2) (nullable = true)\n",
    ] {
        assert!(listed[0][3].contains(line), "{line:?} in {}", listed[0][3]);
    }
    assert!(sql.rows("SHOW TABLE EXTENDED IN main.raw LIKE 'nothing'").await.is_empty());
    let extended = sql.rows("DESCRIBE TABLE EXTENDED main.raw.events").await;
    assert!(
        extended.contains(&vec![
            "Table Properties".to_owned(),
            "[delta.appendOnly=false]".to_owned(),
            String::new()
        ]),
        "{extended:?}"
    );
    let described = sql.rows("DESCRIBE TABLE main.raw.events").await;
    assert_eq!(
        described[..4],
        [
            ["id", "bigint", ""],
            ["kind", "string", "what happened"],
            ["amount", "decimal(10,2)", "in euros"],
            ["seen_at", "timestamp", ""],
        ]
    );

    // MODIFY lets a principal change the definition, not the name or the owner; SELECT
    // changes nothing.
    let (app_id, token) = sql.granted("LOADER_USER", "USE SCHEMA", "raw").await;
    sql.admin(&format!("GRANT SELECT ON TABLE main.raw.events TO `{app_id}`")).await;
    let message =
        denied(&sql.run(&token, "ALTER TABLE main.raw.events ADD COLUMNS (source STRING)").await);
    assert!(message.contains("MODIFY"), "{message}");
    denied(&sql.run(&token, "COMMENT ON TABLE main.raw.events IS 'mine'").await);
    assert_eq!(api_columns(&sql, "main.raw.events").await.len(), 4);
    sql.admin(&format!("GRANT MODIFY ON TABLE main.raw.events TO `{app_id}`")).await;
    succeeded(
        &sql.run(&token, "ALTER TABLE main.raw.events ADD COLUMNS (source STRING)").await,
        "add a column with MODIFY",
    );
    succeeded(
        &sql.run(&token, "ALTER TABLE main.raw.events SET TBLPROPERTIES ('loaded' = 'yes')").await,
        "set a property with MODIFY",
    );
    for statement in [
        "ALTER TABLE main.raw.events RENAME TO main.raw.mine",
        "ALTER TABLE main.raw.events OWNER TO `LOADER_USER`",
    ] {
        let message = denied(&sql.run(&token, statement).await);
        assert!(message.contains("owner"), "{statement}: {message}");
    }
    assert_eq!(sql.rows("SELECT source FROM main.raw.events ORDER BY id").await, [[""], [""]]);

    // A rename keeps the rows; TRUNCATE takes them all and keeps the table.
    sql.refused("ALTER TABLE main.raw.events RENAME TO main.default.events", "NOT_IMPLEMENTED")
        .await;
    sql.admin("ALTER TABLE main.raw.events RENAME TO all_events").await;
    sql.refused("SELECT * FROM main.raw.events", "NOT_FOUND").await;
    assert_eq!(sql.rows("SELECT count(*) FROM main.raw.all_events").await, [["2"]]);
    sql.admin("TRUNCATE TABLE main.raw.all_events").await;
    assert_eq!(sql.rows("SELECT count(*) FROM main.raw.all_events").await, [["0"]]);
    assert_eq!(api_columns(&sql, "main.raw.all_events").await.len(), 5);

    // A view has no columns of its own to add; what patchbay does not do is refused by name.
    sql.admin("CREATE VIEW main.raw.v AS SELECT id FROM main.raw.all_events").await;
    let message = sql.refused("ALTER VIEW main.raw.v ADD COLUMNS (x INT)", "BAD_REQUEST").await;
    assert!(message.contains("EXPECT_TABLE_NOT_VIEW"), "{message}");
    sql.refused("ALTER TABLE main.raw.all_events DROP COLUMN kind", "NOT_IMPLEMENTED").await;
    assert_eq!(api_columns(&sql, "main.raw.all_events").await.len(), 5);
}

#[tokio::test]
async fn columns_added_at_once_all_land_and_a_repeated_one_lands_once() {
    let sql = Arc::new(Sql::new().await);
    common::enable_uc(&sql.app).await;
    sql.admin("CREATE TABLE main.default.wide (id INT)").await;
    sql.admin("INSERT INTO main.default.wide VALUES (1)").await;
    let storm = |statement: fn(usize) -> String| {
        let mut storm = tokio::task::JoinSet::new();
        for i in 0..20 {
            let sql = sql.clone();
            storm.spawn(async move { sql.run(&sql.app.admin_token, &statement(i)).await });
        }
        storm.join_all()
    };

    // Twenty different columns at once: every one is added, in Delta and in the catalog.
    for r in storm(|i| format!("ALTER TABLE main.default.wide ADD COLUMN c{i} INT")).await {
        succeeded(&r, "a concurrent ADD COLUMN");
    }
    let columns = api_columns(&sql, "main.default.wide").await;
    assert_eq!(columns.len(), 21, "{columns:?}");
    let listed: Vec<String> = (0..20).map(|i| format!("c{i}")).collect();
    let body = sql.admin(&format!("SELECT {} FROM main.default.wide", listed.join(", "))).await;
    assert_eq!(rows(&body), [vec![None; 20]]);

    // The same column twenty times at once: one adds it, the others are told it is there.
    let replies =
        storm(|_| "ALTER TABLE main.default.wide ADD COLUMN extra STRING".to_owned()).await;
    let (added, refused): (Vec<_>, Vec<_>) =
        replies.iter().partition(|r| r.body["status"]["state"] == "SUCCEEDED");
    assert_eq!(added.len(), 1);
    for r in refused {
        assert_eq!(failed(r).0, "ALREADY_EXISTS");
    }
    assert_eq!(api_columns(&sql, "main.default.wide").await.len(), 22);
    sql.admin("INSERT INTO main.default.wide (id, extra) VALUES (2, 'x')").await;
    assert_eq!(sql.rows("SELECT extra FROM main.default.wide WHERE id = 2").await, [["x"]]);
}

#[tokio::test]
async fn an_add_columns_that_stopped_after_its_delta_commit_is_finished_by_running_it_again() {
    let sql = Sql::new().await;
    common::enable_uc(&sql.app).await;
    sql.admin("CREATE TABLE main.default.t (id INT)").await;
    sql.admin("INSERT INTO main.default.t VALUES (1)").await;
    let table = sql.app.admin_get(&format!("{UC}/tables/main.default.t")).await.ok();
    let id = table["table_id"].as_str().unwrap().to_owned();
    // The Delta table has the column, the catalog does not: what a crash between the two
    // steps leaves.
    let root = url::Url::from_directory_path(sql.tables.path()).unwrap();
    let engine = patchbay_engine::Engine::new(root, EngineLimits::default()).unwrap();
    engine
        .add_columns(
            &id,
            &[patchbay_engine::Column {
                name: "note".into(),
                type_name: "STRING".into(),
                nullable: true,
                comment: None,
            }],
            "loader@example.com",
        )
        .await
        .unwrap();
    assert_eq!(api_columns(&sql, "main.default.t").await.len(), 1);

    sql.admin("ALTER TABLE main.default.t ADD COLUMNS (note STRING COMMENT 'free text')").await;
    assert_eq!(
        api_columns(&sql, "main.default.t").await,
        [column("id", "int", None), column("note", "string", Some("free text"))]
    );
    sql.admin("INSERT INTO main.default.t VALUES (2, 'hello')").await;
    assert_eq!(
        sql.rows("SELECT id, note FROM main.default.t ORDER BY id").await,
        [["1", ""], ["2", "hello"]]
    );
    // A column there with another type is not taken for the one asked for.
    engine
        .add_columns(
            &id,
            &[patchbay_engine::Column {
                name: "n".into(),
                type_name: "INT".into(),
                nullable: true,
                comment: None,
            }],
            "loader@example.com",
        )
        .await
        .unwrap();
    sql.refused("ALTER TABLE main.default.t ADD COLUMN n STRING", "BAD_REQUEST").await;
    assert_eq!(api_columns(&sql, "main.default.t").await.len(), 2);
}

#[tokio::test]
async fn a_table_is_read_as_it_was_at_a_version_of_its_past() {
    let sql = Sql::new().await;
    common::enable_uc(&sql.app).await;
    sql.admin("CREATE TABLE main.default.t (id INT)").await; // version 0
    sql.admin("INSERT INTO main.default.t VALUES (1)").await; // version 1
    sql.admin("INSERT INTO main.default.t VALUES (2)").await; // version 2
    sql.admin("DELETE FROM main.default.t WHERE id = 1").await; // version 3
    let at = |v: u32| format!("SELECT id FROM main.default.t VERSION AS OF {v} ORDER BY id");
    assert!(sql.rows(&at(0)).await.is_empty());
    assert_eq!(sql.rows(&at(1)).await, [["1"]]);
    assert_eq!(sql.rows(&at(2)).await, [["1"], ["2"]]);
    assert_eq!(sql.rows(&at(3)).await, [["2"]]);
    // A point lookup is answered from the version asked for, not from the rows held now.
    assert_eq!(
        sql.rows("SELECT id FROM main.default.t VERSION AS OF 2 WHERE id = 1").await,
        [["1"]]
    );
    assert!(sql.rows("SELECT id FROM main.default.t WHERE id = 1").await.is_empty());
    // By timestamp: now is the latest version; before the table was made there is none.
    let now = sql.rows("SELECT CAST(now() AS STRING)").await[0][0].clone();
    assert_eq!(
        sql.rows(&format!("SELECT id FROM main.default.t TIMESTAMP AS OF '{now}' ORDER BY id"))
            .await,
        [["2"]]
    );
    sql.refused("SELECT * FROM main.default.t TIMESTAMP AS OF '2000-01-01'", "BAD_REQUEST").await;
    let message = sql.refused(&at(9), "BAD_REQUEST").await;
    assert!(message.contains("version 9"), "{message}");
    // What cannot be answered truly is refused.
    for statement in [
        "SELECT * FROM main.default.t VERSION AS OF 1 JOIN main.default.t AS u ON true",
        "INSERT INTO main.default.t SELECT * FROM main.default.t VERSION AS OF 1",
    ] {
        sql.refused(statement, "NOT_IMPLEMENTED").await;
    }
    assert_eq!(sql.rows("SELECT id FROM main.default.t ORDER BY id").await, [["2"]]);

    // The versions to read are those DESCRIBE HISTORY lists, newest first.
    let body = sql.admin("DESCRIBE HISTORY main.default.t").await;
    assert_eq!(
        column_names(&body)[..5],
        ["version", "timestamp", "userName", "operation", "operationParameters"]
    );
    let history = texts(&body);
    let listed: Vec<(&str, &str, &str)> =
        history.iter().map(|row| (row[0].as_str(), row[2].as_str(), row[3].as_str())).collect();
    // Each change says who made it.
    let admin = common::ADMIN;
    assert_eq!(
        listed,
        [
            ("3", admin, "DELETE"),
            ("2", admin, "WRITE"),
            ("1", admin, "WRITE"),
            ("0", admin, "CREATE TABLE")
        ]
    );
    assert!(history[0][4].contains("predicate"), "{:?}", history[0]);
    let latest: Vec<String> = texts(&sql.admin("DESCRIBE HISTORY main.default.t LIMIT 2").await)
        .into_iter()
        .map(|row| row[0].clone())
        .collect();
    assert_eq!(latest, ["3", "2"]);
}

#[tokio::test]
async fn optimize_rewrites_small_files_into_one_and_changes_no_row() {
    let sql = Sql::new().await;
    common::enable_uc(&sql.app).await;
    sql.admin("CREATE TABLE main.default.small (id INT, kind STRING)").await;
    for i in 0..5 {
        sql.admin(&format!("INSERT INTO main.default.small VALUES ({i}, 'k{}')", i % 2)).await;
    }
    let all = "SELECT id, kind FROM main.default.small ORDER BY id";
    let before = sql.rows(all).await;
    let body = sql.admin("OPTIMIZE main.default.small").await;
    assert_eq!(column_names(&body), ["path", "metrics"]);
    let metrics: Value = serde_json::from_str(&texts(&body)[0][1]).unwrap();
    assert_eq!(metrics["numFilesRemoved"], 5, "{metrics}");
    assert_eq!(metrics["numFilesAdded"], 1, "{metrics}");
    assert_eq!(sql.rows(all).await, before);
    let history = texts(&sql.admin("DESCRIBE HISTORY main.default.small LIMIT 1").await);
    assert_eq!(history[0][3], "OPTIMIZE");
    assert_eq!(history[0][2], common::ADMIN);
    // DESCRIBE DETAIL counts the files the table has now, and their bytes.
    let body = sql.admin("DESCRIBE DETAIL main.default.small").await;
    let names = column_names(&body);
    let detail = &texts(&body)[0];
    let field = |name: &str| detail[names.iter().position(|n| n == name).unwrap()].as_str();
    assert_eq!(field("format"), "delta");
    assert_eq!(field("name"), "main.default.small");
    assert_eq!(field("numFiles"), "1");
    assert!(field("sizeInBytes").parse::<u64>().unwrap() > 0);
    assert!(field("location").starts_with("file://"), "{detail:?}");
    // The versions before it are still there to read.
    assert_eq!(sql.rows("SELECT count(*) FROM main.default.small VERSION AS OF 3").await, [["3"]]);
    sql.admin("OPTIMIZE main.default.small ZORDER BY (kind, id)").await;
    assert_eq!(sql.rows(all).await, before);
    sql.refused("OPTIMIZE main.default.small ZORDER BY (nope)", "NOT_FOUND").await;

    // It takes MODIFY, as a write does.
    let (_, token) = sql.granted("READER_USER", "USE SCHEMA, SELECT", "default").await;
    let message = denied(&sql.run(&token, "OPTIMIZE main.default.small").await);
    assert!(message.contains("MODIFY"), "{message}");
}

#[tokio::test]
async fn vacuum_removes_only_files_no_version_within_the_retention_reads() {
    let sql = Arc::new(Sql::new().await);
    common::enable_uc(&sql.app).await;
    sql.admin("CREATE TABLE main.default.v AS SELECT id FROM range(0, 10) AS t(id)").await;
    sql.admin("DELETE FROM main.default.v WHERE id < 5").await;
    // A file a write left when it stopped before its commit, ten days ago.
    let dirs: Vec<std::path::PathBuf> =
        std::fs::read_dir(sql.tables.path()).unwrap().map(|e| e.unwrap().path()).collect();
    let [table_dir] = dirs.as_slice() else { panic!("one table: {dirs:?}") };
    let orphan = table_dir.join("part-00000-orphan.snappy.parquet");
    std::fs::write(&orphan, b"never committed").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&orphan)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(10 * 86_400))
        .unwrap();
    let files = || std::fs::read_dir(table_dir).unwrap().count();
    let before = files();

    // DRY RUN names what would go: the orphan, and not the file the DELETE replaced, which
    // version 1 (the CREATE's rows) still reads and which is younger than the retention.
    let listed = sql.rows("VACUUM main.default.v DRY RUN").await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(listed[0][0].ends_with("/part-00000-orphan.snappy.parquet"), "{listed:?}");
    assert_eq!(files(), before, "a dry run removes nothing");
    // Less than seven days is refused, and removes nothing.
    sql.refused("VACUUM main.default.v RETAIN 0 HOURS", "BAD_REQUEST").await;
    assert!(orphan.exists());
    // Only MODIFY may vacuum.
    let (_, reader) = sql.granted("READER_USER", "USE SCHEMA, SELECT", "default").await;
    denied(&sql.run(&reader, "VACUUM main.default.v").await);
    assert!(orphan.exists());

    // VACUUM answers with the table's location; the orphan is gone, and every version within
    // the retention still reads.
    let answered = sql.rows("VACUUM main.default.v").await;
    let name = table_dir.file_name().unwrap().to_str().unwrap();
    assert!(answered[0][0].ends_with(name), "{answered:?}");
    assert!(!orphan.exists());
    assert_eq!(sql.rows("SELECT count(*) FROM main.default.v VERSION AS OF 1").await, [["10"]]);
    assert_eq!(sql.rows("SELECT count(*) FROM main.default.v").await, [["5"]]);
    sql.refused("VACUUM main.default.nothing", "NOT_FOUND").await;

    // Twenty VACUUMs and twenty INSERTs at once: every one succeeds, no committed file goes,
    // and every version still reads.
    let mut storm = tokio::task::JoinSet::new();
    for i in 0..20 {
        for statement in [
            "VACUUM main.default.v".to_owned(),
            format!("INSERT INTO main.default.v VALUES ({})", 100 + i),
        ] {
            let sql = sql.clone();
            storm
                .spawn(async move { (sql.run(&sql.app.admin_token, &statement).await, statement) });
        }
    }
    for (r, statement) in storm.join_all().await {
        succeeded(&r, &statement);
    }
    assert_eq!(sql.rows("SELECT count(*), sum(id) FROM main.default.v").await, [["25", "2225"]]);
    assert_eq!(sql.rows("SELECT count(*) FROM main.default.v VERSION AS OF 1").await, [["10"]]);
}

#[tokio::test]
async fn restore_brings_a_tables_rows_back_as_a_new_version() {
    let sql = Arc::new(Sql::new().await);
    common::enable_uc(&sql.app).await;
    sql.admin("CREATE TABLE main.default.t (id INT)").await; // version 0
    sql.admin("INSERT INTO main.default.t VALUES (1), (2)").await; // version 1
    sql.admin("DELETE FROM main.default.t WHERE id = 1").await; // version 2: a bad change
    let all = "SELECT id FROM main.default.t ORDER BY id";
    let history = |n: usize| {
        let sql = &sql;
        async move {
            texts(&sql.admin(&format!("DESCRIBE HISTORY main.default.t LIMIT {n}")).await)
                .into_iter()
                .map(|row| (row[0].clone(), row[2].clone(), row[3].clone()))
                .collect::<Vec<_>>()
        }
    };

    let body = sql.admin("RESTORE TABLE main.default.t TO VERSION AS OF 1").await;
    assert_eq!(
        column_names(&body),
        [
            "table_size_after_restore",
            "num_of_files_after_restore",
            "num_removed_files",
            "num_restored_files"
        ]
    );
    let counts = &texts(&body)[0];
    assert_eq!(counts[1..], ["1", "1", "1"], "{counts:?}");
    assert!(counts[0].parse::<u64>().unwrap() > 0, "{counts:?}");
    assert_eq!(sql.rows(all).await, [["1"], ["2"]]);
    // The restore is a new version, by its maker; the bad one is still there to read.
    let admin = common::ADMIN.to_owned();
    assert_eq!(history(1).await, [("3".to_owned(), admin.clone(), "RESTORE".to_owned())]);
    assert_eq!(sql.rows("SELECT id FROM main.default.t VERSION AS OF 2").await, [["2"]]);
    // To a time: the table as it was then.
    let now = sql.rows("SELECT CAST(now() AS STRING)").await[0][0].clone();
    sql.admin("INSERT INTO main.default.t VALUES (3)").await; // version 4
    sql.admin(&format!("RESTORE main.default.t TO TIMESTAMP AS OF '{now}'")).await; // version 5
    assert_eq!(sql.rows(all).await, [["1"], ["2"]]);
    // The latest version again changes nothing and makes no version.
    sql.admin("RESTORE TABLE main.default.t TO VERSION AS OF 5").await;
    assert_eq!(history(1).await[0].0, "5");

    // Twenty at once leave the table as it was at that version.
    let mut storm = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let sql = sql.clone();
        storm.spawn(async move {
            sql.run(&sql.app.admin_token, "RESTORE TABLE main.default.t TO VERSION AS OF 4").await
        });
    }
    for r in storm.join_all().await {
        succeeded(&r, "a concurrent RESTORE");
    }
    assert_eq!(sql.rows(all).await, [["1"], ["2"], ["3"]]);

    // What cannot be restored is refused and changes nothing.
    sql.admin("ALTER TABLE main.default.t ADD COLUMNS (note STRING)").await;
    sql.admin("CREATE VIEW main.default.v AS SELECT id FROM main.default.t").await;
    let latest = history(1).await;
    for (statement, code, says) in [
        ("RESTORE TABLE main.default.t TO VERSION AS OF 99", "BAD_REQUEST", "version 99"),
        ("RESTORE TABLE main.default.t TO VERSION AS OF 1", "NOT_IMPLEMENTED", "columns differ"),
        ("RESTORE TABLE main.default.v TO VERSION AS OF 0", "BAD_REQUEST", "is a view"),
    ] {
        let message = sql.refused(statement, code).await;
        assert!(message.contains(says), "{statement}: {message}");
    }
    assert_eq!(history(1).await, latest);
    assert_eq!(sql.rows("SELECT id FROM main.default.t ORDER BY id").await, [["1"], ["2"], ["3"]]);

    // It takes MODIFY, as a write does.
    let (_, token) = sql.granted("READER_USER", "USE SCHEMA, SELECT", "default").await;
    let message = denied(&sql.run(&token, "RESTORE TABLE main.default.t TO VERSION AS OF 0").await);
    assert!(message.contains("MODIFY"), "{message}");
}

#[tokio::test]
async fn create_or_replace_swaps_the_whole_table_or_nothing() {
    let sql = Sql::new().await;
    common::enable_uc(&sql.app).await;
    sql.admin("CREATE SCHEMA main.swap").await;
    sql.admin("CREATE TABLE main.swap.t AS SELECT 1 AS a").await;
    let select = "SELECT * FROM main.swap.t";
    // A replacement whose query fails leaves the table as it was.
    let r = sql
        .run(
            &sql.app.admin_token,
            "CREATE OR REPLACE TABLE main.swap.t AS SELECT no_such_column FROM main.swap.t",
        )
        .await;
    failed(&r);
    assert_eq!(sql.rows(select).await, [["1"]]);
    // One that may create tables in the schema but does not own the table cannot replace it.
    let (_, token) = sql.granted("INGEST_USER", "USE SCHEMA, CREATE TABLE, SELECT", "swap").await;
    denied(&sql.run(&token, "CREATE OR REPLACE TABLE main.swap.t AS SELECT 2 AS b").await);
    assert_eq!(sql.rows(select).await, [["1"]]);
    // The owner replaces it: new rows, new columns, in the catalog too.
    sql.admin("CREATE OR REPLACE TABLE main.swap.t AS SELECT 'two' AS b").await;
    assert_eq!(sql.rows(select).await, [["two"]]);
    let r = sql.app.admin_get(&format!("{UC}/tables/main.swap.t")).await;
    let table = r.ok();
    assert_eq!(table["columns"][0]["name"], "b", "{table}");
    assert_eq!(table["columns"].as_array().map(Vec::len), Some(1), "{table}");
    // A view replaced by a table, and the table by a view.
    sql.admin("CREATE VIEW main.swap.v AS SELECT 1 AS x").await;
    sql.admin("CREATE OR REPLACE TABLE main.swap.v AS SELECT 3 AS y").await;
    assert_eq!(sql.rows("SELECT y FROM main.swap.v").await, [["3"]]);
    sql.admin("CREATE OR REPLACE VIEW main.swap.v AS SELECT b FROM main.swap.t").await;
    assert_eq!(sql.rows("SELECT * FROM main.swap.v").await, [["two"]]);
}

#[tokio::test]
async fn twenty_replacements_at_once_leave_one_whole_table() {
    let sql = Arc::new(Sql::new().await);
    common::enable_uc(&sql.app).await;
    sql.admin("CREATE SCHEMA main.storm").await;
    sql.admin("CREATE TABLE main.storm.s AS SELECT -1 AS n").await;
    let mut storm = tokio::task::JoinSet::new();
    for i in 0..20 {
        let sql = sql.clone();
        storm.spawn(async move {
            let statement = format!("CREATE OR REPLACE TABLE main.storm.s AS SELECT {i} AS n");
            let r = sql.run(&sql.app.admin_token, &statement).await;
            (i, r)
        });
    }
    while let Some(done) = storm.join_next().await {
        let (i, r) = done.expect("no panic");
        succeeded(&r, &format!("replacement {i}"));
    }
    let rows = sql.rows("SELECT n FROM main.storm.s").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let n: i64 = rows[0][0].parse().expect("a number");
    assert!((0..20).contains(&n), "{n}");
    // Every replaced table's files went with it: one table, one directory.
    assert_eq!(sql.table_dirs(), 1, "table directories left");
}

#[tokio::test]
async fn the_catalog_api_deletes_a_tables_data_with_it() {
    let sql = Sql::new().await;
    common::enable_uc(&sql.app).await;
    let dirs = || sql.table_dirs();
    // The admin's delete of `what` through the catalog API, which must answer 200; then the
    // table directories left.
    let dirs_after_deleting = async |what: &str| {
        sql.app.admin_delete(&format!("{UC}/{what}")).await.ok();
        dirs()
    };
    sql.admin("CREATE SCHEMA main.gone").await;
    sql.admin("CREATE TABLE main.gone.a AS SELECT 1 AS x").await;
    sql.admin("CREATE TABLE main.gone.b AS SELECT 2 AS x").await;
    sql.admin("CREATE VIEW main.gone.v AS SELECT x FROM main.gone.a").await;
    assert_eq!(dirs(), 2);
    // A table deleted through the API: its files go too.
    assert_eq!(dirs_after_deleting("tables/main.gone.a").await, 1);
    // A schema deleted with force: its tables' files go, and a view (which has none) is no
    // obstacle.
    assert_eq!(dirs_after_deleting("schemas/main.gone?force=true").await, 0);
    // A catalog deleted with force: the files of every table in every schema.
    sql.app.admin_post(&format!("{UC}/catalogs"), json!({"name": "other"})).await.ok();
    sql.admin("CREATE SCHEMA other.s").await;
    sql.admin("CREATE TABLE other.s.t AS SELECT 3 AS x").await;
    sql.admin("CREATE TABLE other.default.u AS SELECT 4 AS x").await;
    assert_eq!(dirs(), 2);
    assert_eq!(dirs_after_deleting("catalogs/other?force=true").await, 0);
    // A metastore deleted with force: the files of every table in every catalog.
    sql.admin("CREATE TABLE main.default.w AS SELECT 5 AS x").await;
    assert_eq!(dirs(), 1);
    let assignment = sql.app.admin_get(&format!("{UC}/current-metastore-assignment")).await.ok();
    let metastore = assignment["metastore_id"].as_str().expect("an id");
    let metastore = format!("metastores/{metastore}?force=true");
    assert_eq!(dirs_after_deleting(&metastore).await, 0);
}

#[tokio::test]
async fn a_read_principal_reads_its_schemas_and_views_read_with_their_owners_rights() {
    let sql = Sql::new().await;
    common::enable_uc(&sql.app).await;
    sql.admin("CREATE SCHEMA main.mart").await;
    sql.admin("CREATE SCHEMA main.private").await;
    sql.admin(
        "CREATE TABLE main.mart.revenue AS SELECT 'q1' AS quarter, CAST(100 AS INT) AS total",
    )
    .await;
    sql.admin("CREATE TABLE main.private.raw AS SELECT 'q1' AS quarter, 7 AS secret").await;
    sql.admin("CREATE VIEW main.mart.summary AS SELECT quarter, secret FROM main.private.raw")
        .await;
    // The read profile: USE CATALOG, USE SCHEMA and SELECT on the selected schema.
    let (_, token) = sql.granted("TABLEAU_USER", "USE SCHEMA, SELECT", "mart").await;

    let r = sql.run(&token, "SELECT quarter, total FROM main.mart.revenue").await;
    assert_eq!(texts(&succeeded(&r, "read")), [["q1", "100"]]);
    // The view reads main.private.raw with its owner's (the admin's) privileges.
    let r = sql.run(&token, "SELECT secret FROM main.mart.summary").await;
    assert_eq!(texts(&succeeded(&r, "view")), [["7"]]);
    denied(&sql.run(&token, "SELECT * FROM main.private.raw").await);
    denied(
        &sql.run(
            &token,
            "SELECT * FROM main.mart.revenue r JOIN main.private.raw p ON r.quarter = p.quarter",
        )
        .await,
    );
    denied(
        &sql.run(
            &token,
            "SELECT * FROM main.mart.revenue WHERE total IN (SELECT secret FROM main.private.raw)",
        )
        .await,
    );
    denied(&sql.run(&token, "INSERT INTO main.mart.revenue VALUES ('q2', 1)").await);
    denied(&sql.run(&token, "CREATE TABLE main.mart.mine (a INT)").await);
    let (code, _) =
        failed(&sql.run(&token, "INSERT INTO main.mart.summary VALUES ('q9', 9)").await);
    assert_ne!(code, "OK");
    // The connector's metadata calls, as this principal.
    let r = sql.run(&token, "SHOW SCHEMAS IN main").await;
    let mut schemas = texts(&succeeded(&r, "schemas"));
    schemas.sort();
    assert_eq!(schemas, [["mart"]]);
    let r = sql.run(&token, "SHOW TABLES IN CATALOG main SCHEMA LIKE 'm%' LIKE '*'").await;
    let body = succeeded(&r, "tables");
    assert_eq!(column_names(&body)[5], "tableType");
    let mut tables: Vec<(String, String)> =
        texts(&body).into_iter().map(|r| (r[1].clone(), r[5].clone())).collect();
    tables.sort();
    assert_eq!(
        tables,
        [("revenue".to_owned(), "TABLE".to_owned()), ("summary".to_owned(), "VIEW".to_owned())]
    );
    let r = sql
        .run(&token, "SHOW COLUMNS IN CATALOG main SCHEMA LIKE 'mart' TABLE LIKE 'revenue'")
        .await;
    let columns: Vec<String> =
        texts(&succeeded(&r, "columns")).into_iter().map(|r| r[0].clone()).collect();
    assert_eq!(columns, ["quarter", "total"]);
    let r = sql
        .run(
            &token,
            "SELECT table_schema, table_name, table_type FROM information_schema.tables \
             ORDER BY table_name",
        )
        .await;
    assert_eq!(
        texts(&succeeded(&r, "information_schema.tables")),
        [["mart", "revenue", "MANAGED"], ["mart", "summary", "VIEW"]]
    );
    let r = sql
        .run(
            &token,
            "SELECT column_name, data_type, ordinal_position FROM main.information_schema.columns \
             WHERE table_name = 'revenue' ORDER BY ordinal_position",
        )
        .await;
    assert_eq!(
        texts(&succeeded(&r, "information_schema.columns")),
        [["quarter", "STRING", "0"], ["total", "INT", "1"]]
    );
    let r = sql.run(&token, "SELECT schema_name FROM information_schema.schemata").await;
    assert_eq!(texts(&succeeded(&r, "schemata")), [["mart"]]);
    let r = sql.run(&token, "DESCRIBE TABLE main.mart.revenue").await;
    assert_eq!(texts(&succeeded(&r, "describe"))[1][..2], ["total".to_owned(), "int".to_owned()]);
    // The legacy Hive metastore takes its own privileges.
    let r = sql.run(&token, "SELECT * FROM hive_metastore.default.nothing").await;
    let (code, _) = failed(&r);
    assert!(code == "NOT_FOUND" || code == "PERMISSION_DENIED", "{code}");
}

#[tokio::test]
async fn the_hive_metastore_takes_legacy_privileges() {
    let sql = Sql::new().await;
    sql.admin("CREATE TABLE t (a INT)").await; // hive_metastore.default without Unity Catalog
    sql.admin("INSERT INTO hive_metastore.default.t VALUES (1)").await;
    let (app_id, token) = sql.service_principal("LEGACY_USER").await;
    denied(&sql.run(&token, "SELECT * FROM t").await);
    sql.admin(&format!("GRANT USAGE ON DATABASE default TO `{app_id}`")).await;
    sql.admin(&format!("GRANT READ_METADATA ON TABLE default.t TO `{app_id}`")).await;
    // READ_METADATA describes a table but does not read it.
    succeeded(&sql.run(&token, "DESCRIBE TABLE t").await, "describe");
    denied(&sql.run(&token, "SELECT * FROM t").await);
    sql.admin(&format!("GRANT SELECT ON TABLE default.t TO `{app_id}`")).await;
    assert_eq!(texts(&succeeded(&sql.run(&token, "SELECT * FROM t").await, "select")), [["1"]]);
    denied(&sql.run(&token, "INSERT INTO t VALUES (2)").await);
    sql.admin(&format!("GRANT MODIFY ON TABLE default.t TO `{app_id}`")).await;
    succeeded(&sql.run(&token, "INSERT INTO t VALUES (2)").await, "insert");
    assert_eq!(sql.rows("SELECT COUNT(*) FROM t").await, [["2"]]);
}

// ---- hostile statements ---------------------------------------------------------------------

#[tokio::test]
async fn statements_cannot_reach_files_or_smuggle_sql() {
    let sql = Sql::new().await;
    common::enable_uc(&sql.app).await;
    sql.admin("CREATE SCHEMA main.s").await;
    sql.admin("CREATE TABLE main.s.`we``ird;DROP` (a INT)").await;
    sql.admin("INSERT INTO main.s.`we``ird;DROP` VALUES (1)").await;
    assert_eq!(sql.rows("SELECT a FROM main.s.`we``ird;DROP`").await, [["1"]]);
    let t = sql.app.admin_token.clone();
    for statement in [
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM read_files('/etc/passwd')",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/'",
        "CREATE TABLE main.s.x (a INT) LOCATION '/tmp/x'",
        "CREATE TABLE main.s.y USING csv OPTIONS (path '/etc/passwd')",
        "COPY INTO main.s.x FROM '/etc/passwd'",
        "INSERT OVERWRITE DIRECTORY '/tmp/out' SELECT 1",
        "SELECT 1; DROP TABLE main.s.`we``ird;DROP`",
    ] {
        let r = sql.run(&t, statement).await;
        let (code, message) = failed(&r);
        assert!(
            ["PERMISSION_DENIED", "NOT_IMPLEMENTED", "BAD_REQUEST", "NOT_FOUND"]
                .contains(&code.as_str()),
            "{statement}: {code} {message}"
        );
    }
    // A function that reads files does not exist here, and the error says it is the function.
    for statement in [
        "SELECT * FROM read_parquet('/etc/passwd')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT no_such_function(1)",
    ] {
        let (code, message) = failed(&sql.run(&t, statement).await);
        assert_eq!(code, "BAD_REQUEST", "{statement}: {message}");
        assert!(
            message.starts_with("[UNRESOLVED_ROUTINE]") && message.ends_with("SQLSTATE: 42883"),
            "{statement}: {message}"
        );
    }
    // Nothing was dropped, and no name was resolved outside the catalog.
    assert_eq!(sql.rows("SELECT a FROM main.s.`we``ird;DROP`").await, [["1"]]);
    // A parameter's value stays a value.
    let r = sql
        .run_with(
            &t,
            "SELECT a FROM main.s.`we``ird;DROP` WHERE CAST(a AS STRING) = :v",
            json!({"parameters": [{"name": "v", "value": "1' OR '1'='1"}]}),
        )
        .await;
    assert!(rows(&succeeded(&r, "param")).is_empty());
    let r = sql
        .run_with(
            &t,
            "SELECT :v",
            json!({"parameters": [{"name": "v", "value": "1", "type": "INT) FROM x --"}]}),
        )
        .await;
    failed(&r);
}

#[tokio::test]
async fn a_query_over_the_limits_fails_cleanly_and_the_server_goes_on() {
    let sql = Sql::with(
        |_| {},
        EngineLimits { memory_bytes: 4 << 20, max_result_rows: 1000, ..EngineLimits::default() },
    )
    .await;
    let t = sql.app.admin_token.clone();
    let (code, message) = failed(&sql.run(&t, "SELECT * FROM generate_series(1, 100000)").await);
    assert!(
        code == "RESOURCE_EXHAUSTED" || code == "NOT_FOUND" || code == "NOT_IMPLEMENTED",
        "{code}: {message}"
    );
    let r = sql.run(&t, "SELECT COUNT(*) FROM (VALUES (1)) v(a)").await;
    succeeded(&r, "after");
    let r = sql.run(&t, "SELECT x FROM range(1, 5000) AS t(x)").await;
    let (code, _) = failed(&r);
    assert_eq!(code, "RESOURCE_EXHAUSTED", "{:?}", r.body);
    // Nested past the limit: refused before anything walks the tree (walking it overflowed a
    // worker's stack and aborted the process).
    let deep = format!("SELECT {}", vec!["1"; 20_000].join(" + "));
    let (code, message) = failed(&sql.run(&t, &deep).await);
    assert_eq!(code, "NOT_IMPLEMENTED", "{message}");
    assert!(message.contains("nested more than 1000 deep"), "{message}");
    succeeded(&sql.run(&t, "SELECT 1").await, "the server goes on");
}

// ---- the API around a statement -------------------------------------------------------------

#[tokio::test]
async fn results_come_in_chunks_inline_and_through_links() {
    let sql = Sql::with(
        |s| {
            s.result_chunk_bytes = 4096;
            s.inline_result_bytes = 64 << 10;
        },
        EngineLimits::default(),
    )
    .await;
    sql.admin("CREATE TABLE n AS SELECT CAST(x AS BIGINT) AS x, CONCAT('row ', CAST(x AS STRING)) AS label FROM range(0, 3000) AS t(x)")
        .await;
    let t = sql.app.admin_token.clone();

    // INLINE: too big for one response is an error naming the way out.
    let (code, message) = failed(&sql.run(&t, "SELECT * FROM n").await);
    assert_eq!(code, "BAD_REQUEST");
    assert!(message.contains("EXTERNAL_LINKS"), "{message}");
    // row_limit truncates.
    let r = sql.run_with(&t, "SELECT x FROM n ORDER BY x", json!({"row_limit": 10})).await;
    let body = succeeded(&r, "row_limit");
    assert_eq!(rows(&body).len(), 10);
    assert_eq!(body["manifest"]["truncated"], true);

    // EXTERNAL_LINKS with ARROW_STREAM and LZ4: every chunk, fetched without a token.
    let r = sql
        .run_with(
            &t,
            "SELECT x, label FROM n ORDER BY x",
            json!({"disposition": "EXTERNAL_LINKS", "format": "ARROW_STREAM",
                   "result_compression": "LZ4_FRAME"}),
        )
        .await;
    let body = succeeded(&r, "links");
    let manifest = &body["manifest"];
    assert_eq!(manifest["total_row_count"], 3000);
    assert_eq!(manifest["result_compression"], "LZ4_FRAME");
    let chunks = manifest["total_chunk_count"].as_u64().unwrap();
    assert!(chunks > 1, "{manifest}");
    let id = body["statement_id"].as_str().unwrap().to_owned();
    let mut seen = Vec::new();
    for n in 0..chunks {
        let link = if n == 0 {
            body["result"]["external_links"][0].clone()
        } else {
            let r = sql.app.admin_get(&format!("{STATEMENTS}/{id}/result/chunks/{n}")).await;
            r.ok()["external_links"][0].clone()
        };
        assert_eq!(link["chunk_index"], n);
        let url = link["external_link"].as_str().unwrap();
        let path = url.strip_prefix(&sql.app.public_url).expect("served here");
        let (status, bytes) = sql.app.send_bytes(get_request(path)).await;
        assert_eq!(status, StatusCode::OK);
        let mut decoded = Vec::new();
        std::io::Read::read_to_end(
            &mut lz4_flex::frame::FrameDecoder::new(&bytes[..]),
            &mut decoded,
        )
        .unwrap();
        for batch in StreamReader::try_new(&decoded[..], None).unwrap() {
            let batch = batch.unwrap();
            let xs = batch
                .column(0)
                .as_any()
                .downcast_ref::<patchbay_engine::arrow::array::Int64Array>()
                .unwrap()
                .clone();
            seen.extend(xs.values().iter().copied());
        }
    }
    assert_eq!(seen, (0..3000).collect::<Vec<i64>>());
    // A link is its own credential: a wrong one gets nothing.
    let (status, _) = sql.app.send_bytes(get_request("/sql/results/not-a-link")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // INLINE_OR_EXTERNAL_LINKS in ARROW_STREAM (the SQL connector's cloud fetch): a result of
    // one small chunk comes in the response, as a base64 attachment; a larger one by links.
    let r = sql
        .run_with(
            &t,
            "SELECT x FROM n WHERE x < 3 ORDER BY x",
            json!({"disposition": "INLINE_OR_EXTERNAL_LINKS", "format": "ARROW_STREAM",
                   "result_compression": "LZ4_FRAME"}),
        )
        .await;
    let body = succeeded(&r, "attached");
    assert!(body["result"].get("external_links").is_none(), "{body}");
    let attached = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        body["result"]["attachment"].as_str().expect("an attachment"),
    )
    .unwrap();
    let mut decoded = Vec::new();
    std::io::Read::read_to_end(
        &mut lz4_flex::frame::FrameDecoder::new(&attached[..]),
        &mut decoded,
    )
    .unwrap();
    let xs: Vec<i64> = StreamReader::try_new(&decoded[..], None)
        .unwrap()
        .flat_map(|batch| {
            let batch = batch.unwrap();
            let column = batch
                .column(0)
                .as_any()
                .downcast_ref::<patchbay_engine::arrow::array::Int64Array>()
                .unwrap()
                .clone();
            column.values().to_vec()
        })
        .collect();
    assert_eq!(xs, [0, 1, 2]);
    let r = sql
        .run_with(
            &t,
            "SELECT x, label FROM n",
            json!({"disposition": "INLINE_OR_EXTERNAL_LINKS", "format": "ARROW_STREAM"}),
        )
        .await;
    let body = succeeded(&r, "linked");
    assert!(body["result"].get("attachment").is_none(), "{body}");
    assert!(body["result"]["external_links"][0]["external_link"].is_string());

    // CSV through a link.
    let r = sql
        .run_with(
            &t,
            "SELECT x, label FROM n WHERE x < 2 ORDER BY x",
            json!({"disposition": "EXTERNAL_LINKS", "format": "CSV"}),
        )
        .await;
    let body = succeeded(&r, "csv");
    let url = body["result"]["external_links"][0]["external_link"].as_str().unwrap().to_owned();
    let path = url.strip_prefix(&sql.app.public_url).unwrap();
    let (_, bytes) = sql.app.send_bytes(get_request(path)).await;
    assert_eq!(String::from_utf8(bytes).unwrap(), "x,label\n0,row 0\n1,row 1\n");

    // Another principal cannot see the statement.
    let (_, other) = sql.app.plain_user("someone@example.com").await;
    let r = sql.app.call(Method::GET, &format!("{STATEMENTS}/{id}"), Some(&other), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// A link works for its 15 minutes on the server's clock, and not a millisecond longer; the
/// statement's result outlives it.
#[tokio::test]
async fn an_external_link_expires_after_fifteen_minutes() {
    let sql = Sql::clocked().await;
    let t = sql.app.admin_token.clone();
    let r = sql
        .run_with(&t, "SELECT 1 AS x", json!({"disposition": "EXTERNAL_LINKS", "format": "CSV"}))
        .await;
    let body = succeeded(&r, "link");
    let id = body["statement_id"].as_str().unwrap().to_owned();
    let url = body["result"]["external_links"][0]["external_link"].as_str().unwrap().to_owned();
    let path = url.strip_prefix(&sql.app.public_url).unwrap();
    let (status, bytes) = sql.app.send_bytes(get_request(path)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(String::from_utf8(bytes).unwrap(), "x\n1\n");

    sql.app.advance(std::time::Duration::from_millis(15 * 60 * 1000 - 1));
    let (status, _) = sql.app.send_bytes(get_request(path)).await;
    assert_eq!(status, StatusCode::OK, "a link works until its expiry");
    sql.app.advance(std::time::Duration::from_millis(1));
    let (status, bytes) = sql.app.send_bytes(get_request(path)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(String::from_utf8(bytes).unwrap(), "This link does not exist or has expired.");
    // The result is still there: a new link to it works.
    let r = sql.app.admin_get(&format!("{STATEMENTS}/{id}/result/chunks/0")).await;
    let fresh = r.ok()["external_links"][0]["external_link"].as_str().unwrap().to_owned();
    assert_ne!(fresh, url);
    let path = fresh.strip_prefix(&sql.app.public_url).unwrap();
    assert_eq!(sql.app.send_bytes(get_request(path)).await.0, StatusCode::OK);
}

/// An unauthenticated GET, as a client fetches an external link.
fn get_request(path: &str) -> axum::http::Request<axum::body::Body> {
    axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap()
}

/// A column cast without a name of its own keeps the column's name, as in Databricks, and the
/// query may still sort on (or project) the column it casts: BI tools write both.
#[tokio::test]
async fn a_cast_column_keeps_its_name_beside_the_column_it_casts() {
    let sql = Sql::new().await;
    sql.admin("CREATE TABLE t AS SELECT * FROM range(0, 3) AS r(id)").await;
    let r = sql.admin("SELECT CAST(id AS STRING) FROM t ORDER BY id DESC").await;
    assert_eq!(texts(&r), [["2"], ["1"], ["0"]]);
    assert_eq!(column_names(&r), ["id"]);
    let r = sql.admin("SELECT t.id::string, id + 1 AS next FROM t ORDER BY t.id").await;
    assert_eq!(texts(&r), [["0", "1"], ["1", "2"], ["2", "3"]]);
    assert_eq!(column_names(&r), ["id", "next"]);
    let r = sql.admin("SELECT CAST(id AS STRING), id FROM t WHERE id = 1").await;
    assert_eq!(texts(&r), [["1", "1"]]);
    assert_eq!(column_names(&r), ["id", "id"]);
    sql.admin("CREATE TABLE u AS SELECT * FROM range(1, 3) AS r(id)").await;
    let r = sql
        .admin("SELECT CAST(t.id AS STRING), u.id FROM t JOIN u ON t.id = u.id ORDER BY u.id")
        .await;
    assert_eq!(texts(&r), [["1", "1"], ["2", "2"]]);
    assert_eq!(column_names(&r), ["id", "id"]);
    // A table made from such a query has the column's name, and so has a view.
    sql.admin("CREATE TABLE s AS SELECT CAST(id AS STRING) FROM t").await;
    sql.admin("CREATE VIEW v AS SELECT CAST(id AS STRING) FROM t").await;
    for name in ["s", "v"] {
        let r = sql.admin(&format!("SELECT * FROM {name} ORDER BY id")).await;
        assert_eq!(texts(&r), [["0"], ["1"], ["2"]], "{name}");
        assert_eq!(column_names(&r), ["id"], "{name}");
    }
    // A subquery's cast is named after its column too, for the query around it.
    assert_eq!(
        sql.rows("SELECT id FROM (SELECT TRY_CAST(id AS INT) FROM t) ORDER BY id").await,
        [["0"], ["1"], ["2"]]
    );
    // Also when the subquery sorts on the column it casts, as dbt models' CTEs may.
    for query in [
        "SELECT * FROM (SELECT CAST(t.id AS INT) FROM t ORDER BY t.id) ORDER BY id",
        "WITH c AS (SELECT CAST(t.id AS INT) AS id FROM t ORDER BY t.id DESC) \
         SELECT id FROM c ORDER BY id",
    ] {
        let r = sql.admin(query).await;
        assert_eq!(texts(&r), [["0"], ["1"], ["2"]], "{query}");
        assert_eq!(column_names(&r), ["id"], "{query}");
    }
    sql.admin(
        "CREATE TABLE sorted AS SELECT * FROM (SELECT CAST(t.id AS STRING) FROM t ORDER BY t.id)",
    )
    .await;
    assert_eq!(sql.rows("SELECT id FROM sorted ORDER BY id").await, [["0"], ["1"], ["2"]]);
}

/// A heavy query (a join of a million rows by a million) keeps the engine busy for minutes;
/// meanwhile every other request is answered as before, and a cancel stops it.
#[tokio::test]
async fn a_heavy_query_does_not_hold_up_other_requests() {
    let sql = Sql::new().await;
    let t = sql.app.admin_token.clone();
    let r = sql
        .run_with(
            &t,
            "SELECT count(*) FROM range(0, 1000000) a, range(0, 1000000) b \
             WHERE a.value + b.value = 7",
            json!({"wait_timeout": "0s"}),
        )
        .await;
    let id = r.ok()["statement_id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        // Not a speed test: held up, this took over a minute (a timer could not tell: it went
        // off only when the thread it was on was let go).
        let asked = std::time::Instant::now();
        // Time for the query to get going, and to take whatever threads it can.
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let me = sql.app.admin_get(&format!("{SCIM}/Me")).await;
        assert_eq!(me.ok()["userName"], "admin@example.com");
        let waited = asked.elapsed();
        assert!(
            waited < std::time::Duration::from_secs(10),
            "a half-second wait and a /Me took {waited:?} beside a heavy query"
        );
        let polled = sql.about(Method::GET, &id, "").await;
        assert_eq!(polled["status"]["state"], "RUNNING", "{polled}");
    }
    sql.about(Method::POST, &id, "/cancel").await;
    let polled = sql.about(Method::GET, &id, "").await;
    assert_eq!(polled["status"]["state"], "CANCELED");
}

/// Query history keeps a statement for 30 days (the default, as Databricks), then forgets it;
/// what is younger stays. Old lines are forgotten by the history writer after it writes a
/// group, so the statement after the one that sets it off is written only once that is done.
#[tokio::test]
async fn query_history_forgets_statements_after_thirty_days() {
    let sql = Sql::clocked().await;
    let day = std::time::Duration::from_secs(24 * 60 * 60);
    let listed = || async {
        let body = sql.history().await;
        let mut texts: Vec<String> = body["res"]
            .as_array()
            .expect("a list of queries")
            .iter()
            .map(|q| q["query_text"].as_str().unwrap().to_owned())
            .collect();
        texts.sort();
        texts
    };
    sql.admin("SELECT 1").await;
    sql.app.advance(day * 29);
    sql.admin("SELECT 2").await;
    assert_eq!(listed().await, ["SELECT 1", "SELECT 2"]);
    // Two days later the first is past its 30 days: the next write forgets it.
    sql.app.advance(day * 2);
    sql.admin("SELECT 3").await;
    sql.admin("SELECT 4").await;
    assert_eq!(listed().await, ["SELECT 2", "SELECT 3", "SELECT 4"]);
    // The second is 30 days old to the millisecond: kept.
    sql.app.advance(day * 28);
    sql.admin("SELECT 5").await;
    sql.admin("SELECT 6").await;
    assert_eq!(listed().await, ["SELECT 2", "SELECT 3", "SELECT 4", "SELECT 5", "SELECT 6"]);
    // Ten minutes on (the writer looks at most that often), it is gone.
    sql.app.advance(std::time::Duration::from_secs(10 * 60));
    sql.admin("SELECT 7").await;
    sql.admin("SELECT 8").await;
    assert_eq!(
        listed().await,
        ["SELECT 3", "SELECT 4", "SELECT 5", "SELECT 6", "SELECT 7", "SELECT 8"]
    );
}

/// A caller that stops waiting (its connection dropped in the middle of a statement) does not
/// stop the statement: the write lands whole, and the history says it finished.
#[tokio::test]
async fn a_statement_goes_on_when_its_caller_goes_away() {
    let sql = Sql::new().await;
    common::enable_uc(&sql.app).await;
    sql.admin("CREATE SCHEMA main.abandoned").await;
    let text = "CREATE TABLE main.abandoned.t AS SELECT a.x FROM range(0, 1000000) a(x) \
                JOIN range(0, 3) b(y) ON a.x % 3 = b.y";
    let t = sql.app.admin_token.clone();
    let call = sql.run(&t, text);
    let gone = tokio::time::timeout(std::time::Duration::from_millis(20), call).await;
    assert!(gone.is_err(), "the statement ended within 20 ms: this test needs a slower one");
    let line = sql.history_line(|q| q["query_text"] == text).await;
    assert_eq!(line["status"], "FINISHED", "the abandoned statement's history row");
    assert_eq!(sql.rows("SELECT COUNT(*) FROM main.abandoned.t").await, [["1000000"]]);
}

#[tokio::test]
async fn wait_poll_cancel_and_close() {
    let sql = Sql::new().await;
    let t = sql.app.admin_token.clone();
    // 0s: the answer comes at once, the result by polling.
    let r = sql
        .run_with(
            &t,
            "SELECT COUNT(*) FROM range(0, 200000) AS t(x)",
            json!({"wait_timeout": "0s"}),
        )
        .await;
    let id = r.ok()["statement_id"].as_str().unwrap().to_owned();
    let mut state = String::new();
    for _ in 0..600 {
        let r = sql.app.admin_get(&format!("{STATEMENTS}/{id}")).await;
        let body = r.ok();
        state = body["status"]["state"].as_str().unwrap().to_owned();
        if state == "SUCCEEDED" {
            assert_eq!(texts(&body), [["200000"]]);
            break;
        }
        assert!(["PENDING", "RUNNING"].contains(&state.as_str()), "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(state, "SUCCEEDED");
    // Closing drops the result.
    sql.app.admin_delete(&format!("{STATEMENTS}/{id}")).await.ok();
    let r = sql.app.admin_get(&format!("{STATEMENTS}/{id}")).await;
    assert_eq!(r.ok()["status"]["state"], "CLOSED");
    // A cancelled statement says so and has no result.
    let r = sql
        .run_with(
            &t,
            "SELECT COUNT(*) FROM range(0, 50000000) a(x) JOIN range(0, 10) b(y) ON a.x % 10 = b.y",
            json!({"wait_timeout": "0s"}),
        )
        .await;
    let id = r.ok()["statement_id"].as_str().unwrap().to_owned();
    sql.app.admin(Method::POST, &format!("{STATEMENTS}/{id}/cancel"), None).await.ok();
    let r = sql.app.admin_get(&format!("{STATEMENTS}/{id}")).await;
    let body = r.ok();
    assert_eq!(body["status"]["state"], "CANCELED", "{body}");
    assert!(body.get("result").is_none());
    // The history says so too, though the engine never finished it: the task that ran it
    // records the cancel once it has dropped the work.
    let line = sql.history_line(|q| q["query_id"] == id.as_str()).await;
    assert_eq!(line["status"], "CANCELED", "the cancelled statement's history row");
    // A statement over the server's time limit is stopped and says so.
    let quick = Sql::with(
        |s| s.statement_timeout = std::time::Duration::from_millis(200),
        EngineLimits::default(),
    )
    .await;
    let r = quick
        .run(
            &quick.app.admin_token.clone(),
            "SELECT COUNT(*) FROM range(0, 500000000) a(x) JOIN range(0, 10) b(y) ON a.x % 10 = b.y",
        )
        .await;
    let (code, message) = failed(&r);
    assert_eq!(code, "CANCELLED", "{message}");
    assert!(message.contains("STATEMENT_TIMEOUT"), "{message}");
    succeeded(&quick.run(&quick.app.admin_token.clone(), "SELECT 1").await, "after a timeout");
    // Bad requests change nothing and say what is wrong.
    for (body, mentions) in [
        (json!({"statement": "SELECT 1"}), "warehouse_id"),
        (json!({"warehouse_id": sql.warehouse}), "statement"),
        (
            json!({"warehouse_id": sql.warehouse, "statement": "SELECT 1", "wait_timeout": "2s"}),
            "wait_timeout",
        ),
        (
            json!({"warehouse_id": sql.warehouse, "statement": "SELECT 1", "format": "ARROW_STREAM"}),
            "EXTERNAL_LINKS",
        ),
        (json!({"warehouse_id": sql.warehouse, "statement": "SELECT 1", "bogus": true}), "bogus"),
        (
            json!({"warehouse_id": sql.warehouse, "statement": "SELECT 1", "row_limit": -1}),
            "row_limit",
        ),
    ] {
        let r = sql.app.admin_post(STATEMENTS, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {:?}", r.body);
        assert!(r.body["message"].as_str().unwrap().contains(mentions), "{body}: {:?}", r.body);
    }
    let r = sql
        .app
        .call(
            Method::POST,
            STATEMENTS,
            None,
            Some(json!({"warehouse_id": sql.warehouse, "statement": "SELECT 1"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_statement_needs_can_use_on_a_warehouse_that_exists_and_starts_it() {
    let sql = Sql::new().await;
    let (app_id, token) = sql.service_principal("DBT_CLOUD_USER").await;
    let r = sql
        .app
        .admin(Method::POST, &format!("/api/2.0/sql/warehouses/{}/stop", sql.warehouse), None)
        .await;
    r.ok();
    succeeded(&sql.run(&token, "SELECT 1").await, "CAN_USE");
    let r = sql.app.admin_get(&format!("/api/2.0/sql/warehouses/{}", sql.warehouse)).await;
    let state = r.ok()["state"].as_str().unwrap().to_owned();
    assert!(state == "STARTING" || state == "RUNNING", "{state}");
    // Without CAN_USE, or on a warehouse that does not exist: 403 with the warehouse named.
    sql.app
        .admin_put(
            &format!("/api/2.0/permissions/sql/warehouses/{}", sql.warehouse),
            json!({"access_control_list": []}),
        )
        .await
        .ok();
    let r = sql.run(&token, "SELECT 1").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{app_id}: {:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains(&sql.warehouse));
    // CAN_VIEW shows the warehouse but runs nothing on it; CAN_MONITOR, above CAN_USE, runs.
    for (level, runs) in [("CAN_VIEW", false), ("CAN_MONITOR", true)] {
        sql.warehouse_level(&app_id, level).await;
        let r = sql.run(&token, "SELECT 1").await;
        if runs {
            succeeded(&r, level);
        } else {
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{level}: {:?}", r.body);
            assert!(r.body["message"].as_str().unwrap().contains("CAN_USE"), "{:?}", r.body);
        }
    }
    let r = sql
        .app
        .admin_post(
            STATEMENTS,
            json!({"warehouse_id": "0123456789abcdef", "statement": "SELECT 1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn sessions_keep_the_current_schema_and_history_says_who_ran_what() {
    let sql = Sql::new().await;
    common::enable_uc(&sql.app).await;
    sql.admin("CREATE SCHEMA main.s1").await;
    sql.admin("CREATE TABLE main.s1.t AS SELECT 42 AS answer").await;
    let t = sql.app.admin_token.clone();
    let r =
        sql.app.admin_post("/api/2.0/sql/sessions", json!({"warehouse_id": sql.warehouse})).await;
    let session = r.ok()["session_id"].as_str().unwrap().to_owned();
    let in_session = |statement: &'static str| {
        let session = session.clone();
        let sql = &sql;
        let t = t.clone();
        async move {
            sql.app
                .call(
                    Method::POST,
                    STATEMENTS,
                    Some(&t),
                    Some(json!({"session_id": session, "statement": statement, "wait_timeout": "30s"})),
                )
                .await
        }
    };
    succeeded(&in_session("USE SCHEMA s1").await, "use");
    let r = in_session("SELECT answer FROM t").await;
    assert_eq!(texts(&succeeded(&r, "in session")), [["42"]]);
    let r = in_session("SELECT current_schema()").await;
    assert_eq!(texts(&succeeded(&r, "schema")), [["s1"]]);
    // Another principal can neither use the session nor close it.
    let (_, stranger) = sql.app.plain_user("stranger@example.com").await;
    let r = sql
        .app
        .call(
            Method::POST,
            STATEMENTS,
            Some(&stranger),
            Some(json!({"session_id": session, "statement": "SELECT 1"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = sql
        .app
        .call(Method::DELETE, &format!("/api/2.0/sql/sessions/{session}"), Some(&stranger), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = sql.app.admin_delete(&format!("/api/2.0/sql/sessions/{session}")).await;
    r.ok();
    let r = in_session("SELECT 1").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // History: the admin sees every statement, a user only theirs.
    let (_, user) = sql.app.plain_user("analyst@example.com").await;
    let body = sql.history().await;
    let queries = body["res"].as_array().unwrap();
    assert!(
        queries.iter().any(|q| q["query_text"] == "SELECT answer FROM t"
            && q["status"] == "FINISHED"
            && q["user_name"] == "admin@example.com"
            && q["rows_produced"] == 1
            && q["warehouse_id"] == sql.warehouse.as_str()),
        "{body}"
    );
    let r = sql.app.call(Method::GET, "/api/2.0/sql/history/queries", Some(&user), None).await;
    assert_eq!(r.ok()["res"], json!([]));
    let r = sql.app.admin_get("/api/2.0/sql/history/queries?max_results=2").await;
    let body = r.ok();
    assert_eq!(body["res"].as_array().unwrap().len(), 2);
    let next = body["next_page_token"].as_str().unwrap().to_owned();
    let r = sql
        .app
        .admin_get(&format!("/api/2.0/sql/history/queries?max_results=2&page_token={next}"))
        .await;
    let page2 = r.ok();
    assert_ne!(page2["res"][0]["query_id"], body["res"][0]["query_id"]);

    // The filters, as the SDKs send them: one `filter_by.…=` per value, or in a body.
    failed(&sql.run(&t, "SELECT * FROM main.s1.nowhere").await);
    let admin_id =
        sql.app.admin_get(&format!("{SCIM}/Me")).await.ok()["id"].as_str().unwrap().to_owned();
    let (user_id, _) = sql.app.plain_user("reader@example.com").await;
    let history = |query: String| {
        let sql = &sql;
        async move {
            let path = format!("/api/2.0/sql/history/queries?max_results=1000&{query}");
            let body = sql.app.admin_get(&path).await.ok();
            body["res"].as_array().unwrap().clone()
        }
    };
    let mine = history(format!("filter_by.user_ids={admin_id}")).await;
    assert!(mine.len() >= 5, "{mine:?}");
    assert!(mine.iter().all(|q| q["user_name"] == "admin@example.com"));
    let both = history(format!(
        "filter_by.user_ids={user_id}&filter_by.user_ids={admin_id}&filter_by.warehouse_ids={}",
        sql.warehouse
    ))
    .await;
    assert_eq!(both.len(), mine.len());
    assert!(history(format!("filter_by.user_ids={user_id}")).await.is_empty());
    assert!(history("filter_by.warehouse_ids=0000000000000000".into()).await.is_empty());
    let failures =
        history(format!("filter_by.user_ids={admin_id}&filter_by.statuses=FAILED")).await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["query_text"], "SELECT * FROM main.s1.nowhere");
    let r = sql
        .app
        .admin(
            Method::GET,
            "/api/2.0/sql/history/queries",
            Some(json!({"filter_by": {"user_ids": [admin_id.parse::<i64>().unwrap()],
                                      "statuses": ["FAILED"]}})),
        )
        .await;
    assert_eq!(r.ok()["res"].as_array().unwrap().len(), 1);
    let r = sql.app.admin_get("/api/2.0/sql/history/queries?filter_by.user_ids=someone").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
}

#[tokio::test]
async fn can_monitor_shows_everyone_s_queries_on_that_warehouse_and_no_other() {
    let sql = Sql::new().await;
    let other = sql.app.create_warehouse("OTHER", "2X-Small").await;
    let (runner_app_id, runner) = sql.service_principal("RUNNER").await;
    let (watcher_app_id, watcher) = sql.service_principal("WATCHER").await;
    succeeded(&sql.run(&runner, "SELECT 'runner'").await, "the runner's statement");
    let r = sql
        .app
        .admin_post(STATEMENTS, json!({"warehouse_id": other, "statement": "SELECT 'elsewhere'"}))
        .await;
    succeeded(&r, "the admin's statement on the other warehouse");
    for text in ["SELECT 'runner'", "SELECT 'elsewhere'"] {
        sql.history_line(|q| q["query_text"] == text).await;
    }
    let runner_id = sql
        .app
        .scim_id_where("ServicePrincipals", &format!("applicationId%20eq%20{runner_app_id}"))
        .await;
    let texts_seen = |query: &'static str| {
        let (sql, watcher) = (&sql, &watcher);
        async move {
            let path = format!("/api/2.0/sql/history/queries{query}");
            let r = sql.app.call(Method::GET, &path, Some(watcher), None).await;
            let body = r.ok();
            let mut texts: Vec<String> = body["res"]
                .as_array()
                .unwrap()
                .iter()
                .map(|q| q["query_text"].as_str().unwrap().to_owned())
                .collect();
            texts.sort();
            texts
        }
    };

    // CAN_USE: only the watcher's own statements, and no one else's on asking.
    assert!(texts_seen("").await.is_empty());
    let path = format!("/api/2.0/sql/history/queries?filter_by.user_ids={runner_id}");
    let r = sql.app.call(Method::GET, &path, Some(&watcher), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);

    // CAN_MONITOR on the warehouse: every statement run on it, and none on the other.
    sql.warehouse_level(&watcher_app_id, "CAN_MONITOR").await;
    assert_eq!(texts_seen("").await, ["SELECT 'runner'"]);
    let r = sql.app.call(Method::GET, &path, Some(&watcher), None).await;
    let body = r.ok();
    assert_eq!(body["res"].as_array().map(Vec::len), Some(1), "{body}");
    assert_eq!(body["res"][0]["query_text"], "SELECT 'runner'", "{body}");
}

#[tokio::test]
async fn twenty_identical_creates_make_one_table_and_concurrent_inserts_all_land() {
    let sql = Arc::new(Sql::new().await);
    let t = sql.app.admin_token.clone();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let sql = sql.clone();
        let t = t.clone();
        tasks.push(tokio::spawn(async move { sql.run(&t, "CREATE TABLE raced (a INT)").await }));
    }
    let mut created = 0;
    for task in tasks {
        let r = task.await.unwrap();
        match r.body["status"]["state"].as_str() {
            Some("SUCCEEDED") => created += 1,
            _ => assert_eq!(failed(&r).0, "ALREADY_EXISTS"),
        }
    }
    assert_eq!(created, 1);
    let mut tasks = Vec::new();
    for i in 0..10 {
        let sql = sql.clone();
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            sql.run(&t, &format!("INSERT INTO raced VALUES ({i})")).await
        }));
    }
    for task in tasks {
        succeeded(&task.await.unwrap(), "insert");
    }
    assert_eq!(sql.rows("SELECT COUNT(*), SUM(a) FROM raced").await, [["10", "45"]]);
}

#[tokio::test]
async fn grants_in_sql_and_the_grants_endpoint_share_one_store() {
    let sql = Sql::new().await;
    let t = sql.app.admin_token.clone();
    sql.app.create_user("bi@example.com").await;
    sql.admin("GRANT USAGE, READ_METADATA ON DATABASE default TO `bi@example.com`").await;
    let r = sql.app.admin_get(&format!("{UC}/permissions/schema/hive_metastore.default")).await;
    let body = r.ok();
    assert_eq!(body["privilege_assignments"][0]["principal"], "bi@example.com");
    let r = sql.run(&t, "SHOW GRANTS `bi@example.com` ON SCHEMA hive_metastore.default").await;
    let body = succeeded(&r, "show grants");
    assert_eq!(column_names(&body), ["principal", "action_type", "object_type", "object_key"]);
    let mut got = texts(&body);
    got.sort();
    assert_eq!(got[0], ["bi@example.com", "READ_METADATA", "DATABASE", "hive_metastore.default"]);
    sql.admin("REVOKE ALL PRIVILEGES ON SCHEMA default FROM `bi@example.com`").await;
    let r = sql.app.admin_get(&format!("{UC}/permissions/schema/hive_metastore.default")).await;
    assert_eq!(r.ok(), json!({"privilege_assignments": []}));
    common::enable_uc(&sql.app).await;
    let (code, message) =
        failed(&sql.run(&t, "GRANT USAGE ON CATALOG main TO `bi@example.com`").await);
    assert_eq!(code, "BAD_REQUEST");
    assert!(message.contains("USAGE"), "{message}");
    let (code, message) =
        failed(&sql.run(&t, "GRANT SELECT ON SCHEMA main.default TO `ghost@example.com`").await);
    assert_eq!(code, "NOT_FOUND");
    assert!(message.contains("ghost@example.com"), "{message}");
    // Schemas in SQL: IF NOT EXISTS, and a cascade drops the tables' data too.
    sql.admin("CREATE SCHEMA IF NOT EXISTS main.ddl COMMENT 'made in SQL'").await;
    sql.admin("CREATE SCHEMA IF NOT EXISTS main.ddl").await;
    assert_eq!(failed(&sql.run(&t, "CREATE SCHEMA main.ddl").await).0, "ALREADY_EXISTS");
    sql.admin("CREATE TABLE main.ddl.u AS SELECT 1 AS a").await;
    let before = sql.table_dirs();
    assert_eq!(failed(&sql.run(&t, "DROP SCHEMA main.ddl").await).0, "BAD_REQUEST");
    sql.admin("DROP SCHEMA main.ddl CASCADE").await;
    assert_eq!(sql.table_dirs(), before - 1, "the cascaded table's files");
    sql.admin("DROP SCHEMA IF EXISTS main.ddl").await;
    for statement in [
        "GRANT SELECT ON TABLE t",
        "DROP TABLE a.b.c.d",
        "CREATE TABLE t (a geometry)",
        "SELEC 1",
        "SHOW FUNCTIONS",
    ] {
        let (code, message) = failed(&sql.run(&t, statement).await);
        assert!(
            ["BAD_REQUEST", "NOT_IMPLEMENTED"].contains(&code.as_str()),
            "{statement}: {code} {message}"
        );
    }
}

#[tokio::test]
async fn a_server_without_an_engine_says_so() {
    let app = TestApp::new().await;
    let r = app.admin_post(STATEMENTS, json!({"warehouse_id": "w", "statement": "SELECT 1"})).await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED, "{:?}", r.body);
}
