//! The catalog: Unity Catalog metastores and their assignment to workspaces, catalogs (the
//! per-workspace legacy `hive_metastore` and the metastore's own), schemas, tables with their
//! columns, and the privileges granted on them.
//!
//! Every call that acts for a caller gathers the facts in its transaction (owners, the
//! caller's grants directly and through its groups, whether it is a metastore or workspace
//! admin) and lets `patchbay_core::catalog` decide. Grants and owners are principal ids with
//! foreign keys: deleting a principal deletes its grants and leaves what it owned ownerless.

mod alter;
mod catalogs;
mod grants;
mod metastores;
mod objects;
mod schemas;
mod tables;

pub use alter::TableChange;
pub use catalogs::{CatalogRecord, NewCatalog};
pub use grants::{
    EffectiveAssignment, EffectivePrivilege, GrantChange, GrantRow, PrivilegeAssignment,
};
pub use metastores::{MetastoreAssignment, MetastoreRecord, NewMetastore};
pub use objects::{CatalogUpdate, ObjectMeta};
pub use schemas::{NewSchema, SchemaRecord};
pub use tables::{ColumnRecord, NewTable, TableRecord};

use crate::read::FromColumn;
use crate::read::{Exec, fetch_all, fetch_optional};
use crate::sql::{Bind, Sql};
use crate::{Rejected, Store, StoreError};
use patchbay_core::access::Caller;
use patchbay_core::catalog::{
    self as rules, AccessFacts, HIVE_METASTORE, LevelFacts, Privilege, Securable,
};
use patchbay_core::time::EpochMillis;
use patchbay_core::{PrincipalId, WorkspaceId};
use sqlx::{Any, Row, Transaction};
use std::collections::{BTreeSet, HashSet};

