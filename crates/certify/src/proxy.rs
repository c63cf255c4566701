//! The recording proxy: patchbay calls the partner through it, so certify sees every exchange
//! exactly as it went over the wire. It can also answer a call itself (a 500, to see that
//! patchbay retries) and mark a connect as a demo. Token values and Basic credentials are
//! recorded redacted; the token a partner received is kept in memory only, for the token check.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What goes in place of a secret in anything certify records.
pub const REDACTED: &str = "<redacted>";

/// The largest partner answer the proxy passes on (patchbay applies its own, smaller cap).
const MAX_FORWARD_BYTES: usize = 16 * 1024 * 1024;
/// What an exchange says while the partner has not answered yet.
pub const PENDING: &str =
    "no answer yet: patchbay stopped waiting (its timeout) before the partner answered";
/// How much of a body a report shows.
const MAX_SHOWN_BYTES: usize = 2048;

/// One request patchbay (or certify) sent the partner, and what came back.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    /// Position in the run, from 1.
    pub seq: usize,
    pub method: String,
    pub path: String,
    /// Selected request headers; `Authorization` shows only its scheme.
    pub request_headers: Vec<(String, String)>,
    /// The request body as the partner received it, tokens redacted.
    pub request_body: Value,
    /// Answered by the proxy itself (an injected fault), not by the partner.
    pub injected: bool,
    pub status: Option<u16>,
    pub content_type: Option<String>,
    /// The answer's body, parsed when it is JSON (tokens redacted).
    #[serde(skip)]
    pub response_json: Option<Value>,
    /// The start of the answer's body as text, for reports.
    pub response_text: String,
    pub response_bytes: usize,
    /// The partner could not be reached or broke off.
    pub error: Option<String>,
    pub millis: u128,
    /// When it started, relative to the proxy's start (for retry spacing).
    #[serde(skip)]
    pub started: Duration,
}

