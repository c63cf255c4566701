//! The partner simulator (`patchbay_partner::sim`) as the Partner Connect tests drive it.

use super::TestApp;
use axum::http::StatusCode;
use patchbay_partner::sim::{SimConfig, SimHandle, spawn};
use serde_json::{Value, json};

/// A simulator with the default configuration on a free port of 127.0.0.1.
pub async fn sim() -> SimHandle {
    sim_with(SimConfig::default()).await
}

/// A simulator with `config` on a free port of 127.0.0.1.
pub async fn sim_with(config: SimConfig) -> SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    spawn(listener, config).unwrap()
}

/// What the simulator has seen and holds (`/_sim/state`); fails the test unless it answers 200
/// with JSON.
pub async fn sim_state(sim: &SimHandle) -> Value {
    let r = reqwest::get(format!("{}/_sim/state", sim.url)).await.unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(status, 200, "partner-sim state: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("partner-sim state: {e}: {body}"))
}

/// The requests to `path` the simulator has received, oldest first.
pub async fn sim_received(sim: &SimHandle, path: &str) -> Vec<Value> {
    sim_state(sim).await["received"]
        .as_array()
        .expect("received")
        .iter()
        .filter(|r| r["path"] == path)
        .cloned()
        .collect()
}

/// How many requests the simulator has received.
pub async fn sim_calls(sim: &SimHandle) -> usize {
    sim_state(sim).await["received"].as_array().expect("received").len()
}

/// A POST of `body` to the simulator's `path` (one of its `/_sim/…` controls); it must succeed.
pub async fn sim_post(sim: &SimHandle, path: &str, body: Value) {
    let r =
        reqwest::Client::new().post(format!("{}{path}", sim.url)).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
}

/// Sets the faults the simulator injects (`/_sim/faults`); `{}` clears them.
pub async fn sim_faults(sim: &SimHandle, faults: Value) {
    sim_post(sim, "/_sim/faults", faults).await;
}

/// A GET of `path` on the simulator: its status, and its body (`null` when not JSON).
pub async fn sim_get(sim: &SimHandle, path: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{}{path}", sim.url)).await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Points the workspace's partner `partner_id` at the simulator, with `endpoints`, its
/// credentials and its host; the admin's PUT must answer 200.
pub async fn point_at_sim(app: &TestApp, partner_id: &str, sim: &SimHandle, endpoints: Value) {
    let r = app
        .admin_put(
            &format!("/api/2.0/partner-connect/partners/{partner_id}"),
            json!({
                "base_url": sim.url,
                "endpoints": endpoints,
                "credentials": {"username": sim.config.username, "password": sim.config.password},
                "hostnames": ["127.0.0.1"],
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

/// A workspace served on a real socket ([`TestApp::serve`]) and a simulator with the default
/// configuration, in that order.
pub async fn served_with_sim() -> (TestApp, SimHandle) {
    let (app, _) = TestApp::serve().await;
    let sim = sim().await;
    (app, sim)
}
