//! `patchbay certify` as a partner engineer runs it: the built binary against partner-sim,
//! its exit code and its report files.

use patchbay_partner::sim::{SimConfig, SimHandle, Workload, spawn};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

async fn sim() -> SimHandle {
    sim_with(SimConfig::default()).await
}

async fn sim_with(config: SimConfig) -> SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    spawn(listener, config).unwrap()
}

/// Where a run writes its JSON and its JUnit report.
struct Reports {
    json: PathBuf,
    xml: PathBuf,
}

impl Reports {
    fn in_dir(dir: &Path) -> Reports {
        Reports { json: dir.join("certify.json"), xml: dir.join("certify.xml") }
    }

    /// The arguments that ask for both reports.
    fn args(&self) -> [&str; 4] {
        let utf8 = "a UTF-8 path";
        let (json, xml) = (self.json.to_str().expect(utf8), self.xml.to_str().expect(utf8));
        ["--report", json, "--report", xml]
    }

    /// The arguments that ask for the JSON report alone.
    fn json_args(&self) -> [&str; 2] {
        ["--report", self.json.to_str().expect("a UTF-8 path")]
    }

    /// The JSON report, parsed; missing fails the test.
    fn read_json(&self) -> Value {
        let json =
            std::fs::read(&self.json).unwrap_or_else(|e| panic!("{}: {e}", self.json.display()));
        serde_json::from_slice(&json).expect("a JSON report")
    }

    /// The JSON report, parsed, and the JUnit one as text; either missing fails the test.
    fn read(&self) -> (Value, String) {
        let json = self.read_json();
        let xml = std::fs::read_to_string(&self.xml)
            .unwrap_or_else(|e| panic!("{}: {e}", self.xml.display()));
        (json, xml)
    }
}

/// Runs the binary off the runtime (partner-sim keeps answering meanwhile).
async fn certify(sim: &SimHandle, extra: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
    cmd.args(["certify", "--partner-url", &format!("{}/connect", sim.url)])
        .args(["--fast-retries", "--timeout", "5"])
        .args(extra)
        .env("PATCHBAY_CERTIFY_PASSWORD", &sim.config.password)
        .env_remove("DATABRICKS_CONFIG_PROFILE");
    tokio::task::spawn_blocking(move || cmd.output().expect("run patchbay certify")).await.unwrap()
}

/// The stdout of a run that must have exited with `code`; any other exit fails the test,
/// showing stdout and stderr.
#[track_caller]
fn exited(out: &Output, code: i32) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(code), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certify_exits_by_verdict_and_writes_json_and_junit() {
    let dir = tempfile::tempdir().unwrap();
    let reports = Reports::in_dir(dir.path());
    let sim = sim().await;

    // All scenarios against the reference partner: exit 0, both reports.
    let stdout = exited(&certify(&sim, &reports.args()).await, 0);
    assert!(stdout.contains("13 passed, 0 failed, 0 skipped"), "{stdout}");
    let (report, xml) = reports.read();
    assert_eq!(report["summary"], json!({"passed": 13, "failed": 0, "skipped": 0, "warnings": 0}));
    assert!(xml.contains("tests=\"13\" failures=\"0\""), "{xml}");
    for text in [stdout.as_str(), xml.as_str(), &report.to_string()] {
        assert!(!text.contains("dapi"), "a token leaked");
        assert!(!text.contains(&sim.config.password), "the password leaked");
    }

    // An injected fault: exit 1, and the reports say which scenario and why.
    reqwest::Client::new()
        .post(format!("{}/_sim/faults", sim.url))
        .json(&json!({"omit_connection_id": true}))
        .send()
        .await
        .unwrap();
    let scenarios = ["--scenario", "create-new-account,signin-creator"];
    let out = certify(&sim, &[&scenarios[..], &reports.args()].concat()).await;
    let stdout = exited(&out, 1);
    assert!(stdout.contains("connection_id is required"), "{stdout}");
    let (report, xml) = reports.read();
    assert_eq!(report["summary"]["failed"], 2, "{report}");
    assert!(xml.contains("<failure message="), "{xml}");

    // Usage errors: exit 2.
    let out = certify(&sim, &["--scenario", "no-such-scenario"]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no scenario 'no-such-scenario'"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certify_registers_the_partner_with_the_profile_given() {
    let sim = sim().await;
    let dir = tempfile::tempdir().unwrap();
    let reports = Reports::in_dir(dir.path());
    for profile in ["none", "ingest", "cluster", "token", "read", "dataiku"] {
        let scenarios = "create-new-account,recreate-after-workspace-delete";
        let run = ["--profile", profile, "--scenario", scenarios];
        let out = certify(&sim, &[&run[..], &reports.json_args()].concat()).await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{profile}: {stdout}");
        assert!(stdout.contains(&format!("registered as profile {profile} ")), "{stdout}");
        assert!(stdout.contains("2 passed, 0 failed, 0 skipped\n"), "{stdout}");
        let report = reports.read_json();
        assert_eq!(report["profile"], profile);
        // partner-sim used the SQL warehouse of each profile that gives one.
        let usage = &report["scenarios"][0]["warehouse_usage"];
        if matches!(profile, "cluster" | "token") {
            assert!(usage.is_null(), "{profile}: {usage}");
            assert!(
                stdout.contains("not applicable, the connection has no SQL warehouse"),
                "{stdout}"
            );
        } else {
            assert!(usage["statements"].as_u64() > Some(0), "{profile}: {usage}");
            assert!(stdout.contains("SQL on the warehouse: the partner ran"), "{stdout}");
        }
    }
    // The client commands' DATABRICKS_CONFIG_PROFILE (a ~/.databrickscfg profile) is not a
    // permission profile: certify keeps its default.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
    cmd.args(["certify", "--partner-url", &format!("{}/connect", sim.url)])
        .args(["--fast-retries", "--scenario", "create-new-account"])
        .env("PATCHBAY_CERTIFY_PASSWORD", &sim.config.password)
        .env("DATABRICKS_CONFIG_PROFILE", "DEFAULT");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    let stdout = exited(&out, 0);
    assert!(stdout.contains("registered as profile ingest "), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_profile_is_a_usage_error_that_lists_the_profiles() {
    let sim = sim().await;
    let out = certify(&sim, &["--profile", "admin"]).await;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for name in ["none", "ingest", "cluster", "token", "read", "dataiku"] {
        assert!(stderr.contains(name), "{stderr}");
    }
    assert!(stderr.contains("'admin'"), "{stderr}");
    // Before the subcommand, --profile is the global option's, and is checked all the same.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
    cmd.args(["--profile", "admin", "certify", "--partner-url"])
        .arg(format!("{}/connect", sim.url))
        .env("PATCHBAY_CERTIFY_PASSWORD", &sim.config.password)
        .env_remove("DATABRICKS_CONFIG_PROFILE");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap()).await.unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "no profile 'admin'; the profiles are: none, ingest, cluster, token, read, dataiku"
        ),
        "{stderr}"
    );
}

