//! SQL warehouses, clusters and jobs, and their ACLs. Every write checks, inside its own
//! transaction, that the caller may do it (admins may do anything; others need the level
//! [`ObjectKind::required`] names, or an entitlement to create), so a check cannot be skipped
//! or raced. States are stored with the time they were entered and move on when read
//! ([`WarehouseRecord::state_at`]), so no worker runs and every node agrees.
//!
//! What the kinds share — lookup, the visibility filter, the access checks, delete with the ACL,
//! state moves — is written once here over [`Kind`]; each kind's file ([`warehouses`],
//! [`clusters`], [`jobs`]) holds only its columns, its record and what is its own. The object
//! ACLs of all three are in [`acl`].
//!
//! Partner Connect creates and deletes compute inside its own transaction through
//! [`Creatable::insert`], [`delete_warehouse_tx`] and [`delete_cluster_tx`].

mod acl;
mod clusters;
mod jobs;
mod warehouses;

use jobs::Jobs;
use patchbay_core::{PrincipalId, WorkspaceId};

pub use clusters::ClusterRecord;
pub(crate) use clusters::{Clusters, delete_cluster_tx};
pub use jobs::JobRecord;
pub(crate) use jobs::settings_from_json;
pub use patchbay_core::compute::{ClusterSpec, WarehouseSpec};
pub use warehouses::WarehouseRecord;
pub(crate) use warehouses::{
    Warehouses, delete_warehouse_tx, free_warehouse_name, warehouse_exists,
};

use crate::permissions::{
    ObjectRef, delete_acl, grant_object_permission, levels_held, levels_held_sql, levels_of,
    memberships_cte,
};
use crate::sql::{Bind, Sql};
use crate::{Backend, Denied, Missing, Result, Store, StoreError};
use patchbay_core::access::Caller;
use patchbay_core::compute::{Action, ObjectKind, PermissionLevel};
use patchbay_core::principal::Entitlement;
use patchbay_core::time::EpochMillis;
use sqlx::{Any, Row, Transaction};

/// One kind of compute object as stored: which [`ObjectKind`] it is, the columns of its record
/// and how a row reads back. The shared paths below are generic over it, so a new kind is a
/// marker type and these three items.
pub(crate) trait Kind {
    const KIND: ObjectKind;
    /// The columns a record is read from, on the table alias `t`.
    const COLUMNS: &'static str;
    type Record: Send;
    fn from_row(row: &dyn crate::read::Row) -> Result<Self::Record>;
}

/// A kind created from a specification by [`Store::create_checked`]: warehouses and clusters
/// (a job's create takes its ACL too).
pub(crate) trait Creatable: Kind {
    type Spec;
    /// Inserts a record inside a caller's transaction, its creator holding the kind's
    /// creator level. Authorization is the caller's business.
    async fn insert(
        tx: &mut Transaction<'static, Any>,
        new: NewObject<'_, Self::Spec>,
    ) -> Result<Self::Record>;
}

/// What creating an object of a [`Creatable`] kind takes: when, where, who, and its
/// specification.
pub(crate) struct NewObject<'a, S> {
    pub(crate) now: EpochMillis,
    pub(crate) workspace_id: WorkspaceId,
    pub(crate) creator_id: PrincipalId,
    pub(crate) creator_name: &'a str,
    pub(crate) spec: &'a S,
}

impl<'a> NewObject<'a, ()> {
    /// The same creator, when and where, for another object.
    pub(crate) fn with<S>(&self, spec: &'a S) -> NewObject<'a, S> {
        NewObject {
            now: self.now,
            workspace_id: self.workspace_id,
            creator_id: self.creator_id,
            creator_name: self.creator_name,
            spec,
        }
    }
}

/// A kind whose records have a `state` column that moves ([`Store::move_state`]).
pub(crate) trait Stateful: Kind {
    type State: Copy;
    fn parse_state(stored: &str) -> Result<Self::State>;
    fn state_str(state: Self::State) -> &'static str;
}

/// The error for an object that does not exist, or that the caller may not see: the same, so
/// that ids of invisible objects cannot be probed. Clusters and jobs use the wording both SDKs
/// recognise.
fn not_found(kind: ObjectKind, id: &str) -> StoreError {
    StoreError::Missing(Missing::Object { kind, id: id.to_owned() })
}

fn object(kind: ObjectKind, id: &str) -> ObjectRef<'_> {
    ObjectRef::object(kind, id)
}

