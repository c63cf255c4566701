//! What went wrong in a store call, typed: the store says what happened (which object is
//! missing, which name is taken, which rule refused), the server says it to the client
//! (`server/src/error.rs`: status, error code and message). Nothing here is client text.

use crate::CatalogError;
use patchbay_core::JobId;
use patchbay_core::RunId;
use patchbay_core::compute::{ObjectKind, PermissionLevel};
use patchbay_core::partner::delete::Refusal;
use patchbay_core::principal::{Entitlement, PrincipalKind};
use patchbay_core::{PrincipalId, WorkspaceId};

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// What a step expected (a connection's identity or state) changed before it could act:
    /// another step won a race. Nothing was changed.
    #[error("changed: {0:?}")]
    Changed(Changed),
    /// A Partner Connect rule of core refused a delete or a rotation, decided on the
    /// connection as it is inside the transaction; the words are core's.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The object is in a state that forbids the call.
    #[error("conflict: {0:?}")]
    Conflict(Conflict),
    /// A SCIM filter names something patchbay cannot filter on.
    #[error("invalid filter: {0:?}")]
    InvalidFilter(FilterError),
    /// `migrate-db` refused to copy: the operator's databases are not what it needs.
    #[error("{0}")]
    Migrate(MigrateRefusal),
    /// A bug or bad stored data: a row that does not read back, a statement whose parameters
    /// do not fit. Never shown to clients.
    #[error("internal error: {0}")]
    Internal(String),
    /// A catalog failure met outside the catalog's own calls (Partner Connect's grants, a
    /// connection's health): what happened, typed as the catalog says it.
    #[error(transparent)]
    Catalog(Box<CatalogError>),
    /// The database is busy, unreachable, restarting, full or read-only: the statement wrote
    /// nothing (its transaction is rolled back), so the same call may succeed later.
    #[error("database unavailable: {0}")]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
    /// The database failed otherwise: a bug or bad data. Never shown to clients.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The hot read path's SQLite connection failed otherwise (`read.rs`). Never shown to
    /// clients.
    #[error("database read error: {0}")]
    Read(rusqlite::Error),
    /// Something the call names does not exist.
    #[error("not found: {0:?}")]
    Missing(Missing),
    /// A name or key is taken.
    #[error("taken: {0:?}")]
    Taken(Taken),
    /// The caller may not do this.
    #[error("denied: {0:?}")]
    Denied(Denied),
    /// The request breaks a rule of the data.
    #[error("rejected: {0:?}")]
    Rejected(Rejected),
    /// The database URL or set-up is wrong.
    #[error("{0}")]
    Config(String),
}

impl StoreError {
    /// Whether the failure means "try again later" rather than a bug.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }

    /// Whether the error says that something named does not exist.
    pub fn is_not_found(&self) -> bool {
        match self {
            StoreError::Missing(_) | StoreError::Refused(Refusal::NoConnection { .. }) => true,
            StoreError::Catalog(e) => e.is_not_found(),
            _ => false,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    /// Decides here, once for both databases, whether a failure is worth retrying.
    fn from(err: sqlx::Error) -> StoreError {
        if unavailable(&err) {
            StoreError::Unavailable(Box::new(err))
        } else {
            StoreError::Database(err)
        }
    }
}

/// Whether a database failure means "try again later" rather than a bug: the database is
/// unreachable, restarting, busy, out of space or read-only. Such a statement wrote nothing
/// (its transaction is rolled back), so the client may safely repeat the request.
fn unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // The primary result code is the low byte of the extended one.
                let primary = code.parse::<i32>().map_or(0, |c| c & 0xff);
                // BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN.
                matches!(primary, 5 | 6 | 8 | 10 | 13 | 14)
            } else if db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() {
                // Connection exceptions; the server shutting down or restarting (57P01–57P03,
                // what a terminated backend reports); insufficient resources (disk full, too
                // many connections); a read-only transaction (a standby); serialization
                // failure and deadlock, which a retry resolves.
                code.starts_with("08")
                    || code.starts_with("57P0")
                    || code.starts_with("53")
                    || matches!(code.as_ref(), "25006" | "40001" | "40P01")
            } else {
                false
            }
        }
        _ => false,
    }
}

