//! Clusters: the record, its columns, and what only clusters have — a specification kept
//! whole as JSON, restart on edit, terminate apart from delete.

use super::{Creatable, Kind, NewObject, Stateful, corrupt, delete_in, fetch_in, grant_creator};
use crate::{Rejected, Result, Store, StoreError};
use patchbay_core::access::Caller;
use patchbay_core::compute::{Action, ClusterSpec, ClusterState, ObjectKind, new_cluster_id};
use patchbay_core::time::EpochMillis;
use patchbay_core::{PrincipalId, WorkspaceId};
use sqlx::{Any, Transaction};

/// A stored cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterRecord {
    pub cluster_id: String,
    pub workspace_id: WorkspaceId,
    pub spec: ClusterSpec,
    pub creator_id: PrincipalId,
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

/// The [`Kind`] of clusters.
pub(crate) struct Clusters;

impl Kind for Clusters {
    const KIND: ObjectKind = ObjectKind::Cluster;
    const COLUMNS: &'static str = "t.id, t.workspace_id, t.spec, t.creator_id, t.creator_name, \
         t.state, t.state_since, t.created_at, t.updated_at";
    type Record = ClusterRecord;

    fn from_row(row: &dyn crate::read::Row) -> Result<ClusterRecord> {
        cluster_from_row(row)
    }
}

impl Creatable for Clusters {
    type Spec = ClusterSpec;

    /// Creates a cluster inside a caller's transaction, in state PENDING, its creator holding
    /// CAN_MANAGE (clusters have no owner level). The specification is validated here.
    /// Authorization is the caller's business: Partner Connect uses this for a partner's cluster.
    async fn insert(
        tx: &mut Transaction<'static, Any>,
        new: NewObject<'_, ClusterSpec>,
    ) -> Result<ClusterRecord> {
        let (now, spec) = (new.now, new.spec);
        spec.validate().map_err(|reason| StoreError::Rejected(Rejected::Rule(reason)))?;
        let record = ClusterRecord {
            cluster_id: new_cluster_id(now),
            workspace_id: new.workspace_id,
            spec: spec.clone(),
            creator_id: new.creator_id,
            creator_name: new.creator_name.to_owned(),
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
        .bind(record.workspace_id.get())
        .bind(spec.cluster_name.as_str())
        .bind(spec_json(spec)?)
        .bind(record.creator_id.get())
        .bind(new.creator_name)
        .bind(record.state.as_str())
        .bind(now)
        .execute(&mut **tx)
        .await?;
        grant_creator(tx, ObjectKind::Cluster, &new, &record.cluster_id).await?;
        Ok(record)
    }
}

impl Stateful for Clusters {
    type State = ClusterState;

    fn parse_state(s: &str) -> Result<ClusterState> {
        parse_cluster_state(s)
    }

    fn state_str(state: ClusterState) -> &'static str {
        state.as_str()
    }
}

impl Store {
    /// Creates a cluster the caller manages; it needs `allow-cluster-create` (or admin).
    pub async fn create_cluster(
        &self,
        caller: &Caller,
        spec: &ClusterSpec,
    ) -> Result<ClusterRecord> {
        self.create_checked::<Clusters>(caller, spec).await
    }

    /// A cluster by id, whoever asks: for server-side checks, never for answering a client
    /// without an access check.
    pub async fn get_cluster(
        &self,
        workspace_id: WorkspaceId,
        id: &str,
    ) -> Result<Option<ClusterRecord>> {
        self.fetch::<Clusters>(workspace_id, id).await
    }

    /// A cluster the caller may see.
    pub async fn cluster(&self, caller: &Caller, id: &str) -> Result<ClusterRecord> {
        self.fetch_visible::<Clusters>(caller, id).await
    }

    /// Every cluster the caller may see, by id (which starts with the creation date).
    pub async fn list_clusters(&self, caller: &Caller) -> Result<Vec<ClusterRecord>> {
        self.list_visible::<Clusters>(caller, |sql| {
            sql.push(" ORDER BY t.id");
        })
        .await
    }

    /// Replaces a cluster's specification (CAN_MANAGE); a cluster that is up restarts.
    pub async fn edit_cluster(
        &self,
        caller: &Caller,
        id: &str,
        spec: &ClusterSpec,
    ) -> Result<ClusterRecord> {
        spec.validate().map_err(|reason| StoreError::Rejected(Rejected::Rule(reason)))?;
        let mut tx =
            self.begin_object_write(caller, ObjectKind::Cluster, id, Action::Manage).await?;
        let current = fetch_in::<Clusters>(&mut tx, caller.workspace_id, id).await?;
        let now = self.now_millis();
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
        Ok(ClusterRecord { spec: spec.clone(), state, state_since, updated_at: now, ..current })
    }

    /// Starts a terminated cluster (CAN_RESTART); one that is up stays as it is.
    pub async fn start_cluster(&self, caller: &Caller, id: &str) -> Result<()> {
        self.move_cluster(caller, id, |s| Ok(s.start())).await
    }

    /// Restarts a cluster that is up (CAN_RESTART).
    pub async fn restart_cluster(&self, caller: &Caller, id: &str) -> Result<()> {
        self.move_cluster(caller, id, |s| s.restart().map(Some)).await
    }

    /// Terminates a cluster (`clusters/delete`, CAN_RESTART); it stays listed as TERMINATED.
    pub async fn terminate_cluster(&self, caller: &Caller, id: &str) -> Result<()> {
        self.move_cluster(caller, id, |s| Ok(s.terminate())).await
    }

    /// A state move of a cluster (all need CAN_RESTART); a refused move names the cluster.
    async fn move_cluster(
        &self,
        caller: &Caller,
        id: &str,
        transition: fn(ClusterState) -> std::result::Result<Option<ClusterState>, String>,
    ) -> Result<()> {
        self.move_state::<Clusters>(caller, id, Action::Start, |state| {
            transition(state).map_err(|reason| {
                StoreError::Rejected(Rejected::ClusterState { id: id.to_owned(), reason })
            })
        })
        .await
    }

    /// Deletes a cluster for good, with its ACL (CAN_MANAGE).
    pub async fn permanent_delete_cluster(&self, caller: &Caller, id: &str) -> Result<()> {
        self.delete_checked::<Clusters>(caller, id).await
    }
}

/// Deletes a cluster for good, with its ACL, inside a caller's transaction; `false` if there
/// was no such cluster. Authorization is the caller's business.
pub(crate) async fn delete_cluster_tx(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    id: &str,
) -> Result<bool> {
    delete_in::<Clusters>(tx, workspace_id, id).await
}

fn spec_json(spec: &ClusterSpec) -> Result<String> {
    serde_json::to_string(spec).map_err(|e| corrupt(format!("cluster specification: {e}")))
}

fn parse_cluster_state(s: &str) -> Result<ClusterState> {
    ClusterState::parse(s).ok_or_else(|| corrupt(format!("unknown stored cluster state {s}")))
}

fn cluster_from_row(row: &dyn crate::read::Row) -> Result<ClusterRecord> {
    let spec: String = row.get("spec")?;
    Ok(ClusterRecord {
        cluster_id: row.get("id")?,
        workspace_id: row.get("workspace_id")?,
        spec: serde_json::from_str(&spec)
            .map_err(|e| corrupt(format!("stored cluster specification: {e}")))?,
        creator_id: row.get("creator_id")?,
        creator_name: row.get("creator_name")?,
        state: parse_cluster_state(&row.get::<String>("state")?)?,
        state_since: row.get("state_since")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}
