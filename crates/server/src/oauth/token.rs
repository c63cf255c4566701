//! `POST /oidc/v1/token`: the `client_credentials` grant. The client authenticates with HTTP
//! Basic (`client_id:client_secret`, what the SDKs send) or with both in the form; the answer
//! is a one-hour opaque access token, stored by digest, that authenticates like a PAT.
//!
//! Errors are OAuth's (RFC 6749 §5.2), in JSON: `invalid_request`, `invalid_client` (401),
//! `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`. Failed client
//! authentications are limited per client id ([`ClientFailures`]).

use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use patchbay_core::oauth::scope_allowed;
use patchbay_core::token::{TokenKind, TokenValue};
use patchbay_store::GrantError;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// An OAuth error response.
#[derive(Debug)]
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    retry_after: Option<u64>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
            retry_after: None,
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn invalid_client() -> Self {
        OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed.",
        )
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            axum::Json(json!({"error": self.error, "error_description": self.description})),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"oidc\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

pub(super) async fn workspace_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    grant(&state, &headers, &body, None).await
}

pub(super) async fn account_token(
    State(state): State<AppState>,
    Path(account_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    grant(&state, &headers, &body, Some(&account_id)).await
}

/// A token request, parsed: who the client says it is and what it presented.
struct TokenRequest {
    client_id: String,
    client_secret: String,
    scope: Option<String>,
}

async fn grant(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    account_id: Option<&str>,
) -> Response {
    let request = match parse(headers, body) {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    let failures = state.client_failures();
    if let Some(wait) = failures.blocked(&request.client_id) {
        return OAuthError {
            retry_after: Some(wait.as_secs().max(1)),
            ..OAuthError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "slow_down",
                "Too many failed authentications for this client; retry later.",
            )
        }
        .into_response();
    }
    if !scope_allowed(request.scope.as_deref()) {
        return OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "Only the scope all-apis is granted.",
        )
        .into_response();
    }
    let Some(secret) = TokenValue::parse(&request.client_secret)
        .filter(|secret| secret.kind() == TokenKind::OAuthSecret)
    else {
        failures.record(&request.client_id);
        return OAuthError::invalid_client().into_response();
    };
    match state
        .store
        .grant_client_credentials(&request.client_id, &secret, account_id)
        .await
    {
        Ok(granted) => {
            tracing::info!(principal_id = granted.principal_id, "access token granted");
            let mut response = axum::Json(json!({
                "access_token": granted.access_token.expose(),
                "token_type": "Bearer",
                "expires_in": granted.expires_in,
                "scope": granted.scope,
            }))
            .into_response();
            let headers = response.headers_mut();
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(GrantError::InvalidClient) => {
            failures.record(&request.client_id);
            tracing::info!("client authentication failed at the token endpoint");
            OAuthError::invalid_client().into_response()
        }
        Err(GrantError::Unauthorized) => OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "The service principal does not have the workspace-access entitlement.",
        )
        .into_response(),
        Err(GrantError::Store(e)) => crate::error::ApiError::from(e).into_response(),
    }
}

/// Reads the form and the client's credentials. A parameter given twice, or the client's
/// credentials given both ways, is an `invalid_request`, as RFC 6749 says.
fn parse(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, OAuthError> {
    let mut form: HashMap<String, String> = HashMap::new();
    for (key, value) in form_urlencoded::parse(body) {
        if form.insert(key.to_string(), value.into_owned()).is_some() {
            return Err(OAuthError::invalid_request(format!(
                "The parameter {key} is given more than once."
            )));
        }
    }
    match form.get("grant_type").map(String::as_str) {
        None => {
            return Err(OAuthError::invalid_request(
                "The parameter grant_type is missing.",
            ));
        }
        Some("client_credentials") => {}
        Some(_) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only the client_credentials grant is supported.",
            ));
        }
    }
    let basic = basic_credentials(headers)?;
    let in_form = (form.remove("client_id"), form.remove("client_secret"));
    let (client_id, client_secret) = match (basic, in_form) {
        // Some clients repeat the client id in the form: that is the same client.
        (Some((id, secret)), (form_id, None)) if form_id.as_ref().is_none_or(|f| *f == id) => {
            (id, secret)
        }
        (Some(_), _) => {
            return Err(OAuthError::invalid_request(
                "Send the client's credentials in the Authorization header or in the form, not both.",
            ));
        }
        (None, (Some(id), Some(secret))) => (id, secret),
        (None, _) => return Err(OAuthError::invalid_client()),
    };
    if client_id.is_empty() || client_id.len() > 256 {
        return Err(OAuthError::invalid_client());
    }
    Ok(TokenRequest {
        client_id,
        client_secret,
        scope: form.remove("scope"),
    })
}

