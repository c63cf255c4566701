//! The Statement Execution API (`/api/2.0/sql/statements`), the sessions API the SQL
//! connector's Statement Execution backend opens (`/api/2.0/sql/sessions`), and query history
//! (`/api/2.0/sql/history/queries`).
//!
//! A statement runs on a warehouse the caller may use (CAN_USE; a stopped warehouse starts, a
//! deleted one refuses). It runs as a task of its own: the request waits for it up to
//! `wait_timeout` and then answers with the result, or with its id to poll (`on_wait_timeout:
//! CONTINUE`), or cancels it (`CANCEL`). Results are cut into chunks and served `INLINE`
//! (`JSON_ARRAY`) or as `EXTERNAL_LINKS` (`ARROW_STREAM`, `CSV` or `JSON_ARRAY`, LZ4-framed on
//! request) that this server serves itself at unguessable, short-lived URLs.
//!
//! What runs a statement is the [`engine::SqlEngine`] the server was built with; without one,
//! statements fail with a clear `NOT_IMPLEMENTED`.

pub mod engine;
mod history;
mod registry;
pub mod relay;

use crate::AppState;
use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use engine::{Execution, FailureCode, Parameter, ResultRows, SqlFailure};
pub use history::History;
use patchbay_core::PrincipalId;
use patchbay_core::access::Caller;
use patchbay_core::catalog::{DEFAULT_SCHEMA, HIVE_METASTORE};
use patchbay_core::compute::{Action, ObjectKind};
use patchbay_store::{QueryFilter, SqlSession, Viewer};
use registry::{Entry, Finished, Format, Phase, Presentation};
pub use registry::{Registry, route_of_node};
use relay::Relay;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// `wait_timeout` when the request gives none.
const DEFAULT_WAIT: Duration = Duration::from_secs(10);
/// Where external links are served.
pub const RESULTS_PATH: &str = "/sql/results";
/// How long an unused session lives.
const SESSION_IDLE_MILLIS: i64 = 60 * 60 * 1000;
/// The most sessions one principal may have open (the SQL connector opens one a connection).
const MAX_SESSIONS: i64 = 1000;

