//! `OPTIMIZE`: a table's small files rewritten into fewer large ones (optionally clustered by
//! Z-order on some columns), as one commit that changes no row.

use crate::EngineError;
use crate::run::{Engine, Output, made_by, writer_properties};
use deltalake::arrow::array::{ArrayRef, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use deltalake::operations::optimize::OptimizeType;
use std::sync::Arc;

impl Engine {
    /// Compacts the table stored under `id`, or orders it by `zorder`'s columns when given.
    /// The answer is Databricks': the table's path and the operation's metrics. The commit is
    /// made by `user`.
    pub async fn optimize(
        &self,
        id: &str,
        zorder: &[String],
        user: &str,
    ) -> Result<Output, EngineError> {
        let _writing = self.writer(id).lock_owned().await;
        let table = self.open(id).await?;
        let kind = if zorder.is_empty() {
            OptimizeType::Compact
        } else {
            OptimizeType::ZOrder(zorder.to_vec())
        };
        let (table, metrics) = table
            .optimize()
            .with_type(kind)
            .with_writer_properties(writer_properties())
            .with_commit_properties(made_by(user))
            .await?;
        self.committed(id, table);
        let metrics = serde_json::to_string(&metrics)
            .map_err(|e| EngineError::Analysis(format!("the optimize metrics: {e}")))?;
        let schema = Arc::new(Schema::new(vec![
            Field::new("path", DataType::Utf8, true),
            Field::new("metrics", DataType::Utf8, true),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![self.table_location(id)])),
            Arc::new(StringArray::from(vec![Some(metrics)])),
        ];
        let batch = RecordBatch::try_new(schema.clone(), columns)
            .map_err(|e| EngineError::Analysis(e.to_string()))?;
        Ok(Output::new(schema, vec![batch]))
    }
}
