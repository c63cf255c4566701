//! The one `Store` of patchbay: a sqlx `AnyPool` over SQLite (the default, a file in the data
//! directory) or PostgreSQL (several nodes sharing one database). One set of SQL statements
//! serves both; the few dialect differences live in [`Backend`].

mod bootstrap;
mod catalog;
mod compute;
mod connections;
mod error;
mod groups;
mod integrity;
mod migrate_db;
mod migrations;
mod oauth;
mod partner_facts;
mod partners;
mod permissions;
mod principals;
mod queries;
mod read;
mod runs;
mod scim_filter;
mod sealed;
mod secrets;
mod seed;
mod sql;
mod sql_nodes;
mod tokens;
mod ui_sessions;

#[cfg(feature = "testing")]
pub mod testing;

pub use bootstrap::{Bootstrap, BootstrapOutcome};
pub use catalog::{
    CatalogError, CatalogErrorKind, CatalogRecord, CatalogResult, CatalogUpdate, ColumnRecord,
    EffectiveAssignment, EffectivePrivilege, GrantChange, GrantRow, MetastoreAssignment,
    MetastoreRecord, NewCatalog, NewMetastore, NewSchema, NewTable, ObjectMeta,
    PrivilegeAssignment, SchemaRecord, TableChange, TableRecord,
};
pub use compute::{ClusterRecord, ClusterSpec, JobRecord, WarehouseRecord, WarehouseSpec};
pub use connections::{
    Completion, ComputePlan, Notification, ProvisionPlan, Provisioned, Removal, RemovedConnection,
    Rotated, Rotation,
};
pub use error::{
    Changed, Conflict, Denied, FilterError, MigrateRefusal, Missing, Rejected, StoreError, Taken,
};
pub use groups::{NamedMember, NamedPrincipal};
pub use integrity::{Repairs, Violation, ViolationKind};
pub use migrate_db::{MigrateReport, TABLE_ORDER, migrate_db};
pub use oauth::{
    AccessGrant, CodeRequest, GrantError, OAuthApp, OAuthSecretRecord, TokenIssuer, UserGrant,
};
pub use partners::{
    Actor, AuditEvent, AuditQuery, ConnectionRecord, PartnerAccount, PartnerEndpoint,
    PartnerSettings,
};
pub use permissions::{AclEntry, AclKind, AclUpdate, ObjectRef, TOKENS};
pub use principals::{
    Email, GroupRef, ListPage, ListQuery, MemberRef, PrincipalAttributes, PrincipalData,
    PrincipalRecord,
};
pub use queries::{NewQuery, QueryFilter, QueryPage, QueryRecord, Viewer};
pub use runs::{NewRun, RunFilter, RunRecord};
pub use sealed::{Resealed, SecretKey};
pub use secrets::{SecretAcl, SecretMeta, SecretScope};
pub use sql_nodes::{NodeAddress, NodeRecord, SqlSession};
pub use tokens::{Bearer, NewToken, TokenFilter, TokenRecord};

use migrations::MIGRATIONS;
use patchbay_core::time::{Clock, EpochMillis, SystemClock};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};
use std::path::Path;
use std::time::Duration;

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The store: a pool and the knowledge of which dialect it speaks.
#[derive(Clone, Debug)]
pub struct Store {
    /// Reads that do not take the hot path (`read.rs`).
    pool: AnyPool,
    /// Where every write runs, in a transaction ([`Store::begin_write`]) or alone. On SQLite, one connection of its
    /// own: SQLite takes one writer at a time, and writers that queue here wait their turn
    /// instead of meeting a locked database and sleeping in SQLite's busy handler (1 to 100 ms
    /// a try, which under a few concurrent connects cost more than the writes). On PostgreSQL,
    /// the pool itself.
    writes: AnyPool,
    backend: Backend,
    /// The hot read path on a SQLite file (see `read.rs`); `None` on PostgreSQL.
    reader: Option<std::sync::Arc<read::SqliteReader>>,
    /// What every expiry, lifetime and timestamp here is decided by: the machine's clock, or a
    /// test's [`ManualClock`](patchbay_core::time::ManualClock) ([`Store::with_clock`]).
    clock: std::sync::Arc<dyn Clock>,
    /// What credentials kept to be sent again are sealed with ([`Store::with_secret_key`]);
    /// `None` in a store that does not need them (`patchbay admin …`).
    secret_key: Option<std::sync::Arc<SecretKey>>,
}