/// The routes of the Statement Execution, sessions and query history APIs, and of the
/// external links.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/2.0/sql/statements", post(execute))
        .route("/api/2.0/sql/statements/", post(execute))
        .route("/api/2.0/sql/statements/{statement_id}", get(get_statement).delete(close_statement))
        .route("/api/2.0/sql/statements/{statement_id}/cancel", post(cancel_statement))
        .route("/api/2.0/sql/statements/{statement_id}/result/chunks/{chunk_index}", get(get_chunk))
        .route("/api/2.0/sql/sessions", post(open_session))
        .route("/api/2.0/sql/sessions/", post(open_session))
        .route("/api/2.0/sql/sessions/{session_id}", delete(close_session))
        .route("/api/2.0/sql/history/queries", get(list_queries))
        .route(&format!("{RESULTS_PATH}/{{secret}}"), get(download))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecuteRequest {
    warehouse_id: Option<String>,
    statement: Option<String>,
    session_id: Option<String>,
    wait_timeout: Option<String>,
    catalog: Option<String>,
    schema: Option<String>,
    disposition: Option<String>,
    format: Option<String>,
    on_wait_timeout: Option<String>,
    row_limit: Option<i64>,
    byte_limit: Option<i64>,
    parameters: Option<Vec<ParameterRequest>>,
    result_compression: Option<String>,
    /// Attribution tags: accepted; history does not keep them.
    #[serde(default, rename = "query_tags")]
    _query_tags: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParameterRequest {
    name: Option<String>,
    value: Option<Value>,
    #[serde(rename = "type")]
    type_name: Option<String>,
}

/// What the request asked for, checked.
struct Checked {
    wait: Duration,
    cancel_on_timeout: bool,
    presentation: Presentation,
    row_limit: Option<usize>,
    byte_limit: Option<usize>,
    parameters: Vec<Parameter>,
}

/// `wait_timeout`: `0s`, or 5 to 50 seconds, as the API accepts.
fn wait_timeout(raw: Option<&str>) -> ApiResult<Duration> {
    let Some(raw) = raw.filter(|s| !s.is_empty()) else {
        return Ok(DEFAULT_WAIT);
    };
    let seconds = raw.strip_suffix('s').and_then(|n| n.parse::<u64>().ok()).ok_or_else(|| {
        ApiError::bad_request(format!(
            "wait_timeout must look like '10s' (0s, or 5s to 50s), not '{raw}'"
        ))
    })?;
    if seconds == 0 || (5..=50).contains(&seconds) {
        Ok(Duration::from_secs(seconds))
    } else {
        Err(ApiError::bad_request(format!(
            "wait_timeout must be 0s or between 5s and 50s, not '{raw}'"
        )))
    }
}

fn limit(value: Option<i64>, name: &str) -> ApiResult<Option<usize>> {
    match value {
        None | Some(0) => Ok(None),
        Some(n) if n < 0 => Err(ApiError::bad_request(format!("{name} must not be negative."))),
        Some(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
    }
}

fn upper(value: Option<&str>) -> Option<String> {
    given(value).map(|v| v.to_ascii_uppercase())
}

/// One of an option's `choices`, named in any case; an absent option is the first choice.
/// Anything else is refused: "`field` must be `expected`, not '…'".
fn choice<T: Copy>(
    value: Option<&str>,
    field: &str,
    expected: &str,
    choices: &[(&str, T)],
) -> ApiResult<T> {
    let Some(named) = upper(value) else {
        return Ok(choices[0].1);
    };
    choices
        .iter()
        .find(|(name, _)| *name == named)
        .map(|(_, chosen)| *chosen)
        .ok_or_else(|| ApiError::bad_request(format!("{field} must be {expected}, not '{named}'")))
}

fn check_request(req: &ExecuteRequest) -> ApiResult<Checked> {
    let wait = wait_timeout(req.wait_timeout.as_deref())?;
    let format = choice(
        req.format.as_deref(),
        "format",
        "JSON_ARRAY, ARROW_STREAM or CSV",
        &[
            ("JSON_ARRAY", Format::JsonArray),
            ("ARROW_STREAM", Format::ArrowStream),
            ("CSV", Format::Csv),
        ],
    )?;
    let external_links = choice(
        req.disposition.as_deref(),
        "disposition",
        "INLINE, EXTERNAL_LINKS or INLINE_OR_EXTERNAL_LINKS",
        &[
            ("INLINE", false),
            ("EXTERNAL_LINKS", true),
            // Hybrid: small results inline would need JSON; patchbay links whenever the format
            // cannot be inline.
            ("INLINE_OR_EXTERNAL_LINKS", format != Format::JsonArray),
        ],
    )?;
    if !external_links && format != Format::JsonArray {
        return Err(ApiError::bad_request(format!(
            "format {} needs disposition EXTERNAL_LINKS: INLINE results are JSON_ARRAY.",
            format.as_str()
        )));
    }
    let lz4 = choice(
        req.result_compression.as_deref(),
        "result_compression",
        "LZ4_FRAME or NONE",
        &[("NONE", false), ("LZ4_FRAME", true)],
    )?;
    let cancel_on_timeout = choice(
        req.on_wait_timeout.as_deref(),
        "on_wait_timeout",
        "CONTINUE or CANCEL",
        &[("CONTINUE", false), ("CANCEL", true)],
    )?;
    let mut parameters = Vec::new();
    for p in req.parameters.iter().flatten() {
        let name = p
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ApiError::bad_request("Every parameter needs a name."))?;
        let value = match &p.value {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_string()),
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "Parameter '{name}': the value must be a string, a number, a boolean or null."
                )));
            }
        };
        parameters.push(Parameter {
            name: name.to_owned(),
            value,
            type_name: upper(p.type_name.as_deref()).unwrap_or_else(|| "STRING".to_owned()),
        });
    }
    Ok(Checked {
        wait,
        cancel_on_timeout,
        presentation: Presentation {
            format,
            external_links,
            lz4: lz4 && external_links,
            attach_small: external_links
                && format == Format::ArrowStream
                && upper(req.disposition.as_deref()).as_deref() == Some("INLINE_OR_EXTERNAL_LINKS"),
        },
        row_limit: limit(req.row_limit, "row_limit")?,
        byte_limit: limit(req.byte_limit, "byte_limit")?,
        parameters,
    })
}

fn required(value: Option<&str>, name: &str) -> ApiResult<String> {
    given(value).ok_or_else(|| ApiError::bad_request(format!("{name} is required")))
}

/// Running a statement needs CAN_USE on the warehouse; a stopped warehouse starts, as
/// Databricks' do when a statement arrives.
async fn use_warehouse(state: &AppState, caller: &Caller, warehouse_id: &str) -> ApiResult<()> {
    let allowed =
        state.store.may(caller, ObjectKind::Warehouse, warehouse_id, Action::Start).await?;
    let warehouse = state.store.get_warehouse(caller.workspace_id, warehouse_id).await?;
    let Some(warehouse) = warehouse.filter(|_| allowed) else {
        return Err(ApiError::forbidden(format!(
            "Warehouse {warehouse_id} does not exist or you do not have permission to use it \
             (CAN_USE)."
        )));
    };
    // Only a stopped (or stopping) one is started: a running warehouse costs no write.
    let now = state.now_millis();
    let delay = state.settings().compute_transition_millis;
    if warehouse.state_at(now, delay).start().is_some() {
        state.store.start_warehouse(caller, warehouse_id).await?;
    }
    Ok(())
}