/// What a call named and did not find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// A user, service principal or group by id.
    Principal {
        kind: PrincipalKind,
        id: PrincipalId,
    },
    /// A principal just written could not be read back: a concurrent delete.
    Vanished {
        kind: PrincipalKind,
        id: PrincipalId,
    },
    /// A principal named by an object ACL entry, by id.
    AclPrincipal {
        id: PrincipalId,
    },
    /// A principal of a secret scope ACL, by name.
    ScopePrincipal {
        name: String,
    },
    /// A group by name (the legacy groups API).
    Group {
        name: String,
    },
    /// A user by name (the legacy groups API).
    User {
        name: String,
    },
    /// A user by name, for the operator at the machine.
    Operator {
        name: String,
    },
    /// The member is not in the group.
    Membership {
        member: String,
        group: String,
    },
    /// A service principal by id (OAuth secrets).
    ServicePrincipal {
        id: PrincipalId,
    },
    Token {
        id: String,
    },
    Workspace {
        id: WorkspaceId,
    },
    Scope {
        name: String,
    },
    Secret {
        scope: String,
        key: String,
    },
    /// A principal has no ACL on the scope.
    ScopeAcl {
        scope: String,
        principal: String,
    },
    OAuthSecret {
        secret_id: String,
        principal_id: PrincipalId,
    },
    Run {
        id: RunId,
    },
    /// A warehouse, cluster or job that does not exist or that the caller may not see: the
    /// same, so that ids of invisible objects cannot be probed.
    Object {
        kind: ObjectKind,
        id: String,
    },
    /// A connection just provisioned could not be read back: a concurrent delete.
    ConnectionVanished {
        partner_id: String,
    },
    /// A token (or OAuth secret) that the connection's principal does not hold.
    ConnectionToken {
        token_id: String,
    },
}

/// A name or key that exists already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// A principal's unique name: a user name, an application id or a group name.
    Principal {
        kind: PrincipalKind,
        name: String,
    },
    Scope {
        name: String,
    },
    Warehouse {
        name: String,
    },
    /// The workspace already has a connection to the partner: the row is the claim a second
    /// connect loses to.
    Connection {
        partner_id: String,
    },
    /// Another live node's id begins like this one's (see `Store::register_node`).
    NodeRoute {
        route: String,
    },
}

/// What the caller may not do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// Creating one's own token needs `CAN_USE` on tokens.
    CreateToken,
    /// A token on behalf of a service principal that may not use tokens.
    ServicePrincipalTokens { application_id: String },
    /// An action on a warehouse, cluster or job without the level it needs.
    Object { kind: ObjectKind, id: String, needed: PermissionLevel },
    /// Creating a warehouse, cluster or job needs an entitlement.
    Create { kind: ObjectKind, entitlement: Entitlement },
    /// Only an admin or the current owner may change an object's owner.
    ChangeOwner { kind: ObjectKind, id: String },
    /// A secret scope action without the level it needs.
    Scope { user: String, needed: &'static str, scope: String },
}

