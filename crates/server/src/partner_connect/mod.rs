//! Partner Connect, patchbay's own API under `/api/2.0/partner-connect`: the tiles, custom
//! partners, connect / sign in, connections, partner accounts and the audit trail.

pub(crate) mod catalog;
pub(crate) mod flow;
pub(crate) mod wire;
pub mod worker;

use crate::AppState;
use crate::auth::{Admin, Authenticated};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use catalog::Partner;
use patchbay_core::partner::{
    AuthOption, Category, PartnerSpec, Profile, Provision, credential_for, partner_id,
};
use patchbay_partner::client::normalize_hostname;
use patchbay_partner::outbound::OutboundPolicy;
use patchbay_store::{AuditQuery, ConnectionRecord, PartnerEndpoint, PartnerSettings};
use serde::Deserialize;
use wire::{
    AccountAnswer, AuditPage, ConnectionList, OneConnection, OnePartner, PartnerList, Tile,
};

pub const PREFIX: &str = "/api/2.0/partner-connect";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/partners", get(list_partners).post(register_partner))
        .route(
            "/partners/{partner_id}",
            get(get_partner).put(change_partner).delete(remove_partner),
        )
        .route("/partners/{partner_id}/connect", post(flow::connect))
        .route("/partners/{partner_id}/account", get(account))
        .route("/connections", get(list_connections))
        .route("/connections/{partner_id}", get(get_connection).delete(flow::delete_connection))
        .route("/connections/{partner_id}/test", post(test_connection))
        .route("/connections/{partner_id}/repair", post(flow::repair))
        .route("/connections/{partner_id}/rotate-token", post(flow::rotate_token))
        .route("/audit", get(audit))
}

/// A tile: the partner and whether the workspace is connected to it. Every workspace user
/// sees tiles; the partner's redirect allow-list is for admins.
fn tile<'a>(
    partner: &'a Partner,
    connection: Option<&ConnectionRecord>,
    health: Option<&flow::Health>,
    is_admin: bool,
) -> Tile<'a> {
    let s = &partner.spec;
    Tile {
        auth_options: if s.auth_options.is_empty() {
            &[AuthOption::AuthPat]
        } else {
            &s.auth_options
        },
        builtin: partner.builtin,
        category: s.category,
        connected: connection.is_some(),
        connection_state: health.map(|h| h.state()),
        endpoint_configured: partner.endpoint.is_some(),
        hostnames: is_admin.then(|| partner.endpoint.as_ref().map_or(&[][..], |e| &e.hostnames)),
        id: &s.id,
        name: &s.name,
        needs_service_principal: s.profile.rules().service_principal,
        profile: s.profile,
        provisions: s.provision,
        sign_in_through_partner_connect: s.sign_in,
        supports_unity_catalog: s.supports_unity_catalog,
        would_create: None,
    }
}

async fn list_partners(Authenticated { state, caller }: Authenticated) -> ApiResult<Response> {
    let partners = catalog::partners(&state, caller.workspace_id).await?;
    let connections = state.store.connections(caller.workspace_id).await?;
    let mut tiles = Vec::with_capacity(partners.len());
    for p in &partners {
        let connection = connections.iter().find(|c| c.partner_id == p.spec.id);
        let health = match connection {
            Some(c) => Some(flow::health(&state, p, c).await?),
            None => None,
        };
        tiles.push(tile(p, connection, health.as_ref(), caller.is_admin));
    }
    Ok(Json(PartnerList { partners: tiles }).into_response())
}

