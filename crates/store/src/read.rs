//! Reads on the hot path: authentication on every request and principal lookups (`/Me`, SCIM
//! get and filtered lists).
//!
//! On SQLite they run inline, on a few read-only connections of the same file. sqlx's SQLite
//! driver runs every connection on its own thread behind a channel; for a point lookup the
//! thread wake-ups cost several times the query itself, and on a small machine they were most
//! of the server's CPU time. A WAL reader never waits for the writer, so a lookup of a few
//! microseconds on the async worker is cheaper than handing it to another thread. Every read
//! starts a fresh snapshot, so a write committed through the pool (a revoked token above all)
//! is seen by the very next read. Each connection also remembers the authentications and
//! principals it read, for as long as SQLite's data version says nothing was committed since
//! ([`Memo`]): a `/Me` then costs one short read transaction.
//!
//! On PostgreSQL the same SQL goes through the pool.

use crate::principals::PrincipalRecord;
use crate::sql::{Bind, Sql};
use crate::tokens::RememberedCaller;
use crate::{Result, Store, StoreError};
use patchbay_core::{JobId, PrincipalId, RunId, WorkspaceId};
use sqlx::Row as _;
use sqlx::any::AnyRow;
use std::collections::HashMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One result row, whichever driver produced it.
pub(crate) trait Row {
    fn int(&self, column: &str) -> Result<i64>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>>;
    fn text(&self, column: &str) -> Result<String>;
    fn opt_text(&self, column: &str) -> Result<Option<String>>;
}

/// A column's value as a record's field: what [`Row`] reads, chosen by the field's type.
pub(crate) trait FromColumn: Sized {
    fn from_column(row: &dyn Row, column: &str) -> Result<Self>;
}

/// Each field type reads with the [`Row`] method of its column's type.
macro_rules! from_column {
    ($($field:ty => $read:ident),* $(,)?) => {$(
        impl FromColumn for $field {
            fn from_column(row: &dyn Row, column: &str) -> Result<Self> {
                row.$read(column)
            }
        }
    )*};
}

from_column!(i64 => int, Option<i64> => opt_int, String => text, Option<String> => opt_text);

/// Numeric ids read from their integer columns.
macro_rules! id_columns {
    ($($id:ident),*) => {$(
        impl FromColumn for $id {
            fn from_column(row: &dyn Row, column: &str) -> Result<Self> {
                row.int(column).map($id::new)
            }
        }

        impl FromColumn for Option<$id> {
            fn from_column(row: &dyn Row, column: &str) -> Result<Self> {
                row.opt_int(column).map(|id| id.map($id::new))
            }
        }
    )*};
}

id_columns!(WorkspaceId, PrincipalId, JobId, RunId);

/// A privilege as its row names it; a name the store could not have written is an internal
/// error, never the client's.
impl FromColumn for patchbay_core::catalog::Privilege {
    fn from_column(row: &dyn Row, column: &str) -> Result<Self> {
        crate::compute::stored(row.text(column)?, Self::from_name, column)
    }
}

/// A permission level as its row names it; a name the store could not have written is an
/// internal error, never the client's.
impl FromColumn for patchbay_core::compute::PermissionLevel {
    fn from_column(row: &dyn Row, column: &str) -> Result<Self> {
        crate::compute::stored(row.text(column)?, Self::parse, column)
    }
}

/// A table's type as its row names it; a name the store could not have written is an internal
/// error, never the client's.
impl FromColumn for patchbay_core::catalog::TableType {
    fn from_column(row: &dyn Row, column: &str) -> Result<Self> {
        crate::compute::stored(row.text(column)?, Self::parse, column)
    }
}

