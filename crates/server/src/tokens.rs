//! Personal access tokens: a principal's own (`/api/2.0/token`) and token management for admins
//! (`/api/2.0/token-management`). A token's value appears in its create response only.

use crate::AppState;
use crate::auth::{Admin, Authenticated};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::params::{Params, required};
use crate::response::{Empty, empty};
use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::routing::{get, post};
use patchbay_core::token::{TokenValue, is_token_id, lifetime_millis, validate_comment};
use patchbay_core::{PrincipalId, WorkspaceId};
use patchbay_store::{TokenFilter, TokenRecord};
use serde::{Deserialize, Serialize};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.0/token/create", post(create_own))
        .route("/api/2.0/token/list", get(list_own))
        .route("/api/2.0/token/delete", post(delete_own))
        .route("/api/2.0/token-management/on-behalf-of/tokens", post(create_obo))
        .route("/api/2.0/token-management/tokens", get(list_all))
        .route("/api/2.0/token-management/tokens/{token_id}", get(get_one).delete(delete_one))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateOwn {
    comment: Option<String>,
    lifetime_seconds: Option<i64>,
    scopes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateObo {
    application_id: Option<String>,
    comment: Option<String>,
    lifetime_seconds: Option<i64>,
    scopes: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteOwn {
    token_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ListParams {
    created_by_id: Option<String>,
    created_by_username: Option<String>,
}

/// Comment, expiry and scopes, checked alike for both kinds of create.
fn checked_request(
    state: &AppState,
    comment: Option<String>,
    lifetime_seconds: Option<i64>,
    scopes: Option<Vec<String>>,
) -> ApiResult<(String, Option<i64>)> {
    if scopes.is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::bad_request(
            "Token scopes are not supported; omit 'scopes' for a token with the owner's full access.",
        ));
    }
    let comment = comment.unwrap_or_default();
    validate_comment(&comment).map_err(ApiError::bad_request)?;
    let lifetime = lifetime_millis(lifetime_seconds, state.settings().max_token_lifetime_seconds)
        .map_err(ApiError::bad_request)?;
    Ok((comment, lifetime))
}

/// The public view of one's own token (no owner or creator fields).
#[derive(Debug, Serialize)]
struct PublicTokenInfo {
    comment: String,
    creation_time: i64,
    expiry_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_accessed_time: Option<i64>,
    token_id: String,
}

impl From<TokenRecord> for PublicTokenInfo {
    fn from(t: TokenRecord) -> PublicTokenInfo {
        PublicTokenInfo {
            comment: t.comment,
            creation_time: t.creation_time,
            expiry_time: t.expiry_time,
            last_accessed_time: t.last_used_day,
            token_id: t.token_id,
        }
    }
}

/// The token-management view (`TokenInfo`): ids are JSON numbers.
#[derive(Debug, Serialize)]
struct TokenInfo {
    comment: String,
    created_by_id: PrincipalId,
    created_by_username: String,
    creation_time: i64,
    expiry_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    last_used_day: Option<i64>,
    owner_id: PrincipalId,
    token_id: String,
    workspace_id: WorkspaceId,
}

impl From<TokenRecord> for TokenInfo {
    fn from(t: TokenRecord) -> TokenInfo {
        TokenInfo {
            comment: t.comment,
            created_by_id: t.created_by_id,
            created_by_username: t.created_by_username,
            creation_time: t.creation_time,
            expiry_time: t.expiry_time,
            last_used_day: t.last_used_day,
            owner_id: t.owner_id,
            token_id: t.token_id,
            workspace_id: t.workspace_id,
        }
    }
}

/// A create's answer: the one place a token's value is ever sent.
#[derive(Debug, Serialize)]
struct Created<I> {
    token_info: I,
    #[serde(serialize_with = "expose")]
    token_value: TokenValue,
}

fn expose<S: serde::Serializer>(value: &TokenValue, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value.expose())
}

#[derive(Debug, Serialize)]
struct TokenList<I> {
    token_infos: Vec<I>,
}

#[derive(Debug, Serialize)]
struct OneToken {
    token_info: TokenInfo,
}

