//! SQL warehouses (`/api/2.0/sql/warehouses`) and the legacy data sources list that Terraform
//! reads (`/api/2.0/preview/sql/data_sources`). A new or started warehouse reports STARTING,
//! then RUNNING — never STOPPED, which the SDK's waiter treats as failure.

use super::page;
use crate::AppState;
use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::response::{Empty, empty};
use axum::Json;
use axum::Router;
use axum::extract::Path;
use axum::routing::{get, post};
use patchbay_core::PrincipalId;
use patchbay_core::access::Caller;
use patchbay_core::compute::warehouse::{API_DEFAULT_AUTO_STOP_MINS, SqlEndpoint};
use patchbay_core::compute::{
    ChannelName, ClusterSize, SpotInstancePolicy, WarehouseSpec, WarehouseState, WarehouseType,
};
use patchbay_core::time::EpochMillis;
use patchbay_store::WarehouseRecord;
use serde::{Deserialize, Serialize};

const BASE: &str = "/api/2.0/sql/warehouses";

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(BASE, get(list).post(create))
        .route(&format!("{BASE}/{{id}}"), get(get_one).delete(delete_one))
        .route(&format!("{BASE}/{{id}}/edit"), post(edit))
        .route(&format!("{BASE}/{{id}}/start"), post(start))
        .route(&format!("{BASE}/{{id}}/stop"), post(stop))
        .route("/api/2.0/preview/sql/data_sources", get(data_sources))
}

/// The fields of a create or edit request. Unknown fields are ignored: the SDKs add optional
/// fields release by release (`customer_version_label`, `reyden_cluster_size_multiplier`, …)
/// and send `creator_name`, which the server decides.
#[derive(Debug, Default, Deserialize)]
struct WarehouseRequest {
    name: Option<String>,
    cluster_size: Option<String>,
    min_num_clusters: Option<i64>,
    max_num_clusters: Option<i64>,
    auto_stop_mins: Option<i64>,
    enable_photon: Option<bool>,
    enable_serverless_compute: Option<bool>,
    warehouse_type: Option<String>,
    spot_instance_policy: Option<String>,
    channel: Option<ChannelRequest>,
    tags: Option<TagsRequest>,
    instance_profile_arn: Option<String>,
    statement_timeout: Option<i64>,
    max_dbu: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct ChannelRequest {
    name: Option<String>,
    dbsql_version: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TagsRequest {
    custom_tags: Option<Vec<TagRequest>>,
}

#[derive(Debug, Deserialize)]
struct TagRequest {
    key: Option<String>,
    value: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ListParams {
    page_size: Option<i64>,
    page_token: Option<String>,
}

/// An enum field: absent, empty and `*_UNSPECIFIED`-style placeholders mean "not given".
fn parse_enum<T>(
    value: Option<String>,
    field: &str,
    parse: fn(&str) -> Option<T>,
    expected: fn() -> String,
) -> ApiResult<Option<T>> {
    match value.as_deref().map(str::trim) {
        None | Some("" | "TYPE_UNSPECIFIED") => Ok(None),
        Some(s) => parse(s).map(Some).ok_or_else(|| {
            ApiError::bad_request(format!("{field} '{s}' is not one of {}.", expected()))
        }),
    }
}

impl WarehouseRequest {
    /// The specification this request makes of `base`: the defaults on create, the current
    /// specification on edit (fields the request leaves out keep their values).
    fn apply(self, base: &WarehouseSpec, creating: bool) -> ApiResult<WarehouseSpec> {
        let mut spec = base.clone();
        if let Some(name) = self.name {
            spec.name = name;
        }
        if let Some(size) = parse_enum(
            self.cluster_size,
            "cluster_size",
            ClusterSize::parse,
            ClusterSize::expected,
        )? {
            spec.cluster_size = size;
        }
        if let Some(min) = self.min_num_clusters {
            spec.min_num_clusters = min;
            if creating && self.max_num_clusters.is_none() {
                spec.max_num_clusters = min;
            }
        }
        if let Some(max) = self.max_num_clusters {
            spec.max_num_clusters = max;
        }
        if let Some(mins) = self.auto_stop_mins {
            spec.auto_stop_mins = mins;
        }
        if let Some(photon) = self.enable_photon {
            spec.enable_photon = photon;
        }
        if let Some(serverless) = self.enable_serverless_compute {
            spec.enable_serverless_compute = serverless;
        }
        match parse_enum(
            self.warehouse_type,
            "warehouse_type",
            WarehouseType::parse,
            WarehouseType::expected,
        )? {
            Some(t) => spec.warehouse_type = t,
            // Serverless only exists as Pro: asking for it without a type means Pro.
            None if creating && spec.enable_serverless_compute => {
                spec.warehouse_type = WarehouseType::Pro;
            }
            None => {}
        }
        if let Some(policy) = parse_enum(
            self.spot_instance_policy,
            "spot_instance_policy",
            SpotInstancePolicy::parse,
            SpotInstancePolicy::expected,
        )? {
            spec.spot_instance_policy = policy;
        }
        if let Some(channel) = self.channel {
            if let Some(name) =
                parse_enum(channel.name, "channel.name", ChannelName::parse, ChannelName::expected)?
            {
                spec.channel.name = name;
            }
            spec.channel.dbsql_version = channel.dbsql_version.filter(|v| !v.is_empty());
        }
        if let Some(tags) = self.tags {
            spec.custom_tags = tags
                .custom_tags
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.key.unwrap_or_default(), t.value.unwrap_or_default()))
                .collect();
        }
        if let Some(arn) = self.instance_profile_arn {
            spec.instance_profile_arn = Some(arn).filter(|a| !a.is_empty());
        }
        if let Some(t) = self.statement_timeout {
            spec.statement_timeout = Some(t);
        }
        if let Some(d) = self.max_dbu {
            spec.max_dbu = Some(d);
        }
        spec.validate().map_err(ApiError::bad_request)?;
        Ok(spec)
    }
}

/// A warehouse as `GET` answers it (`GetWarehouseResponse`, also the list's `EndpointInfo`).
#[derive(Debug, Serialize)]
struct WarehouseInfo {
    auto_resume: bool,
    auto_stop_mins: i64,
    channel: ChannelInfo,
    cluster_size: &'static str,
    creator_id: PrincipalId,
    creator_name: String,
    enable_photon: bool,
    enable_serverless_compute: bool,
    health: Health,
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    instance_profile_arn: Option<String>,
    jdbc_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_dbu: Option<i64>,
    max_num_clusters: i64,
    min_num_clusters: i64,
    name: String,
    num_active_sessions: i64,
    num_clusters: i64,
    odbc_params: OdbcParams,
    spot_instance_policy: &'static str,
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    statement_timeout: Option<i64>,
    tags: Tags,
    warehouse_type: &'static str,
}

#[derive(Debug, Serialize)]
struct ChannelInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    dbsql_version: Option<String>,
    name: &'static str,
}