/// Why a catalog call failed: what happened, in terms of the catalog. The server decides how
/// each reads to a client (status, Unity Catalog error code, message); nothing here is client
/// text. Names are as the request gave them (a full name or a bare one).
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The workspace has no metastore, so a Unity Catalog securable cannot be resolved.
    #[error("no metastore assigned")]
    NoMetastore,
    /// A catalog was to be created, but the workspace has only `hive_metastore`.
    #[error("Unity Catalog not enabled")]
    UnityCatalogDisabled,
    /// The workspace's metastore summary was asked for, and it has none.
    #[error("no metastore summary")]
    NoMetastoreSummary,
    /// An assignment was to be changed, and the workspace has none.
    #[error("workspace {workspace_id} has no metastore")]
    NotAssigned { workspace_id: WorkspaceId },
    /// The metastore is not the one assigned to the workspace.
    #[error("metastore {metastore_id} not assigned to {workspace_id}")]
    AssignmentNotFound { metastore_id: String, workspace_id: WorkspaceId },
    #[error("metastore {id} not found")]
    MetastoreNotFound { id: String },
    #[error("catalog {name} not found")]
    CatalogNotFound { name: String },
    #[error("schema {catalog}.{name} not found")]
    SchemaNotFound { catalog: String, name: String },
    #[error("table {catalog}.{schema}.{name} not found")]
    TableNotFound { catalog: String, schema: String, name: String },
    /// No user, service principal or group has that name.
    #[error("principal {name} not found")]
    PrincipalNotFound { name: String },
    /// A workspace path named another workspace than the caller's.
    #[error("workspace {workspace_id} not found")]
    WorkspaceNotFound { workspace_id: WorkspaceId },
    /// `None` when a rename collided (the new name is not repeated).
    #[error("metastore exists")]
    MetastoreExists { name: Option<String> },
    #[error("catalog {name} exists")]
    CatalogExists { name: String },
    #[error("schema {name} exists")]
    SchemaExists { name: String },
    #[error("table {name} exists")]
    TableExists { name: String },
    /// A rule of `patchbay_core::catalog` refused the action; its reason is core's.
    #[error("{0}")]
    Refused(String),
    /// Changing a securable (or its grants) needs its owner, a parent's owner, `MANAGE` or
    /// an admin.
    #[error("not an owner of {on}")]
    NotOwner { on: Securable },
    /// A catalog is invisible to the caller.
    #[error("no USE CATALOG on {on}")]
    NoUseCatalog { on: Securable },
    /// A schema is invisible to the caller (`USAGE` on a legacy one).
    #[error("no USE SCHEMA on {on}")]
    NoUseSchema { on: Securable, legacy: bool },
    #[error("no CREATE CATALOG")]
    NoCreateCatalog,
    #[error("may not read the grants on {on}")]
    MayNotReadGrants { on: Securable },
    #[error("may not grant on {on}")]
    MayNotGrant { on: Securable },
    /// Only the metastore admin or a workspace admin may change a metastore.
    #[error("may not change metastore {name}")]
    NotMetastoreAdmin { name: String },
    /// A name or privilege broke a rule of `patchbay_core::catalog`; its reason is core's.
    #[error("{0}")]
    Invalid(String),
    /// A table was expected and something else named.
    #[error("{name} is not a table")]
    NotATable { name: String },
    #[error("table type {given} not supported")]
    UnsupportedTableType { given: String },
    #[error("data source format {given} not supported")]
    UnsupportedFormat { given: String },
    #[error("column {name} not found in {table}")]
    ColumnNotFound { table: String, name: String },
    #[error("column {name} exists in {table}")]
    ColumnExists { table: String, name: String },
    #[error("property {key} not set on {table}")]
    PropertyNotSet { table: String, key: String },
    #[error("column {name} repeated")]
    DuplicateColumn { name: String },
    #[error("column {column} has unknown type {type_name}")]
    UnknownColumnType { column: String, type_name: String },
    /// A metastore name is empty or longer than `patchbay_core::catalog::MAX_NAME_LEN`.
    #[error("metastore name length")]
    MetastoreNameLength,
    #[error("metastore name has control characters")]
    MetastoreNameControl,
    /// A grants change without its principal.
    #[error("grant change without principal")]
    NoPrincipal,
    #[error("hive_metastore cannot be renamed")]
    RenameLegacyCatalog { to: String },
    #[error("hive_metastore cannot be deleted")]
    DeleteLegacyCatalog,
    #[error("hive_metastore.default cannot be deleted")]
    DeleteLegacyDefaultSchema,
    /// The catalog holds schemas or tables, and the delete was not forced.
    #[error("catalog {name} not empty")]
    CatalogNotEmpty { name: String },
    #[error("schema {name} not empty")]
    SchemaNotEmpty { name: String, tables: i64 },
    /// The metastore is assigned or holds catalogs, and the delete was not forced.
    #[error("metastore {id} not empty")]
    MetastoreNotEmpty { id: String },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How a catalog error reads in a few words: the HTTP status class follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogErrorKind {
    /// The named metastore, catalog, schema, table or principal does not exist.
    NotFound,
    /// An object with that name exists.
    AlreadyExists,
    /// The caller may not do this.
    Denied,
    /// The request breaks a rule.
    Invalid,
}

