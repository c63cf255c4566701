//! Partner Connect against hostile callers: partner addresses the installation does not call
//! (refused at registration, and again on every call after DNS), redirects that play tricks,
//! and huge lists in request bodies. Each refusal is a clear 4xx (or, for a partner that cannot
//! be called, a partner failure) and leaves nothing behind.

mod common;

use axum::http::{Method, StatusCode, header};
use axum::response::IntoResponse;
use common::scripted_partner::scripted_partner;
use common::sim::{served_with_sim, sim_calls};
use common::{Reply, SCIM, TestApp};
use patchbay_partner::outbound::OutboundPolicy;
use patchbay_server::{AppState, Settings, router};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

const PC: &str = "/api/2.0/partner-connect";

/// The addresses of the issue, and a few more spellings of the same places.
const INTERNAL: [&str; 16] = [
    "http://169.254.169.254/latest/meta-data",
    "http://metadata.google.internal/computeMetadata/v1",
    "http://[fd00:ec2::254]/",
    "http://[::ffff:169.254.169.254]/",
    "http://0xA9FEA9FE/",
    "http://2852039166/",
    "http://[fe80::1]/",
    "http://10.0.0.1/",
    "http://192.168.1.1/",
    "http://172.16.0.1:8443/",
    "http://127.0.0.1:9090",
    "http://2130706433:9090/",
    "http://[::1]:9090/",
    "http://localhost:9090/",
    "http://0.0.0.0:9090/",
    "http://100.64.0.1/",
];

/// A workspace whose partner calls may go only where `policy` allows.
async fn app_with(policy: OutboundPolicy) -> TestApp {
    TestApp::build("http://127.0.0.1:1", |s| s.outbound = policy).await
}

/// The message of an error answer, which must have `status` and the `error_code` `code`; a
/// failure names `case`.
fn refusal_message<'a>(r: &'a Reply, case: &str, status: StatusCode, code: &str) -> &'a str {
    assert_eq!(r.status, status, "{case}: {:?}", r.body);
    assert_eq!(r.body["error_code"], code, "{case}: {:?}", r.body);
    r.body["message"].as_str().expect("message")
}

fn register_body(name: &str, base_url: &str) -> Value {
    json!({"name": name, "category": "INGEST", "profile": "ingest", "base_url": base_url,
           "credentials": {"username": "databricks", "password": "secret"}})
}

async fn point(app: &TestApp, partner: &str, base_url: &str, hostnames: &[&str]) -> Reply {
    app.admin_put(&format!("{PC}/partners/{partner}"), json!({"base_url": base_url,
            "endpoints": {"connect_path": "/connect", "delete_connection_path": "/delete-connection",
                          "test_connection_path": "/test-connection"},
            "credentials": {"username": "databricks", "password": "partner-sim-secret"},
            "hostnames": hostnames}))
    .await
}

/// Points rivery (hostname partner.example.com) at each of `base_urls` in turn; each must answer
/// `status`, and a failure names its address.
async fn point_each(app: &TestApp, base_urls: &[&str], status: StatusCode) {
    for base_url in base_urls {
        let r = point(app, "rivery", base_url, &["partner.example.com"]).await;
        assert_eq!(r.status, status, "{base_url}: {:?}", r.body);
    }
}

async fn service_principal_count(app: &TestApp) -> usize {
    let r = app.admin_get(&format!("{SCIM}/ServicePrincipals")).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["Resources"].as_array().map_or(0, Vec::len)
}

