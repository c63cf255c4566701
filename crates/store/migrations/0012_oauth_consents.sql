-- A user's consent to a partner's U2M app acting as them: given once on the consent page of
-- /oidc/v1/authorize, after which that user's authorizations of the app go straight through.
-- (The CLI's and SDKs' own client, databricks-cli, asks no consent.) A consent lives no longer
-- than its app or its user: deleting the connection deletes the app with its consents.
-- Paired with ../{{the other dialect}}/0012_oauth_consents.sql.

CREATE TABLE oauth_consents (
    principal_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES oauth_apps (client_id) ON DELETE CASCADE,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (principal_id, client_id)
);
CREATE INDEX oauth_consents_client ON oauth_consents (client_id);