async fn get_partner(
    Authenticated { state, caller }: Authenticated,
    Path(partner_id): Path<String>,
) -> ApiResult<Response> {
    let partner = catalog::partner(&state, caller.workspace_id, &partner_id).await?;
    let connection = state.store.connection(caller.workspace_id, &partner_id).await?;
    let health = match &connection {
        Some(c) => Some(flow::health(&state, &partner, c).await?),
        None => None,
    };
    let mut out = tile(&partner, connection.as_ref(), health.as_ref(), caller.is_admin);
    out.would_create = Some(flow::describe_profile(&partner.spec));
    Ok(Json(OnePartner { partner: out }).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Endpoints {
    connect_path: Option<String>,
    delete_connection_path: Option<String>,
    test_connection_path: Option<String>,
    rotate_token_path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    username: String,
    password: String,
}

/// A partner registration or change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnerRequest {
    name: Option<String>,
    category: Option<Category>,
    profile: Option<Profile>,
    provisions: Option<Provision>,
    supports_unity_catalog: Option<bool>,
    sign_in_through_partner_connect: Option<bool>,
    /// The protocol's `auth_options` (custom partners only): `AUTH_PAT` when absent.
    auth_options: Option<Vec<AuthOption>>,
    base_url: Option<String>,
    endpoints: Option<Endpoints>,
    credentials: Option<Credentials>,
    hostnames: Option<Vec<String>>,
}

/// Checks a path of the partner's API.
fn path(field: &str, value: Option<String>) -> ApiResult<Option<String>> {
    match value {
        None => Ok(None),
        Some(p)
            if p.starts_with('/')
                && p.len() < 512
                && !p.contains("..")
                && !p.chars().any(char::is_whitespace) =>
        {
            Ok(Some(p))
        }
        Some(p) => Err(ApiError::bad_request(format!(
            "endpoints.{field} must be a path starting with '/', not '{p}'"
        ))),
    }
}

/// The most hostnames a partner's redirect allow-list may hold.
pub const MAX_HOSTNAMES: usize = 20;
/// The longest `base_url` accepted.
const MAX_BASE_URL: usize = 2048;
/// The longest Basic credential parts accepted.
const MAX_USERNAME: usize = 256;
const MAX_PASSWORD: usize = 4096;

/// The endpoint part of a request, checked; `None` when it sets no endpoint.
fn endpoint(
    state: &AppState,
    req: &mut PartnerRequest,
    current: Option<&PartnerEndpoint>,
) -> ApiResult<Option<PartnerEndpoint>> {
    let Some(base_url) = req.base_url.take() else {
        if req.endpoints.is_some() || req.credentials.is_some() || req.hostnames.is_some() {
            return Err(ApiError::bad_request(
                "base_url is required with endpoints, credentials or hostnames",
            ));
        }
        return Ok(current.cloned());
    };
    let (base_url, host) = checked_base_url(&base_url, &state.settings().outbound)?;
    let endpoints = req.endpoints.take().unwrap_or(Endpoints {
        connect_path: None,
        delete_connection_path: None,
        test_connection_path: None,
        rotate_token_path: None,
    });
    let credentials = req
        .credentials
        .take()
        .or_else(|| current.map(|c| Credentials { username: c.username.clone(), password: c.password.clone() }))
        .ok_or_else(|| ApiError::bad_request("credentials {username, password} are required: partners authenticate patchbay with HTTP Basic"))?;
    if credentials.username.is_empty()
        || credentials.username.contains(':')
        || credentials.password.is_empty()
    {
        return Err(ApiError::bad_request(
            "credentials need a username without ':' and a non-empty password",
        ));
    }
    if credentials.username.len() > MAX_USERNAME || credentials.password.len() > MAX_PASSWORD {
        return Err(ApiError::bad_request(format!(
            "credentials may hold a username of at most {MAX_USERNAME} bytes and a password of at most {MAX_PASSWORD}"
        )));
    }
    let hostnames = checked_hostnames(req.hostnames.take().unwrap_or_else(|| vec![host]))?;
    Ok(Some(PartnerEndpoint {
        base_url,
        connect_path: path("connect_path", endpoints.connect_path)?
            .unwrap_or_else(|| "/connect".into()),
        delete_connection_path: path("delete_connection_path", endpoints.delete_connection_path)?,
        test_connection_path: path("test_connection_path", endpoints.test_connection_path)?,
        rotate_token_path: path("rotate_token_path", endpoints.rotate_token_path)?,
        username: credentials.username,
        password: credentials.password,
        hostnames,
    }))
}

/// A partner's `base_url`, parsed and serialized again (so what is stored is what is called),
/// and its host; a 400 unless it is an http(s) URL without credentials, query or fragment whose
/// host the installation may call. A name is checked again on every call, after DNS.
fn checked_base_url(base_url: &str, policy: &OutboundPolicy) -> ApiResult<(String, String)> {
    let shown: String = base_url.chars().take(200).collect();
    let bad = |why: &str| {
        ApiError::bad_request(format!(
            "base_url must be an http:// or https:// URL{why}, not '{shown}'"
        ))
    };
    if base_url.len() > MAX_BASE_URL {
        return Err(ApiError::bad_request(format!("base_url is longer than {MAX_BASE_URL} bytes")));
    }
    let url = url::Url::parse(base_url).map_err(|_| bad(""))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(""));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(" without a user name or password (credentials go in 'credentials')"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(" without a query or fragment"));
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err(bad(" with a host")),
    };
    if let Some(host) = url.host() {
        policy.check_host(host).map_err(|refused| {
            ApiError::bad_request(format!("base_url '{shown}' cannot be used: {refused}."))
        })?;
    }
    Ok((url.as_str().trim_end_matches('/').to_owned(), host))
}

