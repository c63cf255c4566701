//! Job runs (`jobs/run-now`, `jobs/runs/*`). A run of a job has one task run per task of the
//! job's settings (none for a job in the 2.0 single-task format); both are rows of `job_runs`
//! and share the state the job run is in. Who may see a run is who may see its job (CAN_VIEW);
//! running and canceling need CAN_MANAGE_RUN. Runs are deleted with their job.

use crate::compute::settings_from_json;
use crate::compute::{push_visible, visibility_prefix};
use crate::sql::Sql;
use crate::{Missing, Rejected, Result, Store, StoreError};
use patchbay_core::JobId;
use patchbay_core::RunId;
use patchbay_core::access::Caller;
use patchbay_core::compute::run::{self, RunPhase};
use patchbay_core::compute::{Action, ObjectKind, job};
use patchbay_core::time::EpochMillis;
use patchbay_core::{PrincipalId, WorkspaceId};
use serde_json::{Map, Value};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

/// A stored run: a job run (with its task runs in `tasks`) or one task run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub run_id: RunId,
    pub workspace_id: WorkspaceId,
    pub job_id: JobId,
    /// The job run of a task run.
    pub parent_id: Option<RunId>,
    pub task_key: Option<String>,
    pub run_name: String,
    /// A task run: the task's settings when it started. A job run: its `job_parameters` and
    /// `overriding_parameters` (the other parameters `run-now` passed).
    pub spec: Map<String, Value>,
    pub creator_name: String,
    pub phase: RunPhase,
    pub phase_since: EpochMillis,
    pub start_time: EpochMillis,
    /// The task runs of a job run, in the order of the job's tasks (empty for a task run and
    /// when not asked for).
    pub tasks: Vec<RunRecord>,
}

impl RunRecord {
    /// The state at `now`, transitions taking `delay_millis`.
    pub fn state_at(&self, now: EpochMillis, delay_millis: i64) -> run::Observed {
        self.phase.at(self.start_time, self.phase_since, now, delay_millis)
    }
}

/// What `jobs/run-now` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewRun {
    /// The parameters it passes (`job_parameters`, `notebook_params`, …), as sent.
    pub parameters: Map<String, Value>,
    /// A second run-now with the same token answers the run the first one made.
    pub idempotency_token: Option<String>,
    /// Run only these tasks (`only`).
    pub only: Option<Vec<String>>,
}

/// Which runs `jobs/runs/list` wants.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    pub job_id: Option<JobId>,
    pub start_time_from: Option<EpochMillis>,
    pub start_time_to: Option<EpochMillis>,
    /// Only this window of the list, (offset, count), when the caller needs no more.
    pub window: Option<(i64, i64)>,
}

const RUN_COLUMNS: &str = "r.id, r.workspace_id, r.job_id, r.parent_id, r.task_key, r.position, \
     r.run_name, r.spec, r.creator_name, r.phase, r.phase_since, r.start_time";

fn run_not_found(run_id: RunId) -> StoreError {
    StoreError::Missing(Missing::Run { id: run_id })
}

impl Store {
    /// Starts a run of a job the caller may run (CAN_MANAGE_RUN): PENDING, or SKIPPED when the
    /// job already has `max_concurrent_runs` active runs. `delay_millis` is the transition time
    /// that decides which of the job's runs are still active.
    pub async fn run_now(
        &self,
        caller: &Caller,
        job_id: JobId,
        request: &NewRun,
        delay_millis: i64,
    ) -> Result<RunRecord> {
        let kind = ObjectKind::Job;
        let id = job_id.to_string();
        let mut tx = self.begin_object_write(caller, kind, &id, Action::Start).await?;
        if let Some(token) = &request.idempotency_token {
            let mut sql =
                Sql::new(&format!("SELECT {RUN_COLUMNS} FROM job_runs r WHERE r.job_id = "));
            sql.int(job_id.get())
                .push(" AND r.parent_id IS NULL AND r.idempotency_token = ")
                .text(token.as_str());
            if let Some(row) = sql.query().fetch_optional(&mut *tx).await? {
                let mut existing = run_from_row(&row)?;
                existing.tasks = task_runs(&mut tx, &[existing.run_id]).await?;
                tx.rollback().await?;
                return Ok(existing);
            }
        }
        let settings: String = sqlx::query("SELECT settings FROM jobs WHERE id = $1")
            .bind(job_id.get())
            .fetch_one(&mut *tx)
            .await?
            .try_get("settings")?;
        let settings = settings_from_json(&settings)?;
        let tasks: Vec<Map<String, Value>> = settings
            .get("tasks")
            .and_then(Value::as_array)
            .map(|t| t.iter().filter_map(|t| t.as_object().cloned()).collect())
            .unwrap_or_default();
        let key_of = |t: &Map<String, Value>| {
            t.get("task_key").and_then(Value::as_str).unwrap_or_default().to_owned()
        };
        let tasks: Vec<Map<String, Value>> = match &request.only {
            None => tasks,
            Some(only) => {
                if let Some(unknown) = only.iter().find(|k| !tasks.iter().any(|t| key_of(t) == **k))
                {
                    return Err(StoreError::Rejected(Rejected::UnknownTask {
                        task: unknown.to_string(),
                        job_id,
                    }));
                }
                tasks.into_iter().filter(|t| only.contains(&key_of(t))).collect()
            }
        };

        let now = self.creation_millis();
        let active = self.active_runs(&mut tx, job_id, now, delay_millis).await?;
        let max_concurrent =
            settings.get("max_concurrent_runs").and_then(Value::as_i64).unwrap_or(1);
        let phase = run::admit(active, max_concurrent);
        let run_name = job::name_of(&settings).to_owned();
        let mut overriding = request.parameters.clone();
        let job_parameters =
            overriding.remove("job_parameters").and_then(|v| v.as_object().cloned());
        let mut spec = Map::new();
        let resolved = job::run_parameters(&settings, job_parameters.as_ref());
        if !resolved.is_empty() {
            spec.insert("job_parameters".into(), Value::Array(resolved));
        }
        spec.insert("overriding_parameters".into(), Value::Object(overriding));
        let mut record = RunRecord {
            run_id: RunId::generate(),
            workspace_id: caller.workspace_id,
            job_id,
            parent_id: None,
            task_key: None,
            run_name: run_name.clone(),
            spec,
            creator_name: caller.name.clone(),
            phase,
            phase_since: now,
            start_time: now,
            tasks: Vec::new(),
        };
        insert_run(&mut tx, &record, 0, caller.principal_id, request.idempotency_token.as_deref())
            .await?;
        for (position, task) in (1..).zip(tasks) {
            let task_run = RunRecord {
                run_id: RunId::generate(),
                parent_id: Some(record.run_id),
                task_key: Some(key_of(&task)),
                run_name: run_name.clone(),
                spec: task,
                tasks: Vec::new(),
                ..record.clone()
            };
            insert_run(&mut tx, &task_run, position, caller.principal_id, None).await?;
            record.tasks.push(task_run);
        }
        tx.commit().await?;
        Ok(record)
    }

