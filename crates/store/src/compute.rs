//! SQL warehouses, clusters and jobs, and their ACLs. Every write checks, inside its own
//! transaction, that the caller may do it (admins may do anything; others need the level
//! [`ObjectKind::required`] names, or an entitlement to create), so a check cannot be skipped
//! or raced. States are stored with the time they were entered and move on when read
//! ([`WarehouseRecord::state_at`]), so no worker runs and every node agrees.
//!
//! Partner Connect creates and deletes compute inside its own transaction through
//! [`insert_warehouse`], [`delete_warehouse_tx`], [`insert_cluster`] and [`delete_cluster_tx`].

use crate::permissions::{
    AclEntry, AclUpdate, ObjectRef, delete_acl, direct_levels, grant_object_permission,
    levels_held, memberships_cte, write_acl,
};
use crate::sql::Sql;
use crate::{Backend, Denied, Missing, Rejected, Result, Store, StoreError, Taken, conflict_or};
use patchbay_core::access::Caller;
use patchbay_core::compute::warehouse::{Channel, ChannelName};
use patchbay_core::compute::{
    AclGrant, Action, ClusterSize, ClusterState, ObjectKind, PermissionLevel, SpotInstancePolicy,
    WarehouseState, WarehouseType, job, new_cluster_id, new_warehouse_id, plan_acl,
};
use patchbay_core::ids::new_numeric_id;
use patchbay_core::principal::Entitlement;
use patchbay_core::time::{EpochMillis, creation_millis, now_millis};
use serde_json::{Map, Value, json};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

pub use patchbay_core::compute::{ClusterSpec, WarehouseSpec};

/// A stored SQL warehouse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarehouseRecord {
    pub id: String,
    pub workspace_id: i64,
    pub spec: WarehouseSpec,
    /// Its id in the legacy data sources API (`/api/2.0/preview/sql/data_sources`).
    pub data_source_id: String,
    pub creator_id: i64,
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

/// A stored cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterRecord {
    pub cluster_id: String,
    pub workspace_id: i64,
    pub spec: ClusterSpec,
    pub creator_id: i64,
    pub creator_name: String,
    /// The state as last written; [`ClusterRecord::state_at`] is the state at a given time.
    pub state: ClusterState,
    pub state_since: EpochMillis,
    pub created_at: EpochMillis,
    pub updated_at: EpochMillis,
}

impl ClusterRecord {
    /// The state at `now`, transitions taking `delay_millis`.
    pub fn state_at(&self, now: EpochMillis, delay_millis: i64) -> ClusterState {
        self.state.at(self.state_since, now, delay_millis)
    }
}

/// A stored job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub job_id: i64,
    pub workspace_id: i64,
    /// The settings as the API shows them, defaults filled in.
    pub settings: Map<String, Value>,
    pub creator_id: i64,
    pub creator_name: String,
    pub created_time: EpochMillis,
    pub updated_at: EpochMillis,
}

const WAREHOUSE_COLUMNS: &str = "w.id, w.workspace_id, w.name, w.cluster_size, w.min_num_clusters, \
     w.max_num_clusters, w.auto_stop_mins, w.enable_photon, w.enable_serverless_compute, \
     w.warehouse_type, w.spot_instance_policy, w.channel_name, w.channel_dbsql_version, \
     w.custom_tags, w.instance_profile_arn, w.statement_timeout, w.max_dbu, w.data_source_id, \
     w.creator_id, w.creator_name, w.state, w.state_since, w.created_at, w.updated_at";

const CLUSTER_COLUMNS: &str = "c.id, c.workspace_id, c.spec, c.creator_id, c.creator_name, \
     c.state, c.state_since, c.created_at, c.updated_at";

const JOB_COLUMNS: &str = "j.id, j.workspace_id, j.settings, j.creator_id, j.creator_name, \
     j.created_at, j.updated_at";

/// The error for an object that does not exist, or that the caller may not see: the same, so
/// that ids of invisible objects cannot be probed. Clusters and jobs use the wording both SDKs
/// recognise.
fn not_found(kind: ObjectKind, id: &str) -> StoreError {
    StoreError::Missing(Missing::Object {
        kind,
        id: id.to_owned(),
    })
}

fn object(kind: ObjectKind, id: &str) -> ObjectRef<'_> {
    ObjectRef {
        object_type: kind.storage_type(),
        object_id: id,
    }
}

fn table(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Warehouse => "warehouses",
        ObjectKind::Cluster => "clusters",
        ObjectKind::Job => "jobs",
    }
}

