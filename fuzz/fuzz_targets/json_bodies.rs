//! Arbitrary bytes as the JSON body of every endpoint that reads one, through the real router
//! on a real (temporary SQLite) store: no panic, never a 5xx (except a partner's own failure,
//! 502 `PARTNER_ERROR`, and the documented 501 `NOT_IMPLEMENTED`), and every error in its
//! endpoint's envelope — Databricks `{error_code, message}`, or SCIM `{schemas, detail,
//! status}` under the SCIM prefix.
//!
//! Input: byte 0 picks the endpoint, byte 1 the content type and the caller (the admin or a
//! plain user), the rest is the body. The store lives for the whole run, so what earlier
//! inputs created stays (the fixtures are never targets of a delete); a failure message names
//! the method, path and body. Seeds: `fuzz/seeds/json_bodies`.
#![no_main]

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use patchbay_server::endpoints::JSON_BODY_ENDPOINTS;
use patchbay_server::{AppState, Settings, router};
use patchbay_store::{Bootstrap, BootstrapOutcome, Store};
use serde_json::{Value, json};
use std::sync::LazyLock;
use std::time::Duration;
use tower::ServiceExt;

const SCIM: &str = "/api/2.0/preview/scim/v2";
const PC: &str = "/api/2.0/partner-connect";

struct Harness {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    /// The admin's token and a plain user's.
    tokens: [String; 2],
    endpoints: Vec<(Method, String)>,
    _dir: tempfile::TempDir,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(Harness::new);

/// `JSON_BODIES_TRACE=1` prints each request's endpoint and status (to see what a corpus
/// reaches: `cargo fuzz run -s none json_bodies CORPUS -- -runs=0`).
static TRACE: LazyLock<bool> = LazyLock::new(|| std::env::var_os("JSON_BODIES_TRACE").is_some());

/// One response, read whole.
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
}

