//! The Secrets API (`/api/2.0/secrets`): scopes, secrets and their ACLs, as `w.secrets` and
//! `databricks secrets …` call them. A secret's value goes in and never comes out: Databricks
//! answers `secrets/get` only inside jobs and notebooks, and patchbay runs none, so it refuses
//! that call for everyone and keeps no value to return (see [`patchbay_core::secrets`]).

use crate::AppState;
use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::params::{Params, required};
use crate::response::{Empty, empty};
use axum::Json;
use axum::Router;
use axum::routing::{get, post};
use base64::Engine;
use patchbay_core::secrets::{
    AclPermission, DATABRICKS_BACKEND, SecretValue, validate_key, validate_scope_name,
};
use patchbay_store::{SecretAcl, SecretMeta, SecretScope};
use serde::{Deserialize, Serialize};
use serde_json::Value;

const BASE: &str = "/api/2.0/secrets";

#[derive(Debug, Serialize)]
struct ScopeList {
    scopes: Vec<ScopeInfo>,
}

#[derive(Debug, Serialize)]
struct ScopeInfo {
    backend_type: String,
    name: String,
}

/// A secret as listed: never its value.
#[derive(Debug, Serialize)]
struct SecretInfo {
    key: String,
    last_updated_timestamp: i64,
}

#[derive(Debug, Serialize)]
struct SecretList {
    secrets: Vec<SecretInfo>,
}

#[derive(Debug, Serialize)]
struct AclItem {
    permission: &'static str,
    principal: String,
}

#[derive(Debug, Serialize)]
struct AclList {
    items: Vec<AclItem>,
}

impl From<SecretScope> for ScopeInfo {
    fn from(s: SecretScope) -> ScopeInfo {
        ScopeInfo { backend_type: s.backend_type, name: s.name }
    }
}

impl From<SecretMeta> for SecretInfo {
    fn from(s: SecretMeta) -> SecretInfo {
        SecretInfo { key: s.key, last_updated_timestamp: s.last_updated_timestamp }
    }
}

impl From<SecretAcl> for AclItem {
    fn from(a: SecretAcl) -> AclItem {
        AclItem { permission: a.permission.as_str(), principal: a.principal }
    }
}

/// Records as the API lists them.
fn listed<T, U: From<T>>(records: Vec<T>) -> Vec<U> {
    records.into_iter().map(U::from).collect()
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{BASE}/scopes/create"), post(create_scope))
        .route(&format!("{BASE}/scopes/list"), get(list_scopes))
        .route(&format!("{BASE}/scopes/delete"), post(delete_scope))
        .route(&format!("{BASE}/put"), post(put_secret))
        .route(&format!("{BASE}/list"), get(list_secrets))
        .route(&format!("{BASE}/delete"), post(delete_secret))
        .route(&format!("{BASE}/get"), get(get_secret))
        .route(&format!("{BASE}/acls/put"), post(put_acl))
        .route(&format!("{BASE}/acls/delete"), post(delete_acl))
        .route(&format!("{BASE}/acls/get"), get(get_acl))
        .route(&format!("{BASE}/acls/list"), get(list_acls))
}

/// A scope named in a request: present and well-formed.
fn scope_name(value: Option<String>) -> ApiResult<String> {
    let scope = required(value, "scope")?;
    validate_scope_name(&scope).map_err(ApiError::bad_request)?;
    Ok(scope)
}

fn key_name(value: Option<String>) -> ApiResult<String> {
    let key = required(value, "key")?;
    validate_key(&key).map_err(ApiError::bad_request)?;
    Ok(key)
}

#[derive(Debug, Deserialize)]
struct CreateScope {
    scope: Option<String>,
    initial_manage_principal: Option<String>,
    scope_backend_type: Option<String>,
    backend_azure_keyvault: Option<Value>,
}

async fn create_scope(
    Authenticated { state, caller }: Authenticated,
    JsonBody(body): JsonBody<CreateScope>,
) -> ApiResult<Json<Empty>> {
    let scope = scope_name(body.scope)?;
    match body.scope_backend_type.as_deref() {
        None | Some(DATABRICKS_BACKEND) => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "scope_backend_type {other} is not supported: patchbay keeps secrets in {DATABRICKS_BACKEND} scopes only"
            )));
        }
    }
    if body.backend_azure_keyvault.is_some_and(|v| !v.is_null()) {
        return Err(ApiError::bad_request(
            "backend_azure_keyvault is not supported: patchbay keeps secrets in DATABRICKS scopes only",
        ));
    }
    let manage_by_users = match body.initial_manage_principal.as_deref() {
        None | Some("") => false,
        Some("users") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "initial_manage_principal must be 'users' or left out, not '{other}'"
            )));
        }
    };
    state.store.create_secret_scope(&caller, &scope, manage_by_users).await?;
    tracing::info!(scope = %scope, "secret scope created");
    Ok(empty())
}

async fn list_scopes(Authenticated { state, caller }: Authenticated) -> ApiResult<Json<ScopeList>> {
    let scopes = listed(state.store.list_secret_scopes(&caller).await?);
    Ok(Json(ScopeList { scopes }))
}

