//! Per-token rate limits: a burst beyond the bucket gets 429 with `Retry-After` and
//! `REQUEST_LIMIT_EXCEEDED`; other tokens and other endpoint families are unaffected.

mod common;

use axum::http::{Method, StatusCode, header};
use common::{SCIM, TestApp};
use patchbay_server::rate_limit::Family;
use serde_json::json;

const TOKENS: &str = "/api/2.0/token-management/tokens";

/// Sends `method path` with `token` until the first 429 (at most `limit` times); returns the
/// number of requests let through and the 429.
async fn until_limited(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
    limit: u32,
) -> (u32, Option<common::Reply>) {
    for passed in 0..limit {
        let r = app
            .call(method.clone(), path, Some(token), body.clone())
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            return (passed, Some(r));
        }
    }
    (limit, None)
}

fn retry_after(reply: &common::Reply) -> u64 {
    reply
        .headers
        .get(header::RETRY_AFTER)
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .expect("integer seconds")
}

/// The phrases that make the Databricks SDKs retry an error whatever its status.
const RETRY_TRIGGERS: &[&str] = &[
    "Unexpected error",
    "Please try again later",
    "ClusterNotReadyException",
    "worker environment",
    "RPC token bucket limit",
];

#[tokio::test]
async fn a_burst_beyond_the_bucket_gets_429_and_other_tokens_do_not() {
    let app = TestApp::new().await;
    let (_, other) = app.plain_user("other@example.com").await;
    let burst = Family::TokenManagement.burst();

    let (passed, limited) =
        until_limited(&app, Method::GET, TOKENS, &app.admin_token, None, burst * 3).await;
    let limited = limited.expect("a flood is limited");
    assert!(
        passed >= burst,
        "the whole burst of {burst} passes first, got {passed}"
    );
    assert_eq!(limited.body["error_code"], "REQUEST_LIMIT_EXCEEDED");
    let message = limited.body["message"].as_str().unwrap();
    for phrase in RETRY_TRIGGERS {
        assert!(!message.contains(phrase), "{message}");
    }
    assert!(retry_after(&limited) >= 1);

    // Another token on the same endpoint, and the same token elsewhere, are unaffected.
    let r = app.call(Method::GET, TOKENS, Some(&other), None).await;
    assert_ne!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let r = app
        .call(
            Method::GET,
            &format!("{SCIM}/Me"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .admin(
            Method::GET,
            "/api/2.0/permissions/authorization/tokens",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn scim_changes_are_limited_in_the_scim_envelope() {
    let app = TestApp::new().await;
    let burst = Family::ScimWrite.burst();
    // Refused bodies count too: the limit is on requests, not on what they achieve.
    let (passed, limited) = until_limited(
        &app,
        Method::POST,
        &format!("{SCIM}/Users"),
        &app.admin_token,
        Some(json!({})),
        burst * 3,
    )
    .await;
    let limited = limited.expect("a flood of SCIM changes is limited");
    assert!(passed >= burst, "{passed}");
    assert_eq!(limited.body["status"], "429", "{:?}", limited.body);
    assert!(retry_after(&limited) >= 1);
    // Reads go on.
    let r = app.admin(Method::GET, &format!("{SCIM}/Users"), None).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn limits_can_be_turned_off() {
    let app = TestApp::build("http://127.0.0.1:1", |s| s.rate_limits = false).await;
    let (passed, limited) = until_limited(
        &app,
        Method::POST,
        &format!("{SCIM}/Users"),
        &app.admin_token,
        Some(json!({})),
        Family::ScimWrite.burst() * 2,
    )
    .await;
    assert!(limited.is_none(), "{passed}");
}
