-- OAuth access tokens become signed JWTs (HS256): a grant writes nothing, and a token is checked
-- on every request against the secret or grant that minted it and its principal, which still
-- live here. The keys that sign them are credentials shared by all nodes; each has an id
-- (`kid`, named in the tokens' header) so that a new one can take over signing while the old
-- ones still verify what they signed. `generation` orders them, and makes the first key's
-- creation an insert-if-absent that two nodes starting at once cannot both win.
-- Paired with ../{{the other dialect}}/0010_oauth_jwt.sql.

CREATE TABLE oauth_signing_keys (
    generation BIGINT PRIMARY KEY,
    kid TEXT NOT NULL UNIQUE,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- The day a secret was last exchanged at the token endpoint, written at most once a day (as a
-- personal access token's last use): whether a partner exchanged the secret it was given.
ALTER TABLE oauth_secrets ADD COLUMN last_used_day BIGINT;

-- Access tokens are no longer stored.
DROP TABLE oauth_tokens;