    /// How many runs of a job are active at `now`.
    async fn active_runs(
        &self,
        tx: &mut Transaction<'static, Any>,
        job_id: JobId,
        now: EpochMillis,
        delay_millis: i64,
    ) -> Result<usize> {
        let mut sql = Sql::new(&format!("SELECT {RUN_COLUMNS} FROM job_runs r WHERE r.job_id = "));
        sql.int(job_id.get())
            .push(" AND r.parent_id IS NULL AND r.phase <> ")
            .text(RunPhase::Skipped.as_str());
        let mut active = 0;
        for row in sql.query().fetch_all(&mut **tx).await? {
            if run_from_row(&row)?.state_at(now, delay_millis).is_active() {
                active += 1;
            }
        }
        Ok(active)
    }

    /// A job run (with its task runs) or a task run, if the caller may see its job.
    pub async fn job_run(&self, caller: &Caller, run_id: RunId) -> Result<RunRecord> {
        let mut tx = self.pool.begin().await?;
        let row = run_by_id(caller.workspace_id, run_id)
            .query()
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| run_not_found(run_id))?;
        let mut record = run_from_row(&row)?;
        tx.rollback().await?;
        self.begin_object_read(caller, ObjectKind::Job, &record.job_id.to_string())
            .await
            .map_err(|e| match e {
                e if e.is_not_found() => run_not_found(run_id),
                other => other,
            })?
            .rollback()
            .await?;
        if record.parent_id.is_none() {
            let mut tx = self.pool.begin().await?;
            record.tasks = task_runs(&mut tx, &[record.run_id]).await?;
            tx.rollback().await?;
        }
        Ok(record)
    }

    /// The job runs the caller may see (those of jobs it may view), newest first.
    pub async fn list_runs(&self, caller: &Caller, filter: &RunFilter) -> Result<Vec<RunRecord>> {
        let mut sql = visibility_prefix(caller);
        sql.push(&format!(
            "SELECT {RUN_COLUMNS} FROM job_runs r WHERE r.parent_id IS NULL AND r.workspace_id = "
        ))
        .int(caller.workspace_id.get());
        if let Some(job_id) = filter.job_id {
            sql.push(" AND r.job_id = ").int(job_id.get());
        }
        if let Some(from) = filter.start_time_from {
            sql.push(" AND r.start_time >= ").int(from);
        }
        if let Some(to) = filter.start_time_to {
            sql.push(" AND r.start_time <= ").int(to);
        }
        push_visible(&mut sql, caller, ObjectKind::Job, "r", "CAST(r.job_id AS TEXT)");
        sql.push(" ORDER BY r.start_time DESC, r.id DESC");
        if let Some((offset, count)) = filter.window {
            sql.push(" LIMIT ").int(count.max(0)).push(" OFFSET ").int(offset.max(0));
        }
        sql.query().fetch_all(&self.pool).await?.iter().map(run_from_row).collect()
    }

    /// Fills in the task runs of job runs the caller was allowed to list.
    pub async fn attach_task_runs(&self, runs: &mut [RunRecord]) -> Result<()> {
        if runs.is_empty() {
            return Ok(());
        }
        let ids: Vec<RunId> = runs.iter().map(|r| r.run_id).collect();
        let mut tx = self.pool.begin().await?;
        let tasks = task_runs(&mut tx, &ids).await?;
        tx.rollback().await?;
        for task in tasks {
            if let Some(parent) = runs.iter_mut().find(|r| Some(r.run_id) == task.parent_id) {
                parent.tasks.push(task);
            }
        }
        Ok(())
    }

    /// Cancels a run (CAN_MANAGE_RUN on its job): an active job run and its task runs become
    /// TERMINATING; a task run cancels the job run it belongs to. A run that has ended, or is
    /// being canceled, stays as it is.
    pub async fn cancel_run(
        &self,
        caller: &Caller,
        run_id: RunId,
        delay_millis: i64,
    ) -> Result<()> {
        let row = run_by_id(caller.workspace_id, run_id)
            .query()
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| run_not_found(run_id))?;
        let found = run_from_row(&row)?;
        let job = found.job_id.to_string();
        let mut tx = self
            .begin_object_write(caller, ObjectKind::Job, &job, Action::Stop)
            .await
            .map_err(|e| match e {
                e if e.is_not_found() => run_not_found(run_id),
                other => other,
            })?;
        let parent_id = found.parent_id.unwrap_or(found.run_id);
        // Read again under the write lock: another cancel may have come first.
        let mut sql = Sql::new(&format!("SELECT {RUN_COLUMNS} FROM job_runs r WHERE r.id = "));
        sql.int(parent_id.get()).push(self.lock_clause());
        let parent = match sql.query().fetch_optional(&mut *tx).await? {
            Some(row) => run_from_row(&row)?,
            None => return Err(run_not_found(run_id)),
        };
        let now = self.now_millis();
        if let Some(next) = run::cancel(&parent.state_at(now, delay_millis)) {
            sqlx::query(
                "UPDATE job_runs SET phase = $1, phase_since = $2 WHERE id = $3 OR parent_id = $3",
            )
            .bind(next.as_str())
            .bind(now)
            .bind(parent_id.get())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

async fn insert_run(
    tx: &mut Transaction<'static, Any>,
    run: &RunRecord,
    position: i64,
    creator_id: PrincipalId,
    idempotency_token: Option<&str>,
) -> Result<()> {
    let spec = Value::Object(run.spec.clone()).to_string();
    let mut sql = Sql::new(
        "INSERT INTO job_runs (id, workspace_id, job_id, parent_id, task_key, position, run_name, \
         spec, idempotency_token, creator_id, creator_name, phase, phase_since, start_time) VALUES (",
    );
    sql.list([
        run.run_id.into(),
        run.workspace_id.into(),
        run.job_id.into(),
        run.parent_id.into(),
        run.task_key.as_deref().into(),
        position.into(),
        run.run_name.as_str().into(),
        spec.into(),
        idempotency_token.into(),
        creator_id.into(),
        run.creator_name.as_str().into(),
        run.phase.as_str().into(),
        run.phase_since.into(),
        run.start_time.into(),
    ])
    .push(")");
    sql.query().execute(&mut **tx).await?;
    Ok(())
}

/// `SELECT` of one run of the workspace.
fn run_by_id(workspace_id: WorkspaceId, run_id: RunId) -> Sql {
    let mut sql =
        Sql::new(&format!("SELECT {RUN_COLUMNS} FROM job_runs r WHERE r.workspace_id = "));
    sql.int(workspace_id.get()).push(" AND r.id = ").int(run_id.get());
    sql
}

/// The task runs of some job runs, each job run's in the order they were made.
async fn task_runs(
    tx: &mut Transaction<'static, Any>,
    parents: &[RunId],
) -> Result<Vec<RunRecord>> {
    let mut sql = Sql::new(&format!("SELECT {RUN_COLUMNS} FROM job_runs r WHERE r.parent_id IN ("));
    sql.int_list(parents).push(") ORDER BY r.parent_id, r.position");
    sql.query().fetch_all(&mut **tx).await?.iter().map(run_from_row).collect()
}

fn run_from_row(row: &AnyRow) -> Result<RunRecord> {
    let phase: String = row.try_get("phase")?;
    let spec: String = row.try_get("spec")?;
    let ids: &dyn crate::read::Row = row;
    Ok(RunRecord {
        run_id: ids.get("id")?,
        workspace_id: ids.get("workspace_id")?,
        job_id: ids.get("job_id")?,
        parent_id: ids.get("parent_id")?,
        task_key: row.try_get("task_key")?,
        run_name: row.try_get("run_name")?,
        spec: serde_json::from_str(&spec)
            .map_err(|e| crate::compute::corrupt(format!("stored run spec: {e}")))?,
        creator_name: row.try_get("creator_name")?,
        phase: RunPhase::parse(&phase)
            .ok_or_else(|| crate::compute::corrupt(format!("unknown stored run phase {phase}")))?,
        phase_since: row.try_get("phase_since")?,
        start_time: row.try_get("start_time")?,
        tasks: Vec::new(),
    })
}
