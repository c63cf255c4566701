//! Jobs under `/api/2.2/jobs` (the SDKs), `/api/2.1/jobs` and `/api/2.0/jobs` (Terraform): the
//! job records and their settings; nothing runs. An unknown or invisible job is a 400 "Job …
//! does not exist.", which both SDKs turn into their not-found error.

use super::{SentId, legacy_not_found, required};
use crate::AppState;
use crate::auth::Authenticated;
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::permissions::{AccessControlRequest, resolve_grants};
use crate::response::{Empty, empty};
use axum::Json;
use axum::Router;
use axum::routing::{get, post};
use patchbay_core::JobId;
use patchbay_core::compute::ObjectKind;
use patchbay_store::JobRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub(super) fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for version in ["2.0", "2.1", "2.2"] {
        let base = format!("/api/{version}/jobs");
        router = router
            .route(&format!("{base}/create"), post(create))
            .route(&format!("{base}/get"), get(get_one))
            .route(&format!("{base}/list"), get(list))
            .route(&format!("{base}/update"), post(update))
            .route(&format!("{base}/reset"), post(reset))
            .route(&format!("{base}/delete"), post(delete_one));
    }
    router
}

/// Default and largest `limit` of `jobs/list`.
const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;

#[derive(Debug, Deserialize)]
struct JobIdBody {
    job_id: Option<SentId>,
}

#[derive(Debug, Deserialize)]
struct ResetBody {
    job_id: Option<SentId>,
    new_settings: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
struct UpdateBody {
    job_id: Option<SentId>,
    new_settings: Option<Map<String, Value>>,
    fields_to_remove: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
struct GetParams {
    job_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ListParams {
    limit: Option<i64>,
    offset: Option<i64>,
    name: Option<String>,
    expand_tasks: Option<bool>,
    page_token: Option<String>,
}

/// Who a job runs as: its `run_as` setting, else its creator.
fn run_as(job: &JobRecord) -> String {
    job.settings
        .get("run_as")
        .and_then(|r| r.get("user_name").or_else(|| r.get("service_principal_name")))
        .and_then(Value::as_str)
        .unwrap_or(&job.creator_name)
        .to_owned()
}

/// A job as `jobs/get` answers it; `jobs/list` leaves out tasks and job clusters unless asked.
#[derive(Debug, Serialize)]
struct JobInfo {
    created_time: i64,
    creator_user_name: String,
    job_id: JobId,
    run_as_owner: bool,
    run_as_user_name: String,
    settings: Map<String, Value>,
}

impl JobInfo {
    fn of(job: JobRecord, expand_tasks: bool) -> JobInfo {
        let run_as = run_as(&job);
        let mut settings = job.settings;
        if !expand_tasks {
            settings.remove("tasks");
            settings.remove("job_clusters");
        }
        JobInfo {
            created_time: job.created_time,
            run_as_owner: run_as == job.creator_name,
            creator_user_name: job.creator_name,
            job_id: job.job_id,
            run_as_user_name: run_as,
            settings,
        }
    }
}

#[derive(Debug, Serialize)]
struct Created {
    job_id: JobId,
}

#[derive(Debug, Serialize)]
struct JobList {
    has_more: bool,
    jobs: Vec<JobInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_page_token: Option<String>,
}

async fn create(
    Authenticated { state, caller }: Authenticated,
    JsonBody(mut settings): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Created>> {
    let acl = match settings.remove("access_control_list") {
        None | Some(Value::Null) => Vec::new(),
        Some(list) => serde_json::from_value::<Vec<AccessControlRequest>>(list)
            .map_err(|e| ApiError::malformed(format!("Invalid access_control_list: {e}")))?,
    };
    let grants = resolve_grants(&state, caller.workspace_id, ObjectKind::Job, &acl).await?;
    let job = state.store.create_job(&caller, settings, &grants).await?;
    tracing::info!(job_id = %job.job_id, "job created");
    Ok(Json(Created { job_id: job.job_id }))
}

async fn get_one(
    Authenticated { state, caller }: Authenticated,
    Params(params): Params<GetParams>,
) -> ApiResult<Json<JobInfo>> {
    let id = SentId::read(SentId::query(params.job_id), "job_id")?;
    let job = state.store.job(&caller, id).await.map_err(legacy_not_found)?;
    Ok(Json(JobInfo::of(job, true)))
}

async fn list(
    Authenticated { state, caller }: Authenticated,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<JobList>> {
    let limit = match params.limit {
        None | Some(0) => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "limit must be between 1 and {MAX_LIMIT}, not {n}"
            )));
        }
    };
    // Our page token is the offset of the next page.
    let offset = match params.page_token.filter(|t| !t.is_empty()) {
        Some(token) => token
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ApiError::bad_request(format!("Invalid page_token '{token}'")))?,
        None => params.offset.unwrap_or(0),
    };
    if offset < 0 {
        return Err(ApiError::bad_request(format!("offset must not be negative, not {offset}")));
    }
    let name = params.name.filter(|n| !n.is_empty());
    let all = state.store.list_jobs(&caller, name.as_deref()).await?;
    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(all.len());
    let end = start.saturating_add(usize::try_from(limit).unwrap_or(0)).min(all.len());
    let expand = params.expand_tasks.unwrap_or(false);
    let has_more = end < all.len();
    let jobs =
        all.into_iter().skip(start).take(end - start).map(|j| JobInfo::of(j, expand)).collect();
    Ok(Json(JobList { has_more, jobs, next_page_token: has_more.then(|| end.to_string()) }))
}

async fn update(
    Authenticated { state, caller }: Authenticated,
    JsonBody(body): JsonBody<UpdateBody>,
) -> ApiResult<Json<Empty>> {
    let id = SentId::read(body.job_id, "job_id")?;
    let remove = body.fields_to_remove.unwrap_or_default();
    state
        .store
        .change_job(&caller, id, &body.new_settings.unwrap_or_default(), Some(&remove))
        .await
        .map_err(legacy_not_found)?;
    tracing::info!(job_id = %id, "job updated");
    Ok(empty())
}

async fn reset(
    Authenticated { state, caller }: Authenticated,
    JsonBody(body): JsonBody<ResetBody>,
) -> ApiResult<Json<Empty>> {
    let id = SentId::read(body.job_id, "job_id")?;
    let settings = required(body.new_settings, "new_settings")?;
    state.store.change_job(&caller, id, &settings, None).await.map_err(legacy_not_found)?;
    tracing::info!(job_id = %id, "job reset");
    Ok(empty())
}

async fn delete_one(
    Authenticated { state, caller }: Authenticated,
    JsonBody(body): JsonBody<JobIdBody>,
) -> ApiResult<Json<Empty>> {
    let id = SentId::read(body.job_id, "job_id")?;
    state.store.delete_job(&caller, id).await.map_err(legacy_not_found)?;
    tracing::info!(job_id = %id, "job deleted");
    Ok(empty())
}
