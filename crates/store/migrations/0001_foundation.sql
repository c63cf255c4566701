-- The installation, its workspaces and their principals (users, service principals, groups) and tokens.
-- Paired with ../{{the other dialect}}/0001_foundation.sql: the same logical schema, dialect differences only.

CREATE TABLE installation (
    singleton BIGINT PRIMARY KEY CHECK (singleton = 1),
    bootstrapped_at BIGINT NOT NULL
);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE workspaces (
    id BIGINT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    public_url TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE principals (
    id BIGINT PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    kind TEXT NOT NULL CHECK (kind IN ('user', 'service_principal', 'group')),
    user_name TEXT,
    application_id TEXT,
    display_name TEXT,
    given_name TEXT,
    family_name TEXT,
    -- NULL: never set or removed by a SCIM PATCH; counts as active.
    active BIGINT,
    external_id TEXT,
    builtin TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK ((kind = 'user') = (user_name IS NOT NULL)),
    CHECK ((kind = 'service_principal') = (application_id IS NOT NULL))
);
CREATE UNIQUE INDEX principals_user_name ON principals (workspace_id, LOWER(user_name)) WHERE kind = 'user';
CREATE UNIQUE INDEX principals_application_id ON principals (workspace_id, application_id) WHERE kind = 'service_principal';
CREATE UNIQUE INDEX principals_group_name ON principals (workspace_id, display_name) WHERE kind = 'group';
CREATE UNIQUE INDEX principals_builtin ON principals (workspace_id, builtin) WHERE builtin IS NOT NULL;
CREATE INDEX principals_display_name ON principals (workspace_id, kind, LOWER(display_name));

-- Multi-valued SCIM attributes that are plain values: entitlements, roles, emails.
CREATE TABLE principal_values (
    principal_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    attr TEXT NOT NULL CHECK (attr IN ('entitlements', 'roles', 'emails')),
    value TEXT NOT NULL,
    value_type TEXT,
    is_primary BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (principal_id, attr, value)
);
CREATE INDEX principal_values_lookup ON principal_values (attr, value);

CREATE TABLE memberships (
    group_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    member_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, member_id),
    CHECK (group_id <> member_id)
);
CREATE INDEX memberships_member ON memberships (member_id);

-- Personal access tokens. Only a SHA-256 digest of the value is kept.
CREATE TABLE tokens (
    token_id TEXT PRIMARY KEY,
    digest TEXT NOT NULL UNIQUE,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    owner_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    created_by_id BIGINT NOT NULL,
    created_by_username TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    creation_time BIGINT NOT NULL,
    expiry_time BIGINT NOT NULL,
    last_used_day BIGINT
);
CREATE INDEX tokens_owner ON tokens (owner_id);
CREATE INDEX tokens_workspace ON tokens (workspace_id, created_by_id);
