//! Request bodies that cannot be used: only one over the size limit is a 413; one that could not
//! be read to its end (the client hung up mid-body) is a 400. Both come in the endpoint's
//! envelope and change nothing.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{SCIM, TestApp};
use serde_json::Value;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends `head` and the first `sent` of `declared` body bytes over a real connection, then
/// closes the sending half; returns the status and the JSON body of the answer.
async fn truncated(addr: &str, head: &str, declared: usize, sent: &[u8]) -> (u16, Value) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("{head}Host: {addr}\r\nContent-Length: {declared}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    stream.write_all(sent).await.expect("write");
    stream.shutdown().await.expect("half-close");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer))
        .await
        .expect("an answer within 30 s")
        .expect("read");
    let answer = String::from_utf8(answer).expect("text");
    let status = answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"));
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| serde_json::from_str(body).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    (status, body)
}

/// An endpoint, its content type, the start of a body, and the fields of its envelope that
/// name a malformed request.
type Case<'a> = (&'a str, &'a str, &'a [u8], &'a [(&'a str, &'a str)]);

#[tokio::test]
async fn a_body_cut_short_is_a_400_in_the_endpoints_envelope() {
    let (app, url) = TestApp::serve().await;
    let addr = url.trim_start_matches("http://");
    let auth = format!("Authorization: Bearer {}\r\n", app.admin_token);

    // The Databricks envelope, SCIM's, and the legacy Groups API's (the legacy CLI's
    // `text/json`): each names a malformed request its own way.
    let scim_users = format!("{SCIM}/Users");
    let cases: [Case; 3] = [
        (
            "/api/2.0/token/create",
            "application/json",
            br#"{"comment": "#,
            &[("error_code", "MALFORMED_REQUEST")],
        ),
        (
            &scim_users,
            "application/scim+json",
            br#"{"userName": "#,
            &[("status", "400"), ("scimType", "invalidSyntax")],
        ),
        (
            "/api/2.0/groups/create",
            "text/json",
            br#"{"group_name": "#,
            &[("error_code", "MALFORMED_REQUEST")],
        ),
    ];
    for (path, content_type, sent, expected) in cases {
        let head = format!("POST {path} HTTP/1.1\r\n{auth}Content-Type: {content_type}\r\n");
        let (status, body) = truncated(addr, &head, 100, sent).await;
        assert_eq!(status, 400, "{path}: {body}");
        for &(field, value) in expected {
            assert_eq!(body[field], value, "{path}: {body}");
        }
        let message = if body["detail"].is_string() { &body["detail"] } else { &body["message"] };
        assert!(message.as_str().is_some_and(|m| !m.is_empty()), "{path}: {body}");
    }

    let groups = app.admin_get("/api/2.0/groups/list").await;
    assert_eq!(groups.status, StatusCode::OK, "{:?}", groups.body);
    assert_eq!(
        groups.body["group_names"],
        serde_json::json!(["admins", "users"]),
        "{:?}",
        groups.body
    );
    let users = app.admin_get(&format!("{SCIM}/Users")).await;
    assert_eq!(users.status, StatusCode::OK, "{:?}", users.body);
    assert_eq!(users.body["totalResults"], 1, "only the admin: {:?}", users.body);
}

#[tokio::test]
async fn only_a_body_over_the_limit_is_a_413() {
    let app = TestApp::new().await;
    let big = format!(r#"{{"comment": "{}"}}"#, "x".repeat(patchbay_server::body::MAX_BODY));
    for (path, field) in [
        ("/api/2.0/token/create", "error_code"),
        ("/api/2.0/preview/scim/v2/Users", "status"),
        ("/api/2.0/groups/create", "error_code"),
    ] {
        // No Content-Length: the limit is found while reading.
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", app.admin_token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(big.clone()))
            .expect("request");
        let r = app.send(req).await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {:?}", r.body);
        let expected = if field == "status" { "413" } else { "RESOURCE_EXHAUSTED" };
        assert_eq!(r.body[field], expected, "{path}: {:?}", r.body);
    }
    let tokens = app.admin_get("/api/2.0/token/list").await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.body);
    assert_eq!(
        tokens.body["token_infos"].as_array().map(Vec::len),
        Some(1),
        "only the admin's token: {:?}",
        tokens.body
    );
}
