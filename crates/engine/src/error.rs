//! What can go wrong with a statement, in terms the server maps to Databricks' SQL errors.

use deltalake::DeltaTableError;
use deltalake::datafusion::error::DataFusionError;

/// Why a statement did not run, or stopped.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The text is not SQL the parser understands.
    #[error("{0}")]
    Syntax(String),
    /// Valid SQL that patchbay does not run; names the construct.
    #[error("{0} is not supported")]
    Unsupported(String),
    /// A statement that would read or write a location of its own choosing.
    #[error("{0} is not allowed: statements may not name files or locations")]
    LocationRefused(&'static str),
    /// A name that the caller did not bind (it does not exist, or the caller may not see it).
    #[error("table or view {0} cannot be found")]
    TableNotFound(String),
    /// Planning failed on a bound statement: unknown column, type mismatch, …
    #[error("{0}")]
    Analysis(String),
    /// The query needed more memory than its limit.
    #[error("the query exceeded its memory limit: {0}")]
    MemoryExceeded(String),
    /// The result is bigger than a limit on what is kept for one statement: what it exceeded
    /// (`1000000 rows`, `1024 MiB`).
    #[error("the result exceeded {0}")]
    ResultTooLarge(String),
    /// Stopped by its caller or its time limit.
    #[error("the statement was cancelled")]
    Cancelled,
    /// Reading or writing a table's files failed.
    #[error("table storage: {0}")]
    Storage(String),
    /// Other writers committed to the table first, more often than a commit re-tries: the
    /// statement changed nothing and may run again.
    #[error("concurrent writes: {0}")]
    Conflict(String),
}

/// Whether a Delta error is a commit that lost to other writers.
fn lost_commit(err: &DeltaTableError) -> bool {
    use deltalake::kernel::transaction::TransactionError;
    matches!(
        err,
        DeltaTableError::Transaction {
            source: TransactionError::MaxCommitAttempts(_)
                | TransactionError::CommitConflict(_)
                | TransactionError::VersionAlreadyExists(_)
        } | DeltaTableError::VersionAlreadyExists(_)
    )
}

impl From<DataFusionError> for EngineError {
    fn from(err: DataFusionError) -> Self {
        match err.find_root() {
            DataFusionError::ResourcesExhausted(msg) => EngineError::MemoryExceeded(msg.clone()),
            DataFusionError::SQL(e, _) => EngineError::Syntax(e.to_string()),
            DataFusionError::NotImplemented(msg) => EngineError::Unsupported(msg.clone()),
            DataFusionError::ObjectStore(e) => EngineError::Storage(e.to_string()),
            DataFusionError::External(e)
                if e.downcast_ref::<DeltaTableError>().is_some_and(lost_commit) =>
            {
                EngineError::Conflict(e.to_string())
            }
            other => EngineError::Analysis(other.to_string()),
        }
    }
}

impl From<DeltaTableError> for EngineError {
    fn from(err: DeltaTableError) -> Self {
        match err {
            DeltaTableError::Arrow { source } => EngineError::Analysis(source.to_string()),
            other if lost_commit(&other) => EngineError::Conflict(other.to_string()),
            other => {
                let text = other.to_string();
                match statement_mistake(&text) {
                    Some(mistake) => EngineError::Analysis(mistake.to_owned()),
                    None => EngineError::Storage(text),
                }
            }
        }
    }
}

/// The statement's own mistake in a Delta operation's error, if that is what it is: an
/// `UPDATE`'s, a `DELETE`'s or a `MERGE`'s expressions are planned and run by DataFusion inside
/// delta-rs, which keeps only the text of DataFusion's errors, so they are known by the words
/// DataFusion starts them with (an unknown column, a function that does not exist, a division
/// by zero). The text from those words on.
fn statement_mistake(text: &str) -> Option<&str> {
    const MISTAKES: [&str; 6] = [
        "Error during planning",
        "Schema error",
        "SQL error",
        "sql parser error",
        "Execution error",
        "Arrow error",
    ];
    let start = MISTAKES.iter().filter_map(|m| text.find(m)).min()?;
    Some(&text[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delta_operations_planning_error_is_the_statements_and_a_storage_error_is_not() {
        let planning = DeltaTableError::Generic(
            "External error: Generic DeltaTable error: Error during planning: Invalid function 'nope'"
                .into(),
        );
        match EngineError::from(planning) {
            EngineError::Analysis(m) => {
                assert_eq!(m, "Error during planning: Invalid function 'nope'")
            }
            other => panic!("{other:?}"),
        }
        let storage = DeltaTableError::Generic("Object at location x not found".into());
        assert!(matches!(EngineError::from(storage), EngineError::Storage(_)));
    }
}
