//! The Statement Execution API (`/api/2.0/sql/statements`) for the statements that manage
//! catalog metadata and privileges: `GRANT`, `REVOKE`, `SHOW GRANTS`, `CREATE SCHEMA`,
//! `CREATE TABLE`, `DROP SCHEMA`, `DROP TABLE`. They act on the same store as the Unity
//! Catalog API, so a SQL grant shows in the grants endpoint and the reverse. patchbay runs no
//! queries: any other statement fails with `NOT_IMPLEMENTED`, never with a made-up result.
//! Results are returned inline; nothing is kept to fetch later.

use crate::AppState;
use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use patchbay_core::access::Caller;
use patchbay_core::catalog::{self as rules, DEFAULT_SCHEMA, HIVE_METASTORE, Securable};
use patchbay_core::sql_statement::{self, ObjectName, ParseError, Statement};
use patchbay_store::{
    CatalogError, CatalogErrorKind, ColumnRecord, GrantChange, NewSchema, NewTable, ObjectRef,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// The object type of SQL warehouses' ACLs: running a statement needs a permission there.
const WAREHOUSES: &str = "warehouses";

/// The routes of the Statement Execution API.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.0/sql/statements", post(execute))
        .route("/api/2.0/sql/statements/", post(execute))
        .route("/api/2.0/sql/statements/{statement_id}", get(get_statement))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecuteRequest {
    warehouse_id: Option<String>,
    statement: Option<String>,
    wait_timeout: Option<String>,
    catalog: Option<String>,
    schema: Option<String>,
    disposition: Option<String>,
    format: Option<String>,
    on_wait_timeout: Option<String>,
    row_limit: Option<i64>,
    byte_limit: Option<i64>,
    parameters: Option<Vec<Value>>,
    /// Attribution tags: accepted, and of no use without query history.
    #[serde(default, rename = "query_tags")]
    _query_tags: Option<Vec<Value>>,
}

/// What a statement produced: rows, or a SQL error as the API reports it (HTTP 200, state
/// `FAILED`).
enum Outcome {
    Rows {
        columns: &'static [&'static str],
        rows: Vec<Vec<String>>,
    },
    Failed {
        error_code: &'static str,
        message: String,
    },
}

impl Outcome {
    fn done() -> Outcome {
        Outcome::Rows {
            columns: &[],
            rows: Vec::new(),
        }
    }

    fn failed(error_code: &'static str, class: &str, message: impl std::fmt::Display) -> Outcome {
        Outcome::Failed {
            error_code,
            message: format!("[{class}] {message}"),
        }
    }
}

/// `wait_timeout`: `0s`, or 5 to 50 seconds, as the API accepts.
fn check_wait_timeout(raw: Option<&str>) -> ApiResult<()> {
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    let seconds = raw
        .strip_suffix('s')
        .and_then(|n| n.parse::<u32>().ok())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "wait_timeout must look like '10s' (0s, or 5s to 50s), not '{raw}'"
            ))
        })?;
    if seconds == 0 || (5..=50).contains(&seconds) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "wait_timeout must be 0s or between 5s and 50s, not '{raw}'"
        )))
    }
}

fn check_request(req: &ExecuteRequest) -> ApiResult<()> {
    check_wait_timeout(req.wait_timeout.as_deref())?;
    if let Some(d) = req.disposition.as_deref()
        && !d.eq_ignore_ascii_case("INLINE")
    {
        return Err(ApiError::bad_request(format!(
            "disposition {d} is not supported: results are returned INLINE."
        )));
    }
    if let Some(f) = req.format.as_deref()
        && !f.eq_ignore_ascii_case("JSON_ARRAY")
    {
        return Err(ApiError::bad_request(format!(
            "format {f} is not supported: results are returned as JSON_ARRAY."
        )));
    }
    if let Some(o) = req.on_wait_timeout.as_deref()
        && !matches!(o.to_ascii_uppercase().as_str(), "CONTINUE" | "CANCEL")
    {
        return Err(ApiError::bad_request(format!(
            "on_wait_timeout must be CONTINUE or CANCEL, not '{o}'"
        )));
    }
    if req.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
        return Err(ApiError::bad_request(
            "Statement parameters are not supported: write the names into the statement.",
        ));
    }
    if req.row_limit.is_some_and(|l| l < 0) || req.byte_limit.is_some_and(|l| l < 0) {
        return Err(ApiError::bad_request(
            "row_limit and byte_limit must not be negative.",
        ));
    }
    Ok(())
}

