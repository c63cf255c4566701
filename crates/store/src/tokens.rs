//! Personal access tokens: issue, authenticate, and the record every listing shows. OAuth access
//! tokens (JWTs) authenticate here too, through the same read path and memo (`jwt_in`).

use crate::oauth::{HAS_WORKSPACE_ACCESS, TokenIssuer};
use crate::permissions::{TOKENS, holds};
use crate::principals::{PrincipalRecord, principal_in};
use crate::read::FromColumn;
use crate::read::{Read, Table};
use crate::sealed::open_signing_key;
use crate::sql::Sql;
use crate::{Denied, Missing, Rejected, Result, SecretKey, Store, StoreError};
use patchbay_core::access::{Caller, WorkspaceAdmin};
use patchbay_core::jwt::Unverified;
use patchbay_core::principal::PrincipalKind;
use patchbay_core::time::{EpochMillis, day_of};
use patchbay_core::token::{TokenDigest, TokenKind, TokenValue, new_token_id};
use patchbay_core::{PrincipalId, WorkspaceId};
use sqlx::{Any, Transaction};
use std::sync::Arc;

/// What a new token is for.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub owner_id: PrincipalId,
    pub created_by_id: PrincipalId,
    pub created_by_username: String,
    pub comment: String,
    /// Lifetime in milliseconds from creation; `None` never expires.
    pub lifetime_millis: Option<i64>,
}

/// A token's metadata. Never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub token_id: String,
    pub workspace_id: WorkspaceId,
    pub owner_id: PrincipalId,
    pub created_by_id: PrincipalId,
    pub created_by_username: String,
    pub comment: String,
    pub creation_time: EpochMillis,
    /// `-1` for never.
    pub expiry_time: EpochMillis,
    pub last_used_day: Option<EpochMillis>,
}

/// Which tokens a listing shows; every set field must match.
#[derive(Debug, Clone, Default)]
pub struct TokenFilter {
    pub owner_id: Option<PrincipalId>,
    pub created_by_id: Option<PrincipalId>,
    pub created_by_username: Option<String>,
}

crate::read::columns_of!(TokenRecord {
    token_id, workspace_id, owner_id, created_by_id, created_by_username, comment,
    creation_time, expiry_time, last_used_day,
} => TOKEN_COLUMNS, token_from_row);

const TOKEN_TABLE: Table<TokenRecord> = Table::new("tokens", TOKEN_COLUMNS, token_from_row);

/// A token's authentication as a read found it, with what decides whether it still holds.
#[derive(Debug, Clone)]
pub(crate) struct RememberedCaller {
    pub(crate) caller: Caller,
    /// `-1` for never.
    pub(crate) expiry_time: EpochMillis,
    pub(crate) last_used_day: Option<EpochMillis>,
}

impl RememberedCaller {
    fn live_at(&self, now: EpochMillis) -> bool {
        self.expiry_time < 0 || self.expiry_time > now
    }
}

impl Store {
    /// Finds the live token with this digest and its owner. Expired tokens and tokens of
    /// deactivated principals authenticate nobody. Every call asks the database, at least
    /// whether anything changed since the answer was remembered, so a token deleted on any node
    /// is refused on its very next use; the last-used day is written at most once a day per
    /// token.
    pub async fn authenticate(&self, digest: &TokenDigest) -> Result<Option<Caller>> {
        self.authenticate_bearer(Bearer::Token(digest)).await
    }

