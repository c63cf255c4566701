//! patchbay's HTTP API: the Databricks-compatible workspace API, built as one axum router.
//!
//! Handlers are thin: parse, authorize (the extractors in [`auth`]), call the store, shape the
//! response. Errors render through [`error::ApiError`] only.

pub mod auth;
pub mod body;
pub mod catalog;
pub mod compute;
pub mod endpoints;
pub mod error;
pub mod groups;
pub mod oauth;
pub mod params;
pub mod partner_connect;
pub mod permissions;
pub mod rate_limit;
pub mod request_log;
mod response;
pub mod scim;
pub mod secrets;
pub mod statements;
pub mod tokens;
pub mod ui;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use error::{ApiError, Envelope};
use patchbay_core::WorkspaceId;
use patchbay_store::Store;
pub use rate_limit::RateLimits;
use serde::Serialize;
use std::sync::Arc;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;

/// What every handler can reach. Cloned for every request: two reference counts.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    shared: Arc<Shared>,
}

struct Shared {
    settings: Settings,
    partners: patchbay_partner::client::PartnerClient,
    renderings: scim::Renderings,
    rate_limiter: Option<Arc<rate_limit::RateLimiter>>,
    client_failures: oauth::ClientFailures,
    /// The installation's account, read once (it never changes).
    account_id: std::sync::OnceLock<String>,
    /// What runs SQL statements, if this server has it.
    sql: Option<Arc<dyn statements::engine::SqlEngine>>,
    /// Statements and result links of this node.
    statements: statements::Registry,
    /// Clients for passing requests on to other nodes, by the certificates those nodes
    /// registered (the empty string for none).
    peers: std::sync::Mutex<std::collections::HashMap<String, reqwest::Client>>,
    /// Query history, written in groups.
    history: statements::History,
}

/// Server settings fixed at start.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The workspace answered for unauthenticated discovery (`/.well-known/databricks-config`).
    pub default_workspace_id: WorkspaceId,
    /// Where clients reach this server (`serve --public-url`, or derived from `--listen`): the
    /// absolute URIs it answers with (a SCIM resource's `Location` and `meta.location`) start
    /// with it.
    pub public_url: String,
    /// The longest lifetime a new token may have, if the workspace limits it.
    pub max_token_lifetime_seconds: Option<i64>,
    /// How calls to partners wait and retry.
    pub partner_retry: patchbay_partner::client::RetryPolicy,
    /// How long one call to a partner may take.
    pub partner_timeout: std::time::Duration,
    /// A connect still unconfirmed after this long was interrupted and is undone.
    pub stale_connect_millis: i64,
    /// How long a warehouse or cluster takes to start or stop (STARTING → RUNNING, …): no
    /// compute runs, so states move on by time when read.
    pub compute_transition_millis: i64,
    /// Per-token limits (see [`rate_limit`]): `patchbay serve --rate-limits on|databricks|off`.
    pub rate_limits: RateLimits,
    /// The cloud partners are told this workspace runs in.
    pub cloud_provider: CloudProvider,
    /// This node's name, the same across its restarts (`serve` keeps it in the data
    /// directory): the steps it runs that call partners are marked with it, so that when it
    /// restarts it finishes or undoes at once what its previous run left.
    pub node_id: String,
    /// Where the other nodes of the installation reach this one (`serve --node-url`, or the
    /// address it listens on): a statement's poll, chunk or result link that reaches another
    /// node is passed on here ([`statements::relay`]). `None`: nowhere.
    pub node_url: Option<String>,
    /// The certificates this node serves HTTPS with (PEM), registered beside `node_url` so that
    /// the nodes passing requests on to it trust them (a self-signed certificate's CA is this
    /// node's own). `None` for plain HTTP.
    pub node_certificates: Option<String>,
    /// The addresses partners may be called at beyond public ones (`--allow-outbound`);
    /// a partner's `base_url` is checked against it when registered and on every call.
    pub outbound: patchbay_partner::outbound::OutboundPolicy,
    /// The largest result a statement returns `INLINE` (Databricks: 25 MiB).
    pub inline_result_bytes: usize,
    /// About how large one chunk of an `EXTERNAL_LINKS` result is.
    pub result_chunk_bytes: usize,
    /// The longest a statement may run before it is stopped and fails.
    pub statement_timeout: std::time::Duration,
    /// How long query history keeps a line (Databricks: 30 days); `None`: forever.
    pub query_history_retention: Option<std::time::Duration>,
}

/// The cloud a workspace runs in, as the Partner Connect protocol names it (`cloud_provider`):
/// partners may keep accounts or connections per cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CloudProvider {
    #[default]
    Aws,
    Azure,
    Gcp,
}

impl CloudProvider {
    /// The protocol's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            CloudProvider::Aws => "aws",
            CloudProvider::Azure => "azure",
            CloudProvider::Gcp => "gcp",
        }
    }
}

