//! The seam between the Statement Execution API and what runs SQL.
//!
//! The API (waiting, polling, cancelling, chunks, formats, links, sessions) lives in this
//! crate; running a statement — parsing it, checking the caller's privileges on every object it
//! touches, executing it — is a [`SqlEngine`], which `patchbay serve` takes from the
//! `patchbay-sql` crate. The query engine stays out of this crate's build, and its tests.

use patchbay_core::access::Caller;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;

/// Runs statements for callers.
pub trait SqlEngine: Send + Sync + 'static {
    /// Runs one statement. Dropping the future cancels it: the work stops.
    fn execute(
        &self,
        execution: Execution,
    ) -> Pin<Box<dyn Future<Output = Result<Executed, SqlFailure>> + Send + '_>>;

    /// Removes the data of tables whose catalog entries are gone (deleted through the catalog
    /// API, with their schema or catalog). Removing data that is not there is not an error.
    fn forget_tables(&self, ids: Vec<String>) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;

    /// Where the managed table with this id is stored, as a Delta reader opens it.
    fn table_location(&self, table_id: &str) -> Option<String>;
}

/// After the catalog API deleted tables (a table, or a schema or catalog with them): their
/// data goes too, when this server runs SQL.
pub async fn forget_tables(state: &crate::AppState, ids: Vec<String>) {
    if let Some(engine) = state.sql_engine()
        && !ids.is_empty()
    {
        engine.forget_tables(ids).await;
    }
}

/// One statement to run, as the caller sent it.
#[derive(Debug, Clone)]
pub struct Execution {
    pub caller: Caller,
    pub warehouse_id: String,
    pub statement: String,
    /// Named parameters (`:name` in the statement).
    pub parameters: Vec<Parameter>,
    /// The session's current catalog and schema, for names written without them.
    pub catalog: String,
    pub schema: String,
}

/// A named parameter: its value as text (or NULL) and its SQL type (`STRING` when not given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    pub value: Option<String>,
    pub type_name: String,
}

/// What a statement produced.
pub struct Executed {
    pub rows: Box<dyn ResultRows>,
    /// `USE CATALOG|SCHEMA` changes the session's current catalog or schema.
    pub use_catalog: Option<String>,
    pub use_schema: Option<String>,
}

/// A statement's result, held until it expires, rendered a chunk at a time in the format the
/// caller asked for.
pub trait ResultRows: Send + Sync {
    fn columns(&self) -> &[ResultColumn];
    fn row_count(&self) -> usize;
    /// About how many bytes the rows would take as JSON (to cut them into chunks).
    fn approximate_bytes(&self) -> usize;
    /// Rows as `JSON_ARRAY` presents them: every value as text, or null.
    fn json(&self, rows: Range<usize>) -> Vec<Vec<Option<String>>>;
    /// Rows as an Arrow IPC stream (`ARROW_STREAM`), LZ4-framed when `lz4` is set.
    fn arrow_stream(&self, rows: Range<usize>, lz4: bool) -> Vec<u8>;
    /// Rows as CSV with a header line, LZ4-framed when `lz4` is set.
    fn csv(&self, rows: Range<usize>, lz4: bool) -> Vec<u8>;
}

/// A result column as the manifest's schema lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultColumn {
    pub name: String,
    /// `INT`, `STRING`, `DECIMAL`, …
    pub type_name: String,
    /// `int`, `decimal(10,2)`, …
    pub type_text: String,
}

/// A statement that failed, as Databricks reports it: the API's error code, the error class and
/// SQLSTATE where one applies, and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlFailure {
    pub code: FailureCode,
    /// `TABLE_OR_VIEW_NOT_FOUND`, `INSUFFICIENT_PERMISSIONS`, …
    pub class: &'static str,
    pub sql_state: Option<&'static str>,
    pub message: String,
}

/// The API's `error_code` of a failed statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCode {
    BadRequest,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    NotImplemented,
    ResourceExhausted,
    Cancelled,
    Unavailable,
    Internal,
}

impl FailureCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::BadRequest => "BAD_REQUEST",
            FailureCode::NotFound => "NOT_FOUND",
            FailureCode::AlreadyExists => "ALREADY_EXISTS",
            FailureCode::PermissionDenied => "PERMISSION_DENIED",
            FailureCode::NotImplemented => "NOT_IMPLEMENTED",
            FailureCode::ResourceExhausted => "RESOURCE_EXHAUSTED",
            FailureCode::Cancelled => "CANCELLED",
            FailureCode::Unavailable => "TEMPORARILY_UNAVAILABLE",
            FailureCode::Internal => "INTERNAL_ERROR",
        }
    }
}

impl SqlFailure {
    pub fn new(code: FailureCode, class: &'static str, message: impl Into<String>) -> SqlFailure {
        SqlFailure { code, class, sql_state: None, message: message.into() }
    }

    pub fn with_sql_state(mut self, sql_state: &'static str) -> SqlFailure {
        self.sql_state = Some(sql_state);
        self
    }

    /// The message as Databricks SQL writes it: `[CLASS] message SQLSTATE: xxxxx`.
    pub fn display_message(&self) -> String {
        match self.sql_state {
            Some(state) => format!("[{}] {} SQLSTATE: {state}", self.class, self.message),
            None => format!("[{}] {}", self.class, self.message),
        }
    }
}