fn table(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Warehouse => "warehouses",
        ObjectKind::Cluster => "clusters",
        ObjectKind::Job => "jobs",
    }
}

/// Appends the id to compare a kind's `id` column with; `false` if `id` cannot name an object
/// of the kind. Job ids are numbers, and only their canonical decimal form counts: their ACL
/// rows are keyed by exactly that text.
fn push_id(sql: &mut Sql, kind: ObjectKind, id: &str) -> bool {
    match kind {
        ObjectKind::Job => match id.parse::<i64>() {
            Ok(n) if n.to_string() == id => {
                sql.int(n);
                true
            }
            _ => false,
        },
        _ => {
            sql.text(id);
            true
        }
    }
}

/// Whether an object exists in the workspace. `lock` is appended to the statement
/// ([`Store::lock_clause`]).
async fn exists(
    tx: &mut Transaction<'static, Any>,
    kind: ObjectKind,
    workspace_id: WorkspaceId,
    id: &str,
    lock: &str,
) -> Result<bool> {
    let mut sql = Sql::new(&format!("SELECT 1 AS yes FROM {} WHERE workspace_id = ", table(kind)));
    sql.int(workspace_id.get()).push(" AND id = ");
    if !push_id(&mut sql, kind, id) {
        return Ok(false);
    }
    sql.push(lock);
    Ok(sql.query().fetch_optional(&mut **tx).await?.is_some())
}

/// The levels the caller holds on an object, parsed for its kind.
async fn held(
    tx: &mut Transaction<'static, Any>,
    caller: &Caller,
    kind: ObjectKind,
    id: &str,
) -> Result<Vec<PermissionLevel>> {
    let mut levels =
        levels_held(tx, caller.workspace_id, caller.principal_id, object(kind, id)).await?;
    levels.retain(|l| kind.levels().contains(l));
    Ok(levels)
}