async fn execute(
    Authenticated { state, caller }: Authenticated,
    JsonBody(req): JsonBody<ExecuteRequest>,
) -> ApiResult<Response> {
    let statement = req
        .statement
        .clone()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("statement is required"))?;
    let checked = check_request(&req)?;
    let session = match req.session_id.as_deref().filter(|s| !s.is_empty()) {
        Some(id) => Some((
            id.to_owned(),
            state.store.sql_session(&caller, id, SESSION_IDLE_MILLIS).await?.ok_or_else(|| {
                ApiError::not_found(format!("Session {id} does not exist or has expired."))
            })?,
        )),
        None => None,
    };
    let warehouse_id = match (&req.warehouse_id, &session) {
        (Some(w), _) if !w.trim().is_empty() => w.trim().to_owned(),
        (_, Some((_, s))) => s.warehouse_id.clone(),
        _ => return Err(ApiError::bad_request("warehouse_id is required")),
    };
    let Some(engine) = state.sql_engine().cloned() else {
        return Err(ApiError::not_implemented(
            "This server was built without a SQL engine: statements cannot run.",
        ));
    };
    use_warehouse(&state, &caller, &warehouse_id).await?;
    let requested_catalog = given(req.catalog.as_deref())
        .or_else(|| session.as_ref().and_then(|(_, s)| s.catalog.clone()));
    let catalog = match requested_catalog {
        Some(c) => c,
        None => state
            .store
            .metastore_assignment(caller.workspace_id)
            .await?
            .map_or_else(|| HIVE_METASTORE.to_owned(), |a| a.default_catalog_name),
    };
    let schema = given(req.schema.as_deref())
        .or_else(|| session.as_ref().and_then(|(_, s)| s.schema.clone()))
        .unwrap_or_else(|| DEFAULT_SCHEMA.to_owned());

    let entry =
        state.statements().begin(caller.workspace_id, caller.principal_id, checked.presentation);
    let execution = Execution {
        caller: caller.clone(),
        warehouse_id: warehouse_id.clone(),
        statement: statement.clone(),
        parameters: checked.parameters,
        catalog,
        schema,
    };
    let work = {
        let state = state.clone();
        let entry = entry.clone();
        let session_id = session.map(|(id, _)| id);
        let (row_limit, byte_limit) = (checked.row_limit, checked.byte_limit);
        Box::pin(async move {
            let started = state.now_millis();
            let ran = Ran {
                caller: &caller,
                warehouse_id: &warehouse_id,
                statement: &statement,
                started,
            };
            let limit = state.settings().statement_timeout;
            let work = tokio::time::timeout(limit, engine.execute(execution));
            let outcome = tokio::select! {
                outcome = work => outcome,
                () = entry.stopped() => {
                    // Cancelled or closed while the engine ran: leaving `work` here drops
                    // the engine's future, which stops its work.
                    record(&state, &entry, &ran, "CANCELED", None, None).await;
                    return;
                }
            };
            let outcome = match outcome {
                Ok(outcome) => outcome,
                // Dropping the engine's future stopped its work.
                Err(_) => Err(SqlFailure::new(
                    FailureCode::Cancelled,
                    "STATEMENT_TIMEOUT",
                    format!(
                        "The statement ran longer than {} seconds and was stopped.",
                        limit.as_secs()
                    ),
                )
                .with_sql_state("57014")),
            };
            let phase = match outcome {
                Ok(executed) => match remember_use(
                    &state,
                    session_id.as_deref(),
                    executed.use_catalog.as_deref(),
                    executed.use_schema.as_deref(),
                )
                .await
                {
                    Ok(()) => finish(&state, &entry, executed.rows, row_limit, byte_limit),
                    Err(failure) => Phase::Failed(failure),
                },
                Err(failure) => Phase::Failed(failure),
            };
            let rows = match &phase {
                Phase::Succeeded(f) => Some(f.chunks.last().map_or(0, |c| c.end)),
                _ => None,
            };
            let error = match &phase {
                Phase::Failed(f) => Some(f.display_message()),
                _ => None,
            };
            // History first: whoever sees the statement end (its waiter, a poll) finds it in
            // the history too. A cancel that wins meanwhile is written over it.
            let status = match &phase {
                Phase::Succeeded(_) => "FINISHED",
                _ => "FAILED",
            };
            record(&state, &entry, &ran, status, rows, error).await;
            if !entry.finish(phase) {
                record(&state, &entry, &ran, "CANCELED", None, None).await;
            }
        })
    };
    Detached::run_for(work, checked.wait).await;
    let phase = entry.phase();
    if !phase.is_done() && checked.cancel_on_timeout {
        entry.cancel();
    }
    Ok(Json(statement_response(&state, &entry)).into_response())
}

/// A statement's work, run by the request that started it for as long as the request waits,
/// and by a task of its own after that: a statement that ends within the wait (most do) costs
/// no hand-off between tasks, and one that outlives the wait, or the request, goes on.
struct Detached(Option<Pin<Box<dyn Future<Output = ()> + Send>>>);

impl Detached {
    /// Runs `work` here for up to `wait`; what remains of it then goes on in a task.
    async fn run_for(work: Pin<Box<dyn Future<Output = ()> + Send>>, wait: Duration) {
        let mut work = Detached(Some(work));
        if !wait.is_zero() {
            let _ = tokio::time::timeout(wait, &mut work).await;
        }
    }
}

