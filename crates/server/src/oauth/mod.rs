//! OAuth for service principals: their secrets (`secrets`), discovery, and the token endpoint
//! (`token`) that exchanges a secret for a one-hour access token. Access tokens then
//! authenticate like personal access tokens (`crate::auth`). Users sign in through
//! `authorize` (code + PKCE) for the CLI's public client and for partners' U2M apps
//! (`AUTH_OAUTH_U2M`, made by their connections: see [`record_partner_callback`]), which act
//! as a user only once that user allowed it on the consent page (`consent`).
//!
//! Discovery follows Databricks: `/.well-known/databricks-config` names `oidc_endpoint`, and
//! under it `/.well-known/oauth-authorization-server` names the endpoints; the account's
//! endpoints live under `/oidc/accounts/{account_id}`.

mod authorize;
mod consent;
mod secrets;
mod token;

use crate::AppState;
use crate::error::ApiResult;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use patchbay_partner::protocol::Connection;
use patchbay_store::{Actor, ConnectionRecord};
use serde::Serialize;

pub use token::ClientFailures;

/// Where the workspace's OAuth endpoints live, under the public URL.
pub const OIDC: &str = "/oidc";

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(secrets::routes())
        .route("/oidc/.well-known/oauth-authorization-server", get(workspace_discovery))
        .route(
            "/oidc/accounts/{account_id}/.well-known/oauth-authorization-server",
            get(account_discovery),
        )
        .route("/oidc/v1/token", post(token::workspace_token))
        .route("/oidc/v1/authorize", get(authorize::authorize).post(consent::decide))
        .route("/oidc/accounts/{account_id}/v1/token", post(token::account_token))
}

/// The workspace's `oidc_endpoint`.
pub fn oidc_endpoint(state: &AppState) -> String {
    format!("{}{OIDC}", state.settings().public_url)
}

/// What access tokens are signed as and checked against: issued by the workspace's OIDC
/// endpoint (discovery's `issuer`) for the workspace's API (its public URL). Tokens granted at
/// an account's endpoint are workspace tokens too: they are used on the workspace's API.
pub fn token_issuer(state: &AppState) -> patchbay_store::TokenIssuer {
    patchbay_store::TokenIssuer {
        issuer: oidc_endpoint(state),
        audience: state.settings().public_url.clone(),
    }
}

async fn workspace_discovery(State(state): State<AppState>) -> Json<Discovery> {
    Json(discovery(&oidc_endpoint(&state)))
}

/// The account's discovery document; an account this installation does not hold is a 404.
async fn account_discovery(
    State(state): State<AppState>,
    Path(account_id): Path<String>,
) -> ApiResult<Json<Discovery>> {
    state.require_account(&account_id).await?;
    Ok(Json(discovery(&format!("{}{OIDC}/accounts/{account_id}", state.settings().public_url))))
}

/// RFC 8414 metadata for the endpoints under `base`: what the SDKs read to find the token and
/// authorization endpoints. (The account's authorization endpoint is not served: browser
/// sign-in is per workspace.)
fn discovery(base: &str) -> Discovery {
    Discovery {
        authorization_endpoint: format!("{base}/v1/authorize"),
        code_challenge_methods_supported: ["S256"],
        grant_types_supported: ["client_credentials", "authorization_code", "refresh_token"],
        issuer: base.to_owned(),
        response_types_supported: ["code"],
        scopes_supported: [patchbay_core::oauth::ALL_APIS],
        token_endpoint: format!("{base}/v1/token"),
        token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
    }
}

/// RFC 8414 authorization server metadata, the part of it the SDKs read.
#[derive(Serialize)]
struct Discovery {
    authorization_endpoint: String,
    code_challenge_methods_supported: [&'static str; 1],
    grant_types_supported: [&'static str; 3],
    issuer: String,
    response_types_supported: [&'static str; 1],
    scopes_supported: [&'static str; 1],
    token_endpoint: String,
    token_endpoint_auth_methods_supported: [&'static str; 2],
}

/// Records a connect answer's `oauth_redirect_uri` as the only redirect of the connection's
/// U2M app, if it has one: the URI must pass the partner's hostnames, as every URL it sends,
/// and be HTTPS (plain HTTP to loopback only). `Err`: why the answer cannot be used (the
/// connect is then undone). An answer without one leaves the app without a redirect, so it
/// authorizes nothing; one for a connection without an app is ignored.
pub async fn record_partner_callback(
    state: &AppState,
    actor: &Actor,
    c: &ConnectionRecord,
    answer: &Connection,
    hostnames: &[String],
) -> ApiResult<Result<(), String>> {
    let Some(uri) = answer.oauth_redirect_uri.as_deref() else {
        return Ok(Ok(()));
    };
    if state.store.connection_oauth_app(c.workspace_id, &c.partner_id).await?.is_none() {
        return Ok(Ok(()));
    }
    let checked = patchbay_partner::client::checked_redirect(uri, hostnames)
        .and_then(|uri| patchbay_core::oauth::partner_callback_allowed(&uri).map(|()| uri));
    let uri = match checked {
        Ok(uri) => uri,
        Err(why) => {
            return Ok(Err(format!(
                "the partner's oauth_redirect_uri cannot be used: {why} (allowed hosts: {})",
                hostnames.join(", ")
            )));
        }
    };
    // `false`: the connect was undone meanwhile; completing it says so.
    state.store.set_oauth_app_redirect(actor, c.workspace_id, &c.partner_id, &c.uid, &uri).await?;
    Ok(Ok(()))
}
