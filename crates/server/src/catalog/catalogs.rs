//! Catalogs: `hive_metastore` and the metastore's own.

use super::*;

/// The `catalog_type` of a catalog: `hive_metastore` is the workspace's internal, legacy
/// catalog; every other one is a managed Unity Catalog catalog.
pub(super) fn catalog_type(legacy: bool) -> &'static str {
    if legacy { "INTERNAL_CATALOG" } else { "MANAGED_CATALOG" }
}

impl From<CatalogRecord> for SecurableInfo {
    /// A catalog; its `storage_root` is also shown as `storage_location`.
    fn from(c: CatalogRecord) -> SecurableInfo {
        securable_info!(c, "CATALOG", c.name.clone(), {
            catalog_type: Some(catalog_type(c.legacy)),
            isolation_mode: Some("OPEN"),
            storage_location: c.storage_root.clone(),
            storage_root: c.storage_root,
        })
    }
}

// ---- catalogs -------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateCatalog {
    name: Option<String>,
    comment: Option<String>,
    properties: Option<Map<String, Value>>,
    storage_root: Option<String>,
    connection_name: Option<String>,
    provider_name: Option<String>,
    share_name: Option<String>,
    options: Option<Map<String, Value>>,
}

pub(super) async fn list_catalogs(
    Authenticated { state, caller }: Authenticated,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Page<SecurableInfo>>> {
    let all = state.store.list_catalogs_for(&caller).await?;
    let (page, token) = paginate(all, |c| c.name.clone(), &params)?;
    Ok(page_json("catalogs", page, token, SecurableInfo::from))
}

pub(super) async fn create_catalog(
    Authenticated { state, caller }: Authenticated,
    JsonBody(req): JsonBody<CreateCatalog>,
) -> ApiResult<Json<SecurableInfo>> {
    let name = required("name", req.name.as_deref())?.to_owned();
    if req.connection_name.is_some() || req.provider_name.is_some() || req.share_name.is_some() {
        return Err(ApiError::bad_request(
            "Foreign and Delta Sharing catalogs are not supported: omit connection_name, \
             provider_name and share_name.",
        ));
    }
    if req.options.is_some_and(|o| !o.is_empty()) {
        return Err(ApiError::bad_request(
            "options apply to foreign catalogs, which are not supported.",
        ));
    }
    let c = state
        .store
        .create_catalog(
            &caller,
            &NewCatalog {
                name,
                comment: req.comment,
                storage_root: req.storage_root.filter(|s| !s.is_empty()),
                properties: string_properties(req.properties)?,
            },
        )
        .await?;
    tracing::info!(catalog = %c.name, "catalog created");
    Ok(Json(SecurableInfo::from(c)))
}

pub(super) async fn get_catalog(
    Authenticated { state, caller }: Authenticated,
    Path(name): Path<String>,
) -> ApiResult<Json<SecurableInfo>> {
    let c = state.store.get_catalog(&caller, &name).await?;
    Ok(Json(SecurableInfo::from(c)))
}

pub(super) async fn update_catalog(
    Authenticated { state, caller }: Authenticated,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<UpdateObject>,
) -> ApiResult<Json<SecurableInfo>> {
    let c = state.store.update_catalog(&caller, &name, &object_update(req)?).await?;
    Ok(Json(SecurableInfo::from(c)))
}

pub(super) async fn delete_catalog(
    Authenticated { state, caller }: Authenticated,
    Path(name): Path<String>,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Empty>> {
    let force = flag("force", params.force.as_deref())?;
    let tables = state.store.delete_catalog(&caller, &name, force).await?;
    crate::statements::engine::forget_tables(&state, tables).await;
    tracing::info!(catalog = %name, "catalog deleted");
    Ok(empty())
}