async fn no_connection(app: &TestApp, partner: &str) {
    let r = app.admin_get(&format!("{PC}/connections/{partner}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    assert_eq!(service_principal_count(app).await, 0, "nothing is left");
}

#[tokio::test]
async fn internal_addresses_are_refused_at_registration_by_default() {
    let app = app_with(OutboundPolicy::public_only()).await;
    for (i, base_url) in INTERNAL.iter().enumerate() {
        let name = format!("Acme {i}");
        let r = app.admin_post(&format!("{PC}/partners"), register_body(&name, base_url)).await;
        let message =
            refusal_message(&r, base_url, StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE");
        assert!(
            message.contains("cannot be used") && message.contains(" is "),
            "{base_url}: {message}"
        );
        let r = app.admin_get(&format!("{PC}/partners/acme-{i}")).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{base_url} was registered");

        // A built-in tile's endpoint, the same.
        let r = point(&app, "rivery", base_url, &["partner.example.com"]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{base_url}: {:?}", r.body);
        let tile = app.admin_get(&format!("{PC}/partners/rivery")).await;
        assert_eq!(tile.body["partner"]["endpoint_configured"], false, "{base_url}");
    }
    // The messages name the kind of address and how an installation allows it, if it can.
    let message = |r: &Reply| {
        r.body["message"]
            .as_str()
            .unwrap_or_else(|| panic!("an error message: {:?}", r.body))
            .to_owned()
    };
    let r = point(&app, "rivery", "http://127.0.0.1:9090", &["127.0.0.1"]).await;
    assert!(
        message(&r).contains("loopback address")
            && message(&r).contains("--allow-outbound loopback"),
        "{}",
        message(&r)
    );
    let r = point(&app, "rivery", "http://0xA9FEA9FE/", &["x.example.com"]).await;
    assert!(
        message(&r)
            .contains("169.254.169.254 is a cloud metadata address, which patchbay never calls"),
        "{}",
        message(&r)
    );
    // Other malformed addresses.
    let malformed = [
        "http://user:pw@partner.example.com/",
        "http://partner.example.com/?x=1",
        "http://partner.example.com/#x",
        "file:///etc/passwd",
        "gopher://partner.example.com/",
        "http://",
        "partner.example.com",
    ];
    point_each(&app, &malformed, StatusCode::BAD_REQUEST).await;

    // A public address is fine; what is stored is the parsed URL.
    let r = app
        .admin_post(
            &format!("{PC}/partners"),
            register_body("Acme Public", "HTTPS://Partner.Example.COM:443/db/"),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["partner"]["hostnames"], json!(["partner.example.com"]));
    let plan = app
        .admin_post(&format!("{PC}/partners/acme-public/connect"), json!({"dry_run": true}))
        .await;
    assert_eq!(plan.status, StatusCode::OK, "{:?}", plan.body);
    assert_eq!(plan.body["plan"]["partner_endpoint"], "https://partner.example.com/db/connect");
}

#[tokio::test]
async fn the_setting_allows_the_ranges_it_names_and_never_metadata() {
    let app =
        app_with(OutboundPolicy::parse(&["loopback", "10.1.0.0/16", "link-local"]).unwrap()).await;
    let allowed = [
        "http://127.0.0.1:9090",
        "http://localhost:9090",
        "http://[::1]:9090",
        "http://10.1.2.3/",
        "http://169.254.10.10/",
    ];
    point_each(&app, &allowed, StatusCode::OK).await;
    let refused = [
        "http://10.2.0.1/",
        "http://192.168.1.1/",
        "http://169.254.169.254/",
        "http://0xA9FEA9FE/",
        "http://[::ffff:169.254.169.254]/",
        "http://metadata.google.internal/",
        "http://0.0.0.0:9090/",
    ];
    point_each(&app, &refused, StatusCode::BAD_REQUEST).await;
}

/// The admin's POST of `{}` to `path` on the same database served with public addresses only:
/// what a partner registered earlier (or under another setting) at an internal address meets on
/// every call.
async fn strict_post(app: &TestApp, path: &str) -> Reply {
    let strict = router(AppState::new(
        app.store.clone(),
        Settings::new(app.workspace_id, "http://127.0.0.1:1"),
    ));
    let req = axum::http::Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {}", app.admin_token))
        .header(header::CONTENT_TYPE, "application/json")
        .body(axum::body::Body::from(json!({}).to_string()))
        .unwrap();
    let (status, headers, bytes) = common::send_to(&strict, req).await;
    Reply { status, headers, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null) }
}

#[tokio::test]
async fn a_refused_address_ends_a_call_as_a_partner_failure_and_leaves_nothing() {
    let (app, sim) = served_with_sim().await;
    let port = sim.url.rsplit(':').next().unwrap().to_owned();
    for base_url in [sim.url.clone(), format!("http://localhost:{port}")] {
        let r = point(&app, "rivery", &base_url, &["127.0.0.1"]).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let r = strict_post(&app, &format!("{PC}/partners/rivery/connect")).await;
        let message = refusal_message(&r, &base_url, StatusCode::BAD_GATEWAY, "PARTNER_ERROR");
        assert!(
            message.contains("patchbay did not call the partner")
                && message.contains("loopback address")
                && message.contains("--allow-outbound loopback"),
            "{message}"
        );
        no_connection(&app, "rivery").await;
        assert_eq!(sim_calls(&sim).await, 0, "the partner was called");
    }

    // Connected under a setting that allowed loopback; later calls under one that does not.
    let r = point(&app, "rivery", &sim.url, &["127.0.0.1"]).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.connect_partner("rivery").await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let before = sim_calls(&sim).await;
    let test = strict_post(&app, &format!("{PC}/connections/rivery/test")).await;
    assert_eq!(test.status, StatusCode::OK, "{:?}", test.body);
    let verdict = &test.body["connection"]["partner_test"];
    assert_eq!(verdict["passed"], false, "{verdict}");
    assert!(verdict["detail"].as_str().unwrap().contains("loopback address"), "{verdict}");
    let sign_in = strict_post(&app, &format!("{PC}/partners/rivery/connect")).await;
    assert_eq!(sign_in.status, StatusCode::BAD_GATEWAY, "{:?}", sign_in.body);
    assert!(
        sign_in.body["message"].as_str().unwrap().contains("loopback address"),
        "{:?}",
        sign_in.body
    );
    assert_eq!(sim_calls(&sim).await, before, "the partner was called");
}

fn connected_answer(redirect_uri: &str) -> axum::response::Response {
    axum::Json(json!({"redirect_uri": redirect_uri, "redirect_value": "create_trial",
        "connection_id": "c-1", "user_status": "new", "account_status": "new",
        "configured_resources": true}))
    .into_response()
}

#[tokio::test]
async fn a_partner_that_answers_with_an_http_redirect_is_not_followed() {
    let (app, _) = TestApp::serve().await;
    let (target, target_hits) = scripted_partner(|| connected_answer("http://127.0.0.1/x")).await;
    for location in
        [format!("http://{target}/connect"), "http://169.254.169.254/latest/meta-data".to_owned()]
    {
        let (partner, hits) = scripted_partner(move || {
            (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, location.clone())]).into_response()
        })
        .await;
        let r = point(&app, "rivery", &format!("http://{partner}"), &["127.0.0.1"]).await;
        assert_eq!(r.status, StatusCode::OK);
        let r = app.connect_partner("rivery").await;
        assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{:?}", r.body);
        assert!(r.body["message"].as_str().unwrap().contains("HTTP 307"), "{:?}", r.body);
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        no_connection(&app, "rivery").await;
    }
    assert_eq!(target_hits.load(Ordering::SeqCst), 0, "a redirect was followed");
}

#[tokio::test]
async fn redirect_uris_are_handed_on_only_as_parsed_with_the_host_checked() {
    let (app, _) = TestApp::serve().await;
    // (what the partner sends, what the user gets; None: the connect fails and is undone)
    let cases: [(&str, Option<&str>); 10] = [
        ("http://127.0.0.1\\@evil.example.com/", Some("http://127.0.0.1/@evil.example.com/")),
        ("http://PARTNER.example.com:8443/a b", Some("http://partner.example.com:8443/a%20b")),
        ("https://partner%2Eexample.com/in", Some("https://partner.example.com/in")),
        ("https://pärtner.example.com/", Some("https://xn--prtner-bua.example.com/")),
        ("http://evil.example.com\\@127.0.0.1/", None),
        ("http://user@127.0.0.1/", None),
        ("https://partner.example.com./", None),
        ("https://partner.example.com.evil.io/", None),
        ("javascript:alert(document.cookie)//127.0.0.1", None),
        ("//127.0.0.1/", None),
    ];
    for (sent, handed_on) in cases {
        let (partner, _) = scripted_partner(move || connected_answer(sent)).await;
        let r = point(
            &app,
            "rivery",
            &format!("http://{partner}"),
            &["127.0.0.1", "partner.example.com", "pärtner.example.com"],
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let r = app.connect_partner("rivery").await;
        match handed_on {
            Some(uri) => {
                assert_eq!(r.status, StatusCode::OK, "{sent}: {:?}", r.body);
                assert_eq!(r.body["redirect_uri"], uri, "{sent}");
                let r = app.admin_delete(&format!("{PC}/connections/rivery")).await;
                assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            }
            None => {
                assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{sent}: {:?}", r.body);
                assert!(
                    r.body["message"].as_str().unwrap().contains("redirect_uri cannot be used"),
                    "{sent}: {:?}",
                    r.body
                );
                no_connection(&app, "rivery").await;
            }
        }
    }
}

#[tokio::test]
async fn huge_lists_are_deduplicated_capped_and_refused_before_any_work() {
    let (app, sim) = served_with_sim().await;
    let r = point(&app, "dbt-cloud", &sim.url, &["127.0.0.1"]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let connect = |body: Value| {
        let app = &app;
        async move { app.admin_post(&format!("{PC}/partners/dbt-cloud/connect"), body).await }
    };

    // 5,000 copies of one schema (and its other spellings) plan one schema grant.
    let mut copies = vec!["default"; 5000];
    copies.extend(["DEFAULT", "Default"]);
    let r = connect(json!({"schemas": copies, "dry_run": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["plan"]["schemas"], json!(["default"]));
    let schema_grants: Vec<&Value> = r.body["plan"]["grants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["securable_type"] == "schema")
        .collect();
    assert_eq!(schema_grants.len(), 1, "{:?}", r.body["plan"]["grants"]);

    // 101 different schemas: a 400 naming the cap, before any is looked up.
    let many: Vec<String> = (0..=100).map(|i| format!("s{i}")).collect();
    for dry_run in [true, false] {
        let r = connect(json!({"schemas": many, "dry_run": dry_run})).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
        assert_eq!(r.body["error_code"], "INVALID_PARAMETER_VALUE");
        assert!(
            r.body["message"].as_str().unwrap().contains("at most 100 schemas"),
            "{:?}",
            r.body
        );
    }
    // A bad name among them: named, with its place.
    let r = connect(json!({"schemas": ["default", "a.b"]})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().starts_with("schemas[1]"), "{:?}", r.body);
    let r = connect(json!({"schemas": ["default"], "warehouse_id": "w".repeat(10_000)})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert_eq!(sim_calls(&sim).await, 0);
    no_connection(&app, "dbt-cloud").await;

    // The cap itself connects: 100 schemas, each granted once, the audit trail complete.
    for i in 0..99 {
        let r = app
            .admin_post(
                "/api/2.1/unity-catalog/schemas",
                json!({"catalog_name": "hive_metastore", "name": format!("s{i}")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let mut hundred: Vec<String> = (0..99).map(|i| format!("s{i}")).collect();
    hundred.push("default".into());
    let doubled: Vec<String> = hundred.iter().chain(hundred.iter()).cloned().collect();
    let r = connect(json!({"schemas": doubled})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let connection = &r.body["connection"];
    assert_eq!(connection["schemas"].as_array().unwrap().len(), 100);
    let grants = connection["grants"].as_array().unwrap();
    assert_eq!(grants.iter().filter(|g| g["securable_type"] == "schema").count(), 100);
    let schema_grant_events = app
        .audit_events("partner_id=dbt-cloud&page_size=1000")
        .await
        .iter()
        .filter(|e| e["action"] == "grant" && e["object_type"] == "schema")
        .count();
    assert_eq!(schema_grant_events, 100);
}

#[tokio::test]
async fn a_partners_hostnames_are_normalized_deduplicated_and_capped() {
    let app = app_with(OutboundPolicy::public_only()).await;
    let base = "https://partner.example.com";
    let put = |hostnames: Value| {
        let app = &app;
        async move {
            app.admin_put(
                &format!("{PC}/partners/rivery"),
                json!({"base_url": base, "hostnames": hostnames,
                    "credentials": {"username": "databricks", "password": "secret"}}),
            )
            .await
        }
    };
    let r = put(json!(vec!["Partner.Example.com."; 5000])).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["partner"]["hostnames"], json!(["partner.example.com"]));
    let many: Vec<String> = (0..21).map(|i| format!("h{i}.example.com")).collect();
    let r = put(json!(many)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("at most 20"), "{:?}", r.body);
    for bad in ["https://partner.example.com", "partner.example.com/x", "a b", "", "user@host"] {
        let r = put(json!([bad])).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {:?}", r.body);
    }
    let tile = app.admin_get(&format!("{PC}/partners/rivery")).await;
    assert_eq!(
        tile.body["partner"]["hostnames"],
        json!(["partner.example.com"]),
        "refusals change nothing"
    );
}
