-- OAuth: service principals' secrets, users' grants through the CLI's browser login, and the
-- one-hour access tokens the token endpoint mints from either. Only SHA-256 digests of the
-- values are kept. An access token goes with the secret or grant that minted it and with its
-- principal, so deleting either ends its access at once, on every node.
-- Paired with ../{{the other dialect}}/0009_oauth.sql.

CREATE TABLE oauth_secrets (
    secret_id TEXT PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    -- What listings show to tell secrets apart (not the digest above).
    secret_hash TEXT NOT NULL,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    principal_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    created_by_id BIGINT NOT NULL,
    create_time BIGINT NOT NULL,
    update_time BIGINT NOT NULL,
    expire_time BIGINT NOT NULL
);
CREATE INDEX oauth_secrets_principal ON oauth_secrets (principal_id);

-- A user's sign-in through a public client (the CLI's and SDKs' browser login): its refresh
-- token, replaced at each use.
CREATE TABLE oauth_grants (
    grant_id TEXT PRIMARY KEY,
    refresh_digest TEXT NOT NULL UNIQUE,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    principal_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oauth_grants_principal ON oauth_grants (principal_id);

-- Authorization codes waiting for their exchange (minutes), with the PKCE challenge.
CREATE TABLE oauth_codes (
    digest TEXT PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    principal_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    scope TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX oauth_codes_principal ON oauth_codes (principal_id);

-- Access tokens, each minted from a service principal's secret or a user's grant.
CREATE TABLE oauth_tokens (
    digest TEXT PRIMARY KEY,
    token_id TEXT NOT NULL UNIQUE,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    principal_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    secret_id TEXT REFERENCES oauth_secrets (secret_id) ON DELETE CASCADE,
    grant_id TEXT REFERENCES oauth_grants (grant_id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    creation_time BIGINT NOT NULL,
    expiry_time BIGINT NOT NULL,
    CHECK ((secret_id IS NULL) <> (grant_id IS NULL))
);
CREATE INDEX oauth_tokens_secret ON oauth_tokens (secret_id);
CREATE INDEX oauth_tokens_grant ON oauth_tokens (grant_id);
CREATE INDEX oauth_tokens_principal ON oauth_tokens (principal_id);
CREATE INDEX oauth_tokens_expiry ON oauth_tokens (expiry_time);

-- What a connection hands its partner: a personal access token ('token'), or an OAuth secret
-- of its service principal ('oauth_secret', for partners with AUTH_OAUTH_M2M). The
-- connection's token_id, pending_token_id and previous_token_id name credentials of this kind.
ALTER TABLE connections ADD COLUMN credential TEXT NOT NULL DEFAULT 'token';
