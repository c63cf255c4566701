//! `POST /oidc/v1/token`. The `client_credentials` grant: the client authenticates with HTTP
//! Basic (`client_id:client_secret`, what the SDKs send) or with both in the form. The
//! `authorization_code` grant (with PKCE) and the `refresh_token` grant, for the public client
//! of the CLI and SDKs (`databricks-cli`, no secret) and partners' U2M apps (public too). The answer is a one-hour opaque access
//! token, stored by digest, that authenticates like a PAT (and for a user, a refresh token).
//!
//! Errors are OAuth's (RFC 6749 §5.2), in JSON: `invalid_request`, `invalid_client` (401),
//! `invalid_grant`, `unauthorized_client`, `unsupported_grant_type`, `invalid_scope`. Failed
//! client authentications are limited per client id ([`ClientFailures`]); the public client's
//! codes and refresh tokens are 128-bit random values, so guessing needs no limit there (one
//! would let anybody lock every user out).

use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use patchbay_core::oauth::{PUBLIC_CLIENT, scope_allowed};
use patchbay_core::token::{TokenKind, TokenValue};
use patchbay_store::{AccessGrant, GrantError, UserGrant};
use serde::Serialize;
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
        OAuthError { status, error, description: description.into(), retry_after: None }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn invalid_client() -> Self {
        OAuthError::new(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed.")
    }
}

/// OAuth's error body (RFC 6749 §5.2).
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'static str,
    error_description: &'a str,
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            axum::Json(ErrorBody { error: self.error, error_description: &self.description }),
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            headers
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"oidc\""));
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

/// A `client_credentials` request, parsed: who the client says it is and what it presented.
struct TokenRequest {
    client_id: String,
    client_secret: String,
    scope: Option<String>,
}

/// A token request, by grant.
enum Grant {
    ClientCredentials(TokenRequest),
    AuthorizationCode { client_id: String, code: String, redirect_uri: String, verifier: String },
    RefreshToken { client_id: String, refresh_token: String },
}

async fn grant(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    account_id: Option<&str>,
) -> Response {
    let request = match parse(headers, body) {
        Ok(Grant::ClientCredentials(request)) => request,
        Ok(Grant::AuthorizationCode { client_id, code, redirect_uri, verifier }) => {
            return user_grant(state, &client_id, &code, async |code| {
                state
                    .store
                    .redeem_code(
                        &code,
                        &client_id,
                        &redirect_uri,
                        &verifier,
                        &super::token_issuer(state),
                    )
                    .await
            })
            .await;
        }
        Ok(Grant::RefreshToken { client_id, refresh_token }) => {
            return user_grant(state, &client_id, &refresh_token, async |refresh| {
                state.store.refresh_grant(&refresh, &client_id, &super::token_issuer(state)).await
            })
            .await;
        }
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
        .grant_client_credentials(
            &request.client_id,
            &secret,
            account_id,
            &super::token_issuer(state),
        )
        .await
    {
        Ok(granted) => {
            tracing::info!(principal_id = granted.principal_id.get(), "access token granted");
            granted_response(&granted, None)
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
        Err(GrantError::InvalidGrant) => invalid_grant().into_response(),
        Err(GrantError::Store(e)) => crate::error::ApiError::from(e).into_response(),
    }
}

/// A user grant's client must exist: the CLI's, or a partner app that was not deleted with
/// its connection (`invalid_client` otherwise, as for an unknown client).
async fn known_client(state: &AppState, client_id: &str) -> Result<(), Response> {
    if client_id == PUBLIC_CLIENT {
        return Ok(());
    }
    match state.store.oauth_app(client_id).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(OAuthError::invalid_client().into_response()),
        Err(e) => Err(crate::error::ApiError::from(e).into_response()),
    }
}

fn invalid_grant() -> OAuthError {
    OAuthError::new(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "The authorization code or refresh token is invalid, expired or already used.",
    )
}

/// A grant that acts for a user (an authorization code, a refresh token): from a client
/// patchbay knows, with a `credential` that is a token at all, which `redeem` then spends.
async fn user_grant(
    state: &AppState,
    client_id: &str,
    credential: &str,
    redeem: impl AsyncFnOnce(TokenValue) -> Result<UserGrant, GrantError>,
) -> Response {
    if let Err(refused) = known_client(state, client_id).await {
        return refused;
    }
    let granted = match TokenValue::parse(credential) {
        Some(value) => redeem(value).await,
        None => Err(GrantError::InvalidGrant),
    };
    user_grant_response(granted)
}

/// The answer to a user's grant (a code or a refresh token).
fn user_grant_response(granted: Result<UserGrant, GrantError>) -> Response {
    match granted {
        Ok(granted) => {
            tracing::info!(
                principal_id = granted.access.principal_id.get(),
                "access token granted to a user"
            );
            granted_response(&granted.access, Some(&granted.refresh_token))
        }
        Err(GrantError::Store(e)) => crate::error::ApiError::from(e).into_response(),
        Err(_) => invalid_grant().into_response(),
    }
}

/// A successful token response (RFC 6749 §5.1); a user's grant also has a refresh token.
#[derive(Serialize)]
struct Granted<'a> {
    access_token: &'a str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    scope: &'a str,
    token_type: &'static str,
}