impl Settings {
    /// The settings `patchbay serve` starts with, for a workspace served at `public_url`.
    pub fn new(default_workspace_id: WorkspaceId, public_url: &str) -> Settings {
        Settings {
            default_workspace_id,
            public_url: public_url.trim_end_matches('/').to_owned(),
            max_token_lifetime_seconds: None,
            partner_retry: patchbay_partner::client::RetryPolicy::default(),
            partner_timeout: std::time::Duration::from_secs(30),
            // Longer than a connect can take: four partner calls of 30 s and 7 s of backoff.
            stale_connect_millis: 3 * 60 * 1000,
            compute_transition_millis: 1000,
            rate_limits: RateLimits::default(),
            cloud_provider: CloudProvider::default(),
            node_id: uuid::Uuid::new_v4().simple().to_string(),
            node_url: None,
            node_certificates: None,
            outbound: patchbay_partner::outbound::OutboundPolicy::public_only(),
            inline_result_bytes: 25 << 20,
            result_chunk_bytes: 16 << 20,
            statement_timeout: std::time::Duration::from_secs(60 * 60),
            query_history_retention: Some(std::time::Duration::from_secs(30 * 24 * 60 * 60)),
        }
    }
}

impl AppState {
    /// The state of a server that runs no SQL: statements fail with `NOT_IMPLEMENTED`.
    pub fn new(store: Store, settings: Settings) -> AppState {
        AppState::with_sql(store, settings, None)
    }

    /// The state of a server whose warehouses run SQL with `sql`.
    pub fn with_sql(
        store: Store,
        settings: Settings,
        sql: Option<Arc<dyn statements::engine::SqlEngine>>,
    ) -> AppState {
        let partners = patchbay_partner::client::PartnerClient::new(
            settings.partner_retry.clone(),
            settings.partner_timeout,
            settings.outbound.clone(),
        );
        let rate_limiter = (settings.rate_limits != RateLimits::Off)
            .then(|| Arc::new(rate_limit::RateLimiter::new(settings.rate_limits)));
        let route = statements::route_of_node(&settings.node_id);
        let scim_base = format!("{}{}", settings.public_url.trim_end_matches('/'), scim::PREFIX);
        AppState {
            shared: Arc::new(Shared {
                history: statements::History::new(store.clone(), settings.query_history_retention),
                settings,
                partners,
                renderings: scim::Renderings::new(scim_base),
                rate_limiter,
                client_failures: oauth::ClientFailures::default(),
                account_id: std::sync::OnceLock::new(),
                sql,
                statements: statements::Registry::new(route),
                peers: std::sync::Mutex::default(),
            }),
            store,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.shared.settings
    }

    /// The clock every wall-clock decision here is made by (a session's or result link's
    /// expiry, a compute state, a timestamp): the store's, so that the server and the store
    /// never disagree, and a test that moves it moves both.
    pub fn clock(&self) -> &Arc<dyn patchbay_core::time::Clock> {
        self.store.clock()
    }

    /// Now, on [`AppState::clock`].
    pub fn now_millis(&self) -> patchbay_core::time::EpochMillis {
        self.store.now_millis()
    }

    /// SCIM resources as last written (see [`scim::Renderings`]).
    pub fn renderings(&self) -> &scim::Renderings {
        &self.shared.renderings
    }

    /// The client that calls partners.
    pub fn partner_client(&self) -> &patchbay_partner::client::PartnerClient {
        &self.shared.partners
    }

    /// Failed client authentications at the token endpoint, per client id.
    pub fn client_failures(&self) -> &oauth::ClientFailures {
        &self.shared.client_failures
    }

    /// The account every workspace of this installation belongs to.
    pub async fn account_id(&self) -> Result<String, ApiError> {
        if let Some(id) = self.shared.account_id.get() {
            return Ok(id.clone());
        }
        let id = self.store.account_id(self.settings().default_workspace_id).await?;
        Ok(self.shared.account_id.get_or_init(|| id).clone())
    }

    /// Refuses an account path of another account as not found.
    pub async fn require_account(&self, account_id: &str) -> Result<(), ApiError> {
        if self.account_id().await? == account_id {
            Ok(())
        } else {
            Err(ApiError::not_found(format!("Account {account_id} does not exist.")))
        }
    }

    /// What runs SQL, if this server has it.
    pub fn sql_engine(&self) -> Option<&Arc<dyn statements::engine::SqlEngine>> {
        self.shared.sql.as_ref()
    }

    /// Statements, sessions and result links of this node.
    pub fn statements(&self) -> &statements::Registry {
        &self.shared.statements
    }

    /// The node's query history writer.
    pub fn history(&self) -> &statements::History {
        &self.shared.history
    }

    /// The client that passes requests on to a node that serves HTTPS with `certificates`
    /// (PEM, as it registered them), trusting them besides the usual roots.
    pub fn peer_client(&self, certificates: Option<&str>) -> Result<reqwest::Client, String> {
        let key = certificates.unwrap_or_default();
        let mut peers = self.shared.peers.lock().expect("lock");
        if let Some(client) = peers.get(key) {
            return Ok(client.clone());
        }
        let client = statements::relay::peer_client(certificates)?;
        // A node's certificates change rarely (a new data directory, a renewal): a few
        // clients are kept, not every one since the start.
        if peers.len() >= 64 {
            peers.clear();
        }
        peers.insert(key.to_owned(), client.clone());
        Ok(client)
    }

    /// The node's per-token limits, unless they are off.
    pub fn rate_limiter(&self) -> Option<&Arc<rate_limit::RateLimiter>> {
        self.shared.rate_limiter.as_ref()
    }
}

/// Every route, before the state, the fallback and the layers: what [`router`] serves, and what
/// a test walks to check [`endpoints::JSON_BODY_ENDPOINTS`] against.
pub fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/.well-known/databricks-config", get(databricks_config))
        .merge(scim::routes())
        .merge(tokens::routes())
        .merge(permissions::routes())
        .merge(catalog::routes())
        .merge(statements::routes())
        .merge(compute::routes())
        .merge(secrets::routes())
        .merge(groups::routes())
        .merge(oauth::routes())
        .nest(partner_connect::PREFIX, partner_connect::routes())
        .merge(ui::routes())
}