/// Whether an object exists in the workspace. Job ids are numbers; anything else names no job.
/// `lock` is appended to the statement ([`Store::lock_clause`]).
async fn exists(
    tx: &mut Transaction<'static, Any>,
    kind: ObjectKind,
    workspace_id: i64,
    id: &str,
    lock: &str,
) -> Result<bool> {
    let mut sql = Sql::new(&format!(
        "SELECT 1 AS yes FROM {} WHERE workspace_id = ",
        table(kind)
    ));
    sql.int(workspace_id).push(" AND id = ");
    match kind {
        // Only the canonical decimal form: its ACL rows are keyed by exactly that text.
        ObjectKind::Job => match id.parse::<i64>() {
            Ok(n) if n.to_string() == id => sql.int(n),
            _ => return Ok(false),
        },
        _ => sql.text(id),
    };
    sql.push(lock);
    Ok(sql.query().fetch_optional(&mut **tx).await?.is_some())
}

/// Whether a warehouse exists, inside a caller's transaction (Partner Connect checks the
/// warehouse a user selected).
pub(crate) async fn warehouse_exists(
    tx: &mut Transaction<'static, Any>,
    workspace_id: i64,
    id: &str,
) -> Result<bool> {
    exists(tx, ObjectKind::Warehouse, workspace_id, id, "").await
}

/// The levels the caller holds on an object, parsed for its kind.
async fn held(
    tx: &mut Transaction<'static, Any>,
    caller: &Caller,
    kind: ObjectKind,
    id: &str,
) -> Result<Vec<PermissionLevel>> {
    let levels = levels_held(
        tx,
        caller.workspace_id,
        caller.principal_id,
        object(kind, id),
    )
    .await?;
    Ok(levels.iter().filter_map(|l| kind.parse_level(l)).collect())
}

/// Checks that the caller may do `action` to an existing object: admins may do anything;
/// someone holding no level at all is told the object does not exist; someone holding too weak
/// a level is told which one is needed.
async fn authorize(
    tx: &mut Transaction<'static, Any>,
    caller: &Caller,
    kind: ObjectKind,
    id: &str,
    action: Action,
) -> Result<()> {
    if caller.is_admin {
        return Ok(());
    }
    let levels = held(tx, caller, kind, id).await?;
    if levels.is_empty() {
        return Err(not_found(kind, id));
    }
    if !kind.allows(&levels, action) {
        return Err(StoreError::Denied(Denied::Object {
            kind,
            id: id.to_owned(),
            needed: kind.required(action),
        }));
    }
    Ok(())
}

/// Whether a principal holds an entitlement, directly or through (nested) groups.
async fn has_entitlement(
    tx: &mut Transaction<'static, Any>,
    principal_id: i64,
    entitlement: Entitlement,
) -> Result<bool> {
    let mut sql = memberships_cte(principal_id);
    sql.push(
        "SELECT 1 AS yes FROM principal_values v WHERE v.attr = 'entitlements' AND v.value = ",
    )
    .text(entitlement.as_str())
    .push(" AND v.principal_id IN (SELECT id FROM mine)");
    Ok(sql.query().fetch_optional(&mut **tx).await?.is_some())
}

/// Admins may create anything; others need the entitlement that governs the kind.
async fn authorize_create(
    tx: &mut Transaction<'static, Any>,
    caller: &Caller,
    kind: ObjectKind,
) -> Result<()> {
    let entitlement = match kind {
        ObjectKind::Warehouse | ObjectKind::Cluster => Entitlement::AllowClusterCreate,
        ObjectKind::Job => Entitlement::WorkspaceAccess,
    };
    if caller.is_admin || has_entitlement(tx, caller.principal_id, entitlement).await? {
        Ok(())
    } else {
        Err(StoreError::Denied(Denied::Create { kind, entitlement }))
    }
}

/// `SELECT … FROM <table> <alias>` restricted to the workspace and, for non-admins, to objects
/// the caller holds some level on.
fn visible(caller: &Caller, kind: ObjectKind, columns: &str, alias: &str) -> Sql {
    let id_text = match kind {
        ObjectKind::Job => format!("CAST({alias}.id AS TEXT)"),
        _ => format!("{alias}.id"),
    };
    let mut sql = if caller.is_admin {
        Sql::new("")
    } else {
        memberships_cte(caller.principal_id)
    };
    sql.push(&format!(
        "SELECT {columns} FROM {} {alias} WHERE {alias}.workspace_id = ",
        table(kind)
    ))
    .int(caller.workspace_id);
    if !caller.is_admin {
        sql.push(&format!(
            " AND EXISTS (SELECT 1 FROM object_permissions o WHERE o.workspace_id = {alias}.workspace_id \
             AND o.object_type = "
        ))
        .text(kind.storage_type())
        .push(&format!(
            " AND o.object_id = {id_text} AND o.principal_id IN (SELECT id FROM mine))"
        ));
    }
    sql
}