impl Future for Detached {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(work) = self.0.as_mut() else {
            return Poll::Ready(());
        };
        let done = work.as_mut().poll(cx);
        if done.is_ready() {
            self.0 = None;
        }
        done
    }
}

impl Drop for Detached {
    /// Unfinished work is handed to a task of its own: when the wait ends, and when the
    /// request is dropped (its client went away) in the middle of it.
    fn drop(&mut self) {
        if let (Some(work), Ok(runtime)) = (self.0.take(), tokio::runtime::Handle::try_current()) {
            runtime.spawn(work);
        }
    }
}

/// A `USE CATALOG|SCHEMA` run in a session changes the session, for whichever node runs its
/// next statement.
async fn remember_use(
    state: &AppState,
    session_id: Option<&str>,
    catalog: Option<&str>,
    schema: Option<&str>,
) -> Result<(), SqlFailure> {
    let Some(id) = session_id.filter(|_| catalog.is_some() || schema.is_some()) else {
        return Ok(());
    };
    state.store.use_in_sql_session(id, catalog, schema).await.map_err(|e| {
        tracing::warn!(error = %e, "a session's catalog or schema was not saved");
        SqlFailure::new(
            FailureCode::Unavailable,
            "TEMPORARILY_UNAVAILABLE",
            "The session's new catalog or schema could not be saved: run the USE statement \
                 again.",
        )
    })
}

/// A name as given, or `None` when absent or blank.
fn given(value: Option<&str>) -> Option<String> {
    value.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

/// Cuts a result into chunks within the limits; a result too large to return inline fails.
fn finish(
    state: &AppState,
    entry: &Entry,
    rows: Box<dyn ResultRows>,
    row_limit: Option<usize>,
    byte_limit: Option<usize>,
) -> Phase {
    let settings = state.settings();
    let total = rows.row_count();
    let row_bytes = rows.approximate_bytes().div_ceil(total.max(1)).max(1);
    let mut kept = row_limit.map_or(total, |l| l.min(total));
    if let Some(bytes) = byte_limit {
        kept = kept.min(bytes / row_bytes);
    }
    let truncated = kept < total;
    let inline = !entry.presentation.external_links;
    if inline && kept.saturating_mul(row_bytes) > settings.inline_result_bytes {
        return Phase::Failed(
            SqlFailure::new(
                FailureCode::BadRequest,
                "INLINE_RESULT_TOO_LARGE",
                format!(
                    "The result is larger than {} MiB, the most INLINE returns: ask for \
                     disposition EXTERNAL_LINKS, or set row_limit or byte_limit.",
                    settings.inline_result_bytes >> 20
                ),
            )
            .with_sql_state("54000"),
        );
    }
    let chunk_bytes =
        if inline { settings.inline_result_bytes } else { settings.result_chunk_bytes };
    let per_chunk = (chunk_bytes / row_bytes).max(1);
    let mut chunks: Vec<Range<usize>> =
        (0..kept).step_by(per_chunk).map(|start| start..(start + per_chunk).min(kept)).collect();
    if chunks.is_empty() {
        chunks.push(0..0);
    }
    Phase::Succeeded(Arc::new(Finished { rows, chunks, truncated }))
}

/// What a history row says about the statement itself.
struct Ran<'a> {
    caller: &'a Caller,
    warehouse_id: &'a str,
    statement: &'a str,
    started: i64,
}

/// Query history: who ran what, when, and how it ended (a second call for the same statement
/// replaces the first).
async fn record(
    state: &AppState,
    entry: &Entry,
    ran: &Ran<'_>,
    status: &'static str,
    rows: Option<usize>,
    error: Option<String>,
) {
    let line = history::Line {
        id: entry.id.clone(),
        caller: ran.caller.clone(),
        warehouse_id: ran.warehouse_id.to_owned(),
        statement: ran.statement.to_owned(),
        status,
        error,
        rows: rows.map(|r| i64::try_from(r).unwrap_or(i64::MAX)),
        started_at: ran.started,
        // The wall clock may step back while a statement runs; it never ends before it began.
        ended_at: state.now_millis().max(ran.started),
    };
    if let Err(e) = state.history().record(line).await {
        tracing::warn!(statement_id = %entry.id, error = %e, "query history: not recorded");
    }
}

// ---- responses ----------------------------------------------------------------------------

#[derive(Serialize)]
struct StatementResponse {
    statement_id: String,
    status: StatusBody,
    #[serde(skip_serializing_if = "Option::is_none")]
    manifest: Option<Manifest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<ResultData>,
}

#[derive(Serialize)]
struct StatusBody {
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorBody>,
}

#[derive(Serialize)]
struct ErrorBody {
    error_code: &'static str,
    message: String,
}

#[derive(Serialize)]
struct Manifest {
    format: &'static str,
    schema: SchemaBody,
    total_chunk_count: usize,
    chunks: Vec<ChunkInfo>,
    total_row_count: usize,
    truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    result_compression: Option<&'static str>,
}

#[derive(Serialize)]
struct SchemaBody {
    column_count: usize,
    columns: Vec<ColumnBody>,
}

