//! Clusters, under `/api/2.1/clusters` (the SDKs) and `/api/2.0/clusters` (Terraform's legacy
//! client). A new or started cluster is PENDING, then RUNNING; a terminated one TERMINATING, then
//! TERMINATED. An unknown or invisible cluster is a 400 "Cluster … does not exist", which both
//! SDKs turn into their not-found error.

use super::{legacy_not_found, page};
use crate::AppState;
use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::params::{Params, required};
use crate::response::{Empty, empty};
use axum::Json;
use axum::Router;
use axum::routing::{MethodRouter, get, post};
use patchbay_core::access::Caller;
use patchbay_core::compute::runtimes::{NODE_TYPES, NodeType, SPARK_VERSIONS};
use patchbay_core::compute::{ClusterSpec, ClusterState};
use patchbay_core::time::EpochMillis;
use patchbay_store::ClusterRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub(super) fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for version in ["2.0", "2.1"] {
        let base = format!("/api/{version}/clusters");
        router = router
            .route(&format!("{base}/create"), post(create))
            .route(&format!("{base}/get"), get(get_one))
            .route(&format!("{base}/list"), get(list))
            .route(&format!("{base}/edit"), post(edit))
            .route(&format!("{base}/start"), Move::Start.route())
            .route(&format!("{base}/restart"), Move::Restart.route())
            .route(&format!("{base}/delete"), Move::Terminate.route())
            .route(&format!("{base}/permanent-delete"), Move::PermanentDelete.route())
            .route(&format!("{base}/spark-versions"), get(spark_versions))
            .route(&format!("{base}/list-node-types"), get(list_node_types));
    }
    router
}

/// `{"cluster_id": …}` of `get` and of the state-changing calls; other fields (`restart_user`)
/// are ignored.
#[derive(Debug, Deserialize)]
struct ClusterId {
    cluster_id: Option<String>,
}

/// The cluster specification in a create or edit body. `cluster_id` (edit) is not part of it;
/// everything else is kept.
fn spec_of(mut body: Map<String, Value>) -> ApiResult<(Option<String>, ClusterSpec)> {
    let cluster_id = match body.remove("cluster_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id),
        Some(other) => {
            return Err(ApiError::bad_request(format!("cluster_id must be a string, not {other}")));
        }
    };
    let spec: ClusterSpec = serde_json::from_value(Value::Object(body))
        .map_err(|e| ApiError::malformed(format!("Invalid request: {e}")))?;
    spec.validate().map_err(ApiError::bad_request)?;
    Ok((cluster_id, spec))
}

/// `ClusterDetails`: the specification as sent, with the state as of now and the fields only
/// the server knows (which win over a field of the same name in the specification).
#[derive(Debug, Serialize)]
struct ClusterDetails {
    /// A `Map`, not a struct: it carries the client's own fields through as they came.
    #[serde(flatten)]
    spec: Map<String, Value>,
    cluster_id: String,
    cluster_source: &'static str,
    creator_user_name: String,
    default_tags: DefaultTags,
    start_time: i64,
    state: &'static str,
    state_message: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    terminated_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    termination_reason: Option<TerminationReason>,
}

/// The fields of [`ClusterDetails`] that are always the server's.
const SERVER_FIELDS: [&str; 7] = [
    "cluster_id",
    "cluster_source",
    "creator_user_name",
    "default_tags",
    "start_time",
    "state",
    "state_message",
];

#[derive(Debug, Serialize)]
struct DefaultTags {
    #[serde(rename = "ClusterId")]
    cluster_id: String,
    #[serde(rename = "ClusterName")]
    cluster_name: String,
    #[serde(rename = "Creator")]
    creator: String,
    #[serde(rename = "Vendor")]
    vendor: &'static str,
}

#[derive(Debug, Serialize)]
struct TerminationReason {
    code: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Debug, Serialize)]
struct Created {
    cluster_id: String,
}

