//! A fresh, empty database for each test: a temporary SQLite file, or, when
//! `PATCHBAY_TEST_DATABASE_URL` names a PostgreSQL server, a new database on it that is dropped
//! when the test ends.

use crate::{Result, SecretKey, Store, StoreError};
use sqlx::{AnyPool, Executor};

/// The environment variable that moves the test suite onto PostgreSQL, e.g.
/// `postgres://postgres@127.0.0.1:5432`.
pub const ENV: &str = "PATCHBAY_TEST_DATABASE_URL";

/// A database that exists for as long as this value.
pub struct TestDatabase {
    pub url: String,
    cleanup: Cleanup,
    /// The secret key every store on this database is given, as its key file holds it.
    secret_key: String,
}

enum Cleanup {
    /// The temporary directory holding the file; dropping it deletes the database.
    Sqlite(tempfile::TempDir),
    Postgres {
        server: String,
        name: String,
    },
}

impl TestDatabase {
    /// The database of this run: PostgreSQL when [`ENV`] names a server, else SQLite.
    pub async fn create() -> Result<TestDatabase> {
        match std::env::var(ENV).ok().filter(|v| !v.is_empty()) {
            None => TestDatabase::sqlite(),
            Some(server) => {
                let server = server.trim_end_matches('/').to_owned();
                // The creation time in the name lets `scripts/postgres-up` drop the databases of
                // killed runs without touching those of a run still going.
                let created = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or_default();
                let name = format!("patchbay_test_{created}_{}", uuid::Uuid::new_v4().simple());
                let admin = admin_pool(&server).await?;
                admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await?;
                admin.close().await;
                Ok(TestDatabase {
                    url: format!("{server}/{name}"),
                    cleanup: Cleanup::Postgres { server, name },
                    secret_key: SecretKey::generate().file_text(),
                })
            }
        }
    }

    /// A SQLite database in a temporary file, whatever the run's database: for tests of what
    /// only SQLite does (its locks, a read-only file), which then run, and mean something, in
    /// the PostgreSQL run too instead of passing there without checking anything.
    pub fn sqlite() -> Result<TestDatabase> {
        let dir = tempfile::tempdir()
            .map_err(|e| StoreError::Config(format!("cannot create a temporary directory: {e}")))?;
        Ok(TestDatabase {
            url: crate::sqlite_url(&dir.path().join("patchbay.db")),
            cleanup: Cleanup::Sqlite(dir),
            secret_key: SecretKey::generate().file_text(),
        })
    }

    /// Opens the store on this database (migrating it), with the database's secret key.
    pub async fn store(&self) -> Result<Store> {
        Store::connect(&self.url).await?.with_secret_key(self.secret_key()).await
    }

    /// The secret key the stores of [`TestDatabase::store`] are given.
    pub fn secret_key(&self) -> SecretKey {
        SecretKey::from_file_text(&self.secret_key).expect("a key made by SecretKey::generate")
    }

    /// Whether this run is on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.cleanup, Cleanup::Postgres { .. })
    }

    /// The data files to scan for secrets: the SQLite file and its WAL, if any.
    pub fn sqlite_files(&self) -> Vec<std::path::PathBuf> {
        match &self.cleanup {
            Cleanup::Sqlite(dir) => std::fs::read_dir(dir.path())
                .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
                .unwrap_or_default(),
            Cleanup::Postgres { .. } => Vec::new(),
        }
    }
}

async fn admin_pool(server: &str) -> Result<AnyPool> {
    sqlx::any::install_default_drivers();
    Ok(sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&format!("{server}/postgres"))
        .await?)
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres { server, name } = &self.cleanup {
            let (server, name) = (server.clone(), name.clone());
            // Drop runs outside any runtime guarantee; use a private one on its own thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                rt.block_on(async {
                    let admin = admin_pool(&server).await.ok()?;
                    admin
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .await
                        .ok()?;
                    admin.close().await;
                    Some(())
                })
            })
            .join();
        }
    }
}