impl Store {
    /// `FOR UPDATE` where the dialect has it: on PostgreSQL a read-then-write of one object
    /// locks its row; SQLite's `BEGIN IMMEDIATE` already serializes writers.
    pub(crate) fn lock_clause(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// Starts a write on one object: it must exist (locked where the dialect allows) and the
    /// caller must be allowed `action`.
    pub(crate) async fn begin_object_write(
        &self,
        caller: &Caller,
        kind: ObjectKind,
        id: &str,
        action: Action,
    ) -> Result<Transaction<'static, Any>> {
        let mut tx = self.begin_write().await?;
        if !exists(&mut tx, kind, caller.workspace_id, id, self.lock_clause()).await? {
            return Err(not_found(kind, id));
        }
        authorize(&mut tx, caller, kind, id, action).await?;
        Ok(tx)
    }

    /// A read-only transaction in which the caller may see the object.
    pub(crate) async fn begin_object_read(
        &self,
        caller: &Caller,
        kind: ObjectKind,
        id: &str,
    ) -> Result<Transaction<'static, Any>> {
        let mut tx = self.pool.begin().await?;
        if !exists(&mut tx, kind, caller.workspace_id, id, "").await? {
            return Err(not_found(kind, id));
        }
        authorize(&mut tx, caller, kind, id, Action::View).await?;
        Ok(tx)
    }

    // ---- SQL warehouses ----

    /// Creates a warehouse owned by the caller, who needs `allow-cluster-create` (or admin).
    pub async fn create_warehouse(
        &self,
        caller: &Caller,
        spec: &WarehouseSpec,
    ) -> Result<WarehouseRecord> {
        let mut tx = self.begin_write().await?;
        authorize_create(&mut tx, caller, ObjectKind::Warehouse).await?;
        let record = insert_warehouse(
            &mut tx,
            caller.workspace_id,
            caller.principal_id,
            &caller.name,
            spec,
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// A warehouse by id, whoever asks: for server-side checks (is a connection's warehouse
    /// still there?), never for answering a client without an access check.
    pub async fn get_warehouse(
        &self,
        workspace_id: i64,
        id: &str,
    ) -> Result<Option<WarehouseRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {WAREHOUSE_COLUMNS} FROM warehouses w WHERE w.workspace_id = "
        ));
        sql.int(workspace_id).push(" AND w.id = ").text(id);
        let row = sql.query().fetch_optional(&self.pool).await?;
        row.as_ref().map(warehouse_from_row).transpose()
    }

    /// A warehouse the caller may see.
    pub async fn warehouse(&self, caller: &Caller, id: &str) -> Result<WarehouseRecord> {
        let tx = self
            .begin_object_read(caller, ObjectKind::Warehouse, id)
            .await?;
        tx.rollback().await?;
        self.get_warehouse(caller.workspace_id, id)
            .await?
            .ok_or_else(|| not_found(ObjectKind::Warehouse, id))
    }

    /// Every warehouse the caller may see, by id.
    pub async fn list_warehouses(&self, caller: &Caller) -> Result<Vec<WarehouseRecord>> {
        let mut sql = visible(caller, ObjectKind::Warehouse, WAREHOUSE_COLUMNS, "w");
        sql.push(" ORDER BY w.id");
        sql.query()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(warehouse_from_row)
            .collect()
    }

    /// Edits a warehouse (CAN_MANAGE): `edit` turns the current specification into the new
    /// one, or explains why the request is invalid. Its state does not change.
    pub async fn edit_warehouse(
        &self,
        caller: &Caller,
        id: &str,
        edit: impl FnOnce(&WarehouseSpec) -> std::result::Result<WarehouseSpec, String>,
    ) -> Result<WarehouseRecord> {
        let kind = ObjectKind::Warehouse;
        let mut tx = self
            .begin_object_write(caller, kind, id, Action::Manage)
            .await?;
        let mut sql = Sql::new(&format!(
            "SELECT {WAREHOUSE_COLUMNS} FROM warehouses w WHERE w.id = "
        ));
        sql.text(id);
        let current = warehouse_from_row(&sql.query().fetch_one(&mut *tx).await?)?;
        let spec = edit(&current.spec).map_err(StoreError::Invalid)?;
        spec.validate().map_err(StoreError::Invalid)?;
        ensure_unique_name(&mut tx, caller.workspace_id, &spec.name, Some(id)).await?;
        let now = now_millis();
        sqlx::query(
            "UPDATE warehouses SET name = $1, cluster_size = $2, min_num_clusters = $3, \
             max_num_clusters = $4, auto_stop_mins = $5, enable_photon = $6, \
             enable_serverless_compute = $7, warehouse_type = $8, spot_instance_policy = $9, \
             channel_name = $10, channel_dbsql_version = $11, custom_tags = $12, \
             instance_profile_arn = $13, statement_timeout = $14, max_dbu = $15, updated_at = $16 \
             WHERE id = $17",
        )
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
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_or(e, || duplicate_name(&spec.name)))?;
        tx.commit().await?;
        Ok(WarehouseRecord {
            spec,
            updated_at: now,
            ..current
        })
    }

    /// Deletes a warehouse and its ACL (CAN_MANAGE).
    pub async fn delete_warehouse(&self, caller: &Caller, id: &str) -> Result<()> {
        let mut tx = self
            .begin_object_write(caller, ObjectKind::Warehouse, id, Action::Manage)
            .await?;
        delete_warehouse_tx(&mut tx, caller.workspace_id, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Starts a warehouse (CAN_USE). Starting one that is starting or running changes nothing.
    pub async fn start_warehouse(&self, caller: &Caller, id: &str) -> Result<()> {
        self.move_warehouse(caller, id, Action::Start, WarehouseState::start)
            .await
    }

    /// Stops a warehouse (CAN_MANAGE). Stopping one that is stopping or stopped changes nothing.
    pub async fn stop_warehouse(&self, caller: &Caller, id: &str) -> Result<()> {
        self.move_warehouse(caller, id, Action::Stop, WarehouseState::stop)
            .await
    }

    async fn move_warehouse(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
        transition: fn(WarehouseState) -> Option<WarehouseState>,
    ) -> Result<()> {
        let kind = ObjectKind::Warehouse;
        let mut tx = self.begin_object_write(caller, kind, id, action).await?;
        let state: String = sqlx::query("SELECT state FROM warehouses WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("state")?;
        if let Some(next) = transition(parse_warehouse_state(&state)?) {
            let now = now_millis();
            sqlx::query(
                "UPDATE warehouses SET state = $1, state_since = $2, updated_at = $2 WHERE id = $3",
            )
            .bind(next.as_str())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    // ---- clusters ----

    /// Creates a cluster the caller manages; it needs `allow-cluster-create` (or admin).
    pub async fn create_cluster(
        &self,
        caller: &Caller,
        spec: &ClusterSpec,
    ) -> Result<ClusterRecord> {
        let mut tx = self.begin_write().await?;
        authorize_create(&mut tx, caller, ObjectKind::Cluster).await?;
        let record = insert_cluster(
            &mut tx,
            caller.workspace_id,
            caller.principal_id,
            &caller.name,
            spec,
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// A cluster by id, whoever asks: for server-side checks, never for answering a client
    /// without an access check.
    pub async fn get_cluster(&self, workspace_id: i64, id: &str) -> Result<Option<ClusterRecord>> {
        let mut sql = Sql::new(&format!(
            "SELECT {CLUSTER_COLUMNS} FROM clusters c WHERE c.workspace_id = "
        ));
        sql.int(workspace_id).push(" AND c.id = ").text(id);
        let row = sql.query().fetch_optional(&self.pool).await?;
        row.as_ref().map(cluster_from_row).transpose()
    }

    /// A cluster the caller may see.
    pub async fn cluster(&self, caller: &Caller, id: &str) -> Result<ClusterRecord> {
        let tx = self
            .begin_object_read(caller, ObjectKind::Cluster, id)
            .await?;
        tx.rollback().await?;
        self.get_cluster(caller.workspace_id, id)
            .await?
            .ok_or_else(|| not_found(ObjectKind::Cluster, id))
    }

    /// Every cluster the caller may see, by id (which starts with the creation date).
    pub async fn list_clusters(&self, caller: &Caller) -> Result<Vec<ClusterRecord>> {
        let mut sql = visible(caller, ObjectKind::Cluster, CLUSTER_COLUMNS, "c");
        sql.push(" ORDER BY c.id");
        sql.query()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(cluster_from_row)
            .collect()
    }

    /// Replaces a cluster's specification (CAN_MANAGE); a cluster that is up restarts.
    pub async fn edit_cluster(
        &self,
        caller: &Caller,
        id: &str,
        spec: &ClusterSpec,
    ) -> Result<ClusterRecord> {
        spec.validate().map_err(StoreError::Invalid)?;
        let kind = ObjectKind::Cluster;
        let mut tx = self
            .begin_object_write(caller, kind, id, Action::Manage)
            .await?;
        let mut sql = Sql::new(&format!(
            "SELECT {CLUSTER_COLUMNS} FROM clusters c WHERE c.id = "
        ));
        sql.text(id);
        let current = cluster_from_row(&sql.query().fetch_one(&mut *tx).await?)?;
        let now = now_millis();
        let (state, state_since) = match current.state.edit() {
            Some(next) => (next, now),
            None => (current.state, current.state_since),
        };
        sqlx::query(
            "UPDATE clusters SET cluster_name = $1, spec = $2, state = $3, state_since = $4, \
             updated_at = $5 WHERE id = $6",
        )
        .bind(spec.cluster_name.as_str())
        .bind(spec_json(spec)?)
        .bind(state.as_str())
        .bind(state_since)
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(ClusterRecord {
            spec: spec.clone(),
            state,
            state_since,
            updated_at: now,
            ..current
        })
    }

    /// Starts a terminated cluster (CAN_RESTART); one that is up stays as it is.
    pub async fn start_cluster(&self, caller: &Caller, id: &str) -> Result<()> {
        self.move_cluster(caller, id, |s| Ok(s.start())).await
    }

    /// Restarts a cluster that is up (CAN_RESTART).
    pub async fn restart_cluster(&self, caller: &Caller, id: &str) -> Result<()> {
        self.move_cluster(caller, id, |s| s.restart().map(Some))
            .await
    }

    /// Terminates a cluster (`clusters/delete`, CAN_RESTART); it stays listed as TERMINATED.
    pub async fn terminate_cluster(&self, caller: &Caller, id: &str) -> Result<()> {
        self.move_cluster(caller, id, |s| Ok(s.terminate())).await
    }

    async fn move_cluster(
        &self,
        caller: &Caller,
        id: &str,
        transition: fn(ClusterState) -> std::result::Result<Option<ClusterState>, String>,
    ) -> Result<()> {
        let kind = ObjectKind::Cluster;
        let mut tx = self
            .begin_object_write(caller, kind, id, Action::Start)
            .await?;
        let state: String = sqlx::query("SELECT state FROM clusters WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("state")?;
        let next = transition(parse_cluster_state(&state)?).map_err(|reason| {
            StoreError::Rejected(Rejected::ClusterState {
                id: id.to_owned(),
                reason,
            })
        })?;
        if let Some(next) = next {
            let now = now_millis();
            sqlx::query(
                "UPDATE clusters SET state = $1, state_since = $2, updated_at = $2 WHERE id = $3",
            )
            .bind(next.as_str())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a cluster for good, with its ACL (CAN_MANAGE).
    pub async fn permanent_delete_cluster(&self, caller: &Caller, id: &str) -> Result<()> {
        let mut tx = self
            .begin_object_write(caller, ObjectKind::Cluster, id, Action::Manage)
            .await?;
        delete_cluster_tx(&mut tx, caller.workspace_id, id).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- jobs ----

    /// Creates a job owned by the caller, who needs `workspace-access` (or admin). `acl` is
    /// the create request's `access_control_list`, applied like a PATCH over the owner.
    pub async fn create_job(
        &self,
        caller: &Caller,
        settings: Map<String, Value>,
        acl: &[AclGrant],
    ) -> Result<JobRecord> {
        job::validate(&settings).map_err(StoreError::Invalid)?;
        let settings = job::with_defaults(settings);
        let kind = ObjectKind::Job;
        let mut tx = self.begin_write().await?;
        authorize_create(&mut tx, caller, kind).await?;
        let now = creation_millis();
        let record = JobRecord {
            job_id: new_numeric_id(),
            workspace_id: caller.workspace_id,
            settings,
            creator_id: caller.principal_id,
            creator_name: caller.name.clone(),
            created_time: now,
            updated_at: now,
        };
        sqlx::query(
            "INSERT INTO jobs (id, workspace_id, name, settings, creator_id, creator_name, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(record.job_id)
        .bind(record.workspace_id)
        .bind(job::name_of(&record.settings))
        .bind(Value::Object(record.settings.clone()).to_string())
        .bind(record.creator_id)
        .bind(record.creator_name.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let id = record.job_id.to_string();
        let owner = [(caller.principal_id, kind.creator_level())];
        let plan = plan_acl(kind, &owner, acl, false).map_err(StoreError::Invalid)?;
        let entries: Vec<(i64, &str)> =
            plan.entries.iter().map(|(p, l)| (*p, l.as_str())).collect();
        write_acl(&mut tx, record.workspace_id, object(kind, &id), &entries).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// A job the caller may see (CAN_VIEW).
    pub async fn job(&self, caller: &Caller, job_id: i64) -> Result<JobRecord> {
        let id = job_id.to_string();
        let tx = self.begin_object_read(caller, ObjectKind::Job, &id).await?;
        tx.rollback().await?;
        let mut sql = Sql::new(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs j WHERE j.workspace_id = "
        ));
        sql.int(caller.workspace_id)
            .push(" AND j.id = ")
            .int(job_id);
        let row = sql.query().fetch_optional(&self.pool).await?;
        row.as_ref()
            .map(job_from_row)
            .transpose()?
            .ok_or_else(|| not_found(ObjectKind::Job, &id))
    }

    /// The jobs the caller may see, oldest first; `name` filters on the exact name, ignoring
    /// case.
    pub async fn list_jobs(&self, caller: &Caller, name: Option<&str>) -> Result<Vec<JobRecord>> {
        let mut sql = visible(caller, ObjectKind::Job, JOB_COLUMNS, "j");
        if let Some(name) = name {
            sql.push(" AND LOWER(j.name) = ").text(name.to_lowercase());
        }
        sql.push(" ORDER BY j.created_at, j.id");
        sql.query()
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(job_from_row)
            .collect()
    }

    /// `jobs/reset` (`fields_to_remove` is `None`: the settings are replaced) or `jobs/update`
    /// (merged, see [`job::update`]); CAN_MANAGE.
    pub async fn change_job(
        &self,
        caller: &Caller,
        job_id: i64,
        new_settings: &Map<String, Value>,
        fields_to_remove: Option<&[String]>,
    ) -> Result<()> {
        let kind = ObjectKind::Job;
        let id = job_id.to_string();
        let mut tx = self
            .begin_object_write(caller, kind, &id, Action::Manage)
            .await?;
        let settings = match fields_to_remove {
            None => {
                job::validate(new_settings).map_err(StoreError::Invalid)?;
                new_settings.clone()
            }
            Some(remove) => {
                let current: String = sqlx::query("SELECT settings FROM jobs WHERE id = $1")
                    .bind(job_id)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("settings")?;
                let current = settings_from_json(&current)?;
                job::update(&current, new_settings, remove).map_err(StoreError::Invalid)?
            }
        };
        let settings = job::with_defaults(settings);
        sqlx::query("UPDATE jobs SET name = $1, settings = $2, updated_at = $3 WHERE id = $4")
            .bind(job::name_of(&settings))
            .bind(Value::Object(settings.clone()).to_string())
            .bind(now_millis())
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a job and its ACL (CAN_MANAGE).
    pub async fn delete_job(&self, caller: &Caller, job_id: i64) -> Result<()> {
        let kind = ObjectKind::Job;
        let id = job_id.to_string();
        let mut tx = self
            .begin_object_write(caller, kind, &id, Action::Manage)
            .await?;
        sqlx::query("DELETE FROM jobs WHERE id = $1")
            .bind(job_id)
            .execute(&mut *tx)
            .await?;
        delete_acl(&mut tx, caller.workspace_id, object(kind, &id)).await?;
        tx.commit().await?;
        Ok(())
    }

    // ---- object ACLs ----

    /// The direct ACL of an object the caller may see.
    pub async fn object_acl(
        &self,
        caller: &Caller,
        kind: ObjectKind,
        id: &str,
    ) -> Result<Vec<AclEntry>> {
        let tx = self.begin_object_read(caller, kind, id).await?;
        tx.rollback().await?;
        self.acl(caller.workspace_id, object(kind, id)).await
    }

    /// PUT (`Replace`) or PATCH (`Merge`) of an object's ACL, by someone with CAN_MANAGE. The
    /// result follows [`plan_acl`]; moving ownership also needs an admin or the current owner.
    pub async fn update_object_acl(
        &self,
        caller: &Caller,
        kind: ObjectKind,
        id: &str,
        grants: &[AclGrant],
        update: AclUpdate,
    ) -> Result<Vec<AclEntry>> {
        let mut tx = self
            .begin_object_write(caller, kind, id, Action::Manage)
            .await?;
        let target = object(kind, id);
        let current: Vec<(i64, PermissionLevel)> =
            direct_levels(&mut tx, caller.workspace_id, target)
                .await?
                .into_iter()
                .filter_map(|(p, l)| kind.parse_level(&l).map(|l| (p, l)))
                .collect();
        let plan = plan_acl(kind, &current, grants, update == AclUpdate::Replace)
            .map_err(StoreError::Invalid)?;
        if plan.changes_owner()
            && !caller.is_admin
            && plan
                .previous_owner
                .is_some_and(|owner| owner != caller.principal_id)
        {
            return Err(StoreError::Denied(Denied::ChangeOwner {
                kind,
                id: id.to_owned(),
            }));
        }
        let entries: Vec<(i64, &str)> =
            plan.entries.iter().map(|(p, l)| (*p, l.as_str())).collect();
        write_acl(&mut tx, caller.workspace_id, target, &entries).await?;
        tx.commit().await?;
        self.acl(caller.workspace_id, target).await
    }
}

/// Creates a warehouse inside a caller's transaction, in state STARTING, its creator its owner
/// (IS_OWNER). The specification is validated here; a duplicate name is a conflict.
/// Authorization is the caller's business: Partner Connect uses this for the warehouse a
/// connection creates, owned by the partner's service principal.
pub(crate) async fn insert_warehouse(
    tx: &mut Transaction<'static, Any>,
    workspace_id: i64,
    creator_id: i64,
    creator_name: &str,
    spec: &WarehouseSpec,
) -> Result<WarehouseRecord> {
    spec.validate().map_err(StoreError::Invalid)?;
    ensure_unique_name(tx, workspace_id, &spec.name, None).await?;
    let now = now_millis();
    let record = WarehouseRecord {
        id: new_warehouse_id(),
        workspace_id,
        spec: spec.clone(),
        data_source_id: uuid::Uuid::new_v4().to_string(),
        creator_id,
        creator_name: creator_name.to_owned(),
        state: WarehouseState::Starting,
        state_since: now,
        created_at: now,
        updated_at: now,
    };
    sqlx::query(
        "INSERT INTO warehouses (id, workspace_id, name, cluster_size, min_num_clusters, \
         max_num_clusters, auto_stop_mins, enable_photon, enable_serverless_compute, \
         warehouse_type, spot_instance_policy, channel_name, channel_dbsql_version, custom_tags, \
         instance_profile_arn, statement_timeout, max_dbu, data_source_id, creator_id, \
         creator_name, state, state_since, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $21, $22, $22, $22)",
    )
    .bind(record.id.as_str())
    .bind(workspace_id)
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
    .bind(record.data_source_id.as_str())
    .bind(creator_id)
    .bind(creator_name)
    .bind(record.state.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(|e| conflict_or(e, || duplicate_name(&spec.name)))?;
    let kind = ObjectKind::Warehouse;
    grant_object_permission(
        tx,
        workspace_id,
        kind.storage_type(),
        &record.id,
        creator_id,
        kind.creator_level().as_str(),
    )
    .await?;
    Ok(record)
}

/// Deletes a warehouse and its ACL inside a caller's transaction; `false` if there was no such
/// warehouse. Authorization is the caller's business.
pub(crate) async fn delete_warehouse_tx(
    tx: &mut Transaction<'static, Any>,
    workspace_id: i64,
    id: &str,
) -> Result<bool> {
    let deleted = sqlx::query("DELETE FROM warehouses WHERE workspace_id = $1 AND id = $2")
        .bind(workspace_id)
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected()
        > 0;
    if deleted {
        delete_acl(tx, workspace_id, object(ObjectKind::Warehouse, id)).await?;
    }
    Ok(deleted)
}

/// Creates a cluster inside a caller's transaction, in state PENDING, its creator holding
/// CAN_MANAGE (clusters have no owner level). The specification is validated here.
/// Authorization is the caller's business: Partner Connect uses this for a partner's cluster.
pub(crate) async fn insert_cluster(
    tx: &mut Transaction<'static, Any>,
    workspace_id: i64,
    creator_id: i64,
    creator_name: &str,
    spec: &ClusterSpec,
) -> Result<ClusterRecord> {
    spec.validate().map_err(StoreError::Invalid)?;
    let now = now_millis();
    let record = ClusterRecord {
        cluster_id: new_cluster_id(now),
        workspace_id,
        spec: spec.clone(),
        creator_id,
        creator_name: creator_name.to_owned(),
        state: ClusterState::Pending,
        state_since: now,
        created_at: now,
        updated_at: now,
    };
    sqlx::query(
        "INSERT INTO clusters (id, workspace_id, cluster_name, spec, creator_id, creator_name, \
         state, state_since, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8)",
    )
    .bind(record.cluster_id.as_str())
    .bind(workspace_id)
    .bind(spec.cluster_name.as_str())
    .bind(spec_json(spec)?)
    .bind(creator_id)
    .bind(creator_name)
    .bind(record.state.as_str())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let kind = ObjectKind::Cluster;
    grant_object_permission(
        tx,
        workspace_id,
        kind.storage_type(),
        &record.cluster_id,
        creator_id,
        kind.creator_level().as_str(),
    )
    .await?;
    Ok(record)
}

/// Deletes a cluster for good, with its ACL, inside a caller's transaction; `false` if there
/// was no such cluster. Authorization is the caller's business.
pub(crate) async fn delete_cluster_tx(
    tx: &mut Transaction<'static, Any>,
    workspace_id: i64,
    id: &str,
) -> Result<bool> {
    let deleted = sqlx::query("DELETE FROM clusters WHERE workspace_id = $1 AND id = $2")
        .bind(workspace_id)
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected()
        > 0;
    if deleted {
        delete_acl(tx, workspace_id, object(ObjectKind::Cluster, id)).await?;
    }
    Ok(deleted)
}

/// Stored data that cannot be read back: an internal error, never the client's fault.
pub(crate) fn corrupt(message: String) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(message.into()))
}

fn duplicate_name(name: &str) -> StoreError {
    StoreError::Taken(Taken::Warehouse {
        name: name.to_owned(),
    })
}

/// Refuses a name another warehouse of the workspace has. Checked before writing so that a
/// PostgreSQL transaction is not aborted by the unique index.
/// `base`, or the first of `base_2`, `base_3`, … that no warehouse of the workspace is named.
pub(crate) async fn free_warehouse_name(
    tx: &mut Transaction<'static, Any>,
    workspace_id: i64,
    base: &str,
) -> Result<String> {
    let taken: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM warehouses WHERE workspace_id = $1 AND (name = $2 OR name LIKE $3)",
    )
    .bind(workspace_id)
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

async fn ensure_unique_name(
    tx: &mut Transaction<'static, Any>,
    workspace_id: i64,
    name: &str,
    except: Option<&str>,
) -> Result<()> {
    let mut sql = Sql::new("SELECT 1 AS yes FROM warehouses WHERE workspace_id = ");
    sql.int(workspace_id).push(" AND name = ").text(name);
    if let Some(id) = except {
        sql.push(" AND id <> ").text(id);
    }
    if sql.query().fetch_optional(&mut **tx).await?.is_some() {
        return Err(duplicate_name(name));
    }
    Ok(())
}

fn tags_json(tags: &[(String, String)]) -> String {
    Value::Array(
        tags.iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect(),
    )
    .to_string()
}

fn tags_from_json(text: &str) -> Result<Vec<(String, String)>> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| corrupt(format!("stored warehouse tags are not JSON: {e}")))?;
    Ok(value
        .as_array()
        .map(|tags| {
            tags.iter()
                .map(|t| {
                    let s = |k: &str| {
                        t.get(k)
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned()
                    };
                    (s("key"), s("value"))
                })
                .collect()
        })
        .unwrap_or_default())
}

fn spec_json(spec: &ClusterSpec) -> Result<String> {
    serde_json::to_string(spec).map_err(|e| corrupt(format!("cluster specification: {e}")))
}

pub(crate) fn settings_from_json(text: &str) -> Result<Map<String, Value>> {
    serde_json::from_str(text)
        .map_err(|e| corrupt(format!("stored job settings are not a JSON object: {e}")))
}

fn parse_warehouse_state(s: &str) -> Result<WarehouseState> {
    WarehouseState::parse(s).ok_or_else(|| corrupt(format!("unknown stored warehouse state {s}")))
}

fn parse_cluster_state(s: &str) -> Result<ClusterState> {
    ClusterState::parse(s).ok_or_else(|| corrupt(format!("unknown stored cluster state {s}")))
}

/// Reads a stored wire value back, refusing anything the migration could not have written.
fn stored<T>(value: String, parse: fn(&str) -> Option<T>, column: &str) -> Result<T> {
    parse(&value).ok_or_else(|| corrupt(format!("unknown stored {column} {value}")))
}

fn warehouse_from_row(row: &AnyRow) -> Result<WarehouseRecord> {
    let spec = WarehouseSpec {
        name: row.try_get("name")?,
        cluster_size: stored(
            row.try_get("cluster_size")?,
            ClusterSize::parse,
            "cluster_size",
        )?,
        min_num_clusters: row.try_get("min_num_clusters")?,
        max_num_clusters: row.try_get("max_num_clusters")?,
        auto_stop_mins: row.try_get("auto_stop_mins")?,
        enable_photon: row.try_get::<i64, _>("enable_photon")? != 0,
        enable_serverless_compute: row.try_get::<i64, _>("enable_serverless_compute")? != 0,
        warehouse_type: stored(
            row.try_get("warehouse_type")?,
            WarehouseType::parse,
            "warehouse_type",
        )?,
        spot_instance_policy: stored(
            row.try_get("spot_instance_policy")?,
            SpotInstancePolicy::parse,
            "spot_instance_policy",
        )?,
        channel: Channel {
            name: stored(
                row.try_get("channel_name")?,
                ChannelName::parse,
                "channel_name",
            )?,
            dbsql_version: row.try_get("channel_dbsql_version")?,
        },
        custom_tags: tags_from_json(&row.try_get::<String, _>("custom_tags")?)?,
        instance_profile_arn: row.try_get("instance_profile_arn")?,
        statement_timeout: row.try_get("statement_timeout")?,
        max_dbu: row.try_get("max_dbu")?,
    };
    Ok(WarehouseRecord {
        id: row.try_get("id")?,
        workspace_id: row.try_get("workspace_id")?,
        spec,
        data_source_id: row.try_get("data_source_id")?,
        creator_id: row.try_get("creator_id")?,
        creator_name: row.try_get("creator_name")?,
        state: parse_warehouse_state(&row.try_get::<String, _>("state")?)?,
        state_since: row.try_get("state_since")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn cluster_from_row(row: &AnyRow) -> Result<ClusterRecord> {
    let spec: String = row.try_get("spec")?;
    Ok(ClusterRecord {
        cluster_id: row.try_get("id")?,
        workspace_id: row.try_get("workspace_id")?,
        spec: serde_json::from_str(&spec)
            .map_err(|e| corrupt(format!("stored cluster specification: {e}")))?,
        creator_id: row.try_get("creator_id")?,
        creator_name: row.try_get("creator_name")?,
        state: parse_cluster_state(&row.try_get::<String, _>("state")?)?,
        state_since: row.try_get("state_since")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn job_from_row(row: &AnyRow) -> Result<JobRecord> {
    Ok(JobRecord {
        job_id: row.try_get("id")?,
        workspace_id: row.try_get("workspace_id")?,
        settings: settings_from_json(&row.try_get::<String, _>("settings")?)?,
        creator_id: row.try_get("creator_id")?,
        creator_name: row.try_get("creator_name")?,
        created_time: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}
