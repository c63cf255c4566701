//! Per-token limits. With Databricks' limits a burst beyond the bucket gets 429 with
//! `Retry-After` and `REQUEST_LIMIT_EXCEEDED`, and other tokens and other endpoint families are
//! unaffected. The default limits let bursts of writes far beyond those through and bound the
//! requests one token has in progress. Only tokens that authenticate are tracked.

mod common;

use axum::http::{Method, StatusCode, header};
use common::{SCIM, TestApp};
use patchbay_server::RateLimits;
use patchbay_server::rate_limit::{Family, MAX_IN_FLIGHT};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

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
        let r = app.call(method.clone(), path, Some(token), body.clone()).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            return (passed, Some(r));
        }
    }
    (limit, None)
}

/// The admin's SCIM user creates with an empty body until the first 429 (at most `limit`):
/// refused bodies count too, the limit is on requests, not on what they achieve.
async fn until_scim_writes_limited(app: &TestApp, limit: u32) -> (u32, Option<common::Reply>) {
    let users = format!("{SCIM}/Users");
    let body = Some(json!({}));
    until_limited(app, Method::POST, &users, &app.admin_token, body, limit).await
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

/// A workspace with Databricks' published limits.
async fn databricks_limits() -> TestApp {
    TestApp::build("http://127.0.0.1:1", |s| s.rate_limits = RateLimits::Databricks).await
}

#[tokio::test]
async fn a_burst_beyond_the_bucket_gets_429_and_other_tokens_do_not() {
    let app = databricks_limits().await;
    let (_, other) = app.plain_user("other@example.com").await;
    let burst = RateLimits::Databricks.burst(Family::TokenManagement);

    let (passed, limited) =
        until_limited(&app, Method::GET, TOKENS, &app.admin_token, None, burst * 3).await;
    let limited = limited.expect("a flood is limited");
    assert!(passed >= burst, "the whole burst of {burst} passes first, got {passed}");
    assert_eq!(limited.body["error_code"], "REQUEST_LIMIT_EXCEEDED");
    let message = limited.body["message"].as_str().unwrap();
    for phrase in RETRY_TRIGGERS {
        assert!(!message.contains(phrase), "{message}");
    }
    assert!(retry_after(&limited) >= 1);

    // Another token on the same endpoint, and the same token elsewhere, are unaffected.
    let r = app.get_as(Some(&other), TOKENS).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "not limited, refused as a non-admin: {:?}",
        r.body
    );
    let r = app.me_as(&app.admin_token).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.admin_get("/api/2.0/permissions/authorization/tokens").await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn scim_changes_are_limited_in_the_scim_envelope() {
    let app = databricks_limits().await;
    let burst = RateLimits::Databricks.burst(Family::ScimWrite);
    let (passed, limited) = until_scim_writes_limited(&app, burst * 3).await;
    let limited = limited.expect("a flood of SCIM changes is limited");
    assert!(passed >= burst, "{passed}");
    assert_eq!(limited.body["status"], "429", "{:?}", limited.body);
    assert!(retry_after(&limited) >= 1);
    // Reads go on.
    let r = app.admin_get(&format!("{SCIM}/Users")).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn limits_can_be_turned_off() {
    let app = TestApp::build("http://127.0.0.1:1", |s| s.rate_limits = RateLimits::Off).await;
    assert!(app.state.rate_limiter().is_none());
    let (passed, limited) =
        until_scim_writes_limited(&app, RateLimits::Databricks.burst(Family::ScimWrite) * 2).await;
    assert!(limited.is_none(), "{passed}");
}

/// The default limits: an identity provider's sync, a conformance run or an SDK loop never
/// meets them. Hundreds of SCIM changes in a row with one token all pass, far more than
/// Databricks' limits (5/s, bursts of 50) would let through in the time taken.
#[tokio::test]
async fn the_default_limits_let_a_burst_of_scim_writes_through() {
    let app = TestApp::new().await;
    assert_eq!(app.state.settings().rate_limits, RateLimits::On);
    let started = Instant::now();
    let mut ids = Vec::new();
    for i in 0..150 {
        let r = app
            .admin_post(
                &format!("{SCIM}/Users"),
                json!({"userName": format!("sync{i}@example.com")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "create {i}: {:?}", r.body);
        ids.push(r.body["id"].as_str().expect("id").to_owned());
    }
    for id in &ids {
        let r = app.admin_delete(&format!("{SCIM}/Users/{id}")).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "delete {id}: {:?}", r.body);
    }
    let changes = 2.0 * ids.len() as f64;
    let databricks_would_allow = f64::from(RateLimits::Databricks.burst(Family::ScimWrite))
        + f64::from(RateLimits::Databricks.per_second(Family::ScimWrite))
            * started.elapsed().as_secs_f64();
    assert!(
        changes > databricks_would_allow,
        "{changes} changes in {:?}: the test must go beyond Databricks' limits to mean anything",
        started.elapsed()
    );
}

/// Starts `POST /api/2.0/token/create` with `token` on the server at `addr` and sends one
/// byte of its 64-byte body: the server holds the request in progress, past authentication,
/// until the body arrives or the connection ends.
async fn hold_request(addr: &str, token: &str) -> tokio::net::TcpStream {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /api/2.0/token/create HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 64\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream
}

/// Waits until the admin token has `n` requests in progress.
async fn until_in_progress(app: &TestApp, n: u32) {
    let limiter = app.state.rate_limiter().expect("limits are on");
    let digest = patchbay_core::token::TokenValue::parse(&app.admin_token).expect("token").digest();
    let deadline = Instant::now() + Duration::from_secs(30);
    while limiter.in_progress(&digest) != n {
        assert!(
            Instant::now() < deadline,
            "{} requests in progress, waited for {n}",
            limiter.in_progress(&digest)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// With the default limits one token may have 64 requests in progress; the next one is
/// answered 429 with `Retry-After` (in the SCIM envelope on a SCIM path) until one ends. Other
/// tokens go on meanwhile.
#[tokio::test]
async fn one_token_has_at_most_64_requests_in_progress() {
    let (app, url) = TestApp::serve().await;
    let (_, other) = app.plain_user("other@example.com").await;
    let addr = url.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..MAX_IN_FLIGHT {
        held.push(hold_request(&addr, &app.admin_token).await);
    }
    until_in_progress(&app, MAX_IN_FLIGHT).await;

    let me = format!("{SCIM}/Me");
    let refused = app.admin_get(&me).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", refused.body);
    assert_eq!(refused.body["status"], "429", "{:?}", refused.body);
    let detail = refused.body["detail"].as_str().expect("detail");
    assert!(detail.contains("at most 64"), "{detail}");
    for phrase in RETRY_TRIGGERS {
        assert!(!detail.contains(phrase), "{detail}");
    }
    assert_eq!(retry_after(&refused), 1);
    let r = app.admin_get(TOKENS).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.body);
    assert_eq!(r.body["error_code"], "REQUEST_LIMIT_EXCEEDED");
    let r = app.get_as(Some(&other), &me).await;
    assert_eq!(r.status, StatusCode::OK, "another token goes on: {:?}", r.body);

    // The held requests end when their connections do; then the token is served again.
    drop(held);
    until_in_progress(&app, 0).await;
    let r = app.admin_get(&me).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}

/// A request counts only once its token authenticated: missing, malformed, unknown and revoked
/// tokens leave nothing behind, so no one can grow the node's table of tokens by inventing
/// them, and a flood of them is refused 401, never limited.
#[tokio::test]
async fn tokens_that_do_not_authenticate_are_not_tracked() {
    for limits in [RateLimits::On, RateLimits::Databricks] {
        let app = TestApp::build("http://127.0.0.1:1", |s| s.rate_limits = limits).await;
        let limiter = app.state.rate_limiter().expect("limits are on").clone();
        let revoked = app.admin_post("/api/2.0/token/create", json!({"comment": "revoked"})).await;
        assert_eq!(revoked.status, StatusCode::OK, "{:?}", revoked.body);
        let r = app
            .admin_post(
                "/api/2.0/token/delete",
                json!({"token_id": revoked.body["token_info"]["token_id"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(limiter.tracked_tokens(), 1, "the admin's token");

        let revoked = revoked.body["token_value"].as_str().expect("value").to_owned();
        let mut invalid = vec![revoked, "nope".to_owned()];
        invalid.extend((0..300).map(|i| format!("dapi{i:032x}")));
        let paths = [
            (Method::POST, format!("{SCIM}/Users")),
            (Method::GET, format!("{SCIM}/Me")),
            (Method::GET, TOKENS.to_owned()),
            (Method::PATCH, "/api/2.0/permissions/authorization/tokens".to_owned()),
        ];
        for token in &invalid {
            for (method, path) in &paths {
                let r = app.call(method.clone(), path, Some(token), Some(json!({}))).await;
                assert_eq!(
                    r.status,
                    StatusCode::UNAUTHORIZED,
                    "{limits:?} {method} {path}: {:?}",
                    r.body
                );
            }
        }
        let r = app.post_as(None, &format!("{SCIM}/Users"), json!({})).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
        assert_eq!(limiter.tracked_tokens(), 1, "{limits:?}: only the admin's token is tracked");
    }
}
