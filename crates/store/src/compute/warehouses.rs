//! SQL warehouses: the record, its columns, and what only warehouses have — a unique name, a
//! specification edited field by field, the legacy data source id.

use super::{
    Creatable, Kind, NewObject, Stateful, corrupt, delete_in, exists, fetch_in, grant_creator,
    stored,
};
use crate::sql::Sql;
use crate::{Rejected, Result, Store, StoreError, Taken, conflict_or};
use patchbay_core::access::Caller;
use patchbay_core::compute::warehouse::{Channel, ChannelName};
use patchbay_core::compute::{
    Action, ClusterSize, ObjectKind, SpotInstancePolicy, WarehouseSpec, WarehouseState,
    WarehouseType, new_warehouse_id,
};
use patchbay_core::time::EpochMillis;
use patchbay_core::{PrincipalId, WorkspaceId};
use serde_json::{Value, json};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, Transaction};

/// A stored SQL warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarehouseRecord {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub spec: WarehouseSpec,
    /// Its id in the legacy data sources API (`/api/2.0/preview/sql/data_sources`).
    pub data_source_id: String,
    pub creator_id: PrincipalId,
    pub creator_name: String,
    /// The state as last written; [`WarehouseRecord::state_at`] is the state at a given time.
    pub state: WarehouseState,
    pub state_since: EpochMillis,
    pub created_at: EpochMillis,
    pub updated_at: EpochMillis,
}

impl WarehouseRecord {
    /// The state at `now`, transitions taking `delay_millis`.
    pub fn state_at(&self, now: EpochMillis, delay_millis: i64) -> WarehouseState {
        self.state.at(self.state_since, now, delay_millis)
    }
}

/// The [`Kind`] of SQL warehouses.
pub(crate) struct Warehouses;

impl Kind for Warehouses {
    const KIND: ObjectKind = ObjectKind::Warehouse;
    const COLUMNS: &'static str = "t.id, t.workspace_id, t.name, t.cluster_size, \
         t.min_num_clusters, t.max_num_clusters, t.auto_stop_mins, t.enable_photon, \
         t.enable_serverless_compute, t.warehouse_type, t.spot_instance_policy, t.channel_name, \
         t.channel_dbsql_version, t.custom_tags, t.instance_profile_arn, t.statement_timeout, \
         t.max_dbu, t.data_source_id, t.creator_id, t.creator_name, t.state, t.state_since, \
         t.created_at, t.updated_at";
    type Record = WarehouseRecord;

    fn from_row(row: &dyn crate::read::Row) -> Result<WarehouseRecord> {
        warehouse_from_row(row)
    }
}

impl Creatable for Warehouses {
    type Spec = WarehouseSpec;

    /// Creates a warehouse inside a caller's transaction, in state STARTING, its creator its owner
    /// (IS_OWNER). The specification is validated here; a duplicate name is a conflict.
    /// Authorization is the caller's business: Partner Connect uses this for the warehouse a
    /// connection creates, owned by the partner's service principal.
    async fn insert(
        tx: &mut Transaction<'static, Any>,
        new: NewObject<'_, WarehouseSpec>,
    ) -> Result<WarehouseRecord> {
        let (now, spec) = (new.now, new.spec);
        spec.validate().map_err(|reason| StoreError::Rejected(Rejected::Rule(reason)))?;
        ensure_unique_name(tx, new.workspace_id, &spec.name, None).await?;
        let record = WarehouseRecord {
            id: new_warehouse_id(),
            workspace_id: new.workspace_id,
            spec: spec.clone(),
            data_source_id: uuid::Uuid::new_v4().to_string(),
            creator_id: new.creator_id,
            creator_name: new.creator_name.to_owned(),
            state: WarehouseState::Starting,
            state_since: now,
            created_at: now,
            updated_at: now,
        };
        let query = sqlx::query(
            "INSERT INTO warehouses (id, workspace_id, name, cluster_size, min_num_clusters, \
             max_num_clusters, auto_stop_mins, enable_photon, enable_serverless_compute, \
             warehouse_type, spot_instance_policy, channel_name, channel_dbsql_version, custom_tags, \
             instance_profile_arn, statement_timeout, max_dbu, data_source_id, creator_id, \
             creator_name, state, state_since, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
             $18, $19, $20, $21, $22, $22, $22)",
        )
        .bind(record.id.as_str())
        .bind(record.workspace_id.get());
        bind_spec(query, spec)
            .bind(record.data_source_id.as_str())
            .bind(record.creator_id.get())
            .bind(new.creator_name)
            .bind(record.state.as_str())
            .bind(now)
            .execute(&mut **tx)
            .await
            .map_err(|e| conflict_or(e, || duplicate_name(&spec.name)))?;
        grant_creator(tx, ObjectKind::Warehouse, &new, &record.id).await?;
        Ok(record)
    }
}

impl Stateful for Warehouses {
    type State = WarehouseState;

