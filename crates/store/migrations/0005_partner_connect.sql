-- Partner Connect: partner endpoints (and custom partners), connections (0 or 1 per workspace
-- and partner), the organization's partner accounts, and the audit trail.
-- Paired with ../{{the other dialect}}/0005_partner_connect.sql; only the id types differ.

-- Per workspace: the protocol endpoint of a partner, and the whole definition of a custom one.
CREATE TABLE partner_settings (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    partner_id TEXT NOT NULL,
    -- JSON of the partner's definition, for partners an admin registered; NULL for built-ins.
    custom_spec TEXT,
    base_url TEXT,
    connect_path TEXT NOT NULL DEFAULT '/connect',
    delete_connection_path TEXT,
    test_connection_path TEXT,
    rotate_token_path TEXT,
    username TEXT,
    password TEXT,
    -- JSON array of the hosts the partner may redirect users to.
    hostnames TEXT NOT NULL DEFAULT '[]',
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, partner_id)
);

CREATE TABLE connections (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    partner_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('CONNECTING', 'CONNECTED', 'DELETING')),
    catalog_name TEXT,
    -- JSON array of schema names.
    schemas TEXT NOT NULL DEFAULT '[]',
    service_principal_id BIGINT REFERENCES principals (id) ON DELETE SET NULL,
    service_principal_name TEXT,
    application_id TEXT,
    -- The principal whose token the partner holds (the service principal, or the connecting
    -- user for partners without one).
    token_owner_id BIGINT,
    token_id TEXT,
    warehouse_id TEXT,
    warehouse_created BIGINT NOT NULL DEFAULT 0,
    cluster_id TEXT,
    partner_connection_id TEXT,
    -- JSON of the grants made, for display and drift checks.
    grants TEXT NOT NULL DEFAULT '[]',
    message TEXT,
    created_by_id BIGINT NOT NULL,
    created_by_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, partner_id)
);

CREATE TABLE partner_accounts (
    account_id TEXT NOT NULL REFERENCES accounts (id),
    partner_id TEXT NOT NULL,
    administrator_email TEXT NOT NULL,
    first_workspace_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (account_id, partner_id)
);

CREATE TABLE audit_events (
    id {{serial key}},
    workspace_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    actor_id BIGINT,
    actor_name TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    partner_id TEXT,
    -- JSON with what else matters; never a token value.
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_workspace ON audit_events (workspace_id, id);

-- What must still reach a partner, written in the same transaction as the change that causes
-- it and delivered by a worker with retries (at least once; partners get an Idempotency-Key).
CREATE TABLE partner_notifications (
    id {{serial key}},
    workspace_id BIGINT NOT NULL,
    partner_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('delete_connection')),
    -- JSON of the request to send.
    payload TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    delivered_at BIGINT,
    outcome TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX partner_notifications_due ON partner_notifications (next_attempt_at) WHERE delivered_at IS NULL;
