//! Job runs under `/api/2.{0,1,2}/jobs`: `run-now`, `runs/get`, `runs/list`, `runs/cancel`
//! and `runs/get-output`. No code runs: a run goes PENDING → RUNNING → TERMINATED `SUCCESS`
//! by time (the compute transition time for each step), or TERMINATING → TERMINATED
//! `CANCELED` after a cancel, and its messages and output say that nothing ran. An unknown or
//! invisible run is a 400 "Run … does not exist.", which both SDKs map to their not-found error.

use super::{legacy_not_found, required};
use crate::AppState;
use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use patchbay_core::compute::run::{
    LifeCycleState, MAX_IDEMPOTENCY_TOKEN_CHARS, NO_CODE_RUNS, Observed, ResultState,
};
use patchbay_core::time::now_millis;
use patchbay_store::{NewRun, RunFilter, RunRecord};
use serde::Deserialize;
use serde_json::{Map, Value, json};

pub(super) fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for version in ["2.0", "2.1", "2.2"] {
        let base = format!("/api/{version}/jobs");
        router = router
            .route(&format!("{base}/run-now"), post(run_now))
            .route(&format!("{base}/runs/get"), get(get_run))
            .route(&format!("{base}/runs/list"), get(list_runs))
            .route(&format!("{base}/runs/cancel"), post(cancel_run))
            .route(&format!("{base}/runs/get-output"), get(get_output));
    }
    router
}

/// Default and largest `limit` of `runs/list`.
const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 25;

/// Parameters of `run-now` whose values are objects of strings.
const MAP_PARAMETERS: [&str; 5] = [
    "job_parameters",
    "notebook_params",
    "python_named_params",
    "sql_params",
    "pipeline_params",
];
/// Parameters of `run-now` whose values are lists of strings.
const LIST_PARAMETERS: [&str; 4] = [
    "python_params",
    "jar_params",
    "spark_submit_params",
    "dbt_commands",
];

/// An id as clients send it: a JSON number (SDKs) or a decimal string.
fn id_of(value: Option<Value>, field: &str) -> ApiResult<i64> {
    match required(value.filter(|v| !v.is_null()), field)? {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| ApiError::bad_request(format!("{field} must be an integer, not {n}"))),
        Value::String(s) => parse_id(&s, field),
        other => Err(ApiError::bad_request(format!(
            "{field} must be a number, not {other}"
        ))),
    }
}

fn parse_id(s: &str, field: &str) -> ApiResult<i64> {
    s.trim()
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{field} must be a number, not '{s}'")))
}

fn strings_only<'a>(field: &str, mut values: impl Iterator<Item = &'a Value>) -> ApiResult<()> {
    match values.find(|v| !v.is_string()) {
        Some(v) => Err(ApiError::bad_request(format!(
            "{field} must hold strings only, not {v}"
        ))),
        None => Ok(()),
    }
}

/// Reads a `run-now` body: the job, the idempotency token, `only`, and the parameters kept as
/// sent once their shapes are checked.
fn new_run(mut body: Map<String, Value>) -> ApiResult<(i64, NewRun)> {
    let job_id = id_of(body.remove("job_id"), "job_id")?;
    let idempotency_token = match body.remove("idempotency_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if t.chars().count() <= MAX_IDEMPOTENCY_TOKEN_CHARS => Some(t),
        Some(Value::String(_)) => {
            return Err(ApiError::bad_request(format!(
                "idempotency_token must be at most {MAX_IDEMPOTENCY_TOKEN_CHARS} characters"
            )));
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "idempotency_token must be a string, not {other}"
            )));
        }
    };
    let only = match body.remove("only") {
        None | Some(Value::Null) => None,
        Some(Value::Array(keys)) => {
            strings_only("only", keys.iter())?;
            Some(
                keys.iter()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect(),
            )
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "only must be a list of task keys, not {other}"
            )));
        }
    };
    for field in MAP_PARAMETERS {
        match body.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => strings_only(field, map.values())?,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "{field} must be an object of strings, not {other}"
                )));
            }
        }
    }
    for field in LIST_PARAMETERS {
        match body.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => strings_only(field, list.iter())?,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "{field} must be a list of strings, not {other}"
                )));
            }
        }
    }
    body.retain(|_, v| !v.is_null());
    Ok((
        job_id,
        NewRun {
            parameters: body,
            idempotency_token,
            only,
        },
    ))
}