impl CatalogError {
    /// What kind of failure this is; `None` for a store failure.
    pub fn kind(&self) -> Option<CatalogErrorKind> {
        use CatalogError as E;
        Some(match self {
            E::NoMetastore
            | E::UnityCatalogDisabled
            | E::NoMetastoreSummary
            | E::NotAssigned { .. }
            | E::AssignmentNotFound { .. }
            | E::MetastoreNotFound { .. }
            | E::CatalogNotFound { .. }
            | E::SchemaNotFound { .. }
            | E::TableNotFound { .. }
            | E::PrincipalNotFound { .. }
            | E::WorkspaceNotFound { .. }
            | E::ColumnNotFound { .. } => CatalogErrorKind::NotFound,
            E::MetastoreExists { .. }
            | E::CatalogExists { .. }
            | E::SchemaExists { .. }
            | E::TableExists { .. }
            | E::ColumnExists { .. } => CatalogErrorKind::AlreadyExists,
            E::Refused(_)
            | E::NotOwner { .. }
            | E::NoUseCatalog { .. }
            | E::NoUseSchema { .. }
            | E::NoCreateCatalog
            | E::MayNotReadGrants { .. }
            | E::MayNotGrant { .. }
            | E::NotMetastoreAdmin { .. } => CatalogErrorKind::Denied,
            E::Invalid(_)
            | E::NotATable { .. }
            | E::UnsupportedTableType { .. }
            | E::UnsupportedFormat { .. }
            | E::DuplicateColumn { .. }
            | E::PropertyNotSet { .. }
            | E::UnknownColumnType { .. }
            | E::MetastoreNameLength
            | E::MetastoreNameControl
            | E::NoPrincipal
            | E::RenameLegacyCatalog { .. }
            | E::DeleteLegacyCatalog
            | E::DeleteLegacyDefaultSchema
            | E::CatalogNotEmpty { .. }
            | E::SchemaNotEmpty { .. }
            | E::MetastoreNotEmpty { .. } => CatalogErrorKind::Invalid,
            E::Store(_) => return None,
        })
    }

    /// Whether the error says that something named does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind() == Some(CatalogErrorKind::NotFound)
    }
}

impl From<sqlx::Error> for CatalogError {
    fn from(e: sqlx::Error) -> Self {
        CatalogError::Store(StoreError::from(e))
    }
}

impl From<CatalogError> for StoreError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Store(e) => e,
            other => StoreError::Catalog(Box::new(other)),
        }
    }
}

/// A unique-constraint violation as the catalog error `exists`, anything else as a store
/// failure.
pub(crate) fn exists_or(err: sqlx::Error, exists: impl FnOnce() -> CatalogError) -> CatalogError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => exists(),
        _ => err.into(),
    }
}

/// The result of a catalog call.
pub type CatalogResult<T> = std::result::Result<T, CatalogError>;

/// The owner's name as the API shows it: a user's e-mail, a service principal's application
/// id, a group's display name. Needs the owner joined as `o`.
pub(crate) const OWNER_NAME: &str = "CASE o.kind WHEN 'user' THEN o.user_name \
     WHEN 'service_principal' THEN o.application_id ELSE o.display_name END";

/// One object of a securable's chain, as stored.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) id: String,
    pub(crate) owner_id: Option<PrincipalId>,
}

/// A securable found in the store: the ids along its chain, and the metastore above it.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) securable: Securable,
    /// The metastore of a Unity Catalog securable (or the metastore itself).
    pub(crate) metastore: Option<Node>,
    /// Catalog, schema, table, as far as the securable goes.
    pub(crate) chain: Vec<Node>,
}

impl Resolved {
    pub(crate) fn legacy(&self) -> bool {
        self.securable.is_legacy()
    }

    /// The grant column and id of the securable itself.
    pub(crate) fn target(&self) -> (&'static str, &str) {
        match (&self.securable, self.chain.last(), &self.metastore) {
            (Securable::Metastore, _, Some(m)) => ("metastore_id", m.id.as_str()),
            (Securable::Catalog(_), Some(n), _) => ("catalog_id", n.id.as_str()),
            (Securable::Schema(..), Some(n), _) => ("schema_id", n.id.as_str()),
            (_, Some(n), _) => ("table_id", n.id.as_str()),
            _ => ("metastore_id", ""),
        }
    }

    /// The owner of the securable itself.
    pub(crate) fn owner_id(&self) -> Option<PrincipalId> {
        match &self.securable {
            Securable::Metastore => self.metastore.as_ref().and_then(|m| m.owner_id),
            _ => self.chain.last().and_then(|n| n.owner_id),
        }
    }
}

