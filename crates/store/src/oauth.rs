//! OAuth for service principals: their secrets, and the `client_credentials` grant that
//! exchanges a secret for a one-hour access token. Access tokens are JWTs signed with a key of
//! the store ([`patchbay_core::jwt`]), so a grant writes nothing; they authenticate like
//! personal access tokens (see `tokens.rs`), and each request checks that the secret or grant
//! named in the token and its principal still live, so deleting either ends its access on the
//! next request, on every node.

use crate::read::Table;
use crate::sealed::{open_signing_key, signing_key_place};
use crate::sql::Sql;
use crate::{Missing, Rejected, Result, Store, StoreError};
use patchbay_core::access::{Caller, WorkspaceAdmin};
use patchbay_core::jwt::{AccessClaims, Jwt, SigningKey};
use patchbay_core::oauth::{
    ACCESS_TOKEN_SECONDS, ALL_APIS, CODE_SECONDS, MAX_SECRETS_PER_PRINCIPAL, PUBLIC_CLIENT,
    REFRESH_SECONDS, new_secret_id, pkce_matches, same_client, secret_hash,
};
use patchbay_core::time::{EpochMillis, day_of};
use patchbay_core::token::{TokenKind, TokenValue, new_token_id};
use patchbay_core::{PrincipalId, WorkspaceId};
use sqlx::{Any, Row, Transaction};

/// A secret's metadata, as listings show it. Never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSecretRecord {
    pub secret_id: String,
    pub principal_id: PrincipalId,
    pub secret_hash: String,
    pub create_time: EpochMillis,
    pub update_time: EpochMillis,
    pub expire_time: EpochMillis,
}

impl OAuthSecretRecord {
    /// `ACTIVE` until it expires, then `EXPIRED`.
    pub fn status_at(&self, now: EpochMillis) -> &'static str {
        if self.expire_time > now { "ACTIVE" } else { "EXPIRED" }
    }
}

/// Who signs access tokens and for whom (`iss` and `aud`): the workspace's OIDC issuer as
/// discovery names it, and its API's URL. The server knows them; tokens are checked against
/// them on every request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIssuer {
    pub issuer: String,
    pub audience: String,
}

/// An access token the token endpoint granted: its value exists here and in the response only.
#[derive(Debug)]
pub struct AccessGrant {
    pub access_token: Jwt,
    pub expires_in: i64,
    pub scope: String,
    pub principal_id: PrincipalId,
}

/// Why a grant was refused; each is one of OAuth's errors.
#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// No live secret with this value for this client: unknown or deleted, expired, of another
    /// client or of another account, or a deactivated principal.
    #[error("invalid client")]
    InvalidClient,
    /// The client authenticated but may not use the workspace (no `workspace-access`).
    #[error("client without workspace access")]
    Unauthorized,
    /// An authorization code or refresh token that is unknown, used, expired, of another
    /// client or redirect, or whose PKCE verifier does not match; or whose user is gone.
    #[error("invalid grant")]
    InvalidGrant,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for GrantError {
    fn from(e: sqlx::Error) -> Self {
        GrantError::Store(e.into())
    }
}

crate::read::columns_of!(OAuthSecretRecord {
    secret_id, principal_id, secret_hash, create_time, update_time, expire_time,
} => SECRET_COLUMNS, secret_from_row);

const SECRET_TABLE: Table<OAuthSecretRecord> =
    Table::new("oauth_secrets", SECRET_COLUMNS, secret_from_row);

/// The SQL condition that principal `p` may use the workspace: an admin, or `workspace-access`
/// held directly or through a group it belongs to. Literals only, so the read path's plan is
/// made once.
pub(crate) const HAS_WORKSPACE_ACCESS: &str = "(EXISTS (SELECT 1 FROM memberships m JOIN principals g ON g.id = m.group_id \
                  WHERE m.member_id = p.id AND g.builtin = 'admins') \
      OR EXISTS (SELECT 1 FROM principal_values v WHERE v.principal_id = p.id \
                  AND v.attr = 'entitlements' AND v.value = 'workspace-access') \
      OR EXISTS (SELECT 1 FROM memberships m JOIN principal_values v ON v.principal_id = m.group_id \
                  WHERE m.member_id = p.id AND v.attr = 'entitlements' AND v.value = 'workspace-access'))";