impl Store {
    /// Opens the database named by `url` (`sqlite://…` or `postgres://…`), and brings its schema
    /// up to date. Any other scheme is refused: a typo must not silently become a new empty
    /// database somewhere.
    pub async fn connect(url: &str) -> Result<Store> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Config(format!(
                "unsupported database URL '{}': use sqlite://PATH or postgres://…",
                redact_url(url)
            )));
        };
        let options = || AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        // The hot read path on a SQLite file; an in-memory database has none.
        let reader = match backend {
            Backend::Sqlite => read::SqliteReader::for_url(url).map(std::sync::Arc::new),
            Backend::Postgres => None,
        };
        let (pool, writes) = match backend {
            Backend::Sqlite => {
                // The hot reads have their own connections (read.rs): more threads would only
                // compete for the cores.
                let pool = sqlite_pool(options().max_connections(4), url).await?;
                let writes = if reader.is_some() {
                    sqlite_pool(options().max_connections(1), url).await?
                } else {
                    // In memory, every pool would open a database of its own.
                    pool.clone()
                };
                (pool, writes)
            }
            Backend::Postgres => {
                let pool = options().max_connections(16).connect(url).await?;
                (pool.clone(), pool)
            }
        };
        let store = Store {
            pool,
            writes,
            backend,
            reader,
            clock: std::sync::Arc::new(SystemClock),
            secret_key: None,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Opens (creating if needed) the SQLite database in a data directory.
    pub async fn open_data_dir(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Config(format!("cannot create data directory {}: {e}", dir.display()))
        })?;
        let file = dir.join("patchbay.db");
        Store::connect(&sqlite_url(&file)).await
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// This store on `clock` instead of the machine's: a test moves a
    /// [`ManualClock`](patchbay_core::time::ManualClock) past an expiry instead of sleeping.
    /// Clones made after this share the clock; the server takes it from its store.
    pub fn with_clock(mut self, clock: std::sync::Arc<dyn Clock>) -> Store {
        self.clock = clock;
        self
    }

    /// The clock this store decides by.
    pub fn clock(&self) -> &std::sync::Arc<dyn Clock> {
        &self.clock
    }

    /// Now, on this store's clock.
    pub fn now_millis(&self) -> EpochMillis {
        self.clock.now_millis()
    }

    /// A creation time on this store's clock (see [`Clock::creation_millis`]).
    pub fn creation_millis(&self) -> EpochMillis {
        self.clock.creation_millis()
    }

    /// Cheap readiness probe for `/healthz`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writes.close().await;
    }

    async fn migrate(&self) -> Result<()> {
        let migrations = MIGRATIONS.iter().map(|m| m.migration(self.backend)).collect();
        Migrator::with_migrations(migrations)
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Config(format!("database migration failed: {e}")))
    }

    /// Starts a transaction that only reads, and reads one snapshot: on PostgreSQL at
    /// `REPEATABLE READ`, where each statement of a plain `BEGIN` would see the commits made
    /// since the one before (a table found by name, then gone when its columns are read).
    /// SQLite's read transactions see one snapshot already.
    pub(crate) async fn begin_read(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN",
            Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ",
        };
        Ok(self.pool.begin_with(begin).await?)
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so a read-then-write never fails on lock upgrade.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        Ok(self.writes.begin_with(begin).await?)
    }
}

/// A pool of connections to a SQLite file, each set up the same way.
async fn sqlite_pool(options: AnyPoolOptions, url: &str) -> Result<AnyPool> {
    let pool = options
        // A local file does not drop connections; a ping before every use would only double
        // each query's trips to the connection's thread.
        .test_before_acquire(false)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // WAL for concurrent readers; FULL so that an acknowledged write (a revoked
                // token above all) survives power loss; foreign keys are off by default in
                // SQLite; LIKE case-sensitive as in PostgreSQL.
                conn.execute(
                    "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                     PRAGMA case_sensitive_like = ON;",
                )
                .await?;
                Ok(())
            })
        })
        .connect(url)
        .await?;
    Ok(pool)
}

/// The SQLite URL of a file, created if missing.
pub fn sqlite_url(file: &Path) -> String {
    format!("sqlite://{}?mode=rwc", file.display())
}

/// A database URL with any password hidden, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Maps a unique-constraint violation to the error `taken` (a name is taken), anything else to
/// a database error.
fn conflict_or(err: sqlx::Error, taken: impl FnOnce() -> StoreError) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => taken(),
        _ => err.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_passwords_only() {
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u:***@h:5432/db");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite:///x.db"), "sqlite:///x.db");
    }
}
