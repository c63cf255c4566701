//! The engine end to end on real Delta tables in a temporary directory: every kind of statement
//! a partner sends, the bindings as the only tables that exist, and the limits.

use patchbay_engine::arrow::array::{Array, Int64Array};
use patchbay_engine::arrow::util::pretty::pretty_format_batches;
use patchbay_engine::{
    Binding, Column, Engine, EngineError, Job, Limits, Output, QualifiedName, Source, Statement,
};
use url::Url;

struct Fixture {
    _dir: tempfile::TempDir,
    engine: Engine,
    bindings: Vec<Binding>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture::with_limits(Limits::default())
    }

    fn with_limits(limits: Limits) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = Url::from_directory_path(dir.path()).unwrap();
        Fixture { engine: Engine::new(root, limits).unwrap(), _dir: dir, bindings: Vec::new() }
    }

    fn bind_table(&mut self, name: &str, id: &str) {
        self.bindings.push(Binding { name: name3(name), source: Source::Table { id: id.into() } });
    }

    fn bind_view(&mut self, name: &str, text: &str) {
        self.bindings.push(Binding {
            name: name3(name),
            source: Source::View {
                text: text.into(),
                catalog: "main".into(),
                schema: "sales".into(),
            },
        });
    }

    async fn run(&self, sql: &str) -> Result<Output, EngineError> {
        let statement = Statement::parse(sql)?;
        let new_id = match statement.kind() {
            patchbay_engine::Kind::CreateTable { name, .. }
            | patchbay_engine::Kind::CreateTableAs { name, .. } => Some(name.table().to_string()),
            _ => None,
        };
        self.engine.run(&job(statement, &self.bindings, new_id.as_deref())).await
    }

    async fn ok(&self, sql: &str) -> Output {
        match self.run(sql).await {
            Ok(out) => out,
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    /// Creates `main.sales.<name>` and binds it (id = name).
    async fn create(&mut self, sql: &str, name: &str) {
        self.ok(sql).await;
        self.bind_table(&format!("main.sales.{name}"), name);
    }

    async fn table(&self, sql: &str) -> String {
        pretty_format_batches(&self.ok(sql).await.batches).unwrap().to_string()
    }
}

fn name3(name: &str) -> QualifiedName {
    let parts: Vec<&str> = name.split('.').collect();
    QualifiedName::new(parts[0], parts[1], parts[2])
}

fn first_i64(out: &Output, column: &str) -> i64 {
    let index = out.schema.index_of(column).unwrap();
    out.batches[0].column(index).as_any().downcast_ref::<Int64Array>().unwrap().value(0)
}

async fn orders() -> Fixture {
    let mut f = Fixture::new();
    f.create(
        "CREATE TABLE orders (id BIGINT NOT NULL, customer STRING, amount DECIMAL(10,2), day DATE)",
        "orders",
    )
    .await;
    let out = f
        .ok("INSERT INTO orders VALUES (1, 'ada', 10.50, DATE'2026-01-01'), (2, 'bob', 3.25, DATE'2026-01-02'), \
             (3, 'ada', 7.00, DATE'2026-01-03')")
        .await;
    assert_eq!(first_i64(&out, "num_inserted_rows"), 3);
    f
}

#[tokio::test]
async fn created_tables_are_delta_tables_with_the_declared_columns_and_the_rows_inserted() {
    let f = orders().await;
    assert_eq!(
        f.table("SELECT id, customer, amount, day FROM main.sales.orders ORDER BY id").await,
        "+----+----------+--------+------------+\n\
         | id | customer | amount | day        |\n\
         +----+----------+--------+------------+\n\
         | 1  | ada      | 10.50  | 2026-01-01 |\n\
         | 2  | bob      | 3.25   | 2026-01-02 |\n\
         | 3  | ada      | 7.00   | 2026-01-03 |\n\
         +----+----------+--------+------------+"
    );
    let log = f._dir.path().join("orders/_delta_log/00000000000000000001.json");
    assert!(log.exists(), "the insert is Delta commit 1 at {log:?}");
}

#[tokio::test]
async fn joins_aggregates_windows_and_ctes_run() {
    let mut f = orders().await;
    f.create("CREATE TABLE customers (name STRING, country STRING)", "customers").await;
    f.ok("INSERT INTO customers VALUES ('ada', 'UK'), ('bob', 'FR')").await;
    let text = f
        .table(
            "WITH totals AS (SELECT customer, sum(amount) AS total, count(*) AS n FROM orders GROUP BY customer) \
             SELECT c.country, t.total, t.n, rank() OVER (ORDER BY t.total DESC) AS r \
             FROM totals t JOIN `main`.`sales`.`customers` c ON c.name = t.customer ORDER BY r",
        )
        .await;
    assert_eq!(
        text,
        "+---------+-------+---+---+\n\
         | country | total | n | r |\n\
         +---------+-------+---+---+\n\
         | UK      | 17.50 | 2 | 1 |\n\
         | FR      | 3.25  | 1 | 2 |\n\
         +---------+-------+---+---+"
    );
}

#[tokio::test]
async fn update_delete_and_merge_change_exactly_the_rows_they_say() {
    let mut f = orders().await;
    let out = f.ok("UPDATE orders SET amount = amount * 2 WHERE customer = 'ada'").await;
    assert_eq!(first_i64(&out, "num_affected_rows"), 2);
    let out = f.ok("DELETE FROM orders WHERE id = 2").await;
    assert_eq!(first_i64(&out, "num_affected_rows"), 1);

    f.create(
        "CREATE TABLE updates (id BIGINT, customer STRING, amount DECIMAL(10,2), day DATE)",
        "updates",
    )
    .await;
    f.ok("INSERT INTO updates VALUES (1, 'ada', 1.00, DATE'2026-02-01'), (9, 'cyd', 9.99, DATE'2026-02-02')")
        .await;
    let out = f
        .ok("MERGE INTO orders t USING updates u ON t.id = u.id \
             WHEN MATCHED THEN UPDATE SET amount = u.amount \
             WHEN NOT MATCHED THEN INSERT (id, customer, amount, day) VALUES (u.id, u.customer, u.amount, u.day)")
        .await;
    assert_eq!(first_i64(&out, "num_updated_rows"), 1);
    assert_eq!(first_i64(&out, "num_inserted_rows"), 1);
    assert_eq!(
        f.table("SELECT id, customer, amount FROM orders ORDER BY id").await,
        "+----+----------+--------+\n\
         | id | customer | amount |\n\
         +----+----------+--------+\n\
         | 1  | ada      | 1.00   |\n\
         | 3  | ada      | 14.00  |\n\
         | 9  | cyd      | 9.99   |\n\
         +----+----------+--------+"
    );
}

#[tokio::test]
async fn create_table_as_select_copies_rows_and_insert_overwrite_replaces_them() {
    let mut f = orders().await;
    let out = f.ok("CREATE TABLE big AS SELECT id, amount FROM orders WHERE amount > 5").await;
    assert_eq!(first_i64(&out, "num_inserted_rows"), 2);
    f.bind_table("main.sales.big", "big");
    f.ok("INSERT OVERWRITE big SELECT id, amount FROM orders WHERE id = 2").await;
    assert_eq!(
        f.table("SELECT * FROM big").await,
        "+----+--------+\n| id | amount |\n+----+--------+\n| 2  | 3.25   |\n+----+--------+"
    );
}

#[tokio::test]
async fn views_are_planned_from_their_text_in_their_own_schema() {
    let mut f = orders().await;
    f.bind_view("main.reports.ada_orders", "SELECT id FROM orders WHERE customer = 'ada'");
    assert_eq!(
        f.table("SELECT count(*) AS n FROM main.reports.ada_orders").await,
        "+---+\n| n |\n+---+\n| 2 |\n+---+"
    );
}

#[tokio::test]
async fn a_name_the_caller_did_not_bind_does_not_exist() {
    let f = orders().await;
    for sql in [
        "SELECT * FROM main.sales.secret",
        "SELECT * FROM orders o JOIN other.x.y z ON o.id = z.id",
        "INSERT INTO main.sales.orders SELECT * FROM main.sales.elsewhere",
    ] {
        let err = f.run(sql).await.unwrap_err();
        assert!(
            err.to_string().contains("not found")
                || err.to_string().contains("secret")
                || err.to_string().contains("elsewhere")
                || err.to_string().contains("other"),
            "{sql}: {err}"
        );
    }
    // No file can be read by naming it.
    let err = f.run("SELECT * FROM '/etc/passwd'").await.unwrap_err();
    assert!(!matches!(err, EngineError::Storage(_)), "{err}");
}

#[tokio::test]
async fn a_result_over_the_row_limit_fails_and_the_engine_goes_on() {
    let f = Fixture::with_limits(Limits { max_result_rows: 100, ..Limits::default() });
    let err = f.run("SELECT * FROM generate_series(1, 1000)").await.unwrap_err();
    assert!(matches!(&err, EngineError::ResultTooLarge(limit) if limit == "100 rows"), "{err}");
    assert_eq!(f.ok("SELECT * FROM generate_series(1, 100)").await.num_rows(), 100);
}

/// Few rows can still be too much: wide ones are counted in bytes.
#[tokio::test]
async fn a_result_over_the_byte_limit_fails_and_the_engine_goes_on() {
    let f = Fixture::with_limits(Limits { max_result_bytes: 1 << 20, ..Limits::default() });
    let err = f.run("SELECT repeat('x', 10000) FROM range(0, 1000) AS t(x)").await.unwrap_err();
    assert!(matches!(&err, EngineError::ResultTooLarge(limit) if limit == "1 MiB"), "{err}");
    assert_eq!(f.ok("SELECT repeat('x', 10000) FROM range(0, 10) AS t(x)").await.num_rows(), 10);
}

#[tokio::test]
async fn a_query_over_the_memory_limit_fails_cleanly() {
    let f = Fixture::with_limits(Limits { memory_bytes: 1 << 20, ..Limits::default() });
    let err = f
        .run("SELECT v % 100000 AS k, count(*) FROM generate_series(1, 3000000) t(v) GROUP BY k ORDER BY k")
        .await
        .unwrap_err();
    assert!(matches!(err, EngineError::MemoryExceeded(_)), "{err}");
    assert_eq!(f.ok("SELECT 1 + 1 AS two").await.num_rows(), 1);
}

#[tokio::test]
async fn functions_that_multiply_their_input_are_bounded() {
    // The memory pool does not count the values a function makes: these would take gigabytes
    // in one allocation each, and the process would die of it.
    let f = Fixture::new();
    for sql in [
        "SELECT max(length(repeat(CAST(x AS STRING), 100000000))) FROM range(0, 10) AS t(x)",
        "SELECT length(repeat('x', 300000000))",
        "SELECT max(length(lpad(CAST(x AS STRING), 200000000, '-'))) FROM range(0, 10) AS t(x)",
        "SELECT max(length(rpad('a', 100000000 + x))) FROM range(0, 10) AS t(x)",
        "SELECT max(cardinality(array_repeat(x, 100000000))) FROM range(0, 10) AS t(x)",
        "SELECT cardinality(range(1, 100000000))",
        "SELECT max(cardinality(generate_series(x, 40000000 + x, 1))) FROM range(0, 10) AS t(x)",
        // A long constant against a column: measured once, not copied for every row.
        "SELECT max(length(repeat(repeat('x', 100000), CAST(x % 2 AS INT) * 3000))) FROM range(0, 8192) AS t(x)",
        "SELECT max(cardinality(array_resize([1], 100000000 + x, 0))) FROM range(0, 10) AS t(x)",
        // Every character of a 1 MB string replaced by 1 KB.
        "SELECT length(replace(repeat('a', 1000000), 'a', repeat('b', 1000)))",
        "SELECT length(replace(repeat('a', 1000000), '', repeat('b', 1000)))",
        "SELECT length(regexp_replace(repeat('a', 1000000), 'a', repeat('b', 1000), 'g'))",
        "SELECT length(regexp_replace(repeat('a', 100000), '(a*)', repeat('\\1', 3000)))",
    ] {
        match f.run(sql).await {
            Err(EngineError::MemoryExceeded(m)) => assert!(m.contains("at most 256 MiB"), "{m}"),
            Err(other) => panic!("{sql}: {other}"),
            Ok(_) => panic!("{sql}: ran"),
        }
    }
    // Within the bound they are the built-in functions.
    let out = f
        .table("SELECT repeat('ab', 3) AS r, lpad('x', 4, '-') AS l, rpad('x', 3) AS p, array_repeat(7, 2) AS a, range(1, 4) AS s, generate_series(1, 3) AS g")
        .await;
    assert!(out.contains("| ababab | ---x | x   | [7, 7] | [1, 2, 3] | [1, 2, 3] |"), "{out}");
    // A long replacement where it occurs rarely: counted, not refused.
    let out = f
        .table("SELECT length(replace(repeat('a,', 10) || repeat('a', 1000000), ',', repeat('-', 100000))) AS n, replace('a.b', '.', '::') AS r, regexp_replace('a1b22', '[0-9]+', '#', 'g') AS g, array_resize([1, 2], 3, 9) AS z")
        .await;
    assert!(out.contains("| 2000010 | a::b | a#b# | [1, 2, 9] |"), "{out}");
    assert_eq!(f.ok("SELECT 1 + 1 AS two").await.num_rows(), 1);
}

#[tokio::test]
async fn table_ids_cannot_reach_outside_the_root() {
    let f = Fixture::new();
    let columns =
        [Column { name: "a".into(), type_name: "INT".into(), nullable: true, comment: None }];
    for bad in ["../escape", "a/b", "", "..", "x%2f"] {
        let err = f.engine.create_table(bad, &columns, false, "someone").await.unwrap_err();
        assert!(matches!(err, EngineError::Storage(_)), "{bad}: {err}");
    }
}

#[tokio::test]
async fn drop_removes_the_files_and_creating_twice_without_replace_fails() {
    let f = orders().await;
    let err = f.run("CREATE TABLE orders (a INT)").await.unwrap_err();
    assert!(matches!(err, EngineError::Storage(_)), "{err}");
    f.engine.drop_table("orders").await.unwrap();
    assert!(!f._dir.path().join("orders").exists());
    f.engine.drop_table("orders").await.unwrap();
    let err = f.run("SELECT * FROM orders").await.unwrap_err();
    assert!(matches!(err, EngineError::Storage(_)), "{err}");
}

/// A table's Parquet data files, by name.
fn data_files(table_dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(table_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    files
}

/// How many pages of the `id` column a table's data files hold, from their offset indexes.
fn id_pages(table_dir: &std::path::Path) -> usize {
    use deltalake::parquet::arrow::arrow_reader::{
        ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
    };
    use deltalake::parquet::file::metadata::PageIndexPolicy;
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Required);
    let mut pages = 0;
    for file in data_files(table_dir) {
        let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(
            std::fs::File::open(file).unwrap(),
            options.clone(),
        )
        .unwrap();
        let id = builder.schema().index_of("id").unwrap();
        let offsets = builder.metadata().offset_index().expect("an offset index");
        pages +=
            offsets.iter().map(|row_group| row_group[id].page_locations().len()).sum::<usize>();
    }
    pages
}

/// The ids of a table's data files in the order the files hold them, file by file.
fn ids_as_stored(table_dir: &std::path::Path) -> Vec<i64> {
    use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let mut ids = Vec::new();
    for file in data_files(table_dir) {
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(file).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let column = batch.column_by_name("id").expect("an id column");
            let column = column.as_any().downcast_ref::<Int64Array>().unwrap();
            ids.extend(column.iter().flatten());
        }
    }
    ids
}