#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    summary: &'static str,
}

#[derive(Debug, Serialize)]
struct OdbcParams {
    hostname: String,
    path: String,
    port: i64,
    protocol: String,
}

/// `{}` without tags, `{"custom_tags": […]}` with some.
#[derive(Debug, Serialize)]
struct Tags {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    custom_tags: Vec<Tag>,
}

#[derive(Debug, Serialize)]
struct Tag {
    key: String,
    value: String,
}

#[derive(Debug, Serialize)]
struct Created {
    id: String,
}

#[derive(Debug, Serialize)]
struct WarehouseList {
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
    warehouses: Vec<WarehouseInfo>,
}

/// A legacy data source (`/api/2.0/preview/sql/data_sources`).
#[derive(Debug, Serialize)]
struct DataSource {
    endpoint_id: String,
    id: String,
    name: String,
    pause_reason: &'static str,
    paused: i64,
    supports_auto_limit: bool,
    syntax: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    view_only: bool,
    warehouse_id: String,
}

impl WarehouseInfo {
    /// The answer for `w`, its state as of now.
    fn of(
        w: WarehouseRecord,
        public_url: &str,
        now: EpochMillis,
        delay_millis: i64,
    ) -> WarehouseInfo {
        let state = w.state_at(now, delay_millis);
        let endpoint = SqlEndpoint::of(public_url, &w.id);
        let spec = w.spec;
        let summary = match state {
            WarehouseState::Running => "The warehouse is running.",
            WarehouseState::Starting => "The warehouse is starting.",
            WarehouseState::Stopping => "The warehouse is stopping.",
            WarehouseState::Stopped => "The warehouse is stopped; it starts when used.",
            WarehouseState::Deleting | WarehouseState::Deleted => "The warehouse is deleted.",
        };
        WarehouseInfo {
            auto_resume: true,
            auto_stop_mins: spec.auto_stop_mins,
            channel: ChannelInfo {
                dbsql_version: spec.channel.dbsql_version,
                name: spec.channel.name.as_str(),
            },
            cluster_size: spec.cluster_size.as_str(),
            creator_id: w.creator_id,
            creator_name: w.creator_name,
            enable_photon: spec.enable_photon,
            enable_serverless_compute: spec.enable_serverless_compute,
            health: Health { status: "HEALTHY", summary },
            id: w.id,
            instance_profile_arn: spec.instance_profile_arn,
            jdbc_url: endpoint.jdbc_url(),
            max_dbu: spec.max_dbu,
            max_num_clusters: spec.max_num_clusters,
            min_num_clusters: spec.min_num_clusters,
            name: spec.name,
            num_active_sessions: 0,
            num_clusters: if state == WarehouseState::Running { spec.min_num_clusters } else { 0 },
            odbc_params: OdbcParams {
                hostname: endpoint.hostname,
                path: endpoint.path,
                port: endpoint.port,
                protocol: endpoint.protocol,
            },
            spot_instance_policy: spec.spot_instance_policy.as_str(),
            state: state.as_str(),
            statement_timeout: spec.statement_timeout,
            tags: Tags {
                custom_tags: spec
                    .custom_tags
                    .into_iter()
                    .map(|(key, value)| Tag { key, value })
                    .collect(),
            },
            warehouse_type: spec.warehouse_type.as_str(),
        }
    }
}