    fn parse_state(s: &str) -> Result<WarehouseState> {
        parse_warehouse_state(s)
    }

    fn state_str(state: WarehouseState) -> &'static str {
        state.as_str()
    }
}

/// Whether a warehouse exists, inside a caller's transaction (Partner Connect checks the
/// warehouse a user selected).
pub(crate) async fn warehouse_exists(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    id: &str,
) -> Result<bool> {
    exists(tx, ObjectKind::Warehouse, workspace_id, id, "").await
}

impl Store {
    /// Creates a warehouse owned by the caller, who needs `allow-cluster-create` (or admin).
    pub async fn create_warehouse(
        &self,
        caller: &Caller,
        spec: &WarehouseSpec,
    ) -> Result<WarehouseRecord> {
        self.create_checked::<Warehouses>(caller, spec).await
    }

    /// A warehouse by id, whoever asks: for server-side checks (is a connection's warehouse
    /// still there?), never for answering a client without an access check.
    pub async fn get_warehouse(
        &self,
        workspace_id: WorkspaceId,
        id: &str,
    ) -> Result<Option<WarehouseRecord>> {
        self.fetch::<Warehouses>(workspace_id, id).await
    }

    /// A warehouse the caller may see.
    pub async fn warehouse(&self, caller: &Caller, id: &str) -> Result<WarehouseRecord> {
        self.fetch_visible::<Warehouses>(caller, id).await
    }

    /// Every warehouse the caller may see, by id.
    pub async fn list_warehouses(&self, caller: &Caller) -> Result<Vec<WarehouseRecord>> {
        self.list_visible::<Warehouses>(caller, |sql| {
            sql.push(" ORDER BY t.id");
        })
        .await
    }

    /// Every warehouse the caller may do `action` to (use, monitor, …), by id.
    pub async fn list_warehouses_allowing(
        &self,
        caller: &Caller,
        action: Action,
    ) -> Result<Vec<WarehouseRecord>> {
        self.list_allowing::<Warehouses>(caller, action, |sql| {
            sql.push(" ORDER BY t.id");
        })
        .await
    }

    /// Edits a warehouse (CAN_MANAGE): `edit` turns the current specification into the new
    /// one, or explains why the request is invalid. Its state does not change.
    pub async fn edit_warehouse(
        &self,
        caller: &Caller,
        id: &str,
        edit: impl FnOnce(&WarehouseSpec) -> std::result::Result<WarehouseSpec, String>,
    ) -> Result<WarehouseRecord> {
        let mut tx =
            self.begin_object_write(caller, ObjectKind::Warehouse, id, Action::Manage).await?;
        let current = fetch_in::<Warehouses>(&mut tx, caller.workspace_id, id).await?;
        let spec =
            edit(&current.spec).map_err(|reason| StoreError::Rejected(Rejected::Rule(reason)))?;
        spec.validate().map_err(|reason| StoreError::Rejected(Rejected::Rule(reason)))?;
        ensure_unique_name(&mut tx, caller.workspace_id, &spec.name, Some(id)).await?;
        let now = self.now_millis();
        bind_spec(
            sqlx::query(
                "UPDATE warehouses SET name = $1, cluster_size = $2, min_num_clusters = $3, \
                 max_num_clusters = $4, auto_stop_mins = $5, enable_photon = $6, \
                 enable_serverless_compute = $7, warehouse_type = $8, spot_instance_policy = $9, \
                 channel_name = $10, channel_dbsql_version = $11, custom_tags = $12, \
                 instance_profile_arn = $13, statement_timeout = $14, max_dbu = $15, updated_at = $16 \
                 WHERE id = $17",
            ),
            &spec,
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_or(e, || duplicate_name(&spec.name)))?;
        tx.commit().await?;
        Ok(WarehouseRecord { spec, updated_at: now, ..current })
    }

    /// Deletes a warehouse and its ACL (CAN_MANAGE).
    pub async fn delete_warehouse(&self, caller: &Caller, id: &str) -> Result<()> {
        self.delete_checked::<Warehouses>(caller, id).await
    }

    /// Starts a warehouse (CAN_USE). Starting one that is starting or running changes nothing.
    pub async fn start_warehouse(&self, caller: &Caller, id: &str) -> Result<()> {
        self.move_state::<Warehouses>(caller, id, Action::Start, |s| Ok(s.start())).await
    }

    /// Stops a warehouse (CAN_MANAGE). Stopping one that is stopping or stopped changes nothing.
    pub async fn stop_warehouse(&self, caller: &Caller, id: &str) -> Result<()> {
        self.move_state::<Warehouses>(caller, id, Action::Stop, |s| Ok(s.stop())).await
    }
}

/// Deletes a warehouse and its ACL inside a caller's transaction; `false` if there was no such
/// warehouse. Authorization is the caller's business.
pub(crate) async fn delete_warehouse_tx(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    id: &str,
) -> Result<bool> {
    delete_in::<Warehouses>(tx, workspace_id, id).await
}

