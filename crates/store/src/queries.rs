//! Query history: one row per statement run on a warehouse, newest first.

use crate::read::FromColumn;
use crate::sql::{Bind, Sql};
use crate::{Result, Store};
use patchbay_core::access::Caller;
use patchbay_core::time::EpochMillis;
use patchbay_core::{PrincipalId, WorkspaceId};
use sqlx::Row;

/// A statement that ended, as history records it.
#[derive(Debug, Clone)]
pub struct NewQuery<'a> {
    pub id: &'a str,
    pub caller: &'a Caller,
    pub warehouse_id: &'a str,
    pub statement: &'a str,
    /// `FINISHED`, `FAILED` or `CANCELED`.
    pub status: &'a str,
    pub error: Option<&'a str>,
    pub rows: Option<i64>,
    pub started_at: EpochMillis,
    pub ended_at: EpochMillis,
}

/// One line of history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRecord {
    pub id: String,
    pub principal_id: PrincipalId,
    pub user_name: String,
    pub warehouse_id: String,
    pub statement: String,
    pub status: String,
    pub error: Option<String>,
    pub rows: Option<i64>,
    pub started_at: EpochMillis,
    pub ended_at: EpochMillis,
}

/// Which history to list. Empty lists filter nothing.
#[derive(Debug, Clone)]
pub struct QueryFilter {
    pub workspace_id: WorkspaceId,
    pub user_ids: Vec<PrincipalId>,
    pub warehouse_ids: Vec<String>,
    pub statuses: Vec<String>,
    /// The page token: only lines older than this.
    pub before: Option<i64>,
    pub limit: i64,
    /// `None` for an admin, who sees every line; anyone else sees only these.
    pub visible_to: Option<Viewer>,
}

/// What history a caller who is not an admin may see: their own statements, and every
/// statement on the warehouses they monitor (CAN_MONITOR).
#[derive(Debug, Clone)]
pub struct Viewer {
    pub principal_id: PrincipalId,
    pub monitored_warehouses: Vec<String>,
}

/// A page of history, and the token of the next page if there is one.
#[derive(Debug, Clone)]
pub struct QueryPage {
    pub queries: Vec<QueryRecord>,
    pub next: Option<i64>,
}