/// The caller as the rules see it: its id and the groups it belongs to, directly or through
/// nested groups, and whether it is a workspace admin.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) ids: Vec<PrincipalId>,
    pub(crate) workspace_admin: bool,
}

impl Identity {
    pub(crate) fn holds(&self, principal: Option<PrincipalId>) -> bool {
        principal.is_some_and(|p| self.ids.contains(&p))
    }
}

/// The principal and every group it belongs to, through nested groups too.
pub(crate) async fn identity(
    tx: &mut impl Exec,
    workspace_id: WorkspaceId,
    principal_id: PrincipalId,
) -> CatalogResult<Identity> {
    // No workspace condition in SQL: given one, SQLite may walk the workspace's principals (an
    // index on workspace_id) and probe the handful of ids, which costs milliseconds at 100,000
    // principals; the ids come first this way, and the workspace is checked here.
    let mut sql = Sql::new("WITH RECURSIVE me(id) AS (SELECT CAST(");
    sql.int(principal_id.get()).push(
        " AS BIGINT) \
           UNION SELECT m.group_id FROM memberships m JOIN me ON m.member_id = me.id) \
         SELECT p.id, p.workspace_id, p.builtin FROM me JOIN principals p ON p.id = me.id",
    );
    let rows = fetch_all(tx, &sql, |row| {
        Ok((
            row.get::<WorkspaceId>("workspace_id")?,
            row.get::<PrincipalId>("id")?,
            row.get::<Option<String>>("builtin")?,
        ))
    })
    .await?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut workspace_admin = false;
    for (workspace, id, builtin) in rows {
        if workspace != workspace_id {
            continue;
        }
        ids.push(id);
        workspace_admin |= builtin.as_deref() == Some("admins");
    }
    Ok(Identity { ids, workspace_admin })
}

/// The caller's identity, taking admin status from its authentication.
pub(crate) async fn caller_identity(
    tx: &mut Transaction<'static, Any>,
    caller: &Caller,
) -> CatalogResult<Identity> {
    let mut identity = identity(tx, caller.workspace_id, caller.principal_id).await?;
    identity.workspace_admin |= caller.is_admin;
    Ok(identity)
}

/// The metastore assigned to a workspace, if any.
pub(crate) async fn assigned_metastore(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
) -> CatalogResult<Option<Node>> {
    let row = sqlx::query(
        "SELECT m.id, m.owner_id FROM metastore_assignments a \
         JOIN metastores m ON m.id = a.metastore_id WHERE a.workspace_id = $1",
    )
    .bind(workspace_id.get())
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|r| {
        Ok(Node {
            id: r.try_get("id")?,
            owner_id: Option::<PrincipalId>::from_column(&r, "owner_id")?,
        })
    })
    .transpose()
}

