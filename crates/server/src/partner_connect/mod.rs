//! Partner Connect, patchbay's own API under `/api/2.0/partner-connect`: the tiles, custom
//! partners, connect / sign in, connections, partner accounts and the audit trail.

pub(crate) mod catalog;
pub(crate) mod flow;
pub mod worker;

use crate::AppState;
use crate::auth::{Admin, Authenticated};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use catalog::Partner;
use patchbay_core::partner::{Category, PartnerSpec, Profile, Provision, partner_id};
use patchbay_store::{AuditQuery, ConnectionRecord, PartnerEndpoint, PartnerSettings};
use serde::Deserialize;
use serde_json::{Value, json};

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
        .route(
            "/connections/{partner_id}",
            get(get_connection).delete(flow::delete_connection),
        )
        .route("/connections/{partner_id}/repair", post(flow::repair))
        .route(
            "/connections/{partner_id}/rotate-token",
            post(flow::rotate_token),
        )
        .route("/audit", get(audit))
}

/// A tile: the partner and whether the workspace is connected to it.
fn tile(
    partner: &Partner,
    connection: Option<&ConnectionRecord>,
    health: Option<&flow::Health>,
) -> Value {
    let s = &partner.spec;
    json!({
        "id": s.id,
        "name": s.name,
        "category": s.category,
        "profile": s.profile,
        "provisions": s.provision,
        "supports_unity_catalog": s.supports_unity_catalog,
        "sign_in_through_partner_connect": s.sign_in,
        "needs_service_principal": s.profile.rules().service_principal,
        "builtin": partner.builtin,
        "endpoint_configured": partner.endpoint.is_some(),
        "hostnames": partner.endpoint.as_ref().map(|e| e.hostnames.clone()).unwrap_or_default(),
        "connected": connection.is_some(),
        "connection_state": health.map(|h| h.state),
    })
}

async fn list_partners(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> ApiResult<Json<Value>> {
    let partners = catalog::partners(&state, caller.workspace_id).await?;
    let connections = state.store.connections(caller.workspace_id).await?;
    let mut tiles = Vec::with_capacity(partners.len());
    for p in &partners {
        let connection = connections.iter().find(|c| c.partner_id == p.spec.id);
        let health = match connection {
            Some(c) => Some(flow::health(&state, p, c).await?),
            None => None,
        };
        tiles.push(tile(p, connection, health.as_ref()));
    }
    Ok(Json(json!({"partners": tiles})))
}

async fn get_partner(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(partner_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let partner = catalog::partner(&state, caller.workspace_id, &partner_id).await?;
    let connection = state
        .store
        .connection(caller.workspace_id, &partner_id)
        .await?;
    let health = match &connection {
        Some(c) => Some(flow::health(&state, &partner, c).await?),
        None => None,
    };
    let mut out = tile(&partner, connection.as_ref(), health.as_ref());
    out["would_create"] = flow::describe_profile(&partner.spec);
    Ok(Json(json!({"partner": out})))
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
    base_url: Option<String>,
    endpoints: Option<Endpoints>,
    credentials: Option<Credentials>,
    hostnames: Option<Vec<String>>,
}

fn default_provision(profile: Profile) -> Provision {
    match profile {
        Profile::Ingest | Profile::Dataiku | Profile::None => Provision::NewWarehouse,
        Profile::Read => Provision::SelectedWarehouse,
        Profile::Cluster => Provision::NewCluster,
        Profile::Token => Provision::None,
    }
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

/// The endpoint part of a request, checked; `None` when it sets no endpoint.
fn endpoint(
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
    let url = reqwest_url(&base_url)?;
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
    let hostnames = req.hostnames.take().unwrap_or_else(|| vec![url]);
    if hostnames.is_empty()
        || hostnames
            .iter()
            .any(|h| h.is_empty() || h.contains('/') || h.contains(char::is_whitespace))
    {
        return Err(ApiError::bad_request(
            "hostnames must list host names (no scheme or path) the partner may redirect users to",
        ));
    }
    Ok(Some(PartnerEndpoint {
        base_url,
        connect_path: path("connect_path", endpoints.connect_path)?
            .unwrap_or_else(|| "/connect".into()),
        delete_connection_path: path("delete_connection_path", endpoints.delete_connection_path)?,
        test_connection_path: path("test_connection_path", endpoints.test_connection_path)?,
        rotate_token_path: path("rotate_token_path", endpoints.rotate_token_path)?,
        username: credentials.username,
        password: credentials.password,
        hostnames: hostnames
            .into_iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
    }))
}

/// The host of an http(s) base URL, or a 400.
fn reqwest_url(base_url: &str) -> ApiResult<String> {
    let bad = || {
        ApiError::bad_request(format!(
            "base_url must be an http:// or https:// URL, not '{base_url}'"
        ))
    };
    let rest = base_url
        .strip_prefix("https://")
        .or_else(|| base_url.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') || base_url.chars().any(char::is_whitespace)
    {
        return Err(bad());
    }
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    };
    Ok(host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase())
}

fn partner_json(partner: &Partner) -> Value {
    tile(partner, None, None)
}

async fn register_partner(
    State(state): State<AppState>,
    Admin(admin): Admin,
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
        return Err(ApiError::bad_request(
            "name needs at least one letter or digit",
        ));
    }
    if catalog::partner(&state, admin.workspace_id(), &id)
        .await
        .is_ok()
    {
        return Err(ApiError::conflict(format!(
            "Partner '{id}' already exists."
        )));
    }
    let category = req
        .category
        .ok_or_else(|| ApiError::bad_request("category is required"))?;
    let profile = req
        .profile
        .ok_or_else(|| ApiError::bad_request("profile is required"))?;
    let provision = req.provisions.unwrap_or_else(|| default_provision(profile));
    let endpoint = endpoint(&mut req, None)?
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
    };
    let settings = PartnerSettings {
        partner_id: id.clone(),
        custom: Some(spec.clone()),
        endpoint: Some(endpoint.clone()),
    };
    state.store.put_partner_settings(&admin, &settings).await?;
    let partner = Partner {
        spec,
        builtin: false,
        endpoint: Some(endpoint),
    };
    Ok((
        StatusCode::CREATED,
        Json(json!({"partner": partner_json(&partner)})),
    )
        .into_response())
}

async fn change_partner(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(partner_id): Path<String>,
    JsonBody(mut req): JsonBody<PartnerRequest>,
) -> ApiResult<Json<Value>> {
    let current = catalog::partner(&state, admin.workspace_id(), &partner_id).await?;
    let mut spec = current.spec.clone();
    if current.builtin {
        if req.name.is_some()
            || req.category.is_some()
            || req.profile.is_some()
            || req.provisions.is_some()
        {
            return Err(ApiError::bad_request(format!(
                "'{partner_id}' is a built-in partner: only its endpoint, credentials, hostnames and Unity Catalog support can change"
            )));
        }
    } else if req
        .name
        .as_ref()
        .is_some_and(|n| patchbay_core::partner::partner_id(n) != spec.id)
    {
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
    if current.builtin && spec.supports_unity_catalog != current.spec.supports_unity_catalog {
        return Err(ApiError::not_implemented(
            "Changing a built-in partner's Unity Catalog support is not supported yet.",
        ));
    }
    let endpoint = endpoint(&mut req, current.endpoint.as_ref())?;
    let settings = PartnerSettings {
        partner_id: partner_id.clone(),
        custom: (!current.builtin).then(|| spec.clone()),
        endpoint: endpoint.clone(),
    };
    state.store.put_partner_settings(&admin, &settings).await?;
    let partner = Partner {
        spec,
        builtin: current.builtin,
        endpoint,
    };
    Ok(Json(json!({"partner": partner_json(&partner)})))
}

async fn remove_partner(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(partner_id): Path<String>,
) -> ApiResult<Json<Value>> {
    catalog::partner(&state, admin.workspace_id(), &partner_id).await?;
    state
        .store
        .delete_partner_settings(&admin, &partner_id)
        .await?;
    Ok(Json(json!({})))
}

async fn account(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(partner_id): Path<String>,
) -> ApiResult<Json<Value>> {
    catalog::partner(&state, caller.workspace_id, &partner_id).await?;
    let account = state
        .store
        .partner_account(caller.workspace_id, &partner_id)
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Nobody in your organization has connected to {partner_id} yet."
            ))
        })?;
    Ok(Json(json!({"account": {
        "partner_id": account.partner_id,
        "administrator": account.administrator_email,
        "first_workspace_id": account.first_workspace_id,
        "created_at": account.created_at,
        "status": "active",
    }})))
}

