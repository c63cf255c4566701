//! `partner-sim`: a reference partner that implements `/connect`, `/delete-connection`,
//! `/test-connection` and patchbay's `/rotate-token` the way the protocol describes, with
//! accounts keyed by e-mail domain, an account administrator who adds users (and may delegate
//! that right), `new_user_action`, manual sign-up, expired accounts, and faults to inject. It
//! checks every token it receives by calling the workspace's `/Me` with it. Given a U2M app
//! (`oauth_u2m_app_id`), it answers its own callback as `oauth_redirect_uri` and completes a
//! user's authorization code flow with PKCE (`/oauth/start/{id}`, `/oauth/callback`). After a
//! first connect that carried a credential and a SQL warehouse it runs its workload on that
//! warehouse ([`workload`]), shown per connection in `/_sim/state` and on its page.

pub mod workload;

use crate::protocol::{
    AccountStatus, ConnectRequest, Connection, ConnectionInfo, ConnectionTestResult,
    DeleteConnectionRequest, DeleteConnectionResponse, ErrorReason, ErrorResponse, RedirectValue,
    ResourceStatus, RotateTokenRequest, Secret, TestResult, TestStatus, UserStatus,
};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use patchbay_core::markup::escape;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use subtle::ConstantTimeEq;
pub use workload::Workload;
use workload::WorkloadRun;

/// The simulator's OAuth callback, its `oauth_redirect_uri` for U2M apps.
pub const CALLBACK: &str = "/oauth/callback";

/// What a second user who is new to the partner gets on an existing connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum NewUserAction {
    #[default]
    AutoAdd,
    Invite,
    NotFound,
    Error,
}

/// What a U2M first connect answers as `oauth_redirect_uri` (set with
/// `POST /_sim/u2m/callback`): the simulator's own callback, one on a host that is not the
/// partner's, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum U2mCallback {
    #[default]
    Own,
    Foreign,
    None,
}

/// The simulator's settings (a TOML file for `patchbay partner-sim --config`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Basic credentials the workspace must present.
    pub username: String,
    pub password: String,
    pub new_user_action: NewUserAction,
    /// Sign-ins fail with `account_not_found` until the user signed up by hand.
    pub require_manual_signup: bool,
    /// E-mail domains whose accounts have expired.
    pub expired_domains: Vec<String>,
    /// Call the workspace's `/Me` with every token received.
    pub verify_tokens: bool,
    /// Base of the redirect URLs (default: the address it listens on).
    pub public_url: Option<String>,
    /// What it does on the warehouse after a connect: `auto` (by the request: `read` when it
    /// names a `database_name`, else `ingest`), `ingest`, `read` or `none`.
    pub workload: Workload,
    /// A table of the workspace the partner did not create, as written in SQL
    /// (`main.finance.salaries`): the ingest workload's read of it must be refused. Without
    /// one, that step is reported as not probed.
    pub probe_table: Option<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            username: "databricks".into(),
            password: "partner-sim-secret".into(),
            new_user_action: NewUserAction::AutoAdd,
            require_manual_signup: false,
            expired_domains: Vec::new(),
            verify_tokens: true,
            public_url: None,
            workload: Workload::Auto,
            probe_table: None,
        }
    }
}

/// Faults to inject, set through `POST /_sim/faults`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Answer this many `/connect` calls with 500 first.
    pub connect_500: u32,
    /// Answer this many `/delete-connection` calls with 500 first.
    pub delete_500: u32,
    /// Sleep this long before answering anything.
    pub delay_ms: u64,
    /// Refuse every call with 401, as after a credential rotation.
    pub unauthorized: bool,
    /// Answer `/connect` with something that is not JSON.
    pub garbage: bool,
    /// Answer `/connect` with a huge body.
    pub oversized: bool,
    /// Redirect to a host that is not the partner's.
    pub foreign_redirect: bool,
    /// Answer a first connect with `configured_resources: false`.
    pub refuse_resources: bool,
    /// Leave `connection_id` out of a first connect's answer.
    pub omit_connection_id: bool,
    /// Put the request's `connection_id` into a sign-in's answer (where it must be omitted).
    pub echo_connection_id: bool,
    /// Answer `/connect` with `redirect_value: "teleport"`, which is no enum value.
    pub bad_enum: bool,
    /// Send JSON answers without a `Content-Type` header.
    pub no_content_type: bool,
    /// Tell a second, new user signing in that they are `existing`, whatever `new_user_action`.
    pub misreport_new_user: bool,
    /// Answer errors with a body that is no `ErrorResponse`.
    pub bad_error_body: bool,
    /// Accept any Basic credentials (so rotated ones are never refused).
    pub accept_any_credentials: bool,
    /// `/test-connection` reports PASS without using the token.
    pub ignore_token: bool,
    /// Treat a demo connect like any other (no create-trial flow for a known account).
    pub ignore_demo: bool,
}

#[derive(Debug, Clone, Serialize)]
struct Account {
    administrator: String,
    users: BTreeSet<String>,
    delegates: BTreeSet<String>,
    signed_up: BTreeSet<String>,
    expired: bool,
}

#[derive(Debug, Clone)]
struct SimConnection {
    workspace_id: i64,
    workspace_url: String,
    domain: String,
    token: Option<Credential>,
    request: ConnectRequest,
    /// What it did with the warehouse after the connect.
    workload: WorkloadRun,
}