/// The whole API as one router, ready to serve or to call in-process from tests.
pub fn router(state: AppState) -> Router {
    let api = api_routes().fallback(not_found);
    let admission = state.rate_limiter().map(|limiter| {
        axum::middleware::from_fn_with_state(limiter.clone(), rate_limit::admission)
    });
    // The layers wrap the whole router once. On a `Router`, `layer` would copy them onto every
    // route, and each request would clone and box each of them anew.
    let layers = ServiceBuilder::new()
        .layer(axum::middleware::from_fn(front_door))
        .layer(CatchPanicLayer::custom(|_panic| {
            ApiError::internal("a request handler panicked").into_response()
        }))
        .layer(DefaultBodyLimit::max(body::MAX_BODY))
        .option_layer(admission);
    Router::new().fallback_service(layers.service(api.with_state(state)))
}

/// The answer of `/healthz`.
#[derive(Serialize)]
struct Health {
    /// `ok`, or `unavailable` when the database does not answer.
    status: &'static str,
}

/// Ready once the database answers.
async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => axum::Json(Health { status: "ok" }).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, axum::Json(Health { status: "unavailable" }))
                .into_response()
        }
    }
}

/// Host metadata the Databricks SDKs fetch, unauthenticated, whenever a client is built.
/// `workspace_id` is a string: the Go SDK rejects the whole document otherwise. OAuth clients
/// find the token endpoint through `oidc_endpoint`.
async fn databricks_config(State(state): State<AppState>) -> Response {
    let account_id = match state.account_id().await {
        Ok(id) => id,
        Err(e) => return e.into_response(),
    };
    axum::Json(HostMetadata {
        account_id,
        cloud: state.settings().cloud_provider.as_str(),
        host_type: "WORKSPACE_HOST",
        oidc_endpoint: oauth::oidc_endpoint(&state),
        workspace_id: state.settings().default_workspace_id.to_string(),
    })
    .into_response()
}

/// The answer of `/.well-known/databricks-config`.
#[derive(Serialize)]
struct HostMetadata {
    account_id: String,
    cloud: &'static str,
    host_type: &'static str,
    oidc_endpoint: String,
    workspace_id: String,
}

/// The most header bytes (names and values) a request may carry: ample for a bearer token and a
/// session cookie, far below what the HTTP parser would otherwise buffer.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// Where every request comes in: its log line ([`request_log`]), and a refusal with 431, in
/// the endpoint's error envelope, of headers that together exceed [`MAX_HEADER_BYTES`] before
/// anything reads them. One middleware rather than two: each costs a boxed future a request.
async fn front_door(req: Request<axum::body::Body>, next: axum::middleware::Next) -> Response {
    request_log::log_request(req, async |req: Request<axum::body::Body>| {
        let size: usize =
            req.headers().iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
        if size <= MAX_HEADER_BYTES {
            return next.run(req).await;
        }
        ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "REQUEST_LIMIT_EXCEEDED",
            format!("The request headers are larger than {} KiB.", MAX_HEADER_BYTES / 1024),
        )
        .in_envelope(Envelope::for_path(req.uri().path()))
        .into_response()
    })
    .await
}

async fn not_found(req: Request<axum::body::Body>) -> ApiError {
    let path = req.uri().path();
    ApiError::new(
        StatusCode::NOT_FOUND,
        "ENDPOINT_NOT_FOUND",
        format!("No API found for '{} {}'", req.method(), path),
    )
    .in_envelope(Envelope::for_path(path))
}