#[derive(Debug, Deserialize)]
struct ScopeOnly {
    scope: Option<String>,
}

async fn delete_scope(
    Authenticated { state, caller }: Authenticated,
    JsonBody(body): JsonBody<ScopeOnly>,
) -> ApiResult<Json<Empty>> {
    let scope = scope_name(body.scope)?;
    state.store.delete_secret_scope(&caller, &scope).await?;
    tracing::info!(scope = %scope, "secret scope deleted");
    Ok(empty())
}

/// `secrets/put`. The value fields are read into [`SecretValue`] at once and never logged.
#[derive(Deserialize)]
struct PutSecret {
    scope: Option<String>,
    key: Option<String>,
    string_value: Option<String>,
    bytes_value: Option<String>,
}

async fn put_secret(
    Authenticated { state, caller }: Authenticated,
    JsonBody(body): JsonBody<PutSecret>,
) -> ApiResult<Json<Empty>> {
    let scope = scope_name(body.scope)?;
    let key = key_name(body.key)?;
    let bytes = match (body.string_value, body.bytes_value) {
        (Some(s), None) => s.into_bytes(),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .map_err(|_| ApiError::bad_request("bytes_value must be base64-encoded"))?,
        _ => {
            return Err(ApiError::bad_request(
                "Exactly one of string_value and bytes_value must be given",
            ));
        }
    };
    let value = SecretValue::new(bytes).map_err(ApiError::bad_request)?;
    state.store.put_secret(&caller, &scope, &key, &value.fingerprint()).await?;
    tracing::info!(scope = %scope, key = %key, "secret put");
    Ok(empty())
}

async fn list_secrets(
    Authenticated { state, caller }: Authenticated,
    Params(params): Params<ScopeOnly>,
) -> ApiResult<Json<SecretList>> {
    let scope = scope_name(params.scope)?;
    let secrets = listed(state.store.list_secrets(&caller, &scope).await?);
    Ok(Json(SecretList { secrets }))
}

#[derive(Debug, Deserialize)]
struct ScopeKey {
    scope: Option<String>,
    key: Option<String>,
}

async fn delete_secret(
    Authenticated { state, caller }: Authenticated,
    JsonBody(body): JsonBody<ScopeKey>,
) -> ApiResult<Json<Empty>> {
    let scope = scope_name(body.scope)?;
    let key = key_name(body.key)?;
    state.store.delete_secret(&caller, &scope, &key).await?;
    tracing::info!(scope = %scope, key = %key, "secret deleted");
    Ok(empty())
}

/// `secrets/get`: Databricks answers it only from inside a job or notebook; patchbay runs
/// none, so every API caller is refused and no value ever leaves.
async fn get_secret(Authenticated { caller: _caller, .. }: Authenticated) -> ApiError {
    ApiError::forbidden(
        "Secret values can only be read from inside a job or notebook; patchbay runs none, so \
         no API call returns a secret's value.",
    )
}

#[derive(Debug, Deserialize)]
struct AclBody {
    scope: Option<String>,
    principal: Option<String>,
    permission: Option<String>,
}

async fn put_acl(
    Authenticated { state, caller }: Authenticated,
    JsonBody(body): JsonBody<AclBody>,
) -> ApiResult<Json<Empty>> {
    let scope = scope_name(body.scope)?;
    let principal = required(body.principal, "principal")?;
    let permission = required(body.permission, "permission")?;
    let permission = AclPermission::parse(&permission).ok_or_else(|| {
        ApiError::bad_request(format!(
            "permission must be MANAGE, WRITE or READ, not '{permission}'"
        ))
    })?;
    state.store.put_secret_acl(&caller, &scope, &principal, permission).await?;
    tracing::info!(scope = %scope, permission = permission.as_str(), "secret ACL put");
    Ok(empty())
}

async fn delete_acl(
    Authenticated { state, caller }: Authenticated,
    JsonBody(body): JsonBody<AclBody>,
) -> ApiResult<Json<Empty>> {
    let scope = scope_name(body.scope)?;
    let principal = required(body.principal, "principal")?;
    state.store.delete_secret_acl(&caller, &scope, &principal).await?;
    tracing::info!(scope = %scope, "secret ACL deleted");
    Ok(empty())
}

async fn get_acl(
    Authenticated { state, caller }: Authenticated,
    Params(params): Params<AclBody>,
) -> ApiResult<Json<AclItem>> {
    let scope = scope_name(params.scope)?;
    let principal = required(params.principal, "principal")?;
    let acl = state.store.secret_acl(&caller, &scope, &principal).await?;
    Ok(Json(AclItem::from(acl)))
}

async fn list_acls(
    Authenticated { state, caller }: Authenticated,
    Params(params): Params<ScopeOnly>,
) -> ApiResult<Json<AclList>> {
    let scope = scope_name(params.scope)?;
    let items = listed(state.store.list_secret_acls(&caller, &scope).await?);
    Ok(Json(AclList { items }))
}
