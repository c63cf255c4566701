//! Metastores and their assignment to the workspace.

use super::*;
use patchbay_core::WorkspaceId;
use patchbay_core::time::EpochMillis;

/// A metastore (the API's `MetastoreInfo`).
#[derive(Debug, Serialize)]
pub(super) struct MetastoreInfo {
    created_at: EpochMillis,
    created_by: String,
    delta_sharing_scope: &'static str,
    global_metastore_id: String,
    metastore_id: String,
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    privilege_model_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    storage_root: Option<String>,
    updated_at: EpochMillis,
    updated_by: String,
}

impl From<MetastoreRecord> for MetastoreInfo {
    fn from(m: MetastoreRecord) -> MetastoreInfo {
        MetastoreInfo {
            created_at: m.created_at,
            created_by: m.created_by,
            delta_sharing_scope: "INTERNAL",
            global_metastore_id: format!("patchbay:{}", m.id),
            metastore_id: m.id,
            name: m.name,
            owner: m.owner,
            privilege_model_version: "1.0",
            region: m.region,
            storage_root: m.storage_root,
            updated_at: m.updated_at,
            updated_by: m.updated_by,
        }
    }
}

/// The workspace's metastore assignment.
#[derive(Debug, Serialize)]
pub(super) struct AssignmentInfo {
    default_catalog_name: String,
    metastore_id: String,
    workspace_id: WorkspaceId,
}

// ---- metastores -----------------------------------------------------------------------------

pub(super) async fn metastore_summary(
    Authenticated { state, caller }: Authenticated,
) -> ApiResult<Json<MetastoreInfo>> {
    let m = state.store.metastore_summary(caller.workspace_id).await?;
    Ok(Json(MetastoreInfo::from(m)))
}

pub(super) async fn current_assignment(
    Authenticated { state, caller }: Authenticated,
) -> ApiResult<Json<AssignmentInfo>> {
    let a = state.store.metastore_assignment(caller.workspace_id).await?.ok_or_else(|| {
        ApiError::does_not_exist(
            "METASTORE_DOES_NOT_EXIST",
            "No metastore assigned for the current workspace.",
        )
    })?;
    Ok(Json(AssignmentInfo {
        default_catalog_name: a.default_catalog_name,
        metastore_id: a.metastore_id,
        workspace_id: a.workspace_id,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateMetastore {
    name: Option<String>,
    storage_root: Option<String>,
    region: Option<String>,
    owner: Option<String>,
    external_access_enabled: Option<bool>,
}

pub(super) async fn create_metastore(
    Admin { state, admin }: Admin,
    JsonBody(req): JsonBody<CreateMetastore>,
) -> ApiResult<Json<MetastoreInfo>> {
    let name = required("name", req.name.as_deref())?.to_owned();
    if req.external_access_enabled == Some(true) {
        return Err(ApiError::bad_request(
            "external_access_enabled is not supported: patchbay serves no data.",
        ));
    }
    let m = state
        .store
        .create_metastore(
            &admin,
            &NewMetastore {
                name,
                storage_root: req.storage_root.filter(|s| !s.is_empty()),
                region: req.region.filter(|s| !s.is_empty()),
                owner: req.owner.filter(|s| !s.is_empty()),
            },
        )
        .await?;
    tracing::info!(metastore_id = %m.id, "metastore created");
    Ok(Json(MetastoreInfo::from(m)))
}

pub(super) async fn list_metastores(
    Admin { state, admin }: Admin,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Page<MetastoreInfo>>> {
    let all = state.store.list_metastores(admin.workspace_id()).await?;
    let (page, token) = paginate(all, |m| m.name.clone(), &params)?;
    Ok(page_json("metastores", page, token, MetastoreInfo::from))
}

pub(super) async fn get_metastore(
    Authenticated { state, caller }: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<MetastoreInfo>> {
    let m = state.store.get_metastore(caller.workspace_id, &id).await?;
    Ok(Json(MetastoreInfo::from(m)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdateMetastore {
    new_name: Option<String>,
    owner: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

pub(super) async fn update_metastore(
    Authenticated { state, caller }: Authenticated,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<UpdateMetastore>,
) -> ApiResult<Json<MetastoreInfo>> {
    if req.id.as_deref().is_some_and(|b| b != id) {
        return Err(ApiError::bad_request("The body's id differs from the path's."));
    }
    let m = state
        .store
        .update_metastore(
            &caller,
            &id,
            req.new_name.as_deref().filter(|s| !s.is_empty()),
            req.owner.as_deref().filter(|s| !s.is_empty()),
        )
        .await?;
    Ok(Json(MetastoreInfo::from(m)))
}

pub(super) async fn delete_metastore(
    Admin { state, admin }: Admin,
    Path(id): Path<String>,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Empty>> {
    let force = flag("force", params.force.as_deref())?;
    let tables = state.store.delete_metastore(&admin, &id, force).await?;
    crate::statements::engine::forget_tables(&state, tables).await;
    tracing::info!(metastore_id = %id, "metastore deleted");
    Ok(empty())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Assignment {
    metastore_id: Option<String>,
    default_catalog_name: Option<String>,
    /// Some clients repeat the path's workspace id in the body.
    workspace_id: Option<i64>,
}

fn workspace_param(raw: &str, body: Option<i64>) -> ApiResult<WorkspaceId> {
    let id = WorkspaceId::parse(raw)
        .ok_or_else(|| ApiError::bad_request(format!("'{raw}' is not a workspace id")))?;
    if body.is_some_and(|b| b != id.get()) {
        return Err(ApiError::bad_request("The body's workspace_id differs from the path's."));
    }
    Ok(id)
}

pub(super) async fn assign(
    Admin { state, admin }: Admin,
    Path(workspace): Path<String>,
    JsonBody(req): JsonBody<Assignment>,
) -> ApiResult<Json<Empty>> {
    let workspace_id = workspace_param(&workspace, req.workspace_id)?;
    let metastore_id = required("metastore_id", req.metastore_id.as_deref())?;
    state
        .store
        .assign_metastore(&admin, workspace_id, metastore_id, req.default_catalog_name.as_deref())
        .await?;
    tracing::info!(
        workspace_id = workspace_id.get(),
        metastore_id,
        "metastore assigned: Unity Catalog enabled"
    );
    Ok(empty())
}

pub(super) async fn update_assignment(
    Admin { state, admin }: Admin,
    Path(workspace): Path<String>,
    JsonBody(req): JsonBody<Assignment>,
) -> ApiResult<Json<Empty>> {
    let workspace_id = workspace_param(&workspace, req.workspace_id)?;
    state
        .store
        .update_metastore_assignment(
            &admin,
            workspace_id,
            req.metastore_id.as_deref().filter(|s| !s.is_empty()),
            req.default_catalog_name.as_deref().filter(|s| !s.is_empty()),
        )
        .await?;
    Ok(empty())
}

pub(super) async fn unassign(
    Admin { state, admin }: Admin,
    Path(workspace): Path<String>,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Empty>> {
    let workspace_id = workspace_param(&workspace, None)?;
    let metastore_id = required("metastore_id", params.metastore_id.as_deref())?;
    state.store.unassign_metastore(&admin, workspace_id, metastore_id).await?;
    tracing::info!(workspace_id = workspace_id.get(), metastore_id, "metastore unassigned");
    Ok(empty())
}