/// `state` (the Jobs API's run state) and `status` (its newer form) of a run.
fn states(o: &Observed) -> (Value, Value) {
    let mut state = json!({
        "life_cycle_state": o.life_cycle.as_str(),
        "state_message": o.message,
        "user_cancelled_or_timedout": o.canceled(),
    });
    if let Some(result) = o.result
        && o.life_cycle == LifeCycleState::Terminated
    {
        state["result_state"] = json!(result.as_str());
    }
    let v2 = match o.life_cycle {
        LifeCycleState::Skipped => "TERMINATED",
        other => other.as_str(),
    };
    let mut status = json!({"state": v2});
    let details = match (o.life_cycle, o.result) {
        (LifeCycleState::Skipped, _) => Some(("MAX_CONCURRENT_RUNS_EXCEEDED", "CLIENT_ERROR")),
        (LifeCycleState::Terminated, Some(ResultState::Canceled)) => {
            Some(("USER_CANCELED", "SUCCESS"))
        }
        (LifeCycleState::Terminated, _) => Some(("SUCCESS", "SUCCESS")),
        _ => None,
    };
    if let Some((code, kind)) = details {
        status["termination_details"] = json!({"code": code, "type": kind, "message": o.message});
    }
    (state, status)
}

/// The timing and state fields every run and task run has.
fn run_fields(run: &RunRecord, o: &Observed, into: &mut Map<String, Value>) {
    let (state, status) = states(o);
    let end = o.end_time.unwrap_or(0);
    into.insert("run_id".into(), json!(run.run_id));
    into.insert("attempt_number".into(), json!(0));
    into.insert("state".into(), state);
    into.insert("status".into(), status);
    into.insert("start_time".into(), json!(run.start_time));
    into.insert("setup_duration".into(), json!(o.setup_duration));
    into.insert("execution_duration".into(), json!(o.execution_duration));
    into.insert("cleanup_duration".into(), json!(o.cleanup_duration));
    into.insert("end_time".into(), json!(end));
    into.insert(
        "run_duration".into(),
        json!(if end > 0 { end - run.start_time } else { 0 }),
    );
}

/// A task run as it appears in its job run's `tasks`: the task's settings and its run.
fn task_json(task: &RunRecord, o: &Observed) -> Value {
    let mut v = task.spec.clone();
    run_fields(task, o, &mut v);
    Value::Object(v)
}

/// A run as `runs/get` answers it (`runs/list` leaves out the tasks unless asked).
fn run_json(run: &RunRecord, delay: i64, with_tasks: bool) -> Value {
    let now = now_millis();
    let o = run.state_at(now, delay);
    if run.parent_id.is_some() {
        // A task run read on its own.
        let mut v = Map::new();
        v.insert("job_id".into(), json!(run.job_id));
        v.insert("run_name".into(), json!(run.run_name));
        v.insert("creator_user_name".into(), json!(run.creator_name));
        v.insert("run_type".into(), json!("JOB_RUN"));
        v.insert("tasks".into(), json!([task_json(run, &o)]));
        run_fields(run, &o, &mut v);
        return Value::Object(v);
    }
    let mut v = Map::new();
    v.insert("job_id".into(), json!(run.job_id));
    v.insert("number_in_job".into(), json!(run.run_id));
    v.insert("original_attempt_run_id".into(), json!(run.run_id));
    v.insert("creator_user_name".into(), json!(run.creator_name));
    v.insert("run_name".into(), json!(run.run_name));
    v.insert("run_type".into(), json!("JOB_RUN"));
    v.insert("trigger".into(), json!("ONE_TIME"));
    v.insert("format".into(), json!("MULTI_TASK"));
    v.insert("has_more".into(), json!(false));
    run_fields(run, &o, &mut v);
    if let Some(params) = run.spec.get("job_parameters") {
        v.insert("job_parameters".into(), params.clone());
    }
    if let Some(Value::Object(overrides)) = run.spec.get("overriding_parameters")
        && !overrides.is_empty()
    {
        v.insert(
            "overriding_parameters".into(),
            Value::Object(overrides.clone()),
        );
    }
    if with_tasks {
        let tasks: Vec<Value> = run
            .tasks
            .iter()
            .map(|t| task_json(t, &t.state_at(now, delay)))
            .collect();
        v.insert("tasks".into(), json!(tasks));
    }
    Value::Object(v)
}