/// For a record whose fields are its table's columns, by name: `$columns`, the column list a
/// `SELECT` names, and `$from_row`, which reads one row back, both from the one list of fields.
/// What `#[derive(sqlx::FromRow)]` would give, plus the column list; sqlx's `derive` feature is
/// not on because it builds its SQLite and PostgreSQL drivers a second time, for the proc-macro.
macro_rules! columns_of {
    ($record:ident { $first:ident $(, $field:ident)* $(,)? } => $columns:ident, $from_row:ident) => {
        const $columns: &str = concat!(stringify!($first) $(, ", ", stringify!($field))*);

        fn $from_row(row: &sqlx::any::AnyRow) -> $crate::Result<$record> {
            let row: &dyn $crate::read::Row = row;
            Ok($record {
                $first: row.get(stringify!($first))?,
                $($field: row.get(stringify!($field))?,)*
            })
        }
    };
}
pub(crate) use columns_of;

/// A table whose rows read as one kind of record: its name, the columns a `SELECT` names, and
/// the reader of a row (a [`columns_of!`] pair, or a reader of its own).
pub(crate) struct Table<T> {
    name: &'static str,
    columns: &'static str,
    read: fn(&AnyRow) -> Result<T>,
}

impl<T> Table<T> {
    pub(crate) const fn new(
        name: &'static str,
        columns: &'static str,
        read: fn(&AnyRow) -> Result<T>,
    ) -> Table<T> {
        Table { name, columns, read }
    }

    /// The `SELECT` of the row of a workspace (`$1`) whose `key_column` is `$2`.
    pub(crate) fn by_workspace_key(&self, key_column: &str) -> String {
        format!(
            "SELECT {} FROM {} WHERE workspace_id = $1 AND {key_column} = $2",
            self.columns, self.name
        )
    }

    /// Reads one row.
    pub(crate) fn read(&self, row: &AnyRow) -> Result<T> {
        (self.read)(row)
    }
}

impl Store {
    /// The row of `table` whose `key_column` is `key` in a workspace, read whole; `None` when
    /// there is none.
    pub(crate) async fn workspace_row<T>(
        &self,
        table: &Table<T>,
        key_column: &str,
        workspace_id: WorkspaceId,
        key: &str,
    ) -> Result<Option<T>> {
        sqlx::query(sqlx::AssertSqlSafe(table.by_workspace_key(key_column)))
            .bind(workspace_id.get())
            .bind(key)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(table.read)
            .transpose()
    }

    /// The rows of `table` a `WHERE …` fragment (with any `ORDER BY`) picks, read whole.
    pub(crate) async fn rows_where<T>(&self, table: &Table<T>, filter: Sql) -> Result<Vec<T>> {
        let mut sql = Sql::new(&format!("SELECT {} FROM {} ", table.columns, table.name));
        sql.append(filter).query().fetch_all(&self.pool).await?.iter().map(table.read).collect()
    }
}

impl dyn Row + '_ {
    /// The value of `column`, as the type asked for.
    pub(crate) fn get<T: FromColumn>(&self, column: &str) -> Result<T> {
        T::from_column(self, column)
    }
}

/// Where a read's queries run: a transaction of the pool, or a [`Read`] session (inline on
/// SQLite). Code that only reads is written once against it.
pub(crate) trait Exec: Send {
    /// Runs `sql`, handing each row to `each`.
    fn each<'a>(
        &'a mut self,
        sql: &'a Sql,
        each: &'a mut (dyn FnMut(&dyn Row) -> Result<()> + Send),
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'a;
}

impl Exec for sqlx::Transaction<'_, sqlx::Any> {
    async fn each<'a>(
        &'a mut self,
        sql: &'a Sql,
        each: &'a mut (dyn FnMut(&dyn Row) -> Result<()> + Send),
    ) -> Result<()> {
        for row in sql.query().fetch_all(&mut **self).await? {
            each(&row)?;
        }
        Ok(())
    }
}

impl Exec for Read<'_> {
    async fn each<'a>(
        &'a mut self,
        sql: &'a Sql,
        each: &'a mut (dyn FnMut(&dyn Row) -> Result<()> + Send),
    ) -> Result<()> {
        self.select(sql, each).await
    }
}

/// Every row of `sql`, decoded.
pub(crate) async fn fetch_all<T: Send>(
    exec: &mut impl Exec,
    sql: &Sql,
    decode: impl Fn(&dyn Row) -> Result<T> + Send + Sync,
) -> Result<Vec<T>> {
    let mut all = Vec::new();
    exec.each(sql, &mut |row| {
        all.push(decode(row)?);
        Ok(())
    })
    .await?;
    Ok(all)
}

