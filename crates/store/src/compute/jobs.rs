//! Jobs: the record, its columns, and what only jobs have — numeric ids, free-form settings
//! with defaults, an ACL given at create, a name filter on list.

use super::{Kind, authorize_create, corrupt, object};
use crate::permissions::write_acl;
use crate::{Rejected, Result, Store, StoreError};
use patchbay_core::JobId;
use patchbay_core::access::Caller;
use patchbay_core::compute::{AclGrant, Action, ObjectKind, job, plan_acl};
use patchbay_core::time::EpochMillis;
use patchbay_core::{PrincipalId, WorkspaceId};
use serde_json::{Map, Value};
use sqlx::{Row, query};

/// A stored job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRecord {
    pub job_id: JobId,
    pub workspace_id: WorkspaceId,
    /// The settings as the API shows them, defaults filled in.
    pub settings: Map<String, Value>,
    pub creator_id: PrincipalId,
    pub creator_name: String,
    pub created_time: EpochMillis,
    pub updated_at: EpochMillis,
}

/// The [`Kind`] of jobs.
pub(crate) struct Jobs;

impl Kind for Jobs {
    const KIND: ObjectKind = ObjectKind::Job;
    const COLUMNS: &'static str = "t.id, t.workspace_id, t.settings, t.creator_id, \
         t.creator_name, t.created_at, t.updated_at";
    type Record = JobRecord;

    fn from_row(row: &dyn crate::read::Row) -> Result<JobRecord> {
        Ok(JobRecord {
            job_id: row.get("id")?,
            workspace_id: row.get("workspace_id")?,
            settings: settings_from_json(&row.get::<String>("settings")?)?,
            creator_id: row.get("creator_id")?,
            creator_name: row.get("creator_name")?,
            created_time: row.get("created_at")?,
            updated_at: row.get("updated_at")?,
        })
    }
}

impl Store {
    /// Creates a job owned by the caller, who needs `workspace-access` (or admin). `acl` is
    /// the create request's `access_control_list`, applied like a PATCH over the owner.
    pub async fn create_job(
        &self,
        caller: &Caller,
        settings: Map<String, Value>,
        acl: &[AclGrant],
    ) -> Result<JobRecord> {
        job::validate(&settings).map_err(|reason| StoreError::Rejected(Rejected::Rule(reason)))?;
        let settings = job::with_defaults(settings);
        let kind = ObjectKind::Job;
        let mut tx = self.begin_write().await?;
        authorize_create(&mut tx, caller, kind).await?;
        let now = self.creation_millis();
        let record = JobRecord {
            job_id: JobId::generate(),
            workspace_id: caller.workspace_id,
            settings,
            creator_id: caller.principal_id,
            creator_name: caller.name.clone(),
            created_time: now,
            updated_at: now,
        };
        query(
            "INSERT INTO jobs (id, workspace_id, name, settings, creator_id, creator_name, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        )
        .bind(record.job_id.get())
        .bind(record.workspace_id.get())
        .bind(job::name_of(&record.settings))
        .bind(Value::Object(record.settings.clone()).to_string())
        .bind(record.creator_id.get())
        .bind(record.creator_name.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let id = record.job_id.to_string();
        let owner = [(caller.principal_id, kind.creator_level())];
        let plan = plan_acl(kind, &owner, acl, false)
            .map_err(|reason| StoreError::Rejected(Rejected::Rule(reason)))?;
        write_acl(&mut tx, record.workspace_id, object(kind, &id), &plan.entries).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// A job the caller may see (CAN_VIEW).
    pub async fn job(&self, caller: &Caller, job_id: JobId) -> Result<JobRecord> {
        self.fetch_visible::<Jobs>(caller, &job_id.to_string()).await
    }

    /// The jobs the caller may see, oldest first; `name` filters on the exact name, ignoring
    /// case.
    pub async fn list_jobs(&self, caller: &Caller, name: Option<&str>) -> Result<Vec<JobRecord>> {
        self.list_visible::<Jobs>(caller, |sql| {
            if let Some(name) = name {
                sql.push(" AND LOWER(t.name) = ").text(name.to_lowercase());
            }
            sql.push(" ORDER BY t.created_at, t.id");
        })
        .await
    }

    /// `jobs/reset` (`fields_to_remove` is `None`: the settings are replaced) or `jobs/update`
    /// (merged, see [`job::update`]); CAN_MANAGE.
    pub async fn change_job(
        &self,
        caller: &Caller,
        job_id: JobId,
        new_settings: &Map<String, Value>,
        fields_to_remove: Option<&[String]>,
    ) -> Result<()> {
        let id = job_id.to_string();
        let mut tx = self.begin_object_write(caller, ObjectKind::Job, &id, Action::Manage).await?;
        let settings = match fields_to_remove {
            None => {
                job::validate(new_settings)
                    .map_err(|reason| StoreError::Rejected(Rejected::Rule(reason)))?;
                new_settings.clone()
            }
            Some(remove) => {
                let current: String = query("SELECT settings FROM jobs WHERE id = $1")
                    .bind(job_id.get())
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("settings")?;
                let current = settings_from_json(&current)?;
                job::update(&current, new_settings, remove)
                    .map_err(|reason| StoreError::Rejected(Rejected::Rule(reason)))?
            }
        };
        let settings = job::with_defaults(settings);
        query("UPDATE jobs SET name = $1, settings = $2, updated_at = $3 WHERE id = $4")
            .bind(job::name_of(&settings))
            .bind(Value::Object(settings.clone()).to_string())
            .bind(self.now_millis())
            .bind(job_id.get())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes a job and its ACL (CAN_MANAGE).
    pub async fn delete_job(&self, caller: &Caller, job_id: JobId) -> Result<()> {
        self.delete_checked::<Jobs>(caller, &job_id.to_string()).await
    }
}

pub(crate) fn settings_from_json(text: &str) -> Result<Map<String, Value>> {
    serde_json::from_str(text)
        .map_err(|e| corrupt(format!("stored job settings are not a JSON object: {e}")))
}
