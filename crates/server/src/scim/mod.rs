//! SCIM 2.0 under `/api/2.0/preview/scim/v2`: users, service principals, groups, `/Me`, and the
//! discovery documents. Reads are open to every authenticated principal; writes need a
//! workspace admin.

mod discovery;
mod projection;
mod rendered;
pub(crate) mod repr;

pub use rendered::Renderings;

use crate::AppState;
use crate::auth::{Admin, Authenticated, AuthenticatedSelf};
use crate::body::{JsonBody, RequiredJsonBody};
use crate::error::{ApiError, Envelope};
use crate::params::Params;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use patchbay_core::ids::parse_application_id;
use patchbay_core::principal::PrincipalKind;
use patchbay_core::scim::filter::{AttrPath, parse_filter};
use patchbay_core::scim::patch::{self, PatchSchema};
use patchbay_core::{PrincipalId, WorkspaceId};
use patchbay_store::{ListQuery, PrincipalData, PrincipalRecord, StoreError};
use projection::{Projection, Shown};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const PREFIX: &str = "/api/2.0/preview/scim/v2";

/// Most resources one list page returns, and the page size when `count` is absent.
pub const MAX_COUNT: i64 = 10_000;

const LIST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
const SCIM_JSON: &str = "application/scim+json";

/// An error on a SCIM path: always rendered in the SCIM envelope.
pub struct ScimError(ApiError);

impl From<ApiError> for ScimError {
    fn from(e: ApiError) -> Self {
        ScimError(e.in_envelope(Envelope::Scim))
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        ScimError::from(ApiError::from(e))
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

type ScimResult = Result<Response, ScimError>;

/// The three resource types, as type parameters of the shared handlers.
trait Resource: Send + Sync + 'static {
    const KIND: PrincipalKind;
}
struct Users;
struct ServicePrincipals;
struct Groups;
impl Resource for Users {
    const KIND: PrincipalKind = PrincipalKind::User;
}
impl Resource for ServicePrincipals {
    const KIND: PrincipalKind = PrincipalKind::ServicePrincipal;
}
impl Resource for Groups {
    const KIND: PrincipalKind = PrincipalKind::Group;
}

/// The SCIM routes, at their full paths under [`PREFIX`] (merged, not nested: a nested router
/// rewrites every request's URI on the way in).
pub fn routes() -> Router<AppState> {
    let mut router = Router::new()
        .route(&at("/Me"), get(me))
        .route(&at("/.search"), post(search_not_supported))
        .route(&at("/Bulk"), post(bulk_not_supported));
    router = resource::<Users>(router, "/Users");
    router = resource::<ServicePrincipals>(router, "/ServicePrincipals");
    router = resource::<Groups>(router, "/Groups");
    discovery::routes(router).method_not_allowed_fallback(method_not_allowed)
}

/// A path under [`PREFIX`].
fn at(path: &str) -> String {
    format!("{PREFIX}{path}")
}

fn resource<R: Resource>(router: Router<AppState>, path: &str) -> Router<AppState> {
    let path = at(path);
    router
        .route(&path, get(list::<R>).post(create::<R>))
        .route(&format!("{path}/.search"), post(search_not_supported))
        .route(
            &format!("{path}/{{id}}"),
            get(get_one::<R>).put(update::<R>).patch(update::<R>).delete(delete_one::<R>),
        )
}

/// A SCIM JSON response.
fn scim_json(status: StatusCode, body: impl Serialize) -> Response {
    // Into a buffer that fits a resource at once (`axum::Json` starts at 128 bytes and grows a
    // `BytesMut` write by write).
    let mut buf = Vec::with_capacity(1024);
    if let Err(e) = serde_json::to_writer(&mut buf, &body) {
        return ApiError::internal(format!("cannot serialize a SCIM response: {e}"))
            .into_response();
    }
    scim_bytes(status, buf.into())
}

/// A SCIM JSON response already written.
fn scim_bytes(status: StatusCode, body: Bytes) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON))], body).into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListParams {
    filter: Option<String>,
    attributes: Option<String>,
    excluded_attributes: Option<String>,
    start_index: Option<String>,
    count: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
}

fn number(name: &str, value: Option<&str>) -> Result<Option<i64>, ApiError> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            v.trim().parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!("{name} must be an integer, not '{v}'"))
                    .scim_type("invalidValue")
            })
        })
        .transpose()
}