impl Exchange {
    /// The request's `user_info.is_connection_established`, for `/connect` calls.
    pub fn established(&self) -> Option<bool> {
        self.request_body.pointer("/user_info/is_connection_established").and_then(Value::as_bool)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.request_headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// One line: `POST /connect → 200`.
    pub fn summary(&self) -> String {
        let outcome = match (self.status, &self.error) {
            (Some(s), _) => s.to_string(),
            (None, Some(e)) => format!("no answer ({e})"),
            (None, None) => "no answer".into(),
        };
        let injected = if self.injected { " [answered by certify]" } else { "" };
        format!("#{} {} {} → {outcome}{injected}", self.seq, self.method, self.path)
    }
}

#[derive(Default)]
struct Recorded {
    exchanges: Vec<Exchange>,
    /// (exchange seq, token) for first connects; never serialized.
    tokens: Vec<(usize, String)>,
    /// Secrets to scrub from anything recorded.
    secrets: Vec<String>,
}

struct Inner {
    partner_origin: String,
    connect_path: String,
    http: reqwest::Client,
    recorded: Mutex<Recorded>,
    /// Answer this many `/connect` calls with a 500 before forwarding.
    inject_500: AtomicU32,
    /// Mark forwarded `/connect` calls as `demo: true`.
    demo: AtomicBool,
    started: Instant,
}

/// A running proxy; cheap to clone.
#[derive(Clone)]
pub struct Proxy {
    pub url: String,
    inner: Arc<Inner>,
}

impl Proxy {
    /// Starts a proxy on 127.0.0.1 forwarding to `partner_origin` (`scheme://host:port`).
    pub async fn start(
        partner_origin: &str,
        connect_path: &str,
        timeout: Duration,
    ) -> std::io::Result<(Proxy, tokio::task::JoinHandle<()>)> {
        patchbay_partner::install_crypto_provider();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .map_err(std::io::Error::other)?;
        let inner = Arc::new(Inner {
            partner_origin: partner_origin.trim_end_matches('/').to_owned(),
            connect_path: connect_path.to_owned(),
            http,
            recorded: Mutex::default(),
            inject_500: AtomicU32::new(0),
            demo: AtomicBool::new(false),
            started: Instant::now(),
        });
        let app = Router::new().fallback(forward).with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok((Proxy { url, inner }, task))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.inner.recorded.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A secret (the partner password) that must never appear in a recorded exchange.
    pub fn add_secret(&self, secret: &str) {
        if !secret.is_empty() {
            self.lock().secrets.push(secret.to_owned());
        }
    }

    /// How many exchanges were recorded so far; a mark for [`Proxy::since`].
    pub fn mark(&self) -> usize {
        self.lock().exchanges.len()
    }

    /// The exchanges recorded after `mark`.
    pub fn since(&self, mark: usize) -> Vec<Exchange> {
        self.lock().exchanges.get(mark..).unwrap_or_default().to_vec()
    }

    /// The token carried by a recorded first connect (memory only).
    pub fn token_of(&self, seq: usize) -> Option<String> {
        self.lock().tokens.iter().find(|(s, _)| *s == seq).map(|(_, t)| t.clone())
    }

    /// Every secret seen so far, to scrub reports with.
    pub fn secrets(&self) -> Vec<String> {
        let r = self.lock();
        r.secrets.iter().cloned().chain(r.tokens.iter().map(|(_, t)| t.clone())).collect()
    }

    pub fn inject_connect_500(&self, count: u32) {
        self.inner.inject_500.store(count, Ordering::SeqCst);
    }

    pub fn set_demo(&self, demo: bool) {
        self.inner.demo.store(demo, Ordering::SeqCst);
    }

    /// Sends a request to the partner through the proxy (so it is recorded), as certify itself:
    /// the protocol's test-only endpoints.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        username: &str,
        password: &str,
        body: &Value,
    ) -> Result<(u16, Value), String> {
        let response = self
            .inner
            .http
            .request(method, format!("{}{path}", self.url))
            .basic_auth(username, Some(password))
            .header(header::USER_AGENT, "databricks")
            .json(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }
}

fn scrub(text: &str, secrets: &[String]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 4)
        .fold(text.to_owned(), |t, s| t.replace(s.as_str(), REDACTED))
}

fn scrub_json(value: &mut Value, secrets: &[String]) {
    match value {
        Value::String(s) if secrets.iter().any(|x| x.len() >= 4 && s.contains(x.as_str())) => {
            *s = scrub(s, secrets);
        }
        Value::Array(items) => items.iter_mut().for_each(|v| scrub_json(v, secrets)),
        Value::Object(map) => map.values_mut().for_each(|v| scrub_json(v, secrets)),
        _ => {}
    }
}

fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_SHOWN_BYTES)]).into_owned();
    if bytes.len() > MAX_SHOWN_BYTES {
        format!("{text}… ({} bytes in all)", bytes.len())
    } else {
        text
    }
}

async fn forward(State(inner): State<Arc<Inner>>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 4 * 1024 * 1024).await.unwrap_or_default();
    // Finish the exchange even if patchbay stops waiting (a timeout), so it is recorded.
    let task = tokio::spawn(exchange(inner, parts.method, parts.uri, parts.headers, body));
    task.await.unwrap_or_else(|_| (StatusCode::BAD_GATEWAY, "certify proxy failed").into_response())
}

