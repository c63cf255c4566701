//! `RESTORE TABLE … TO VERSION AS OF n`: a table back as it was at a version of its past, as
//! one new commit; the versions in between stay in its history, readable.

use crate::EngineError;
use crate::run::{Engine, Output, made_by};
use crate::statement::AsOf;

impl Engine {
    /// Restores the table stored under `id` to its state at `as_of`, as a commit made by
    /// `user`. A version whose columns differ from today's is refused: the catalog describes
    /// today's. Restoring the latest version changes nothing. The answer counts the files the
    /// commit removed and brought back, and the table's files and bytes after it.
    pub async fn restore(&self, id: &str, as_of: &AsOf, user: &str) -> Result<Output, EngineError> {
        let _writing = self.writer(id).lock_owned().await;
        let table = self.open(id).await?;
        let past = self.open_as_of(id, as_of).await?;
        let columns = |t: &deltalake::DeltaTable| -> Result<_, EngineError> {
            Ok(crate::types::columns(&t.snapshot()?.snapshot().arrow_schema()))
        };
        if columns(&past)? != columns(&table)? {
            return Err(EngineError::Unsupported(format!(
                "Restoring to {as_of}, whose columns differ from the table's now,"
            )));
        }
        let (removed, restored) = if past.version() == table.version() {
            (0, 0)
        } else {
            let version = past
                .version()
                .ok_or_else(|| EngineError::Analysis(format!("The table has no {as_of}.")))?;
            let (table, metrics) = table
                .restore()
                .with_version_to_restore(version)
                .with_commit_properties(made_by(user))
                .await?;
            self.committed(id, table);
            (metrics.num_removed_file, metrics.num_restored_file)
        };
        let (files, bytes) = match self.detail(id).await? {
            Some(detail) => (detail.num_files, detail.size_in_bytes),
            None => (0, 0),
        };
        let count = |n: i64| usize::try_from(n).unwrap_or(0);
        Ok(Output::counts(&[
            ("table_size_after_restore", count(bytes)),
            ("num_of_files_after_restore", count(files)),
            ("num_removed_files", removed),
            ("num_restored_files", restored),
        ]))
    }
}