#[derive(Serialize)]
struct ColumnBody {
    name: String,
    type_name: String,
    type_text: String,
    position: usize,
    /// A decimal's precision and scale (the SQL connector needs both to read one).
    #[serde(skip_serializing_if = "Option::is_none")]
    type_precision: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    type_scale: Option<u32>,
}

/// `(precision, scale)` of a `DECIMAL(p,s)` type.
fn decimal_digits(type_text: &str) -> Option<(u32, u32)> {
    let inner = type_text
        .trim()
        .to_ascii_uppercase()
        .strip_prefix("DECIMAL(")?
        .strip_suffix(')')?
        .to_owned();
    let (p, s) = inner.split_once(',')?;
    Some((p.trim().parse().ok()?, s.trim().parse().ok()?))
}

#[derive(Serialize)]
struct ChunkInfo {
    chunk_index: usize,
    row_offset: usize,
    row_count: usize,
}

#[derive(Serialize)]
struct ResultData {
    chunk_index: usize,
    row_offset: usize,
    row_count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_array: Option<Vec<Vec<Option<String>>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_links: Option<Vec<ExternalLink>>,
    /// The whole result, base64 of what its link would serve (see `Presentation::attach_small`).
    #[serde(skip_serializing_if = "Option::is_none")]
    attachment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_chunk_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_chunk_internal_link: Option<String>,
}

/// The largest result that comes as an `attachment` (its approximate size, before LZ4).
const ATTACHMENT_BYTES: usize = 1 << 20;

#[derive(Serialize)]
struct ExternalLink {
    chunk_index: usize,
    row_offset: usize,
    row_count: usize,
    byte_count: usize,
    external_link: String,
    expiration: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_chunk_index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_chunk_internal_link: Option<String>,
}

fn statement_response(state: &AppState, entry: &Arc<Entry>) -> StatementResponse {
    let phase = entry.phase();
    let (manifest, result) = match &phase {
        Phase::Succeeded(finished) => {
            (Some(manifest(entry, finished)), Some(chunk_data(state, entry, finished, 0)))
        }
        _ => (None, None),
    };
    StatementResponse {
        statement_id: entry.id.clone(),
        status: StatusBody {
            state: phase.state(),
            error: match &phase {
                Phase::Failed(f) => {
                    Some(ErrorBody { error_code: f.code.as_str(), message: f.display_message() })
                }
                _ => None,
            },
        },
        manifest,
        result,
    }
}

fn manifest(entry: &Entry, finished: &Finished) -> Manifest {
    let columns: Vec<ColumnBody> = finished
        .rows
        .columns()
        .iter()
        .enumerate()
        .map(|(position, c)| {
            let digits = decimal_digits(&c.type_text);
            ColumnBody {
                name: c.name.clone(),
                type_name: c.type_name.clone(),
                type_text: c.type_text.clone(),
                position,
                type_precision: digits.map(|d| d.0),
                type_scale: digits.map(|d| d.1),
            }
        })
        .collect();
    Manifest {
        format: entry.presentation.format.as_str(),
        schema: SchemaBody { column_count: columns.len(), columns },
        total_chunk_count: finished.chunks.len(),
        chunks: finished
            .chunks
            .iter()
            .enumerate()
            .map(|(chunk_index, r)| ChunkInfo {
                chunk_index,
                row_offset: r.start,
                row_count: r.len(),
            })
            .collect(),
        total_row_count: finished.chunks.last().map_or(0, |c| c.end),
        truncated: finished.truncated,
        result_compression: entry.presentation.lz4.then_some("LZ4_FRAME"),
    }
}

fn chunk_data(
    state: &AppState,
    entry: &Arc<Entry>,
    finished: &Finished,
    index: usize,
) -> ResultData {
    let range = finished.chunks[index].clone();
    let next = (index + 1 < finished.chunks.len()).then_some(index + 1);
    let next_link = next.map(|n| internal_link(&entry.id, n));
    let presentation = entry.presentation;
    if !presentation.external_links {
        return ResultData {
            chunk_index: index,
            row_offset: range.start,
            row_count: range.len(),
            data_array: Some(finished.rows.json(range)),
            external_links: None,
            attachment: None,
            next_chunk_index: next,
            next_chunk_internal_link: next_link,
        };
    }
    if presentation.attach_small
        && finished.chunks.len() == 1
        && finished.rows.approximate_bytes() <= ATTACHMENT_BYTES
    {
        let bytes = finished.rows.arrow_stream(range.clone(), presentation.lz4);
        return ResultData {
            chunk_index: index,
            row_offset: range.start,
            row_count: range.len(),
            data_array: None,
            external_links: None,
            attachment: Some(base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                bytes,
            )),
            next_chunk_index: None,
            next_chunk_internal_link: None,
        };
    }
    let (secret, expires) = state.statements().link(entry.clone(), index, state.now_millis());
    let expiration =
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(expires) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let link = ExternalLink {
        chunk_index: index,
        row_offset: range.start,
        row_count: range.len(),
        byte_count: range.len()
            * finished.rows.approximate_bytes().div_ceil(finished.rows.row_count().max(1)),
        external_link: format!(
            "{}{RESULTS_PATH}/{secret}",
            state.settings().public_url.trim_end_matches('/')
        ),
        expiration: expiration
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        next_chunk_index: next,
        next_chunk_internal_link: next_link.clone(),
    };
    ResultData {
        chunk_index: index,
        row_offset: range.start,
        row_count: range.len(),
        data_array: None,
        external_links: Some(vec![link]),
        attachment: None,
        next_chunk_index: next,
        next_chunk_internal_link: next_link,
    }
}

