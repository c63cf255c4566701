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