/// Binds the 15 specification columns, in the order the INSERT and the UPDATE name them.
fn bind_spec<'q>(
    query: Query<'q, Any, AnyArguments>,
    spec: &'q WarehouseSpec,
) -> Query<'q, Any, AnyArguments> {
    query
        .bind(spec.name.as_str())
        .bind(spec.cluster_size.as_str())
        .bind(spec.min_num_clusters)
        .bind(spec.max_num_clusters)
        .bind(spec.auto_stop_mins)
        .bind(i64::from(spec.enable_photon))
        .bind(i64::from(spec.enable_serverless_compute))
        .bind(spec.warehouse_type.as_str())
        .bind(spec.spot_instance_policy.as_str())
        .bind(spec.channel.name.as_str())
        .bind(spec.channel.dbsql_version.as_deref())
        .bind(tags_json(&spec.custom_tags))
        .bind(spec.instance_profile_arn.as_deref())
        .bind(spec.statement_timeout)
        .bind(spec.max_dbu)
}

fn duplicate_name(name: &str) -> StoreError {
    StoreError::Taken(Taken::Warehouse { name: name.to_owned() })
}

/// `base`, or the first of `base_2`, `base_3`, … that no warehouse of the workspace is named.
pub(crate) async fn free_warehouse_name(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    base: &str,
) -> Result<String> {
    let taken: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM warehouses WHERE workspace_id = $1 AND (name = $2 OR name LIKE $3)",
    )
    .bind(workspace_id.get())
    .bind(base)
    .bind(format!("{base}_%"))
    .fetch_all(&mut **tx)
    .await?;
    let taken: std::collections::HashSet<String> = taken.into_iter().collect();
    Ok(std::iter::once(base.to_owned())
        .chain((2..).map(|n| format!("{base}_{n}")))
        .find(|name| !taken.contains(name))
        .unwrap_or_else(|| base.to_owned()))
}

/// Refuses a name another warehouse of the workspace has. Checked before writing so that a
/// PostgreSQL transaction is not aborted by the unique index.
async fn ensure_unique_name(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    name: &str,
    except: Option<&str>,
) -> Result<()> {
    let mut sql = Sql::new("SELECT 1 AS yes FROM warehouses WHERE workspace_id = ");
    sql.int(workspace_id.get()).push(" AND name = ").text(name);
    if let Some(id) = except {
        sql.push(" AND id <> ").text(id);
    }
    if sql.query().fetch_optional(&mut **tx).await?.is_some() {
        return Err(duplicate_name(name));
    }
    Ok(())
}

fn tags_json(tags: &[(String, String)]) -> String {
    Value::Array(tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect()).to_string()
}

fn tags_from_json(text: &str) -> Result<Vec<(String, String)>> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| corrupt(format!("stored warehouse tags are not JSON: {e}")))?;
    Ok(value
        .as_array()
        .map(|tags| {
            tags.iter()
                .map(|t| {
                    let s =
                        |k: &str| t.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
                    (s("key"), s("value"))
                })
                .collect()
        })
        .unwrap_or_default())
}

fn parse_warehouse_state(s: &str) -> Result<WarehouseState> {
    WarehouseState::parse(s).ok_or_else(|| corrupt(format!("unknown stored warehouse state {s}")))
}

fn warehouse_from_row(row: &dyn crate::read::Row) -> Result<WarehouseRecord> {
    let spec = WarehouseSpec {
        name: row.get("name")?,
        cluster_size: stored(row.get("cluster_size")?, ClusterSize::parse, "cluster_size")?,
        min_num_clusters: row.get("min_num_clusters")?,
        max_num_clusters: row.get("max_num_clusters")?,
        auto_stop_mins: row.get("auto_stop_mins")?,
        enable_photon: row.get::<i64>("enable_photon")? != 0,
        enable_serverless_compute: row.get::<i64>("enable_serverless_compute")? != 0,
        warehouse_type: stored(row.get("warehouse_type")?, WarehouseType::parse, "warehouse_type")?,
        spot_instance_policy: stored(
            row.get("spot_instance_policy")?,
            SpotInstancePolicy::parse,
            "spot_instance_policy",
        )?,
        channel: Channel {
            name: stored(row.get("channel_name")?, ChannelName::parse, "channel_name")?,
            dbsql_version: row.get("channel_dbsql_version")?,
        },
        custom_tags: tags_from_json(&row.get::<String>("custom_tags")?)?,
        instance_profile_arn: row.get("instance_profile_arn")?,
        statement_timeout: row.get("statement_timeout")?,
        max_dbu: row.get("max_dbu")?,
    };
    Ok(WarehouseRecord {
        id: row.get("id")?,
        workspace_id: row.get("workspace_id")?,
        spec,
        data_source_id: row.get("data_source_id")?,
        creator_id: row.get("creator_id")?,
        creator_name: row.get("creator_name")?,
        state: parse_warehouse_state(&row.get::<String>("state")?)?,
        state_since: row.get("state_since")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}