impl Store {
    /// The account a workspace belongs to (`account_id` of `/.well-known/databricks-config` and
    /// of the account-level APIs).
    pub async fn account_id(&self, workspace_id: WorkspaceId) -> Result<String> {
        let row = sqlx::query("SELECT account_id FROM workspaces WHERE id = $1")
            .bind(workspace_id.get())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::Missing(Missing::Workspace { id: workspace_id }))?;
        Ok(row.try_get("account_id")?)
    }

    /// A new secret for a service principal of the admin's workspace, valid for
    /// `lifetime_seconds`. The value is returned here once; only its digest is kept.
    pub async fn create_oauth_secret(
        &self,
        admin: &WorkspaceAdmin,
        principal_id: PrincipalId,
        lifetime_seconds: i64,
    ) -> Result<(TokenValue, OAuthSecretRecord)> {
        let mut tx = self.begin_write().await?;
        require_service_principal(&mut tx, admin.workspace_id(), principal_id).await?;
        let created = insert_oauth_secret(
            &mut tx,
            self.creation_millis(),
            admin.workspace_id(),
            principal_id,
            admin.caller().principal_id,
            lifetime_seconds,
        )
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// The secrets of a service principal of the admin's workspace, oldest first.
    pub async fn list_oauth_secrets(
        &self,
        admin: &WorkspaceAdmin,
        principal_id: PrincipalId,
    ) -> Result<Vec<OAuthSecretRecord>> {
        let mut tx = self.pool.begin().await?;
        require_service_principal(&mut tx, admin.workspace_id(), principal_id).await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SECRET_COLUMNS} FROM oauth_secrets WHERE principal_id = $1 \
             ORDER BY create_time, secret_id"
        )))
        .bind(principal_id.get())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(secret_from_row).collect()
    }

    /// How many secrets of the service principal with this application id (in any workspace)
    /// were ever exchanged at the token endpoint: whether a partner exchanged its secret.
    pub async fn exchanged_secrets_of(&self, application_id: &str) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM oauth_secrets s JOIN principals p ON p.id = s.principal_id \
             WHERE p.application_id = $1 AND s.last_used_day IS NOT NULL",
        )
        .bind(application_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("n")?)
    }

    /// The key that signs new access tokens: the newest. The first is made on first need;
    /// when two nodes need it at once, both insert generation 1 if absent and read what won.
    pub async fn signing_key(&self) -> Result<SigningKey> {
        if let Some(key) = self.newest_signing_key().await? {
            return Ok(key);
        }
        let key = SigningKey::generate();
        sqlx::query(
            "INSERT INTO oauth_signing_keys (generation, kid, secret, created_at) \
             VALUES (1, $1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(key.kid())
        .bind(self.seal_signing_key(&key)?)
        .bind(self.now_millis())
        .execute(&self.writes)
        .await?;
        self.newest_signing_key()
            .await?
            .ok_or_else(|| StoreError::Internal("no OAuth signing key after creating one".into()))
    }

    /// A new signing key that signs from now on, on every node (each reads the newest at every
    /// grant). Older keys stay, so the tokens they signed verify until they expire. Returns the
    /// new key's id.
    pub async fn rotate_signing_key(&self) -> Result<String> {
        let key = SigningKey::generate();
        let sealed = self.seal_signing_key(&key)?;
        let mut tx = self.begin_write().await?;
        let newest: i64 =
            sqlx::query("SELECT COALESCE(MAX(generation), 0) AS g FROM oauth_signing_keys")
                .fetch_one(&mut *tx)
                .await?
                .try_get("g")?;
        sqlx::query(
            "INSERT INTO oauth_signing_keys (generation, kid, secret, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(newest + 1)
        .bind(key.kid())
        .bind(sealed)
        .bind(self.now_millis())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(key.kid().to_owned())
    }

    async fn newest_signing_key(&self) -> Result<Option<SigningKey>> {
        let sql =
            Sql::new("SELECT kid, secret FROM oauth_signing_keys ORDER BY generation DESC LIMIT 1");
        let mut found = None;
        self.read()
            .select(&sql, |row| {
                found = Some((row.text("kid")?, row.text("secret")?));
                Ok(())
            })
            .await?;
        let Some((kid, sealed)) = found else {
            return Ok(None);
        };
        open_signing_key(self.secret_key()?, &kid, &sealed).map(Some).ok_or_else(|| {
            StoreError::Internal(format!(
                "the OAuth signing key {kid} does not open with this installation's secret key"
            ))
        })
    }

    /// `key`'s secret, sealed for its row.
    fn seal_signing_key(&self, key: &SigningKey) -> Result<String> {
        Ok(self.secret_key()?.seal(&signing_key_place(key.kid()), &key.secret_hex()))
    }

    /// A signed access token for `principal_id`, minted by `minted`.
    async fn sign_access_token(
        &self,
        issuer: &TokenIssuer,
        subject: String,
        workspace_id: WorkspaceId,
        principal_id: PrincipalId,
        scope: &str,
        minted: Minted<'_>,
    ) -> Result<Jwt> {
        let key = self.signing_key().await?;
        let iat = self.now_millis() / 1000;
        let (secret_id, grant_id) = match minted {
            Minted::BySecret(id) => (Some(id.to_owned()), None),
            Minted::ByGrant(id) => (None, Some(id.to_owned())),
        };
        let claims = AccessClaims {
            iss: issuer.issuer.clone(),
            aud: issuer.audience.clone(),
            sub: subject,
            exp: iat + ACCESS_TOKEN_SECONDS,
            iat,
            jti: new_token_id(),
            scope: scope.to_owned(),
            principal_id,
            workspace_id,
            secret_id,
            grant_id,
        };
        Ok(patchbay_core::jwt::sign(&key, &claims))
    }

    /// One secret of the workspace, by id (a connection's, for its health and details).
    pub async fn oauth_secret(
        &self,
        workspace_id: WorkspaceId,
        secret_id: &str,
    ) -> Result<Option<OAuthSecretRecord>> {
        self.workspace_row(&SECRET_TABLE, "secret_id", workspace_id, secret_id).await
    }

    /// Deletes a secret, and with it the access of every token it minted.
    pub async fn delete_oauth_secret(
        &self,
        admin: &WorkspaceAdmin,
        principal_id: PrincipalId,
        secret_id: &str,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        require_service_principal(&mut tx, admin.workspace_id(), principal_id).await?;
        let deleted = sqlx::query(
            "DELETE FROM oauth_secrets WHERE secret_id = $1 AND principal_id = $2 AND workspace_id = $3",
        )
        .bind(secret_id)
        .bind(principal_id.get())
        .bind(admin.workspace_id().get())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if deleted == 0 {
            return Err(StoreError::Missing(Missing::OAuthSecret {
                secret_id: secret_id.to_owned(),
                principal_id,
            }));
        }
        tx.commit().await?;
        Ok(())
    }

    /// The `client_credentials` grant: the secret decides the principal and its workspace (as
    /// a token does), `client_id` must be that principal's application id, compared in constant
    /// time, and `account_id`, when the request came to an account's endpoint, its account.
    /// Reads only: the token is signed, not stored. The secret's use is recorded at most once a
    /// day.
    pub async fn grant_client_credentials(
        &self,
        client_id: &str,
        secret: &TokenValue,
        account_id: Option<&str>,
        issuer: &TokenIssuer,
    ) -> Result<AccessGrant, GrantError> {
        if secret.kind() != TokenKind::OAuthSecret {
            return Err(GrantError::InvalidClient);
        }
        let now = self.now_millis();
        let mut sql = Sql::new(&format!(
            "SELECT s.secret_id, s.expire_time, s.last_used_day, p.id, p.workspace_id, \
                    p.application_id, COALESCE(p.active, 1) AS active, w.account_id, \
                    CASE WHEN {HAS_WORKSPACE_ACCESS} THEN 1 ELSE 0 END AS workspace_access \
             FROM oauth_secrets s JOIN principals p ON p.id = s.principal_id \
                  JOIN workspaces w ON w.id = p.workspace_id \
             WHERE s.digest = "
        ));
        sql.text(secret.digest().as_str());
        let mut found = None;
        self.read()
            .select(&sql, |row| {
                found = Some(SecretFacts {
                    secret_id: row.text("secret_id")?,
                    expire_time: row.int("expire_time")?,
                    last_used_day: row.opt_int("last_used_day")?,
                    principal_id: row.get("id")?,
                    workspace_id: row.get("workspace_id")?,
                    application_id: row.opt_text("application_id")?.unwrap_or_default(),
                    active: row.int("active")? != 0,
                    account_id: row.text("account_id")?,
                    workspace_access: row.int("workspace_access")? != 0,
                });
                Ok(())
            })
            .await?;
        let facts = found.ok_or(GrantError::InvalidClient)?;
        let client_matches = same_client(&facts.application_id, client_id);
        if !client_matches
            || facts.expire_time <= now
            || !facts.active
            || account_id.is_some_and(|a| a != facts.account_id)
        {
            return Err(GrantError::InvalidClient);
        }
        if !facts.workspace_access {
            return Err(GrantError::Unauthorized);
        }
        let access_token = self
            .sign_access_token(
                issuer,
                facts.application_id.clone(),
                facts.workspace_id,
                facts.principal_id,
                ALL_APIS,
                Minted::BySecret(&facts.secret_id),
            )
            .await?;
        let today = day_of(now);
        if facts.last_used_day != Some(today) {
            // Bookkeeping, not the grant: a refused write does not refuse the token.
            let marked =
                sqlx::query("UPDATE oauth_secrets SET last_used_day = $1 WHERE secret_id = $2")
                    .bind(today)
                    .bind(facts.secret_id.as_str())
                    .execute(&self.writes)
                    .await;
            if let Err(e) = marked {
                tracing::warn!(error = %e, "cannot record an OAuth secret's last use");
            }
        }
        Ok(AccessGrant {
            access_token,
            expires_in: ACCESS_TOKEN_SECONDS,
            scope: ALL_APIS.to_owned(),
            principal_id: facts.principal_id,
        })
    }
}

/// What the `client_credentials` grant reads about a secret.
struct SecretFacts {
    secret_id: String,
    expire_time: EpochMillis,
    last_used_day: Option<EpochMillis>,
    principal_id: PrincipalId,
    workspace_id: WorkspaceId,
    application_id: String,
    active: bool,
    account_id: String,
    workspace_access: bool,
}

/// What a browser sign-in asked for, checked by the server: the code is bound to it.
#[derive(Debug, Clone)]
pub struct CodeRequest<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub code_challenge: &'a str,
    pub scope: &'a str,
}