/// Finds a securable by name in the workspace: `hive_metastore` is the workspace's own, every
/// other catalog is in the workspace's metastore. One query: the metastore assigned, then each
/// level of the name joined to the one above it (at most one row each, by the unique names).
pub(crate) async fn resolve(
    tx: &mut impl Exec,
    workspace_id: WorkspaceId,
    securable: &Securable,
) -> CatalogResult<Resolved> {
    let (catalog, schema, table) = match securable {
        Securable::Metastore => (None, None, None),
        Securable::Catalog(c) => (Some(c), None, None),
        Securable::Schema(c, s) => (Some(c), Some(s), None),
        Securable::Table(c, s, t) => (Some(c), Some(s), Some(t)),
    };
    let mut sql = Sql::new(
        "SELECT m.id AS m_id, m.owner_id AS m_owner, c.id AS c_id, c.owner_id AS c_owner, \
         s.id AS s_id, s.owner_id AS s_owner, t.id AS t_id, t.owner_id AS t_owner \
         FROM (SELECT 1 AS one) x \
         LEFT JOIN metastore_assignments a ON a.workspace_id = ",
    );
    sql.int(workspace_id.get()).push(" LEFT JOIN metastores m ON m.id = a.metastore_id");
    // Levels the securable does not name join nothing: their columns come back NULL.
    let none = String::new();
    if catalog.is_some_and(|c| c == HIVE_METASTORE) {
        sql.push(" LEFT JOIN catalogs c ON c.workspace_id = ").int(workspace_id.get());
    } else {
        sql.push(" LEFT JOIN catalogs c ON c.metastore_id = m.id");
    }
    sql.push(" AND c.name = ")
        .text(catalog.unwrap_or(&none).clone())
        .push(" AND ")
        .int(i64::from(catalog.is_some()))
        .push(" = 1 LEFT JOIN catalog_schemas s ON s.catalog_id = c.id AND s.name = ")
        .text(schema.unwrap_or(&none).clone())
        .push(" AND ")
        .int(i64::from(schema.is_some()))
        .push(" = 1 LEFT JOIN catalog_tables t ON t.schema_id = s.id AND t.name = ")
        .text(table.unwrap_or(&none).clone())
        .push(" AND ")
        .int(i64::from(table.is_some()))
        .push(" = 1");
    let levels = fetch_optional(tx, &sql, |row| {
        let level = |prefix: &str| -> crate::Result<Option<Node>> {
            let id: Option<String> = row.get(&format!("{prefix}_id"))?;
            Ok(match id {
                Some(id) => Some(Node { id, owner_id: row.get(&format!("{prefix}_owner"))? }),
                None => None,
            })
        };
        Ok([level("m")?, level("c")?, level("s")?, level("t")?])
    })
    .await?;
    let [metastore, catalog_node, schema_node, table_node] =
        // The query selects from one constant row, so it always gives one.
        levels.ok_or_else(|| StoreError::from(sqlx::Error::RowNotFound))?;
    let mut resolved = Resolved { securable: securable.clone(), metastore, chain: Vec::new() };
    let Some(catalog) = catalog else {
        if resolved.metastore.is_none() {
            return Err(CatalogError::NoMetastore);
        }
        return Ok(resolved);
    };
    resolved.chain.push(
        catalog_node.ok_or_else(|| CatalogError::CatalogNotFound { name: catalog.to_owned() })?,
    );
    if let Some(schema) = schema {
        resolved.chain.push(schema_node.ok_or_else(|| CatalogError::SchemaNotFound {
            catalog: catalog.to_owned(),
            name: schema.clone(),
        })?);
    }
    if let (Some(schema), Some(table)) = (schema, table) {
        resolved.chain.push(table_node.ok_or_else(|| CatalogError::TableNotFound {
            catalog: catalog.to_owned(),
            schema: schema.clone(),
            name: table.clone(),
        })?);
    }
    Ok(resolved)
}

fn node(row: &sqlx::any::AnyRow) -> CatalogResult<Node> {
    Ok(Node {
        id: row.try_get("id")?,
        owner_id: Option::<PrincipalId>::from_column(row, "owner_id")?,
    })
}

/// Whether the identity administers the metastore: it (or a group of it) owns it, or the
/// metastore has lost its owner and the identity is a workspace admin.
pub(crate) fn administers(identity: &Identity, metastore: Option<&Node>) -> bool {
    match metastore {
        Some(m) => match m.owner_id {
            Some(owner) => identity.ids.contains(&owner),
            None => identity.workspace_admin,
        },
        None => false,
    }
}