#[derive(Debug, Serialize)]
struct ClusterList {
    clusters: Vec<ClusterDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

#[derive(Debug, Serialize)]
struct SparkVersions {
    versions: Vec<Version>,
}

#[derive(Debug, Serialize)]
struct Version {
    key: &'static str,
    name: &'static str,
}

#[derive(Debug, Serialize)]
struct NodeTypes {
    node_types: Vec<NodeTypeInfo>,
}

/// A node type of `clusters/list-node-types`.
#[derive(Debug, Serialize)]
struct NodeTypeInfo {
    category: &'static str,
    description: &'static str,
    display_order: usize,
    instance_type_id: &'static str,
    is_deprecated: bool,
    is_encrypted_in_transit: bool,
    is_graviton: bool,
    is_hidden: bool,
    is_io_cache_enabled: bool,
    memory_mb: i64,
    node_info: NodeInfo,
    node_instance_type: NodeInstanceType,
    node_type_id: &'static str,
    num_cores: f64,
    num_gpus: i64,
    photon_driver_capable: bool,
    photon_worker_capable: bool,
    support_cluster_tags: bool,
    support_ebs_volumes: bool,
    support_port_forwarding: bool,
}

#[derive(Debug, Serialize)]
struct NodeInfo {
    status: [&'static str; 0],
}

#[derive(Debug, Serialize)]
struct NodeInstanceType {
    instance_type_id: &'static str,
    local_disk_size_gb: i64,
    local_disks: i64,
    local_nvme_disk_size_gb: i64,
    local_nvme_disks: i64,
}

impl ClusterDetails {
    fn of(c: ClusterRecord, now: EpochMillis, delay_millis: i64) -> ClusterDetails {
        let state = c.state_at(now, delay_millis);
        let mut spec = match serde_json::to_value(&c.spec) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        if c.spec.autoscale.is_none() && c.spec.num_workers.is_none() {
            spec.insert("num_workers".into(), Value::from(0));
        }
        if let Some(node) = &c.spec.node_type_id {
            spec.entry("driver_node_type_id").or_insert_with(|| Value::from(node.as_str()));
        }
        spec.retain(|key, _| !SERVER_FIELDS.contains(&key.as_str()));
        let terminated_time = (state == ClusterState::Terminated).then(|| {
            if c.state == ClusterState::Terminating {
                c.state_since.saturating_add(delay_millis.max(0))
            } else {
                c.state_since
            }
        });
        let termination_reason =
            terminated_time.map(|_| TerminationReason { code: "USER_REQUEST", kind: "SUCCESS" });
        if terminated_time.is_some() {
            spec.remove("terminated_time");
            spec.remove("termination_reason");
        }
        ClusterDetails {
            spec,
            cluster_id: c.cluster_id.clone(),
            cluster_source: "API",
            creator_user_name: c.creator_name.clone(),
            default_tags: DefaultTags {
                cluster_id: c.cluster_id,
                cluster_name: c.spec.cluster_name,
                creator: c.creator_name,
                vendor: "Databricks",
            },
            start_time: c.created_at,
            state: state.as_str(),
            state_message: state.message(),
            terminated_time,
            termination_reason,
        }
    }
}

async fn create(
    Authenticated { state, caller }: Authenticated,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Created>> {
    let (_, spec) = spec_of(body)?;
    let cluster = state.store.create_cluster(&caller, &spec).await?;
    tracing::info!(cluster_id = %cluster.cluster_id, "cluster created");
    Ok(Json(Created { cluster_id: cluster.cluster_id }))
}

async fn get_one(
    Authenticated { state, caller }: Authenticated,
    Params(params): Params<ClusterId>,
) -> ApiResult<Json<ClusterDetails>> {
    let id = cluster_id(params.cluster_id)?;
    let cluster = state.store.cluster(&caller, &id).await.map_err(legacy_not_found)?;
    Ok(Json(ClusterDetails::of(
        cluster,
        state.now_millis(),
        state.settings().compute_transition_millis,
    )))
}

/// `clusters/list`: `page_size`, `page_token`, and the flattened `filter_by.*` the SDK sends
/// (`filter_by.cluster_states` repeated once per state), or `{"filter_by": {…}}` in a body.
async fn list(
    Authenticated { state, caller }: Authenticated,
    Params(pairs): Params<Vec<(String, String)>>,
) -> ApiResult<Json<ClusterList>> {
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
    let now = state.now_millis();
    let all: Vec<ClusterRecord> = state
        .store
        .list_clusters(&caller)
        .await?
        .into_iter()
        .filter(|c| states.is_empty() || states.contains(&c.state_at(now, delay)))
        .filter(|_| sources.is_empty() || sources.iter().any(|s| s == "API"))
        .collect();
    let (clusters, next) = page(all, |c| c.cluster_id.as_str(), page_size, page_token.as_deref());
    Ok(Json(ClusterList {
        clusters: clusters.into_iter().map(|c| ClusterDetails::of(c, now, delay)).collect(),
        next_page_token: next,
    }))
}

async fn edit(
    Authenticated { state, caller }: Authenticated,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Empty>> {
    let (id, spec) = spec_of(body)?;
    let id = cluster_id(id)?;
    state.store.edit_cluster(&caller, &id, &spec).await.map_err(legacy_not_found)?;
    tracing::info!(cluster_id = %id, "cluster edited");
    Ok(empty())
}

/// The cluster a request names: `cluster_id`, given and not empty.
fn cluster_id(value: Option<String>) -> ApiResult<String> {
    required(value, "cluster_id")
}

/// The calls that move a cluster (`start`, `restart`, `delete`, `permanent-delete`): one body,
/// one store call each, one log line.
#[derive(Debug, Clone, Copy)]
enum Move {
    Start,
    Restart,
    Terminate,
    PermanentDelete,
}

impl Move {
    /// The route for this move: `{"cluster_id": …}` in, `{}` out.
    fn route(self) -> MethodRouter<AppState> {
        post(
            move |Authenticated { state, caller }: Authenticated,
                  JsonBody(body): JsonBody<ClusterId>| {
                self.run(state, caller, body)
            },
        )
    }

    async fn run(self, state: AppState, caller: Caller, body: ClusterId) -> ApiResult<Json<Empty>> {
        let id = cluster_id(body.cluster_id)?;
        let store = &state.store;
        let moved = match self {
            Move::Start => store.start_cluster(&caller, &id).await,
            Move::Restart => store.restart_cluster(&caller, &id).await,
            Move::Terminate => store.terminate_cluster(&caller, &id).await,
            Move::PermanentDelete => store.permanent_delete_cluster(&caller, &id).await,
        };
        moved.map_err(legacy_not_found)?;
        let done = match self {
            Move::Start => "started",
            Move::Restart => "restarted",
            Move::Terminate => "terminated",
            Move::PermanentDelete => "permanently deleted",
        };
        tracing::info!(cluster_id = %id, "cluster {done}");
        Ok(empty())
    }
}

/// `clusters/spark-versions`: the runtimes a cluster can be created with.
async fn spark_versions(
    Authenticated { caller: _caller, .. }: Authenticated,
) -> Json<SparkVersions> {
    Json(SparkVersions {
        versions: SPARK_VERSIONS.iter().map(|v| Version { key: v.key, name: v.name }).collect(),
    })
}

/// `clusters/list-node-types`: every field the SDKs' `select_node_type` filters and sorts on is
/// present on every node type (the Python SDK sorts on tuples, which a missing value breaks).
async fn list_node_types(Authenticated { caller: _caller, .. }: Authenticated) -> Json<NodeTypes> {
    Json(NodeTypes { node_types: NODE_TYPES.iter().enumerate().map(node_type).collect() })
}

fn node_type((order, n): (usize, &NodeType)) -> NodeTypeInfo {
    NodeTypeInfo {
        category: n.category,
        description: n.description,
        display_order: order,
        instance_type_id: n.node_type_id,
        is_deprecated: n.is_deprecated,
        is_encrypted_in_transit: false,
        is_graviton: n.is_graviton,
        is_hidden: false,
        is_io_cache_enabled: n.is_io_cache_enabled,
        memory_mb: n.memory_mb,
        node_info: NodeInfo { status: [] },
        node_instance_type: NodeInstanceType {
            instance_type_id: n.node_type_id,
            local_disk_size_gb: n.local_disk_size_gb,
            local_disks: n.local_disks,
            local_nvme_disk_size_gb: 0,
            local_nvme_disks: 0,
        },
        node_type_id: n.node_type_id,
        num_cores: n.num_cores,
        num_gpus: n.num_gpus,
        photon_driver_capable: n.photon_capable,
        photon_worker_capable: n.photon_capable,
        support_cluster_tags: true,
        support_ebs_volumes: true,
        support_port_forwarding: true,
    }
}
