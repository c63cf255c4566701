//! The one error type of the API. It renders as the Databricks envelope
//! `{"error_code","message"}`, or as the SCIM envelope on SCIM paths, and never leaks internal
//! text: unexpected failures are logged once and answered with an opaque 500.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use patchbay_store::StoreError;
use serde_json::json;

/// Which envelope an error is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    Databricks,
    Scim,
}

impl Envelope {
    /// The envelope of the request's endpoint. Inside a nested router the URI has lost its
    /// prefix, so the original URI decides when there is one.
    pub fn for_request(uri: &axum::http::Uri, extensions: &axum::http::Extensions) -> Envelope {
        let path = extensions
            .get::<axum::extract::OriginalUri>()
            .map_or(uri.path(), |original| original.0.path());
        Envelope::for_path(path)
    }

    /// SCIM paths answer in the SCIM envelope, everything else in the Databricks one.
    pub fn for_path(path: &str) -> Envelope {
        if path.starts_with(crate::scim::PREFIX) {
            Envelope::Scim
        } else {
            Envelope::Databricks
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// RFC 7644 `scimType`, where one applies.
    pub scim_type: Option<&'static str>,
    pub envelope: Envelope,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            scim_type: None,
            envelope: Envelope::Databricks,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
    }

    pub fn malformed(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "RESOURCE_ALREADY_EXISTS", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "PERMISSION_DENIED", message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message)
    }

    pub fn not_implemented(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_IMPLEMENTED, "NOT_IMPLEMENTED", message)
    }

    pub fn payload_too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RESOURCE_EXHAUSTED",
            format!("The request body is larger than {} KiB.", limit / 1024),
        )
    }

    /// The database is unreachable or busy: worth retrying later.
    pub fn unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "TEMPORARILY_UNAVAILABLE",
            "The service is temporarily unavailable.",
        )
    }

    /// Anything unexpected: logged here with its detail, answered without it.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %detail, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "Internal error.",
        )
    }

    pub fn scim_type(mut self, scim_type: &'static str) -> ApiError {
        self.scim_type = Some(scim_type);
        self
    }

    pub fn in_envelope(mut self, envelope: Envelope) -> ApiError {
        self.envelope = envelope;
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::Conflict(m) | StoreError::Connected(m) => ApiError::conflict(m),
            StoreError::Changed(m) => ApiError::new(StatusCode::CONFLICT, "ABORTED", m),
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Forbidden(m) => ApiError::forbidden(m),
            StoreError::Invalid(m) => ApiError::bad_request(m).scim_type("invalidValue"),
            StoreError::InvalidFilter(m) => ApiError::bad_request(m).scim_type("invalidFilter"),
            StoreError::Database(e) if is_unavailable(&e) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::unavailable()
            }
            other => ApiError::internal(other),
        }
    }
}

/// Whether a database failure means "try again later" rather than a bug: the database is
/// unreachable, restarting, busy, out of space or read-only. Such a statement wrote nothing
/// (its transaction is rolled back), so the client may safely repeat the request.
fn is_unavailable(err: &sqlx::Error) -> bool {
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
            } else if db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
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

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = match self.envelope {
            Envelope::Databricks => (
                self.status,
                axum::Json(json!({"error_code": self.code, "message": self.message})),
            )
                .into_response(),
            Envelope::Scim => {
                let mut body = json!({
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                    "detail": self.message,
                    "status": self.status.as_u16().to_string(),
                });
                if let Some(t) = self.scim_type {
                    body["scimType"] = json!(t);
                }
                let mut r = (self.status, axum::Json(body)).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/scim+json"),
                );
                r
            }
        };
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// 404 with a specific code, as Unity Catalog answers (`CATALOG_DOES_NOT_EXIST`,
    /// `SCHEMA_DOES_NOT_EXIST`, `TABLE_DOES_NOT_EXIST`, `PRINCIPAL_DOES_NOT_EXIST`, …).
    pub fn does_not_exist(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 409 with a specific code (`CATALOG_ALREADY_EXISTS`, `SCHEMA_ALREADY_EXISTS`, …).
    pub fn already_exists(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }
}