/// What a connection signs in to the workspace with.
#[derive(Debug, Clone)]
enum Credential {
    /// A personal access token, used as is.
    Token(Secret),
    /// A service principal's OAuth secret (`AUTH_OAUTH_M2M`), exchanged for an access token
    /// at the workspace's token endpoint before each use.
    OAuth { client_id: String, secret: Secret },
}

/// One call the simulator received, for tests to inspect (tokens removed).
#[derive(Debug, Clone, Serialize)]
pub struct Received {
    pub path: String,
    pub user_agent: Option<String>,
    pub idempotency_key: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct SimState {
    accounts: BTreeMap<String, Account>,
    connections: BTreeMap<String, SimConnection>,
    faults: Faults,
    received: Vec<Received>,
    /// What a U2M first connect answers as its callback.
    u2m_callback: U2mCallback,
    /// U2M sign-ins started, by their `state`: where and with which verifier to finish.
    u2m_pending: BTreeMap<String, U2mPending>,
    /// Users who authorized the partner's U2M app, by a session id of the simulator's own.
    u2m_sessions: BTreeMap<String, U2mSession>,
}

#[derive(Debug, Clone)]
struct U2mPending {
    workspace_url: String,
    client_id: String,
    verifier: String,
}

/// A user's authorization of the partner (`AUTH_OAUTH_U2M`): the tokens it acts with.
#[derive(Debug, Clone)]
struct U2mSession {
    workspace_url: String,
    client_id: String,
    access: Secret,
    refresh: Secret,
}

#[derive(Clone)]
struct Sim {
    config: Arc<SimConfig>,
    /// Mirrors `faults.foreign_redirect`, readable while the state is locked.
    foreign_redirect: Arc<std::sync::atomic::AtomicBool>,
    /// A copy of the faults that change answers after they are made (see `distort`).
    view: Arc<Mutex<Faults>>,
    base_url: Arc<String>,
    state: Arc<Mutex<SimState>>,
    http: reqwest::Client,
}

impl Sim {
    fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running simulator.
pub struct SimHandle {
    pub url: String,
    pub config: SimConfig,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a simulator on `listener` in the background.
pub fn spawn(listener: tokio::net::TcpListener, config: SimConfig) -> std::io::Result<SimHandle> {
    let addr = listener.local_addr()?;
    let url = config.public_url.clone().unwrap_or_else(|| format!("http://{addr}"));
    let app = router(config.clone(), url.clone());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(SimHandle { url, config, task })
}

/// The simulator's routes, for `patchbay partner-sim` and tests.
pub fn router(config: SimConfig, base_url: String) -> Router {
    crate::install_crypto_provider();
    let sim = Sim {
        config: Arc::new(config),
        foreign_redirect: Arc::default(),
        view: Arc::default(),
        base_url: Arc::new(base_url.trim_end_matches('/').to_owned()),
        state: Arc::default(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default(),
    };
    Router::new()
        .route("/connect", post(connect))
        .route("/delete-connection", post(delete_connection).delete(delete_connection))
        .route("/test-connection", post(test_connection))
        .route("/rotate-token", post(rotate_token))
        .route("/delete-account", axum::routing::delete(delete_account).post(delete_account))
        .route("/expire-account", axum::routing::put(expire_account))
        .route("/", get(page))
        .route("/signin", get(page))
        .route("/trial", get(page))
        .route("/purchase", get(page))
        .route("/contact-admin", get(page))
        .route("/_sim/state", get(sim_state))
        .route("/_sim/faults", post(set_faults))
        .route("/_sim/accounts/{domain}/users", post(add_user))
        .route("/_sim/accounts/{domain}/signup", post(sign_up))
        .route("/_sim/accounts/{domain}/expire", post(expire))
        .route("/_sim/connections/{id}/whoami", get(whoami))
        .route("/oauth/start/{id}", get(u2m_start))
        .route(CALLBACK, get(u2m_callback))
        .route("/_sim/u2m/{session}/check", post(u2m_check))
        .route("/_sim/u2m/callback", post(set_u2m_callback))
        .with_state(sim)
}

/// A partner's error answer, with the status the protocol pairs with its reason.
fn error(reason: ErrorReason, message: &str) -> Response {
    let status = match reason {
        ErrorReason::BadRequest => StatusCode::BAD_REQUEST,
        ErrorReason::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorReason::AccountNotFound | ErrorReason::ConnectionNotFound => StatusCode::NOT_FOUND,
        ErrorReason::GeneralError => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (
        status,
        Json(ErrorResponse {
            error_reason: reason,
            display_message: Some(message.to_owned()),
            debugging_message: None,
        }),
    )
        .into_response()
}

fn authorized(sim: &Sim, headers: &HeaderMap) -> bool {
    let expected = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", sim.config.username, sim.config.password));
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .is_some_and(|v| bool::from(v.trim().as_bytes().ct_eq(expected.as_bytes())))
}

/// A request body as the endpoint's request type, or the 400 a partner answers otherwise.
#[expect(clippy::result_large_err, reason = "the error is the answer, sent at once")]
fn parsed<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, Response> {
    serde_json::from_value(body)
        .map_err(|e| error(ErrorReason::BadRequest, &format!("invalid request: {e}")))
}

/// The answer of an endpoint without a connect's extra faults: `answer`'s for an admitted and
/// parsed request, distorted as the faults say.
async fn answered<T: serde::de::DeserializeOwned>(
    sim: &Sim,
    path: &str,
    headers: &HeaderMap,
    body: Value,
    answer: impl AsyncFnOnce(T) -> Response,
) -> Response {
    let response = match admitted(sim, path, headers, body).await {
        Ok(request) => answer(request).await,
        Err(refused) => refused,
    };
    distort(sim, response, None).await
}

/// [`admit`], then [`parsed`].
async fn admitted<T: serde::de::DeserializeOwned>(
    sim: &Sim,
    path: &str,
    headers: &HeaderMap,
    body: Value,
) -> Result<T, Response> {
    match admit(sim, path, headers, &body).await {
        Some(refused) => Err(refused),
        None => parsed(body),
    }
}

/// Records the call and applies the delay and 401 faults. `Some` is the answer to give now.
async fn admit(sim: &Sim, path: &str, headers: &HeaderMap, body: &Value) -> Option<Response> {
    let mut redacted = body.clone();
    for pointer in ["/user_info/auth", "/auth"] {
        if let Some(auth) = redacted.pointer_mut(pointer) {
            *auth = json!({"personal_access_token": "<redacted>"});
        }
    }
    if let Some(secret) = redacted.pointer_mut("/service_principal_oauth_secret") {
        *secret = json!("<redacted>");
    }
    let faults = {
        let mut state = sim.lock();
        state.received.push(Received {
            path: path.to_owned(),
            user_agent: header_str(headers, "user-agent"),
            idempotency_key: header_str(headers, "idempotency-key"),
            body: redacted,
        });
        state.faults.clone()
    };
    if faults.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.delay_ms)).await;
    }
    if faults.unauthorized || (!authorized(sim, headers) && !faults.accept_any_credentials) {
        return Some(error(ErrorReason::Unauthorized, "Invalid partner credentials."));
    }
    None
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// Signs in with a connection's credential and calls `/Me`: a token directly, an OAuth secret
/// once exchanged for an access token. The principal's `userName`.
async fn who_is_with(
    sim: &Sim,
    workspace_url: &str,
    credential: &Credential,
) -> Result<String, String> {
    match credential {
        Credential::Token(token) => who_is(sim, workspace_url, token).await,
        Credential::OAuth { client_id, secret } => {
            let access = exchange(sim, workspace_url, client_id, secret).await?;
            who_is(sim, workspace_url, &access).await
        }
    }
}

/// The client-credentials grant, as a partner makes it: the token endpoint found through the
/// workspace's discovery documents, the client's credentials by HTTP Basic.
async fn exchange(
    sim: &Sim,
    workspace_url: &str,
    client_id: &str,
    secret: &Secret,
) -> Result<Secret, String> {
    let form = "grant_type=client_credentials&scope=all-apis".to_owned();
    let credentials = Some((client_id, secret));
    let body =
        token_endpoint_post(sim, workspace_url, credentials, form, "the OAuth secret").await?;
    token_field(&body, "access_token")
}

/// Posts a grant's form to the workspace's token endpoint (found through discovery), with the
/// client's credentials by HTTP Basic when it has some: the answer, or why the workspace
/// refused `what`.
async fn token_endpoint_post(
    sim: &Sim,
    workspace_url: &str,
    credentials: Option<(&str, &Secret)>,
    form: String,
    what: &str,
) -> Result<Value, String> {
    let token_endpoint = oidc_endpoints(sim, workspace_url).await?.token;
    let mut request = sim
        .http
        .post(&token_endpoint)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form);
    if let Some((client_id, secret)) = credentials {
        request = request.basic_auth(client_id, Some(&secret.0));
    }
    let response =
        request.send().await.map_err(|e| format!("cannot reach the token endpoint: {e}"))?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        return Err(format!(
            "the workspace refused {what}: HTTP {status} {}",
            body["error"].as_str().unwrap_or_default()
        ));
    }
    Ok(body)
}

/// A token the token endpoint answered.
fn token_field(body: &Value, name: &str) -> Result<Secret, String> {
    body[name]
        .as_str()
        .map(|t| Secret(t.to_owned()))
        .ok_or_else(|| format!("the token endpoint's answer has no {name}"))
}

/// Calls the workspace's `/Me` with a token; the principal's `userName`.
async fn who_is(sim: &Sim, workspace_url: &str, token: &Secret) -> Result<String, String> {
    let url = format!("{}/api/2.0/preview/scim/v2/Me", workspace_url.trim_end_matches('/'));
    let response = sim
        .http
        .get(&url)
        .bearer_auth(&token.0)
        .send()
        .await
        .map_err(|e| format!("cannot reach the workspace: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("the workspace refused the token: HTTP {}", response.status()));
    }
    let me: Value = response.json().await.map_err(|e| e.to_string())?;
    me["userName"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| "the workspace's /Me has no userName".to_owned())
}

fn domain_of(email: &str) -> String {
    email.rsplit_once('@').map_or("", |(_, d)| d).to_ascii_lowercase()
}

fn answer(
    sim: &Sim,
    value: RedirectValue,
    user: UserStatus,
    account: AccountStatus,
    configured: bool,
    connection_id: Option<String>,
) -> Response {
    let page = match value {
        RedirectValue::CreateTrial => "trial",
        RedirectValue::PurchaseProduct => "purchase",
        RedirectValue::ContactAdmin => "contact-admin",
        _ => "signin",
    };
    let foreign = sim.foreign_redirect.load(std::sync::atomic::Ordering::Relaxed);
    let redirect_uri = if foreign {
        "https://elsewhere.invalid/phish".to_owned()
    } else {
        format!("{}/{page}", sim.base_url)
    };
    Json(Connection {
        redirect_uri,
        redirect_value: value,
        connection_id,
        user_status: user,
        account_status: account,
        configured_resources: configured,
        oauth_redirect_uri: None,
    })
    .into_response()
}

async fn connect(State(sim): State<Sim>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let request_id = body.get("connection_id").cloned();
    let established = body
        .pointer("/user_info/is_connection_established")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let u2m = !established && body.get("oauth_u2m_app_id").is_some_and(Value::is_string);
    let response = connect_answer(&sim, &headers, body).await;
    let response = if u2m { with_oauth_redirect(&sim, response).await } else { response };
    distort(&sim, response, Some((established, request_id))).await
}

/// A first connect that made the partner a U2M app: the answer names the simulator's OAuth
/// callback (or a foreign one, or none, as the faults say).
async fn with_oauth_redirect(sim: &Sim, response: Response) -> Response {
    let callback = sim.lock().u2m_callback;
    if !response.status().is_success() || callback == U2mCallback::None {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 8 * 1024 * 1024).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    value["oauth_redirect_uri"] = json!(if callback == U2mCallback::Foreign {
        "https://elsewhere.invalid/oauth/callback".to_owned()
    } else {
        format!("{}{CALLBACK}", sim.base_url)
    });
    let mut parts = parts;
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(value.to_string()))
}

/// Applies the faults that change an answer after it was made. `connect` is whether the answer
/// is `/connect`'s, and if so (is_connection_established, the request's connection_id).
async fn distort(
    sim: &Sim,
    response: Response,
    connect: Option<(bool, Option<Value>)>,
) -> Response {
    let faults = sim.view.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
    let connect_faults = faults.omit_connection_id
        || faults.echo_connection_id
        || faults.bad_enum
        || faults.misreport_new_user;
    if !(faults.no_content_type || faults.bad_error_body || (connect.is_some() && connect_faults)) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 8 * 1024 * 1024).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    };
    if parts.status.is_success()
        && let Some((established, request_id)) = connect
    {
        if faults.omit_connection_id && !established {
            value.as_object_mut().map(|o| o.remove("connection_id"));
        }
        if faults.echo_connection_id && established {
            value["connection_id"] = request_id.unwrap_or(json!("echoed"));
        }
        if faults.bad_enum {
            value["redirect_value"] = json!("teleport");
        }
        if faults.misreport_new_user && established && value["user_status"] != "existing" {
            value["user_status"] = json!("existing");
            value["redirect_value"] = json!("sign_in");
        }
    }
    if faults.bad_error_body && !parts.status.is_success() {
        value = json!({"error": parts.status.as_u16(), "message": "something went wrong"});
    }
    if faults.no_content_type {
        parts.headers.remove(header::CONTENT_TYPE);
    } else {
        parts
            .headers
            .insert(header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(value.to_string()))
}

