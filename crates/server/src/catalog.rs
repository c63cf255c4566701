//! Unity Catalog under `/api/2.1/unity-catalog`: the metastore and its assignment, catalogs
//! (always `hive_metastore`), schemas, tables, and grants with their inheritance. Handlers
//! parse and shape; the store decides who may do what with the rules of
//! `patchbay_core::catalog`.

use crate::AppState;
use crate::auth::{Admin, Authenticated};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, put};
use patchbay_core::catalog::{self as rules, Securable, SecurableType};
use patchbay_store::{
    CatalogErrorKind, CatalogRecord, CatalogUpdate, ColumnRecord, EffectiveAssignment, GrantChange,
    MetastoreRecord, NewCatalog, NewMetastore, NewSchema, NewTable, PrivilegeAssignment,
    SchemaRecord, TableRecord,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Where the Unity Catalog API lives.
pub const PREFIX: &str = "/api/2.1/unity-catalog";

/// Page length when a client asks for the server's (`max_results=0`), and the longest page.
pub const PAGE_SIZE: usize = 1000;

/// The routes of the Unity Catalog API.
pub fn routes() -> Router<AppState> {
    let p = |path: &str| format!("{PREFIX}{path}");
    Router::new()
        .route(&p("/metastore_summary"), get(metastore_summary))
        .route(&p("/current-metastore-assignment"), get(current_assignment))
        .route(
            &p("/metastores"),
            get(list_metastores).post(create_metastore),
        )
        .route(
            &p("/metastores/{id}"),
            get(get_metastore)
                .patch(update_metastore)
                .delete(delete_metastore),
        )
        .route(
            &p("/workspaces/{workspace_id}/metastore"),
            put(assign).patch(update_assignment).delete(unassign),
        )
        .route(&p("/catalogs"), get(list_catalogs).post(create_catalog))
        .route(
            &p("/catalogs/{name}"),
            get(get_catalog)
                .patch(update_catalog)
                .delete(delete_catalog),
        )
        .route(&p("/schemas"), get(list_schemas).post(create_schema))
        .route(
            &p("/schemas/{full_name}"),
            get(get_schema).patch(update_schema).delete(delete_schema),
        )
        .route(&p("/tables"), get(list_tables).post(create_table))
        .route(
            &p("/tables/{full_name}"),
            get(get_table).patch(update_table).delete(delete_table),
        )
        .route(&p("/tables/{full_name}/exists"), get(table_exists))
        .route(&p("/table-summaries"), get(table_summaries))
        .route(
            &p("/permissions/{securable_type}/{full_name}"),
            get(get_grants).patch(update_grants),
        )
        .route(
            &p("/effective-permissions/{securable_type}/{full_name}"),
            get(get_effective),
        )
}

// ---- JSON shapes ----------------------------------------------------------------------------

/// Adds `key: value` when the value is present.
fn put_opt(v: &mut Value, key: &str, value: Option<impl Into<Value>>) {
    if let Some(value) = value {
        v[key] = value.into();
    }
}

fn metastore_json(m: &MetastoreRecord) -> Value {
    let mut v = json!({
        "metastore_id": m.id,
        "name": m.name,
        "created_at": m.created_at,
        "created_by": m.created_by,
        "updated_at": m.updated_at,
        "updated_by": m.updated_by,
        "privilege_model_version": "1.0",
        "delta_sharing_scope": "INTERNAL",
        "global_metastore_id": format!("patchbay:{}", m.id),
    });
    put_opt(&mut v, "owner", m.owner.clone());
    put_opt(&mut v, "storage_root", m.storage_root.clone());
    put_opt(&mut v, "region", m.region.clone());
    v
}

/// The `catalog_type` of a catalog: `hive_metastore` is the workspace's internal, legacy
/// catalog; every other one is a managed Unity Catalog catalog.
fn catalog_type(legacy: bool) -> &'static str {
    if legacy {
        "INTERNAL_CATALOG"
    } else {
        "MANAGED_CATALOG"
    }
}

