//! The cloud partners are told the workspace runs in is a setting (`--cloud-provider`): the
//! connect, the test-connection and the delete-connection calls all carry it.

mod common;

use axum::http::StatusCode;
use common::TestApp;
use patchbay_partner::sim::{SimConfig, spawn};
use patchbay_server::CloudProvider;
use serde_json::{Value, json};

const PC: &str = "/api/2.0/partner-connect";

/// The `cloud_provider` of every call partner-sim received, by path.
async fn clouds_received(sim_url: &str) -> Vec<(String, Value)> {
    let r = reqwest::get(format!("{sim_url}/_sim/state")).await.expect("sim state");
    assert!(r.status().is_success(), "{}", r.status());
    let state: Value = r.json().await.expect("json");
    state["received"]
        .as_array()
        .expect("received")
        .iter()
        .map(|call| {
            (
                call["path"].as_str().unwrap_or_default().to_owned(),
                call["body"]["cloud_provider"].clone(),
            )
        })
        .collect()
}

/// A workspace in `cloud` on a real socket (partner-sim calls `/Me` back), partner calls
/// retried without waiting.
async fn serve_in(cloud: CloudProvider) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = TestApp::build(&url, |s| {
        s.cloud_provider = cloud;
        s.partner_retry =
            patchbay_partner::client::RetryPolicy { delays: vec![std::time::Duration::ZERO; 3] };
    })
    .await;
    let router = app.router.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    app
}

#[tokio::test]
async fn partners_are_told_the_configured_cloud() {
    for (cloud, name) in [
        (CloudProvider::Azure, "azure"),
        (CloudProvider::Gcp, "gcp"),
        (CloudProvider::default(), "aws"),
    ] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let sim = spawn(listener, SimConfig::default()).expect("partner-sim");
        let app = serve_in(cloud).await;
        let r = app
            .admin_put(&format!("{PC}/partners/rivery"), json!({
                    "base_url": sim.url,
                    "endpoints": {"connect_path": "/connect",
                                  "delete_connection_path": "/delete-connection",
                                  "test_connection_path": "/test-connection"},
                    "credentials": {"username": sim.config.username, "password": sim.config.password},
                    "hostnames": ["127.0.0.1"],
                }))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let r = app.connect_partner("rivery").await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let r = app.admin_post(&format!("{PC}/connections/rivery/test"), json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["connection"]["partner_test"]["passed"], true, "{:?}", r.body);
        let r = app.admin_delete(&format!("{PC}/connections/rivery")).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

        let received = clouds_received(&sim.url).await;
        let paths: Vec<&str> = received.iter().map(|(p, _)| p.as_str()).collect();
        for path in ["/connect", "/test-connection", "/delete-connection"] {
            assert!(paths.contains(&path), "{name}: {path} was called: {paths:?}");
        }
        for (path, received) in &received {
            assert_eq!(received, name, "{name}: {path}");
        }
    }
}