    /// [`Store::authenticate`] and the caller's own record (`/Me`), from one snapshot.
    pub async fn authenticate_self(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<(Caller, Arc<PrincipalRecord>)>> {
        self.authenticate_bearer_self(Bearer::Token(digest)).await
    }

    /// [`Store::authenticate`] for a bearer token of either form.
    pub async fn authenticate_bearer(&self, bearer: Bearer<'_>) -> Result<Option<Caller>> {
        let now = self.now_millis();
        let found = bearer_in(&mut self.recall()?, bearer, self.secret_key(), now).await?;
        Ok(match found {
            Some(found) => Some(self.mark_used(found, now).await),
            None => None,
        })
    }

    /// [`Store::authenticate_self`] for a bearer token of either form.
    pub async fn authenticate_bearer_self(
        &self,
        bearer: Bearer<'_>,
    ) -> Result<Option<(Caller, Arc<PrincipalRecord>)>> {
        let now = self.now_millis();
        let mut read = self.recall()?;
        let Some(found) = bearer_in(&mut read, bearer, self.secret_key(), now).await? else {
            return Ok(None);
        };
        let caller = &found.caller;
        let record =
            principal_in(&mut read, caller.workspace_id, caller.kind, caller.principal_id).await?;
        drop(read);
        let caller = self.mark_used(found, now).await;
        Ok(record.map(|record| (caller, record)))
    }

    /// Records the day's first use of a token.
    async fn mark_used(&self, found: RememberedCaller, now: EpochMillis) -> Caller {
        let today = day_of(now);
        if found.last_used_day != Some(today) {
            // Bookkeeping, not authentication: a read must not fail because the database
            // refuses writes for a moment (busy, read-only); the next request tries again.
            let marked = sqlx::query("UPDATE tokens SET last_used_day = $1 WHERE token_id = $2")
                .bind(today)
                .bind(found.caller.token_id.as_str())
                .execute(&self.writes)
                .await;
            if let Err(e) = marked {
                tracing::warn!(error = %e, "cannot record a token's last use");
            }
        }
        found.caller
    }
}

/// A presented bearer credential: an opaque token (a personal access token), or a JWT access
/// token with the issuer it must come from.
#[derive(Debug, Clone, Copy)]
pub enum Bearer<'a> {
    Token(&'a TokenDigest),
    /// The token and its digest (what the memo knows it by).
    Jwt(&'a str, &'a TokenDigest, &'a TokenIssuer),
}

/// The caller of `bearer`. `sealing` is the secret key the signing keys are sealed with, which
/// only a JWT needs (a store opened without one refuses JWTs).
async fn bearer_in(
    read: &mut Read<'_>,
    bearer: Bearer<'_>,
    sealing: Result<&SecretKey>,
    now: EpochMillis,
) -> Result<Option<RememberedCaller>> {
    match bearer {
        Bearer::Token(digest) => authenticate_in(read, digest, now).await,
        Bearer::Jwt(token, digest, issuer) => {
            jwt_in(read, token, digest, issuer, sealing?, now).await
        }
    }
}

/// The caller of a JWT access token, as remembered or read in `read`'s snapshot: its
/// signature verifies under the key its header names, it is of this issuer and audience and
/// unexpired, and the secret (or user's grant) that minted it is still there and unexpired, as
/// is its principal, active and with workspace access. A token is remembered only once all
/// that held, by its digest, and only while the database says the same.
async fn jwt_in(
    read: &mut Read<'_>,
    token: &str,
    digest: &TokenDigest,
    issuer: &TokenIssuer,
    sealing: &SecretKey,
    now: EpochMillis,
) -> Result<Option<RememberedCaller>> {
    if let Some(known) = read.memo().and_then(|m| m.callers.get(digest.as_str()))
        && known.live_at(now)
    {
        return Ok(Some(known.clone()));
    }
    let Some(unverified) = Unverified::parse(token) else {
        return Ok(None);
    };
    // Looked up with the claims as presented (bound, never trusted); the key read beside them
    // then decides whether they are believed.
    let claims = unverified.claims();
    let mut sql = Sql::new(&format!(
        "SELECT k.secret AS signing_secret, x.expire_time AS minted_expiry, {CALLER_COLUMNS} \
         FROM oauth_signing_keys k, "
    ));
    match (&claims.secret_id, &claims.grant_id) {
        (Some(secret_id), None) => sql
            .push("oauth_secrets x JOIN principals p ON p.id = x.principal_id WHERE x.secret_id = ")
            .text(secret_id.as_str()),
        (None, Some(grant_id)) => sql
            .push(
                "(SELECT grant_id, principal_id, expires_at AS expire_time FROM oauth_grants) x \
                 JOIN principals p ON p.id = x.principal_id WHERE x.grant_id = ",
            )
            .text(grant_id.as_str()),
        _ => return Ok(None),
    };
    sql.push(" AND k.kid = ")
        .text(unverified.kid())
        .push(" AND x.principal_id = ")
        .int(claims.principal_id.get())
        .push(" AND p.workspace_id = ")
        .int(claims.workspace_id.get())
        .push(" AND x.expire_time > ")
        .int(now)
        .push(" AND COALESCE(p.active, 1) = 1 AND ")
        .push(HAS_WORKSPACE_ACCESS);
    let mut row_found = None;
    read.select(&sql, |row| {
        let (kind, name) = principal_of(row)?;
        row_found = Some((
            row.text("signing_secret")?,
            row.int("minted_expiry")?,
            kind,
            name,
            row.int("is_admin")? != 0,
        ));
        Ok(())
    })
    .await?;
    let Some((secret, minted_expiry, kind, name, is_admin)) = row_found else {
        return Ok(None);
    };
    let Some(key) = open_signing_key(sealing, unverified.kid(), &secret) else {
        return Ok(None);
    };
    let Ok(claims) = unverified.verify(&key, &issuer.issuer, &issuer.audience, now / 1000) else {
        return Ok(None);
    };
    let found = RememberedCaller {
        caller: Caller {
            workspace_id: claims.workspace_id,
            principal_id: claims.principal_id,
            kind,
            name,
            is_admin,
            token_id: claims.jti,
        },
        expiry_time: minted_expiry.min(claims.exp.saturating_mul(1000)),
        // Not tracked: reads as used today, so no write follows.
        last_used_day: Some(day_of(now)),
    };
    if let Some(memo) = read.memo() {
        memo.callers.insert(digest.as_str().to_owned(), found.clone());
    }
    Ok(Some(found))
}

/// The kind of the principal a token authenticates, and the name it goes by: a service
/// principal's application id, else its user name.
fn principal_of(row: &dyn crate::read::Row) -> Result<(PrincipalKind, String)> {
    let kind = row.text("kind")?;
    let kind = PrincipalKind::from_db(&kind)
        .ok_or_else(|| StoreError::Internal(format!("unknown principal kind {kind}")))?;
    let name = match kind {
        PrincipalKind::ServicePrincipal => row.opt_text("application_id")?,
        _ => row.opt_text("user_name")?,
    };
    Ok((kind, name.unwrap_or_default()))
}

/// The live token with this digest, as remembered or read in `read`'s snapshot.
async fn authenticate_in(
    read: &mut Read<'_>,
    digest: &TokenDigest,
    now: EpochMillis,
) -> Result<Option<RememberedCaller>> {
    if let Some(known) = read.memo().and_then(|m| m.callers.get(digest.as_str()))
        && known.live_at(now)
        && known.last_used_day == Some(day_of(now))
    {
        return Ok(Some(known.clone()));
    }
    let sql = match digest.kind() {
        TokenKind::Personal => personal_token_sql(digest, now),
        // Access tokens are JWTs (`jwt_in`); secrets, refresh tokens and codes are only
        // exchanged at the token endpoint, never presented as bearers.
        TokenKind::OAuthAccess
        | TokenKind::OAuthSecret
        | TokenKind::OAuthRefresh
        | TokenKind::OAuthCode => {
            return Ok(None);
        }
    };
    let mut found = None;
    read.select(&sql, |row| {
        let (kind, name) = principal_of(row)?;
        found = Some(RememberedCaller {
            caller: Caller {
                workspace_id: row.get("workspace_id")?,
                principal_id: row.get("id")?,
                kind,
                name,
                is_admin: row.int("is_admin")? != 0,
                token_id: row.text("token_id")?,
            },
            expiry_time: row.int("expiry_time")?,
            last_used_day: row.opt_int("last_used_day")?,
        });
        Ok(())
    })
    .await?;
    if let (Some(memo), Some(known)) = (read.memo(), &found) {
        memo.callers.insert(digest.as_str().to_owned(), known.clone());
    }
    Ok(found)
}

/// What both kinds of bearer token select: the token, its owner, whether the owner is an admin.
const CALLER_COLUMNS: &str = "p.id, p.workspace_id, p.kind, p.user_name, p.application_id, \
     CASE WHEN EXISTS (SELECT 1 FROM memberships m JOIN principals g ON g.id = m.group_id \
                       WHERE m.member_id = p.id AND g.builtin = 'admins') \
          THEN 1 ELSE 0 END AS is_admin";

/// A live personal access token and its active owner.
fn personal_token_sql(digest: &TokenDigest, now: EpochMillis) -> Sql {
    let mut sql = Sql::new(&format!(
        "SELECT t.token_id, t.last_used_day, t.expiry_time, {CALLER_COLUMNS} \
         FROM tokens t JOIN principals p ON p.id = t.owner_id \
         WHERE t.digest = "
    ));
    sql.text(digest.as_str())
        .push(" AND (t.expiry_time < 0 OR t.expiry_time > ")
        .int(now)
        .push(") AND COALESCE(p.active, 1) = 1");
    sql
}

impl Store {
    /// A new token for the caller itself (`/api/2.0/token/create`). Needs the token permission.
    pub async fn create_own_token(
        &self,
        caller: &Caller,
        comment: &str,
        lifetime_millis: Option<i64>,
    ) -> Result<(TokenValue, TokenRecord)> {
        let mut tx = self.begin_write().await?;
        if !holds(&mut tx, caller.workspace_id, caller.principal_id, TOKENS).await? {
            return Err(StoreError::Denied(Denied::CreateToken));
        }
        let owner_id = caller.principal_id;
        self.mint(tx, caller.workspace_id, owner_id, caller, comment, lifetime_millis).await
    }

    /// A new token on behalf of a service principal, created by an admin. The service principal
    /// must hold the token permission.
    pub async fn create_obo_token(
        &self,
        admin: &WorkspaceAdmin,
        application_id: &str,
        comment: &str,
        lifetime_millis: Option<i64>,
    ) -> Result<(TokenValue, TokenRecord)> {
        let workspace_id = admin.workspace_id();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT id FROM principals WHERE workspace_id = $1 AND kind = 'service_principal' \
             AND application_id = $2",
        )
        .bind(workspace_id.get())
        .bind(application_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| {
            StoreError::Rejected(Rejected::UnknownServicePrincipal {
                application_id: application_id.to_owned(),
            })
        })?;
        let owner_id = PrincipalId::from_column(&row, "id")?;
        if !holds(&mut tx, workspace_id, owner_id, TOKENS).await? {
            return Err(StoreError::Denied(Denied::ServicePrincipalTokens {
                application_id: application_id.to_owned(),
            }));
        }
        self.mint(tx, workspace_id, owner_id, admin.caller(), comment, lifetime_millis).await
    }

    /// Mints a token for `owner_id`, made by `by`, in the transaction that checked that it
    /// may be, and commits.
    async fn mint(
        &self,
        mut tx: Transaction<'static, Any>,
        workspace_id: WorkspaceId,
        owner_id: PrincipalId,
        by: &Caller,
        comment: &str,
        lifetime_millis: Option<i64>,
    ) -> Result<(TokenValue, TokenRecord)> {
        let created = insert_token(
            &mut tx,
            self.creation_millis(),
            workspace_id,
            &NewToken {
                owner_id,
                created_by_id: by.principal_id,
                created_by_username: by.name.clone(),
                comment: comment.to_owned(),
                lifetime_millis,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// Tokens of a workspace, oldest first.
    pub async fn list_tokens(
        &self,
        workspace_id: WorkspaceId,
        filter: &TokenFilter,
    ) -> Result<Vec<TokenRecord>> {
        let mut sql = Sql::new("WHERE workspace_id = ");
        sql.int(workspace_id.get());
        if let Some(owner) = filter.owner_id {
            sql.push(" AND owner_id = ").int(owner.get());
        }
        if let Some(creator) = filter.created_by_id {
            sql.push(" AND created_by_id = ").int(creator.get());
        }
        if let Some(name) = &filter.created_by_username {
            sql.push(" AND LOWER(created_by_username) = ").text(name.to_lowercase());
        }
        sql.push(" ORDER BY creation_time, token_id");
        self.rows_where(&TOKEN_TABLE, sql).await
    }

    /// One token of a workspace.
    pub async fn get_token(
        &self,
        workspace_id: WorkspaceId,
        token_id: &str,
    ) -> Result<Option<TokenRecord>> {
        self.workspace_row(&TOKEN_TABLE, "token_id", workspace_id, token_id).await
    }

    /// Revokes any token of the workspace (token management).
    pub async fn delete_token(&self, admin: &WorkspaceAdmin, token_id: &str) -> Result<()> {
        self.delete_token_where(admin.workspace_id(), token_id, None).await
    }

    /// Revokes one of the caller's own tokens.
    pub async fn delete_own_token(&self, caller: &Caller, token_id: &str) -> Result<()> {
        self.delete_token_where(caller.workspace_id, token_id, Some(caller.principal_id)).await
    }

    async fn delete_token_where(
        &self,
        workspace_id: WorkspaceId,
        token_id: &str,
        owner: Option<PrincipalId>,
    ) -> Result<()> {
        let mut sql = Sql::new("DELETE FROM tokens WHERE workspace_id = ");
        sql.int(workspace_id.get()).push(" AND token_id = ").text(token_id);
        if let Some(owner) = owner {
            sql.push(" AND owner_id = ").int(owner.get());
        }
        if sql.query().execute(&self.writes).await?.rows_affected() == 0 {
            return Err(StoreError::Missing(Missing::Token { id: token_id.to_owned() }));
        }
        Ok(())
    }
}

/// Creates a token inside a transaction and returns its value, the only time it exists.
pub(crate) async fn insert_token(
    tx: &mut Transaction<'static, Any>,
    creation_time: EpochMillis,
    workspace_id: WorkspaceId,
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
        creation_time,
        expiry_time: new.lifetime_millis.map_or(-1, |l| creation_time.saturating_add(l)),
        last_used_day: None,
    };
    sqlx::query(
        "INSERT INTO tokens (token_id, digest, workspace_id, owner_id, created_by_id, \
         created_by_username, comment, creation_time, expiry_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(record.token_id.as_str())
    .bind(value.digest().as_str())
    .bind(workspace_id.get())
    .bind(record.owner_id.get())
    .bind(record.created_by_id.get())
    .bind(record.created_by_username.as_str())
    .bind(record.comment.as_str())
    .bind(record.creation_time)
    .bind(record.expiry_time)
    .execute(&mut **tx)
    .await?;
    Ok((value, record))
}
