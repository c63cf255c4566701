//! Clusters, under `/api/2.1/clusters` (the SDKs) and `/api/2.0/clusters` (Terraform's legacy
//! client). A new or started cluster is PENDING, then RUNNING; a terminated one TERMINATING, then
//! TERMINATED. An unknown or invisible cluster is a 400 "Cluster … does not exist", which both
//! SDKs turn into their not-found error.

use super::{legacy_not_found, page, required};
use crate::AppState;
use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use patchbay_core::compute::runtimes::{NODE_TYPES, NodeType, SPARK_VERSIONS};
use patchbay_core::compute::{ClusterSpec, ClusterState};
use patchbay_core::time::now_millis;
use patchbay_store::ClusterRecord;
use serde::Deserialize;
use serde_json::{Map, Value, json};

pub(super) fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for version in ["2.0", "2.1"] {
        let base = format!("/api/{version}/clusters");
        router = router
            .route(&format!("{base}/create"), post(create))
            .route(&format!("{base}/get"), get(get_one))
            .route(&format!("{base}/list"), get(list))
            .route(&format!("{base}/edit"), post(edit))
            .route(&format!("{base}/start"), post(start))
            .route(&format!("{base}/restart"), post(restart))
            .route(&format!("{base}/delete"), post(terminate))
            .route(&format!("{base}/permanent-delete"), post(permanent_delete))
            .route(&format!("{base}/spark-versions"), get(spark_versions))
            .route(&format!("{base}/list-node-types"), get(list_node_types));
    }
    router
}

/// `{"cluster_id": …}` of the state-changing calls; other fields (`restart_user`) are ignored.
#[derive(Debug, Deserialize)]
struct ClusterIdBody {
    cluster_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct GetParams {
    cluster_id: Option<String>,
}

/// The cluster specification in a create or edit body. `cluster_id` (edit) is not part of it;
/// everything else is kept.
fn spec_of(mut body: Map<String, Value>) -> ApiResult<(Option<String>, ClusterSpec)> {
    let cluster_id = match body.remove("cluster_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "cluster_id must be a string, not {other}"
            )));
        }
    };
    let spec: ClusterSpec = serde_json::from_value(Value::Object(body))
        .map_err(|e| ApiError::malformed(format!("Invalid request: {e}")))?;
    spec.validate().map_err(ApiError::bad_request)?;
    Ok((cluster_id, spec))
}

/// `ClusterDetails`: the specification as sent, with the state as of now and the fields only
/// the server knows.
fn cluster_json(c: &ClusterRecord, delay_millis: i64) -> Value {
    let state = c.state_at(now_millis(), delay_millis);
    let mut v = match serde_json::to_value(&c.spec) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    if c.spec.autoscale.is_none() && c.spec.num_workers.is_none() {
        v.insert("num_workers".into(), json!(0));
    }
    if let Some(node) = &c.spec.node_type_id {
        v.entry("driver_node_type_id").or_insert(json!(node));
    }
    v.insert("cluster_id".into(), json!(c.cluster_id));
    v.insert("creator_user_name".into(), json!(c.creator_name));
    v.insert("state".into(), json!(state.as_str()));
    v.insert("state_message".into(), json!(state.message()));
    v.insert("start_time".into(), json!(c.created_at));
    v.insert("cluster_source".into(), json!("API"));
    v.insert(
        "default_tags".into(),
        json!({
            "Vendor": "Databricks",
            "Creator": c.creator_name,
            "ClusterName": c.spec.cluster_name,
            "ClusterId": c.cluster_id,
        }),
    );
    if state == ClusterState::Terminated {
        let settled_at = if c.state == ClusterState::Terminating {
            c.state_since.saturating_add(delay_millis.max(0))
        } else {
            c.state_since
        };
        v.insert("terminated_time".into(), json!(settled_at));
        v.insert(
            "termination_reason".into(),
            json!({"code": "USER_REQUEST", "type": "SUCCESS"}),
        );
    }
    Value::Object(v)
}

async fn create(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let (_, spec) = spec_of(body)?;
    let cluster = state.store.create_cluster(&caller, &spec).await?;
    tracing::info!(cluster_id = %cluster.cluster_id, "cluster created");
    Ok(Json(json!({"cluster_id": cluster.cluster_id})))
}

async fn get_one(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Params(params): Params<GetParams>,
) -> ApiResult<Json<Value>> {
    let id = required(params.cluster_id.filter(|s| !s.is_empty()), "cluster_id")?;
    let cluster = state
        .store
        .cluster(&caller, &id)
        .await
        .map_err(legacy_not_found)?;
    Ok(Json(cluster_json(
        &cluster,
        state.settings().compute_transition_millis,
    )))
}

