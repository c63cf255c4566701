//! `patchbay certify` against partner-sim, both directions: the reference partner passes every
//! scenario, and every fault partner-sim can inject is caught by the scenario meant to catch it,
//! with a message that names the problem.

use patchbay_certify::profile::Profile;
use patchbay_certify::workspace::WorkspaceOptions;
use patchbay_certify::{AuthMode, NewUserAction, Options, Run, SCENARIOS, Verdict, report, run};
use patchbay_partner::sim::{NewUserAction as SimAction, SimConfig, SimHandle, Workload, spawn};
use serde_json::{Value, json};
use std::time::Duration;

async fn sim(config: SimConfig) -> SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    spawn(listener, config).unwrap()
}

async fn faults(sim: &SimHandle, faults: Value) {
    let r = reqwest::Client::new()
        .post(format!("{}/_sim/faults", sim.url))
        .json(&faults)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}

fn options(sim: &SimHandle, scenarios: &[&str]) -> Options {
    Options {
        partner_url: format!("{}/connect", sim.url),
        username: sim.config.username.clone(),
        password: sim.config.password.clone(),
        scenarios: scenarios.iter().map(|s| (*s).to_owned()).collect(),
        new_user_action: None,
        redirect_hosts: Vec::new(),
        profile: Profile::Ingest,
        auth: AuthMode::Pat,
        workspace: WorkspaceOptions {
            retry_delays: vec![
                Duration::from_millis(20),
                Duration::from_millis(40),
                Duration::from_millis(80),
            ],
            partner_timeout: Duration::from_secs(5),
            ..WorkspaceOptions::default()
        },
    }
}

fn verdicts(run: &Run) -> Vec<(&'static str, Verdict)> {
    run.scenarios.iter().map(|s| (s.name, s.verdict)).collect()
}

/// The problems of one scenario, as one string.
fn problems(run: &Run, name: &str) -> String {
    let s = run
        .scenarios
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} did not run"));
    s.problems.iter().map(|p| p.message.as_str()).collect::<Vec<_>>().join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_sim_passes_every_scenario() {
    let sim = sim(SimConfig::default()).await;
    let run = run(&options(&sim, &[])).await.unwrap();
    assert_eq!(run.scenarios.len(), SCENARIOS.len());
    let failed: Vec<_> = run.scenarios.iter().filter(|s| s.verdict != Verdict::Passed).collect();
    assert!(failed.is_empty(), "{}", report::table(&run));
    // Every scenario talked to the partner, and no report holds a secret.
    assert!(run.scenarios.iter().all(|s| !s.exchanges.is_empty()));
    let json = report::json(&run).to_string();
    let xml = report::junit(&run);
    for text in [&json, &xml, &report::table(&run)] {
        assert!(!text.contains("dapi"), "a token leaked into a report");
        assert!(!text.contains(&sim.config.password), "the password leaked");
    }
    assert!(json.contains("<redacted>"));
    assert!(xml.contains("<testcase classname=\"partner-connect\" name=\"demo\""));
    // This workspace runs no SQL (no engine was given): certify says it could not look, and
    // does not call that a warning about the partner.
    let connect = &run.scenarios[0];
    assert_eq!(connect.name, "create-new-account");
    assert_eq!(
        connect.notes,
        ["SQL on the warehouse not checked: certify's workspace runs no SQL"]
    );
    assert!(connect.warnings.is_empty() && connect.warehouse_usage.is_none());
    assert!(xml.contains("<system-out>note: SQL on the warehouse not checked"));
}