fn internal_link(statement_id: &str, chunk: usize) -> String {
    format!("/api/2.0/sql/statements/{statement_id}/result/chunks/{chunk}")
}

// ---- polling, cancelling, closing, chunks -------------------------------------------------

/// A request about one statement (`…/statements/{statement_id}…`): who asks, which statement,
/// and the request as it came, to pass on to the node that holds the statement.
struct OnStatement {
    state: AppState,
    caller: Caller,
    statement_id: String,
    relay: Relay,
}

#[derive(Deserialize)]
struct StatementPath {
    statement_id: String,
}

impl FromRequestParts<AppState> for OnStatement {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Authenticated { caller, .. } = Authenticated::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Path(StatementPath { statement_id }) =
            Path::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        let relay =
            Relay::from_request_parts(parts, state).await.unwrap_or_else(|never| match never {});
        Ok(OnStatement { state: state.clone(), caller, statement_id, relay })
    }
}

impl OnStatement {
    /// What the request gets: passed on to the node that holds the statement, or `act` on it
    /// here.
    async fn act(
        &self,
        act: impl FnOnce(Arc<Entry>) -> ApiResult<Response>,
    ) -> ApiResult<Response> {
        let (state, caller, statement_id) = (&self.state, &self.caller, &self.statement_id);
        if let Some(answer) = self.relay.to_holder(state, statement_id).await? {
            return Ok(answer);
        }
        let entry = state
            .statements()
            .statement(caller.workspace_id, caller.principal_id, statement_id)
            .ok_or_else(|| {
                ApiError::does_not_exist(
                    "RESOURCE_DOES_NOT_EXIST",
                    format!("Statement {statement_id} does not exist or its result has expired."),
                )
            })?;
        act(entry)
    }
}

fn empty_object() -> ApiResult<Response> {
    Ok(Json(Value::Object(serde_json::Map::new())).into_response())
}

async fn get_statement(on: OnStatement) -> ApiResult<Response> {
    on.act(|entry| Ok(Json(statement_response(&on.state, &entry)).into_response())).await
}

async fn cancel_statement(on: OnStatement) -> ApiResult<Response> {
    on.act(|entry| {
        entry.cancel();
        empty_object()
    })
    .await
}

async fn close_statement(on: OnStatement) -> ApiResult<Response> {
    on.act(|entry| {
        entry.close();
        empty_object()
    })
    .await
}

#[derive(Deserialize)]
struct ChunkPath {
    chunk_index: String,
}

async fn get_chunk(
    on: OnStatement,
    Path(ChunkPath { chunk_index }): Path<ChunkPath>,
) -> ApiResult<Response> {
    let statement_id = &on.statement_id;
    on.act(|entry| {
        let Phase::Succeeded(finished) = entry.phase() else {
            return Err(ApiError::bad_request(format!(
                "Statement {statement_id} has no result: it is {}.",
                entry.phase().state()
            )));
        };
        let index =
            chunk_index.parse::<usize>().ok().filter(|i| *i < finished.chunks.len()).ok_or_else(
                || {
                    ApiError::bad_request(format!(
                        "chunk_index must be a number from 0 to {}, not '{chunk_index}'",
                        finished.chunks.len() - 1
                    ))
                },
            )?;
        Ok(Json(chunk_data(&on.state, &entry, &finished, index)).into_response())
    })
    .await
}

/// An external link: the secret in the URL is the whole credential (clients fetch these
/// without their token, as from cloud storage).
async fn download(
    State(state): State<AppState>,
    Path(secret): Path<String>,
    relay: Relay,
) -> Response {
    match relay.to_holder(&state, &secret).await {
        Ok(Some(answer)) => return answer,
        Ok(None) => {}
        Err(e) => return e.into_response(),
    }
    let expired = || {
        (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain")],
            "This link does not exist or has expired.",
        )
            .into_response()
    };
    let Some(link) = state.statements().follow(&secret, state.now_millis()) else {
        return expired();
    };
    let Phase::Succeeded(finished) = link.entry.phase() else {
        return expired();
    };
    let range = finished.chunks[link.chunk].clone();
    let presentation = link.entry.presentation;
    let rows = &finished.rows;
    let (bytes, content_type) = match presentation.format {
        Format::ArrowStream => {
            (rows.arrow_stream(range, presentation.lz4), "application/vnd.apache.arrow.stream")
        }
        Format::Csv => (rows.csv(range, presentation.lz4), "text/csv"),
        Format::JsonArray => {
            (serde_json::to_vec(&rows.json(range)).unwrap_or_default(), "application/json")
        }
    };
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], Body::from(bytes)).into_response()
}

