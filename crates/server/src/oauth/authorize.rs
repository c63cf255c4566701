//! `GET /oidc/v1/authorize`: the browser sign-in of the Databricks CLI and SDKs
//! (`external-browser` auth), an authorization code with PKCE for the public client
//! `databricks-cli`; and the same for a connected partner's U2M app (`AUTH_OAUTH_U2M`), a
//! public client too, whose only redirect is the callback its connect answer named. The user
//! signs in through the page's login (its session cookie); the code goes back to the client's
//! redirect, and the token endpoint exchanges it (`token.rs`). A partner's app acts as the user
//! only once the user allowed it on the consent page (`consent.rs`); the CLI's own client asks
//! none.

use super::consent;
use crate::AppState;
use crate::error::ApiError;
use crate::ui::session::Session;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use patchbay_core::oauth::{
    ALL_APIS, PUBLIC_CLIENT, challenge_well_formed, loopback_redirect, scope_allowed,
};
use patchbay_core::principal::PrincipalKind;
use patchbay_store::{CodeRequest, OAuthApp};
use std::collections::HashMap;

/// An authorization request whose client, redirect, PKCE challenge and scope were checked:
/// from here on an error can go back to the client's redirect.
pub(super) struct Checked {
    /// The query as the client sent it (the consent form posts back to it).
    pub query: String,
    pub client_id: String,
    /// The partner's app; `None` for the CLI's and SDKs' client.
    pub app: Option<OAuthApp>,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub challenge: String,
    pub scope: String,
}

impl Checked {
    /// Back to the client's redirect with `pairs` and the client's `state`.
    pub fn back(&self, pairs: &[(&str, &str)]) -> Response {
        redirect(&self.redirect_uri, pairs, self.state.as_deref())
    }
}

/// Checks the query of an authorization request; `Err` is the answer (refused here, or an
/// error sent back to the client's redirect).
pub(super) async fn check(state: &AppState, query: Option<String>) -> Result<Checked, Response> {
    let query = query.unwrap_or_default();
    let mut params: HashMap<String, String> = HashMap::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if params.insert(key.to_string(), value.into_owned()).is_some() {
            return Err(refused(&format!("The parameter {key} is given more than once.")));
        }
    }
    let param = |name: &str| params.get(name).map(String::as_str);
    // Without a known client and its redirect there is nowhere safe to send an error.
    let client_id = param("client_id").unwrap_or_default();
    let app = if client_id == PUBLIC_CLIENT {
        None
    } else {
        match state.store.oauth_app(client_id).await {
            Ok(Some(app)) => Some(app),
            Ok(None) => {
                return Err(refused(
                    "Unknown client_id: the Databricks CLI and SDKs (databricks-cli) and the OAuth apps of connected partners sign in here.",
                ));
            }
            Err(e) => return Err(ApiError::from(e).into_response()),
        }
    };
    let redirect_uri = match &app {
        None => match param("redirect_uri").filter(|r| loopback_redirect(r)) {
            Some(r) => r,
            None => {
                return Err(refused(
                    "redirect_uri must be http://localhost:PORT or http://127.0.0.1:PORT.",
                ));
            }
        },
        // A partner's app: exactly the callback its connect answer named.
        Some(app) => match (param("redirect_uri"), app.redirect_uri.as_deref()) {
            (Some(given), Some(registered)) if given == registered => given,
            (_, None) => {
                return Err(refused(
                    "The partner's app has no redirect URI: its connect answer named no oauth_redirect_uri.",
                ));
            }
            _ => {
                return Err(refused("redirect_uri is not the partner app's redirect URI."));
            }
        },
    };
    let state_param = param("state");
    let back = |pairs: &[(&str, &str)]| redirect(redirect_uri, pairs, state_param);
    if param("response_type") != Some("code") {
        return Err(back(&[
            ("error", "unsupported_response_type"),
            ("error_description", "Only response_type=code is supported."),
        ]));
    }
    let challenge = param("code_challenge").unwrap_or_default();
    if param("code_challenge_method") != Some("S256") || !challenge_well_formed(challenge) {
        return Err(back(&[
            ("error", "invalid_request"),
            ("error_description", "PKCE with code_challenge_method=S256 is required."),
        ]));
    }
    if !scope_allowed(param("scope")) {
        return Err(back(&[
            ("error", "invalid_scope"),
            ("error_description", "Only the scope all-apis (and offline_access) is granted."),
        ]));
    }
    Ok(Checked {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        state: state_param.map(str::to_owned),
        challenge: challenge.to_owned(),
        scope: param("scope").unwrap_or(ALL_APIS).to_owned(),
        app,
        query,
    })
}

/// Whether the signed-in session may authorize this client: users only, and a partner's app
/// only in its own workspace. `Some`: the `access_denied` sent back instead.
pub(super) fn refusal(request: &Checked, session: &Session) -> Option<Response> {
    if session.caller.kind != PrincipalKind::User {
        return Some(request.back(&[
            ("error", "access_denied"),
            ("error_description", "Only users sign in through the browser."),
        ]));
    }
    if request.app.as_ref().is_some_and(|app| app.workspace_id != session.caller.workspace_id) {
        return Some(request.back(&[
            ("error", "access_denied"),
            ("error_description", "The partner's app belongs to another workspace."),
        ]));
    }
    None
}

pub(super) async fn authorize(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    mut parts: Parts,
) -> Response {
    let request = match check(&state, query).await {
        Ok(r) => r,
        Err(answer) => return answer,
    };
    let Ok(session) = Session::from_request_parts(&mut parts, &state).await else {
        let next = format!("/oidc/v1/authorize?{}", request.query);
        let login = format!(
            "/login?{}",
            form_urlencoded::Serializer::new(String::new()).append_pair("next", &next).finish()
        );
        return crate::ui::see_other(&login);
    };
    if let Some(answer) = refusal(&request, &session) {
        return answer;
    }
    if let Some(app) = &request.app {
        match state.store.has_consent(session.caller.principal_id, &app.client_id).await {
            Ok(true) => {}
            Ok(false) => return consent::page(&state, &request, app, &session).await,
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    let code_request = CodeRequest {
        client_id: &request.client_id,
        redirect_uri: &request.redirect_uri,
        code_challenge: &request.challenge,
        scope: &request.scope,
    };
    match state.store.issue_code(&session.caller, &code_request).await {
        Ok(code) => {
            tracing::info!(
                principal_id = session.caller.principal_id.get(),
                "authorization code issued"
            );
            request.back(&[("code", code.expose())])
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `redirect_uri` with `pairs` and the client's `state` added to its query.
pub(super) fn redirect_location(
    redirect_uri: &str,
    pairs: &[(&str, &str)],
    state: Option<&str>,
) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        query.append_pair(k, v);
    }
    if let Some(s) = state {
        query.append_pair("state", s);
    }
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{separator}{}", query.finish())
}

/// Back to the client's redirect with `pairs` and the client's `state`.
fn redirect(redirect_uri: &str, pairs: &[(&str, &str)], state: Option<&str>) -> Response {
    let location = redirect_location(redirect_uri, pairs, state);
    let mut response = StatusCode::FOUND.into_response();
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        Err(_) => refused("redirect_uri cannot be used."),
    }
}

/// A request that cannot be sent back to its client: answered here, in the API's envelope.
pub(super) fn refused(message: &str) -> Response {
    ApiError::bad_request(message).into_response()
}