/// What a user's grant hands the client: an access token and the refresh token that replaces
/// the one it used (values exist only here).
#[derive(Debug)]
pub struct UserGrant {
    pub access: AccessGrant,
    pub refresh_token: TokenValue,
}

impl Store {
    /// A one-time authorization code for the signed-in `caller` (a user), bound to the
    /// client, the redirect and the PKCE challenge; valid for minutes.
    pub async fn issue_code(
        &self,
        caller: &Caller,
        request: &CodeRequest<'_>,
    ) -> Result<TokenValue> {
        let code = TokenValue::generate_kind(TokenKind::OAuthCode);
        let now = self.now_millis();
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM oauth_codes WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO oauth_codes (digest, workspace_id, principal_id, client_id, redirect_uri, \
             code_challenge, scope, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(code.digest().as_str())
        .bind(caller.workspace_id.get())
        .bind(caller.principal_id.get())
        .bind(request.client_id)
        .bind(request.redirect_uri)
        .bind(request.code_challenge)
        .bind(request.scope)
        .bind(now + CODE_SECONDS * 1000)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(code)
    }

    /// The `authorization_code` grant: the code is used up whatever the outcome; it must be
    /// unexpired, of this client and redirect, with the verifier of its challenge, and its user
    /// still active with workspace access. Starts the user's grant (a refresh token).
    pub async fn redeem_code(
        &self,
        code: &TokenValue,
        client_id: &str,
        redirect_uri: &str,
        verifier: &str,
        issuer: &TokenIssuer,
    ) -> Result<UserGrant, GrantError> {
        let (now, mut tx) = self.begin_grant(code, TokenKind::OAuthCode).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {GRANTED_COLUMNS}, redirect_uri, code_challenge FROM oauth_codes WHERE digest = $1"
        )))
        .bind(code.digest().as_str())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(GrantError::InvalidGrant)?;
        let spent = sqlx::query("DELETE FROM oauth_codes WHERE digest = $1")
            .bind(code.digest().as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if spent != 1 {
            // Another exchange of the same code (or the app's deletion) took it between the
            // read and here: on PostgreSQL the read does not lock, the delete does.
            return Err(GrantError::InvalidGrant);
        }
        let granted = granted_from_row(&row)?;
        let expected_redirect: String = row.try_get("redirect_uri")?;
        let challenge: String = row.try_get("code_challenge")?;
        let valid = granted.holds_for(now, client_id)
            && expected_redirect == redirect_uri
            && pkce_matches(verifier, &challenge);
        if !valid {
            // The code is spent either way.
            tx.commit().await?;
            return Err(GrantError::InvalidGrant);
        }
        if client_id != PUBLIC_CLIENT {
            // A partner's app must still be there, in the code's workspace.
            let app = sqlx::query(
                "SELECT 1 AS yes FROM oauth_apps WHERE client_id = $1 AND workspace_id = $2",
            )
            .bind(client_id)
            .bind(granted.workspace_id.get())
            .fetch_optional(&mut *tx)
            .await?;
            if app.is_none() {
                tx.commit().await?;
                return Err(GrantError::InvalidGrant);
            }
        }
        let user_name = require_user_access(&mut tx, granted.principal_id).await?;
        let refresh_token = TokenValue::generate_kind(TokenKind::OAuthRefresh);
        let grant_id = new_secret_id();
        sqlx::query(
            "INSERT INTO oauth_grants (grant_id, refresh_digest, workspace_id, principal_id, client_id, \
             scope, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(grant_id.as_str())
        .bind(refresh_token.digest().as_str())
        .bind(granted.workspace_id.get())
        .bind(granted.principal_id.get())
        .bind(client_id)
        .bind(granted.scope.as_str())
        .bind(now)
        .bind(now + REFRESH_SECONDS * 1000)
        .execute(&mut *tx)
        .await?;
        self.user_grant(tx, issuer, user_name, granted, &grant_id, refresh_token).await
    }

    /// The start of a grant that presents `token`: the time and a write transaction, or
    /// `invalid_grant` at once when the token is not of `kind`.
    async fn begin_grant(
        &self,
        token: &TokenValue,
        kind: TokenKind,
    ) -> Result<(EpochMillis, Transaction<'static, Any>), GrantError> {
        if token.kind() != kind {
            return Err(GrantError::InvalidGrant);
        }
        Ok((self.now_millis(), self.begin_write().await?))
    }

    /// The `refresh_token` grant: a new access token, and a new refresh token that replaces
    /// the one presented (which then grants nothing).
    pub async fn refresh_grant(
        &self,
        refresh: &TokenValue,
        client_id: &str,
        issuer: &TokenIssuer,
    ) -> Result<UserGrant, GrantError> {
        let (now, mut tx) = self.begin_grant(refresh, TokenKind::OAuthRefresh).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT grant_id, {GRANTED_COLUMNS} FROM oauth_grants WHERE refresh_digest = $1"
        )))
        .bind(refresh.digest().as_str())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(GrantError::InvalidGrant)?;
        let granted = granted_from_row(&row)?;
        if !granted.holds_for(now, client_id) {
            return Err(GrantError::InvalidGrant);
        }
        let grant_id: String = row.try_get("grant_id")?;
        let user_name = require_user_access(&mut tx, granted.principal_id).await?;
        let refresh_token = TokenValue::generate_kind(TokenKind::OAuthRefresh);
        let replaced = sqlx::query(
            "UPDATE oauth_grants SET refresh_digest = $1 WHERE grant_id = $2 AND refresh_digest = $3",
        )
        .bind(refresh_token.digest().as_str())
        .bind(grant_id.as_str())
        .bind(refresh.digest().as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if replaced == 0 {
            return Err(GrantError::InvalidGrant);
        }
        self.user_grant(tx, issuer, user_name, granted, &grant_id, refresh_token).await
    }

    /// What a user's grant answers once its row is written in `tx`: commits it, then an access
    /// token signed for the grant (after the commit: the first signing key may need the write
    /// connection), and the grant's new refresh token.
    async fn user_grant(
        &self,
        tx: Transaction<'static, Any>,
        issuer: &TokenIssuer,
        user_name: String,
        granted: Granted,
        grant_id: &str,
        refresh_token: TokenValue,
    ) -> Result<UserGrant, GrantError> {
        tx.commit().await?;
        let access_token = self
            .sign_access_token(
                issuer,
                user_name,
                granted.workspace_id,
                granted.principal_id,
                &granted.scope,
                Minted::ByGrant(grant_id),
            )
            .await?;
        Ok(UserGrant {
            access: AccessGrant {
                access_token,
                expires_in: ACCESS_TOKEN_SECONDS,
                scope: granted.scope,
                principal_id: granted.principal_id,
            },
            refresh_token,
        })
    }
}