/// The redirect allow-list, normalized (see [`normalize_hostname`]), without repeats, at most
/// [`MAX_HOSTNAMES`].
fn checked_hostnames(hostnames: Vec<String>) -> ApiResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for h in &hostnames {
        let normal = normalize_hostname(h).ok_or_else(|| {
            ApiError::bad_request(format!(
                "hostnames must list host names (no scheme, port or path) the partner may redirect users to, not '{}'",
                h.chars().take(100).collect::<String>()
            ))
        })?;
        if !out.contains(&normal) {
            out.push(normal);
        }
        if out.len() > MAX_HOSTNAMES {
            return Err(ApiError::bad_request(format!(
                "hostnames may list at most {MAX_HOSTNAMES} different hosts"
            )));
        }
    }
    if out.is_empty() {
        return Err(ApiError::bad_request(
            "hostnames must list at least one host the partner may redirect users to",
        ));
    }
    Ok(out)
}

/// A partner as its registration or change answers it (to an admin).
fn partner_answer(status: StatusCode, partner: &Partner) -> Response {
    let partner = tile(partner, None, None, true);
    (status, Json(OnePartner { partner })).into_response()
}

async fn register_partner(
    Admin { state, admin }: Admin,
    JsonBody(mut req): JsonBody<PartnerRequest>,
) -> ApiResult<Response> {
    let name = req
        .name
        .clone()
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("name is required"))?;
    patchbay_core::principal::validate_display_name("name", &name)
        .map_err(ApiError::bad_request)?;
    let id = partner_id(&name);
    if id.is_empty() {
        return Err(ApiError::bad_request("name needs at least one letter or digit"));
    }
    if catalog::partner(&state, admin.workspace_id(), &id).await.is_ok() {
        return Err(ApiError::conflict(format!("Partner '{id}' already exists.")));
    }
    let category = req.category.ok_or_else(|| ApiError::bad_request("category is required"))?;
    let profile = req.profile.ok_or_else(|| ApiError::bad_request("profile is required"))?;
    let provision = req.provisions.unwrap_or_else(|| profile.default_provision());
    let endpoint = endpoint(&state, &mut req, None)?
        .ok_or_else(|| ApiError::bad_request("base_url is required for a custom partner"))?;
    let spec = PartnerSpec {
        id: id.clone(),
        name,
        category,
        profile,
        provision,
        supports_unity_catalog: req.supports_unity_catalog.unwrap_or(true),
        sign_in: req
            .sign_in_through_partner_connect
            .unwrap_or(provision != Provision::ConnectionFile),
        auth_options: req.auth_options.clone().unwrap_or_default(),
    };
    credential_for(&spec.auth_options, spec.profile)
        .map_err(|why| ApiError::bad_request(why.to_string()))?;
    let settings = PartnerSettings {
        partner_id: id.clone(),
        custom: Some(spec.clone()),
        endpoint: Some(endpoint.clone()),
    };
    state.store.put_partner_settings(&admin, &settings).await?;
    let partner = Partner { spec, builtin: false, endpoint: Some(endpoint) };
    Ok(partner_answer(StatusCode::CREATED, &partner))
}

