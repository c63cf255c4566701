-- The nodes serving this installation, and the SQL connector's sessions.
-- A node keeps the results of the statements it runs in memory; a statement id begins with the
-- route of the node that ran it, so that any node can pass a poll, a chunk or a result link on
-- to that node, at the address it registered here. A node's row is refreshed while it runs.
-- Paired with ../{{the other dialect}}/0015_sql_nodes.sql; identical.

CREATE TABLE nodes (
    route TEXT PRIMARY KEY,
    node_id TEXT NOT NULL UNIQUE,
    url TEXT,
    seen_at BIGINT NOT NULL
);

-- Sessions of the Statement Execution API (the SQL connector opens one per connection): a
-- warehouse and the current catalog and schema, which any node may run the next statement on.
CREATE TABLE sql_sessions (
    id TEXT PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    principal_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    warehouse_id TEXT NOT NULL,
    catalog_name TEXT,
    schema_name TEXT,
    last_used BIGINT NOT NULL
);
CREATE INDEX sql_sessions_principal ON sql_sessions (workspace_id, principal_id);
CREATE INDEX sql_sessions_idle ON sql_sessions (last_used);
