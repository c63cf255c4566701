//! Personal access tokens: issue, authenticate, and the record every listing shows.

use crate::{Result, Store, StoreError};
use patchbay_core::access::Caller;
use patchbay_core::principal::PrincipalKind;
use patchbay_core::time::{EpochMillis, day_of, now_millis};
use patchbay_core::token::{TokenDigest, TokenValue, new_token_id};
use sqlx::{Any, Row, Transaction};

/// What a new token is for.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub owner_id: i64,
    pub created_by_id: i64,
    pub created_by_username: String,
    pub comment: String,
    /// Expiry in epoch milliseconds; `None` never expires.
    pub expiry_time: Option<EpochMillis>,
}

/// A token's metadata. Never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub token_id: String,
    pub workspace_id: i64,
    pub owner_id: i64,
    pub created_by_id: i64,
    pub created_by_username: String,
    pub comment: String,
    pub creation_time: EpochMillis,
    /// `-1` for never.
    pub expiry_time: EpochMillis,
    pub last_used_day: Option<EpochMillis>,
}

/// The principal a token authenticates, as found on a request.
#[derive(Debug, Clone)]
pub struct AuthRecord {
    pub caller: Caller,
    pub last_used_day: Option<EpochMillis>,
}

impl Store {
    /// Finds the live token with this digest and its owner. Expired tokens and tokens of
    /// deactivated principals authenticate nobody. Every call reads the database, so a token
    /// deleted on any node is refused on its very next use; the last-used day is written at
    /// most once a day per token.
    pub async fn authenticate(&self, digest: &TokenDigest) -> Result<Option<Caller>> {
        let now = now_millis();
        let row = sqlx::query(
            "SELECT t.token_id, t.last_used_day, p.id, p.workspace_id, p.kind, p.user_name, \
                    p.application_id, \
                    CASE WHEN EXISTS (SELECT 1 FROM memberships m JOIN principals g ON g.id = m.group_id \
                                      WHERE m.member_id = p.id AND g.builtin = 'admins') \
                         THEN 1 ELSE 0 END AS is_admin \
             FROM tokens t JOIN principals p ON p.id = t.owner_id \
             WHERE t.digest = $1 AND (t.expiry_time < 0 OR t.expiry_time > $2) AND COALESCE(p.active, 1) = 1",
        )
        .bind(digest.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let kind: String = row.try_get("kind")?;
        let kind = PrincipalKind::from_db(&kind)
            .ok_or_else(|| StoreError::Invalid(format!("unknown principal kind {kind}")))?;
        let name: Option<String> = match kind {
            PrincipalKind::ServicePrincipal => row.try_get("application_id")?,
            _ => row.try_get("user_name")?,
        };
        let caller = Caller {
            workspace_id: row.try_get("workspace_id")?,
            principal_id: row.try_get("id")?,
            kind,
            name: name.unwrap_or_default(),
            is_admin: row.try_get::<i64, _>("is_admin")? != 0,
            token_id: row.try_get("token_id")?,
        };
        let today = day_of(now);
        let last_used: Option<i64> = row.try_get("last_used_day")?;
        if last_used != Some(today) {
            sqlx::query("UPDATE tokens SET last_used_day = $1 WHERE token_id = $2")
                .bind(today)
                .bind(caller.token_id.as_str())
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(caller))
    }
}

/// Creates a token inside a transaction and returns its value, the only time it exists.
pub(crate) async fn insert_token(
    tx: &mut Transaction<'static, Any>,
    workspace_id: i64,
    new: &NewToken,
) -> Result<(TokenValue, TokenRecord)> {
    let value = TokenValue::generate();
    let record = TokenRecord {
        token_id: new_token_id(),
        workspace_id,
        owner_id: new.owner_id,
        created_by_id: new.created_by_id,
        created_by_username: new.created_by_username.clone(),
        comment: new.comment.clone(),
        creation_time: now_millis(),
        expiry_time: new.expiry_time.unwrap_or(-1),
        last_used_day: None,
    };
    sqlx::query(
        "INSERT INTO tokens (token_id, digest, workspace_id, owner_id, created_by_id, \
         created_by_username, comment, creation_time, expiry_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(record.token_id.as_str())
    .bind(value.digest().as_str())
    .bind(workspace_id)
    .bind(record.owner_id)
    .bind(record.created_by_id)
    .bind(record.created_by_username.as_str())
    .bind(record.comment.as_str())
    .bind(record.creation_time)
    .bind(record.expiry_time)
    .execute(&mut **tx)
    .await?;
    Ok((value, record))
}