async fn run_now(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let (job_id, request) = new_run(body)?;
    let run = state
        .store
        .run_now(
            &caller,
            job_id,
            &request,
            state.settings().compute_transition_millis,
        )
        .await
        .map_err(legacy_not_found)?;
    tracing::info!(job_id, run_id = run.run_id, phase = %run.phase, "job run started");
    Ok(Json(
        json!({"run_id": run.run_id, "number_in_job": run.run_id}),
    ))
}

#[derive(Debug, Deserialize)]
struct RunIdParams {
    run_id: Option<String>,
}

fn run_id_param(params: RunIdParams) -> ApiResult<i64> {
    let id = required(params.run_id.filter(|s| !s.is_empty()), "run_id")?;
    parse_id(&id, "run_id")
}

async fn get_run(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Params(params): Params<RunIdParams>,
) -> ApiResult<Json<Value>> {
    let id = run_id_param(params)?;
    let run = state
        .store
        .job_run(&caller, id)
        .await
        .map_err(legacy_not_found)?;
    Ok(Json(run_json(
        &run,
        state.settings().compute_transition_millis,
        true,
    )))
}

async fn get_output(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Params(params): Params<RunIdParams>,
) -> ApiResult<Json<Value>> {
    let id = run_id_param(params)?;
    let run = state
        .store
        .job_run(&caller, id)
        .await
        .map_err(legacy_not_found)?;
    if !run.tasks.is_empty() {
        return Err(ApiError::bad_request(
            "Retrieving the output of runs with multiple tasks is not supported. Please retrieve \
             the output of each individual task run instead.",
        ));
    }
    let delay = state.settings().compute_transition_millis;
    let mut output = json!({"metadata": run_json(&run, delay, true)});
    let ended = run.state_at(now_millis(), delay).life_cycle == LifeCycleState::Terminated;
    let settings = &run.spec;
    if settings.contains_key("notebook_task") || run.parent_id.is_none() {
        // A notebook's exit value; it ran nothing, so there is none.
        output["notebook_output"] = json!({});
    } else if settings.contains_key("sql_task") {
        output["sql_output"] = json!({});
    } else {
        output["logs"] = json!("");
        output["logs_truncated"] = json!(false);
    }
    if ended {
        output["info"] = json!(format!("{NO_CODE_RUNS}: this run produced no output."));
    }
    Ok(Json(output))
}

#[derive(Debug, Deserialize)]
struct ListParams {
    job_id: Option<String>,
    active_only: Option<String>,
    completed_only: Option<String>,
    expand_tasks: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
    page_token: Option<String>,
    run_type: Option<String>,
    start_time_from: Option<String>,
    start_time_to: Option<String>,
}

fn flag(value: Option<&str>, field: &str) -> ApiResult<bool> {
    match value {
        None | Some("") => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(ApiError::bad_request(format!(
            "{field} must be true or false, not '{v}'"
        ))),
    }
}

