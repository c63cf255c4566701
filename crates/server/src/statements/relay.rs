//! Statements another node holds.
//!
//! A node keeps the results of the statements it runs in its memory, and every statement id
//! and result link it makes begins with its route ([`super::registry::route_of_id`]). A
//! request about such a statement (a poll, a cancel, a close, a chunk) or a link, arriving at
//! another node of the installation, is passed on to the node holding it, at the address that
//! node registered ([`join`]), and its answer is returned as it came. So clients behind a load
//! balancer that spreads their requests over the nodes poll as they would one server.
//!
//! A node that gave no address, or that was not seen for [`NODE_GONE_MILLIS`] (it died, and
//! its results with it), holds nothing: the request is answered here, as for an id this node
//! does not know. A request is passed on once at most: the node it reaches answers it itself.

use super::registry::route_of_id;
use crate::AppState;
use crate::error::{ApiError, ApiResult};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use patchbay_store::NodeAddress;
use std::convert::Infallible;
use std::time::Duration;

/// How often a running node says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// A node not seen for this long is gone: its results went with it.
pub const NODE_GONE_MILLIS: i64 = 60_000;
/// Marks a request one node passed to another.
const RELAYED: &str = "x-patchbay-relayed";
/// The caller's headers the holding node needs: who calls, and what it sends and accepts.
const REQUEST_HEADERS: [HeaderName; 4] =
    [header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT, header::USER_AGENT];
/// The holding node's headers the caller needs.
const RESPONSE_HEADERS: [HeaderName; 3] =
    [header::CONTENT_TYPE, header::RETRY_AFTER, header::WWW_AUTHENTICATE];

/// Registers this node, reachable at `Settings::node_url`, and keeps its registration fresh
/// until the returned task is aborted (then call [`leave`]).
pub async fn join(state: &AppState) -> ApiResult<tokio::task::JoinHandle<()>> {
    let settings = state.settings();
    state
        .store
        .register_node(
            &settings.node_id,
            state.statements().route(),
            NodeAddress {
                url: settings.node_url.as_deref(),
                certificates: settings.node_certificates.as_deref(),
            },
            NODE_GONE_MILLIS,
        )
        .await?;
    let state = state.clone();
    Ok(tokio::spawn(async move {
        let mut every = tokio::time::interval(HEARTBEAT);
        every.tick().await;
        loop {
            every.tick().await;
            if let Err(e) = state.store.node_seen(&state.settings().node_id).await {
                tracing::warn!(error = %e, "this node's registration was not refreshed");
            }
        }
    }))
}

/// Removes this node's registration: it stops, and its results with it.
pub async fn leave(state: &AppState) {
    if let Err(e) = state.store.forget_node(&state.settings().node_id).await {
        tracing::warn!(error = %e, "this node's registration was not removed");
    }
}

/// The request as it came, to pass on.
pub struct Relay {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
}

impl<S: Send + Sync> FromRequestParts<S> for Relay {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Relay, Infallible> {
        let mut headers = HeaderMap::new();
        for name in REQUEST_HEADERS.iter().chain([&HeaderName::from_static(RELAYED)]) {
            if let Some(value) = parts.headers.get(name) {
                headers.insert(name, value.clone());
            }
        }
        Ok(Relay { method: parts.method.clone(), uri: parts.uri.clone(), headers })
    }
}

impl Relay {
    /// The answer of the node holding `id`, when that is another live node that can be
    /// reached; `None` when this node answers. A holder that does not answer is a 503: the
    /// result may still be there.
    pub async fn to_holder(&self, state: &AppState, id: &str) -> ApiResult<Option<Response>> {
        let Some(route) = route_of_id(id) else {
            return Ok(None);
        };
        if route.eq_ignore_ascii_case(state.statements().route())
            || self.headers.contains_key(RELAYED)
        {
            return Ok(None);
        }
        let Some(node) = state.store.node_by_route(&route.to_ascii_lowercase()).await? else {
            return Ok(None);
        };
        let alive = state.now_millis().saturating_sub(node.seen_at) <= NODE_GONE_MILLIS;
        let Some(base) = node.url.filter(|_| alive) else {
            return Ok(None);
        };
        let path = self.uri.path_and_query().map_or("", |p| p.as_str());
        let unreachable = |e: &dyn std::fmt::Display| {
            tracing::warn!(node = %node.node_id, error = %e, "the node holding a statement cannot be reached");
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "TEMPORARILY_UNAVAILABLE",
                "The node holding this statement's result does not answer; try again.",
            )
        };
        let client =
            state.peer_client(node.certificates.as_deref()).map_err(|e| unreachable(&e))?;
        let mut request = client
            .request(self.method.clone(), format!("{}{path}", base.trim_end_matches('/')))
            .header(RELAYED, "1");
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| unreachable(&e))?;
        let status = response.status();
        let mut headers = HeaderMap::new();
        for name in &RESPONSE_HEADERS {
            if let Some(value) = response.headers().get(name) {
                headers.insert(name, value.clone());
            }
        }
        let body = response.bytes().await.map_err(|e| unreachable(&e))?;
        Ok(Some((status, headers, body).into_response()))
    }
}

/// The client that passes requests to a node serving HTTPS with `certificates` (PEM): it
/// trusts them besides the usual roots, follows no redirects (a node answers itself) and
/// waits a bounded time.
pub fn peer_client(certificates: Option<&str>) -> Result<reqwest::Client, String> {
    patchbay_partner::install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(300));
    if let Some(pem) = certificates {
        let certificates = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| format!("not PEM certificates: {e}"))?;
        builder = builder.tls_certs_merge(certificates);
    }
    builder.build().map_err(|e| e.to_string())
}
