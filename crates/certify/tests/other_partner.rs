//! certify against a partner that is not partner-sim: written here from the protocol's field
//! lists with other choices (its API under `/databricks/v1`, 201 on a new connection, accounts
//! per user rather than per domain, `new_user_action = invite`, no test-only endpoints and no
//! test-connection, never calls the workspace). It passes what it implements; what it lacks is
//! SKIPPED, never passed.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use patchbay_certify::workspace::WorkspaceOptions;
use patchbay_certify::{NewUserAction, Options, Verdict, report, run};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Partner {
    /// Users who have an account (one account per user).
    users: BTreeSet<String>,
    /// connection id → (workspace id, owner, members).
    connections: BTreeMap<String, (i64, String, BTreeSet<String>)>,
    next: u64,
}

type Shared = Arc<Mutex<Partner>>;

const AUTH: &str = "Basic b3RoZXI6czNjcmV0"; // other:s3cret

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn refused(headers: &HeaderMap) -> Option<Response> {
    (headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(AUTH))
        .then(|| reply(StatusCode::UNAUTHORIZED, json!({"error_reason": "unauthorized"})))
}

async fn connect(State(p): State<Shared>, headers: HeaderMap, Json(r): Json<Value>) -> Response {
    if let Some(no) = refused(&headers) {
        return no;
    }
    let email = r["user_info"]["email"].as_str().unwrap_or("").to_lowercase();
    let base = "http://127.0.0.1";
    let mut guard = p.lock().unwrap();
    let p = &mut *guard;
    if r["user_info"]["is_connection_established"] == true {
        let id = r["connection_id"].as_str().unwrap_or("");
        let Some((_, owner, members)) = p.connections.get_mut(id) else {
            return reply(
                StatusCode::NOT_FOUND,
                json!({"error_reason": "connection_not_found", "display_message": "gone"}),
            );
        };
        let owner = owner.clone();
        let (user, redirect) = if email == owner || members.contains(&email) {
            ("existing", "sign_in")
        } else if p.users.contains(&email) {
            members.insert(email.clone());
            ("existing", "sign_in")
        } else {
            ("not_applicable", "contact_admin")
        };
        return reply(
            StatusCode::OK,
            json!({"redirect_uri": format!("{base}/app/{redirect}"), "redirect_value": redirect,
                   "user_status": user, "account_status": "active", "configured_resources": false}),
        );
    }
    if r["user_info"]["auth"]["personal_access_token"].as_str().is_none() {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"error_reason": "bad_request", "debugging_message": "no token"}),
        );
    }
    let known = p.users.contains(&email) && r["demo"] != true;
    p.users.insert(email.clone());
    p.next += 1;
    let id = format!("conn-{}", p.next);
    let workspace = r["workspace_id"].as_i64().unwrap_or(0);
    p.connections.insert(id.clone(), (workspace, email, BTreeSet::new()));
    let (user, account, redirect) =
        if known { ("existing", "active", "sign_in") } else { ("new", "new", "create_trial") };
    reply(
        StatusCode::CREATED,
        json!({"redirect_uri": format!("{base}/app/{redirect}"), "redirect_value": redirect,
               "connection_id": id, "user_status": user, "account_status": account,
               "configured_resources": true}),
    )
}

async fn delete_connection(
    State(p): State<Shared>,
    headers: HeaderMap,
    Json(r): Json<Value>,
) -> Response {
    if let Some(no) = refused(&headers) {
        return no;
    }
    let id = r["connection_id"].as_str().unwrap_or("");
    match p.lock().unwrap().connections.remove(id) {
        Some(_) => reply(StatusCode::OK, json!({"resource_status": "resources_deleted"})),
        None => reply(StatusCode::NOT_FOUND, json!({"error_reason": "connection_not_found"})),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_partner_passes_what_it_implements_and_skips_the_rest() {
    let app = Router::new()
        .route("/databricks/v1/connect", post(connect))
        .route("/databricks/v1/delete-connection", post(delete_connection))
        .with_state(Shared::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/databricks/v1/connect", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let run = run(&Options {
        partner_url: url,
        username: "other".into(),
        password: "s3cret".into(),
        scenarios: Vec::new(),
        new_user_action: Some(NewUserAction::Invite),
        redirect_hosts: Vec::new(),
        profile: patchbay_certify::profile::Profile::Ingest,
        auth: patchbay_certify::AuthMode::Pat,
        workspace: WorkspaceOptions {
            retry_delays: vec![Duration::ZERO; 3],
            partner_timeout: Duration::from_secs(5),
            ..WorkspaceOptions::default()
        },
    })
    .await
    .unwrap();
    let table = report::table(&run);
    let verdict =
        |name: &str| run.scenarios.iter().find(|s| s.name == name).map(|s| s.verdict).unwrap();
    for name in ["signin-after-partner-delete", "expired-account", "test-connection"] {
        assert_eq!(verdict(name), Verdict::Skipped, "{name}\n{table}");
    }
    assert_eq!(run.count(Verdict::Failed), 0, "{table}");
    assert_eq!(run.count(Verdict::Passed), 10, "{table}");
    assert!(table.contains("new_user_action = invite"), "{table}");
}
