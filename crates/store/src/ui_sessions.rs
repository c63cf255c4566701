//! Sessions of the Partner Connect page. The browser holds a random session id; the store keeps
//! only its digest, the token the user logged in with (its id, never its value) and an expiry.
//! Every lookup re-checks that token, so a session ends the moment its token is deleted or
//! expires, on every node.

use crate::read::FromColumn;
use crate::{Result, Store, StoreError};
use patchbay_core::access::Caller;
use patchbay_core::principal::PrincipalKind;
use patchbay_core::time::EpochMillis;
use patchbay_core::{PrincipalId, WorkspaceId};
use sqlx::Row;

impl Store {
    /// Records a session of `caller`, identified by the digest of its id, until `expires_at`.
    /// Expired sessions of the workspace are swept on the way.
    pub async fn create_ui_session(
        &self,
        caller: &Caller,
        digest: &str,
        expires_at: EpochMillis,
    ) -> Result<()> {
        let now = self.now_millis();
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM ui_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO ui_sessions (digest, workspace_id, token_id, principal_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(digest)
        .bind(caller.workspace_id.get())
        .bind(caller.token_id.as_str())
        .bind(caller.principal_id.get())
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The caller behind a live session: the session is unexpired, its token still exists, is
    /// unexpired and belongs to the session's principal, and that principal is active.
    pub async fn ui_session_caller(&self, digest: &str) -> Result<Option<Caller>> {
        let now = self.now_millis();
        let row = sqlx::query(
            "SELECT t.token_id, p.id, p.workspace_id, p.kind, p.user_name, p.application_id, \
                    CASE WHEN EXISTS (SELECT 1 FROM memberships m JOIN principals g ON g.id = m.group_id \
                                      WHERE m.member_id = p.id AND g.builtin = 'admins') \
                         THEN 1 ELSE 0 END AS is_admin \
             FROM ui_sessions s \
             JOIN tokens t ON t.token_id = s.token_id AND t.owner_id = s.principal_id \
             JOIN principals p ON p.id = t.owner_id AND p.workspace_id = s.workspace_id \
             WHERE s.digest = $1 AND s.expires_at > $2 \
               AND (t.expiry_time < 0 OR t.expiry_time > $2) AND COALESCE(p.active, 1) = 1",
        )
        .bind(digest)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let kind: String = row.try_get("kind")?;
        let kind = PrincipalKind::from_db(&kind)
            .ok_or_else(|| StoreError::Internal(format!("unknown principal kind {kind}")))?;
        let name: Option<String> = match kind {
            PrincipalKind::ServicePrincipal => row.try_get("application_id")?,
            _ => row.try_get("user_name")?,
        };
        Ok(Some(Caller {
            workspace_id: WorkspaceId::from_column(&row, "workspace_id")?,
            principal_id: PrincipalId::from_column(&row, "id")?,
            kind,
            name: name.unwrap_or_default(),
            is_admin: row.try_get::<i64, _>("is_admin")? != 0,
            token_id: row.try_get("token_id")?,
        }))
    }

    /// Ends a session (log out). Ending a session that does not exist is not an error.
    pub async fn delete_ui_session(&self, digest: &str) -> Result<()> {
        sqlx::query("DELETE FROM ui_sessions WHERE digest = $1")
            .bind(digest)
            .execute(&self.writes)
            .await?;
        Ok(())
    }
}