impl Store {
    /// Whether the caller may do `action` to an object by the levels it holds on it, directly
    /// or through a group (admins may do anything); whether the object exists is the caller's
    /// to ask. One statement, no transaction: for checks on a request's path, such as whether
    /// a statement may run on a warehouse.
    pub async fn may(
        &self,
        caller: &Caller,
        kind: ObjectKind,
        id: &str,
        action: Action,
    ) -> Result<bool> {
        if caller.is_admin {
            return Ok(true);
        }
        let sql = levels_held_sql(caller.workspace_id, caller.principal_id, object(kind, id));
        let levels = levels_of(&sql.query().fetch_all(&self.pool).await?)?;
        Ok(kind.allows(&levels, action))
    }
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
    principal_id: PrincipalId,
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

/// `SELECT <columns> FROM <table> t` restricted to the workspace and, for non-admins, to
/// objects the caller holds a level on that allows `action` (any level, for `View`).
fn allowing<K: Kind>(caller: &Caller, action: Action) -> Sql {
    let kind = K::KIND;
    let id_text = match kind {
        ObjectKind::Job => "CAST(t.id AS TEXT)",
        _ => "t.id",
    };
    let mut sql = visibility_prefix(caller);
    sql.push(&format!("SELECT {} FROM {} t WHERE t.workspace_id = ", K::COLUMNS, table(kind)))
        .int(caller.workspace_id.get());
    push_allowed(&mut sql, caller, kind, "t", id_text, action);
    sql
}

/// The start of a statement that lists what the caller may see: for a non-admin, the groups
/// its ACL entries count through ([`memberships_cte`]), which [`push_visible`] needs.
pub(crate) fn visibility_prefix(caller: &Caller) -> Sql {
    if caller.is_admin { Sql::new("") } else { memberships_cte(caller.principal_id) }
}

/// ` AND EXISTS (…)` for a non-admin: it holds some level on the object of `kind` whose
/// workspace is `{alias}.workspace_id` and whose id, as text, is `id_text`. Admins see all.
pub(crate) fn push_visible(
    sql: &mut Sql,
    caller: &Caller,
    kind: ObjectKind,
    alias: &str,
    id_text: &str,
) {
    push_allowed(sql, caller, kind, alias, id_text, Action::View);
}

/// [`push_visible`], for a level that allows `action`.
fn push_allowed(
    sql: &mut Sql,
    caller: &Caller,
    kind: ObjectKind,
    alias: &str,
    id_text: &str,
    action: Action,
) {
    if caller.is_admin {
        return;
    }
    sql.push(&format!(
        " AND EXISTS (SELECT 1 FROM object_permissions o WHERE o.workspace_id = {alias}.workspace_id \
         AND o.object_type = "
    ))
    .text(kind.storage_type())
    .push(&format!(" AND o.object_id = {id_text}"));
    let allowing = kind.levels_allowing(action);
    if allowing.len() < kind.levels().len() {
        let levels = allowing.iter().map(|l| Bind::from(l.as_str()));
        sql.push(" AND o.permission_level IN (").list(levels).push(")");
    }
    sql.push(" AND o.principal_id IN (SELECT id FROM mine))");
}

/// `SELECT <columns> FROM <table> t WHERE t.workspace_id = … AND t.id = …`, or `None` if `id`
/// cannot name an object of the kind.
fn by_id<K: Kind>(workspace_id: WorkspaceId, id: &str) -> Option<Sql> {
    let mut sql = Sql::new(&format!(
        "SELECT {} FROM {} t WHERE t.workspace_id = ",
        K::COLUMNS,
        table(K::KIND)
    ));
    sql.int(workspace_id.get()).push(" AND t.id = ");
    push_id(&mut sql, K::KIND, id).then_some(sql)
}

/// An object's record inside a transaction that already knows it exists.
async fn fetch_in<K: Kind>(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    id: &str,
) -> Result<K::Record> {
    let sql = by_id::<K>(workspace_id, id).ok_or_else(|| not_found(K::KIND, id))?;
    K::from_row(&sql.query().fetch_one(&mut **tx).await?)
}

/// Gives an object's creator the level its kind gives creators, inside the creating transaction.
async fn grant_creator<S>(
    tx: &mut Transaction<'static, Any>,
    kind: ObjectKind,
    new: &NewObject<'_, S>,
    id: &str,
) -> Result<()> {
    let (creator, level) = (new.creator_id, kind.creator_level());
    grant_object_permission(tx, new.workspace_id, object(kind, id), creator, level).await
}

/// Deletes an object and its ACL inside a caller's transaction; `false` if there was no such
/// object. Authorization is the caller's business.
async fn delete_in<K: Kind>(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    id: &str,
) -> Result<bool> {
    let mut sql = Sql::new(&format!("DELETE FROM {} WHERE workspace_id = ", table(K::KIND)));
    sql.int(workspace_id.get()).push(" AND id = ");
    if !push_id(&mut sql, K::KIND, id) {
        return Ok(false);
    }
    let deleted = sql.query().execute(&mut **tx).await?.rows_affected() > 0;
    if deleted {
        delete_acl(tx, workspace_id, object(K::KIND, id)).await?;
    }
    Ok(deleted)
}

/// Stored data that cannot be read back: an internal error, never the client's fault.
pub(crate) fn corrupt(message: String) -> StoreError {
    StoreError::Internal(message)
}

/// Reads a stored wire value back, refusing anything the migration could not have written.
pub(crate) fn stored<T>(value: String, parse: fn(&str) -> Option<T>, column: &str) -> Result<T> {
    parse(&value).ok_or_else(|| corrupt(format!("unknown stored {column} {value}")))
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

    /// An object by id, whoever asks: for server-side checks, never for answering a client
    /// without an access check.
    async fn fetch<K: Kind>(
        &self,
        workspace_id: WorkspaceId,
        id: &str,
    ) -> Result<Option<K::Record>> {
        let Some(sql) = by_id::<K>(workspace_id, id) else {
            return Ok(None);
        };
        // Every statement a warehouse runs reads its warehouse: inline on SQLite.
        crate::read::fetch_optional(&mut self.read(), &sql, |row| K::from_row(row)).await
    }

    /// Whether an object exists, read as [`Store::get_warehouse`] and [`Store::get_cluster`]
    /// read it: for server-side checks (is a connection's compute still there?).
    pub(crate) async fn compute_exists(
        &self,
        kind: ObjectKind,
        workspace_id: WorkspaceId,
        id: &str,
    ) -> Result<bool> {
        Ok(match kind {
            ObjectKind::Warehouse => self.fetch::<Warehouses>(workspace_id, id).await?.is_some(),
            ObjectKind::Cluster => self.fetch::<Clusters>(workspace_id, id).await?.is_some(),
            ObjectKind::Job => self.fetch::<Jobs>(workspace_id, id).await?.is_some(),
        })
    }

    /// An object the caller may see.
    async fn fetch_visible<K: Kind>(&self, caller: &Caller, id: &str) -> Result<K::Record> {
        let tx = self.begin_object_read(caller, K::KIND, id).await?;
        tx.rollback().await?;
        self.fetch::<K>(caller.workspace_id, id).await?.ok_or_else(|| not_found(K::KIND, id))
    }

    /// Every object of the kind the caller may see; `refine` appends conditions and the
    /// `ORDER BY`.
    async fn list_visible<K: Kind>(
        &self,
        caller: &Caller,
        refine: impl FnOnce(&mut Sql),
    ) -> Result<Vec<K::Record>> {
        self.list_allowing::<K>(caller, Action::View, refine).await
    }

    /// Every object of the kind the caller may do `action` to; `refine` as for
    /// [`Store::list_visible`].
    async fn list_allowing<K: Kind>(
        &self,
        caller: &Caller,
        action: Action,
        refine: impl FnOnce(&mut Sql),
    ) -> Result<Vec<K::Record>> {
        let mut sql = allowing::<K>(caller, action);
        refine(&mut sql);
        sql.query().fetch_all(&self.pool).await?.iter().map(|row| K::from_row(row)).collect()
    }

    /// Creates an object the caller may create ([`authorize_create`]), made by the caller.
    async fn create_checked<K: Creatable>(
        &self,
        caller: &Caller,
        spec: &K::Spec,
    ) -> Result<K::Record> {
        let mut tx = self.begin_write().await?;
        authorize_create(&mut tx, caller, K::KIND).await?;
        let new = NewObject {
            now: self.now_millis(),
            workspace_id: caller.workspace_id,
            creator_id: caller.principal_id,
            creator_name: &caller.name,
            spec,
        };
        let record = K::insert(&mut tx, new).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// Deletes an object and its ACL (CAN_MANAGE).
    async fn delete_checked<K: Kind>(&self, caller: &Caller, id: &str) -> Result<()> {
        let mut tx = self.begin_object_write(caller, K::KIND, id, Action::Manage).await?;
        delete_in::<K>(&mut tx, caller.workspace_id, id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Moves an object's state (`action` is what the caller must be allowed): `transition`
    /// gives the next state, `None` for "stays as it is", or refuses.
    async fn move_state<K: Stateful>(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
        transition: impl FnOnce(K::State) -> Result<Option<K::State>>,
    ) -> Result<()> {
        let table = table(K::KIND);
        let mut tx = self.begin_object_write(caller, K::KIND, id, action).await?;
        let mut sql = Sql::new(&format!("SELECT state FROM {table} WHERE id = "));
        sql.text(id);
        let state: String = sql.query().fetch_one(&mut *tx).await?.try_get("state")?;
        if let Some(next) = transition(K::parse_state(&state)?)? {
            let mut sql = Sql::new(&format!("UPDATE {table} SET state = "));
            let now = self.now_millis();
            sql.text(K::state_str(next))
                .push(", state_since = ")
                .int(now)
                .push(", updated_at = ")
                .int(now)
                .push(" WHERE id = ")
                .text(id);
            sql.query().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