// ---- sessions -----------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionRequest {
    warehouse_id: Option<String>,
    catalog: Option<String>,
    schema: Option<String>,
    /// Spark settings (`ansi_mode`, `timezone`, …): accepted; the engine's own apply.
    #[serde(default, rename = "session_confs")]
    _session_confs: Option<Value>,
}

#[derive(Serialize)]
struct SessionResponse {
    session_id: String,
}

async fn open_session(
    Authenticated { state, caller }: Authenticated,
    JsonBody(req): JsonBody<SessionRequest>,
) -> ApiResult<Json<SessionResponse>> {
    let warehouse_id = required(req.warehouse_id.as_deref(), "warehouse_id")?;
    use_warehouse(&state, &caller, &warehouse_id).await?;
    let session = SqlSession {
        warehouse_id,
        catalog: given(req.catalog.as_deref()),
        schema: given(req.schema.as_deref()),
    };
    let session_id = uuid::Uuid::new_v4().to_string();
    let opened = state
        .store
        .open_sql_session(&caller, &session_id, &session, SESSION_IDLE_MILLIS, MAX_SESSIONS)
        .await?;
    if !opened {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            format!("You have {MAX_SESSIONS} open sessions, the most there may be: close some."),
        ));
    }
    Ok(Json(SessionResponse { session_id }))
}

#[derive(Debug, Deserialize)]
struct CloseSessionParams {
    #[serde(default, rename = "warehouse_id")]
    _warehouse_id: Option<String>,
    #[serde(default, rename = "session_id")]
    _session_id: Option<String>,
}

async fn close_session(
    Authenticated { state, caller }: Authenticated,
    Path(session_id): Path<String>,
    Params(_params): Params<CloseSessionParams>,
) -> ApiResult<Json<Value>> {
    if !state.store.close_sql_session(&caller, &session_id).await? {
        return Err(ApiError::does_not_exist(
            "RESOURCE_DOES_NOT_EXIST",
            format!("Session {session_id} does not exist."),
        ));
    }
    Ok(Json(Value::Object(serde_json::Map::new())))
}

// ---- query history ------------------------------------------------------------------------

/// History's parameters. The lists come as the SDKs send them, one `filter_by.user_ids=…` per
/// value (or `{"filter_by": {"user_ids": […]}}` in a body), so they are read from the pairs:
/// a query string does not deserialize into a list.
#[derive(Debug, Default)]
struct HistoryParams {
    max_results: Option<i64>,
    page_token: Option<String>,
    user_ids: Vec<PrincipalId>,
    warehouse_ids: Vec<String>,
    statuses: Vec<String>,
}

impl HistoryParams {
    fn from_pairs(pairs: Vec<(String, String)>) -> ApiResult<HistoryParams> {
        let mut params = HistoryParams::default();
        let values = |value: &str| -> Vec<String> {
            value.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned).collect()
        };
        for (key, value) in pairs {
            match key.as_str() {
                "max_results" => {
                    params.max_results = Some(value.trim().parse().map_err(|_| {
                        ApiError::bad_request(format!(
                            "max_results must be a number, not '{value}'"
                        ))
                    })?);
                }
                "page_token" => params.page_token = Some(value),
                "filter_by.user_ids" => {
                    for id in values(&value) {
                        params.user_ids.push(id.parse().map(PrincipalId::new).map_err(|_| {
                            ApiError::bad_request(format!(
                                "filter_by.user_ids must be user ids, not '{id}'"
                            ))
                        })?);
                    }
                }
                "filter_by.warehouse_ids" => params.warehouse_ids.extend(values(&value)),
                "filter_by.statuses" => params.statuses.extend(values(&value)),
                // Accepted and ignored: metrics are not kept, and the time range and the rest
                // of Databricks' filters narrow nothing here yet.
                _ => {}
            }
        }
        Ok(params)
    }
}