async fn connect_answer(sim: &Sim, headers: &HeaderMap, body: Value) -> Response {
    let sim = sim.clone();
    if let Some(refused) = admit(&sim, "/connect", headers, &body).await {
        return refused;
    }
    {
        let mut state = sim.lock();
        if state.faults.connect_500 > 0 {
            state.faults.connect_500 -= 1;
            return error(ErrorReason::GeneralError, "Temporary failure at the partner.");
        }
        if state.faults.garbage {
            return (StatusCode::OK, "<html>definitely not json").into_response();
        }
        if state.faults.oversized {
            return (StatusCode::OK, "x".repeat(4 * 1024 * 1024)).into_response();
        }
    }
    let request: ConnectRequest = match parsed(body) {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let email = request.user_info.email.to_ascii_lowercase();
    let domain = domain_of(&email);
    if domain.is_empty() {
        return error(ErrorReason::BadRequest, "user_info.email is not an e-mail address");
    }
    if request.user_info.is_connection_established {
        return sign_in(&sim, &request, &email, &domain);
    }

    // A first connect: the token, or the OAuth secret and its client id, must be there and
    // must work.
    let pat = request.user_info.auth.as_ref().and_then(|a| a.personal_access_token.clone());
    let token = match (pat, &request.service_principal_oauth_secret) {
        (Some(_), Some(_)) => {
            return error(
                ErrorReason::BadRequest,
                "a connect carries a personal access token or an OAuth secret, not both",
            );
        }
        (Some(token), None) => Some(Credential::Token(token)),
        (None, Some(secret)) => match &request.service_principal_id {
            Some(client_id) => {
                Some(Credential::OAuth { client_id: client_id.clone(), secret: secret.clone() })
            }
            None => {
                return error(
                    ErrorReason::BadRequest,
                    "service_principal_oauth_secret needs service_principal_id, its client id",
                );
            }
        },
        (None, None) if request.oauth_u2m_app_id.is_some() => None,
        (None, None) => {
            return error(
                ErrorReason::BadRequest,
                "a first connect must carry user_info.auth.personal_access_token, service_principal_oauth_secret or oauth_u2m_app_id",
            );
        }
    };
    if sim.config.verify_tokens
        && let Some(token) = &token
    {
        match who_is_with(&sim, &request.workspace_url, token).await {
            Ok(user_name) => {
                if let Some(sp) = &request.service_principal_id
                    && !user_name.eq_ignore_ascii_case(sp)
                {
                    return error(
                        ErrorReason::BadRequest,
                        &format!("the token belongs to {user_name}, not to service principal {sp}"),
                    );
                }
            }
            Err(e) => return error(ErrorReason::BadRequest, &e),
        }
    }
    let mut state = sim.lock();
    let expired = sim.config.expired_domains.iter().any(|d| d.eq_ignore_ascii_case(&domain))
        || state.accounts.get(&domain).is_some_and(|a| a.expired);
    if expired {
        return answer(
            &sim,
            RedirectValue::PurchaseProduct,
            UserStatus::Existing,
            AccountStatus::Expired,
            false,
            None,
        );
    }
    if state.faults.refuse_resources {
        return answer(
            &sim,
            RedirectValue::NotApplicable,
            UserStatus::New,
            AccountStatus::New,
            false,
            None,
        );
    }
    let demo = request.demo && !state.faults.ignore_demo;
    let (account_status, user_status) = match state.accounts.get_mut(&domain) {
        Some(account) if !demo => {
            let known = account.users.contains(&email);
            account.users.insert(email.clone());
            (AccountStatus::Active, if known { UserStatus::Existing } else { UserStatus::New })
        }
        _ => {
            state.accounts.insert(
                domain.clone(),
                Account {
                    administrator: email.clone(),
                    users: BTreeSet::from([email.clone()]),
                    delegates: BTreeSet::new(),
                    signed_up: BTreeSet::from([email.clone()]),
                    expired: false,
                },
            );
            (AccountStatus::New, UserStatus::New)
        }
    };
    let id = uuid::Uuid::new_v4().to_string();
    let plan = workload::plan(
        sim.config.workload,
        sim.config.probe_table.as_deref(),
        &request,
        token.as_ref(),
        &id,
    );
    let (workload_run, run_with) = match plan {
        Ok((plan, credential)) => (WorkloadRun::starting(&plan), Some((plan, credential))),
        Err(why) => (WorkloadRun::not_run(why), None),
    };
    state.connections.insert(
        id.clone(),
        SimConnection {
            workspace_id: request.workspace_id,
            workspace_url: request.workspace_url.clone(),
            domain,
            token,
            workload: workload_run,
            request: ConnectRequest {
                user_info: crate::protocol::UserInfo { auth: None, ..request.user_info.clone() },
                service_principal_oauth_secret: None,
                ..request.clone()
            },
        },
    );
    drop(state);
    // In the background, as a partner starts its first sync once the connection is made.
    if let Some((plan, credential)) = run_with {
        tokio::spawn(workload::run(sim.clone(), id.clone(), plan, credential));
    }
    let value = if account_status == AccountStatus::New {
        RedirectValue::CreateTrial
    } else {
        RedirectValue::SignIn
    };
    answer(&sim, value, user_status, account_status, true, Some(id))
}

fn sign_in(sim: &Sim, request: &ConnectRequest, email: &str, domain: &str) -> Response {
    let mut state = sim.lock();
    let known = request.connection_id.as_ref().and_then(|id| state.connections.get(id)).is_some();
    if !known {
        return error(
            ErrorReason::ConnectionNotFound,
            "This connection was deleted at the partner. Delete it in the workspace and connect again.",
        );
    }
    let Some(account) = state.accounts.get_mut(domain) else {
        return error(ErrorReason::AccountNotFound, "Your organization has no account here.");
    };
    if account.expired || sim.config.expired_domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
    {
        return answer(
            sim,
            RedirectValue::PurchaseProduct,
            UserStatus::Existing,
            AccountStatus::Expired,
            false,
            None,
        );
    }
    if sim.config.require_manual_signup && !account.signed_up.contains(email) {
        return error(ErrorReason::AccountNotFound, "Sign up at the partner first.");
    }
    if account.users.contains(email) {
        drop(state);
        return answer(
            sim,
            RedirectValue::SignIn,
            UserStatus::Existing,
            AccountStatus::Active,
            false,
            None,
        );
    }
    match sim.config.new_user_action {
        NewUserAction::AutoAdd => {
            account.users.insert(email.to_owned());
            drop(state);
            answer(sim, RedirectValue::SignIn, UserStatus::New, AccountStatus::Active, false, None)
        }
        NewUserAction::Invite => {
            drop(state);
            answer(
                sim,
                RedirectValue::ContactAdmin,
                UserStatus::NotApplicable,
                AccountStatus::Active,
                false,
                None,
            )
        }
        NewUserAction::NotFound => error(
            ErrorReason::AccountNotFound,
            "Ask your partner account administrator to add you.",
        ),
        NewUserAction::Error => {
            error(ErrorReason::GeneralError, "New users cannot sign in right now.")
        }
    }
}

async fn delete_connection(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    answered(&sim, "/delete-connection", &headers, body, async |request| {
        delete_connection_answer(&sim, &request)
    })
    .await
}

fn delete_connection_answer(sim: &Sim, request: &DeleteConnectionRequest) -> Response {
    let mut state = sim.lock();
    if state.faults.delete_500 > 0 {
        state.faults.delete_500 -= 1;
        return error(ErrorReason::GeneralError, "Temporary failure at the partner.");
    }
    match state.connections.get(&request.connection_id) {
        Some(c) if c.workspace_id == request.databricks_organization_id => {
            state.connections.remove(&request.connection_id);
            Json(DeleteConnectionResponse { resource_status: ResourceStatus::DeletionAcknowledged })
                .into_response()
        }
        _ => error(ErrorReason::ConnectionNotFound, "No such connection."),
    }
}

async fn test_connection(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    answered(&sim, "/test-connection", &headers, body, async |info| {
        test_connection_answer(&sim, info).await
    })
    .await
}

async fn test_connection_answer(sim: &Sim, info: ConnectionInfo) -> Response {
    let found = sim.lock().connections.get(&info.connection_id).cloned();
    let Some(connection) = found else {
        return error(ErrorReason::ConnectionNotFound, "No such connection.");
    };
    let ignore_token = sim.lock().faults.ignore_token;
    let result = match &connection.token {
        Some(_) if ignore_token => Ok("nobody (the token was not tried)".into()),
        Some(token) => who_is_with(sim, &connection.workspace_url, token).await,
        None => Err("no token".into()),
    };
    let (status, message) = match result {
        Ok(user) => (TestStatus::Pass, Some(format!("authenticated as {user}"))),
        Err(e) => (TestStatus::Fail, Some(e)),
    };
    Json(ConnectionTestResult {
        test_results: vec![TestResult { test_name: "workspace_token".into(), status, message }],
    })
    .into_response()
}

async fn rotate_token(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let request: RotateTokenRequest = match admitted(&sim, "/rotate-token", &headers, body).await {
        Ok(r) => r,
        Err(refused) => return refused,
    };
    let (workspace_url, client_id) = match sim.lock().connections.get(&request.connection_id) {
        Some(c) => (c.workspace_url.clone(), c.request.service_principal_id.clone()),
        None => {
            return error(ErrorReason::ConnectionNotFound, "No such connection.");
        }
    };
    let token = match (
        request.auth.personal_access_token,
        request.service_principal_oauth_secret,
        client_id,
    ) {
        (Some(token), None, _) => Credential::Token(token),
        (None, Some(secret), Some(client_id)) => Credential::OAuth { client_id, secret },
        _ => {
            return error(
                ErrorReason::BadRequest,
                "auth.personal_access_token, or service_principal_oauth_secret for a connection with a service principal, is required",
            );
        }
    };
    if sim.config.verify_tokens
        && let Err(e) = who_is_with(&sim, &workspace_url, &token).await
    {
        return error(ErrorReason::BadRequest, &e);
    }
    if let Some(c) = sim.lock().connections.get_mut(&request.connection_id) {
        c.token = Some(token);
    }
    Json(json!({"status": "rotated"})).into_response()
}

/// Where the workspace's redirects land, and `/`: the connections partner-sim holds and what
/// its workload did with each.
async fn page(State(sim): State<Sim>) -> Html<String> {
    let mut out = String::from(
        "<!doctype html><meta charset=\"utf-8\"><title>partner-sim</title>\n\
         <p>partner-sim: you are at the partner.</p>\n<h2>Connections</h2>\n",
    );
    let state = sim.lock();
    if state.connections.is_empty() {
        out.push_str("<p>none yet</p>\n");
    }
    for (id, c) in &state.connections {
        out.push_str(&format!(
            "<h3>connection <code>{}</code></h3>\n<p>workspace {} at <code>{}</code>, account {}</p>\n",
            escape(id),
            c.workspace_id,
            escape(&c.workspace_url),
            escape(&c.domain)
        ));
        out.push_str(&workload::html(&c.workload));
    }
    Html(out)
}

async fn sim_state(State(sim): State<Sim>) -> Json<Value> {
    let state = sim.lock();
    let connections: Vec<Value> = state
        .connections
        .iter()
        .map(|(id, c)| {
            json!({"connection_id": id, "workspace_id": c.workspace_id, "domain": c.domain,
                   "has_token": c.token.is_some(), "request": c.request,
                   "workload": c.workload})
        })
        .collect();
    Json(json!({"accounts": state.accounts, "connections": connections,
                "faults": state.faults, "received": state.received}))
}

async fn set_faults(State(sim): State<Sim>, Json(faults): Json<Faults>) -> Json<Faults> {
    sim.foreign_redirect.store(faults.foreign_redirect, std::sync::atomic::Ordering::Relaxed);
    *sim.view.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = faults.clone();
    sim.lock().faults = faults.clone();
    Json(faults)
}

#[derive(Deserialize)]
struct AddUser {
    /// Who adds: the account administrator or a delegate.
    by: String,
    email: String,
    #[serde(default)]
    delegate: bool,
}

async fn add_user(
    State(sim): State<Sim>,
    Path(domain): Path<String>,
    Json(req): Json<AddUser>,
) -> Response {
    let mut state = sim.lock();
    let Some(account) = state.accounts.get_mut(&domain.to_ascii_lowercase()) else {
        return (StatusCode::NOT_FOUND, "no such account").into_response();
    };
    let by = req.by.to_ascii_lowercase();
    if account.administrator != by && !account.delegates.contains(&by) {
        return (StatusCode::FORBIDDEN, "only the account administrator or a delegate adds users")
            .into_response();
    }
    if req.delegate && account.administrator != by {
        return (StatusCode::FORBIDDEN, "only the account administrator delegates").into_response();
    }
    let email = req.email.to_ascii_lowercase();
    account.users.insert(email.clone());
    account.signed_up.insert(email.clone());
    if req.delegate {
        account.delegates.insert(email);
    }
    Json(json!({"ok": true})).into_response()
}

async fn sign_up(
    State(sim): State<Sim>,
    Path(domain): Path<String>,
    Json(req): Json<Value>,
) -> Response {
    let email = req["email"].as_str().unwrap_or_default().to_ascii_lowercase();
    match sim.lock().accounts.get_mut(&domain.to_ascii_lowercase()) {
        Some(account) => {
            account.signed_up.insert(email);
            Json(json!({"ok": true})).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such account").into_response(),
    }
}

async fn expire(State(sim): State<Sim>, Path(domain): Path<String>) -> Response {
    match sim.lock().accounts.get_mut(&domain.to_ascii_lowercase()) {
        Some(account) => {
            account.expired = true;
            Json(json!({"ok": true})).into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such account").into_response(),
    }
}

/// The protocol's test-only endpoints take accounts of these domains only.
const TEST_DOMAINS: [&str; 2] = ["databricks-test.com", "databricks-demo.com"];

/// The account a test-only call names, by `email` or `domain`; why not, when it names none or
/// one outside the test domains (a 400).
fn test_account(body: &Value) -> Result<String, &'static str> {
    let domain = body["domain"]
        .as_str()
        .map(str::to_ascii_lowercase)
        .or_else(|| body["email"].as_str().map(domain_of))
        .unwrap_or_default();
    if domain.is_empty() {
        return Err("name the account by email or domain");
    }
    if !TEST_DOMAINS.contains(&domain.as_str()) {
        return Err("only accounts of the test domains can be deleted or expired");
    }
    Ok(domain)
}

/// A test-only account endpoint: admits the call, then applies `change` to the account of its
/// test domain. `{}`, or 404 when `change` found no such account.
async fn change_test_account(
    sim: &Sim,
    path: &str,
    headers: &HeaderMap,
    body: &Value,
    change: impl FnOnce(&mut SimState, &str) -> bool,
) -> Response {
    let response = if let Some(refused) = admit(sim, path, headers, body).await {
        refused
    } else {
        match test_account(body) {
            Err(why) => error(ErrorReason::BadRequest, why),
            Ok(domain) if change(&mut sim.lock(), &domain) => Json(json!({})).into_response(),
            Ok(_) => error(ErrorReason::AccountNotFound, "No such account."),
        }
    };
    distort(sim, response, None).await
}

/// `DELETE /delete-account` (test only): removes the account and its connections.
async fn delete_account(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    change_test_account(&sim, "/delete-account", &headers, &body, |state, domain| {
        state.connections.retain(|_, c| c.domain != domain);
        state.accounts.remove(domain).is_some()
    })
    .await
}

/// `PUT /expire-account` (test only): the account's trial has ended.
async fn expire_account(
    State(sim): State<Sim>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    change_test_account(&sim, "/expire-account", &headers, &body, |state, domain| {
        let account = state.accounts.get_mut(domain);
        account.map(|a| a.expired = true).is_some()
    })
    .await
}

async fn whoami(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    let found = sim.lock().connections.get(&id).cloned();
    let Some(connection) = found else {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "no such connection"})))
            .into_response();
    };
    let Some(token) = connection.token else {
        return (StatusCode::CONFLICT, Json(json!({"error": "no token"}))).into_response();
    };
    match who_is_with(&sim, &connection.workspace_url, &token).await {
        Ok(user_name) => Json(json!({"userName": user_name})).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, Json(json!({"error": e}))).into_response(),
    }
}