fn audit(v: &mut Value, created_at: i64, created_by: &str, updated_at: i64, updated_by: &str) {
    v["created_at"] = json!(created_at);
    v["created_by"] = json!(created_by);
    v["updated_at"] = json!(updated_at);
    v["updated_by"] = json!(updated_by);
}

fn properties(v: &mut Value, p: &Map<String, Value>) {
    if !p.is_empty() {
        v["properties"] = Value::Object(p.clone());
    }
}

fn catalog_json(c: &CatalogRecord) -> Value {
    let mut v = json!({
        "name": c.name,
        "full_name": c.name,
        "catalog_type": catalog_type(c.legacy),
        "securable_type": "CATALOG",
        "isolation_mode": "OPEN",
        "browse_only": false,
    });
    put_opt(&mut v, "owner", c.owner.clone());
    put_opt(&mut v, "comment", c.comment.clone());
    put_opt(&mut v, "metastore_id", c.metastore_id.clone());
    put_opt(&mut v, "storage_root", c.storage_root.clone());
    put_opt(&mut v, "storage_location", c.storage_root.clone());
    properties(&mut v, &c.properties);
    audit(
        &mut v,
        c.created_at,
        &c.created_by,
        c.updated_at,
        &c.updated_by,
    );
    v
}

fn schema_json(s: &SchemaRecord) -> Value {
    let mut v = json!({
        "name": s.name,
        "catalog_name": s.catalog_name,
        "full_name": s.full_name(),
        "schema_id": s.id,
        "catalog_type": catalog_type(s.legacy),
        "securable_type": "SCHEMA",
        "browse_only": false,
    });
    put_opt(&mut v, "owner", s.owner.clone());
    put_opt(&mut v, "comment", s.comment.clone());
    put_opt(&mut v, "metastore_id", s.metastore_id.clone());
    properties(&mut v, &s.properties);
    audit(
        &mut v,
        s.created_at,
        &s.created_by,
        s.updated_at,
        &s.updated_by,
    );
    v
}

fn column_json(c: &ColumnRecord) -> Value {
    let mut v = json!({
        "name": c.name,
        "type_name": c.type_name,
        "type_text": c.type_text,
        "type_json": c.type_json,
        "position": c.position,
        "nullable": c.nullable,
    });
    put_opt(&mut v, "comment", c.comment.clone());
    v
}

fn table_json(t: &TableRecord, with_columns: bool) -> Value {
    let mut v = json!({
        "name": t.name,
        "catalog_name": t.catalog_name,
        "schema_name": t.schema_name,
        "full_name": t.full_name(),
        "table_id": t.id,
        "table_type": t.table_type,
        "securable_type": "TABLE",
        "browse_only": false,
    });
    if with_columns {
        v["columns"] = t.columns.iter().map(column_json).collect();
    }
    put_opt(&mut v, "owner", t.owner.clone());
    put_opt(&mut v, "data_source_format", t.data_source_format.clone());
    put_opt(&mut v, "storage_location", t.storage_location.clone());
    put_opt(&mut v, "comment", t.comment.clone());
    put_opt(&mut v, "metastore_id", t.metastore_id.clone());
    properties(&mut v, &t.properties);
    audit(
        &mut v,
        t.created_at,
        &t.created_by,
        t.updated_at,
        &t.updated_by,
    );
    v
}

fn assignments_json(list: &[PrivilegeAssignment]) -> Value {
    json!({"privilege_assignments": list.iter().map(|a| json!({
        "principal": a.principal,
        "privileges": a.privileges,
    })).collect::<Vec<_>>()})
}

fn effective_json(list: &[EffectiveAssignment]) -> Value {
    json!({"privilege_assignments": list.iter().map(|a| json!({
        "principal": a.principal,
        "privileges": a.privileges.iter().map(|p| {
            let mut v = json!({"privilege": p.privilege});
            if let Some(from) = &p.inherited_from {
                v["inherited_from_type"] = json!(from.securable_type().as_upper());
                v["inherited_from_name"] = json!(from.full_name());
            }
            v
        }).collect::<Vec<_>>(),
    })).collect::<Vec<_>>()})
}