async fn change_partner(
    Admin { state, admin }: Admin,
    Path(partner_id): Path<String>,
    JsonBody(mut req): JsonBody<PartnerRequest>,
) -> ApiResult<Response> {
    let current = catalog::partner(&state, admin.workspace_id(), &partner_id).await?;
    let mut spec = current.spec.clone();
    if current.builtin {
        if req.name.is_some()
            || req.category.is_some()
            || req.profile.is_some()
            || req.provisions.is_some()
            || req.auth_options.is_some()
        {
            return Err(ApiError::bad_request(format!(
                "'{partner_id}' is a built-in partner: only its endpoint, credentials, hostnames and Unity Catalog support can change"
            )));
        }
    } else if req.name.as_ref().is_some_and(|n| patchbay_core::partner::partner_id(n) != spec.id) {
        return Err(ApiError::bad_request(
            "a partner's name decides its id and cannot change to another id",
        ));
    }
    if let Some(c) = req.category {
        spec.category = c;
    }
    if let Some(p) = req.profile {
        spec.profile = p;
    }
    if let Some(p) = req.provisions {
        spec.provision = p;
    }
    if let Some(n) = req.name.clone() {
        spec.name = n;
    }
    if let Some(uc) = req.supports_unity_catalog {
        spec.supports_unity_catalog = uc;
    }
    if let Some(s) = req.sign_in_through_partner_connect {
        spec.sign_in = s;
    }
    if let Some(options) = req.auth_options.clone() {
        spec.auth_options = options;
    }
    credential_for(&spec.auth_options, spec.profile)
        .map_err(|why| ApiError::bad_request(why.to_string()))?;
    if current.builtin && spec.supports_unity_catalog != current.spec.supports_unity_catalog {
        return Err(ApiError::not_implemented(
            "Changing a built-in partner's Unity Catalog support is not supported yet.",
        ));
    }
    let endpoint = endpoint(&state, &mut req, current.endpoint.as_ref())?;
    let settings = PartnerSettings {
        partner_id: partner_id.clone(),
        custom: (!current.builtin).then(|| spec.clone()),
        endpoint: endpoint.clone(),
    };
    state.store.put_partner_settings(&admin, &settings).await?;
    let partner = Partner { spec, builtin: current.builtin, endpoint };
    Ok(partner_answer(StatusCode::OK, &partner))
}

async fn remove_partner(
    Admin { state, admin }: Admin,
    Path(partner_id): Path<String>,
) -> ApiResult<Json<crate::response::Empty>> {
    catalog::partner(&state, admin.workspace_id(), &partner_id).await?;
    state.store.delete_partner_settings(&admin, &partner_id).await?;
    Ok(crate::response::empty())
}

/// The organization's account at a partner (its administrator's e-mail): for admins.
async fn account(
    Admin { state, admin }: Admin,
    Path(partner_id): Path<String>,
) -> ApiResult<Json<AccountAnswer>> {
    catalog::partner(&state, admin.workspace_id(), &partner_id).await?;
    let account =
        state.store.partner_account(admin.workspace_id(), &partner_id).await?.ok_or_else(|| {
            ApiError::not_found(format!(
                "Nobody in your organization has connected to {partner_id} yet."
            ))
        })?;
    Ok(Json(AccountAnswer {
        account: wire::Account {
            administrator: account.administrator_email,
            created_at: account.created_at,
            first_workspace_id: account.first_workspace_id,
            partner_id: account.partner_id,
            status: "active",
        },
    }))
}

