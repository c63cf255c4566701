//! `bench-sql DIR QUERY RUNS`: opens the Delta table in DIR (one that patchbay wrote), registers
//! it as `t` in a plain DataFusion session, runs QUERY RUNS times and prints
//! `RESULT median_ms=… min_ms=… rows=…`: the baseline patchbay's Statement Execution API is
//! measured against.

use deltalake::datafusion::prelude::SessionContext;
use std::time::Instant;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, query, runs] = args.as_slice() else {
        eprintln!("usage: bench-sql DIR QUERY RUNS");
        std::process::exit(2);
    };
    let runs: usize = runs.parse().expect("RUNS is a number");
    let path = std::fs::canonicalize(dir).expect("the table directory");
    let url = url::Url::from_directory_path(path).expect("a directory");
    let table = deltalake::open_table(url).await.expect("a Delta table");
    let ctx = SessionContext::new();
    ctx.register_table("t", table.table_provider().await.expect("a provider")).expect("register");
    let mut times = Vec::with_capacity(runs);
    let mut rows = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let batches = ctx.sql(query).await.expect("plan").collect().await.expect("run");
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        rows = batches.iter().map(|b| b.num_rows()).sum::<usize>();
    }
    times.sort_by(f64::total_cmp);
    println!("RESULT median_ms={:.2} min_ms={:.2} rows={rows}", times[times.len() / 2], times[0]);
}
