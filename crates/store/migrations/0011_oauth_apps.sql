-- The OAuth U2M apps Partner Connect makes for partners with AUTH_OAUTH_U2M: one per connection,
-- a public client (PKCE, no secret: the protocol hands the partner only the client id) whose
-- only redirect is the callback the partner answered the connect with (none until then, and
-- none if it sent none: such an app authorizes nothing). It lives exactly as long as its
-- connection: the connection's removal deletes it with its codes and users' grants, so the
-- refresh tokens stop at once and the access tokens at their next request.
-- Paired with ../{{the other dialect}}/0011_oauth_apps.sql.

CREATE TABLE oauth_apps (
    client_id TEXT PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    partner_id TEXT NOT NULL,
    -- The connection (its uid) the app was made for.
    connection_uid TEXT NOT NULL,
    redirect_uri TEXT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX oauth_apps_connection ON oauth_apps (workspace_id, partner_id);
CREATE INDEX oauth_grants_client ON oauth_grants (client_id);
CREATE INDEX oauth_codes_client ON oauth_codes (client_id);
