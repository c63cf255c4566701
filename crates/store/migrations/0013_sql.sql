-- SQL on the warehouses: a view keeps its query; every statement leaves a line of history.
ALTER TABLE catalog_tables ADD COLUMN view_definition TEXT;

-- Who ran what, on which warehouse, and how it ended (`/api/2.0/sql/history/queries`). The
-- user's name is kept as it was, so history outlives the principal.
CREATE TABLE query_history (
    id TEXT PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    principal_id BIGINT NOT NULL,
    user_name TEXT NOT NULL,
    warehouse_id TEXT NOT NULL,
    statement TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    rows_produced BIGINT,
    started_at BIGINT NOT NULL,
    ended_at BIGINT NOT NULL,
    seq BIGINT NOT NULL
);
CREATE INDEX query_history_recent ON query_history (workspace_id, seq);