async fn execute(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(req): JsonBody<ExecuteRequest>,
) -> ApiResult<Json<Value>> {
    let warehouse_id = req
        .warehouse_id
        .as_deref()
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .ok_or_else(|| ApiError::bad_request("warehouse_id is required"))?
        .to_owned();
    let statement = req
        .statement
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("statement is required"))?;
    check_request(&req)?;
    if !caller.is_admin
        && !state
            .store
            .has_permission(
                caller.workspace_id,
                caller.principal_id,
                ObjectRef {
                    object_type: WAREHOUSES,
                    object_id: &warehouse_id,
                },
            )
            .await?
    {
        return Err(ApiError::forbidden(format!(
            "Warehouse {warehouse_id} does not exist or you do not have permission to use it \
             (CAN_USE)."
        )));
    }
    let current_catalog = match req.catalog.as_deref().filter(|c| !c.trim().is_empty()) {
        Some(c) => c.to_owned(),
        None => state
            .store
            .metastore_assignment(caller.workspace_id)
            .await?
            .map_or_else(|| HIVE_METASTORE.to_owned(), |a| a.default_catalog_name),
    };
    let current_schema = req
        .schema
        .clone()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_SCHEMA.to_owned());
    let outcome = match sql_statement::parse(&statement) {
        Ok(parsed) => run(&state, &caller, parsed, &current_catalog, &current_schema).await?,
        Err(ParseError::Unsupported(m)) => Outcome::failed("NOT_IMPLEMENTED", "NOT_IMPLEMENTED", m),
        Err(ParseError::Syntax(m)) => Outcome::failed("BAD_REQUEST", "PARSE_SYNTAX_ERROR", m),
    };
    let statement_id = sql_statement::new_statement_id();
    tracing::info!(%statement_id, %warehouse_id, succeeded = matches!(outcome, Outcome::Rows { .. }), "statement executed");
    Ok(Json(response(&statement_id, outcome, req.row_limit)))
}

fn response(statement_id: &str, outcome: Outcome, row_limit: Option<i64>) -> Value {
    match outcome {
        Outcome::Failed {
            error_code,
            message,
        } => json!({
            "statement_id": statement_id,
            "status": {"state": "FAILED", "error": {"error_code": error_code, "message": message}},
        }),
        Outcome::Rows { columns, mut rows } => {
            let limit = row_limit
                .filter(|l| *l > 0)
                .and_then(|l| usize::try_from(l).ok());
            let truncated = limit.is_some_and(|l| rows.len() > l);
            if let Some(l) = limit {
                rows.truncate(l);
            }
            let columns: Vec<Value> = columns
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    json!({"name": name, "type_name": "STRING", "type_text": "STRING", "position": i})
                })
                .collect();
            json!({
                "statement_id": statement_id,
                "status": {"state": "SUCCEEDED"},
                "manifest": {
                    "format": "JSON_ARRAY",
                    "schema": {"column_count": columns.len(), "columns": columns},
                    "total_chunk_count": 1,
                    "chunks": [{"chunk_index": 0, "row_offset": 0, "row_count": rows.len()}],
                    "total_row_count": rows.len(),
                    "truncated": truncated,
                },
                "result": {
                    "chunk_index": 0,
                    "row_offset": 0,
                    "row_count": rows.len(),
                    "data_array": rows,
                },
            })
        }
    }
}