/// Every connection's details: for admins. Reads never call a partner.
async fn list_connections(Admin { state, admin }: Admin) -> ApiResult<Json<ConnectionList>> {
    let ws = admin.workspace_id();
    let connections = state.store.connections(ws).await?;
    let mut out = Vec::with_capacity(connections.len());
    for c in &connections {
        let partner = catalog::partner(&state, ws, &c.partner_id).await?;
        out.push(flow::connection_details(&state, &partner, c).await?);
    }
    Ok(Json(ConnectionList { connections: out }))
}

/// One connection's details, with its health as the workspace sees it: for admins. A read
/// never calls the partner; `POST …/test` does.
async fn get_connection(
    Admin { state, admin }: Admin,
    Path(partner_id): Path<String>,
) -> ApiResult<Json<OneConnection>> {
    let (partner, connection) = admin_connection(&state, &admin, &partner_id).await?;
    let connection = flow::connection_details(&state, &partner, &connection).await?;
    Ok(Json(OneConnection { connection }))
}

/// `POST /connections/{partner_id}/test` (admins): the connection's details, and what the
/// partner's `/test-connection` says about it (`partner_test`), when the partner offers one.
async fn test_connection(
    Admin { state, admin }: Admin,
    Path(partner_id): Path<String>,
    JsonBody(_): JsonBody<TestBody>,
) -> ApiResult<Json<OneConnection>> {
    let (partner, connection) = admin_connection(&state, &admin, &partner_id).await?;
    let health = flow::health(&state, &partner, &connection).await?;
    let test = flow::partner_test(&state, &partner, &connection).await;
    let connection =
        flow::connection_details_with(&state, &partner, &connection, health, test).await?;
    Ok(Json(OneConnection { connection }))
}

/// The body of a connection test: nothing (or `{}`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestBody {}

async fn admin_connection(
    state: &AppState,
    admin: &patchbay_core::access::WorkspaceAdmin,
    partner_id: &str,
) -> ApiResult<(Partner, ConnectionRecord)> {
    let partner = catalog::partner(state, admin.workspace_id(), partner_id).await?;
    let connection = state
        .store
        .connection(admin.workspace_id(), partner_id)
        .await?
        .ok_or_else(|| flow::no_connection(partner_id))?;
    Ok((partner, connection))
}

#[derive(Debug, Deserialize)]
struct AuditParams {
    partner_id: Option<String>,
    actor: Option<String>,
    page_token: Option<String>,
    page_size: Option<String>,
}

async fn audit(
    Admin { state, admin }: Admin,
    Params(params): Params<AuditParams>,
) -> ApiResult<Json<AuditPage>> {
    let number = |name: &str, v: Option<String>| -> ApiResult<Option<i64>> {
        v.filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("{name} must be a number, not '{s}'"))
                })
            })
            .transpose()
    };
    let limit = number("page_size", params.page_size)?.unwrap_or(100).clamp(1, 1000);
    let events = state
        .store
        .audit_events(
            admin.workspace_id(),
            &AuditQuery {
                partner_id: params.partner_id.filter(|s| !s.is_empty()),
                actor_name: params.actor.filter(|s| !s.is_empty()),
                before_id: number("page_token", params.page_token)?,
                limit,
            },
        )
        .await?;
    let next =
        (events.len() as i64 == limit).then(|| events.last().map(|e| e.id.to_string())).flatten();
    Ok(Json(AuditPage {
        events: events.into_iter().map(Into::into).collect(),
        next_page_token: next,
    }))
}
