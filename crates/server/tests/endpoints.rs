//! The `json_bodies` fuzz target (in `fuzz/`, outside the workspace, so no test runs it) sends
//! arbitrary bodies to the endpoints of `patchbay_server::endpoints::JSON_BODY_ENDPOINTS`. This
//! checks that list against the router: every entry is a route that reads a JSON body, and every
//! route that reads one on POST, PUT or PATCH is on the list, directly or through one of its
//! `ALIASES`. A new API family fails here until it is fuzzed.

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use common::{Reply, TestApp};
use patchbay_server::endpoints::{ALIASES, JSON_BODY_ENDPOINTS, NOT_FUZZED};
use std::collections::BTreeSet;

/// Every path the router serves. axum has no public list of a router's routes; its `Debug`
/// output shows each path as a quoted string, which is all this reads. The assertion keeps a
/// change of that output from passing as "no routes".
fn route_paths() -> BTreeSet<String> {
    let debug = format!("{:?}", patchbay_server::api_routes());
    let mut paths = BTreeSet::new();
    let mut rest = debug.as_str();
    while let Some(at) = rest.find("\"/") {
        let tail = &rest[at + 1..];
        let end = tail.find('"').expect("a closing quote");
        let path = &tail[..end];
        if !path.contains("__private__axum") {
            paths.insert(path.to_owned());
        }
        rest = &tail[end + 1..];
    }
    assert!(
        paths.len() > 100
            && paths.contains("/api/2.0/token/create")
            && paths.contains("/api/2.0/partner-connect/partners/{partner_id}/connect"),
        "the router's Debug output no longer shows its paths: {paths:?}"
    );
    paths
}

/// Whether `path` (a list entry, `{…}` for a fixture's id) is served by the route `template`:
/// a parameter of the template takes any segment, a fixture only a parameter.
fn serves(template: &str, path: &str) -> bool {
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t == p || t.starts_with('{'))
}

/// The route's path as the fuzz target reaches its handler (aliases may stack: the preview
/// permissions of `warehouses/…`).
fn fuzzed_as(template: &str) -> String {
    let mut path = template.to_owned();
    while let Some(next) = ALIASES
        .iter()
        .find_map(|(alias, fuzzed)| path.strip_prefix(alias).map(|rest| format!("{fuzzed}{rest}")))
    {
        path = next;
    }
    path
}

/// The answer of `method template` (its parameters `x`) to a truncated JSON body.
async fn probe(app: &TestApp, method: &Method, template: &str) -> Reply {
    let path: Vec<&str> =
        template.split('/').map(|s| if s.starts_with('{') { "x" } else { s }).collect();
    let req = Request::builder()
        .method(method)
        .uri(path.join("/"))
        .header(header::AUTHORIZATION, format!("Bearer {}", app.admin_token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{"))
        .expect("request");
    app.send(req).await
}

/// Whether a [`probe`] was answered by the body's 400 (Databricks `MALFORMED_REQUEST` or SCIM
/// `invalidSyntax`): the route reads a JSON body. Bodies are read before a handler runs, so a
/// probe changes nothing.
fn reads_json(r: &Reply) -> bool {
    r.status == StatusCode::BAD_REQUEST
        && (r.body["error_code"] == "MALFORMED_REQUEST" || r.body["scimType"] == "invalidSyntax")
}

#[tokio::test]
async fn the_fuzz_targets_endpoints_are_the_routes_that_read_json() {
    let app = TestApp::build("http://127.0.0.1:1", |s| {
        s.rate_limits = patchbay_server::RateLimits::Off;
    })
    .await;
    let paths = route_paths();
    let mut problems = Vec::new();

    for (method, path) in JSON_BODY_ENDPOINTS {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let Some(template) = paths.iter().find(|t| serves(t, path)) else {
            problems.push(format!("{method} {path} is listed but not a route"));
            continue;
        };
        if probe(&app, &method, template).await.status == StatusCode::METHOD_NOT_ALLOWED {
            problems.push(format!("{method} {path} is listed but {template} has no {method}"));
        }
    }

    for template in &paths {
        for method in [Method::POST, Method::PUT, Method::PATCH] {
            if !reads_json(&probe(&app, &method, template).await) {
                continue;
            }
            let fuzzed = fuzzed_as(template);
            let listed = JSON_BODY_ENDPOINTS
                .iter()
                .any(|(m, path)| *m == method.as_str() && serves(&fuzzed, path));
            let exempt =
                NOT_FUZZED.iter().any(|(m, path, _)| *m == method.as_str() && fuzzed == *path);
            if !listed && !exempt {
                problems.push(format!(
                    "{method} {template} reads a JSON body but is not in JSON_BODY_ENDPOINTS"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