/// Privileges granted to any of `ids` on each of the given objects, by grant column.
pub(crate) async fn granted(
    tx: &mut Transaction<'static, Any>,
    ids: &[PrincipalId],
    column: &'static str,
    object_ids: &[&str],
) -> CatalogResult<Vec<(String, Privilege)>> {
    if ids.is_empty() || object_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut sql = Sql::new(&format!(
        "SELECT {column} AS object_id, privilege FROM catalog_grants WHERE principal_id IN ("
    ));
    sql.int_list(ids)
        .push(&format!(") AND {column} IN ("))
        .list(object_ids.iter().map(|id| Bind::from(*id)))
        .push(")");
    sql.query()
        .fetch_all(&mut **tx)
        .await?
        .iter()
        .map(|r| {
            let privilege = Privilege::from_column(r, "privilege")?;
            Ok((r.try_get("object_id")?, privilege))
        })
        .collect()
}

/// The facts the rules need about `identity` and a resolved securable.
pub(crate) async fn facts(
    tx: &mut impl Exec,
    identity: &Identity,
    resolved: &Resolved,
) -> CatalogResult<AccessFacts> {
    let legacy = resolved.legacy();
    let superuser = if legacy {
        identity.workspace_admin
    } else {
        administers(identity, resolved.metastore.as_ref())
    };
    // The objects whose grants and owners count, from the top: the metastore (when it is the
    // securable), then the catalog, schema and table resolved.
    let mut objects: Vec<(&'static str, &Node)> = Vec::with_capacity(4);
    if let (Securable::Metastore, Some(m)) = (&resolved.securable, &resolved.metastore) {
        objects.push(("metastore", m));
    }
    for (depth, n) in resolved.chain.iter().enumerate() {
        objects.push((["catalog", "schema", "table"][depth.min(2)], n));
    }
    let mut levels: Vec<LevelFacts> = objects
        .iter()
        .map(|(_, n)| LevelFacts {
            owned: identity.holds(n.owner_id),
            privileges: Default::default(),
        })
        .collect();
    if !identity.ids.is_empty() && !objects.is_empty() {
        // One query for every level's grants.
        let mut sql = Sql::new(
            "SELECT securable_type, COALESCE(metastore_id, catalog_id, schema_id, table_id) \
             AS object_id, privilege FROM catalog_grants WHERE principal_id IN (",
        );
        sql.int_list(&identity.ids).push(") AND (");
        for (i, (kind, n)) in objects.iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push(&format!("{kind}_id = ")).text(n.id.clone());
        }
        sql.push(")");
        let rows = fetch_all(tx, &sql, |row| {
            Ok((
                row.get::<String>("securable_type")?,
                row.get::<String>("object_id")?,
                row.get::<Privilege>("privilege")?,
            ))
        })
        .await?;
        for (kind, object_id, privilege) in rows {
            for (level, (k, n)) in levels.iter_mut().zip(&objects) {
                if *k == kind && n.id == object_id {
                    level.privileges.insert(privilege);
                }
            }
        }
    }
    Ok(AccessFacts { legacy, superuser, levels })
}

/// Looks a principal up by the name the catalog APIs use: a user's e-mail (any case), a
/// service principal's application id, or a group's name.
pub(crate) async fn find_principal(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    name: &str,
) -> CatalogResult<(PrincipalId, String)> {
    let name = name.trim();
    let row = sqlx::query(
        "SELECT p.id, CASE p.kind WHEN 'user' THEN p.user_name \
                WHEN 'service_principal' THEN p.application_id ELSE p.display_name END AS name \
         FROM principals p WHERE p.workspace_id = $1 AND (\
            (p.kind = 'user' AND LOWER(p.user_name) = LOWER($2)) \
            OR (p.kind = 'service_principal' AND p.application_id = LOWER($2)) \
            OR (p.kind = 'group' AND p.display_name = $2)) \
         ORDER BY CASE p.kind WHEN 'user' THEN 0 WHEN 'service_principal' THEN 1 ELSE 2 END \
         LIMIT 1",
    )
    .bind(workspace_id.get())
    .bind(name)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| CatalogError::PrincipalNotFound { name: name.to_owned() })?;
    Ok((PrincipalId::from_column(&row, "id")?, row.try_get("name")?))
}