/// Starts a user's U2M sign-in for connection `id`, as a partner's "Sign in with Databricks"
/// button does: PKCE and a `state` remembered here, then off to the workspace's authorization
/// endpoint (found through discovery) with the connection's app.
async fn u2m_start(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    let found = sim
        .lock()
        .connections
        .get(&id)
        .map(|c| (c.workspace_url.clone(), c.request.oauth_u2m_app_id.clone()));
    let Some((workspace_url, Some(client_id))) = found else {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "no connection with a U2M app"})))
            .into_response();
    };
    let endpoints = match oidc_endpoints(&sim, &workspace_url).await {
        Ok(e) => e,
        Err(e) => return (StatusCode::BAD_GATEWAY, Json(json!({"error": e}))).into_response(),
    };
    let verifier = random_b64();
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(<sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()));
    let state_param = random_b64();
    let url = format!(
        "{}?{}",
        endpoints.authorize,
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &client_id)
            .append_pair("redirect_uri", &format!("{}{CALLBACK}", sim.base_url))
            .append_pair("scope", "all-apis offline_access")
            .append_pair("state", &state_param)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .finish()
    );
    sim.lock().u2m_pending.insert(state_param, U2mPending { workspace_url, client_id, verifier });
    (StatusCode::FOUND, [(header::LOCATION, url)]).into_response()
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The OAuth callback: exchanges the code (with the verifier of its `state`) at the token
/// endpoint, checks who the tokens act as with `/Me`, and keeps them. Answers the session id
/// and the user's name, never a token.
async fn u2m_callback(
    State(sim): State<Sim>,
    axum::extract::Query(query): axum::extract::Query<CallbackQuery>,
) -> Response {
    let refused = |message: String| {
        (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response()
    };
    if let Some(e) = query.error {
        return refused(format!("the workspace refused the sign-in: {e}"));
    }
    let pending = query.state.as_ref().and_then(|s| sim.lock().u2m_pending.remove(s));
    let (Some(pending), Some(code)) = (pending, query.code) else {
        return refused("unknown state, or no code".into());
    };
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "authorization_code")
        .append_pair("client_id", &pending.client_id)
        .append_pair("redirect_uri", &format!("{}{CALLBACK}", sim.base_url))
        .append_pair("code", &code)
        .append_pair("code_verifier", &pending.verifier)
        .finish();
    let (access, refresh) = match token_grant(&sim, &pending.workspace_url, form).await {
        Ok(tokens) => tokens,
        Err(e) => return refused(e),
    };
    let user_name = match who_is(&sim, &pending.workspace_url, &access).await {
        Ok(name) => name,
        Err(e) => return refused(e),
    };
    let session = uuid::Uuid::new_v4().to_string();
    sim.lock().u2m_sessions.insert(
        session.clone(),
        U2mSession {
            workspace_url: pending.workspace_url,
            client_id: pending.client_id,
            access,
            refresh,
        },
    );
    Json(json!({"session": session, "user_name": user_name})).into_response()
}