async fn exchange(
    inner: Arc<Inner>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    mut body: Bytes,
) -> Response {
    let started = inner.started.elapsed();
    let clock = Instant::now();
    let path =
        uri.path_and_query().map_or_else(|| uri.path().to_owned(), |p| p.as_str().to_owned());
    let is_connect = uri.path() == inner.connect_path;
    let mut request_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if is_connect && inner.demo.load(Ordering::SeqCst) && request_json.is_object() {
        request_json["demo"] = json!(true);
        body = Bytes::from(request_json.to_string());
    }
    // The token, kept apart; the recorded body shows it redacted.
    let mut token = None;
    for pointer in [
        "/user_info/auth/personal_access_token",
        "/auth/personal_access_token",
        "/service_principal_oauth_secret",
    ] {
        if let Some(v) = request_json.pointer_mut(pointer)
            && let Some(t) = v.as_str()
        {
            token = Some(t.to_owned());
            *v = json!(REDACTED);
        }
    }
    let mut request_headers = Vec::new();
    for name in
        ["authorization", "user-agent", "content-type", "accept-language", "idempotency-key"]
    {
        if let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) {
            let shown = if name == "authorization" {
                format!("{} {REDACTED}", v.split_whitespace().next().unwrap_or_default())
            } else {
                v.to_owned()
            };
            request_headers.push((name.to_owned(), shown));
        }
    }
    // Recorded at once, so a call patchbay gives up on still shows, as unanswered.
    let seq = {
        let mut recorded = inner.recorded.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let seq = recorded.exchanges.len() + 1;
        if let Some(t) = &token {
            recorded.tokens.push((seq, t.clone()));
        }
        recorded.exchanges.push(Exchange {
            seq,
            method: method.to_string(),
            path: path.clone(),
            request_headers: request_headers.clone(),
            request_body: request_json.clone(),
            injected: false,
            status: None,
            content_type: None,
            response_json: None,
            response_text: String::new(),
            response_bytes: 0,
            error: Some(PENDING.into()),
            millis: 0,
            started,
        });
        seq
    };
    let injected = is_connect
        && inner
            .inject_500
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    let (response, status, content_type, bytes, error) = if injected {
        let answer = json!({"error_reason": "general_error",
            "display_message": "certify injected this 500 to see patchbay retry"});
        let bytes = answer.to_string().into_bytes();
        (
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "application/json")],
                bytes.clone(),
            )
                .into_response(),
            Some(500),
            Some("application/json".to_owned()),
            bytes,
            None,
        )
    } else {
        send(&inner, method.clone(), &path, &headers, body).await
    };
    let millis = clock.elapsed().as_millis();
    let mut recorded = inner.recorded.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut secrets = recorded.secrets.clone();
    secrets.extend(token.iter().cloned());
    secrets.extend(recorded.tokens.iter().map(|(_, t)| t.clone()));
    let mut response_json: Option<Value> = serde_json::from_slice(&bytes).ok();
    if let Some(v) = response_json.as_mut() {
        scrub_json(v, &secrets);
    }
    scrub_json(&mut request_json, &secrets);
    let done = Exchange {
        seq,
        method: method.to_string(),
        path,
        request_headers,
        request_body: request_json,
        injected,
        status,
        content_type,
        response_json,
        response_text: scrub(&shown(&bytes), &secrets),
        response_bytes: bytes.len(),
        error: error.map(|e| scrub(&e, &secrets)),
        millis,
        started,
    };
    if let Some(slot) = recorded.exchanges.get_mut(seq - 1) {
        *slot = done;
    }
    response
}

type Sent = (Response, Option<u16>, Option<String>, Vec<u8>, Option<String>);

async fn send(inner: &Inner, method: Method, path: &str, headers: &HeaderMap, body: Bytes) -> Sent {
    let mut request =
        inner.http.request(method, format!("{}{path}", inner.partner_origin)).body(body);
    for name in
        [header::AUTHORIZATION, header::USER_AGENT, header::CONTENT_TYPE, header::ACCEPT_LANGUAGE]
    {
        if let Some(v) = headers.get(&name) {
            request = request.header(name, v.clone());
        }
    }
    if let Some(v) = headers.get("idempotency-key") {
        request = request.header("idempotency-key", v.clone());
    }
    let failed = |e: String| -> Sent {
        (
            (StatusCode::BAD_GATEWAY, "the partner did not answer").into_response(),
            None,
            None,
            Vec::new(),
            Some(e),
        )
    };
    let mut response = match request.send().await {
        Ok(r) => r,
        Err(e) => return failed(describe(&e)),
    };
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > MAX_FORWARD_BYTES {
                    return failed(format!("the answer exceeded {MAX_FORWARD_BYTES} bytes"));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return failed(describe(&e)),
        }
    }
    let mut out = Response::builder().status(status);
    if let Some(ct) = &content_type {
        out = out.header(header::CONTENT_TYPE, ct);
    }
    let out = out
        .body(Body::from(bytes.clone()))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response());
    (out, Some(status.as_u16()), content_type, bytes, None)
}

fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    match std::error::Error::source(e) {
        Some(source) => format!("{kind}: {source}"),
        None => kind.to_owned(),
    }
}