fn list_query(params: &ListParams) -> Result<ListQuery, ApiError> {
    let filter = params
        .filter
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .map(|f| {
            parse_filter(f).map_err(|e| ApiError::bad_request(e.message).scim_type("invalidFilter"))
        })
        .transpose()?;
    let sort_by = params
        .sort_by
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            AttrPath::parse(s.trim()).map_err(|e| {
                ApiError::bad_request(format!("Invalid sortBy: {}", e.message))
                    .scim_type("invalidValue")
            })
        })
        .transpose()?;
    let descending = match params.sort_order.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("ascending") => false,
        Some("descending") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "sortOrder must be 'ascending' or 'descending', not '{other}'"
            ))
            .scim_type("invalidValue"));
        }
    };
    Ok(ListQuery {
        filter,
        sort_by,
        descending,
        start_index: number("startIndex", params.start_index.as_deref())?.unwrap_or(1).max(1),
        count: number("count", params.count.as_deref())?.unwrap_or(MAX_COUNT).clamp(0, MAX_COUNT),
    })
}

async fn list<R: Resource>(
    Authenticated { state, caller }: Authenticated,
    Params(params): Params<ListParams>,
) -> ScimResult {
    let query = list_query(&params)?;
    let page = state.store.list_principals(caller.workspace_id, R::KIND, &query).await?;
    let projection =
        Projection::new(params.attributes.as_deref(), params.excluded_attributes.as_deref());
    let resources: Vec<Shown> = page
        .items
        .iter()
        .map(|r| projection.show(R::KIND, repr::Resource::of(r, state.renderings().base())))
        .collect();
    Ok(scim_json(
        StatusCode::OK,
        ListResponse {
            items_per_page: resources.len(),
            resources,
            schemas: [LIST_SCHEMA],
            start_index: query.start_index,
            total_results: page.total,
        },
    ))
}

/// A page of a list, as RFC 7644 §3.4.2 names its parts: of resources, or of the discovery
/// documents. Fields in byte order (`Resources` first), the order its bytes have always had.
#[derive(Serialize)]
struct ListResponse<T> {
    #[serde(rename = "Resources")]
    resources: Vec<T>,
    #[serde(rename = "itemsPerPage")]
    items_per_page: usize,
    schemas: [&'static str; 1],
    #[serde(rename = "startIndex")]
    start_index: i64,
    #[serde(rename = "totalResults")]
    total_results: i64,
}

/// A resource as a write answers it: every attribute a plain GET would show.
fn shown<'a>(state: &AppState, record: &'a PrincipalRecord) -> Shown<'a> {
    Projection::default().show(record.kind, repr::Resource::of(record, state.renderings().base()))
}

