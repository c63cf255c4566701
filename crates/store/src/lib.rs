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
mod oauth;
mod partner_facts;
mod partners;
mod permissions;
mod principals;
mod queries;
mod read;
mod runs;
mod scim_filter;
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
    MetastoreRecord, NewCatalog, NewMetastore, NewSchema, NewTable, PrivilegeAssignment,
    SchemaRecord, TableRecord,
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
pub use permissions::{AclEntry, AclUpdate, ObjectRef, TOKENS};
pub use principals::{
    Email, GroupRef, ListPage, ListQuery, MemberRef, PrincipalData, PrincipalRecord,
};
pub use queries::{NewQuery, QueryFilter, QueryPage, QueryRecord};
pub use runs::{NewRun, RunFilter, RunRecord};
pub use secrets::{SecretAcl, SecretMeta, SecretScope};
pub use sql_nodes::{NodeAddress, NodeRecord, SqlSession};
pub use tokens::{Bearer, NewToken, TokenFilter, TokenRecord};

use patchbay_core::time::{Clock, EpochMillis, SystemClock};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor, SqlSafeStr};
use std::borrow::Cow;
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
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Opens (creating if needed) the SQLite database in a data directory.
    pub async fn open_data_dir(dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Config(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
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
        let sources = MIGRATIONS.iter().map(|m| {
            let sql = match self.backend {
                Backend::Sqlite => m.sqlite,
                Backend::Postgres => m.postgres,
            };
            (m.version, m.description, sql)
        });
        let migrations = sources
            .map(|(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sqlx::AssertSqlSafe(sql).into_sql_str(),
                    false,
                )
            })
            .collect();
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

/// One schema change, in both dialects. Append-only: a released migration never changes.
struct SchemaChange {
    version: i64,
    description: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

macro_rules! migration {
    ($version:literal, $name:literal) => {
        SchemaChange {
            version: $version,
            description: $name,
            sqlite: include_str!(concat!("../migrations/sqlite/", $name, ".sql")),
            postgres: include_str!(concat!("../migrations/postgres/", $name, ".sql")),
        }
    };
}

const MIGRATIONS: &[SchemaChange] = &[
    migration!(1, "0001_foundation"),
    migration!(2, "0002_object_permissions"),
    migration!(3, "0003_compute"),
    migration!(4, "0004_catalog"),
    migration!(5, "0005_partner_connect"),
    migration!(6, "0006_ui_sessions"),
    migration!(7, "0007_runs_and_secrets"),
    migration!(8, "0008_connection_steps"),
    migration!(9, "0009_oauth"),
    migration!(10, "0010_oauth_jwt"),
    migration!(11, "0011_oauth_apps"),
    migration!(12, "0012_oauth_consents"),
    migration!(13, "0013_sql"),
    migration!(14, "0014_principal_values_order"),
    migration!(15, "0015_sql_nodes"),
    migration!(16, "0016_query_history_retention"),
    migration!(17, "0017_node_certificates"),
];

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

    /// A migration file that is not listed is never applied: every file of both dialects is
    /// listed, in order, under the version its name begins with.
    #[test]
    fn every_migration_file_is_applied() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let names = |dialect: &str| {
            let mut names: Vec<String> = std::fs::read_dir(dir.join(dialect))
                .unwrap()
                .map(|entry| entry.unwrap().file_name().into_string().unwrap())
                .filter_map(|name| name.strip_suffix(".sql").map(str::to_owned))
                .collect();
            names.sort();
            names
        };
        assert_eq!(
            names("sqlite"),
            names("postgres"),
            "one schema in two dialects"
        );
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| m.description.to_owned())
            .collect();
        assert_eq!(listed, names("sqlite"));
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(
                m.version,
                i64::try_from(i).unwrap() + 1,
                "{}",
                m.description
            );
            assert!(m.description.starts_with(&format!("{:04}_", m.version)));
        }
    }

    #[test]
    fn redact_url_hides_passwords_only() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite:///x.db"), "sqlite:///x.db");
    }
}