/// `clusters/list`: `page_size`, `page_token`, and the flattened `filter_by.*` the SDK sends
/// (`filter_by.cluster_states` repeated once per state), or `{"filter_by": {…}}` in a body.
async fn list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Params(pairs): Params<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let mut page_size = None;
    let mut page_token = None;
    let mut states = Vec::new();
    let mut sources = Vec::new();
    for (key, value) in pairs {
        match key.as_str() {
            "page_size" => {
                page_size = Some(value.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("page_size must be a number, not '{value}'"))
                })?);
            }
            "page_token" => page_token = Some(value),
            "filter_by.cluster_states" => {
                for s in value.split(',').filter(|s| !s.is_empty()) {
                    states.push(ClusterState::parse(s).ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "filter_by.cluster_states '{s}' is not one of {}",
                            ClusterState::expected()
                        ))
                    })?);
                }
            }
            "filter_by.cluster_sources" => sources.push(value),
            _ => {}
        }
    }
    let delay = state.settings().compute_transition_millis;
    let now = now_millis();
    let all: Vec<ClusterRecord> = state
        .store
        .list_clusters(&caller)
        .await?
        .into_iter()
        .filter(|c| states.is_empty() || states.contains(&c.state_at(now, delay)))
        .filter(|_| sources.is_empty() || sources.iter().any(|s| s == "API"))
        .collect();
    let (clusters, next) = page(
        all,
        |c| c.cluster_id.as_str(),
        page_size,
        page_token.as_deref(),
    );
    let items: Vec<Value> = clusters.iter().map(|c| cluster_json(c, delay)).collect();
    let mut body = json!({"clusters": items});
    if let Some(token) = next {
        body["next_page_token"] = json!(token);
    }
    Ok(Json(body))
}

async fn edit(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let (id, spec) = spec_of(body)?;
    let id = required(id.filter(|s| !s.is_empty()), "cluster_id")?;
    state
        .store
        .edit_cluster(&caller, &id, &spec)
        .await
        .map_err(legacy_not_found)?;
    tracing::info!(cluster_id = %id, "cluster edited");
    Ok(Json(json!({})))
}

fn cluster_id(body: ClusterIdBody) -> ApiResult<String> {
    required(body.cluster_id.filter(|s| !s.is_empty()), "cluster_id")
}

async fn start(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(body): JsonBody<ClusterIdBody>,
) -> ApiResult<Json<Value>> {
    let id = cluster_id(body)?;
    state
        .store
        .start_cluster(&caller, &id)
        .await
        .map_err(legacy_not_found)?;
    tracing::info!(cluster_id = %id, "cluster started");
    Ok(Json(json!({})))
}

async fn restart(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(body): JsonBody<ClusterIdBody>,
) -> ApiResult<Json<Value>> {
    let id = cluster_id(body)?;
    state
        .store
        .restart_cluster(&caller, &id)
        .await
        .map_err(legacy_not_found)?;
    tracing::info!(cluster_id = %id, "cluster restarted");
    Ok(Json(json!({})))
}

async fn terminate(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(body): JsonBody<ClusterIdBody>,
) -> ApiResult<Json<Value>> {
    let id = cluster_id(body)?;
    state
        .store
        .terminate_cluster(&caller, &id)
        .await
        .map_err(legacy_not_found)?;
    tracing::info!(cluster_id = %id, "cluster terminated");
    Ok(Json(json!({})))
}

async fn permanent_delete(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(body): JsonBody<ClusterIdBody>,
) -> ApiResult<Json<Value>> {
    let id = cluster_id(body)?;
    state
        .store
        .permanent_delete_cluster(&caller, &id)
        .await
        .map_err(legacy_not_found)?;
    tracing::info!(cluster_id = %id, "cluster permanently deleted");
    Ok(Json(json!({})))
}

/// `clusters/spark-versions`: the runtimes a cluster can be created with.
async fn spark_versions(Authenticated(_caller): Authenticated) -> Json<Value> {
    let versions: Vec<Value> = SPARK_VERSIONS
        .iter()
        .map(|v| json!({"key": v.key, "name": v.name}))
        .collect();
    Json(json!({"versions": versions}))
}

/// `clusters/list-node-types`: every field the SDKs' `select_node_type` filters and sorts on is
/// present on every node type (the Python SDK sorts on tuples, which a missing value breaks).
async fn list_node_types(Authenticated(_caller): Authenticated) -> Json<Value> {
    let types: Vec<Value> = NODE_TYPES.iter().enumerate().map(node_type_json).collect();
    Json(json!({"node_types": types}))
}

fn node_type_json((order, n): (usize, &NodeType)) -> Value {
    json!({
        "node_type_id": n.node_type_id,
        "instance_type_id": n.node_type_id,
        "description": n.description,
        "category": n.category,
        "memory_mb": n.memory_mb,
        "num_cores": n.num_cores,
        "num_gpus": n.num_gpus,
        "display_order": order,
        "is_deprecated": n.is_deprecated,
        "is_hidden": false,
        "is_graviton": n.is_graviton,
        "is_io_cache_enabled": n.is_io_cache_enabled,
        "is_encrypted_in_transit": false,
        "photon_driver_capable": n.photon_capable,
        "photon_worker_capable": n.photon_capable,
        "support_cluster_tags": true,
        "support_ebs_volumes": true,
        "support_port_forwarding": true,
        "node_info": {"status": []},
        "node_instance_type": {
            "instance_type_id": n.node_type_id,
            "local_disks": n.local_disks,
            "local_disk_size_gb": n.local_disk_size_gb,
            "local_nvme_disks": 0,
            "local_nvme_disk_size_gb": 0,
        },
    })
}