async fn create(
    Authenticated { state, caller }: Authenticated,
    JsonBody(req): JsonBody<WarehouseRequest>,
) -> ApiResult<Json<Created>> {
    if req.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(ApiError::bad_request("name is required"));
    }
    let base =
        WarehouseSpec { auto_stop_mins: API_DEFAULT_AUTO_STOP_MINS, ..WarehouseSpec::default() };
    let spec = req.apply(&base, true)?;
    let warehouse = state.store.create_warehouse(&caller, &spec).await?;
    tracing::info!(warehouse_id = %warehouse.id, name = %spec.name, "SQL warehouse created");
    Ok(Json(Created { id: warehouse.id }))
}

async fn public_url(state: &AppState, caller: &Caller) -> ApiResult<String> {
    Ok(state.store.workspace_public_url(caller.workspace_id).await?)
}

async fn get_one(
    Authenticated { state, caller }: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<WarehouseInfo>> {
    let warehouse = state.store.warehouse(&caller, &id).await?;
    let url = public_url(&state, &caller).await?;
    Ok(Json(WarehouseInfo::of(
        warehouse,
        &url,
        state.now_millis(),
        state.settings().compute_transition_millis,
    )))
}

async fn list(
    Authenticated { state, caller }: Authenticated,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<WarehouseList>> {
    let all = state.store.list_warehouses(&caller).await?;
    let (warehouses, next) =
        page(all, |w| w.id.as_str(), params.page_size, params.page_token.as_deref());
    let url = public_url(&state, &caller).await?;
    let delay = state.settings().compute_transition_millis;
    let now = state.now_millis();
    Ok(Json(WarehouseList {
        next_page_token: next,
        warehouses: warehouses
            .into_iter()
            .map(|w| WarehouseInfo::of(w, &url, now, delay))
            .collect(),
    }))
}

async fn edit(
    Authenticated { state, caller }: Authenticated,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<WarehouseRequest>,
) -> ApiResult<Json<Empty>> {
    let warehouse = state
        .store
        .edit_warehouse(&caller, &id, |current| req.apply(current, false).map_err(|e| e.message))
        .await?;
    tracing::info!(warehouse_id = %warehouse.id, "SQL warehouse edited");
    Ok(empty())
}

async fn delete_one(
    Authenticated { state, caller }: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Empty>> {
    state.store.delete_warehouse(&caller, &id).await?;
    tracing::info!(warehouse_id = %id, "SQL warehouse deleted");
    Ok(empty())
}

async fn start(
    Authenticated { state, caller }: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Empty>> {
    state.store.start_warehouse(&caller, &id).await?;
    tracing::info!(warehouse_id = %id, "SQL warehouse started");
    Ok(empty())
}

async fn stop(
    Authenticated { state, caller }: Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Empty>> {
    state.store.stop_warehouse(&caller, &id).await?;
    tracing::info!(warehouse_id = %id, "SQL warehouse stopped");
    Ok(empty())
}

/// The legacy data sources: one per warehouse the caller may see. Terraform fails a warehouse
/// whose data source is missing from a successful answer.
async fn data_sources(
    Authenticated { state, caller }: Authenticated,
) -> ApiResult<Json<Vec<DataSource>>> {
    let warehouses = state.store.list_warehouses(&caller).await?;
    Ok(Json(
        warehouses
            .into_iter()
            .map(|w| DataSource {
                endpoint_id: w.id.clone(),
                id: w.data_source_id,
                name: w.spec.name,
                pause_reason: "",
                paused: 0,
                supports_auto_limit: true,
                syntax: "sql",
                kind: "databricks_internal",
                view_only: false,
                warehouse_id: w.id,
            })
            .collect(),
    ))
}