#[tokio::test]
async fn a_query_written_to_a_table_keeps_its_rows_together() {
    // A point lookup skips a file's pages by their min and max. The rows a query made next to
    // each other must stay mostly together, not be interleaved batch by batch as the engine's
    // partitions finish: then one id falls in the range of a few pages, not of most of them.
    let f = Fixture::new();
    let rows: i64 = 1_000_000;
    f.ok(&format!(
        "CREATE TABLE t AS SELECT x AS id, x % 1000 AS k, CAST(x AS DOUBLE) * 0.5 AS v \
         FROM range(0, {rows}) AS r(x)"
    ))
    .await;
    let ids = ids_as_stored(&f._dir.path().join("t"));
    assert_eq!(ids.len() as i64, rows);
    // Pages of at most 4,096 rows: a lookup narrowed to one decodes little.
    let pages_written = id_pages(&f._dir.path().join("t"));
    assert!(pages_written as i64 >= rows / 4096, "{pages_written} pages of ids for {rows} rows");
    // Runs of 4,096 stored rows, a page each (the engine writes pages of at most 4,096 rows),
    // and the range of ids each holds.
    let pages: Vec<(i64, i64)> =
        ids.chunks(4096).map(|p| (*p.iter().min().unwrap(), *p.iter().max().unwrap())).collect();
    let probes: Vec<i64> = (0..100).map(|i| i * rows / 100 + 17).collect();
    let hits: usize =
        probes.iter().map(|id| pages.iter().filter(|(lo, hi)| lo <= id && id <= hi).count()).sum();
    let mean = hits as f64 / probes.len() as f64;
    // The query runs in as many partitions as there are cores, each taking every n-th batch.
    // Written partition after partition, an id falls in the range of a few of the 245 pages
    // (2.5 on two cores); interleaved as the partitions finish, it fell in most of them.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    assert!(
        mean <= 1.5 * cores + 2.0,
        "an id falls in {mean:.1} of {} page ranges on average",
        pages.len()
    );
}

