//! `patchbay admin check` on a real data directory: silent and 0 on a sound installation, every
//! violation printed and exit code 1 otherwise, and `--repair` removes what was left behind.

mod common;

use common::{Server, serve_command};
use std::process::Command;

fn check(data_dir: &std::path::Path, extra: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_patchbay"))
        .args(["admin", "check", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .output()
        .expect("run patchbay admin check");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test]
async fn reports_a_stuck_connect_and_repairs_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::spawn(serve_command("127.0.0.1:0", &data, None));
    let token = server.token.clone().expect("first start prints the token");
    drop(server);

    let (code, out) = check(&data, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("ok: every connection is complete or gone"), "{out}");

    // A connect whose node died after its first transaction, on a node that never returns,
    // two seconds ago (on a clock set back, so that the test need not wait).
    let two_seconds_ago = patchbay_core::time::now_millis() - 2_000;
    let store = patchbay_store::Store::open_data_dir(&data)
        .await
        .unwrap()
        .with_clock(std::sync::Arc::new(patchbay_core::time::ManualClock::at(two_seconds_ago)));
    let admin = store
        .authenticate(&patchbay_core::token::TokenValue::parse(&token).unwrap().digest())
        .await
        .unwrap()
        .unwrap()
        .require_admin()
        .unwrap();
    store
        .provision_connection(
            &admin,
            &patchbay_store::ProvisionPlan {
                partner_id: "rivery".into(),
                service_principal: Some("RIVERY_USER".into()),
                entitlements: vec!["workspace-access".into()],
                token_can_use: true,
                compute: patchbay_store::ComputePlan::NewWarehouse("RIVERY_ENDPOINT".into()),
                warehouse_can_use: false,
                catalog_name: Some("hive_metastore".into()),
                schemas: vec![],
                grants: vec![],
                credential: patchbay_core::partner::Credential::Token,
                u2m_app: false,
            },
            "a-node-that-never-returns",
        )
        .await
        .unwrap();
    store.close().await;
    // Not stuck yet: a connect may take this long.
    let (code, out) = check(&data, &[]);
    assert_eq!(code, 0, "{out}");

    let (code, out) = check(&data, &["--stale-after", "1s"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("stuck") && out.contains("rivery"), "{out}");

    let (code, out) = check(&data, &["--stale-after", "1s", "--repair"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("removed") && out.contains("rivery"), "{out}");
    let (code, out) = check(&data, &["--stale-after", "1s"]);
    assert_eq!(code, 0, "nothing is left: {out}");
}

/// The store of the data directory `data`, with the key its first start made.
async fn sealing_store(data: &std::path::Path) -> patchbay_store::Store {
    let key = std::fs::read_to_string(data.join("secret.key")).expect("the data directory's key");
    patchbay_store::Store::open_data_dir(data)
        .await
        .unwrap()
        .with_secret_key(patchbay_store::SecretKey::from_file_text(&key).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn rotate_oauth_key_adds_a_signing_key_each_time() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(Server::spawn(serve_command("127.0.0.1:0", &data, None)));
    let store = sealing_store(&data).await;
    let first = store.signing_key().await.unwrap().kid().to_owned();
    store.close().await;
    let rotate = || {
        let out = Command::new(env!("CARGO_BIN_EXE_patchbay"))
            .args(["admin", "rotate-oauth-key", "--data-dir"])
            .arg(&data)
            .output()
            .expect("run patchbay admin rotate-oauth-key");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let (a, b) = (rotate(), rotate());
    assert!(a != first && b != a && !b.is_empty(), "{first} {a} {b}");
    let store = sealing_store(&data).await;
    assert_eq!(store.signing_key().await.unwrap().kid(), b);
}
