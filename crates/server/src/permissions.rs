//! The Permissions API (`/api/2.0/permissions/…`): who may use what. So far the token
//! permission, `authorization/tokens`, which decides who may hold personal access tokens.

use crate::AppState;
use crate::auth::Admin;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::get;
use patchbay_core::principal::PrincipalKind;
use patchbay_store::{AclEntry, AclUpdate, TOKENS};
use serde::Deserialize;
use serde_json::{Value, json};

const TOKEN_LEVELS: [(&str, &str); 2] = [
    ("CAN_USE", "Can create and use personal access tokens"),
    (
        "CAN_MANAGE",
        "Can manage who may use personal access tokens",
    ),
];

pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    // The preview alias appears in older curl examples.
    for base in ["/api/2.0/permissions", "/api/2.0/preview/permissions"] {
        router = router
            .route(
                &format!("{base}/authorization/tokens"),
                get(get_tokens).put(put_tokens).patch(patch_tokens),
            )
            .route(
                &format!("{base}/authorization/tokens/permissionLevels"),
                get(token_levels),
            );
    }
    router
}

/// One entry of an `access_control_list` request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessControlRequest {
    user_name: Option<String>,
    group_name: Option<String>,
    service_principal_name: Option<String>,
    permission_level: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclRequest {
    access_control_list: Option<Vec<AccessControlRequest>>,
}

/// Finds the principal an ACL entry names; exactly one of the three names must be given.
async fn resolve(
    state: &AppState,
    workspace_id: i64,
    entry: &AccessControlRequest,
) -> ApiResult<(i64, String)> {
    let named: Vec<(&str, &String)> = [
        ("user_name", entry.user_name.as_ref()),
        ("group_name", entry.group_name.as_ref()),
        (
            "service_principal_name",
            entry.service_principal_name.as_ref(),
        ),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect();
    let [(field, name)] = named.as_slice() else {
        return Err(ApiError::bad_request(
            "Each access control entry needs exactly one of user_name, group_name or service_principal_name",
        ));
    };
    let store = &state.store;
    let found = match *field {
        "user_name" => store.find_user(workspace_id, name).await?,
        "group_name" => store.find_group(workspace_id, name).await?,
        _ => match patchbay_core::ids::parse_application_id(name) {
            Some(app_id) => store.find_service_principal(workspace_id, &app_id).await?,
            None => None,
        },
    };
    let principal = found.ok_or_else(|| {
        ApiError::bad_request(format!(
            "Principal {name} ({field}) does not exist in this workspace."
        ))
    })?;
    let level = entry
        .permission_level
        .clone()
        .ok_or_else(|| ApiError::bad_request(format!("permission_level is required for {name}")))?;
    Ok((principal.id, level))
}

fn token_acl_json(entries: &[AclEntry]) -> Value {
    let list: Vec<Value> = entries
        .iter()
        .map(|e| {
            let key = match e.kind {
                PrincipalKind::User => "user_name",
                PrincipalKind::Group => "group_name",
                PrincipalKind::ServicePrincipal => "service_principal_name",
            };
            let mut v = json!({
                key: e.name,
                "all_permissions": [{"permission_level": e.permission_level, "inherited": false}],
            });
            if let Some(d) = &e.display_name {
                v["display_name"] = json!(d);
            }
            v
        })
        .collect();
    json!({"object_id": "authorization/tokens", "object_type": "tokens", "access_control_list": list})
}

async fn get_tokens(State(state): State<AppState>, Admin(admin): Admin) -> ApiResult<Json<Value>> {
    let acl = state.store.acl(admin.workspace_id(), TOKENS).await?;
    Ok(Json(token_acl_json(&acl)))
}

async fn token_levels(_admin: Admin) -> Json<Value> {
    let levels: Vec<Value> = TOKEN_LEVELS
        .iter()
        .map(|(level, description)| json!({"permission_level": level, "description": description}))
        .collect();
    Json(json!({"permission_levels": levels}))
}

async fn put_tokens(
    state: State<AppState>,
    admin: Admin,
    body: JsonBody<AclRequest>,
) -> ApiResult<Json<Value>> {
    update_tokens(state, admin, body, AclUpdate::Replace).await
}

async fn patch_tokens(
    state: State<AppState>,
    admin: Admin,
    body: JsonBody<AclRequest>,
) -> ApiResult<Json<Value>> {
    update_tokens(state, admin, body, AclUpdate::Merge).await
}

/// PUT replaces the ACL, PATCH adds to it; either way `admins` keeps CAN_MANAGE.
async fn update_tokens(
    State(state): State<AppState>,
    Admin(admin): Admin,
    JsonBody(req): JsonBody<AclRequest>,
    update: AclUpdate,
) -> ApiResult<Json<Value>> {
    let workspace_id = admin.workspace_id();
    let requested = req.access_control_list.unwrap_or_default();
    let mut entries = Vec::with_capacity(requested.len());
    let mut admins_level = None;
    for entry in &requested {
        let (principal_id, level) = resolve(&state, workspace_id, entry).await?;
        if !TOKEN_LEVELS.iter().any(|(l, _)| *l == level) {
            return Err(ApiError::bad_request(format!(
                "Permission level {level} is not valid for tokens; use CAN_USE or CAN_MANAGE"
            )));
        }
        if entry.group_name.as_deref() == Some("admins") {
            admins_level = Some(level.clone());
        }
        entries.push((principal_id, level));
    }
    match (update, admins_level.as_deref()) {
        (_, Some("CAN_MANAGE")) | (AclUpdate::Merge, None) => {}
        (_, other) => {
            return Err(ApiError::bad_request(format!(
                "Cannot change permissions for group 'admins' to {}.",
                other.unwrap_or("None")
            )));
        }
    }
    let acl = state
        .store
        .update_acl(&admin, TOKENS, &entries, update)
        .await?;
    tracing::info!(
        entries = entries.len(),
        ?update,
        "token permissions changed"
    );
    Ok(Json(token_acl_json(&acl)))
}