#[tokio::test]
async fn inserted_rows_are_written_as_a_query_written_to_a_table() {
    // INSERT … SELECT and INSERT … VALUES write through the same writer as CREATE TABLE AS
    // SELECT: pages of at most 4,096 rows (Delta's own writer makes pages of 20,000).
    let mut f = Fixture::new();
    let rows: i64 = 200_000;
    f.create("CREATE TABLE u (id BIGINT, k BIGINT, v DOUBLE)", "u").await;
    f.ok(&format!(
        "INSERT INTO u SELECT x, x % 1000, CAST(x AS DOUBLE) * 0.5 FROM range(0, {rows}) AS r(x)"
    ))
    .await;
    let pages = id_pages(&f._dir.path().join("u"));
    assert!(pages as i64 >= rows / 4096, "{pages} pages of ids for {rows} rows");
    let mut ids = ids_as_stored(&f._dir.path().join("u"));
    ids.sort_unstable();
    assert_eq!(ids, (0..rows).collect::<Vec<_>>());
}

/// The schema's fields, then every row of every batch as `a|b|c`, sorted: without `ORDER BY`
/// rows from several files come in any order.
fn shown(out: &Output) -> Vec<String> {
    use patchbay_engine::arrow::util::display::array_value_to_string;
    let mut lines = vec![format!("{:?}", out.schema.fields())];
    for batch in &out.batches {
        for row in 0..batch.num_rows() {
            let values: Vec<String> =
                batch.columns().iter().map(|c| array_value_to_string(c, row).unwrap()).collect();
            lines.push(values.join("|"));
        }
    }
    lines[1..].sort();
    lines
}