/// A catalog error as a failed statement, in Databricks SQL's wording (the message is the
/// API's, `error.rs`); store failures stay HTTP errors.
fn sql_error(e: CatalogError) -> ApiResult<Outcome> {
    let class = match &e {
        CatalogError::Store(_) => return Err(ApiError::from(e)),
        CatalogError::CatalogNotFound { .. } => Some("NO_SUCH_CATALOG_EXCEPTION"),
        CatalogError::SchemaNotFound { .. } => Some("SCHEMA_NOT_FOUND"),
        CatalogError::TableNotFound { .. } => Some("TABLE_OR_VIEW_NOT_FOUND"),
        CatalogError::TableExists { .. } => Some("TABLE_OR_VIEW_ALREADY_EXISTS"),
        _ => None,
    };
    let kind = e.kind();
    let api = ApiError::from(e);
    let (error_code, class) = match kind {
        Some(CatalogErrorKind::NotFound) => ("NOT_FOUND", class.unwrap_or(api.code)),
        Some(CatalogErrorKind::AlreadyExists) => ("ALREADY_EXISTS", class.unwrap_or(api.code)),
        Some(CatalogErrorKind::Denied) => ("BAD_REQUEST", "INSUFFICIENT_PERMISSIONS"),
        Some(CatalogErrorKind::Invalid) | None => ("BAD_REQUEST", api.code),
    };
    Ok(Outcome::failed(error_code, class, api.message))
}