/// What an authorization code's row, or a user's grant's, says of the grant it starts or
/// continues.
struct Granted {
    workspace_id: WorkspaceId,
    principal_id: PrincipalId,
    client_id: String,
    scope: String,
    expires_at: EpochMillis,
}

crate::read::columns_of!(Granted {
    workspace_id, principal_id, client_id, scope, expires_at,
} => GRANTED_COLUMNS, granted_from_row);

impl Granted {
    /// Whether it still holds at `now`, for `client_id`.
    fn holds_for(&self, now: EpochMillis, client_id: &str) -> bool {
        self.expires_at > now && same_client(&self.client_id, client_id)
    }
}

/// A grant's user must still be active and able to use the workspace; returns the user name.
async fn require_user_access(
    tx: &mut Transaction<'static, Any>,
    principal_id: PrincipalId,
) -> Result<String, GrantError> {
    let found = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT p.user_name FROM principals p WHERE p.id = $1 AND COALESCE(p.active, 1) = 1 \
         AND {HAS_WORKSPACE_ACCESS}"
    )))
    .bind(principal_id.get())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(GrantError::InvalidGrant)?;
    let name: Option<String> = found.try_get("user_name")?;
    Ok(name.unwrap_or_default())
}

/// What an access token was minted from.
enum Minted<'a> {
    BySecret(&'a str),
    ByGrant(&'a str),
}

/// Creates a secret inside a transaction and returns its value, the only time it exists. At
/// most [`MAX_SECRETS_PER_PRINCIPAL`] per principal.
pub(crate) async fn insert_oauth_secret(
    tx: &mut Transaction<'static, Any>,
    created: EpochMillis,
    workspace_id: WorkspaceId,
    principal_id: PrincipalId,
    created_by_id: PrincipalId,
    lifetime_seconds: i64,
) -> Result<(TokenValue, OAuthSecretRecord)> {
    let held: i64 = sqlx::query("SELECT COUNT(*) AS n FROM oauth_secrets WHERE principal_id = $1")
        .bind(principal_id.get())
        .fetch_one(&mut **tx)
        .await?
        .try_get("n")?;
    if held >= MAX_SECRETS_PER_PRINCIPAL {
        return Err(StoreError::Rejected(Rejected::OAuthSecretLimit { principal_id }));
    }
    let value = TokenValue::generate_kind(TokenKind::OAuthSecret);
    let now = created;
    let record = OAuthSecretRecord {
        secret_id: new_secret_id(),
        principal_id,
        secret_hash: secret_hash(value.expose()),
        create_time: now,
        update_time: now,
        expire_time: now.saturating_add(lifetime_seconds.saturating_mul(1000)),
    };
    sqlx::query(
        "INSERT INTO oauth_secrets (secret_id, digest, secret_hash, workspace_id, principal_id, \
         created_by_id, create_time, update_time, expire_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(record.secret_id.as_str())
    .bind(value.digest().as_str())
    .bind(record.secret_hash.as_str())
    .bind(workspace_id.get())
    .bind(principal_id.get())
    .bind(created_by_id.get())
    .bind(record.create_time)
    .bind(record.update_time)
    .bind(record.expire_time)
    .execute(&mut **tx)
    .await?;
    Ok((value, record))
}

/// Refuses anything but a service principal of the workspace, as not found.
async fn require_service_principal(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    principal_id: PrincipalId,
) -> Result<()> {
    let found = sqlx::query(
        "SELECT 1 AS yes FROM principals WHERE id = $1 AND workspace_id = $2 \
         AND kind = 'service_principal'",
    )
    .bind(principal_id.get())
    .bind(workspace_id.get())
    .fetch_optional(&mut **tx)
    .await?;
    match found {
        Some(_) => Ok(()),
        None => Err(StoreError::Missing(Missing::ServicePrincipal { id: principal_id })),
    }
}

/// A partner's OAuth U2M app, made by its connection (`AUTH_OAUTH_U2M`): a public client whose
/// only redirect is the partner's callback. Never a secret: it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthApp {
    pub client_id: String,
    pub workspace_id: WorkspaceId,
    pub partner_id: String,
    /// The connection (its uid) the app belongs to.
    pub connection_uid: String,
    /// The partner's callback, once its connect answer named one: until then the app
    /// authorizes nothing.
    pub redirect_uri: Option<String>,
    pub created_at: EpochMillis,
}

crate::read::columns_of!(OAuthApp {
    client_id, workspace_id, partner_id, connection_uid, redirect_uri, created_at,
} => APP_COLUMNS, app_from_row);

const APP_TABLE: Table<OAuthApp> = Table::new("oauth_apps", APP_COLUMNS, app_from_row);

impl Store {
    /// A partner app by its client id (what `/oidc/v1/authorize` and the token endpoint look
    /// up); `None` for an unknown or deleted one.
    pub async fn oauth_app(&self, client_id: &str) -> Result<Option<OAuthApp>> {
        if !patchbay_core::oauth::is_app_client_id(client_id) {
            return Ok(None);
        }
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {APP_COLUMNS} FROM oauth_apps WHERE client_id = $1"
        )))
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(app_from_row).transpose()
    }

    /// The app of a workspace's connection to a partner, if it made one.
    pub async fn connection_oauth_app(
        &self,
        workspace_id: WorkspaceId,
        partner_id: &str,
    ) -> Result<Option<OAuthApp>> {
        self.workspace_row(&APP_TABLE, "partner_id", workspace_id, partner_id).await
    }

    /// Records the partner's callback as the app's only redirect, for the connection `uid`
    /// only (a connect that was undone meanwhile changes nothing): `false` then. The caller
    /// checked the URI (the partner's hostnames, [`patchbay_core::oauth::partner_callback_allowed`]).
    pub async fn set_oauth_app_redirect(
        &self,
        actor: &crate::partners::Actor,
        workspace_id: WorkspaceId,
        partner_id: &str,
        uid: &str,
        redirect_uri: &str,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let set = sqlx::query(
            "UPDATE oauth_apps SET redirect_uri = $1 \
             WHERE workspace_id = $2 AND partner_id = $3 AND connection_uid = $4",
        )
        .bind(redirect_uri)
        .bind(workspace_id.get())
        .bind(partner_id)
        .bind(uid)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if set > 0 {
            crate::partners::audit(
                &mut tx,
                self.now_millis(),
                workspace_id,
                actor,
                "oauth_app.update",
                "oauth_app",
                partner_id,
                Some(partner_id),
                serde_json::json!({"redirect_uri": redirect_uri}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(set > 0)
    }
}

impl Store {
    /// Whether the user consented to the partner app `client_id` acting as them (on the
    /// consent page of `/oidc/v1/authorize`): then their authorizations of it go straight
    /// through.
    pub async fn has_consent(&self, principal_id: PrincipalId, client_id: &str) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS yes FROM oauth_consents WHERE principal_id = $1 AND client_id = $2",
        )
        .bind(principal_id.get())
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Records the signed-in user's consent to the app, if the app is still there in their
    /// workspace (a connection deleted meanwhile took it): `false` then. Consenting twice
    /// changes nothing.
    pub async fn record_consent(&self, caller: &Caller, client_id: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let app = sqlx::query(
            "SELECT partner_id FROM oauth_apps WHERE client_id = $1 AND workspace_id = $2",
        )
        .bind(client_id)
        .bind(caller.workspace_id.get())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(app) = app else {
            return Ok(false);
        };
        let partner_id: String = app.try_get("partner_id")?;
        let added = sqlx::query(
            "INSERT INTO oauth_consents (principal_id, client_id, workspace_id, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(caller.principal_id.get())
        .bind(client_id)
        .bind(caller.workspace_id.get())
        .bind(self.now_millis())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if added > 0 {
            crate::partners::audit(
                &mut tx,
                self.now_millis(),
                caller.workspace_id,
                &crate::partners::Actor::caller(caller),
                "oauth_app.consent",
                "oauth_app",
                &partner_id,
                Some(&partner_id),
                serde_json::json!({"client_id": client_id}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// Makes the U2M app of a connection being provisioned, in its transaction; its client id.
pub(crate) async fn insert_oauth_app(
    tx: &mut Transaction<'static, Any>,
    now: EpochMillis,
    workspace_id: WorkspaceId,
    partner_id: &str,
    connection_uid: &str,
) -> Result<String> {
    let client_id = patchbay_core::oauth::new_app_client_id();
    sqlx::query(
        "INSERT INTO oauth_apps (client_id, workspace_id, partner_id, connection_uid, redirect_uri, created_at) \
         VALUES ($1, $2, $3, $4, NULL, $5)",
    )
    .bind(client_id.as_str())
    .bind(workspace_id.get())
    .bind(partner_id)
    .bind(connection_uid)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(client_id)
}

/// Deletes the U2M app of a connection (or an orphan, by client id) in `tx`, with its users'
/// consents, authorization codes and grants: refresh tokens stop at once, and access tokens at
/// their next request (each names its grant). The client ids deleted.
pub(crate) async fn delete_oauth_apps(
    tx: &mut Transaction<'static, Any>,
    workspace_id: WorkspaceId,
    partner_id: &str,
    client_id: Option<&str>,
) -> Result<Vec<String>> {
    let clients: Vec<String> = sqlx::query_scalar(
        "SELECT client_id FROM oauth_apps WHERE workspace_id = $1 AND partner_id = $2",
    )
    .bind(workspace_id.get())
    .bind(partner_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut deleted = Vec::new();
    for client in clients.into_iter().filter(|c| client_id.is_none_or(|only| only == c)) {
        // The consents first (they name the app), then the app: an authorize or exchange
        // running beside this waits for it, then finds no app; codes and grants made before go
        // next.
        sqlx::query("DELETE FROM oauth_consents WHERE client_id = $1")
            .bind(client.as_str())
            .execute(&mut **tx)
            .await?;
        sqlx::query("DELETE FROM oauth_apps WHERE client_id = $1")
            .bind(client.as_str())
            .execute(&mut **tx)
            .await?;
        sqlx::query("DELETE FROM oauth_codes WHERE client_id = $1 AND workspace_id = $2")
            .bind(client.as_str())
            .bind(workspace_id.get())
            .execute(&mut **tx)
            .await?;
        sqlx::query("DELETE FROM oauth_grants WHERE client_id = $1 AND workspace_id = $2")
            .bind(client.as_str())
            .bind(workspace_id.get())
            .execute(&mut **tx)
            .await?;
        deleted.push(client);
    }
    Ok(deleted)
}