/// The first row of `sql`, decoded, if there is one.
pub(crate) async fn fetch_optional<T: Send>(
    exec: &mut impl Exec,
    sql: &Sql,
    decode: impl Fn(&dyn Row) -> Result<T> + Send + Sync,
) -> Result<Option<T>> {
    Ok(fetch_all(exec, sql, decode).await?.into_iter().next())
}

impl Row for AnyRow {
    fn int(&self, column: &str) -> Result<i64> {
        Ok(self.try_get(column)?)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        Ok(self.try_get(column)?)
    }
    fn text(&self, column: &str) -> Result<String> {
        Ok(self.try_get(column)?)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        Ok(self.try_get(column)?)
    }
}

/// A rusqlite row with its statement's column names, looked up by exact name (rusqlite's own
/// lookup asks SQLite for every name on every call).
struct SqliteRow<'a> {
    row: &'a rusqlite::Row<'a>,
    names: &'a [String],
}

impl SqliteRow<'_> {
    fn get<T: rusqlite::types::FromSql>(&self, column: &str) -> Result<T> {
        let index =
            self.names.iter().position(|name| name == column).ok_or_else(|| {
                sqlite_error(rusqlite::Error::InvalidColumnName(column.to_owned()))
            })?;
        self.row.get(index).map_err(sqlite_error)
    }
}

impl Row for SqliteRow<'_> {
    fn int(&self, column: &str) -> Result<i64> {
        self.get(column)
    }
    fn opt_int(&self, column: &str) -> Result<Option<i64>> {
        self.get(column)
    }
    fn text(&self, column: &str) -> Result<String> {
        self.get(column)
    }
    fn opt_text(&self, column: &str) -> Result<Option<String>> {
        self.get(column)
    }
}

impl Store {
    /// A read session: its queries see one snapshot of the database (on SQLite; on PostgreSQL
    /// each query runs on its own through the pool, as before).
    pub(crate) fn read(&self) -> Read<'_> {
        Read { store: self, checkout: None, in_transaction: false, recalled: false }
    }

    /// A read session whose [`Read::memo`] holds what earlier reads on its connection found,
    /// as far as the database still says the same (SQLite only: on PostgreSQL, where other
    /// nodes write, there is no memo).
    pub(crate) fn recall(&self) -> Result<Read<'_>> {
        let mut read = self.read();
        if let Some(pool) = &self.reader {
            let mut checkout = pool.checkout()?;
            checkout.reader().refresh()?;
            read.checkout = Some(checkout);
            read.recalled = true;
        }
        Ok(read)
    }
}

/// Queries that belong together, e.g. a page of principals and their attributes. On SQLite
/// they share one connection and one read transaction, which ends when the session is dropped.
pub(crate) struct Read<'a> {
    store: &'a Store,
    checkout: Option<Checkout<'a>>,
    in_transaction: bool,
    /// Whether the connection's memo was checked against the database when the session began.
    recalled: bool,
}

impl Read<'_> {
    pub(crate) async fn select(
        &mut self,
        sql: &Sql,
        mut each: impl FnMut(&dyn Row) -> Result<()>,
    ) -> Result<()> {
        let Some(pool) = &self.store.reader else {
            for row in sql.query().fetch_all(&self.store.pool).await? {
                each(&row)?;
            }
            return Ok(());
        };
        let checkout = match &mut self.checkout {
            Some(checkout) => checkout,
            None => self.checkout.insert(pool.checkout()?),
        };
        let reader = checkout.reader();
        if !self.in_transaction {
            // Deferred: the snapshot is taken by the first query.
            execute(&reader.conn, "BEGIN")?;
            self.in_transaction = true;
        }
        run(reader, sql, &mut each)
    }

    /// What earlier reads on this session's connection found (see [`Memo`]); `None` on
    /// PostgreSQL and in a session not started by [`Store::recall`].
    pub(crate) fn memo(&mut self) -> Option<&mut Memo> {
        if !self.recalled {
            return None;
        }
        Some(&mut self.checkout.as_mut()?.reader().memo)
    }
}

