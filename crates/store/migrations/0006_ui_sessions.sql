-- Sessions of the Partner Connect page. A browser holds a random session id in a cookie; only
-- its SHA-256 digest is stored here. A session belongs to the token it logged in with and dies
-- with it (deleted here by cascade; an expired token is refused on every request).
-- Paired with ../{{the other dialect}}/0006_ui_sessions.sql; identical.

CREATE TABLE ui_sessions (
    digest TEXT PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    token_id TEXT NOT NULL REFERENCES tokens (token_id) ON DELETE CASCADE,
    principal_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX ui_sessions_token ON ui_sessions (token_id);
CREATE INDEX ui_sessions_expiry ON ui_sessions (expires_at);
