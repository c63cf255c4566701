//! `VACUUM t [LITE|FULL] [RETAIN n HOURS] [DRY RUN]`: removes the files of a table that its
//! current version no longer reads and that are older than the retention (7 days unless said),
//! so that time travel within the retention keeps working. As on Databricks, a retention below
//! 7 days is refused, and the full mode (the default) also removes files no version ever
//! committed (left by a write that stopped before its commit).

use crate::EngineError;
use crate::run::{Engine, Output, made_by};
use deltalake::arrow::array::{RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use deltalake::operations::vacuum::VacuumMode;
use std::sync::Arc;

/// The shortest retention VACUUM takes, in hours: Delta's default for
/// `delta.deletedFileRetentionDuration`, which patchbay's tables keep.
pub const MIN_RETAIN_HOURS: f64 = 168.0;

/// What a `VACUUM` asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vacuum {
    /// How old a file that is no longer read must be to go; [`MIN_RETAIN_HOURS`] unless said.
    pub retain_hours: f64,
    /// Only list what would go.
    pub dry_run: bool,
    /// Only the files the log says were removed (`LITE`), not also those it never named.
    pub lite: bool,
}

impl Engine {
    /// Vacuums the table stored under `id`, as `user`. The answer is the files that would go
    /// (`DRY RUN`) or the table's location, one `path` a row, as Databricks answers.
    pub async fn vacuum(
        &self,
        id: &str,
        vacuum: Vacuum,
        user: &str,
    ) -> Result<Output, EngineError> {
        if !vacuum.retain_hours.is_finite() || vacuum.retain_hours < MIN_RETAIN_HOURS {
            return Err(EngineError::Analysis(format!(
                "VACUUM keeps at least {MIN_RETAIN_HOURS} hours of files, which time travel and \
                 readers still reading older versions need; RETAIN {} HOURS is less.",
                vacuum.retain_hours
            )));
        }
        let retention = chrono::Duration::try_milliseconds((vacuum.retain_hours * 3.6e6) as i64)
            .ok_or_else(|| EngineError::Analysis("RETAIN takes fewer hours.".into()))?;
        // A writer of its own: no commit of this node lands while its files are chosen.
        let _writing = self.writer(id).lock_owned().await;
        let table = self.open(id).await?;
        let location = self
            .table_location(id)
            .ok_or_else(|| EngineError::Storage("the table has no location".into()))?;
        let (table, metrics) = table
            .vacuum()
            .with_retention_period(retention)
            .with_mode(if vacuum.lite { VacuumMode::Lite } else { VacuumMode::Full })
            .with_dry_run(vacuum.dry_run)
            .with_commit_properties(made_by(user))
            .await?;
        let paths: Vec<String> = if vacuum.dry_run {
            metrics.files_deleted.iter().map(|file| format!("{location}/{file}")).collect()
        } else {
            self.committed(id, table);
            vec![location]
        };
        let schema = Arc::new(Schema::new(vec![Field::new("path", DataType::Utf8, false)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(paths))])
            .map_err(deltalake::datafusion::error::DataFusionError::from)?;
        Ok(Output::new(schema, vec![batch]))
    }
}