// ---- parameters -----------------------------------------------------------------------------

/// Pagination parameters of the list calls.
#[derive(Debug, Default, Deserialize)]
struct ListParams {
    max_results: Option<String>,
    page_token: Option<String>,
    catalog_name: Option<String>,
    schema_name: Option<String>,
    omit_columns: Option<String>,
    force: Option<String>,
    principal: Option<String>,
    metastore_id: Option<String>,
    schema_name_pattern: Option<String>,
    table_name_pattern: Option<String>,
}

fn flag(name: &str, value: Option<&str>) -> ApiResult<bool> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("" | "false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "{name} must be true or false, not '{other}'"
        ))),
    }
}

/// `max_results`: absent means everything, 0 the server's page length, more is capped by it.
fn page_size(max_results: Option<&str>) -> ApiResult<Option<usize>> {
    let Some(raw) = max_results.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let n: i64 = raw
        .parse()
        .map_err(|_| ApiError::bad_request(format!("max_results must be a number, not '{raw}'")))?;
    match n {
        n if n < 0 => Err(ApiError::bad_request(
            "max_results must not be negative (0 asks for the server's page length).",
        )),
        0 => Ok(Some(PAGE_SIZE)),
        n => Ok(Some(usize::try_from(n).unwrap_or(PAGE_SIZE).min(PAGE_SIZE))),
    }
}

/// One page of a list sorted by `key`; the token is the key of the page's last item, and
/// there is none after the last page.
fn paginate<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> String,
    params: &ListParams,
) -> ApiResult<(Vec<T>, Option<String>)> {
    let size = page_size(params.max_results.as_deref())?;
    let after = params.page_token.as_deref().filter(|t| !t.is_empty());
    let mut rest: Vec<T> = items
        .into_iter()
        .filter(|i| after.is_none_or(|a| key(i).as_str() > a))
        .collect();
    match size {
        Some(size) if rest.len() > size => {
            rest.truncate(size);
            let token = rest.last().map(&key);
            Ok((rest, token))
        }
        _ => Ok((rest, None)),
    }
}

fn page_json(key: &str, items: Vec<Value>, token: Option<String>) -> Json<Value> {
    let mut v = json!({ key: items });
    if let Some(t) = token {
        v["next_page_token"] = json!(t);
    }
    Json(v)
}

fn required<'a>(name: &str, value: Option<&'a str>) -> ApiResult<&'a str> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("{name} is required")))
}

fn securable(securable_type: &str, full_name: &str) -> ApiResult<Securable> {
    Securable::parse(securable_type, full_name).map_err(ApiError::bad_request)
}

fn schema_name(full_name: &str) -> ApiResult<(String, String)> {
    match securable("schema", full_name)? {
        Securable::Schema(c, s) => Ok((c, s)),
        _ => Err(ApiError::bad_request(format!(
            "'{full_name}' is not a schema name"
        ))),
    }
}

fn table_name(full_name: &str) -> ApiResult<Securable> {
    securable("table", full_name)
}

// ---- metastores -----------------------------------------------------------------------------

