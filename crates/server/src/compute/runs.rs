//! Job runs under `/api/2.{0,1,2}/jobs`: `run-now`, `runs/get`, `runs/list`, `runs/cancel`
//! and `runs/get-output`. No code runs: a run goes PENDING → RUNNING → TERMINATED `SUCCESS`
//! by time (the compute transition time for each step), or TERMINATING → TERMINATED
//! `CANCELED` after a cancel, and its messages and output say that nothing ran. An unknown or
//! invisible run is a 400 "Run … does not exist.", which both SDKs map to their not-found error.

use super::{SentId, legacy_not_found, parse_number};
use crate::AppState;
use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::response::{Empty, empty};
use axum::Json;
use axum::Router;
use axum::routing::{get, post};
use patchbay_core::JobId;
use patchbay_core::RunId;
use patchbay_core::access::Caller;
use patchbay_core::compute::run::{
    LifeCycleState, MAX_IDEMPOTENCY_TOKEN_CHARS, NO_CODE_RUNS, Observed, ResultState,
};
use patchbay_core::time::EpochMillis;
use patchbay_store::{NewRun, RunFilter, RunRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
const MAP_PARAMETERS: [&str; 5] =
    ["job_parameters", "notebook_params", "python_named_params", "sql_params", "pipeline_params"];
/// Parameters of `run-now` whose values are lists of strings.
const LIST_PARAMETERS: [&str; 4] =
    ["python_params", "jar_params", "spark_submit_params", "dbt_commands"];

fn strings_only<'a>(field: &str, mut values: impl Iterator<Item = &'a Value>) -> ApiResult<()> {
    match values.find(|v| !v.is_string()) {
        Some(v) => Err(ApiError::bad_request(format!("{field} must hold strings only, not {v}"))),
        None => Ok(()),
    }
}

/// Reads a `run-now` body: the job, the idempotency token, `only`, and the parameters kept as
/// sent once their shapes are checked.
fn new_run(mut body: Map<String, Value>) -> ApiResult<(JobId, NewRun)> {
    let job_id = SentId::read_value(body.remove("job_id"), "job_id")?;
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
            Some(keys.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect())
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "only must be a list of task keys, not {other}"
            )));
        }
    };
    let maps = MAP_PARAMETERS.map(|field| (field, true));
    let lists = LIST_PARAMETERS.map(|field| (field, false));
    for (field, is_map) in maps.into_iter().chain(lists) {
        match body.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) if is_map => strings_only(field, map.values())?,
            Some(Value::Array(list)) if !is_map => strings_only(field, list.iter())?,
            Some(other) => {
                let shape = if is_map { "an object" } else { "a list" };
                return Err(ApiError::bad_request(format!(
                    "{field} must be {shape} of strings, not {other}"
                )));
            }
        }
    }
    body.retain(|_, v| !v.is_null());
    Ok((job_id, NewRun { parameters: body, idempotency_token, only }))
}

/// The timing and state fields every run and task run has.
#[derive(Debug, Serialize)]
struct RunFields {
    attempt_number: i64,
    cleanup_duration: i64,
    end_time: i64,
    execution_duration: i64,
    run_duration: i64,
    run_id: RunId,
    setup_duration: i64,
    start_time: i64,
    state: RunState,
    status: RunStatus,
}

/// The names of [`RunFields`], which win over a task setting of the same name.
const RUN_FIELDS: [&str; 10] = [
    "attempt_number",
    "cleanup_duration",
    "end_time",
    "execution_duration",
    "run_duration",
    "run_id",
    "setup_duration",
    "start_time",
    "state",
    "status",
];

/// `state`: the Jobs API's run state.
#[derive(Debug, Serialize)]
struct RunState {
    life_cycle_state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    result_state: Option<&'static str>,
    state_message: &'static str,
    user_cancelled_or_timedout: bool,
}

/// `status`: the newer form of the run state.
#[derive(Debug, Serialize)]
struct RunStatus {
    state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    termination_details: Option<TerminationDetails>,
}

