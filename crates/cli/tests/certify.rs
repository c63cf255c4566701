//! `patchbay certify` as a partner engineer runs it: the built binary against partner-sim,
//! its exit code and its report files.

use patchbay_partner::sim::{SimConfig, SimHandle, spawn};
use serde_json::{Value, json};
use std::process::{Command, Output};

async fn sim() -> SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    spawn(listener, SimConfig::default()).unwrap()
}

/// Runs the binary off the runtime (partner-sim keeps answering meanwhile).
async fn certify(sim: &SimHandle, extra: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
    cmd.args(["certify", "--partner-url", &format!("{}/connect", sim.url)])
        .args(["--fast-retries", "--timeout", "5"])
        .args(extra)
        .env("PATCHBAY_CERTIFY_PASSWORD", &sim.config.password)
        .env_remove("DATABRICKS_CONFIG_PROFILE");
    tokio::task::spawn_blocking(move || cmd.output().expect("run patchbay certify"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certify_exits_by_verdict_and_writes_json_and_junit() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("certify.json");
    let xml_path = dir.path().join("certify.xml");
    let sim = sim().await;

    // All scenarios against the reference partner: exit 0, both reports.
    let out = certify(
        &sim,
        &[
            "--report",
            json_path.to_str().unwrap(),
            "--report",
            xml_path.to_str().unwrap(),
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("13 passed, 0 failed, 0 skipped"),
        "{stdout}"
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(
        report["summary"],
        json!({"passed": 13, "failed": 0, "skipped": 0})
    );
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    assert!(xml.contains("tests=\"13\" failures=\"0\""), "{xml}");
    for text in [stdout.as_ref(), xml.as_str(), &report.to_string()] {
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
    let out = certify(
        &sim,
        &[
            "--scenario",
            "create-new-account,signin-creator",
            "--report",
            json_path.to_str().unwrap(),
            "--report",
            xml_path.to_str().unwrap(),
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("connection_id is required"), "{stdout}");
    let report: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(report["summary"]["failed"], 2, "{report}");
    let xml = std::fs::read_to_string(&xml_path).unwrap();
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
    let json_path = dir.path().join("certify.json");
    for profile in ["none", "ingest", "cluster", "token", "read", "dataiku"] {
        let out = certify(
            &sim,
            &[
                "--profile",
                profile,
                "--scenario",
                "create-new-account,recreate-after-workspace-delete",
                "--report",
                json_path.to_str().unwrap(),
            ],
        )
        .await;
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{profile}: {stdout}");
        assert!(
            stdout.contains(&format!("registered as profile {profile} ")),
            "{stdout}"
        );
        assert!(stdout.contains("2 passed, 0 failed, 0 skipped"), "{stdout}");
        let report: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
        assert_eq!(report["profile"], profile);
    }
    // The client commands' DATABRICKS_CONFIG_PROFILE (a ~/.databrickscfg profile) is not a
    // permission profile: certify keeps its default.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patchbay"));
    cmd.args(["certify", "--partner-url", &format!("{}/connect", sim.url)])
        .args(["--fast-retries", "--scenario", "create-new-account"])
        .env("PATCHBAY_CERTIFY_PASSWORD", &sim.config.password)
        .env("DATABRICKS_CONFIG_PROFILE", "DEFAULT");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
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
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
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
