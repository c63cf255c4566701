//! Why a statement failed, as Databricks SQL reports it: the API's error code, the error class,
//! the SQLSTATE. The wording of catalog errors is the server's (`patchbay_server::error`), so a
//! statement and the catalog API say the same thing about the same refusal.

use patchbay_engine::EngineError;
use patchbay_server::error::ApiError;
use patchbay_server::statements::engine::{FailureCode, SqlFailure};
use patchbay_store::{CatalogError, CatalogErrorKind, StoreError};

pub fn denied(message: impl Into<String>) -> SqlFailure {
    SqlFailure::new(FailureCode::PermissionDenied, "INSUFFICIENT_PERMISSIONS", message)
        .with_sql_state("42501")
}

pub fn not_supported(what: impl std::fmt::Display) -> SqlFailure {
    SqlFailure::new(
        FailureCode::NotImplemented,
        "UNSUPPORTED_FEATURE",
        format!("{what} is not supported."),
    )
    .with_sql_state("0A000")
}

pub fn syntax(message: impl Into<String>) -> SqlFailure {
    SqlFailure::new(FailureCode::BadRequest, "PARSE_SYNTAX_ERROR", message).with_sql_state("42601")
}

pub fn invalid_name(name: &str) -> SqlFailure {
    SqlFailure::new(
        FailureCode::BadRequest,
        "INVALID_IDENTIFIER",
        format!("'{name}' is not a valid name here."),
    )
    .with_sql_state("42602")
}

pub fn table_not_found(name: impl std::fmt::Display) -> SqlFailure {
    SqlFailure::new(
        FailureCode::NotFound,
        "TABLE_OR_VIEW_NOT_FOUND",
        format!("The table or view {name} cannot be found."),
    )
    .with_sql_state("42P01")
}

pub fn store(e: &StoreError) -> SqlFailure {
    tracing::warn!(error = %e, "statement: the store failed");
    SqlFailure::new(
        FailureCode::Unavailable,
        "TEMPORARILY_UNAVAILABLE",
        "The workspace's database is unavailable; try again.",
    )
}

/// A catalog refusal or failure.
pub fn catalog(e: CatalogError) -> SqlFailure {
    let (class, sql_state) = match &e {
        CatalogError::Store(s) => return store(s),
        CatalogError::CatalogNotFound { .. } => ("NO_SUCH_CATALOG_EXCEPTION", "42704"),
        CatalogError::SchemaNotFound { .. } => ("SCHEMA_NOT_FOUND", "42704"),
        CatalogError::TableNotFound { .. } => ("TABLE_OR_VIEW_NOT_FOUND", "42P01"),
        CatalogError::TableExists { .. } => ("TABLE_OR_VIEW_ALREADY_EXISTS", "42P07"),
        CatalogError::SchemaExists { .. } => ("SCHEMA_ALREADY_EXISTS", "42P06"),
        CatalogError::SchemaNotEmpty { .. } => ("SCHEMA_NOT_EMPTY", "2BP01"),
        CatalogError::ColumnNotFound { .. } => ("UNRESOLVED_COLUMN", "42703"),
        CatalogError::ColumnExists { .. } => ("FIELDS_ALREADY_EXISTS", "42710"),
        CatalogError::PropertyNotSet { .. } => ("UNSET_NONEXISTENT_PROPERTIES", "42K0J"),
        _ => ("", ""),
    };
    let kind = e.kind();
    let api = ApiError::from(e);
    let class = if class.is_empty() { api.code } else { class };
    let sql_state = (!sql_state.is_empty()).then_some(sql_state);
    let failure = match kind {
        Some(CatalogErrorKind::NotFound) => {
            SqlFailure::new(FailureCode::NotFound, class, api.message)
        }
        Some(CatalogErrorKind::AlreadyExists) => {
            SqlFailure::new(FailureCode::AlreadyExists, class, api.message)
        }
        Some(CatalogErrorKind::Denied) => return denied(api.message),
        Some(CatalogErrorKind::Invalid) | None => {
            SqlFailure::new(FailureCode::BadRequest, class, api.message)
        }
    };
    match sql_state {
        Some(state) => failure.with_sql_state(state),
        None => failure,
    }
}

/// An engine failure.
pub fn engine(e: EngineError) -> SqlFailure {
    match e {
        EngineError::Syntax(m) => syntax(m),
        EngineError::Unsupported(what) => not_supported(what),
        EngineError::LocationRefused(_) => denied(e.to_string()),
        EngineError::TableNotFound(name) => table_not_found(name),
        EngineError::Analysis(m) => {
            // DataFusion says which name it could not resolve in words only.
            let (class, state) = if m.contains("Invalid function")
                || (m.contains("table function") && m.contains("not found"))
            {
                ("UNRESOLVED_ROUTINE", "42883")
            } else if m.contains("No field named") || m.contains("not found") {
                ("UNRESOLVED_COLUMN", "42703")
            } else {
                ("INVALID_STATEMENT", "42000")
            };
            SqlFailure::new(FailureCode::BadRequest, class, m).with_sql_state(state)
        }
        EngineError::MemoryExceeded(_) => SqlFailure::new(
            FailureCode::ResourceExhausted,
            "QUERY_MEMORY_LIMIT_EXCEEDED",
            e.to_string(),
        )
        .with_sql_state("53200"),
        EngineError::ResultTooLarge(_) => SqlFailure::new(
            FailureCode::ResourceExhausted,
            "QUERY_RESULT_TOO_LARGE",
            format!("{e}: add a LIMIT or aggregate."),
        )
        .with_sql_state("54000"),
        EngineError::Cancelled => {
            SqlFailure::new(FailureCode::Cancelled, "OPERATION_CANCELED", e.to_string())
        }
        EngineError::Conflict(detail) => {
            tracing::warn!(%detail, "statement: its commit lost to other writers");
            SqlFailure::new(
                FailureCode::Unavailable,
                "DELTA_CONCURRENT_WRITE",
                "Other writers committed to the table at the same time, too often: the \
                 statement changed nothing; run it again.",
            )
            .with_sql_state("2D521")
        }
        EngineError::Storage(detail) => {
            // Storage messages name paths under the data directory: logged, not returned.
            tracing::error!(%detail, "statement: table storage failed");
            SqlFailure::new(
                FailureCode::Internal,
                "INTERNAL_ERROR",
                "Reading or writing the table's data failed.",
            )
        }
    }
}