/// A successful token response, never cached.
fn granted_response(granted: &AccessGrant, refresh: Option<&TokenValue>) -> Response {
    let body = Granted {
        access_token: granted.access_token.expose(),
        expires_in: granted.expires_in,
        refresh_token: refresh.map(TokenValue::expose),
        scope: &granted.scope,
        token_type: "Bearer",
    };
    let mut response = axum::Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The public client of a user's grant, named in the form (or in HTTP Basic with an empty
/// secret): [`PUBLIC_CLIENT`], or a partner's U2M app (whether it still exists is checked
/// next, by [`known_client`]).
fn public_client(
    headers: &HeaderMap,
    form: &mut HashMap<String, String>,
) -> Result<String, OAuthError> {
    let basic = basic_credentials(headers)?;
    let client_id = match (basic, form.remove("client_id")) {
        (Some((id, secret)), form_id)
            if secret.is_empty() && form_id.as_ref().is_none_or(|f| *f == id) =>
        {
            id
        }
        (None, Some(id)) => id,
        _ => return Err(OAuthError::invalid_client()),
    };
    let known = client_id == PUBLIC_CLIENT || patchbay_core::oauth::is_app_client_id(&client_id);
    if !known || form.contains_key("client_secret") {
        return Err(OAuthError::invalid_client());
    }
    Ok(client_id)
}

/// A required form parameter.
fn required(form: &mut HashMap<String, String>, name: &str) -> Result<String, OAuthError> {
    form.remove(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::invalid_request(format!("The parameter {name} is missing.")))
}

/// Reads the form and the client's credentials. A parameter given twice, or the client's
/// credentials given both ways, is an `invalid_request`, as RFC 6749 says.
fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Grant, OAuthError> {
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
            return Err(OAuthError::invalid_request("The parameter grant_type is missing."));
        }
        Some("client_credentials") => {}
        Some("authorization_code") => {
            let client_id = public_client(headers, &mut form)?;
            return Ok(Grant::AuthorizationCode {
                client_id,
                code: required(&mut form, "code")?,
                redirect_uri: required(&mut form, "redirect_uri")?,
                verifier: required(&mut form, "code_verifier")?,
            });
        }
        Some("refresh_token") => {
            let client_id = public_client(headers, &mut form)?;
            return Ok(Grant::RefreshToken {
                client_id,
                refresh_token: required(&mut form, "refresh_token")?,
            });
        }
        Some(_) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "The grants supported are client_credentials, authorization_code and refresh_token.",
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
    Ok(Grant::ClientCredentials(TokenRequest {
        client_id,
        client_secret,
        scope: form.remove("scope"),
    }))
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
        .and_then(|(_, rest)| base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(OAuthError::invalid_client)?;
    let (id, secret) = decoded.split_once(':').ok_or_else(OAuthError::invalid_client)?;
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
        let entry = windows.entry(client_id.to_owned()).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A user's grant, which the snapshots do not reach: its keys in byte order, as a `json!`
    /// map wrote them, with the refresh token between `expires_in` and `scope`.
    #[test]
    fn a_grant_with_a_refresh_token_keeps_its_bytes() {
        let body = Granted {
            access_token: "a",
            expires_in: 3600,
            refresh_token: Some("r"),
            scope: "all-apis offline_access",
            token_type: "Bearer",
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"access_token":"a","expires_in":3600,"refresh_token":"r","scope":"all-apis offline_access","token_type":"Bearer"}"#
        );
    }

    fn form(body: &str) -> Result<TokenRequest, OAuthError> {
        match parse(&HeaderMap::new(), body.as_bytes())? {
            Grant::ClientCredentials(request) => Ok(request),
            _ => Err(OAuthError::invalid_request("another grant")),
        }
    }

    /// The error a request is refused with (the request itself holds a secret: no `Debug`).
    fn refused(body: &str) -> &'static str {
        form(body).err().map_or("accepted", |e| e.error)
    }

    #[test]
    fn grant_types_and_credentials() {
        let ok = form("grant_type=client_credentials&client_id=a&client_secret=b&scope=all-apis")
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((ok.client_id.as_str(), ok.client_secret.as_str()), ("a", "b"));
        assert_eq!(refused("client_id=a"), "invalid_request");
        assert_eq!(
            refused("grant_type=password&client_id=a&client_secret=b"),
            "unsupported_grant_type"
        );
        let public = |body: &str| {
            parse(&HeaderMap::new(), body.as_bytes()).err().map_or("accepted", |e| e.error)
        };
        assert_eq!(
            public(
                "grant_type=authorization_code&client_id=databricks-cli&code=c&redirect_uri=r&code_verifier=v"
            ),
            "accepted"
        );
        assert_eq!(
            public(
                "grant_type=authorization_code&client_id=other&code=c&redirect_uri=r&code_verifier=v"
            ),
            "invalid_client"
        );
        assert_eq!(
            public("grant_type=authorization_code&client_id=databricks-cli&code=c&redirect_uri=r"),
            "invalid_request"
        );
        assert_eq!(
            public(
                "grant_type=refresh_token&client_id=databricks-cli&client_secret=x&refresh_token=t"
            ),
            "invalid_client"
        );
        assert_eq!(
            refused("grant_type=client_credentials&grant_type=client_credentials"),
            "invalid_request"
        );
        assert_eq!(refused("grant_type=client_credentials&client_id=a"), "invalid_client");
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