/// `Authorization: Basic base64(client_id:client_secret)`, each part form-decoded (RFC 6749
/// §2.3.1); another scheme is not a client credential.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let decoded = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, rest)| {
            base64::engine::general_purpose::STANDARD
                .decode(rest.trim())
                .ok()
        })
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(OAuthError::invalid_client)?;
    let (id, secret) = decoded
        .split_once(':')
        .ok_or_else(OAuthError::invalid_client)?;
    let decode = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((decode(id), decode(secret))))
}

/// Failed client authentications per client id, per node: after [`MAX_FAILURES`] within
/// [`WINDOW`], the client id is refused (429) until the window ends, so a secret cannot be
/// guessed at the token endpoint's speed. Bounded: when full, ended windows are dropped, and if
/// all are current the map starts over.
#[derive(Debug, Default)]
pub struct ClientFailures {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

/// Failures allowed per client id and window.
pub const MAX_FAILURES: u32 = 10;
const WINDOW: Duration = Duration::from_secs(60);
const MAX_TRACKED: usize = 10_000;

impl ClientFailures {
    /// How long the client id must wait, if it failed too often.
    fn blocked(&self, client_id: &str) -> Option<Duration> {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let (start, count) = windows.get(client_id)?;
        let elapsed = start.elapsed();
        (*count >= MAX_FAILURES && elapsed < WINDOW).then(|| WINDOW - elapsed)
    }

    fn record(&self, client_id: &str) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= MAX_TRACKED && !windows.contains_key(client_id) {
            windows.retain(|_, (start, _)| start.elapsed() < WINDOW);
            if windows.len() >= MAX_TRACKED {
                windows.clear();
            }
        }
        let entry = windows
            .entry(client_id.to_owned())
            .or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str) -> Result<TokenRequest, OAuthError> {
        parse(&HeaderMap::new(), body.as_bytes())
    }

    /// The error a request is refused with (the request itself holds a secret: no `Debug`).
    fn refused(body: &str) -> &'static str {
        form(body).err().map_or("accepted", |e| e.error)
    }

    #[test]
    fn grant_types_and_credentials() {
        let ok = form("grant_type=client_credentials&client_id=a&client_secret=b&scope=all-apis")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            (ok.client_id.as_str(), ok.client_secret.as_str()),
            ("a", "b")
        );
        assert_eq!(refused("client_id=a"), "invalid_request");
        assert_eq!(
            refused("grant_type=password&client_id=a&client_secret=b"),
            "unsupported_grant_type"
        );
        assert_eq!(
            refused("grant_type=client_credentials&grant_type=client_credentials"),
            "invalid_request"
        );
        assert_eq!(
            refused("grant_type=client_credentials&client_id=a"),
            "invalid_client"
        );
    }

    #[test]
    fn failures_block_a_client_after_the_limit() {
        let failures = ClientFailures::default();
        for _ in 0..MAX_FAILURES {
            assert!(failures.blocked("c").is_none());
            failures.record("c");
        }
        assert!(failures.blocked("c").is_some());
        assert!(failures.blocked("other").is_none());
    }
}