fn number(value: Option<&str>, field: &str) -> ApiResult<Option<i64>> {
    value
        .filter(|v| !v.is_empty())
        .map(|v| parse_id(v, field))
        .transpose()
}

async fn list_runs(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<Value>> {
    let active_only = flag(params.active_only.as_deref(), "active_only")?;
    let completed_only = flag(params.completed_only.as_deref(), "completed_only")?;
    if active_only && completed_only {
        return Err(ApiError::bad_request(
            "active_only and completed_only cannot both be true",
        ));
    }
    let expand = flag(params.expand_tasks.as_deref(), "expand_tasks")?;
    let limit = match number(params.limit.as_deref(), "limit")? {
        None => DEFAULT_LIMIT,
        Some(0) => MAX_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "limit must be between 1 and {MAX_LIMIT}, not {n}"
            )));
        }
    };
    // Our page token is the offset of the next page, as for jobs/list.
    let offset = match params.page_token.as_deref().filter(|t| !t.is_empty()) {
        Some(token) => token
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ApiError::bad_request(format!("Invalid page_token '{token}'")))?,
        None => number(params.offset.as_deref(), "offset")?.unwrap_or(0),
    };
    if offset < 0 {
        return Err(ApiError::bad_request(format!(
            "offset must not be negative, not {offset}"
        )));
    }
    let job_only = match params.run_type.as_deref().filter(|t| !t.is_empty()) {
        None | Some("JOB_RUN") => true,
        Some("WORKFLOW_RUN" | "SUBMIT_RUN") => false,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "run_type must be JOB_RUN, WORKFLOW_RUN or SUBMIT_RUN, not '{other}'"
            )));
        }
    };
    let by_state = active_only || completed_only;
    let filter = RunFilter {
        job_id: number(params.job_id.as_deref(), "job_id")?,
        start_time_from: number(params.start_time_from.as_deref(), "start_time_from")?,
        start_time_to: number(params.start_time_to.as_deref(), "start_time_to")?,
        // Without a state filter the database pages (one more, to know whether more remain);
        // states move by time, so a state filter reads every run and pages here.
        window: (!by_state).then_some((offset, limit + 1)),
    };
    let delay = state.settings().compute_transition_millis;
    let now = now_millis();
    let mut all: Vec<RunRecord> = if job_only {
        state.store.list_runs(&caller, &filter).await?
    } else {
        Vec::new()
    };
    let limit = usize::try_from(limit).unwrap_or(0);
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let (mut page, has_more): (Vec<RunRecord>, bool) = if by_state {
        all.retain(|r| {
            let o = r.state_at(now, delay);
            (!active_only || o.is_active()) && (!completed_only || !o.is_active())
        });
        let start = offset.min(all.len());
        let end = start.saturating_add(limit).min(all.len());
        let more = end < all.len();
        (all.drain(start..end).collect(), more)
    } else {
        let more = all.len() > limit;
        all.truncate(limit);
        (all, more)
    };
    if expand {
        state.store.attach_task_runs(&mut page).await?;
    }
    let runs: Vec<Value> = page.iter().map(|r| run_json(r, delay, expand)).collect();
    let (start, end) = (offset, offset.saturating_add(page.len()));
    let mut body = json!({"runs": runs, "has_more": has_more});
    if has_more {
        body["next_page_token"] = json!(end.to_string());
    }
    if start > 0 {
        body["prev_page_token"] = json!(start.saturating_sub(limit).to_string());
    }
    Ok(Json(body))
}

#[derive(Debug, Deserialize)]
struct CancelBody {
    run_id: Option<Value>,
}

async fn cancel_run(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    JsonBody(body): JsonBody<CancelBody>,
) -> ApiResult<Json<Value>> {
    let id = id_of(body.run_id, "run_id")?;
    state
        .store
        .cancel_run(&caller, id, state.settings().compute_transition_millis)
        .await
        .map_err(legacy_not_found)?;
    tracing::info!(run_id = id, "job run canceled");
    Ok(Json(json!({})))
}