#[test]
fn a_reader_that_goes_away_does_not_crash_certify() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args(["certify", "--list"])
        .env_remove("DATABRICKS_CONFIG_PROFILE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run patchbay certify");
    // Closed before certify writes, as `patchbay certify … | head -1` closes it after a line.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("certify ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
}

/// After the first connect, certify reads the workspace's query history: what the partner ran
/// on its warehouse with what it was given, what succeeded, what was refused; a partner that
/// ran nothing is a warning, not a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certify_reports_what_the_partner_ran_on_its_warehouse() {
    let dir = tempfile::tempdir().unwrap();
    let reports = Reports::in_dir(dir.path());
    let args = |extra: &'static [&'static str]| -> Vec<&str> {
        let mut args = vec!["--scenario", "create-new-account"];
        args.extend(reports.json_args());
        args.extend(extra);
        args
    };

    // An ingest partner: its table, written and read back with its service principal's token.
    let ingest = sim().await;
    let stdout = exited(&certify(&ingest, &args(&[])).await, 0);
    assert!(
        stdout.contains("SQL on the warehouse: the partner ran 4 statements as ")
            && stdout.contains(": 4 succeeded, 0 refused"),
        "{stdout}"
    );
    let r = reports.read_json();
    let usage = &r["scenarios"][0]["warehouse_usage"];
    assert_eq!(
        (&usage["statements"], &usage["succeeded"], &usage["refused"]),
        (&json!(4), &json!(4), &json!(0)),
        "{usage}"
    );
    let sent: Vec<&str> = usage["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["statement"].as_str().unwrap())
        .collect();
    assert!(sent[0].starts_with("CREATE SCHEMA IF NOT EXISTS `hive_metastore`.`partner_sim_"));
    assert!(sent[3].starts_with("SELECT id, kind FROM "), "{sent:?}");
    // The same as partner-sim's own record of its workload.
    let state: Value =
        reqwest::get(format!("{}/_sim/state", ingest.url)).await.unwrap().json().await.unwrap();
    let connections = state["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 1, "one scenario, one connect: {state}");
    let workload = connections[0]["workload"].clone();
    assert_eq!(workload["state"], "passed", "{workload}");
    let sim_sent: Vec<&str> = workload["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["statement"].as_str())
        .collect();
    assert_eq!(sim_sent, sent);

    // A read partner, on the schema the admin selected: it lists and reads, and its create is
    // refused.
    let read = sim_with(SimConfig { workload: Workload::Read, ..SimConfig::default() }).await;
    let stdout = exited(&certify(&read, &args(&["--profile", "read"])).await, 0);
    assert!(stdout.contains(": 2 succeeded, 1 refused"), "{stdout}");
    let r = reports.read_json();
    let usage = &r["scenarios"][0]["warehouse_usage"];
    assert_eq!(usage["statements"], 3, "{usage}");
    let refused: Vec<&Value> =
        usage["queries"].as_array().unwrap().iter().filter(|q| q["refused"] == true).collect();
    assert_eq!(refused.len(), 1, "{usage}");
    assert!(
        refused[0]["statement"]
            .as_str()
            .unwrap()
            .starts_with("CREATE TABLE `hive_metastore`.`certify`.")
    );
    assert!(refused[0]["error"].as_str().unwrap().contains("INSUFFICIENT_PERMISSIONS"));

    // A partner that never uses its warehouse: a warning, and the run still passes.
    let idle = sim_with(SimConfig { workload: Workload::None, ..SimConfig::default() }).await;
    let stdout = exited(&certify(&idle, &args(&["--workload-wait", "1"])).await, 0);
    assert!(
        stdout.contains(
            "warning: create-new-account: SQL on the warehouse not exercised: the partner ran no statement as "
        ),
        "{stdout}"
    );
    assert!(stdout.contains("1 passed, 0 failed, 0 skipped, 1 warning"), "{stdout}");
    let r = reports.read_json();
    assert_eq!(r["summary"]["warnings"], 1);
    assert!(r["scenarios"][0]["warehouse_usage"].is_null());
}
