//! Bulk data for benchmarks: many service principals, inserted in large batches rather than one
//! API call (and one durable transaction) each. Not used by the server.

use crate::{Result, Store};
use patchbay_core::ids::new_numeric_id;
use sqlx::AssertSqlSafe;

/// Rows per INSERT statement (4 binds each, well under every placeholder limit).
const BATCH: usize = 1000;

impl Store {
    /// Inserts `count` service principals `BENCH_SP_<n>` into the default workspace, in one
    /// transaction, and returns their application ids.
    pub async fn seed_service_principals(&self, count: usize) -> Result<Vec<String>> {
        let workspace_id = self.default_workspace_id().await?;
        let now = self.now_millis();
        let mut tx = self.begin_write().await?;
        let mut application_ids = Vec::with_capacity(count);
        let mut start = 0;
        while start < count {
            let n = BATCH.min(count - start);
            let mut sql = String::from(
                "INSERT INTO principals (id, workspace_id, kind, application_id, display_name, \
                 created_at, updated_at) VALUES ",
            );
            for i in 0..n {
                let p = i * 4;
                sql.push_str(&format!(
                    "{}(${}, ${}, 'service_principal', ${}, ${}, ${}, ${})",
                    if i == 0 { "" } else { ", " },
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    4 * n + 1,
                    4 * n + 1
                ));
            }
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for i in 0..n {
                let application_id = uuid::Uuid::new_v4().to_string();
                query = query
                    .bind(new_numeric_id())
                    .bind(workspace_id.get())
                    .bind(application_id.clone())
                    .bind(format!("BENCH_SP_{}", start + i));
                application_ids.push(application_id);
            }
            query.bind(now).execute(&mut *tx).await?;
            start += n;
        }
        tx.commit().await?;
        Ok(application_ids)
    }
}
