//! The Permissions API (`/api/2.0/permissions/…`): who may use what. The token permission,
//! `authorization/tokens`, decides who may hold personal access tokens; SQL warehouses
//! (`sql/warehouses/{id}` for Terraform, `warehouses/{id}` for the SDKs), clusters and jobs each
//! have their own ACL, with the levels and owner rules of [`patchbay_core::compute`].

use crate::AppState;
use crate::auth::{Admin, Authenticated};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::response::PrincipalName;
use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::http::Method;
use axum::routing::get;
use patchbay_core::compute::{
    AclGrant, ObjectKind, PermissionLevel, TOKEN_LEVELS, describe_token_level,
};
use patchbay_core::principal::PrincipalKind;
use patchbay_core::{PrincipalId, WorkspaceId};
use patchbay_store::{AclEntry, AclUpdate, TOKENS};
use serde::{Deserialize, Serialize};

pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    // The preview alias appears in older curl examples.
    for base in ["/api/2.0/permissions", "/api/2.0/preview/permissions"] {
        router = router
            .route(
                &format!("{base}/authorization/tokens"),
                get(get_tokens).put(update_tokens).patch(update_tokens),
            )
            .route(&format!("{base}/authorization/tokens/permissionLevels"), get(token_levels));
        router = object_routes::<Warehouses>(router, base, "sql/warehouses");
        router = object_routes::<Warehouses>(router, base, "warehouses");
        router = object_routes::<Clusters>(router, base, "clusters");
        router = object_routes::<Jobs>(router, base, "jobs");
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

/// The list a PUT or PATCH sets. It is required: a request without one (the JS SDK sends no
/// body at all for an update without entries) would otherwise answer 200 and change nothing,
/// or, for a PUT, read as "remove every direct permission". An empty list says that explicitly.
fn required_acl(req: AclRequest, update: AclUpdate) -> ApiResult<Vec<AccessControlRequest>> {
    req.access_control_list.ok_or_else(|| {
        ApiError::bad_request(match update {
            AclUpdate::Replace => {
                "access_control_list is required: the entries that replace the direct \
                 permissions ([] removes them all)."
            }
            AclUpdate::Merge => {
                "access_control_list is required: the entries to add to the permissions."
            }
        })
    })
}

/// Finds the principal an ACL entry names; exactly one of the three names must be given.
async fn resolve(
    state: &AppState,
    workspace_id: WorkspaceId,
    entry: &AccessControlRequest,
) -> ApiResult<(PrincipalId, String)> {
    let named: Vec<(&str, &String)> = [
        ("user_name", entry.user_name.as_ref()),
        ("group_name", entry.group_name.as_ref()),
        ("service_principal_name", entry.service_principal_name.as_ref()),
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

/// `ObjectPermissions`: an object's ACL as the Permissions API answers it.
#[derive(Debug, Serialize)]
struct ObjectPermissions {
    access_control_list: Vec<AccessControl>,
    object_id: String,
    object_type: &'static str,
}

/// One principal's entry in an [`ObjectPermissions`].
#[derive(Debug, Serialize)]
struct AccessControl {
    all_permissions: Vec<Permission>,
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    #[serde(flatten)]
    principal: PrincipalName,
}

#[derive(Debug, Clone, Serialize)]
struct Permission {
    inherited: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    inherited_from_object: Option<[&'static str; 1]>,
    permission_level: PermissionLevel,
}

/// `{"permission_levels": […]}` of a `…/permissionLevels` call.
#[derive(Debug, Serialize)]
struct PermissionLevels {
    permission_levels: Vec<LevelInfo>,
}

#[derive(Debug, Serialize)]
struct LevelInfo {
    description: &'static str,
    permission_level: PermissionLevel,
}

impl AccessControl {
    /// The entry of `e`, holding `all_permissions`.
    fn of(e: &AclEntry, all_permissions: Vec<Permission>) -> AccessControl {
        AccessControl {
            all_permissions,
            display_name: e.display_name.clone(),
            principal: PrincipalName::new(e.kind, e.name.clone()),
        }
    }
}

impl Permission {
    fn direct(level: PermissionLevel) -> Permission {
        Permission { inherited: false, inherited_from_object: None, permission_level: level }
    }
}

fn token_acl_json(entries: &[AclEntry]) -> ObjectPermissions {
    ObjectPermissions {
        access_control_list: entries
            .iter()
            .map(|e| AccessControl::of(e, vec![Permission::direct(e.permission_level)]))
            .collect(),
        object_id: "authorization/tokens".to_owned(),
        object_type: "tokens",
    }
}

async fn get_tokens(Admin { state, admin }: Admin) -> ApiResult<Json<ObjectPermissions>> {
    let acl = state.store.acl(admin.workspace_id(), TOKENS).await?;
    Ok(Json(token_acl_json(&acl)))
}

async fn token_levels(_admin: Admin) -> Json<PermissionLevels> {
    Json(PermissionLevels {
        permission_levels: TOKEN_LEVELS
            .into_iter()
            .map(|level| LevelInfo {
                description: describe_token_level(level),
                permission_level: level,
            })
            .collect(),
    })
}

/// What a PUT or PATCH of an ACL does: PUT replaces the direct permissions, PATCH adds to them
/// (the routes take no other method for an update).
fn acl_update(method: &Method) -> AclUpdate {
    if method == Method::PUT { AclUpdate::Replace } else { AclUpdate::Merge }
}

/// PUT replaces the ACL, PATCH adds to it; either way `admins` keeps CAN_MANAGE.
async fn update_tokens(
    method: Method,
    Admin { state, admin }: Admin,
    JsonBody(req): JsonBody<AclRequest>,
) -> ApiResult<Json<ObjectPermissions>> {
    let update = acl_update(&method);
    let workspace_id = admin.workspace_id();
    let requested = required_acl(req, update)?;
    let mut entries = Vec::with_capacity(requested.len());
    let mut admins_level = None;
    for entry in &requested {
        let (principal_id, text) = resolve(&state, workspace_id, entry).await?;
        let level = PermissionLevel::parse(&text).filter(|l| TOKEN_LEVELS.contains(l)).ok_or_else(
            || {
                ApiError::bad_request(format!(
                    "Permission level {text} is not valid for tokens; use CAN_USE or CAN_MANAGE"
                ))
            },
        )?;
        if entry.group_name.as_deref() == Some("admins") {
            admins_level = Some(level);
        }
        entries.push((principal_id, level));
    }
    match (update, admins_level) {
        (_, Some(PermissionLevel::CanManage)) | (AclUpdate::Merge, None) => {}
        (_, other) => {
            return Err(ApiError::bad_request(format!(
                "Cannot change permissions for group 'admins' to {}.",
                other.map_or("None", PermissionLevel::as_str)
            )));
        }
    }
    let acl = state.store.update_acl(&admin, TOKENS, &entries, update).await?;
    tracing::info!(entries = entries.len(), ?update, "token permissions changed");
    Ok(Json(token_acl_json(&acl)))
}

/// The kinds of compute object with an ACL, as type parameters of the shared handlers.
trait Compute: Send + Sync + 'static {
    const KIND: ObjectKind;
}
struct Warehouses;
struct Clusters;
struct Jobs;
impl Compute for Warehouses {
    const KIND: ObjectKind = ObjectKind::Warehouse;
}
impl Compute for Clusters {
    const KIND: ObjectKind = ObjectKind::Cluster;
}
impl Compute for Jobs {
    const KIND: ObjectKind = ObjectKind::Job;
}

fn object_routes<K: Compute>(router: Router<AppState>, base: &str, path: &str) -> Router<AppState> {
    router
        .route(
            &format!("{base}/{path}/{{id}}"),
            get(get_object::<K>).put(update_object::<K>).patch(update_object::<K>),
        )
        .route(&format!("{base}/{path}/{{id}}/permissionLevels"), get(object_levels::<K>))
}

/// Resolves the principals of a requested ACL and checks each level belongs to `kind`, before
/// anything is written. Also used for a job's create-time `access_control_list`.
pub(crate) async fn resolve_grants(
    state: &AppState,
    workspace_id: WorkspaceId,
    kind: ObjectKind,
    entries: &[AccessControlRequest],
) -> ApiResult<Vec<AclGrant>> {
    let mut grants = Vec::with_capacity(entries.len());
    for entry in entries {
        let (principal_id, level) = resolve(state, workspace_id, entry).await?;
        let level = kind.parse_level(&level).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Permission level {level} is not valid for a {}; use {}.",
                kind.noun(),
                kind.expected_levels()
            ))
        })?;
        grants.push(AclGrant { principal_id, is_group: entry.group_name.is_some(), level });
    }
    Ok(grants)
}

