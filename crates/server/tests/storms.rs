//! Connections under concurrent requests: the same click, delete or rotation many times at once,
//! deletes racing connects, and mixed storms across partners — each followed by the invariant
//! check: every connection complete or gone; nothing Partner Connect made outliving its
//! connection (no principal, token, warehouse or cluster of a partner without it, no live token
//! the connection does not record); every acknowledged delete gone and delivered; the token the
//! partner holds is the one the connection records, and it works.

mod common;

use axum::http::StatusCode;
use common::TestApp;
use common::sim::{point_at_sim, served_with_sim, sim, sim_received, sim_state};
use patchbay_partner::sim::SimHandle;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

const PC: &str = "/api/2.0/partner-connect";

/// Points `partner_id` at the simulator, with its rotate-token extension.
async fn configure(app: &TestApp, partner_id: &str, sim: &SimHandle) {
    let endpoints = json!({"connect_path": "/connect", "delete_connection_path": "/delete-connection",
            "rotate_token_path": "/rotate-token"});
    point_at_sim(app, partner_id, sim, endpoints).await;
}

/// The workspace's connections, as an admin reads them.
async fn connections(app: &TestApp) -> Vec<Value> {
    let r = app.admin_get(&format!("{PC}/connections")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["connections"].as_array().expect("connections").clone()
}

/// Every invariant of Partner Connect, after a storm has settled.
async fn assert_invariants(app: &TestApp, sim: &SimHandle) {
    // Nothing stuck for a minute, nothing left behind, every delete notification delivered.
    let violations = app.store.check_integrity(60_000, 0).await.unwrap();
    assert!(violations.is_empty(), "violations: {violations:#?}");
    let mut ours = BTreeSet::new();
    for c in connections(app).await {
        assert_eq!(c["state"], "CONNECTED", "complete or gone: {c}");
        let id = c["partner_connection_id"]
            .as_str()
            .unwrap_or_else(|| panic!("a connected connection has the partner's id: {c}"));
        ours.insert(id.to_owned());
        // The partner's token works, as the connection's principal.
        let r = reqwest::get(format!("{}/_sim/connections/{id}/whoami", sim.url)).await.unwrap();
        let status = r.status();
        let who: Value = r.json().await.unwrap();
        assert!(status.is_success(), "the partner's token works: {who} ({c})");
        let expected = c["service_principal"]["application_id"].clone();
        assert_eq!(who["userName"], expected, "as the connection's principal");
    }
    // The partner holds exactly the connections the workspace has: every acknowledged delete
    // reached it, and no connect it accepted was forgotten here.
    let theirs: BTreeSet<String> = sim_state(sim).await["connections"]
        .as_array()
        .expect("connections")
        .iter()
        .filter(|c| c["workspace_id"] == app.workspace_id.get())
        .map(|c| c["connection_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(theirs, ours, "the partner's connections are the workspace's");
}

async fn connect(app: &TestApp, partner_id: &str) -> (StatusCode, Value) {
    let r = app.connect_partner(partner_id).await;
    (r.status, r.body)
}

async fn delete(app: &TestApp, partner_id: &str) -> (StatusCode, Value) {
    let r = app.admin_delete(&format!("{PC}/connections/{partner_id}")).await;
    (r.status, r.body)
}

async fn rotate(app: &TestApp, partner_id: &str) -> (StatusCode, Value) {
    let r = app.admin_post(&format!("{PC}/connections/{partner_id}/rotate-token"), json!({})).await;
    (r.status, r.body)
}

async fn repair(app: &TestApp, partner_id: &str) -> (StatusCode, Value) {
    let r = app.admin_post(&format!("{PC}/connections/{partner_id}/repair"), json!({})).await;
    (r.status, r.body)
}

/// One of the four things a storm does to `partner_id`'s connection, by number (0 to 3).
async fn storm_op(app: &TestApp, partner_id: &str, op: usize) -> (StatusCode, Value) {
    match op {
        0 => connect(app, partner_id).await,
        1 => delete(app, partner_id).await,
        2 => rotate(app, partner_id).await,
        _ => repair(app, partner_id).await,
    }
}

/// The next number of a fixed pseudo-random schedule (a 64-bit LCG), so that a failure can
/// be replayed.
fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    *seed
}

/// Every answer of a storm's round is a success or one of the refusals a race may cause.
fn assert_storm_answers(round: usize, answers: &[(StatusCode, Value)]) {
    for (status, body) in answers {
        assert!(
            status.is_success()
                || [StatusCode::NOT_FOUND, StatusCode::CONFLICT, StatusCode::BAD_REQUEST]
                    .contains(status),
            "round {round}: {status} {body}"
        );
    }
}

/// Runs `n` copies of `op` at once and returns their answers.
async fn at_once<F, Fut>(app: &Arc<TestApp>, n: usize, op: F) -> Vec<(StatusCode, Value)>
where
    F: Fn(Arc<TestApp>, usize) -> Fut,
    Fut: std::future::Future<Output = (StatusCode, Value)> + Send + 'static,
{
    let tasks: Vec<_> = (0..n).map(|i| tokio::spawn(op(app.clone(), i))).collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

fn count(answers: &[(StatusCode, Value)], status: StatusCode) -> usize {
    answers.iter().filter(|(s, _)| *s == status).count()
}

/// `n` rotations of `partner_id`'s connection at once: each either ran (200) or was told one
/// is in progress (409), and at least one ran. The answers and how many ran.
async fn rotation_storm(
    app: &Arc<TestApp>,
    partner_id: &'static str,
    n: usize,
) -> (Vec<(StatusCode, Value)>, usize) {
    let answers = at_once(app, n, |app, _| async move { rotate(&app, partner_id).await }).await;
    let delivered = count(&answers, StatusCode::OK);
    assert!(delivered >= 1, "{partner_id}: {answers:?}");
    assert_eq!(
        delivered + count(&answers, StatusCode::CONFLICT),
        n,
        "a rotation either ran or was told one is in progress: {answers:?}"
    );
    (answers, delivered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_deletes_are_acknowledged_once() {
    let (app, sim) = served_with_sim().await;
    configure(&app, "rivery", &sim).await;
    assert_eq!(connect(&app, "rivery").await.0, StatusCode::OK);
    let app = Arc::new(app);
    let answers = at_once(&app, 20, |app, _| async move { delete(&app, "rivery").await }).await;
    assert_eq!(count(&answers, StatusCode::OK), 1, "{answers:?}");
    assert_eq!(
        count(&answers, StatusCode::NOT_FOUND),
        19,
        "the others find nothing to delete: {answers:?}"
    );
    assert_eq!(sim_received(&sim, "/delete-connection").await.len(), 1);
    let deletes = app
        .audit_events("partner_id=rivery")
        .await
        .iter()
        .filter(|e| e["action"] == "connection.delete" || e["action"] == "warehouse.delete")
        .count();
    assert_eq!(deletes, 2, "one connection and one warehouse deleted, once");
    assert_invariants(&app, &sim).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_rotations_leave_the_partner_one_recorded_token() {
    let (app, sim) = served_with_sim().await;
    configure(&app, "rivery", &sim).await;
    assert_eq!(connect(&app, "rivery").await.0, StatusCode::OK);
    let app = Arc::new(app);
    let (answers, delivered) = rotation_storm(&app, "rivery", 20).await;
    for (status, body) in &answers {
        if *status == StatusCode::OK {
            assert_eq!(body["delivered"], true, "{body}");
        } else {
            assert_eq!(body["error_code"], "ABORTED", "{body}");
        }
    }
    assert_eq!(
        sim_received(&sim, "/rotate-token").await.len(),
        delivered,
        "each acknowledged rotation delivered one token, and no other was sent"
    );
    let tokens = app.admin_get("/api/2.0/token-management/tokens").await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    assert_eq!(
        tokens.body["token_infos"].as_array().unwrap().len(),
        2,
        "the admin's token and the partner's, nothing else: {:?}",
        tokens.body
    );
    assert_invariants(&app, &sim).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deletes_racing_connects_leave_no_orphans_and_never_a_stuck_tile() {
    let (app, sim) = served_with_sim().await;
    configure(&app, "hevo-data", &sim).await;
    let app = Arc::new(app);
    for round in 0..10 {
        let answers = at_once(&app, 16, |app, i| async move {
            if i % 2 == 0 {
                connect(&app, "hevo-data").await
            } else {
                delete(&app, "hevo-data").await
            }
        })
        .await;
        for (status, body) in &answers {
            assert!(
                [StatusCode::OK, StatusCode::NOT_FOUND, StatusCode::CONFLICT].contains(status),
                "round {round}: a connect, a sign-in, nothing to delete or a clear conflict: {status} {body}"
            );
            assert_ne!(status.as_u16(), 500, "{body}");
        }
        assert_invariants(&app, &sim).await;
    }
    // The tile is never stuck: whatever the storm left, a delete then a connect work.
    let (status, body) = delete(&app, "hevo-data").await;
    assert!(status == StatusCode::OK || status == StatusCode::NOT_FOUND, "{status} {body}");
    let (status, body) = connect(&app, "hevo-data").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["connection"]["state"], "CONNECTED", "{body}");
    assert_invariants(&app, &sim).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_storms_across_partners_keep_every_connection_whole() {
    let (app, sim) = served_with_sim().await;
    let partners = ["rivery", "prophecy", "labelbox"];
    for p in partners {
        configure(&app, p, &sim).await;
    }
    let app = Arc::new(app);
    // A fixed pseudo-random schedule, so that a failure can be replayed.
    let mut seed: u64 = 0x5eed_cafe;
    for round in 0..8 {
        let ops: Vec<(usize, usize)> = (0..24)
            .map(|_| {
                let n = next(&mut seed);
                (((n >> 33) % 3) as usize, ((n >> 40) % 4) as usize)
            })
            .collect();
        let ops = Arc::new(ops);
        let answers = at_once(&app, 24, move |app, i| {
            let ops = ops.clone();
            async move {
                let (partner, op) = ops[i];
                storm_op(&app, partners[partner], op).await
            }
        })
        .await;
        assert_storm_answers(round, &answers);
        assert_invariants(&app, &sim).await;
    }
}

/// A node that restarts finishes at once what its previous run left: its interrupted connect
/// is undone, and the delete notification it was delivering is delivered, without waiting for
/// the connect to go stale or the lease to run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_node_releases_its_steps_at_start() {
    let (app, _) = TestApp::build_serving(|s| {
        // Nothing would go stale for an hour: only the restart can release these.
        s.stale_connect_millis = 3_600_000;
    })
    .await;
    let sim = sim().await;
    configure(&app, "rivery", &sim).await;
    configure(&app, "hevo-data", &sim).await;
    assert_eq!(connect(&app, "rivery").await.0, StatusCode::OK);

    // The previous run of this node: a connect of hevo-data that died after its first
    // transaction, and a delete of rivery whose delivery died holding its five-minute lease.
    let node = app.state.settings().node_id.clone();
    let admin = app.admin_handle().await;
    app.store.provision_connection(&admin, &common::ingest_plan("hevo-data"), &node).await.unwrap();
    let removed = app
        .store
        .remove_connection(
            &admin,
            "rivery",
            patchbay_store::Removal { uid: None, reason: "deleted by an admin" },
        )
        .await
        .unwrap()
        .expect("rivery was connected");
    let leased = app
        .store
        .claim_notification(removed.notification.expect("owed"), 300_000, &node)
        .await
        .unwrap();
    assert!(leased.is_some());
    // Without a restart the worker waits: the lease holds, the connect is not stale.
    patchbay_server::partner_connect::worker::run_once(&app.state).await.unwrap();
    assert_eq!(sim_received(&sim, "/delete-connection").await.len(), 0);
    assert_eq!(connections(&app).await.len(), 1, "hevo-data still CONNECTING");

    // The restart.
    patchbay_server::partner_connect::worker::recover_at_start(&app.state).await.unwrap();
    patchbay_server::partner_connect::worker::run_once(&app.state).await.unwrap();
    assert!(connections(&app).await.is_empty(), "the interrupted connect is undone");
    assert_eq!(
        sim_received(&sim, "/delete-connection").await.len(),
        1,
        "the delete was delivered at once"
    );
    assert_invariants(&app, &sim).await;
}

/// A rotation whose node died after recording the new token and before the partner had it:
/// the restarted node resumes it with a fresh token (the first one's value died with the
/// process, so it is revoked), and the partner ends up with the token the connection records.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotation_interrupted_by_a_crash_is_resumed_at_restart() {
    let (app, _) = TestApp::build_serving(|s| s.stale_connect_millis = 3_600_000).await;
    let sim = sim().await;
    configure(&app, "rivery", &sim).await;
    assert_eq!(connect(&app, "rivery").await.0, StatusCode::OK);
    let before = connections(&app).await[0]["token_id"].clone();
    let admin = app.admin_handle().await;
    let started = app
        .store
        .begin_rotation(
            app.workspace_id,
            "rivery",
            &patchbay_store::Actor::of(&admin),
            patchbay_store::Rotation::Deliver { uid: None },
            &app.state.settings().node_id,
        )
        .await
        .unwrap();
    let lost = started.token_id.clone();
    drop(started); // the crash: the value is gone
    let (status, body) = rotate(&app, "rivery").await;
    assert_eq!(status, StatusCode::CONFLICT, "one rotation at a time: {body}");
    assert!(
        app.store.check_integrity(60_000, 0).await.unwrap().is_empty(),
        "a pending token is recorded by its connection"
    );

    patchbay_server::partner_connect::worker::recover_at_start(&app.state).await.unwrap();
    let c = connections(&app).await;
    let now = c[0]["token_id"].clone();
    assert_ne!(now, before, "rotated");
    assert_ne!(now, json!(lost), "with a fresh token, not the lost one");
    assert_eq!(sim_received(&sim, "/rotate-token").await.len(), 1);
    let tokens = app.admin_get("/api/2.0/token-management/tokens").await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    let ids: Vec<&Value> =
        tokens.body["token_infos"].as_array().unwrap().iter().map(|t| &t["token_id"]).collect();
    assert!(!ids.contains(&&json!(lost)), "the lost token is revoked");
    assert!(!ids.contains(&&before), "the old token is revoked");
    assert_invariants(&app, &sim).await;
}

/// A warehouse already named `<PARTNER>_ENDPOINT` (a user's own, or one an older version left
/// behind) does not make the tile unconnectable: the connection's warehouse gets a suffix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_warehouse_name_never_blocks_a_connect() {
    let (app, sim) = served_with_sim().await;
    configure(&app, "rivery", &sim).await;
    let mine = app.create_warehouse("RIVERY_ENDPOINT", "2X-Small").await;
    let (status, body) = connect(&app, "rivery").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let theirs = body["connection"]["warehouse_id"].as_str().unwrap();
    assert_ne!(theirs, mine);
    let w = app.admin_get(&format!("/api/2.0/sql/warehouses/{theirs}")).await;
    assert_eq!(w.status, StatusCode::OK, "{:?}", w.body);
    assert_eq!(w.body["name"], "RIVERY_ENDPOINT_2");
    let (status, body) = delete(&app, "rivery").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let w = app.admin_get(&format!("/api/2.0/sql/warehouses/{mine}")).await;
    assert_eq!(w.status, StatusCode::OK, "the user's own warehouse stays");
    assert_invariants(&app, &sim).await;
}

/// Registers the custom partner "Acme M2M" at the simulator: it gets OAuth secrets, not tokens.
async fn register_m2m(app: &TestApp, sim: &SimHandle) {
    let r = app
        .admin_post(&format!("{PC}/partners"), json!({"name": "Acme M2M", "category": "INGEST", "profile": "ingest",
                "auth_options": ["AUTH_OAUTH_M2M"], "base_url": sim.url,
                "endpoints": {"connect_path": "/connect", "delete_connection_path": "/delete-connection",
                              "rotate_token_path": "/rotate-token"},
                "credentials": {"username": sim.config.username, "password": sim.config.password},
                "hostnames": ["127.0.0.1"]}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

/// The OAuth secrets of the connection's principal, if it is connected.
async fn m2m_secrets(app: &TestApp) -> Option<Vec<String>> {
    let c = connections(app).await.into_iter().find(|c| c["partner_id"] == "acme-m2m")?;
    let sp = c["service_principal"]["id"].as_str().unwrap().to_owned();
    let r = app
        .admin_get(&format!("/api/2.0/accounts/servicePrincipals/{sp}/credentials/secrets"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let ids = common::strings(&r.body, "secrets", "id");
    assert_eq!(
        c["token_id"].as_str().map(|t| vec![t.to_owned()]),
        Some(ids.clone()),
        "the principal holds exactly the secret its connection records: {c}"
    );
    Some(ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn storms_over_oauth_m2m_leave_the_partner_exactly_its_recorded_secret() {
    let (app, sim) = served_with_sim().await;
    register_m2m(&app, &sim).await;
    assert_eq!(connect(&app, "acme-m2m").await.0, StatusCode::OK);
    let app = Arc::new(app);
    let (_, delivered) = rotation_storm(&app, "acme-m2m", 12).await;
    assert_eq!(sim_received(&sim, "/rotate-token").await.len(), delivered);
    assert_eq!(m2m_secrets(&app).await.map(|s| s.len()), Some(1));
    assert_invariants(&app, &sim).await;

    let mut seed: u64 = 0x0a11_7e55;
    for round in 0..4 {
        let ops: Vec<usize> = (0..16).map(|_| ((next(&mut seed) >> 33) % 4) as usize).collect();
        let ops = Arc::new(ops);
        let answers = at_once(&app, 16, move |app, i| {
            let ops = ops.clone();
            async move { storm_op(&app, "acme-m2m", ops[i]).await }
        })
        .await;
        assert_storm_answers(round, &answers);
        assert_invariants(&app, &sim).await;
        m2m_secrets(&app).await;
    }
}
