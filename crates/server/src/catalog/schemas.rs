//! Schemas of a catalog.

use super::*;

impl From<SchemaRecord> for SecurableInfo {
    /// A schema.
    fn from(s: SchemaRecord) -> SecurableInfo {
        securable_info!(s, "SCHEMA", s.full_name(), {
            catalog_name: Some(s.catalog_name),
            catalog_type: Some(catalog_type(s.legacy)),
            schema_id: Some(s.id),
        })
    }
}

// ---- schemas --------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateSchema {
    name: Option<String>,
    catalog_name: Option<String>,
    comment: Option<String>,
    properties: Option<Map<String, Value>>,
    storage_root: Option<String>,
}

pub(super) async fn list_schemas(
    Authenticated { state, caller }: Authenticated,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Page<SecurableInfo>>> {
    let catalog = required("catalog_name", params.catalog_name.as_deref())?;
    let all = state.store.list_schemas_for(&caller, catalog).await?;
    let (page, token) = paginate(all, |s| s.name.clone(), &params)?;
    Ok(page_json("schemas", page, token, SecurableInfo::from))
}

pub(super) async fn create_schema(
    Authenticated { state, caller }: Authenticated,
    JsonBody(req): JsonBody<CreateSchema>,
) -> ApiResult<Json<SecurableInfo>> {
    let name = required("name", req.name.as_deref())?.to_owned();
    let catalog_name = required("catalog_name", req.catalog_name.as_deref())?.to_owned();
    if req.storage_root.is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::bad_request(
            "storage_root is not supported on schemas: patchbay keeps metadata only.",
        ));
    }
    let s = state
        .store
        .create_schema(
            &caller,
            &NewSchema {
                catalog_name,
                name,
                comment: req.comment,
                properties: string_properties(req.properties)?,
            },
        )
        .await?;
    tracing::info!(schema = %s.full_name(), "schema created");
    Ok(Json(SecurableInfo::from(s)))
}

pub(super) async fn get_schema(
    Authenticated { state, caller }: Authenticated,
    Path(full_name): Path<String>,
) -> ApiResult<Json<SecurableInfo>> {
    let (c, s) = schema_name(&full_name)?;
    let s = state.store.get_schema(&caller, &c, &s).await?;
    Ok(Json(SecurableInfo::from(s)))
}

pub(super) async fn update_schema(
    Authenticated { state, caller }: Authenticated,
    Path(full_name): Path<String>,
    JsonBody(req): JsonBody<UpdateObject>,
) -> ApiResult<Json<SecurableInfo>> {
    let (c, s) = schema_name(&full_name)?;
    let s = state.store.update_schema(&caller, &c, &s, &object_update(req)?).await?;
    Ok(Json(SecurableInfo::from(s)))
}

pub(super) async fn delete_schema(
    Authenticated { state, caller }: Authenticated,
    Path(full_name): Path<String>,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Empty>> {
    let (c, s) = schema_name(&full_name)?;
    let force = flag("force", params.force.as_deref())?;
    let tables = state.store.delete_schema(&caller, &c, &s, force).await?;
    crate::statements::engine::forget_tables(&state, tables).await;
    tracing::info!(schema = %full_name, "schema deleted");
    Ok(empty())
}