fn created<I: From<TokenRecord>>(token_value: TokenValue, record: TokenRecord) -> Json<Created<I>> {
    Json(Created { token_info: I::from(record), token_value })
}

fn token_list<I: From<TokenRecord>>(tokens: Vec<TokenRecord>) -> Json<TokenList<I>> {
    Json(TokenList { token_infos: tokens.into_iter().map(I::from).collect() })
}

async fn create_own(
    Authenticated { state, caller }: Authenticated,
    JsonBody(req): JsonBody<CreateOwn>,
) -> ApiResult<Json<Created<PublicTokenInfo>>> {
    let (comment, expiry) = checked_request(&state, req.comment, req.lifetime_seconds, req.scopes)?;
    let (value, record) = state.store.create_own_token(&caller, &comment, expiry).await?;
    tracing::info!(token_id = %record.token_id, owner_id = record.owner_id.get(), "token created");
    Ok(created(value, record))
}

async fn list_own(
    Authenticated { state, caller }: Authenticated,
) -> ApiResult<Json<TokenList<PublicTokenInfo>>> {
    let tokens = state
        .store
        .list_tokens(
            caller.workspace_id,
            &TokenFilter { owner_id: Some(caller.principal_id), ..TokenFilter::default() },
        )
        .await?;
    Ok(token_list(tokens))
}

async fn delete_own(
    Authenticated { state, caller }: Authenticated,
    JsonBody(req): JsonBody<DeleteOwn>,
) -> ApiResult<Json<Empty>> {
    let token_id = required(req.token_id, "token_id")?;
    state.store.delete_own_token(&caller, &token_id).await?;
    tracing::info!(%token_id, "token revoked by its owner");
    Ok(empty())
}

async fn create_obo(
    Admin { state, admin }: Admin,
    JsonBody(req): JsonBody<CreateObo>,
) -> ApiResult<Json<Created<TokenInfo>>> {
    let raw = req
        .application_id
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("application_id is required"))?;
    let application_id = patchbay_core::ids::parse_application_id(&raw).ok_or_else(|| {
        ApiError::bad_request(format!("application_id '{raw}' is not a valid application ID"))
    })?;
    let (comment, expiry) = checked_request(&state, req.comment, req.lifetime_seconds, req.scopes)?;
    let (value, record) =
        state.store.create_obo_token(&admin, &application_id, &comment, expiry).await?;
    tracing::info!(token_id = %record.token_id, owner_id = record.owner_id.get(), "on-behalf-of token created");
    Ok(created(value, record))
}

async fn list_all(
    Admin { state, admin }: Admin,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<TokenList<TokenInfo>>> {
    let created_by_id = params
        .created_by_id
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse().map(PrincipalId::new).map_err(|_| {
                ApiError::bad_request(format!("created_by_id must be a number, not '{s}'"))
            })
        })
        .transpose()?;
    let tokens = state
        .store
        .list_tokens(
            admin.workspace_id(),
            &TokenFilter {
                owner_id: None,
                created_by_id,
                created_by_username: params.created_by_username.filter(|s| !s.is_empty()),
            },
        )
        .await?;
    Ok(token_list(tokens))
}

fn unknown_token(token_id: &str) -> ApiError {
    ApiError::not_found(format!("Token with id {token_id} does not exist."))
}

async fn get_one(
    Admin { state, admin }: Admin,
    Path(token_id): Path<String>,
) -> ApiResult<Json<OneToken>> {
    if !is_token_id(&token_id) {
        return Err(unknown_token(&token_id));
    }
    let token = state
        .store
        .get_token(admin.workspace_id(), &token_id)
        .await?
        .ok_or_else(|| unknown_token(&token_id))?;
    Ok(Json(OneToken { token_info: token.into() }))
}

async fn delete_one(
    Admin { state, admin }: Admin,
    Path(token_id): Path<String>,
) -> ApiResult<Json<Empty>> {
    if !is_token_id(&token_id) {
        return Err(unknown_token(&token_id));
    }
    state.store.delete_token(&admin, &token_id).await?;
    tracing::info!(%token_id, "token revoked by an admin");
    Ok(empty())
}