impl Drop for Read<'_> {
    fn drop(&mut self) {
        if let Some(mut checkout) = self.checkout.take()
            && self.in_transaction
            && execute(&checkout.reader().conn, "COMMIT").is_err()
        {
            // A connection that cannot end its transaction is not reused.
            checkout.discard();
        }
    }
}

/// What the hot reads found on one connection: authentications and principals, kept while the
/// database says the same. SQLite's data version changes with every commit by any other
/// connection, in this process or another (a `patchbay admin` command, say). Each session
/// that recalls first asks for it, one short read transaction, and forgets everything when it
/// moved; so a revoked token is refused on its very next use, as without the memo. What is
/// remembered was read after the version was asked: at worst newer than its version, which
/// only makes the next recall forget it.
#[derive(Debug, Default)]
pub(crate) struct Memo {
    /// The data version everything here was read at or after; `None` until first asked.
    version: Option<i64>,
    /// Live tokens' authentications, by token digest.
    pub(crate) callers: Remembered<String, RememberedCaller>,
    /// Users and service principals (not groups: their member lists can be long), by
    /// workspace and id.
    pub(crate) principals: Remembered<(WorkspaceId, PrincipalId), Arc<PrincipalRecord>>,
}

/// A bounded map: when full, it starts over (what is used often comes back at once). Hashed
/// with foldhash (seeded per process) rather than SipHash: a key is often a statement's whole
/// text, hashed on every read.
#[derive(Debug)]
pub(crate) struct Remembered<K, V> {
    entries: HashMap<K, V, foldhash::fast::RandomState>,
}

/// Entries per map and connection.
const REMEMBERED: usize = 1024;

impl<K, V> Default for Remembered<K, V> {
    fn default() -> Self {
        Remembered { entries: HashMap::default() }
    }
}

impl<K: Eq + Hash, V> Remembered<K, V> {
    pub(crate) fn get<Q: Eq + Hash + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
    {
        self.entries.get(key)
    }

    pub(crate) fn insert(&mut self, key: K, value: V) {
        if self.entries.len() >= REMEMBERED {
            self.entries.clear();
        }
        self.entries.insert(key, value);
    }

    fn clear(&mut self) {
        self.entries.clear();
    }
}

/// A read-only connection and what was read on it.
#[derive(Debug)]
struct Reader {
    conn: rusqlite::Connection,
    memo: Memo,
    /// The column names of each statement run, by its SQL (SQLite hands them out one C string
    /// at a time).
    columns: Remembered<String, Arc<[String]>>,
}

impl Reader {
    /// Forgets what the database may no longer say.
    fn refresh(&mut self) -> Result<()> {
        let version = self
            .conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
            .map_err(sqlite_error)?;
        if self.memo.version != Some(version) {
            self.memo.callers.clear();
            self.memo.principals.clear();
            self.memo.version = Some(version);
        }
        Ok(())
    }
}

/// Read-only connections to one SQLite file, opened on demand and kept for reuse.
#[derive(Debug)]
pub(crate) struct SqliteReader {
    path: PathBuf,
    idle: Mutex<Vec<Reader>>,
}

/// Connections kept open between reads; more may be open at a moment of high concurrency.
const MAX_IDLE: usize = 8;

impl SqliteReader {
    /// A reader for the file behind a `sqlite:` URL, or `None` when the database is not a file
    /// other connections can open (in memory).
    pub(crate) fn for_url(url: &str) -> Option<SqliteReader> {
        let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let in_memory =
            path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory");
        (!in_memory)
            .then(|| SqliteReader { path: PathBuf::from(path), idle: Mutex::new(Vec::new()) })
    }

    fn checkout(&self) -> Result<Checkout<'_>> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let reader = match idle {
            Some(reader) => reader,
            None => Reader {
                conn: open(&self.path).map_err(sqlite_error)?,
                memo: Memo::default(),
                columns: Remembered::default(),
            },
        };
        Ok(Checkout { pool: self, reader: Some(reader) })
    }
}