#[derive(Serialize)]
struct HistoryResponse {
    res: Vec<QueryInfo>,
    has_next_page: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

#[derive(Serialize)]
struct QueryInfo {
    query_id: String,
    status: String,
    query_text: String,
    user_id: PrincipalId,
    user_name: String,
    executed_as_user_id: PrincipalId,
    executed_as_user_name: String,
    warehouse_id: String,
    endpoint_id: String,
    query_start_time_ms: i64,
    query_end_time_ms: i64,
    execution_end_time_ms: i64,
    duration: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    rows_produced: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<String>,
    statement_type: String,
}

/// Query history: an admin sees the workspace's; anyone else their own, and everyone's on the
/// warehouses where they hold CAN_MONITOR.
async fn list_queries(
    Authenticated { state, caller }: Authenticated,
    Params(pairs): Params<Vec<(String, String)>>,
) -> ApiResult<Json<HistoryResponse>> {
    let params = HistoryParams::from_pairs(pairs)?;
    let max_results = match params.max_results {
        None => 100,
        Some(n @ 1..=1000) => n,
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "max_results must be between 1 and 1000, not {n}"
            )));
        }
    };
    let before = match params.page_token.as_deref().filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(t.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!("page_token '{t}' is not a token this server gave"))
        })?),
    };
    // Anyone else sees their own statements and every one on the warehouses they monitor.
    let visible_to = if caller.is_admin {
        None
    } else {
        let monitored = state.store.list_warehouses_allowing(&caller, Action::Monitor).await?;
        let monitored_warehouses: Vec<String> = monitored.into_iter().map(|w| w.id).collect();
        let others = params.user_ids.iter().any(|u| *u != caller.principal_id);
        if others && monitored_warehouses.is_empty() {
            return Err(ApiError::forbidden(
                "Only workspace admins, and those with CAN_MONITOR on a warehouse, may see other \
                 users' queries.",
            ));
        }
        Some(Viewer { principal_id: caller.principal_id, monitored_warehouses })
    };
    let statuses = params.statuses.into_iter().map(|s| s.to_ascii_uppercase()).collect();
    let page = state
        .store
        .list_queries(&QueryFilter {
            workspace_id: caller.workspace_id,
            user_ids: params.user_ids,
            warehouse_ids: params.warehouse_ids,
            statuses,
            before,
            limit: max_results,
            visible_to,
        })
        .await?;
    let next_page_token = page.next.map(|n| n.to_string());
    Ok(Json(HistoryResponse {
        has_next_page: next_page_token.is_some(),
        next_page_token,
        res: page
            .queries
            .into_iter()
            .map(|q| QueryInfo {
                statement_type: statement_type(&q.statement),
                query_id: q.id,
                status: q.status,
                query_text: q.statement,
                user_id: q.principal_id,
                executed_as_user_id: q.principal_id,
                executed_as_user_name: q.user_name.clone(),
                user_name: q.user_name,
                endpoint_id: q.warehouse_id.clone(),
                warehouse_id: q.warehouse_id,
                query_start_time_ms: q.started_at,
                query_end_time_ms: q.ended_at,
                execution_end_time_ms: q.ended_at,
                duration: q.ended_at - q.started_at,
                rows_produced: q.rows,
                error_message: q.error,
            })
            .collect(),
    }))
}

/// History's `statement_type`: the statement's first keyword (`SELECT`, `INSERT`, …).
fn statement_type(statement: &str) -> String {
    let word: String = statement
        .trim_start()
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .collect::<String>()
        .to_ascii_uppercase();
    match word.as_str() {
        "WITH" | "VALUES" => "SELECT".to_owned(),
        "" => "OTHER".to_owned(),
        _ => word,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn checked(options: Value) -> ApiResult<Checked> {
        check_request(&serde_json::from_value(options).unwrap())
    }

    fn refusal(options: Value) -> String {
        match checked(options) {
            Err(e) => e.message,
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn options_are_named_in_any_case_and_default_when_absent() {
        let c = checked(json!({})).unwrap();
        assert_eq!(c.presentation.format, Format::JsonArray);
        assert!(!c.presentation.external_links && !c.presentation.lz4 && !c.cancel_on_timeout);
        let c = checked(json!({
            "format": "csv",
            "disposition": " inline_or_external_links ",
            "result_compression": "Lz4_Frame",
            "on_wait_timeout": "CANCEL",
        }))
        .unwrap();
        assert_eq!(c.presentation.format, Format::Csv);
        assert!(c.presentation.external_links && c.presentation.lz4 && c.cancel_on_timeout);
        assert!(!c.presentation.attach_small, "CSV is not attached");
        let hybrid = checked(json!({"disposition": "INLINE_OR_EXTERNAL_LINKS"})).unwrap();
        assert!(
            !hybrid.presentation.external_links && !hybrid.presentation.attach_small,
            "JSON_ARRAY stays inline"
        );
        for (disposition, attached) in
            [("INLINE_OR_EXTERNAL_LINKS", true), ("EXTERNAL_LINKS", false)]
        {
            let arrow = checked(json!({"disposition": disposition, "format": "ARROW_STREAM"}));
            assert_eq!(arrow.unwrap().presentation.attach_small, attached, "{disposition}");
        }
    }

    #[test]
    fn other_options_are_refused_naming_the_choices() {
        for (options, message) in [
            (json!({"format": "xml"}), "format must be JSON_ARRAY, ARROW_STREAM or CSV, not 'XML'"),
            (
                json!({"disposition": "links"}),
                "disposition must be INLINE, EXTERNAL_LINKS or INLINE_OR_EXTERNAL_LINKS, not 'LINKS'",
            ),
            (
                json!({"result_compression": "gzip"}),
                "result_compression must be LZ4_FRAME or NONE, not 'GZIP'",
            ),
            (
                json!({"on_wait_timeout": "wait"}),
                "on_wait_timeout must be CONTINUE or CANCEL, not 'WAIT'",
            ),
            (
                json!({"format": "CSV"}),
                "format CSV needs disposition EXTERNAL_LINKS: INLINE results are JSON_ARRAY.",
            ),
        ] {
            assert_eq!(refusal(options), message);
        }
    }
}