/// `--auth m2m`: the partner receives an OAuth secret and no token, exchanges it before it
/// answers, and loses access when the connection is deleted. partner-sim does; a partner that
/// never exchanges its secret fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_sim_passes_over_oauth_m2m_and_a_partner_that_never_exchanges_fails() {
    let sim_m2m = sim(SimConfig::default()).await;
    let mut opts = options(&sim_m2m, &["create-new-account", "recreate-after-workspace-delete"]);
    opts.auth = AuthMode::M2m;
    let passed = run(&opts).await.unwrap();
    assert!(
        passed.scenarios.iter().all(|s| s.verdict == Verdict::Passed),
        "{}",
        report::table(&passed)
    );
    let json = report::json(&passed).to_string();
    assert!(!json.contains("dose") && !json.contains("eyJhbGci"), "a secret leaked into a report");

    // Neither before its answer nor after it: no workload, which would exchange the secret.
    let lazy =
        sim(SimConfig { verify_tokens: false, workload: Workload::None, ..SimConfig::default() })
            .await;
    let mut opts = options(&lazy, &["create-new-account"]);
    opts.auth = AuthMode::M2m;
    let failed = run(&opts).await.unwrap();
    assert_eq!(failed.scenarios[0].verdict, Verdict::Failed);
    assert!(
        problems(&failed, "create-new-account").contains("without exchanging its OAuth secret"),
        "{}",
        report::table(&failed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partner_sim_passes_every_scenario_under_every_profile() {
    // One run per profile, side by side: each has its own partner-sim, proxy and patchbays.
    let mut runs = tokio::task::JoinSet::new();
    for profile in Profile::ALL {
        runs.spawn(async move {
            let sim = sim(SimConfig::default()).await;
            let mut o = options(&sim, &[]);
            o.profile = profile;
            (profile.name(), run(&o).await.unwrap())
        });
    }
    let mut seen = Vec::new();
    while let Some(joined) = runs.join_next().await {
        let (name, run) = joined.unwrap();
        let table = report::table(&run);
        assert_eq!(run.scenarios.len(), SCENARIOS.len(), "{name}");
        // No scenario is left out for a profile: each applies, and passes.
        for s in &run.scenarios {
            assert_eq!(s.verdict, Verdict::Passed, "{name}: {}\n{table}", s.name);
        }
        assert!(table.contains(&format!("registered as profile {name} ")), "{table}");
        let json = report::json(&run);
        assert_eq!(json["profile"], name);
        // Whoever owns the token (a service principal, or with `none` the user), no report
        // holds it.
        for text in [&json.to_string(), &report::junit(&run), &table] {
            assert!(!text.contains("dapi"), "{name}: a token leaked into a report");
        }
        // What the partner received fits the profile.
        let first_connect = run.scenarios[0]
            .exchanges
            .iter()
            .find(|e| {
                e.request_body.pointer("/user_info/is_connection_established")
                    == Some(&json!(false))
            })
            .unwrap_or_else(|| panic!("{name}: no first connect\n{table}"));
        let request = &first_connect.request_body;
        let has_sp = request["service_principal_id"].as_str().is_some_and(|s| !s.is_empty());
        assert_eq!(has_sp, name != "none", "{name}: {request}");
        let expect_warehouse = matches!(name, "none" | "ingest" | "read" | "dataiku");
        assert_eq!(request["is_sql_warehouse"], expect_warehouse, "{name}: {request}");
        assert_eq!(request["cluster_id"].is_string(), name != "token", "{name}: {request}");
        seen.push(name);
    }
    assert_eq!(seen.len(), Profile::ALL.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_new_user_action_passes_and_a_declared_one_is_held_to() {
    for (action, declared) in [
        (SimAction::Invite, NewUserAction::Invite),
        (SimAction::NotFound, NewUserAction::NotFound),
        (SimAction::Error, NewUserAction::Error),
    ] {
        let sim = sim(SimConfig { new_user_action: action, ..SimConfig::default() }).await;
        let mut o = options(&sim, &["signin-new-user"]);
        o.new_user_action = Some(declared);
        let run = run(&o).await.unwrap();
        assert_eq!(
            verdicts(&run),
            [("signin-new-user", Verdict::Passed)],
            "{}",
            report::table(&run)
        );
        // Declared auto_add, behaves otherwise: caught.
        o.new_user_action = Some(NewUserAction::AutoAdd);
        let run = patchbay_certify::run(&o).await.unwrap();
        assert_eq!(verdicts(&run), [("signin-new-user", Verdict::Failed)]);
        assert!(
            problems(&run, "signin-new-user").contains("declared new_user_action auto_add"),
            "{}",
            report::table(&run)
        );
    }
}

/// Each fault partner-sim can inject, the scenario that must catch it, and words the message
/// must contain.
const FAULTS: &[(&str, &str, &str)] = &[
    (r#"{"connect_500": 20}"#, "create-new-account", "HTTP 500 general_error"),
    (
        r#"{"delete_500": 20}"#,
        "recreate-after-workspace-delete",
        "delete-connection must answer 200",
    ),
    (r#"{"delay_ms": 1500}"#, "create-new-account", "did not answer within"),
    (r#"{"unauthorized": true}"#, "create-new-account", "HTTP 401 unauthorized"),
    (r#"{"garbage": true}"#, "create-new-account", "not JSON"),
    (r#"{"oversized": true}"#, "create-new-account", "larger than"),
    (r#"{"foreign_redirect": true}"#, "create-new-account", "not an http(s) URL on the allow-list"),
    (
        r#"{"refuse_resources": true}"#,
        "create-new-account",
        "configured_resources false (expected true)",
    ),
    (r#"{"omit_connection_id": true}"#, "create-new-account", "connection_id is required"),
    (r#"{"echo_connection_id": true}"#, "signin-creator", "connection_id must be omitted"),
    (r#"{"bad_enum": true}"#, "create-new-account", "unknown variant `teleport`"),
    (r#"{"no_content_type": true}"#, "create-new-account", "Content-Type is missing"),
    (r#"{"misreport_new_user": true}"#, "signin-new-user", "matches no new_user_action"),
    (r#"{"bad_error_body": true}"#, "signin-after-partner-delete", "is not an ErrorResponse"),
    (
        r#"{"accept_any_credentials": true}"#,
        "unauthorized-after-rotation",
        "expected 401 with error_reason unauthorized",
    ),
    (r#"{"ignore_token": true}"#, "test-connection", "does not use the token"),
    (r#"{"ignore_demo": true}"#, "demo", "redirect_value sign_in (expected create_trial)"),
];

#[test]
fn the_fault_table_covers_every_fault_partner_sim_has() {
    let all = serde_json::to_value(patchbay_partner::sim::Faults::default()).unwrap();
    for name in all.as_object().unwrap().keys() {
        assert!(
            FAULTS.iter().any(|(f, _, _)| f.contains(&format!("\"{name}\""))),
            "partner-sim's fault {name} has no scenario that catches it"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_is_caught_by_its_scenario() {
    for (fault, scenario, words) in FAULTS {
        let sim = sim(SimConfig::default()).await;
        faults(&sim, serde_json::from_str(fault).unwrap()).await;
        let mut o = options(&sim, &[scenario]);
        o.workspace.partner_timeout = Duration::from_secs(1);
        let run = run(&o).await.unwrap();
        let table = report::table(&run);
        assert_eq!(verdicts(&run), [(*scenario, Verdict::Failed)], "{fault}: {table}");
        assert!(
            problems(&run, scenario).contains(words),
            "{fault}: expected '{words}' in:\n{table}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faulty_partner_fails_the_right_scenarios_in_a_full_run() {
    // A partner that echoes connection_id on sign-ins fails exactly the scenarios with a
    // sign-in, and passes the rest.
    let sim = sim(SimConfig::default()).await;
    faults(&sim, json!({"echo_connection_id": true})).await;
    let run = run(&options(&sim, &[])).await.unwrap();
    let failed: Vec<&str> =
        run.scenarios.iter().filter(|s| s.verdict == Verdict::Failed).map(|s| s.name).collect();
    for name in [
        "signin-creator",
        "signin-existing-user",
        "signin-new-user",
        "multiple-workspaces",
        "expired-account",
    ] {
        assert!(failed.contains(&name), "{name}: {}", report::table(&run));
    }
    for name in [
        "create-new-account",
        "create-existing-user",
        "demo",
        "retries-on-500",
        "unauthorized-after-rotation",
    ] {
        assert!(!failed.contains(&name), "{name}: {}", report::table(&run));
    }
    // The table names the problem and shows the exchange.
    let table = report::table(&run);
    assert!(table.contains("connection_id must be omitted"), "{table}");
    assert!(table.contains("POST /connect → 200"), "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_without_test_only_endpoints_is_skipped_not_passed() {
    // A partner that only has /connect (partner-sim mounted under a prefix it does not serve
    // the test-only endpoints at) — here: a path prefix where only /connect is proxied.
    let sim = sim(SimConfig::default()).await;
    let url = front(&sim, |path, _| {
        path.ends_with("-account")
            .then(|| (axum::http::StatusCode::NOT_FOUND, "no such page".to_owned()))
    })
    .await;
    let mut o = options(&sim, &["expired-account", "signin-after-partner-delete"]);
    o.partner_url = format!("{url}/connect");
    let run = run(&o).await.unwrap();
    assert_eq!(
        verdicts(&run),
        [("expired-account", Verdict::Skipped), ("signin-after-partner-delete", Verdict::Skipped)],
        "{}",
        report::table(&run)
    );
    let table = report::table(&run);
    assert!(table.contains("SKIP"), "{table}");
    assert!(table.contains("does not offer the test-only endpoint"), "{table}");
}

/// A partner in front of partner-sim: `answer` may answer a call itself (status and body, from
/// the path and the JSON request); everything else is forwarded. Its URL.
async fn front(
    sim: &SimHandle,
    answer: fn(&str, &Value) -> Option<(axum::http::StatusCode, String)>,
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let target = sim.url.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let target = target.clone();
        async move {
            let path = req.uri().path().to_owned();
            let (parts, body) = req.into_parts();
            let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let request: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            if let Some((status, body)) = answer(&path, &request) {
                let mut out = axum::http::Response::builder().status(status);
                if body.starts_with('{') {
                    out = out.header("content-type", "application/json");
                }
                return out.body(axum::body::Body::from(body)).unwrap();
            }
            let mut r =
                reqwest::Client::new().request(parts.method, format!("{target}{path}")).body(bytes);
            for (k, v) in &parts.headers {
                if k != "host" {
                    r = r.header(k, v);
                }
            }
            let resp = r.send().await.unwrap();
            let status = resp.status();
            let ct = resp.headers().get("content-type").cloned();
            let body = resp.bytes().await.unwrap();
            let mut out = axum::http::Response::builder().status(status);
            if let Some(ct) = ct {
                out = out.header("content-type", ct);
            }
            out.body(axum::body::Body::from(body)).unwrap()
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_is_certified_for_the_profile_it_is_registered_with() {
    // A partner that runs only on a SQL warehouse: it refuses a first connect without one.
    let sim = sim(SimConfig::default()).await;
    let url = front(&sim, |path, request| {
        let first_connect = path == "/connect"
            && request.pointer("/user_info/is_connection_established") == Some(&json!(false));
        (first_connect && request["is_sql_warehouse"] != true).then(|| {
            let body = json!({"error_reason": "bad_request",
                              "display_message": "Acme runs on a SQL warehouse; none was given."});
            (axum::http::StatusCode::BAD_REQUEST, body.to_string())
        })
    })
    .await;
    for (profile, passes) in [
        (Profile::Ingest, true),
        (Profile::Read, true),
        (Profile::None, true),
        (Profile::Cluster, false),
        (Profile::Token, false),
    ] {
        let mut o = options(&sim, &["create-new-account"]);
        o.partner_url = format!("{url}/connect");
        o.profile = profile;
        let run = run(&o).await.unwrap();
        let table = report::table(&run);
        if passes {
            assert_eq!(verdicts(&run), [("create-new-account", Verdict::Passed)], "{table}");
        } else {
            assert_eq!(verdicts(&run), [("create-new-account", Verdict::Failed)], "{table}");
            assert!(problems(&run, "create-new-account").contains("none was given"), "{table}");
        }
    }
}