impl Store {
    /// Adds lines of history in one statement, in order (a later line for the same statement
    /// replaces an earlier one): statements that end together share one commit, and one
    /// round trip to the database.
    pub async fn record_queries(&self, queries: &[NewQuery<'_>]) -> Result<()> {
        // The last line of each statement: one upsert may not touch a row twice.
        let mut last = std::collections::HashMap::with_capacity(queries.len());
        for (i, query) in queries.iter().enumerate() {
            last.insert(query.id, i);
        }
        let mut sql = Sql::new(
            "INSERT INTO query_history (id, workspace_id, principal_id, user_name, warehouse_id, \
             statement, status, error, rows_produced, started_at, ended_at, seq) VALUES ",
        );
        let mut first = true;
        for (i, query) in queries.iter().enumerate() {
            if last.get(query.id) != Some(&i) {
                continue;
            }
            if !first {
                sql.push(", ");
            }
            first = false;
            sql.push("(")
                .text(query.id)
                .push(", ")
                .int(query.caller.workspace_id.get())
                .push(", ")
                .int(query.caller.principal_id.get())
                .push(", ")
                .text(query.caller.name.as_str())
                .push(", ")
                .text(query.warehouse_id)
                .push(", ")
                .text(query.statement)
                .push(", ")
                .text(query.status)
                .push(", ")
                .bind(Bind::from(query.error))
                .push(", ")
                .bind(Bind::from(query.rows))
                .push(", ")
                .int(query.started_at)
                .push(", ")
                .int(query.ended_at)
                .push(", ")
                .int(self.clock.sequence())
                .push(")");
        }
        if first {
            return Ok(());
        }
        sql.push(
            " ON CONFLICT (id) DO UPDATE SET status = excluded.status, error = excluded.error, \
             rows_produced = excluded.rows_produced, ended_at = excluded.ended_at",
        );
        let mut tx = self.begin_write().await?;
        sql.query().execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Forgets at most `at_most` lines of history that ended before `ended_before`, the
    /// oldest first: how many went.
    pub async fn forget_queries(&self, ended_before: EpochMillis, at_most: i64) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let gone = sqlx::query(
            "DELETE FROM query_history WHERE id IN (SELECT id FROM query_history \
             WHERE ended_at < $1 ORDER BY ended_at LIMIT $2)",
        )
        .bind(ended_before)
        .bind(at_most)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(gone)
    }

    /// History, newest first, one page at a time.
    pub async fn list_queries(&self, filter: &QueryFilter) -> Result<QueryPage> {
        let mut sql = Sql::new(
            "SELECT id, principal_id, user_name, warehouse_id, statement, status, error, \
             rows_produced, started_at, ended_at, seq FROM query_history WHERE workspace_id = ",
        );
        sql.int(filter.workspace_id.get());
        if let Some(viewer) = &filter.visible_to {
            sql.push(" AND (principal_id = ").int(viewer.principal_id.get());
            if !viewer.monitored_warehouses.is_empty() {
                let ids = viewer.monitored_warehouses.iter().map(|w| Bind::from(w.as_str()));
                sql.push(" OR warehouse_id IN (").list(ids).push(")");
            }
            sql.push(")");
        }
        if !filter.user_ids.is_empty() {
            sql.push(" AND principal_id IN (").int_list(&filter.user_ids).push(")");
        }
        text_in(&mut sql, "warehouse_id", &filter.warehouse_ids);
        text_in(&mut sql, "status", &filter.statuses);
        if let Some(before) = filter.before {
            sql.push(" AND seq < ").int(before);
        }
        sql.push(" ORDER BY seq DESC LIMIT ").int(filter.limit + 1);
        let rows = sql.query().fetch_all(&self.pool).await?;
        let mut queries = Vec::with_capacity(rows.len());
        let mut seqs = Vec::with_capacity(rows.len());
        for row in &rows {
            seqs.push(row.try_get::<i64, _>("seq")?);
            queries.push(QueryRecord {
                id: row.try_get("id")?,
                principal_id: PrincipalId::from_column(row, "principal_id")?,
                user_name: row.try_get("user_name")?,
                warehouse_id: row.try_get("warehouse_id")?,
                statement: row.try_get("statement")?,
                status: row.try_get("status")?,
                error: row.try_get("error")?,
                rows: row.try_get("rows_produced")?,
                started_at: row.try_get("started_at")?,
                ended_at: row.try_get("ended_at")?,
            });
        }
        let limit = usize::try_from(filter.limit).unwrap_or(usize::MAX);
        let next = if queries.len() > limit {
            queries.truncate(limit);
            seqs.get(limit - 1).copied()
        } else {
            None
        };
        Ok(QueryPage { queries, next })
    }
}

/// ` AND column IN (…)` for a non-empty list of texts.
fn text_in(sql: &mut Sql, column: &str, values: &[String]) {
    if values.is_empty() {
        return;
    }
    sql.push(&format!(" AND {column} IN ("))
        .list(values.iter().map(|v| Bind::from(v.as_str())))
        .push(")");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A group of lines in one statement: every statement once, the later line of a statement
    /// written over the earlier one, as when a cancel wins the race with the end.
    #[tokio::test]
    async fn a_group_of_lines_keeps_each_statements_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let (store, workspace_id) = crate::bootstrap::fresh_store(dir.path()).await;
        let caller = crate::bootstrap::admin_caller(&store, workspace_id).await;
        let line = |id, status, rows| NewQuery {
            id,
            caller: &caller,
            warehouse_id: "w",
            statement: "SELECT 1",
            status,
            error: None,
            rows,
            started_at: 1000,
            ended_at: 2000,
        };
        store
            .record_queries(&[
                line("a", "FINISHED", Some(1)),
                line("b", "FAILED", None),
                line("a", "CANCELED", None),
            ])
            .await
            .unwrap();
        let listed = || async {
            let page = store
                .list_queries(&QueryFilter {
                    workspace_id,
                    user_ids: Vec::new(),
                    warehouse_ids: Vec::new(),
                    statuses: Vec::new(),
                    before: None,
                    limit: 10,
                    visible_to: None,
                })
                .await
                .unwrap();
            let mut seen: Vec<(String, String, Option<i64>)> =
                page.queries.iter().map(|q| (q.id.clone(), q.status.clone(), q.rows)).collect();
            seen.sort();
            seen
        };
        assert_eq!(
            listed().await,
            [("a".into(), "CANCELED".into(), None), ("b".into(), "FAILED".into(), None)]
        );
        // A later group replaces a line again.
        store.record_queries(&[line("b", "CANCELED", None)]).await.unwrap();
        assert_eq!(
            listed().await,
            [("a".into(), "CANCELED".into(), None), ("b".into(), "CANCELED".into(), None)]
        );
        store.close().await;
    }
}
