//! The nodes serving this installation, and the sessions of the Statement Execution API.
//!
//! A node keeps the results of the statements it runs in its memory. Each statement id begins
//! with its node's *route* (the first eight hex digits of the node's id), and a node registers
//! here the address other nodes reach it at: a node asked about a statement it did not run
//! passes the request on. A node refreshes its row while it runs and removes it when it stops;
//! a row not refreshed for a while is a node that died, and its results died with it.
//!
//! Sessions hold a warehouse and the current catalog and schema. They are rows here, so that
//! any node can run a session's next statement, and a session outlives a node's restart.

use crate::{Result, Store, StoreError, Taken};
use patchbay_core::access::Caller;
use patchbay_core::time::EpochMillis;
use sqlx::Row;

/// A node as another node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub node_id: String,
    /// Where other nodes reach it; `None` when it gave no address.
    pub url: Option<String>,
    /// The certificates it serves HTTPS with (PEM), for the nodes that pass requests on to it
    /// to trust; `None` for plain HTTP.
    pub certificates: Option<String>,
    pub seen_at: EpochMillis,
}

/// Where other nodes reach this one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeAddress<'a> {
    /// `None` when it gave no address.
    pub url: Option<&'a str>,
    /// The certificates it serves HTTPS with, as PEM.
    pub certificates: Option<&'a str>,
}

/// A session of the Statement Execution API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlSession {
    pub warehouse_id: String,
    pub catalog: Option<String>,
    pub schema: Option<String>,
}

/// A session's use is written down at most this often: reading it stays a read.
const TOUCH_EVERY_MILLIS: i64 = 60_000;

impl Store {
    /// Records this node, reachable at `address`, under `route`. A row of the same node (a
    /// restart) is replaced, and so is a row holding the route whose node was not seen for
    /// `gone_after_millis`; a live node holding the route is [`Taken::NodeRoute`].
    pub async fn register_node(
        &self,
        node_id: &str,
        route: &str,
        address: NodeAddress<'_>,
        gone_after_millis: i64,
    ) -> Result<()> {
        let now = self.now_millis();
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM nodes WHERE route = $1 AND node_id <> $2 AND seen_at < $3")
            .bind(route)
            .bind(node_id)
            .bind(now.saturating_sub(gone_after_millis))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO nodes (route, node_id, url, certificates, seen_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (node_id) DO UPDATE SET route = excluded.route, url = excluded.url, \
             certificates = excluded.certificates, seen_at = excluded.seen_at",
        )
        .bind(route)
        .bind(node_id)
        .bind(address.url)
        .bind(address.certificates)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            crate::conflict_or(e, || {
                StoreError::Taken(Taken::NodeRoute { route: route.to_owned() })
            })
        })?;
        tx.commit().await?;
        Ok(())
    }

    /// Marks this node as alive now.
    pub async fn node_seen(&self, node_id: &str) -> Result<()> {
        sqlx::query("UPDATE nodes SET seen_at = $1 WHERE node_id = $2")
            .bind(self.now_millis())
            .bind(node_id)
            .execute(&self.writes)
            .await?;
        Ok(())
    }

    /// Removes this node's row: it stops.
    pub async fn forget_node(&self, node_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM nodes WHERE node_id = $1")
            .bind(node_id)
            .execute(&self.writes)
            .await?;
        Ok(())
    }

    /// The node registered under `route`, if any.
    pub async fn node_by_route(&self, route: &str) -> Result<Option<NodeRecord>> {
        let row =
            sqlx::query("SELECT node_id, url, certificates, seen_at FROM nodes WHERE route = $1")
                .bind(route)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|row| {
            Ok(NodeRecord {
                node_id: row.try_get("node_id")?,
                url: row.try_get("url")?,
                certificates: row.try_get("certificates")?,
                seen_at: row.try_get("seen_at")?,
            })
        })
        .transpose()
    }

    /// Opens a session `id` for `caller`, unless the caller already has `most` sessions used
    /// within `idle_millis` (then `false`). Sessions idle longer are removed on the way.
    pub async fn open_sql_session(
        &self,
        caller: &Caller,
        id: &str,
        session: &SqlSession,
        idle_millis: i64,
        most: i64,
    ) -> Result<bool> {
        let now = self.now_millis();
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM sql_sessions WHERE last_used < $1")
            .bind(now.saturating_sub(idle_millis))
            .execute(&mut *tx)
            .await?;
        let open: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM sql_sessions WHERE workspace_id = $1 AND principal_id = $2",
        )
        .bind(caller.workspace_id.get())
        .bind(caller.principal_id.get())
        .fetch_one(&mut *tx)
        .await?
        .try_get("n")?;
        if open >= most {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO sql_sessions (id, workspace_id, principal_id, warehouse_id, \
             catalog_name, schema_name, last_used) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(caller.workspace_id.get())
        .bind(caller.principal_id.get())
        .bind(session.warehouse_id.as_str())
        .bind(session.catalog.as_deref())
        .bind(session.schema.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The caller's session `id`, if it was used within `idle_millis`; its use is recorded.
    /// Another principal's session is as absent as one that never was.
    pub async fn sql_session(
        &self,
        caller: &Caller,
        id: &str,
        idle_millis: i64,
    ) -> Result<Option<SqlSession>> {
        let now = self.now_millis();
        let row = sqlx::query(
            "SELECT warehouse_id, catalog_name, schema_name, last_used FROM sql_sessions \
             WHERE id = $1 AND workspace_id = $2 AND principal_id = $3 AND last_used >= $4",
        )
        .bind(id)
        .bind(caller.workspace_id.get())
        .bind(caller.principal_id.get())
        .bind(now.saturating_sub(idle_millis))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let last_used: i64 = row.try_get("last_used")?;
        if now.saturating_sub(last_used) >= TOUCH_EVERY_MILLIS {
            sqlx::query("UPDATE sql_sessions SET last_used = $1 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&self.writes)
                .await?;
        }
        Ok(Some(SqlSession {
            warehouse_id: row.try_get("warehouse_id")?,
            catalog: row.try_get("catalog_name")?,
            schema: row.try_get("schema_name")?,
        }))
    }

    /// Applies `USE CATALOG` (which also resets the schema to the catalog's default) and
    /// `USE SCHEMA` to session `id`.
    pub async fn use_in_sql_session(
        &self,
        id: &str,
        catalog: Option<&str>,
        schema: Option<&str>,
    ) -> Result<()> {
        let now = self.now_millis();
        if let Some(catalog) = catalog {
            sqlx::query(
                "UPDATE sql_sessions SET catalog_name = $1, schema_name = NULL, last_used = $2 \
                 WHERE id = $3",
            )
            .bind(catalog)
            .bind(now)
            .bind(id)
            .execute(&self.writes)
            .await?;
        }
        if let Some(schema) = schema {
            sqlx::query("UPDATE sql_sessions SET schema_name = $1, last_used = $2 WHERE id = $3")
                .bind(schema)
                .bind(now)
                .bind(id)
                .execute(&self.writes)
                .await?;
        }
        Ok(())
    }

    /// Closes the caller's session `id`; `false` when the caller has no such session.
    pub async fn close_sql_session(&self, caller: &Caller, id: &str) -> Result<bool> {
        let done = sqlx::query(
            "DELETE FROM sql_sessions WHERE id = $1 AND workspace_id = $2 AND principal_id = $3",
        )
        .bind(id)
        .bind(caller.workspace_id.get())
        .bind(caller.principal_id.get())
        .execute(&self.writes)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