/// Which rule of the data a request breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// The workspace holds the most secret scopes it may.
    ScopeLimit,
    /// The scope holds the most secrets it may.
    SecretLimit {
        scope: String,
    },
    /// The service principal holds the most OAuth secrets it may.
    OAuthSecretLimit {
        principal_id: PrincipalId,
    },
    /// A group into `admins`.
    GroupInAdmins,
    /// A group would contain itself, through nested groups.
    GroupCycle {
        group: String,
        parent: String,
    },
    /// A group as its own member.
    SelfMember,
    /// A member id that is no principal of the workspace.
    UnknownMember {
        id: PrincipalId,
    },
    BuiltinGroupRename {
        name: &'static str,
    },
    BuiltinGroupDelete {
        name: &'static str,
    },
    /// A token on behalf of a service principal that does not exist.
    UnknownServicePrincipal {
        application_id: String,
    },
    /// The level does not apply to the kind of object.
    Level {
        level: PermissionLevel,
        object: crate::permissions::AclKind,
    },
    /// `IS_OWNER` for a group.
    GroupOwner,
    /// A run of tasks the job does not have.
    UnknownTask {
        task: String,
        job_id: JobId,
    },
    /// A cluster cannot move from its state; the reason is core's.
    ClusterState {
        id: String,
        reason: String,
    },
    /// A rule of core refused the request (a compute spec, job settings, an ACL plan, a
    /// securable or a privilege); the words are core's.
    Rule(String),
    /// `sortBy` names an attribute patchbay cannot sort on.
    SortBy(FilterError),
    /// `sortBy` names a multi-valued attribute, as the client wrote it.
    SortByMultiValued {
        attribute: String,
    },
    /// A connect that selects a warehouse that does not exist.
    UnknownWarehouse {
        id: String,
    },
    /// A connect whose credential is an OAuth secret but that creates no service principal.
    OAuthSecretWithoutServicePrincipal,
    /// Revoking the token the partner holds now (or is being given).
    CurrentToken,
    /// A repair of a connection whose service principal was deleted.
    ServicePrincipalDeleted,
}

/// What changed under a Partner Connect step, so that it cannot act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// The connection row went while it was being removed.
    WhileDeleting { partner_id: String },
    /// A delivered rotation is still in progress.
    RotationInProgress { partner_id: String },
    /// A manual rotation's previous token is still live: the admin must confirm first.
    AwaitsConfirmation { previous_token_id: String },
    /// The interrupted rotation being resumed was settled by another step.
    RotationSettled { partner_id: String },
    /// The rotation being ended was ended by another step.
    RotationEnded { partner_id: String },
}

/// An object whose state forbids the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// A partner's settings cannot be removed while it has a connection.
    PartnerConnected { partner_id: String },
}

/// What patchbay cannot filter SCIM principals on. `attribute` is the attribute path as the
/// client wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterError {
    /// Not an attribute of the resource, or one patchbay does not filter on.
    UnsupportedAttribute { attribute: String },
    /// A value path (`attr[...]`) on an attribute that is not multi-valued.
    NotMultiValued { attribute: String },
    /// `null` with an operator other than `eq` or `ne`.
    NullComparison { attribute: String },
    /// A boolean attribute compared with something other than `true` or `false`.
    NotBoolean { attribute: String },
    /// An operator other than `eq` or `ne` on a boolean attribute.
    BooleanOperator { operator: &'static str, attribute: String },
}

/// Why `migrate-db` refused to copy. For the operator at the machine, not an API client: its
/// `Display` is the text the CLI prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrateRefusal {
    #[error("the source database holds no patchbay installation; nothing to copy")]
    EmptySource,
    #[error(
        "the target database already holds a patchbay installation; migrate-db only copies \
         into an empty database (drop and recreate it, or choose another)"
    )]
    TargetInstalled,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_store_decides_what_is_worth_a_retry() {
        assert!(StoreError::from(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(StoreError::from(sqlx::Error::PoolClosed).is_unavailable());
        assert!(StoreError::from(sqlx::Error::Io(std::io::Error::other("gone"))).is_unavailable());
        assert!(!StoreError::from(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!StoreError::from(sqlx::Error::Protocol("a bug".into())).is_unavailable());
    }

    #[test]
    fn not_found_covers_the_typed_kinds_and_the_catalog() {
        assert!(StoreError::Missing(Missing::Run { id: RunId::new(1) }).is_not_found());
        let gone = Refusal::NoConnection { partner_id: "rivery".into() };
        assert!(StoreError::Refused(gone).is_not_found());
        let connecting = Refusal::Connecting { partner_id: "rivery".into() };
        assert!(!StoreError::Refused(connecting).is_not_found());
        let table = CatalogError::TableNotFound {
            catalog: "main".into(),
            schema: "default".into(),
            name: "t".into(),
        };
        assert!(StoreError::from(table).is_not_found());
        let taken = CatalogError::TableExists { name: "t".into() };
        assert!(!StoreError::from(taken).is_not_found());
        assert!(!StoreError::Taken(Taken::Scope { name: "s".into() }).is_not_found());
    }
}
