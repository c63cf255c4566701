//! Service principals' OAuth secrets, as the SDK's `service_principal_secrets_proxy` (workspace
//! level) and `AccountClient.service_principal_secrets` (account level) call them. Admins only;
//! a secret's value appears in its create response only.

use crate::AppState;
use crate::auth::Admin;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::response::{Empty, empty};
use crate::scim::repr::rfc3339;
use axum::extract::Path;
use axum::routing::{delete, get};
use axum::{Json, Router};
use patchbay_core::PrincipalId;
use patchbay_core::access::WorkspaceAdmin;
use patchbay_core::oauth::{is_secret_id, may_manage_secrets, secret_lifetime_seconds};
use patchbay_core::time::EpochMillis;
use patchbay_core::token::TokenValue;
use patchbay_store::OAuthSecretRecord;
use serde::{Deserialize, Serialize};

const WORKSPACE: &str = "/api/2.0/accounts/servicePrincipals/{principal_id}/credentials/secrets";
const ACCOUNT: &str =
    "/api/2.0/accounts/{account_id}/servicePrincipals/{principal_id}/credentials/secrets";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(WORKSPACE, get(list).post(create))
        .route(&format!("{WORKSPACE}/{{secret_id}}"), delete(remove))
        .route(ACCOUNT, get(account_list).post(account_create))
        .route(&format!("{ACCOUNT}/{{secret_id}}"), delete(account_remove))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    lifetime: Option<String>,
    /// Accepted as the SDK sends it; every secret's tokens get `all-apis`.
    scopes: Option<Vec<String>>,
}

/// A secret as listings show it, and as its create response shows it with its value.
#[derive(Serialize)]
struct SecretInfo {
    create_time: String,
    expire_time: String,
    id: String,
    /// The value: in the create response only, the one place it is ever shown.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "exposed")]
    secret: Option<TokenValue>,
    secret_hash: String,
    status: &'static str,
    update_time: String,
}

/// The secret's value, written out.
fn exposed<S: serde::Serializer>(value: &Option<TokenValue>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(value) => s.serialize_str(value.expose()),
        None => s.serialize_none(),
    }
}

#[derive(Serialize)]
struct SecretList {
    secrets: Vec<SecretInfo>,
}

impl SecretInfo {
    fn of(s: OAuthSecretRecord, secret: Option<TokenValue>, now: EpochMillis) -> SecretInfo {
        let status = s.status_at(now);
        SecretInfo {
            create_time: rfc3339(s.create_time),
            expire_time: rfc3339(s.expire_time),
            id: s.secret_id,
            secret,
            secret_hash: s.secret_hash,
            status,
            update_time: rfc3339(s.update_time),
        }
    }
}

/// The principal id of the path: a SCIM id, so anything else names no principal.
fn principal_id(text: &str) -> ApiResult<PrincipalId> {
    PrincipalId::parse(text)
        .ok_or_else(|| ApiError::not_found(format!("Service principal {text} does not exist.")))
}

/// Who may manage the principal's secrets: an admin, for another principal.
fn checked(admin: &WorkspaceAdmin, text: &str) -> ApiResult<PrincipalId> {
    let id = principal_id(text)?;
    may_manage_secrets(admin.caller(), id).map_err(|f| ApiError::forbidden(f.0))?;
    Ok(id)
}

async fn create(
    Admin { state, admin }: Admin,
    Path(principal): Path<String>,
    JsonBody(req): JsonBody<Create>,
) -> ApiResult<Json<SecretInfo>> {
    let id = checked(&admin, &principal)?;
    let _ = req.scopes;
    let lifetime =
        secret_lifetime_seconds(req.lifetime.as_deref()).map_err(ApiError::bad_request)?;
    let (value, record) = state.store.create_oauth_secret(&admin, id, lifetime).await?;
    tracing::info!(secret_id = %record.secret_id, service_principal_id = id.get(), "OAuth secret created");
    Ok(Json(SecretInfo::of(record, Some(value), state.now_millis())))
}

async fn list(
    Admin { state, admin }: Admin,
    Path(principal): Path<String>,
) -> ApiResult<Json<SecretList>> {
    let id = checked(&admin, &principal)?;
    let secrets = state.store.list_oauth_secrets(&admin, id).await?;
    let now = state.now_millis();
    Ok(Json(SecretList {
        secrets: secrets.into_iter().map(|s| SecretInfo::of(s, None, now)).collect(),
    }))
}

async fn remove(
    Admin { state, admin }: Admin,
    Path((principal, secret_id)): Path<(String, String)>,
) -> ApiResult<Json<Empty>> {
    let id = checked(&admin, &principal)?;
    if !is_secret_id(&secret_id) {
        return Err(ApiError::not_found(format!(
            "Secret {secret_id} does not exist for service principal {id}."
        )));
    }
    state.store.delete_oauth_secret(&admin, id, &secret_id).await?;
    tracing::info!(secret_id = %secret_id, service_principal_id = id.get(), "OAuth secret deleted");
    Ok(empty())
}

async fn account_create(
    admin: Admin,
    Path((account_id, principal)): Path<(String, String)>,
    body: JsonBody<Create>,
) -> ApiResult<Json<SecretInfo>> {
    admin.state.require_account(&account_id).await?;
    create(admin, Path(principal), body).await
}

async fn account_list(
    admin: Admin,
    Path((account_id, principal)): Path<(String, String)>,
) -> ApiResult<Json<SecretList>> {
    admin.state.require_account(&account_id).await?;
    list(admin, Path(principal)).await
}

async fn account_remove(
    admin: Admin,
    Path((account_id, principal, secret_id)): Path<(String, String, String)>,
) -> ApiResult<Json<Empty>> {
    admin.state.require_account(&account_id).await?;
    remove(admin, Path((principal, secret_id))).await
}