/// `statement` in `main.sales`, with `bindings`, storing a table it creates as `new_table_id`.
fn job(statement: Statement, bindings: &[Binding], new_table_id: Option<&str>) -> Job {
    Job {
        user: String::new(),
        statement,
        catalog: "main".into(),
        schema: "sales".into(),
        bindings: bindings.to_vec(),
        new_table_id: new_table_id.map(str::to_owned),
    }
}

async fn on(engine: &Engine, bindings: &[Binding], sql: &str) -> Output {
    let statement = Statement::parse(sql).unwrap();
    let new = matches!(statement.kind(), patchbay_engine::Kind::CreateTableAs { .. });
    match engine.run(&job(statement, bindings, new.then_some("t"))).await {
        Ok(out) => out,
        Err(e) => panic!("{sql}: {e}"),
    }
}

/// The first reads of a version are planned, the ones after come from memory: each lookup, run
/// three times, answers as the engine that plans everything does.
async fn same_answers(held: &Engine, planned: &Engine, bindings: &[Binding], round: &str) {
    for sql in [
        "SELECT * FROM t WHERE id = 12345",
        "SELECT * FROM t WHERE id = -1",
        "SELECT v, id FROM t WHERE small = 77",
        "SELECT id FROM t WHERE name = '3'",
        "SELECT * FROM t WHERE maybe = 2",
        "SELECT `name` FROM main.sales.t WHERE ID = 19999",
    ] {
        for _ in 0..3 {
            assert_eq!(
                shown(&on(held, bindings, sql).await),
                shown(&on(planned, bindings, sql).await),
                "{round}: {sql}"
            );
        }
    }
}

