//! Job runs as the SDKs drive them: `run-now`, then `runs/get` until a terminal state, `runs/list`,
//! `runs/cancel` and `runs/get-output`; the life cycle moving by time, who may run, cancel and
//! see runs, and bad input changing nothing. Also the runtimes and node types clusters are made of.

mod common;

use axum::http::{Method, StatusCode};
use common::snapshot::redacted;
use common::{Reply, TestApp, denied, invalid, malformed, ok};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const JOBS: &str = "/api/2.2/jobs";
const PERMS: &str = "/api/2.0/permissions";

/// A workspace whose runs take `millis` for each step of their life cycle.
async fn app_with_transitions(millis: i64) -> TestApp {
    TestApp::build("http://127.0.0.1:1", |s| {
        s.compute_transition_millis = millis;
    })
    .await
}

/// [`app_with_transitions`] on a clock that [`follow`] moves instead of sleeping.
async fn clocked_app_with_transitions(millis: i64) -> TestApp {
    TestApp::build_clocked("http://127.0.0.1:1", |s| {
        s.compute_transition_millis = millis;
    })
    .await
}

async fn create_job(app: &TestApp, settings: Value) -> i64 {
    let r = app.admin_post(&format!("{JOBS}/create"), settings).await;
    ok(&r);
    r.body["job_id"].as_i64().expect("job_id is a number")
}

fn two_tasks(name: &str) -> Value {
    json!({"name": name, "max_concurrent_runs": 5, "tasks": [
        {"task_key": "ingest", "notebook_task": {"notebook_path": "/ingest"}},
        {"task_key": "report", "depends_on": [{"task_key": "ingest"}],
         "sql_task": {"warehouse_id": "w", "query": {"query_id": "q"}}}]})
}

async fn run_now(app: &TestApp, token: &str, body: Value) -> Reply {
    app.post_as(Some(token), &format!("{JOBS}/run-now"), body).await
}

async fn started(app: &TestApp, job_id: i64) -> i64 {
    let r = run_now(app, &app.admin_token.clone(), json!({"job_id": job_id})).await;
    ok(&r);
    let run_id = r.body["run_id"].as_i64().expect("run_id is a number");
    assert_eq!(r.body["number_in_job"], run_id);
    run_id
}

/// Cancels a run as the admin, which must answer 200; the answer.
async fn cancel(app: &TestApp, run_id: i64) -> Reply {
    let r = app.admin_post(&format!("{JOBS}/runs/cancel"), json!({"run_id": run_id})).await;
    ok(&r);
    r
}

async fn get_run(app: &TestApp, token: &str, run_id: i64) -> Reply {
    app.get_as(Some(token), &format!("{JOBS}/runs/get?run_id={run_id}")).await
}

async fn run_state(app: &TestApp, run_id: i64) -> Value {
    let r = get_run(app, &app.admin_token.clone(), run_id).await;
    ok(&r);
    r.body["state"].clone()
}

/// Polls `runs/get` until the run is terminal (as the SDK's `run_now().result()` does) and
/// returns the life-cycle states seen on the way, each once. Between two polls 40 ms pass: on
/// the app's manual clock if it has one, else in a sleep.
async fn follow(app: &TestApp, run_id: i64, within: Duration) -> (Vec<String>, Value) {
    let deadline = Instant::now() + within;
    let mut seen: Vec<String> = Vec::new();
    loop {
        let state = run_state(app, run_id).await;
        let life = state["life_cycle_state"].as_str().unwrap().to_owned();
        if seen.last() != Some(&life) {
            seen.push(life.clone());
        }
        if life == "TERMINATED" || life == "SKIPPED" {
            return (seen, state);
        }
        assert!(Instant::now() < deadline, "still {life} after {within:?}");
        match &app.clock {
            Some(clock) => clock.advance(Duration::from_millis(40)),
            None => tokio::time::sleep(Duration::from_millis(40)).await,
        }
    }
}

async fn list_runs(app: &TestApp, token: &str, query: &str) -> Reply {
    app.get_as(Some(token), &format!("{JOBS}/runs/list?{query}")).await
}