/// Grants privileges inside another store transaction (Partner Connect's grants are part of
/// its connect transaction). Checks each privilege against the securable; no authorization:
/// the caller has decided already.
pub(crate) async fn grant_tx(
    tx: &mut Transaction<'static, Any>,
    now: EpochMillis,
    workspace_id: WorkspaceId,
    securable: &Securable,
    principal_id: PrincipalId,
    privileges: &[Privilege],
) -> crate::Result<()> {
    let resolved = resolve(tx, workspace_id, securable).await?;
    for p in privileges {
        rules::check_privilege(securable, p.as_str())
            .map_err(|reason| StoreError::Rejected(Rejected::Rule(reason)))?;
    }
    for privilege in privileges {
        grants::insert_grant(tx, now, &resolved, principal_id, *privilege).await?;
    }
    Ok(())
}

/// Who made what the system makes, in the audit columns.
const SYSTEM_USER: &str = "System user";

/// Creates `hive_metastore` and its `default` schema for a new workspace, owned by its
/// `admins` group. Called by the bootstrap in its transaction.
pub(crate) async fn create_legacy_catalog(
    tx: &mut Transaction<'static, Any>,
    now: EpochMillis,
    workspace_id: WorkspaceId,
) -> crate::Result<()> {
    let admins = crate::principals::builtin_group_id(
        tx,
        workspace_id,
        patchbay_core::principal::BuiltinGroup::Admins,
    )
    .await?;
    let catalog_id = new_id();
    objects::insert_row(
        "catalogs",
        "id, workspace_id, name, comment, owner_id",
        [
            catalog_id.as_str().into(),
            workspace_id.into(),
            HIVE_METASTORE.into(),
            "The workspace's legacy Hive metastore".into(),
            admins.into(),
        ],
        now,
        SYSTEM_USER,
    )
    .query()
    .execute(&mut **tx)
    .await?;
    schemas::insert_schema_row(
        tx,
        &catalog_id,
        rules::DEFAULT_SCHEMA,
        Some("Default Hive metastore schema"),
        "{}",
        Some(admins),
        SYSTEM_USER,
        now,
    )
    .await?;
    Ok(())
}