async fn run(
    state: &AppState,
    caller: &Caller,
    statement: Statement,
    current_catalog: &str,
    current_schema: &str,
) -> ApiResult<Outcome> {
    let resolve = |name: &ObjectName| sql_statement::resolve(name, current_catalog, current_schema);
    let store = &state.store;
    let result = match statement {
        Statement::Grant {
            privileges,
            object,
            principal,
        } => {
            let securable = match resolve(&object) {
                Ok(s) => s,
                Err(m) => return Ok(Outcome::failed("BAD_REQUEST", "INVALID_IDENTIFIER", m)),
            };
            store
                .update_grants(
                    caller,
                    &securable,
                    &[GrantChange {
                        principal,
                        add: privileges,
                        remove: Vec::new(),
                    }],
                )
                .await
                .map(|_| Outcome::done())
        }
        Statement::Revoke {
            privileges,
            object,
            principal,
        } => {
            let securable = match resolve(&object) {
                Ok(s) => s,
                Err(m) => return Ok(Outcome::failed("BAD_REQUEST", "INVALID_IDENTIFIER", m)),
            };
            store
                .update_grants(
                    caller,
                    &securable,
                    &[GrantChange {
                        principal,
                        add: Vec::new(),
                        remove: privileges,
                    }],
                )
                .await
                .map(|_| Outcome::done())
        }
        Statement::ShowGrants { principal, object } => {
            let securable = match resolve(&object) {
                Ok(s) => s,
                Err(m) => return Ok(Outcome::failed("BAD_REQUEST", "INVALID_IDENTIFIER", m)),
            };
            store
                .show_grants(caller, &securable, principal.as_deref())
                .await
                .map(|rows| Outcome::Rows {
                    columns: &["principal", "action_type", "object_type", "object_key"],
                    rows: rows
                        .into_iter()
                        .map(|r| {
                            let legacy = r.on.is_legacy();
                            vec![
                                r.principal,
                                rules::sql_privilege(&r.privilege, legacy),
                                object_type(&r.on).to_owned(),
                                r.on.full_name(),
                            ]
                        })
                        .collect(),
                })
        }
        Statement::CreateSchema {
            name,
            if_not_exists,
            comment,
        } => {
            let Ok(Securable::Schema(catalog_name, schema)) = resolve(&name) else {
                return Ok(invalid_name(&name));
            };
            let created = store
                .create_schema(
                    caller,
                    &NewSchema {
                        catalog_name,
                        name: schema,
                        comment,
                        properties: serde_json::Map::new(),
                    },
                )
                .await;
            match created {
                Err(CatalogError::SchemaExists { .. }) if if_not_exists => Ok(Outcome::done()),
                other => other.map(|_| Outcome::done()),
            }
        }
        Statement::CreateTable {
            name,
            if_not_exists,
            columns,
            comment,
            format,
        } => {
            let Ok(Securable::Table(catalog_name, schema_name, table)) = resolve(&name) else {
                return Ok(invalid_name(&name));
            };
            let mut records = Vec::with_capacity(columns.len());
            for (i, c) in columns.into_iter().enumerate() {
                let type_name = match rules::column_type_name(&c.type_text) {
                    Ok(t) => t,
                    Err(m) => return Ok(Outcome::failed("BAD_REQUEST", "UNSUPPORTED_DATATYPE", m)),
                };
                records.push(ColumnRecord {
                    name: c.name,
                    position: i64::try_from(i).unwrap_or(i64::MAX),
                    type_name: type_name.to_owned(),
                    type_text: c.type_text,
                    type_json: String::new(),
                    nullable: c.nullable,
                    comment: c.comment,
                });
            }
            let created = store
                .create_table(
                    caller,
                    &NewTable {
                        catalog_name,
                        schema_name,
                        name: table,
                        table_type: "MANAGED".into(),
                        data_source_format: format,
                        storage_location: None,
                        comment,
                        properties: serde_json::Map::new(),
                        columns: records,
                    },
                )
                .await;
            match created {
                Err(CatalogError::TableExists { .. }) if if_not_exists => Ok(Outcome::done()),
                other => other.map(|_| Outcome::done()),
            }
        }
        Statement::DropSchema {
            name,
            if_exists,
            cascade,
        } => {
            let Ok(Securable::Schema(catalog_name, schema)) = resolve(&name) else {
                return Ok(invalid_name(&name));
            };
            match store
                .delete_schema(caller, &catalog_name, &schema, cascade)
                .await
            {
                Err(CatalogError::SchemaNotFound { .. } | CatalogError::CatalogNotFound { .. })
                    if if_exists =>
                {
                    Ok(Outcome::done())
                }
                other => other.map(|()| Outcome::done()),
            }
        }
        Statement::DropTable { name, if_exists } => {
            let securable = match resolve(&name) {
                Ok(s @ Securable::Table(..)) => s,
                _ => return Ok(invalid_name(&name)),
            };
            match store.delete_table(caller, &securable).await {
                Err(
                    CatalogError::TableNotFound { .. }
                    | CatalogError::SchemaNotFound { .. }
                    | CatalogError::CatalogNotFound { .. },
                ) if if_exists => Ok(Outcome::done()),
                other => other.map(|()| Outcome::done()),
            }
        }
    };
    match result {
        Ok(outcome) => Ok(outcome),
        Err(e) => sql_error(e),
    }
}

fn invalid_name(name: &ObjectName) -> Outcome {
    Outcome::failed(
        "BAD_REQUEST",
        "INVALID_IDENTIFIER",
        format!("'{}' is not a valid name here.", name.parts.join(".")),
    )
}

/// `SHOW GRANTS`' object type: legacy schemas are databases.
fn object_type(on: &Securable) -> &'static str {
    match on {
        Securable::Metastore => "METASTORE",
        Securable::Catalog(_) => "CATALOG",
        Securable::Schema(..) if on.is_legacy() => "DATABASE",
        Securable::Schema(..) => "SCHEMA",
        Securable::Table(..) => "TABLE",
    }
}

async fn get_statement(
    Authenticated(_caller): Authenticated,
    Path(statement_id): Path<String>,
) -> ApiError {
    ApiError::not_found(format!(
        "Statement {statement_id} does not exist: patchbay returns results inline and keeps none."
    ))
}