fn run_ids(list: &Reply) -> Vec<i64> {
    list.body["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .map(|r| r["run_id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_run_goes_pending_running_terminated_success_by_time() {
    let app = clocked_app_with_transitions(1000).await;
    let job = create_job(&app, two_tasks("nightly")).await;
    let run = started(&app, job).await;

    let r = get_run(&app, &app.admin_token, run).await;
    ok(&r);
    assert_eq!(r.body["job_id"], job);
    assert_eq!(r.body["run_name"], "nightly");
    assert_eq!(r.body["run_type"], "JOB_RUN");
    assert_eq!(r.body["creator_user_name"], common::ADMIN);
    let tasks = r.body["tasks"].as_array().expect("tasks");
    assert_eq!(
        tasks.iter().map(|t| t["task_key"].as_str().unwrap()).collect::<Vec<_>>(),
        ["ingest", "report"],
        "the job's tasks, in its order"
    );
    assert!(tasks.iter().all(|t| t["run_id"].as_i64().is_some() && t["run_id"] != run));
    assert_eq!(tasks[0]["notebook_task"]["notebook_path"], "/ingest");

    let (seen, done) = follow(&app, run, Duration::from_secs(20)).await;
    assert_eq!(seen, ["PENDING", "RUNNING", "TERMINATED"]);
    assert_eq!(done["result_state"], "SUCCESS");
    assert_eq!(done["user_cancelled_or_timedout"], false);
    assert!(done["state_message"].as_str().unwrap().contains("patchbay runs no code"), "{done}");
    let r = get_run(&app, &app.admin_token, run).await;
    ok(&r);
    let (start, end) =
        (r.body["start_time"].as_i64().unwrap(), r.body["end_time"].as_i64().unwrap());
    assert!(end >= start + 2000, "ends after both steps: {start}..{end}");
    assert_eq!(r.body["status"]["state"], "TERMINATED");
    assert_eq!(r.body["status"]["termination_details"]["code"], "SUCCESS");
    assert!(
        r.body["tasks"].as_array().unwrap().iter().all(|t| t["state"]["result_state"] == "SUCCESS")
    );
}

#[tokio::test]
async fn a_canceled_run_terminates_as_canceled() {
    let app = clocked_app_with_transitions(1000).await;
    let job = create_job(&app, two_tasks("cancel me")).await;
    let run = started(&app, job).await;
    let canceled = cancel(&app, run).await;
    assert_eq!(canceled.body, json!({}));
    let state = run_state(&app, run).await;
    assert_eq!(state["life_cycle_state"], "TERMINATING", "{state}");
    let (_, done) = follow(&app, run, Duration::from_secs(20)).await;
    assert_eq!(done["result_state"], "CANCELED");
    assert_eq!(done["user_cancelled_or_timedout"], true);
    let r = get_run(&app, &app.admin_token, run).await;
    assert_eq!(r.body["status"]["termination_details"]["code"], "USER_CANCELED");

    // Canceling an ended run changes nothing, as in Databricks.
    cancel(&app, run).await;
    assert_eq!(run_state(&app, run).await["result_state"], "CANCELED");

    // A run that succeeded stays a success.
    let fast = app_with_transitions(0).await;
    let job = create_job(&fast, two_tasks("quick")).await;
    let run = started(&fast, job).await;
    cancel(&fast, run).await;
    assert_eq!(run_state(&fast, run).await["result_state"], "SUCCESS");
}

#[tokio::test]
async fn runs_beyond_max_concurrent_runs_are_skipped() {
    let app = app_with_transitions(60_000).await;
    let job = create_job(&app, json!({"name": "one at a time", "max_concurrent_runs": 1})).await;
    let first = started(&app, job).await;
    let second = started(&app, job).await;
    assert_eq!(run_state(&app, first).await["life_cycle_state"], "PENDING");
    let skipped = get_run(&app, &app.admin_token, second).await;
    ok(&skipped);
    assert_eq!(skipped.body["state"]["life_cycle_state"], "SKIPPED");
    assert_eq!(
        skipped.body["status"]["termination_details"]["code"],
        "MAX_CONCURRENT_RUNS_EXCEEDED"
    );
    // Once the first is canceled, the job may run again.
    cancel(&app, first).await;
    let fast = app_with_transitions(0).await;
    let job = create_job(&fast, json!({"name": "sequential", "max_concurrent_runs": 1})).await;
    let a = started(&fast, job).await;
    let b = started(&fast, job).await;
    assert_eq!(run_state(&fast, a).await["result_state"], "SUCCESS");
    assert_eq!(run_state(&fast, b).await["result_state"], "SUCCESS");
}

#[tokio::test]
async fn output_is_per_task_run_and_says_nothing_ran() {
    let app = TestApp::new().await;
    let job = create_job(&app, two_tasks("with output")).await;
    let run = started(&app, job).await;
    let r = app.admin_get(&format!("{JOBS}/runs/get-output?run_id={run}")).await;
    invalid(&r, "Retrieving the output of runs with multiple tasks is not supported");

    let got = get_run(&app, &app.admin_token, run).await;
    ok(&got);
    let notebook_task_run = got.body["tasks"][0]["run_id"].as_i64().unwrap();
    let out = app.admin_get(&format!("{JOBS}/runs/get-output?run_id={notebook_task_run}")).await;
    ok(&out);
    // The notebook's (empty) output, the task run itself as metadata, and a note that nothing ran.
    insta::assert_json_snapshot!(
        "output_of_a_notebook_task",
        redacted(
            &out.body,
            &[(&notebook_task_run.to_string(), "task_run_id"), (&job.to_string(), "job_id"),]
        )
    );
    // A task run can be read on its own too.
    let task = get_run(&app, &app.admin_token, notebook_task_run).await;
    ok(&task);
    assert_eq!(task.body["run_id"], notebook_task_run);

    // A job in the 2.0 single-task format has no task runs: its run answers the output itself.
    let legacy =
        create_job(&app, json!({"name": "legacy", "notebook_task": {"notebook_path": "/x"}})).await;
    let run = started(&app, legacy).await;
    let out = app.admin_get(&format!("/api/2.0/jobs/runs/get-output?run_id={run}")).await;
    ok(&out);
    assert_eq!(out.body["notebook_output"], json!({}));
}

#[tokio::test]
async fn runs_list_filters_and_pages_newest_first() {
    let app = app_with_transitions(60_000).await;
    let busy = create_job(&app, two_tasks("busy")).await;
    let other = create_job(&app, two_tasks("other")).await;
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(started(&app, busy).await);
    }
    let theirs = started(&app, other).await;
    cancel(&app, mine[0]).await;

    let all = list_runs(&app, &app.admin_token, "").await;
    ok(&all);
    assert_eq!(run_ids(&all), [theirs, mine[2], mine[1], mine[0]]);
    assert_eq!(all.body["has_more"], false);
    assert!(all.body["runs"][0].get("tasks").is_none(), "tasks only with expand_tasks");
    let expanded = list_runs(&app, &app.admin_token, "expand_tasks=true").await;
    ok(&expanded);
    assert_eq!(expanded.body["runs"][0]["tasks"].as_array().unwrap().len(), 2);

    let by_job = list_runs(&app, &app.admin_token, &format!("job_id={busy}")).await;
    ok(&by_job);
    assert_eq!(run_ids(&by_job), [mine[2], mine[1], mine[0]]);

    // The run canceled first is TERMINATING for a minute: still active.
    let active =
        list_runs(&app, &app.admin_token, &format!("job_id={busy}&active_only=true")).await;
    ok(&active);
    assert_eq!(run_ids(&active).len(), 3);
    // A state filter pages too.
    let active_page = list_runs(&app, &app.admin_token, "active_only=true&limit=3").await;
    ok(&active_page);
    assert_eq!(run_ids(&active_page), [theirs, mine[2], mine[1]]);
    assert_eq!(active_page.body["has_more"], true);
    let token = active_page.body["next_page_token"].as_str().unwrap().to_owned();
    let rest =
        list_runs(&app, &app.admin_token, &format!("active_only=true&limit=3&page_token={token}"))
            .await;
    ok(&rest);
    assert_eq!(run_ids(&rest), [mine[0]]);
    assert_eq!(rest.body["has_more"], false);
    let completed = list_runs(&app, &app.admin_token, "completed_only=true").await;
    ok(&completed);
    assert!(run_ids(&completed).is_empty());

    // Pages, as the SDK follows them.
    let first = list_runs(&app, &app.admin_token, "limit=3").await;
    ok(&first);
    assert_eq!(run_ids(&first), [theirs, mine[2], mine[1]]);
    assert_eq!(first.body["has_more"], true);
    let token = first.body["next_page_token"].as_str().unwrap().to_owned();
    let second = list_runs(&app, &app.admin_token, &format!("limit=3&page_token={token}")).await;
    ok(&second);
    assert_eq!(run_ids(&second), [mine[0]]);
    assert_eq!(second.body["has_more"], false);
    assert!(second.body.get("next_page_token").is_none());
    let offset = list_runs(&app, &app.admin_token, "limit=2&offset=2").await;
    ok(&offset);
    assert_eq!(run_ids(&offset), [mine[1], mine[0]]);

    for (query, needle) in [
        ("active_only=true&completed_only=true", "cannot both be true"),
        ("limit=26", "limit"),
        ("limit=-1", "limit"),
        ("offset=-3", "offset"),
        ("page_token=x", "page_token"),
        ("job_id=abc", "job_id"),
        ("active_only=yes", "active_only"),
        ("run_type=NIGHTLY", "run_type"),
    ] {
        let r = list_runs(&app, &app.admin_token, query).await;
        invalid(&r, needle);
    }
}

#[tokio::test]
async fn who_may_run_cancel_and_see_runs() {
    let app = app_with_transitions(60_000).await;
    let job = create_job(&app, two_tasks("guarded")).await;
    let admin_run = started(&app, job).await;
    let (_, viewer) = app.plain_user("viewer@example.com").await;
    let (_, runner) = app.plain_user("runner@example.com").await;
    let (_, stranger) = app.plain_user("stranger@example.com").await;
    let r = app
        .admin_patch(
            &format!("{PERMS}/jobs/{job}"),
            json!({"access_control_list": [
                {"user_name": "viewer@example.com", "permission_level": "CAN_VIEW"},
                {"user_name": "runner@example.com", "permission_level": "CAN_MANAGE_RUN"}]}),
        )
        .await;
    ok(&r);

    // Someone with no level on the job sees neither it nor its runs.
    let r = run_now(&app, &stranger, json!({"job_id": job})).await;
    invalid(&r, "does not exist");
    let r = get_run(&app, &stranger, admin_run).await;
    invalid(&r, &format!("Run {admin_run} does not exist"));
    let r = list_runs(&app, &stranger, "").await;
    ok(&r);
    assert!(run_ids(&r).is_empty());
    let r = app
        .post_as(Some(&stranger), &format!("{JOBS}/runs/cancel"), json!({"run_id": admin_run}))
        .await;
    invalid(&r, "does not exist");

    // CAN_VIEW: sees the runs, may neither run nor cancel.
    let r = get_run(&app, &viewer, admin_run).await;
    ok(&r);
    let r = list_runs(&app, &viewer, "").await;
    ok(&r);
    assert_eq!(run_ids(&r), [admin_run]);
    let r = run_now(&app, &viewer, json!({"job_id": job})).await;
    denied(&r, "CAN_MANAGE_RUN");
    let r = app
        .post_as(Some(&viewer), &format!("{JOBS}/runs/cancel"), json!({"run_id": admin_run}))
        .await;
    denied(&r, "CAN_MANAGE_RUN");
    assert_eq!(run_state(&app, admin_run).await["life_cycle_state"], "PENDING");

    // CAN_MANAGE_RUN: runs and cancels.
    let r = run_now(&app, &runner, json!({"job_id": job})).await;
    ok(&r);
    let runner_run = r.body["run_id"].as_i64().unwrap();
    let r = get_run(&app, &runner, runner_run).await;
    ok(&r);
    assert_eq!(r.body["creator_user_name"], "runner@example.com");
    let r = app
        .post_as(Some(&runner), &format!("{JOBS}/runs/cancel"), json!({"run_id": admin_run}))
        .await;
    ok(&r);
    assert_eq!(run_state(&app, admin_run).await["life_cycle_state"], "TERMINATING");
}

#[tokio::test]
async fn bad_run_requests_are_refused_and_start_nothing() {
    let app = TestApp::new().await;
    let job = create_job(&app, two_tasks("strict")).await;
    let token = app.admin_token.clone();
    for (body, needle) in [
        (json!({}), "job_id is required"),
        (json!({"job_id": "abc"}), "job_id"),
        (json!({"job_id": 1.5}), "job_id"),
        (json!({"job_id": job, "job_parameters": ["a"]}), "job_parameters"),
        (json!({"job_id": job, "notebook_params": {"a": 1}}), "notebook_params"),
        (json!({"job_id": job, "python_params": "a b"}), "python_params"),
        (json!({"job_id": job, "only": ["nope"]}), "nope"),
        (json!({"job_id": job, "only": "ingest"}), "only"),
        (json!({"job_id": job, "idempotency_token": "x".repeat(65)}), "idempotency_token"),
        (json!({"job_id": job, "idempotency_token": 7}), "idempotency_token"),
    ] {
        let r = run_now(&app, &token, body.clone()).await;
        invalid(&r, needle);
    }
    let r = run_now(&app, &token, json!({"job_id": 999})).await;
    invalid(&r, "Job 999 does not exist");
    let r = app.call(Method::POST, &format!("{JOBS}/run-now"), Some(&token), None).await;
    invalid(&r, "job_id");
    let r = list_runs(&app, &token, "").await;
    ok(&r);
    assert!(run_ids(&r).is_empty(), "nothing started: {:?}", r.body);

    for query in ["", "run_id=", "run_id=abc"] {
        let r = app.admin_get(&format!("{JOBS}/runs/get?{query}")).await;
        invalid(&r, "run_id");
    }
    let r = get_run(&app, &token, 12345).await;
    invalid(&r, "Run 12345 does not exist");
    let r = app.admin_post(&format!("{JOBS}/runs/cancel"), json!({"run_id": "x"})).await;
    invalid(&r, "run_id");
    // A run id of another JSON type is a malformed body, as a job id is in `jobs/delete`.
    let r = app.admin_post(&format!("{JOBS}/runs/cancel"), json!({"run_id": [1]})).await;
    malformed(&r, "Invalid request");
    let r = app.post_as(None, &format!("{JOBS}/run-now"), json!({"job_id": job})).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
}

#[tokio::test]
async fn run_now_takes_parameters_only_and_an_idempotency_token() {
    let app = TestApp::new().await;
    let job = create_job(
        &app,
        json!({"name": "params", "max_concurrent_runs": 10,
               "parameters": [{"name": "env", "default": "dev"}, {"name": "day", "default": "mon"}],
               "tasks": [{"task_key": "a"}, {"task_key": "b"}]}),
    )
    .await;
    let r = run_now(
        &app,
        &app.admin_token.clone(),
        json!({"job_id": job.to_string(), "job_parameters": {"env": "prod"},
               "only": ["b"], "idempotency_token": "once", "notebook_params": {"x": "1"}}),
    )
    .await;
    ok(&r);
    let run = r.body["run_id"].as_i64().unwrap();
    let got = get_run(&app, &app.admin_token, run).await;
    ok(&got);
    assert_eq!(
        got.body["job_parameters"],
        json!([{"name": "env", "default": "dev", "value": "prod"},
               {"name": "day", "default": "mon", "value": "mon"}])
    );
    assert_eq!(got.body["overriding_parameters"]["notebook_params"]["x"], "1");
    let tasks = got.body["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["task_key"], "b");

    // The same token answers the same run and starts no other.
    let again = run_now(
        &app,
        &app.admin_token.clone(),
        json!({"job_id": job, "idempotency_token": "once"}),
    )
    .await;
    ok(&again);
    assert_eq!(again.body["run_id"], run);
    let list = list_runs(&app, &app.admin_token, &format!("job_id={job}")).await;
    ok(&list);
    assert_eq!(run_ids(&list), [run]);

    // Every API version the jobs routes answer on.
    for version in ["2.0", "2.1"] {
        let r =
            app.admin_post(&format!("/api/{version}/jobs/run-now"), json!({"job_id": job})).await;
        ok(&r);
        let id = r.body["run_id"].as_i64().unwrap();
        let r = app.admin_get(&format!("/api/{version}/jobs/runs/get?run_id={id}")).await;
        ok(&r);
    }
}

#[tokio::test]
async fn runs_go_with_their_job() {
    let app = TestApp::new().await;
    let job = create_job(&app, two_tasks("short lived")).await;
    let run = started(&app, job).await;
    let task_run =
        get_run(&app, &app.admin_token, run).await.body["tasks"][0]["run_id"].as_i64().unwrap();
    ok(&app.admin_post(&format!("{JOBS}/delete"), json!({"job_id": job})).await);
    for id in [run, task_run] {
        let r = get_run(&app, &app.admin_token, id).await;
        invalid(&r, "does not exist");
    }
    let list = list_runs(&app, &app.admin_token, "").await;
    ok(&list);
    assert!(run_ids(&list).is_empty());
}

// ---- what clusters are made of ----

#[tokio::test]
async fn spark_versions_offer_long_term_support_runtimes() {
    let app = TestApp::new().await;
    let (_, user) = app.plain_user("reader@example.com").await;
    for version in ["2.0", "2.1"] {
        let r = app.get_as(Some(&user), &format!("/api/{version}/clusters/spark-versions")).await;
        ok(&r);
        let versions = r.body["versions"].as_array().expect("versions");
        assert!(versions.iter().all(|v| v["key"].is_string() && v["name"].is_string()));
        // What select_spark_version(latest=True, long_term_support=True) picks among.
        assert!(versions.iter().any(|v| {
            let (key, name) = (v["key"].as_str().unwrap(), v["name"].as_str().unwrap());
            key.ends_with("-scala2.12") && name.contains("LTS") && !key.contains("-ml-")
        }));
    }
    let r = app.get_as(None, "/api/2.1/clusters/spark-versions").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error_code"], "UNAUTHENTICATED");
}

#[tokio::test]
async fn node_types_carry_what_select_node_type_reads_and_clusters_accept_them() {
    let app = TestApp::new().await;
    let r = app.admin_get("/api/2.1/clusters/list-node-types").await;
    ok(&r);
    let types = r.body["node_types"].as_array().expect("node_types");
    assert!(types.len() >= 5);
    for t in types {
        for field in ["node_type_id", "instance_type_id", "category", "description"] {
            assert!(t[field].is_string(), "{field} of {t}");
        }
        for field in ["memory_mb", "num_gpus"] {
            assert!(t[field].is_i64(), "{field} of {t}");
        }
        assert!(t["num_cores"].is_number());
        for field in
            ["is_deprecated", "is_hidden", "photon_driver_capable", "photon_worker_capable"]
        {
            assert!(t[field].is_boolean(), "{field} of {t}");
        }
        for field in
            ["local_disks", "local_disk_size_gb", "local_nvme_disks", "local_nvme_disk_size_gb"]
        {
            assert!(t["node_instance_type"][field].is_i64(), "{field} of {t}");
        }
        assert!(t["node_info"].is_object());
    }
    // select_node_type(local_disk=True, min_memory_gb=16, min_cores=4) has a match.
    assert!(types.iter().any(|t| {
        t["node_instance_type"]["local_disks"].as_i64().unwrap() > 0
            && t["memory_mb"].as_i64().unwrap() / 1024 >= 16
            && t["num_cores"].as_f64().unwrap() >= 4.0
            && t["is_deprecated"] == false
    }));

    let versions = app.admin_get("/api/2.1/clusters/spark-versions").await;
    ok(&versions);
    let version = versions.body["versions"][0]["key"].as_str().unwrap().to_owned();
    for t in types {
        let r = app
            .admin_post(
                "/api/2.1/clusters/create",
                json!({"cluster_name": "c", "spark_version": version,
                            "node_type_id": t["node_type_id"], "num_workers": 1}),
            )
            .await;
        ok(&r);
    }
}

// ---- wire shapes ----

/// The answers of `run-now`, `runs/get`, `runs/list` and `runs/get-output` in every state a run
/// shows, in snapshots (`tests/snapshots/runs__*.snap`).
#[tokio::test]
async fn run_answers_keep_their_wire_shapes() {
    let app = TestApp::new().await;
    let job = create_job(&app, two_tasks("shapes")).await;
    let started_answer = run_now(
        &app,
        &app.admin_token,
        json!({"job_id": job, "job_parameters": {"day": "monday"},
               "notebook_params": {"x": "1"}}),
    )
    .await;
    ok(&started_answer);
    let run = started_answer.body["run_id"].as_i64().expect("run_id");
    let legacy =
        create_job(&app, json!({"name": "legacy", "notebook_task": {"notebook_path": "/x"}})).await;
    let legacy_run = started(&app, legacy).await;
    let got = get_run(&app, &app.admin_token, run).await;
    ok(&got);
    let sql_task_run = got.body["tasks"][1]["run_id"].as_i64().expect("run_id");
    // Runs list newest first: a later start keeps the order of the two from the ids.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = started(&app, job).await;
    let known = [
        (job.to_string(), "job_id"),
        (run.to_string(), "run_id"),
        (second.to_string(), "second_run_id"),
        (legacy.to_string(), "legacy_job_id"),
        (legacy_run.to_string(), "legacy_run_id"),
        (sql_task_run.to_string(), "sql_task_run_id"),
    ];
    let known: Vec<(&str, &str)> = known.iter().map(|(t, n)| (t.as_str(), *n)).collect();
    let snap = |name: &str, body: &Value| {
        insta::assert_json_snapshot!(name.to_owned(), redacted(body, &known));
    };
    let get = |path: String| {
        let app = &app;
        async move {
            let r = app.admin_get(&path).await;
            ok(&r);
            r.body
        }
    };

    snap("run_now", &started_answer.body);
    snap("run", &got.body);
    snap("task_run", &get(format!("{JOBS}/runs/get?run_id={sql_task_run}")).await);
    snap("run_list", &get(format!("{JOBS}/runs/list?job_id={job}&limit=1")).await);
    snap(
        "run_list_expanded",
        &get(format!("{JOBS}/runs/list?job_id={job}&expand_tasks=true&limit=1&offset=1")).await,
    );
    snap(
        "output_of_a_sql_task",
        &get(format!("{JOBS}/runs/get-output?run_id={sql_task_run}")).await,
    );
    snap(
        "output_of_a_single_task_job",
        &get(format!("{JOBS}/runs/get-output?run_id={legacy_run}")).await,
    );

    // Runs that have not ended, and one skipped.
    let slow = app_with_transitions(60_000).await;
    let job = create_job(&slow, json!({"name": "one at a time", "max_concurrent_runs": 1})).await;
    let pending = started(&slow, job).await;
    let skipped = started(&slow, job).await;
    let canceled = {
        let job = create_job(&slow, json!({"name": "canceled"})).await;
        started(&slow, job).await
    };
    cancel(&slow, canceled).await;
    for (name, run) in
        [("run_pending", pending), ("run_skipped", skipped), ("run_terminating", canceled)]
    {
        let r = get_run(&slow, &slow.admin_token, run).await;
        ok(&r);
        insta::assert_json_snapshot!(name, redacted(&r.body, &[]));
    }
    // Canceled while pending: it spent no time executing, never a negative time.
    let r = get_run(&slow, &slow.admin_token, canceled).await;
    assert_eq!(r.body["execution_duration"], 0, "{:?}", r.body);
}