async fn send(
    router: &axum::Router,
    token: &str,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> Reply {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(ct) = content_type {
        req = req.header(header::CONTENT_TYPE, ct);
    }
    let req = req.body(Body::from(body)).expect("request");
    let response = router.clone().oneshot(req).await.expect("infallible");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body").to_vec();
    Reply { status, body }
}

impl Harness {
    fn new() -> Harness {
        let rt =
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let dir = tempfile::tempdir().expect("temporary directory");
        let (router, tokens, endpoints) = rt.block_on(async {
            let store = Store::open_data_dir(dir.path())
                .await
                .expect("store")
                .with_secret_key(patchbay_store::SecretKey::generate())
                .await
                .expect("a secret key");
            let BootstrapOutcome::Created { workspace_id, admin_token } = store
                .bootstrap(&Bootstrap {
                    organization: "fuzz org".into(),
                    workspace_name: "fuzz".into(),
                    public_url: "http://127.0.0.1:1".into(),
                    admin_email: "admin@example.com".into(),
                })
                .await
                .expect("bootstrap")
            else {
                panic!("a fresh database bootstraps");
            };
            let mut settings = Settings::new(workspace_id, "http://127.0.0.1:1");
            settings.compute_transition_millis = 0;
            settings.rate_limits = patchbay_server::RateLimits::Off;
            // The fixture partner points at a closed loopback port: calls to it fail at once.
            settings.outbound = patchbay_partner::outbound::OutboundPolicy::allowing(&[
                patchbay_partner::outbound::Range::Loopback,
            ]);
            settings.partner_retry =
                patchbay_partner::client::RetryPolicy { delays: vec![Duration::ZERO] };
            settings.partner_timeout = Duration::from_millis(500);
            let state = AppState::new(store.clone(), settings);
            let account_id = state.account_id().await.expect("the account");
            let router = router(state);
            let token = admin_token.expose().to_owned();
            let endpoints = fixtures(&router, &token, workspace_id, &account_id).await;
            let user = store
                .issue_token_for_user("fuzz-caller@example.com", "fuzz")
                .await
                .expect("plain user token");
            (router, [token, user.expose().to_owned()], endpoints)
        });
        Harness { rt, router, tokens, endpoints, _dir: dir }
    }
}

/// Creates one of each object the endpoints address, and lists the endpoints.
async fn fixtures(
    router: &axum::Router,
    token: &str,
    workspace_id: patchbay_core::WorkspaceId,
    account_id: &str,
) -> Vec<(Method, String)> {
    let create = |method: Method, path: String, body: Value| async move {
        let r = send(
            router,
            token,
            method,
            &path,
            Some("application/json"),
            body.to_string().into_bytes(),
        )
        .await;
        assert!(
            r.status.is_success(),
            "fixture {path}: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        serde_json::from_slice::<Value>(&r.body).unwrap_or(Value::Null)
    };
    let text = |v: &Value, key: &str| match &v[key] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let user =
        create(Method::POST, format!("{SCIM}/Users"), json!({"userName": "fuzz-user@example.com"}))
            .await;
    create(Method::POST, format!("{SCIM}/Users"), json!({"userName": "fuzz-caller@example.com"}))
        .await;
    let sp = create(
        Method::POST,
        format!("{SCIM}/ServicePrincipals"),
        json!({"displayName": "FUZZ_USER"}),
    )
    .await;
    let group =
        create(Method::POST, format!("{SCIM}/Groups"), json!({"displayName": "fuzzers"})).await;
    let warehouse = create(
        Method::POST,
        "/api/2.0/sql/warehouses".into(),
        json!({"name": "fuzz", "cluster_size": "2X-Small"}),
    )
    .await;
    let cluster = create(
        Method::POST,
        "/api/2.0/clusters/create".into(),
        json!({"cluster_name": "fuzz", "spark_version": "15.4.x-scala2.12",
               "node_type_id": "i3.xlarge", "num_workers": 1}),
    )
    .await;
    let job = create(
        Method::POST,
        "/api/2.2/jobs/create".into(),
        json!({"name": "fuzz", "tasks": [{"task_key": "main", "notebook_task": {"notebook_path": "/x"}}]}),
    )
    .await;
    create(
        Method::PUT,
        format!("{PC}/partners/rivery"),
        json!({"base_url": "http://127.0.0.1:1",
               "endpoints": {"connect_path": "/connect", "delete_connection_path": "/delete-connection",
                             "test_connection_path": "/test-connection", "rotate_token_path": "/rotate-token"},
               "credentials": {"username": "u", "password": "p"},
               "hostnames": ["127.0.0.1"]}),
    )
    .await;
    let run =
        create(Method::POST, "/api/2.2/jobs/run-now".into(), json!({"job_id": job["job_id"]}))
            .await;
    create(Method::POST, "/api/2.0/secrets/scopes/create".into(), json!({"scope": "fuzz"})).await;
    create(Method::POST, "/api/2.0/groups/create".into(), json!({"group_name": "legacy"})).await;
    let (user, sp, group) = (text(&user, "id"), text(&sp, "id"), text(&group, "id"));
    let (warehouse, cluster) = (text(&warehouse, "id"), text(&cluster, "cluster_id"));
    let job = text(&job, "job_id");
    let run = text(&run, "run_id");
    // The endpoints are the server's own list, which a workspace test checks against the router.
    let fixture_ids = [
        ("{user}", user),
        ("{sp}", sp),
        ("{group}", group),
        ("{warehouse}", warehouse.clone()),
        ("{cluster}", cluster.clone()),
        ("{job}", job.clone()),
        ("{workspace_id}", workspace_id.to_string()),
        ("{account_id}", account_id.to_owned()),
        // No metastore is made: an update of an unknown one still parses its body first.
        ("{metastore}", "fuzz-metastore".to_owned()),
    ];
    let endpoints: Vec<(Method, String)> = JSON_BODY_ENDPOINTS
        .iter()
        .map(|(method, path)| {
            let method = Method::from_bytes(method.as_bytes()).expect("an HTTP method");
            let path = fixture_ids
                .iter()
                .fold((*path).to_owned(), |path, (name, id)| path.replace(name, id));
            (method, path)
        })
        .collect();
    PLACEHOLDERS
        .set(vec![("$WAREHOUSE", warehouse), ("$CLUSTER", cluster), ("$JOB", job), ("$RUN", run)])
        .expect("set once");
    endpoints
}

/// The fixtures' ids. An edit or a statement needs a real id to get past its lookup, so
/// these names in a body (the seeds use them) are replaced by the ids.
static PLACEHOLDERS: std::sync::OnceLock<Vec<(&'static str, String)>> = std::sync::OnceLock::new();

/// Whether a 4xx/5xx body is the endpoint's error envelope.
fn check_envelope(path: &str, status: StatusCode, body: &[u8]) {
    let v: Value = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!("{status} from {path} is not JSON ({e}): {}", String::from_utf8_lossy(body))
    });
    if path.starts_with(SCIM) {
        assert_eq!(
            v["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
            "{status} from {path}: {v}"
        );
        assert!(v["detail"].is_string(), "{status} from {path}: {v}");
        assert_eq!(v["status"], json!(status.as_u16().to_string()), "{status} from {path}: {v}");
    } else {
        assert!(
            v["error_code"].as_str().is_some_and(|c| !c.is_empty()),
            "{status} from {path}: {v}"
        );
        assert!(v["message"].is_string(), "{status} from {path}: {v}");
    }
}

fuzz_target!(|data: &[u8]| {
    let h = &*HARNESS;
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Some((&ct, body)) = rest.split_first() else {
        return;
    };
    let (method, path) = h.endpoints[pick as usize % h.endpoints.len()].clone();
    // Bit 2 of byte 1: as a plain user (who may not do most of this) instead of the admin.
    let token = &h.tokens[usize::from(ct & 4 != 0)];
    let content_type = match ct & 3 {
        0 => Some("application/json"),
        1 => Some("application/scim+json"),
        _ => None,
    };
    let mut body = body.to_vec();
    for (name, id) in PLACEHOLDERS.get().expect("fixtures") {
        if let Some(at) = body.windows(name.len()).position(|w| w == name.as_bytes()) {
            body.splice(at..at + name.len(), id.bytes());
        }
    }
    let sent = String::from_utf8_lossy(&body).into_owned();
    let reply = h.rt.block_on(send(&h.router, token, method.clone(), &path, content_type, body));
    let status = reply.status;
    if *TRACE {
        eprintln!("json_bodies: {method} {path} -> {}", status.as_u16());
    }
    let allowed_5xx = |v: &Value| {
        (status == StatusCode::BAD_GATEWAY
            && path.starts_with(PC)
            && v["error_code"] == "PARTNER_ERROR")
            || (status == StatusCode::NOT_IMPLEMENTED && v["error_code"] == "NOT_IMPLEMENTED")
    };
    if status.is_server_error() {
        let v: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        assert!(
            allowed_5xx(&v),
            "{method} {path} with body {sent:?} answered {status}: {}",
            String::from_utf8_lossy(&reply.body)
        );
    }
    assert!(
        status.is_success() || status.is_client_error() || status.is_server_error(),
        "{method} {path} answered {status}"
    );
    if !status.is_success() {
        check_envelope(&path, status, &reply.body);
    }
});