#[tokio::test]
async fn point_lookups_answered_from_memory_are_the_planners_answers_at_the_latest_version() {
    // Two engines on one root, as two nodes: `held` holds rows for point lookups, `planned`
    // holds none and plans every statement.
    let dir = tempfile::tempdir().unwrap();
    let root = Url::from_directory_path(dir.path()).unwrap();
    let held = Engine::new(root.clone(), Limits::default()).unwrap();
    let planned = Engine::new(root, Limits { table_memory_bytes: 0, ..Limits::default() }).unwrap();
    let bindings =
        [Binding { name: name3("main.sales.t"), source: Source::Table { id: "t".into() } }];
    on(
        &planned,
        &[],
        "CREATE TABLE t AS SELECT CAST(x AS INT) AS small, x AS id, CAST(x % 7 AS STRING) AS name, \
         CAST(x AS DOUBLE) / 2 AS v, CASE WHEN x % 5 = 0 THEN NULL ELSE x % 3 END AS maybe \
         FROM range(0, 20000) AS r(x)",
    )
    .await;
    same_answers(&held, &planned, &bindings, "first version").await;
    assert!(held.table_memory_used() > 0, "the rows were loaded");
    // Another node writes: the next lookup sees the new version.
    on(&planned, &bindings, "INSERT INTO t VALUES (1, 12345, 'new', 0.0, NULL)").await;
    let found = on(&held, &bindings, "SELECT name FROM t WHERE id = 12345").await;
    assert_eq!(found.num_rows(), 2);
    assert_eq!(held.table_memory_used(), 0, "the old version's rows are let go");
    same_answers(&held, &planned, &bindings, "after an insert").await;
    on(&held, &bindings, "DELETE FROM t WHERE id = 12345").await;
    same_answers(&held, &planned, &bindings, "after a delete").await;
    let gone = on(&held, &bindings, "SELECT * FROM t WHERE id = 12345").await;
    assert_eq!(gone.num_rows(), 0);
}
