//! SQL warehouses (`/api/2.0/sql/warehouses`) and the legacy data sources list that Terraform
//! reads (`/api/2.0/preview/sql/data_sources`). A new or started warehouse reports STARTING,
//! then RUNNING — never STOPPED, which the SDK's waiter treats as failure.

use super::page;
use crate::AppState;
use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use patchbay_core::access::Caller;
use patchbay_core::compute::warehouse::{API_DEFAULT_AUTO_STOP_MINS, SqlEndpoint};
use patchbay_core::compute::{
    ChannelName, ClusterSize, SpotInstancePolicy, WarehouseSpec, WarehouseState, WarehouseType,
};
use patchbay_core::time::now_millis;
use patchbay_store::WarehouseRecord;
use serde::Deserialize;
use serde_json::{Value, json};

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
            if let Some(name) = parse_enum(
                channel.name,
                "channel.name",
                ChannelName::parse,
                ChannelName::expected,
            )? {
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

/// A warehouse as `GET` answers it (`GetWarehouseResponse`, also the list's `EndpointInfo`),
/// its state as of `now`.
fn warehouse_json(w: &WarehouseRecord, public_url: &str, delay_millis: i64) -> Value {
    let state = w.state_at(now_millis(), delay_millis);
    let spec = &w.spec;
    let endpoint = SqlEndpoint::of(public_url, &w.id);
    let mut channel = json!({"name": spec.channel.name.as_str()});
    if let Some(v) = &spec.channel.dbsql_version {
        channel["dbsql_version"] = json!(v);
    }
    let tags = if spec.custom_tags.is_empty() {
        json!({})
    } else {
        let pairs: Vec<Value> = spec
            .custom_tags
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        json!({"custom_tags": pairs})
    };
    let summary = match state {
        WarehouseState::Running => "The warehouse is running.",
        WarehouseState::Starting => "The warehouse is starting.",
        WarehouseState::Stopping => "The warehouse is stopping.",
        WarehouseState::Stopped => "The warehouse is stopped; it starts when used.",
        WarehouseState::Deleting | WarehouseState::Deleted => "The warehouse is deleted.",
    };
    let mut v = json!({
        "id": w.id,
        "name": spec.name,
        "cluster_size": spec.cluster_size.as_str(),
        "min_num_clusters": spec.min_num_clusters,
        "max_num_clusters": spec.max_num_clusters,
        "auto_stop_mins": spec.auto_stop_mins,
        "auto_resume": true,
        "creator_name": w.creator_name,
        "creator_id": w.creator_id,
        "tags": tags,
        "spot_instance_policy": spec.spot_instance_policy.as_str(),
        "enable_photon": spec.enable_photon,
        "enable_serverless_compute": spec.enable_serverless_compute,
        "warehouse_type": spec.warehouse_type.as_str(),
        "channel": channel,
        "state": state.as_str(),
        "num_clusters": if state == WarehouseState::Running { spec.min_num_clusters } else { 0 },
        "num_active_sessions": 0,
        "jdbc_url": endpoint.jdbc_url(),
        "odbc_params": {
            "hostname": endpoint.hostname,
            "path": endpoint.path,
            "protocol": endpoint.protocol,
            "port": endpoint.port,
        },
        "health": {"status": "HEALTHY", "summary": summary},
    });
    if let Some(arn) = &spec.instance_profile_arn {
        v["instance_profile_arn"] = json!(arn);
    }
    if let Some(t) = spec.statement_timeout {
        v["statement_timeout"] = json!(t);
    }
    if let Some(d) = spec.max_dbu {
        v["max_dbu"] = json!(d);
    }
    v
}

async fn create(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<WarehouseRequest>,
) -> ApiResult<Json<Value>> {
    if req.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(ApiError::bad_request("name is required"));
    }
    let base = WarehouseSpec {
        auto_stop_mins: API_DEFAULT_AUTO_STOP_MINS,
        ..WarehouseSpec::default()
    };
    let spec = req.apply(&base, true)?;
    let warehouse = state.store.create_warehouse(&caller, &spec).await?;
    tracing::info!(warehouse_id = %warehouse.id, name = %spec.name, "SQL warehouse created");
    Ok(Json(json!({"id": warehouse.id})))
}

async fn public_url(state: &AppState, caller: &Caller) -> ApiResult<String> {
    Ok(state
        .store
        .workspace_public_url(caller.workspace_id)
        .await?)
}

async fn get_one(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let warehouse = state.store.warehouse(&caller, &id).await?;
    let url = public_url(&state, &caller).await?;
    Ok(Json(warehouse_json(
        &warehouse,
        &url,
        state.settings().compute_transition_millis,
    )))
}

async fn list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Value>> {
    let all = state.store.list_warehouses(&caller).await?;
    let (warehouses, next) = page(
        all,
        |w| w.id.as_str(),
        params.page_size,
        params.page_token.as_deref(),
    );
    let url = public_url(&state, &caller).await?;
    let delay = state.settings().compute_transition_millis;
    let items: Vec<Value> = warehouses
        .iter()
        .map(|w| warehouse_json(w, &url, delay))
        .collect();
    let mut body = json!({"warehouses": items});
    if let Some(token) = next {
        body["next_page_token"] = json!(token);
    }
    Ok(Json(body))
}

async fn edit(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonBody(req): JsonBody<WarehouseRequest>,
) -> ApiResult<Json<Value>> {
    let warehouse = state
        .store
        .edit_warehouse(&caller, &id, |current| {
            req.apply(current, false).map_err(|e| e.message)
        })
        .await?;
    tracing::info!(warehouse_id = %warehouse.id, "SQL warehouse edited");
    Ok(Json(json!({})))
}

async fn delete_one(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.store.delete_warehouse(&caller, &id).await?;
    tracing::info!(warehouse_id = %id, "SQL warehouse deleted");
    Ok(Json(json!({})))
}

async fn start(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.store.start_warehouse(&caller, &id).await?;
    tracing::info!(warehouse_id = %id, "SQL warehouse started");
    Ok(Json(json!({})))
}

async fn stop(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.store.stop_warehouse(&caller, &id).await?;
    tracing::info!(warehouse_id = %id, "SQL warehouse stopped");
    Ok(Json(json!({})))
}

/// The legacy data sources: one per warehouse the caller may see. Terraform fails a warehouse
/// whose data source is missing from a successful answer.
async fn data_sources(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> ApiResult<Json<Value>> {
    let warehouses = state.store.list_warehouses(&caller).await?;
    let sources: Vec<Value> = warehouses
        .iter()
        .map(|w| {
            json!({
                "id": w.data_source_id,
                "warehouse_id": w.id,
                "endpoint_id": w.id,
                "name": w.spec.name,
                "type": "databricks_internal",
                "syntax": "sql",
                "paused": 0,
                "pause_reason": "",
                "supports_auto_limit": true,
                "view_only": false,
            })
        })
        .collect();
    Ok(Json(Value::Array(sources)))
}