#[derive(Debug, Serialize)]
struct TerminationDetails {
    code: &'static str,
    message: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// A task run as it appears in its job run's `tasks`: the task's settings and its run.
#[derive(Debug, Serialize)]
struct TaskRun {
    #[serde(flatten)]
    settings: Map<String, Value>,
    #[serde(flatten)]
    run: RunFields,
}

/// A run as `runs/get` answers it (`runs/list` leaves out the tasks unless asked). A task run
/// read on its own has none of the job run's own fields and itself as its one task.
#[derive(Debug, Serialize)]
struct RunInfo {
    creator_user_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    format: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    has_more: Option<bool>,
    job_id: JobId,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_parameters: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    number_in_job: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    original_attempt_run_id: Option<RunId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    overriding_parameters: Option<Map<String, Value>>,
    #[serde(flatten)]
    run: RunFields,
    run_name: String,
    run_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tasks: Option<Vec<TaskRun>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct Started {
    number_in_job: i64,
    run_id: RunId,
}

#[derive(Debug, Serialize)]
struct RunList {
    has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prev_page_token: Option<String>,
    runs: Vec<RunInfo>,
}

/// `runs/get-output`: what a run that ran nothing produced, by the kind of its task.
#[derive(Debug, Serialize)]
struct RunOutput {
    #[serde(skip_serializing_if = "Option::is_none")]
    info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logs: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logs_truncated: Option<bool>,
    metadata: RunInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    notebook_output: Option<Empty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sql_output: Option<Empty>,
}

impl RunFields {
    fn of(run: &RunRecord, o: &Observed) -> RunFields {
        let result_state = o
            .result
            .filter(|_| o.life_cycle == LifeCycleState::Terminated)
            .map(ResultState::as_str);
        let v2 = match o.life_cycle {
            LifeCycleState::Skipped => "TERMINATED",
            other => other.as_str(),
        };
        let details = match (o.life_cycle, o.result) {
            (LifeCycleState::Skipped, _) => Some(("MAX_CONCURRENT_RUNS_EXCEEDED", "CLIENT_ERROR")),
            (LifeCycleState::Terminated, Some(ResultState::Canceled)) => {
                Some(("USER_CANCELED", "SUCCESS"))
            }
            (LifeCycleState::Terminated, _) => Some(("SUCCESS", "SUCCESS")),
            _ => None,
        };
        let end = o.end_time.unwrap_or(0);
        RunFields {
            attempt_number: 0,
            cleanup_duration: o.cleanup_duration,
            end_time: end,
            execution_duration: o.execution_duration,
            run_duration: if end > 0 { end - run.start_time } else { 0 },
            run_id: run.run_id,
            setup_duration: o.setup_duration,
            start_time: run.start_time,
            state: RunState {
                life_cycle_state: o.life_cycle.as_str(),
                result_state,
                state_message: o.message,
                user_cancelled_or_timedout: o.canceled(),
            },
            status: RunStatus {
                state: v2,
                termination_details: details.map(|(code, kind)| TerminationDetails {
                    code,
                    message: o.message,
                    kind,
                }),
            },
        }
    }
}

impl TaskRun {
    fn of(task: &RunRecord, o: &Observed) -> TaskRun {
        let mut settings = task.spec.clone();
        settings.retain(|key, _| !RUN_FIELDS.contains(&key.as_str()));
        TaskRun { settings, run: RunFields::of(task, o) }
    }
}

impl RunInfo {
    fn of(run: &RunRecord, now: EpochMillis, delay: i64, with_tasks: bool) -> RunInfo {
        let o = run.state_at(now, delay);
        if run.parent_id.is_some() {
            // A task run read on its own.
            return RunInfo {
                creator_user_name: run.creator_name.clone(),
                format: None,
                has_more: None,
                job_id: run.job_id,
                job_parameters: None,
                number_in_job: None,
                original_attempt_run_id: None,
                overriding_parameters: None,
                run: RunFields::of(run, &o),
                run_name: run.run_name.clone(),
                run_type: "JOB_RUN",
                tasks: Some(vec![TaskRun::of(run, &o)]),
                trigger: None,
            };
        }
        let overriding_parameters = match run.spec.get("overriding_parameters") {
            Some(Value::Object(overrides)) if !overrides.is_empty() => Some(overrides.clone()),
            _ => None,
        };
        let tasks = with_tasks
            .then(|| run.tasks.iter().map(|t| TaskRun::of(t, &t.state_at(now, delay))).collect());
        RunInfo {
            creator_user_name: run.creator_name.clone(),
            format: Some("MULTI_TASK"),
            has_more: Some(false),
            job_id: run.job_id,
            job_parameters: run.spec.get("job_parameters").cloned(),
            number_in_job: Some(run.run_id.get()),
            original_attempt_run_id: Some(run.run_id),
            overriding_parameters,
            run: RunFields::of(run, &o),
            run_name: run.run_name.clone(),
            run_type: "JOB_RUN",
            tasks,
            trigger: Some("ONE_TIME"),
        }
    }
}

async fn run_now(
    Authenticated { state, caller }: Authenticated,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Started>> {
    let (job_id, request) = new_run(body)?;
    let run = state
        .store
        .run_now(&caller, job_id, &request, state.settings().compute_transition_millis)
        .await
        .map_err(legacy_not_found)?;
    tracing::info!(%job_id, run_id = %run.run_id, phase = %run.phase, "job run started");
    Ok(Json(Started { number_in_job: run.run_id.get(), run_id: run.run_id }))
}

#[derive(Debug, Deserialize)]
struct RunIdParams {
    run_id: Option<String>,
}

/// The run a `runs/get` or `runs/get-output` names by `run_id`, if the caller may see it.
async fn named_run(state: &AppState, caller: &Caller, params: RunIdParams) -> ApiResult<RunRecord> {
    let id = SentId::read(SentId::query(params.run_id), "run_id")?;
    state.store.job_run(caller, id).await.map_err(legacy_not_found)
}

async fn get_run(
    Authenticated { state, caller }: Authenticated,
    Params(params): Params<RunIdParams>,
) -> ApiResult<Json<RunInfo>> {
    let run = named_run(&state, &caller, params).await?;
    Ok(Json(RunInfo::of(
        &run,
        state.now_millis(),
        state.settings().compute_transition_millis,
        true,
    )))
}

async fn get_output(
    Authenticated { state, caller }: Authenticated,
    Params(params): Params<RunIdParams>,
) -> ApiResult<Json<RunOutput>> {
    let run = named_run(&state, &caller, params).await?;
    if !run.tasks.is_empty() {
        return Err(ApiError::bad_request(
            "Retrieving the output of runs with multiple tasks is not supported. Please retrieve \
             the output of each individual task run instead.",
        ));
    }
    let delay = state.settings().compute_transition_millis;
    let now = state.now_millis();
    let ended = run.state_at(now, delay).life_cycle == LifeCycleState::Terminated;
    let settings = &run.spec;
    let mut output = RunOutput {
        info: ended.then(|| format!("{NO_CODE_RUNS}: this run produced no output.")),
        logs: None,
        logs_truncated: None,
        metadata: RunInfo::of(&run, now, delay, true),
        notebook_output: None,
        sql_output: None,
    };
    if settings.contains_key("notebook_task") || run.parent_id.is_none() {
        // A notebook's exit value; it ran nothing, so there is none.
        output.notebook_output = Some(Empty {});
    } else if settings.contains_key("sql_task") {
        output.sql_output = Some(Empty {});
    } else {
        output.logs = Some("");
        output.logs_truncated = Some(false);
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
        Some(v) => Err(ApiError::bad_request(format!("{field} must be true or false, not '{v}'"))),
    }
}

fn number(value: Option<&str>, field: &str) -> ApiResult<Option<i64>> {
    value.filter(|v| !v.is_empty()).map(|v| parse_number(v, field)).transpose()
}

async fn list_runs(
    Authenticated { state, caller }: Authenticated,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<RunList>> {
    let active_only = flag(params.active_only.as_deref(), "active_only")?;
    let completed_only = flag(params.completed_only.as_deref(), "completed_only")?;
    if active_only && completed_only {
        return Err(ApiError::bad_request("active_only and completed_only cannot both be true"));
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
        return Err(ApiError::bad_request(format!("offset must not be negative, not {offset}")));
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
        job_id: (number(params.job_id.as_deref(), "job_id")?).map(JobId::new),
        start_time_from: number(params.start_time_from.as_deref(), "start_time_from")?,
        start_time_to: number(params.start_time_to.as_deref(), "start_time_to")?,
        // Without a state filter the database pages (one more, to know whether more remain);
        // states move by time, so a state filter reads every run and pages here.
        window: (!by_state).then_some((offset, limit + 1)),
    };
    let delay = state.settings().compute_transition_millis;
    let now = state.now_millis();
    let mut all: Vec<RunRecord> =
        if job_only { state.store.list_runs(&caller, &filter).await? } else { Vec::new() };
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
    let (start, end) = (offset, offset.saturating_add(page.len()));
    Ok(Json(RunList {
        has_more,
        next_page_token: has_more.then(|| end.to_string()),
        prev_page_token: (start > 0).then(|| start.saturating_sub(limit).to_string()),
        runs: page.iter().map(|r| RunInfo::of(r, now, delay, expand)).collect(),
    }))
}

#[derive(Debug, Deserialize)]
struct CancelBody {
    run_id: Option<SentId>,
}

async fn cancel_run(
    Authenticated { state, caller }: Authenticated,
    JsonBody(body): JsonBody<CancelBody>,
) -> ApiResult<Json<Empty>> {
    let id: RunId = SentId::read(body.run_id, "run_id")?;
    state
        .store
        .cancel_run(&caller, id, state.settings().compute_transition_millis)
        .await
        .map_err(legacy_not_found)?;
    tracing::info!(run_id = %id, "job run canceled");
    Ok(empty())
}