/// Finds a resource by SCIM id; service principals also by application id (the admin guide
/// deletes them that way).
async fn resolve(
    state: &AppState,
    workspace_id: WorkspaceId,
    kind: PrincipalKind,
    id: &str,
) -> Result<PrincipalRecord, ScimError> {
    let found = match (PrincipalId::parse(id), kind) {
        (Some(n), _) => state.store.get_principal(workspace_id, kind, n).await?,
        (None, PrincipalKind::ServicePrincipal) => match parse_application_id(id) {
            Some(app_id) => state.store.find_service_principal(workspace_id, &app_id).await?,
            None => None,
        },
        (None, _) => None,
    };
    found.ok_or_else(|| {
        ScimError::from(
            ApiError::not_found(format!("{} with id {id} not found.", kind.noun()))
                .scim_type("invalidValue"),
        )
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    attributes: Option<String>,
    excluded_attributes: Option<String>,
}

async fn get_one<R: Resource>(
    Authenticated { state, caller }: Authenticated,
    Path(id): Path<String>,
    Params(params): Params<GetParams>,
) -> ScimResult {
    let record = resolve(&state, caller.workspace_id, R::KIND, &id).await?;
    Ok(projected(&state, &params, R::KIND, &record, None))
}

/// A resource as a GET answers it (of `kind`, shown as a user named `as_user` if given): its
/// whole rendering, kept between reads, unless the parameters leave attributes out.
fn projected(
    state: &AppState,
    params: &GetParams,
    kind: PrincipalKind,
    record: &PrincipalRecord,
    as_user: Option<&str>,
) -> Response {
    let projection =
        Projection::new(params.attributes.as_deref(), params.excluded_attributes.as_deref());
    if projection.keeps_whole(kind) {
        return scim_bytes(StatusCode::OK, state.renderings().whole(record, as_user));
    }
    let mut resource = repr::Resource::of(record, state.renderings().base());
    if let Some(name) = as_user {
        resource = resource.shown_as_user(name);
    }
    scim_json(StatusCode::OK, projection.show(kind, resource))
}

async fn create<R: Resource>(
    Admin { state, admin }: Admin,
    JsonBody(body): JsonBody<Value>,
) -> ScimResult {
    let data = repr::from_json(R::KIND, &body, repr::Intent::Create)?;
    let record = state.store.create_principal(&admin, R::KIND, &data).await?;
    let mut response = scim_json(StatusCode::CREATED, shown(&state, &record));
    // The same absolute URI as the resource's `meta.location` (RFC 7644 §3.1).
    let location = repr::location(state.renderings().base(), R::KIND, record.id);
    match HeaderValue::from_str(&location) {
        Ok(location) => {
            response.headers_mut().insert(header::LOCATION, location);
        }
        Err(_) => tracing::warn!(%location, "the public URL cannot be a Location header"),
    }
    Ok(response)
}

/// PUT replaces a resource with the body's representation; PATCH applies the body's operations
/// to the resource as it is. Either way the outcome is read like a representation a client
/// sent, written over the resource and answered as a plain GET shows it.
async fn update<R: Resource>(
    method: Method,
    Admin { state, admin }: Admin,
    Path(id): Path<String>,
    // A PUT without a body would replace the resource with nothing.
    RequiredJsonBody(body): RequiredJsonBody<Value>,
) -> ScimResult {
    let existing = resolve(&state, admin.workspace_id(), R::KIND, &id).await?;
    let data = if method == Method::PUT {
        repr::from_json(R::KIND, &body, repr::Intent::Replace(&existing))?
    } else {
        patched(&state, R::KIND, &existing, &body)?
    };
    let record = state.store.replace_principal(&admin, R::KIND, existing.id, &data).await?;
    Ok(scim_json(StatusCode::OK, shown(&state, &record)))
}

/// Which attributes are lists, for PATCH `add`.
struct Schema;

impl PatchSchema for Schema {
    fn is_multi_valued(&self, attr: &AttrPath) -> bool {
        matches!(
            attr.name.to_ascii_lowercase().as_str(),
            "emails" | "entitlements" | "roles" | "members" | "groups"
        )
    }
}

/// The data of resource `existing` after a PATCH request's operations.
fn patched(
    state: &AppState,
    kind: PrincipalKind,
    existing: &PrincipalRecord,
    body: &Value,
) -> Result<PrincipalData, ScimError> {
    let operations = patch::parse_patch_request(body).map_err(patch_error)?;
    // PATCH operations work on the resource as a document, by attribute path: a `Value`.
    let before = repr::to_json(existing, state.renderings().base());
    let mut document = before.clone();
    patch::apply(&mut document, &operations, &Schema).map_err(patch_error)?;
    // Server-assigned and read-only attributes (group membership is changed on the group's
    // `members`) must come out of the operations as they went in.
    for read_only in ["id", "meta", "groups"] {
        if document.get(read_only) != before.get(read_only) {
            return Err(ApiError::bad_request(format!("Attribute '{read_only}' is read-only"))
                .scim_type("mutability")
                .into());
        }
    }
    repr::from_json(kind, &document, repr::Intent::Patched(existing)).map_err(ScimError::from)
}

fn patch_error(e: patch::PatchError) -> ScimError {
    ScimError::from(ApiError::bad_request(e.message).scim_type(e.scim_type))
}

async fn delete_one<R: Resource>(
    Admin { state, admin }: Admin,
    Path(id): Path<String>,
) -> ScimResult {
    let existing = resolve(&state, admin.workspace_id(), R::KIND, &id).await?;
    state.store.delete_principal(&admin, R::KIND, existing.id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The caller itself. A service principal is shown as a user whose `userName` is its
/// application id, as Databricks does; `X-Databricks-Org-Id` tells SDKs the workspace.
async fn me(
    State(state): State<AppState>,
    AuthenticatedSelf(caller, record): AuthenticatedSelf,
    Params(params): Params<GetParams>,
) -> ScimResult {
    // A service principal is shown as a user named by its application id.
    let as_user = (caller.kind == PrincipalKind::ServicePrincipal).then_some(caller.name.as_str());
    let mut response = projected(&state, &params, PrincipalKind::User, &record, as_user);
    response
        .headers_mut()
        .insert("x-databricks-org-id", HeaderValue::from(caller.workspace_id.get()));
    Ok(response)
}

async fn search_not_supported() -> ScimError {
    ApiError::not_implemented("POST /.search is not supported; use GET with a filter.").into()
}

async fn bulk_not_supported() -> ScimError {
    ApiError::not_implemented("Bulk operations are not supported.").into()
}

async fn method_not_allowed() -> ScimError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "This method is not allowed on this endpoint.",
    )
    .into()
}