/// Uses a U2M session as the partner would: its access token on `/Me`, then its refresh
/// token for a new pair (kept on success). Each result is the user's name or why not.
async fn u2m_check(State(sim): State<Sim>, Path(session): Path<String>) -> Response {
    let Some(held) = sim.lock().u2m_sessions.get(&session).cloned() else {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "no such session"}))).into_response();
    };
    let result = |r: Result<String, String>| match r {
        Ok(user_name) => json!({"ok": true, "user_name": user_name}),
        Err(e) => json!({"ok": false, "error": e}),
    };
    let access = who_is(&sim, &held.workspace_url, &held.access).await;
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "refresh_token")
        .append_pair("client_id", &held.client_id)
        .append_pair("refresh_token", &held.refresh.0)
        .finish();
    let refresh = match token_grant(&sim, &held.workspace_url, form).await {
        Ok((access, refresh)) => {
            let user = who_is(&sim, &held.workspace_url, &access).await;
            if let Some(s) = sim.lock().u2m_sessions.get_mut(&session) {
                s.access = access;
                s.refresh = refresh;
            }
            user
        }
        Err(e) => Err(e),
    };
    Json(json!({"access": result(access), "refresh": result(refresh)})).into_response()
}

/// The workspace's OAuth endpoints, from its discovery documents.
struct OidcEndpoints {
    authorize: String,
    token: String,
}

