//! What a table's Delta log tells of it: its history as `DESCRIBE HISTORY` lists it (one row
//! a commit, newest first, read from the commit's own `commitInfo`) and the figures
//! `DESCRIBE DETAIL` gives (files, bytes, last change, protocol).

use crate::EngineError;
use crate::run::{Engine, Output};
use deltalake::arrow::array::{
    ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use deltalake::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use serde_json::Value;
use std::sync::Arc;

/// A table's files and protocol now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDetail {
    pub num_files: i64,
    pub size_in_bytes: i64,
    /// When its last commit was made (milliseconds since the epoch).
    pub last_modified: Option<i64>,
    pub min_reader_version: i32,
    pub min_writer_version: i32,
}

impl Engine {
    /// The files and protocol of the table stored under `id`; `None` for a table whose files
    /// were never written.
    pub async fn detail(&self, id: &str) -> Result<Option<TableDetail>, EngineError> {
        let Some(table) = self.open_if_written(id).await? else {
            return Ok(None);
        };
        let snapshot = table.snapshot()?;
        let files = snapshot.log_data();
        let protocol = snapshot.protocol();
        Ok(Some(TableDetail {
            num_files: i64::try_from(files.num_files()).unwrap_or(i64::MAX),
            size_in_bytes: files.iter().map(|f| f.size()).sum(),
            last_modified: table.version().and_then(|v| snapshot.version_timestamp(v)),
            min_reader_version: protocol.min_reader_version(),
            min_writer_version: protocol.min_writer_version(),
        }))
    }

    /// The table stored under `id`; `None` when it has no Delta log at all (its files were
    /// never written).
    async fn open_if_written(
        &self,
        id: &str,
    ) -> Result<Option<deltalake::DeltaTable>, EngineError> {
        match self.open(id).await {
            Ok(table) => Ok(Some(table)),
            Err(e) => {
                let written = self.unopened(id)?.log_store().is_delta_table_location().await?;
                if written { Err(e) } else { Ok(None) }
            }
        }
    }

    /// The commits of the table stored under `id`, newest first, at most `limit` of them. A
    /// table whose files were never written (made through the catalog API, never used) has
    /// none.
    pub async fn history(&self, id: &str, limit: Option<usize>) -> Result<Output, EngineError> {
        let Some(table) = self.open_if_written(id).await? else {
            return Ok(Output::new(schema(), Vec::new()));
        };
        let latest = table.version().unwrap_or(0);
        let oldest = limit.map_or(0, |n| (latest + 1).saturating_sub(n as u64));
        let log = table.log_store();
        let mut commits = Vec::new();
        for version in (oldest..=latest).rev() {
            // A commit the log no longer holds (cleaned up after a checkpoint) is left out.
            let Some(bytes) = log.read_commit_entry(version).await? else {
                continue;
            };
            let info = bytes
                .split(|b| *b == b'\n')
                .filter_map(|line| serde_json::from_slice::<Value>(line).ok())
                .find_map(|action| action.get("commitInfo").cloned())
                .unwrap_or(Value::Null);
            commits.push((version, info));
        }
        let text = |key: &str| -> ArrayRef {
            Arc::new(StringArray::from(
                commits
                    .iter()
                    .map(|(_, info)| match info.get(key) {
                        None | Some(Value::Null) => None,
                        Some(Value::String(s)) => Some(s.clone()),
                        Some(other) => Some(other.to_string()),
                    })
                    .collect::<Vec<_>>(),
            ))
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(
                commits
                    .iter()
                    .map(|(v, _)| i64::try_from(*v).unwrap_or(i64::MAX))
                    .collect::<Vec<_>>(),
            )),
            Arc::new(
                TimestampMicrosecondArray::from(
                    commits
                        .iter()
                        .map(|(_, info)| {
                            info.get("timestamp")
                                .and_then(Value::as_i64)
                                .map(|ms| ms.saturating_mul(1000))
                        })
                        .collect::<Vec<_>>(),
                )
                .with_timezone("UTC"),
            ),
            text("userName"),
            text("operation"),
            text("operationParameters"),
            Arc::new(Int64Array::from(
                commits
                    .iter()
                    .map(|(_, info)| info.get("readVersion").and_then(Value::as_i64))
                    .collect::<Vec<_>>(),
            )),
            Arc::new(BooleanArray::from(
                commits
                    .iter()
                    .map(|(_, info)| info.get("isBlindAppend").and_then(Value::as_bool))
                    .collect::<Vec<_>>(),
            )),
            text("operationMetrics"),
            text("clientVersion"),
        ];
        let schema = schema();
        let batch = RecordBatch::try_new(schema.clone(), columns)
            .map_err(|e| EngineError::Analysis(e.to_string()))?;
        Ok(Output::new(schema, vec![batch]))
    }
}

/// `DESCRIBE HISTORY`'s columns, as Databricks names them (those a Delta log written here
/// holds).
fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("version", DataType::Int64, false),
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("userName", DataType::Utf8, true),
        Field::new("operation", DataType::Utf8, true),
        Field::new("operationParameters", DataType::Utf8, true),
        Field::new("readVersion", DataType::Int64, true),
        Field::new("isBlindAppend", DataType::Boolean, true),
        Field::new("operationMetrics", DataType::Utf8, true),
        Field::new("engineInfo", DataType::Utf8, true),
    ]))
}