/// A new random id for a metastore, catalog, schema or table.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl Store {
    /// Whether the principal administers the workspace's metastore: it owns it, directly or
    /// through a group (or the metastore has no owner and the principal is a workspace admin).
    /// False when the workspace has no metastore.
    pub async fn is_metastore_admin(
        &self,
        workspace_id: WorkspaceId,
        principal_id: PrincipalId,
    ) -> crate::Result<bool> {
        let mut tx = self.begin_read().await?;
        let identity = identity(&mut tx, workspace_id, principal_id).await?;
        let metastore = assigned_metastore(&mut tx, workspace_id).await?;
        tx.rollback().await?;
        Ok(administers(&identity, metastore.as_ref()))
    }

    /// The privileges a principal holds on a securable: granted on it or inherited from its
    /// catalog and schema, to the principal or to any group it belongs to. Ownership is not a
    /// privilege (see the records' `owner_id`).
    pub async fn effective_privileges(
        &self,
        workspace_id: WorkspaceId,
        securable: &Securable,
        principal_id: PrincipalId,
    ) -> crate::Result<Vec<Privilege>> {
        let mut tx = self.begin_read().await?;
        let identity = identity(&mut tx, workspace_id, principal_id).await?;
        let resolved = resolve(&mut tx, workspace_id, securable).await?;
        let facts = facts(&mut tx, &identity, &resolved).await?;
        tx.rollback().await?;
        let held: BTreeSet<Privilege> =
            facts.levels.iter().flat_map(|l| l.privileges.iter().copied()).collect();
        Ok(held.into_iter().collect())
    }

    /// Whether a schema exists in a catalog the workspace can see.
    pub async fn schema_exists(
        &self,
        workspace_id: WorkspaceId,
        catalog: &str,
        schema: &str,
    ) -> crate::Result<bool> {
        let mut tx = self.begin_read().await?;
        let found = resolve(
            &mut tx,
            workspace_id,
            &Securable::Schema(catalog.to_lowercase(), schema.to_lowercase()),
        )
        .await;
        tx.rollback().await?;
        match found {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// Distinct values, in order of first appearance.
pub(crate) fn dedup<T: Eq + std::hash::Hash + Clone>(values: Vec<T>) -> Vec<T> {
    let mut seen = HashSet::new();
    values.into_iter().filter(|v| seen.insert(v.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Partner Connect grants inside its own transaction; bad privileges are client errors
    /// and leave nothing behind.
    #[tokio::test]
    async fn grant_tx_grants_inside_a_callers_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let (store, workspace_id) = crate::bootstrap::fresh_store(dir.path()).await;
        let user = store.find_user(workspace_id, "admin@example.com").await.unwrap().unwrap();
        let schema = Securable::Schema(HIVE_METASTORE.into(), "default".into());

        let mut tx = store.begin_write().await.unwrap();
        grant_tx(
            &mut tx,
            store.now_millis(),
            workspace_id,
            &schema,
            user.id,
            &[Privilege::Usage, Privilege::ReadMetadata],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            store.effective_privileges(workspace_id, &schema, user.id).await.unwrap(),
            [Privilege::ReadMetadata, Privilege::Usage]
        );

        let mut tx = store.begin_write().await.unwrap();
        grant_tx(&mut tx, store.now_millis(), workspace_id, &schema, user.id, &[Privilege::Select])
            .await
            .unwrap();
        let err = grant_tx(
            &mut tx,
            store.now_millis(),
            workspace_id,
            &schema,
            user.id,
            &[Privilege::UseSchema],
        )
        .await
        .unwrap_err();
        assert!(matches!(err, StoreError::Rejected(Rejected::Rule(m)) if m.contains("USE_SCHEMA")));
        tx.rollback().await.unwrap();
        let missing = Securable::Catalog("main".into());
        let mut tx = store.begin_write().await.unwrap();
        let err = grant_tx(
            &mut tx,
            store.now_millis(),
            workspace_id,
            &missing,
            user.id,
            &[Privilege::UseCatalog],
        )
        .await
        .unwrap_err();
        assert!(err.is_not_found());
        tx.rollback().await.unwrap();
        assert_eq!(
            store.effective_privileges(workspace_id, &schema, user.id).await.unwrap(),
            [Privilege::ReadMetadata, Privilege::Usage],
            "the rolled-back grant is gone"
        );
        assert!(!store.is_metastore_admin(workspace_id, user.id).await.unwrap());
        store.close().await;
    }

    /// An object whose stored properties are not a JSON object is an error when read, never
    /// an object with no properties.
    #[tokio::test]
    async fn an_object_with_unreadable_properties_fails_loudly() {
        let dir = tempfile::tempdir().unwrap();
        let (store, workspace_id) = crate::bootstrap::fresh_store(dir.path()).await;
        let caller = crate::bootstrap::admin_caller(&store, workspace_id).await;
        let read = store.get_schema(&caller, HIVE_METASTORE, "default").await.unwrap();
        assert!(read.meta.properties.is_empty());
        for properties in ["[]", "{", "\"text\"", "null"] {
            sqlx::query("UPDATE catalog_schemas SET properties = $1")
                .bind(properties)
                .execute(&store.pool)
                .await
                .unwrap();
            match store.get_schema(&caller, HIVE_METASTORE, "default").await {
                Err(CatalogError::Store(StoreError::Internal(message))) => assert!(
                    message.starts_with("column properties holds invalid properties"),
                    "{properties}: {message}"
                ),
                other => panic!("{properties}: {other:?}"),
            }
        }
        store.close().await;
    }
}