async fn metastore_summary(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> ApiResult<Json<Value>> {
    let m = state.store.metastore_summary(caller.workspace_id).await?;
    Ok(Json(metastore_json(&m)))
}

async fn current_assignment(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> ApiResult<Json<Value>> {
    let a = state
        .store
        .metastore_assignment(caller.workspace_id)
        .await?
        .ok_or_else(|| {
            ApiError::does_not_exist(
                "METASTORE_DOES_NOT_EXIST",
                "No metastore assigned for the current workspace.",
            )
        })?;
    Ok(Json(json!({
        "workspace_id": a.workspace_id,
        "metastore_id": a.metastore_id,
        "default_catalog_name": a.default_catalog_name,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateMetastore {
    name: Option<String>,
    storage_root: Option<String>,
    region: Option<String>,
    owner: Option<String>,
    external_access_enabled: Option<bool>,
}

async fn create_metastore(
    State(state): State<AppState>,
    Admin(admin): Admin,
    JsonBody(req): JsonBody<CreateMetastore>,
) -> ApiResult<Json<Value>> {
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
    Ok(Json(metastore_json(&m)))
}

async fn list_metastores(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Value>> {
    let all = state.store.list_metastores(admin.workspace_id()).await?;
    let (page, token) = paginate(all, |m| m.name.clone(), &params)?;
    Ok(page_json(
        "metastores",
        page.iter().map(metastore_json).collect(),
        token,
    ))
}

async fn get_metastore(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let m = state.store.get_metastore(caller.workspace_id, &id).await?;
    Ok(Json(metastore_json(&m)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateMetastore {
    new_name: Option<String>,
    owner: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

async fn update_metastore(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<UpdateMetastore>,
) -> ApiResult<Json<Value>> {
    if req.id.as_deref().is_some_and(|b| b != id) {
        return Err(ApiError::bad_request(
            "The body's id differs from the path's.",
        ));
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
    Ok(Json(metastore_json(&m)))
}

async fn delete_metastore(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Value>> {
    let force = flag("force", params.force.as_deref())?;
    state.store.delete_metastore(&admin, &id, force).await?;
    tracing::info!(metastore_id = %id, "metastore deleted");
    Ok(Json(json!({})))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Assignment {
    metastore_id: Option<String>,
    default_catalog_name: Option<String>,
    /// Some clients repeat the path's workspace id in the body.
    workspace_id: Option<i64>,
}

fn workspace_param(raw: &str, body: Option<i64>) -> ApiResult<i64> {
    let id = patchbay_core::ids::parse_numeric_id(raw)
        .ok_or_else(|| ApiError::bad_request(format!("'{raw}' is not a workspace id")))?;
    if body.is_some_and(|b| b != id) {
        return Err(ApiError::bad_request(
            "The body's workspace_id differs from the path's.",
        ));
    }
    Ok(id)
}

async fn assign(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(workspace): Path<String>,
    JsonBody(req): JsonBody<Assignment>,
) -> ApiResult<Json<Value>> {
    let workspace_id = workspace_param(&workspace, req.workspace_id)?;
    let metastore_id = required("metastore_id", req.metastore_id.as_deref())?;
    state
        .store
        .assign_metastore(
            &admin,
            workspace_id,
            metastore_id,
            req.default_catalog_name.as_deref(),
        )
        .await?;
    tracing::info!(
        workspace_id,
        metastore_id,
        "metastore assigned: Unity Catalog enabled"
    );
    Ok(Json(json!({})))
}

async fn update_assignment(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(workspace): Path<String>,
    JsonBody(req): JsonBody<Assignment>,
) -> ApiResult<Json<Value>> {
    let workspace_id = workspace_param(&workspace, req.workspace_id)?;
    state
        .store
        .update_metastore_assignment(
            &admin,
            workspace_id,
            req.metastore_id.as_deref().filter(|s| !s.is_empty()),
            req.default_catalog_name
                .as_deref()
                .filter(|s| !s.is_empty()),
        )
        .await?;
    Ok(Json(json!({})))
}

async fn unassign(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(workspace): Path<String>,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Value>> {
    let workspace_id = workspace_param(&workspace, None)?;
    let metastore_id = required("metastore_id", params.metastore_id.as_deref())?;
    state
        .store
        .unassign_metastore(&admin, workspace_id, metastore_id)
        .await?;
    tracing::info!(workspace_id, metastore_id, "metastore unassigned");
    Ok(Json(json!({})))
}

// ---- catalogs -------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateCatalog {
    name: Option<String>,
    comment: Option<String>,
    properties: Option<Map<String, Value>>,
    storage_root: Option<String>,
    connection_name: Option<String>,
    provider_name: Option<String>,
    share_name: Option<String>,
    options: Option<Map<String, Value>>,
}

fn string_properties(p: Option<Map<String, Value>>) -> ApiResult<Map<String, Value>> {
    let p = p.unwrap_or_default();
    if let Some((k, _)) = p.iter().find(|(_, v)| !v.is_string()) {
        return Err(ApiError::bad_request(format!(
            "Property '{k}' must be a string."
        )));
    }
    Ok(p)
}

async fn list_catalogs(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Value>> {
    let all = state.store.list_catalogs_for(&caller).await?;
    let (page, token) = paginate(all, |c| c.name.clone(), &params)?;
    Ok(page_json(
        "catalogs",
        page.iter().map(catalog_json).collect(),
        token,
    ))
}

async fn create_catalog(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<CreateCatalog>,
) -> ApiResult<Json<Value>> {
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
    Ok(Json(catalog_json(&c)))
}

async fn get_catalog(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let c = state.store.get_catalog(&caller, &name).await?;
    Ok(Json(catalog_json(&c)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateObject {
    owner: Option<String>,
    new_name: Option<String>,
    comment: Option<String>,
    properties: Option<Map<String, Value>>,
    isolation_mode: Option<String>,
    /// Some clients repeat the path's name in the body; the path decides.
    #[serde(default, rename = "name")]
    _name: Option<String>,
    #[serde(default, rename = "full_name")]
    _full_name: Option<String>,
}

fn object_update(req: UpdateObject) -> ApiResult<CatalogUpdate> {
    if req
        .isolation_mode
        .as_deref()
        .is_some_and(|m| !m.eq_ignore_ascii_case("OPEN"))
    {
        return Err(ApiError::bad_request(
            "Only isolation_mode OPEN is supported: catalogs are not bound to workspaces.",
        ));
    }
    Ok(CatalogUpdate {
        owner: req.owner.filter(|o| !o.trim().is_empty()),
        new_name: req.new_name.filter(|n| !n.trim().is_empty()),
        comment: req.comment,
        properties: req
            .properties
            .map(Some)
            .map(string_properties)
            .transpose()?,
    })
}

async fn update_catalog(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
    JsonBody(req): JsonBody<UpdateObject>,
) -> ApiResult<Json<Value>> {
    let c = state
        .store
        .update_catalog(&caller, &name, &object_update(req)?)
        .await?;
    Ok(Json(catalog_json(&c)))
}

async fn delete_catalog(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(name): Path<String>,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Value>> {
    let force = flag("force", params.force.as_deref())?;
    state.store.delete_catalog(&caller, &name, force).await?;
    tracing::info!(catalog = %name, "catalog deleted");
    Ok(Json(json!({})))
}

// ---- schemas --------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateSchema {
    name: Option<String>,
    catalog_name: Option<String>,
    comment: Option<String>,
    properties: Option<Map<String, Value>>,
    storage_root: Option<String>,
}

async fn list_schemas(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Value>> {
    let catalog = required("catalog_name", params.catalog_name.as_deref())?;
    let all = state.store.list_schemas_for(&caller, catalog).await?;
    let (page, token) = paginate(all, |s| s.name.clone(), &params)?;
    Ok(page_json(
        "schemas",
        page.iter().map(schema_json).collect(),
        token,
    ))
}

async fn create_schema(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<CreateSchema>,
) -> ApiResult<Json<Value>> {
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
    Ok(Json(schema_json(&s)))
}

async fn get_schema(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(full_name): Path<String>,
) -> ApiResult<Json<Value>> {
    let (c, s) = schema_name(&full_name)?;
    let s = state.store.get_schema(&caller, &c, &s).await?;
    Ok(Json(schema_json(&s)))
}

async fn update_schema(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(full_name): Path<String>,
    JsonBody(req): JsonBody<UpdateObject>,
) -> ApiResult<Json<Value>> {
    let (c, s) = schema_name(&full_name)?;
    let s = state
        .store
        .update_schema(&caller, &c, &s, &object_update(req)?)
        .await?;
    Ok(Json(schema_json(&s)))
}

async fn delete_schema(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(full_name): Path<String>,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Value>> {
    let (c, s) = schema_name(&full_name)?;
    let force = flag("force", params.force.as_deref())?;
    state.store.delete_schema(&caller, &c, &s, force).await?;
    tracing::info!(schema = %full_name, "schema deleted");
    Ok(Json(json!({})))
}

// ---- tables ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnInfo {
    name: Option<String>,
    type_name: Option<String>,
    type_text: Option<String>,
    type_json: Option<String>,
    position: Option<i64>,
    nullable: Option<bool>,
    comment: Option<String>,
    /// Accepted and not kept: they describe storage, which patchbay does not have.
    #[serde(default, rename = "partition_index")]
    _partition_index: Option<i64>,
    #[serde(default, rename = "type_precision")]
    _type_precision: Option<i64>,
    #[serde(default, rename = "type_scale")]
    _type_scale: Option<i64>,
    #[serde(default, rename = "type_interval_type")]
    _type_interval_type: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTable {
    name: Option<String>,
    catalog_name: Option<String>,
    schema_name: Option<String>,
    table_type: Option<String>,
    data_source_format: Option<String>,
    storage_location: Option<String>,
    columns: Option<Vec<ColumnInfo>>,
    properties: Option<Map<String, Value>>,
    comment: Option<String>,
}

fn column(i: usize, c: ColumnInfo) -> ApiResult<ColumnRecord> {
    let name = c
        .name
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("columns[{i}].name is required")))?;
    let type_name = match (c.type_name, c.type_text.as_deref()) {
        (Some(t), _) if !t.trim().is_empty() => t,
        (_, Some(text)) if !text.trim().is_empty() => rules::column_type_name(text)
            .map_err(ApiError::bad_request)?
            .to_owned(),
        _ => {
            return Err(ApiError::bad_request(format!(
                "columns[{i}] ('{name}') needs a type_name"
            )));
        }
    };
    Ok(ColumnRecord {
        name,
        position: c.position.unwrap_or(-1),
        type_name,
        type_text: c.type_text.unwrap_or_default(),
        type_json: c.type_json.unwrap_or_default(),
        nullable: c.nullable.unwrap_or(true),
        comment: c.comment,
    })
}

async fn list_tables(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Value>> {
    let catalog = required("catalog_name", params.catalog_name.as_deref())?;
    let schema = required("schema_name", params.schema_name.as_deref())?;
    let omit_columns = flag("omit_columns", params.omit_columns.as_deref())?;
    let all = state
        .store
        .list_tables_for(&caller, catalog, schema, omit_columns)
        .await?;
    let (page, token) = paginate(all, |t| t.name.clone(), &params)?;
    Ok(page_json(
        "tables",
        page.iter().map(|t| table_json(t, !omit_columns)).collect(),
        token,
    ))
}

async fn create_table(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<CreateTable>,
) -> ApiResult<Json<Value>> {
    let name = required("name", req.name.as_deref())?.to_owned();
    let catalog_name = required("catalog_name", req.catalog_name.as_deref())?.to_owned();
    let schema_name = required("schema_name", req.schema_name.as_deref())?.to_owned();
    let columns = req
        .columns
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, c)| column(i, c))
        .collect::<ApiResult<Vec<_>>>()?;
    let t = state
        .store
        .create_table(
            &caller,
            &NewTable {
                catalog_name,
                schema_name,
                name,
                table_type: req.table_type.unwrap_or_else(|| "MANAGED".into()),
                data_source_format: req.data_source_format,
                storage_location: req.storage_location.filter(|s| !s.is_empty()),
                comment: req.comment,
                properties: string_properties(req.properties)?,
                columns,
            },
        )
        .await?;
    tracing::info!(table = %t.full_name(), "table created");
    Ok(Json(table_json(&t, true)))
}

async fn get_table(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(full_name): Path<String>,
) -> ApiResult<Json<Value>> {
    let t = state
        .store
        .get_table(&caller, &table_name(&full_name)?)
        .await?;
    Ok(Json(table_json(&t, true)))
}

async fn table_exists(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(full_name): Path<String>,
) -> ApiResult<Json<Value>> {
    let exists = state
        .store
        .table_exists(&caller, &table_name(&full_name)?)
        .await?;
    Ok(Json(json!({"table_exists": exists})))
}

/// `table-summaries`: the full name and type of every table of a catalog the caller may see,
/// optionally only in schemas and of names matching SQL `LIKE` patterns (`%`, `_`). The
/// legacy CLI's `catalogs delete --purge` lists a catalog's tables this way.
async fn table_summaries(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Value>> {
    let catalog = required("catalog_name", params.catalog_name.as_deref())?;
    let matches = |pattern: Option<&str>, name: &str| pattern.is_none_or(|p| like(p, name));
    let mut all = Vec::new();
    for schema in state.store.list_schemas_for(&caller, catalog).await? {
        if !matches(params.schema_name_pattern.as_deref(), &schema.name) {
            continue;
        }
        match state
            .store
            .list_tables_for(&caller, catalog, &schema.name, true)
            .await
        {
            Ok(tables) => all.extend(
                tables
                    .into_iter()
                    .filter(|t| matches(params.table_name_pattern.as_deref(), &t.name)),
            ),
            // A schema the caller sees but may not use shows no tables.
            Err(e) if e.kind() == Some(CatalogErrorKind::Denied) => {}
            Err(e) => return Err(e.into()),
        }
    }
    all.sort_by_key(TableRecord::full_name);
    let (page, token) = paginate(all, TableRecord::full_name, &params)?;
    Ok(page_json(
        "tables",
        page.iter()
            .map(|t| json!({"full_name": t.full_name(), "table_type": t.table_type}))
            .collect(),
        token,
    ))
}

/// SQL `LIKE` without escapes: `%` is any run of characters, `_` any one character; case
/// matters as in a name.
fn like(pattern: &str, s: &str) -> bool {
    fn go(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('%', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some(('_', rest)) => !s.is_empty() && go(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = s.chars().collect();
    go(&p, &s)
}

async fn update_table(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(full_name): Path<String>,
    JsonBody(req): JsonBody<UpdateObject>,
) -> ApiResult<Json<Value>> {
    let t = state
        .store
        .update_table(&caller, &table_name(&full_name)?, &object_update(req)?)
        .await?;
    Ok(Json(table_json(&t, true)))
}

async fn delete_table(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(full_name): Path<String>,
) -> ApiResult<Json<Value>> {
    state
        .store
        .delete_table(&caller, &table_name(&full_name)?)
        .await?;
    tracing::info!(table = %full_name, "table deleted");
    Ok(Json(json!({})))
}

// ---- grants ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PermissionsChange {
    principal: Option<String>,
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdatePermissions {
    /// Required, as a PATCH without changes (or without a body) is a client's mistake that
    /// would otherwise answer 200; an explicit `[]` reads the grants back unchanged.
    changes: Option<Vec<PermissionsChange>>,
    #[serde(default)]
    omit_permissions_in_response: bool,
}

/// The securable of a grants path. A metastore is named by its id, which must be the
/// workspace's.
async fn grants_securable(
    state: &AppState,
    workspace_id: i64,
    securable_type: &str,
    full_name: &str,
) -> ApiResult<Securable> {
    let s = securable(securable_type, full_name)?;
    if s.securable_type() == SecurableType::Metastore {
        let assigned = state.store.metastore_assignment(workspace_id).await?;
        if assigned.is_none_or(|a| a.metastore_id != full_name) {
            return Err(ApiError::does_not_exist(
                "METASTORE_DOES_NOT_EXIST",
                format!("Metastore '{full_name}' is not this workspace's metastore."),
            ));
        }
    }
    Ok(s)
}

/// The grants API's `max_results`: below 0, or between 1 and 149, is refused (so that a page
/// can always hold a whole assignment); every assignment fits the server's page.
fn check_grants_page(max_results: Option<&str>) -> ApiResult<()> {
    let Some(raw) = max_results.filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    match raw.parse::<i64>() {
        Ok(0) => Ok(()),
        Ok(n) if n >= 150 => Ok(()),
        _ => Err(ApiError::bad_request(format!(
            "max_results must be 0 or at least 150, not '{raw}'"
        ))),
    }
}

async fn get_grants(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((securable_type, full_name)): Path<(String, String)>,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Value>> {
    check_grants_page(params.max_results.as_deref())?;
    let s = grants_securable(&state, caller.workspace_id, &securable_type, &full_name).await?;
    let list = state
        .store
        .grants(&caller, &s, params.principal.as_deref())
        .await?;
    Ok(Json(assignments_json(&list)))
}

async fn update_grants(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((securable_type, full_name)): Path<(String, String)>,
    JsonBody(req): JsonBody<UpdatePermissions>,
) -> ApiResult<Json<Value>> {
    let changes = req
        .changes
        .ok_or_else(|| {
            ApiError::bad_request(
                "changes is required: a list of {principal, add, remove} to apply.",
            )
        })?
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            Ok(GrantChange {
                principal: c
                    .principal
                    .filter(|p| !p.trim().is_empty())
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "changes[{i}].principal is required (user e-mail, group name or application id)"
                        ))
                    })?,
                add: c.add,
                remove: c.remove,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let s = grants_securable(&state, caller.workspace_id, &securable_type, &full_name).await?;
    let list = state.store.update_grants(&caller, &s, &changes).await?;
    tracing::info!(securable = %s, changes = changes.len(), "grants changed");
    if req.omit_permissions_in_response {
        return Ok(Json(json!({})));
    }
    Ok(Json(assignments_json(&list)))
}

async fn get_effective(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path((securable_type, full_name)): Path<(String, String)>,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Value>> {
    check_grants_page(params.max_results.as_deref())?;
    let s = grants_securable(&state, caller.workspace_id, &securable_type, &full_name).await?;
    let list = state
        .store
        .effective_grants(&caller, &s, params.principal.as_deref())
        .await?;
    Ok(Json(effective_json(&list)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(max: Option<&str>, token: Option<&str>) -> ListParams {
        ListParams {
            max_results: max.map(str::to_owned),
            page_token: token.map(str::to_owned),
            ..ListParams::default()
        }
    }

    #[test]
    fn pages_follow_names_and_end_without_a_token() {
        let names = || vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        let (page, token) = paginate(names(), Clone::clone, &params(Some("2"), None)).unwrap();
        assert_eq!(
            (page, token.as_deref()),
            (vec!["a".into(), "b".into()], Some("b"))
        );
        let (page, token) = paginate(names(), Clone::clone, &params(Some("2"), Some("b"))).unwrap();
        assert_eq!((page, token), (vec!["c".to_owned()], None));
        let (page, token) = paginate(names(), Clone::clone, &params(Some("0"), None)).unwrap();
        assert_eq!((page.len(), token), (3, None));
        assert!(paginate(names(), Clone::clone, &params(Some("-1"), None)).is_err());
        assert!(paginate(names(), Clone::clone, &params(Some("x"), None)).is_err());
    }

    #[test]
    fn like_patterns() {
        assert!(like("%", ""));
        assert!(like("sales%", "sales_2024"));
        assert!(like("s_les", "sales"));
        assert!(like("%or%", "orders"));
        assert!(!like("sales", "Sales"));
        assert!(!like("s_", "s"));
        assert!(!like("a%b", "ac"));
    }

    #[test]
    fn grants_pages_refuse_small_and_negative_sizes() {
        assert!(check_grants_page(None).is_ok());
        assert!(check_grants_page(Some("0")).is_ok());
        assert!(check_grants_page(Some("150")).is_ok());
        assert!(check_grants_page(Some("10")).is_err());
        assert!(check_grants_page(Some("-1")).is_err());
    }
}
