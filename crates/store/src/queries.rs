//! Query history: one row per statement run on a warehouse, newest first.

use crate::sql::{Bind, Sql};
use crate::{Result, Store};
use patchbay_core::access::Caller;
use patchbay_core::time::EpochMillis;
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
    pub principal_id: i64,
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
#[derive(Debug, Clone, Default)]
pub struct QueryFilter {
    pub workspace_id: i64,
    pub user_ids: Vec<i64>,
    pub warehouse_ids: Vec<String>,
    pub statuses: Vec<String>,
    /// The page token: only lines older than this.
    pub before: Option<i64>,
    pub limit: i64,
}

/// A page of history, and the token of the next page if there is one.
#[derive(Debug, Clone)]
pub struct QueryPage {
    pub queries: Vec<QueryRecord>,
    pub next: Option<i64>,
}

impl Store {
    /// Adds a line of history, or replaces the statement's line (a cancel that won the race).
    pub async fn record_query(&self, query: &NewQuery<'_>) -> Result<()> {
        self.record_queries(std::slice::from_ref(query)).await
    }

    /// Adds lines of history in one transaction, in order (a later line for the same statement
    /// replaces an earlier one): statements that end together share one commit.
    pub async fn record_queries(&self, queries: &[NewQuery<'_>]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for query in queries {
            sqlx::query(
                "INSERT INTO query_history (id, workspace_id, principal_id, user_name, \
                 warehouse_id, statement, status, error, rows_produced, started_at, ended_at, \
                 seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, error = excluded.error, \
                 rows_produced = excluded.rows_produced, ended_at = excluded.ended_at",
            )
            .bind(query.id)
            .bind(query.caller.workspace_id)
            .bind(query.caller.principal_id)
            .bind(query.caller.name.as_str())
            .bind(query.warehouse_id)
            .bind(query.statement)
            .bind(query.status)
            .bind(query.error)
            .bind(query.rows)
            .bind(query.started_at)
            .bind(query.ended_at)
            .bind(self.creation_millis())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// History, newest first, one page at a time.
    pub async fn list_queries(&self, filter: &QueryFilter) -> Result<QueryPage> {
        let mut sql = Sql::new(
            "SELECT id, principal_id, user_name, warehouse_id, statement, status, error, \
             rows_produced, started_at, ended_at, seq FROM query_history WHERE workspace_id = ",
        );
        sql.int(filter.workspace_id);
        if !filter.user_ids.is_empty() {
            sql.push(" AND principal_id IN (")
                .int_list(&filter.user_ids)
                .push(")");
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
                principal_id: row.try_get("principal_id")?,
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