/// `ObjectPermissions` of a compute object. Admins hold CAN_MANAGE on every object, shown the
/// way Databricks shows it: inherited from the root of the object type.
fn object_acl_json(kind: ObjectKind, id: &str, entries: &[AclEntry]) -> ObjectPermissions {
    let admins_inherited = Permission {
        inherited: true,
        inherited_from_object: Some([kind.root_object()]),
        permission_level: PermissionLevel::CanManage,
    };
    let mut admins_listed = false;
    let mut list: Vec<AccessControl> = entries
        .iter()
        .map(|e| {
            let mut permissions = vec![Permission::direct(e.permission_level)];
            if e.kind == PrincipalKind::Group && e.name == "admins" {
                admins_listed = true;
                permissions.push(admins_inherited.clone());
            }
            AccessControl::of(e, permissions)
        })
        .collect();
    if !admins_listed {
        list.push(AccessControl {
            all_permissions: vec![admins_inherited],
            display_name: None,
            principal: PrincipalName::new(PrincipalKind::Group, "admins".to_owned()),
        });
    }
    ObjectPermissions {
        access_control_list: list,
        object_id: kind.object_id(id),
        object_type: kind.object_type(),
    }
}

async fn get_object<K: Compute>(
    Authenticated { state, caller }: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<ObjectPermissions>> {
    let acl = state.store.object_acl(&caller, K::KIND, &id).await?;
    Ok(Json(object_acl_json(K::KIND, &id, &acl)))
}

async fn object_levels<K: Compute>(
    Authenticated { state, caller }: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<PermissionLevels>> {
    // Only for an object the caller may see, like its ACL.
    state.store.object_acl(&caller, K::KIND, &id).await?;
    Ok(Json(PermissionLevels {
        permission_levels: K::KIND
            .levels()
            .iter()
            .map(|l| LevelInfo { description: K::KIND.describe(*l), permission_level: *l })
            .collect(),
    }))
}

/// PUT replaces the object's ACL (keeping its owner unless a new one is named), PATCH adds to
/// it; the caller needs CAN_MANAGE, and moving ownership an admin or the current owner.
async fn update_object<K: Compute>(
    method: Method,
    Authenticated { state, caller }: Authenticated,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<AclRequest>,
) -> ApiResult<Json<ObjectPermissions>> {
    let kind = K::KIND;
    let update = acl_update(&method);
    let requested = required_acl(req, update)?;
    let grants = resolve_grants(&state, caller.workspace_id, kind, &requested).await?;
    let acl = state.store.update_object_acl(&caller, kind, &id, &grants, update).await?;
    tracing::info!(
        object_type = kind.object_type(),
        object_id = %id,
        entries = grants.len(),
        ?update,
        "object permissions changed"
    );
    Ok(Json(object_acl_json(kind, &id, &acl)))
}