async fn oidc_endpoints(sim: &Sim, workspace_url: &str) -> Result<OidcEndpoints, String> {
    let base = workspace_url.trim_end_matches('/');
    let get_json = async |url: String| -> Result<Value, String> {
        let response = sim
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| format!("cannot reach the workspace: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url}: HTTP {}", response.status()));
        }
        response.json::<Value>().await.map_err(|e| e.to_string())
    };
    let config = get_json(format!("{base}/.well-known/databricks-config")).await?;
    let oidc = config["oidc_endpoint"]
        .as_str()
        .ok_or("the workspace names no oidc_endpoint")?
        .trim_end_matches('/')
        .to_owned();
    let discovery = get_json(format!("{oidc}/.well-known/oauth-authorization-server")).await?;
    let field = |name: &str| {
        discovery[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("the discovery document names no {name}"))
    };
    Ok(OidcEndpoints {
        authorize: field("authorization_endpoint")?,
        token: field("token_endpoint")?,
    })
}

/// A user grant at the token endpoint (a code or a refresh token, as a public client): the
/// access and refresh tokens.
async fn token_grant(
    sim: &Sim,
    workspace_url: &str,
    form: String,
) -> Result<(Secret, Secret), String> {
    let body = token_endpoint_post(sim, workspace_url, None, form, "the grant").await?;
    Ok((token_field(&body, "access_token")?, token_field(&body, "refresh_token")?))
}

/// 32 random bytes, base64url without padding (a PKCE verifier, a `state`).
fn random_b64() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[derive(Debug, Deserialize)]
struct CallbackSetting {
    callback: U2mCallback,
}

/// Sets what U2M first connects answer as their callback, for tests of the workspace's rules.
async fn set_u2m_callback(
    State(sim): State<Sim>,
    Json(setting): Json<CallbackSetting>,
) -> Json<Value> {
    sim.lock().u2m_callback = setting.callback;
    Json(json!({"callback": setting.callback}))
}