async fn list_connections(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> ApiResult<Json<Value>> {
    let connections = state.store.connections(caller.workspace_id).await?;
    let mut out = Vec::with_capacity(connections.len());
    for c in &connections {
        let partner = catalog::partner(&state, caller.workspace_id, &c.partner_id).await?;
        out.push(flow::connection_json(&state, &partner, c).await?);
    }
    Ok(Json(json!({"connections": out})))
}

async fn get_connection(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(partner_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let partner = catalog::partner(&state, caller.workspace_id, &partner_id).await?;
    let connection = state
        .store
        .connection(caller.workspace_id, &partner_id)
        .await?
        .ok_or_else(|| flow::no_connection(&partner_id))?;
    let mut out = flow::connection_json(&state, &partner, &connection).await?;
    // One connection is looked at closely: the partner is asked too, when it can be.
    if let Some((passed, detail)) = flow::partner_test(&state, &partner, &connection).await {
        out["partner_test"] = json!({"passed": passed, "detail": detail});
        if !passed && out["state"] == "CONNECTED" {
            out["state"] = json!("BROKEN");
        }
        if !passed && let Some(reasons) = out["reasons"].as_array_mut() {
            reasons.push(json!(format!(
                "{}'s connection test failed: {detail}",
                partner.spec.name
            )));
        }
    }
    Ok(Json(json!({"connection": out})))
}

#[derive(Debug, Deserialize)]
struct AuditParams {
    partner_id: Option<String>,
    actor: Option<String>,
    page_token: Option<String>,
    page_size: Option<String>,
}

async fn audit(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Params(params): Params<AuditParams>,
) -> ApiResult<Json<Value>> {
    let number = |name: &str, v: Option<String>| -> ApiResult<Option<i64>> {
        v.filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("{name} must be a number, not '{s}'"))
                })
            })
            .transpose()
    };
    let limit = number("page_size", params.page_size)?
        .unwrap_or(100)
        .clamp(1, 1000);
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
    let next = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| e.id.to_string()))
        .flatten();
    let list: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({"id": e.id, "time": e.at, "actor_id": e.actor_id, "actor": e.actor_name, "action": e.action,
                   "object_type": e.object_type, "object_id": e.object_id, "partner_id": e.partner_id, "detail": e.detail})
        })
        .collect();
    let mut out = json!({"events": list});
    if let Some(n) = next {
        out["next_page_token"] = json!(n);
    }
    Ok(Json(out))
}