/// A connection taken from the idle list; it goes back when dropped.
struct Checkout<'a> {
    pool: &'a SqliteReader,
    reader: Option<Reader>,
}

impl Checkout<'_> {
    fn reader(&mut self) -> &mut Reader {
        self.reader.as_mut().expect("a checkout holds its reader until dropped")
    }

    /// Closes the connection instead of giving it back.
    fn discard(&mut self) {
        self.reader = None;
    }
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        if let Some(reader) = self.reader.take() {
            let mut idle = self.pool.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push(reader);
            }
        }
    }
}

/// Runs a statement without rows (`BEGIN`, `COMMIT`), prepared once per connection.
fn execute(conn: &rusqlite::Connection, statement: &str) -> Result<()> {
    conn.prepare_cached(statement)
        .and_then(|mut stmt| stmt.execute([]))
        .map(drop)
        .map_err(sqlite_error)
}

fn open(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    use rusqlite::OpenFlags;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // One plan per statement: otherwise SQLite re-plans a cached statement whenever a bound
    // value might change the plan (an application id in a filter), which cost more than the
    // lookup itself.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    // LIKE is case-sensitive on the write pool too (and in PostgreSQL). The file is read through
    // a memory map: each connection's own page cache (2 MiB) holds a fraction of a large
    // workspace, and every page it misses was a `pread`; mapped pages are shared by all
    // connections and cost no system call (WAL frames are still read, as they must be).
    conn.execute_batch("PRAGMA case_sensitive_like = ON; PRAGMA mmap_size = 1073741824;")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn run(
    reader: &mut Reader,
    sql: &Sql,
    each: &mut impl FnMut(&dyn Row) -> Result<()>,
) -> Result<()> {
    let mut stmt = reader.conn.prepare_cached(sql.as_str()).map_err(sqlite_error)?;
    let binds = sql.binds();
    if stmt.parameter_count() != binds.len() {
        return Err(StoreError::Internal(format!(
            "query expects {} parameters, {} given",
            stmt.parameter_count(),
            binds.len()
        )));
    }
    // SQLite numbers parameters by first appearance; bind each by its `$N` name.
    for index in 1..=binds.len() {
        let n: usize = stmt
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|n| n.parse().ok())
            .filter(|n| (1..=binds.len()).contains(n))
            .ok_or_else(|| StoreError::Internal(format!("parameter {index} is not $N")))?;
        let bound = match &binds[n - 1] {
            Bind::Int(v) => stmt.raw_bind_parameter(index, v),
            Bind::Text(v) => stmt.raw_bind_parameter(index, v.as_str()),
            Bind::NullText | Bind::NullInt => stmt.raw_bind_parameter(index, rusqlite::types::Null),
        };
        bound.map_err(sqlite_error)?;
    }
    let names = match reader.columns.get(sql.as_str()) {
        Some(names) => Arc::clone(names),
        None => {
            let names: Arc<[String]> = stmt.column_names().into_iter().map(str::to_owned).collect();
            reader.columns.insert(sql.as_str().to_owned(), Arc::clone(&names));
            names
        }
    };
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next().map_err(sqlite_error)? {
        each(&SqliteRow { row, names: &names })?;
    }
    Ok(())
}

/// A failure of the read path, classified as the pool's failures are: the database being busy,
/// unreadable or gone means "try again later"; anything else is a bug.
fn sqlite_error(err: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode;
    let unavailable = matches!(
        err.sqlite_error_code(),
        Some(
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::DiskFull
        )
    );
    if unavailable { StoreError::Unavailable(Box::new(err)) } else { StoreError::Read(err) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_get_a_reader() {
        let reader = SqliteReader::for_url("sqlite:///data/patchbay.db?mode=rwc").unwrap();
        assert_eq!(reader.path, Path::new("/data/patchbay.db"));
        assert!(SqliteReader::for_url("sqlite://rel.db").is_some());
        assert!(SqliteReader::for_url("sqlite::memory:").is_none());
        assert!(SqliteReader::for_url("sqlite://x.db?mode=memory&cache=shared").is_none());
        assert!(SqliteReader::for_url("postgres://h/db").is_none());
    }
}
