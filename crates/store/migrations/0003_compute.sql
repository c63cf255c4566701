-- Compute without compute: SQL warehouses, clusters and jobs, with the state each was put in
-- and when (states move on by time when read; no worker runs). Their ACLs live in
-- object_permissions with object_type 'warehouses', 'clusters' or 'jobs'.
-- Paired with ../{{the other dialect}}/0003_compute.sql: the same statements in both dialects.

CREATE TABLE warehouses (
    id TEXT PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    name TEXT NOT NULL,
    cluster_size TEXT NOT NULL,
    min_num_clusters BIGINT NOT NULL,
    max_num_clusters BIGINT NOT NULL,
    auto_stop_mins BIGINT NOT NULL,
    enable_photon BIGINT NOT NULL,
    enable_serverless_compute BIGINT NOT NULL,
    warehouse_type TEXT NOT NULL,
    spot_instance_policy TEXT NOT NULL,
    channel_name TEXT NOT NULL,
    channel_dbsql_version TEXT,
    -- JSON array of {"key","value"}.
    custom_tags TEXT NOT NULL,
    instance_profile_arn TEXT,
    statement_timeout BIGINT,
    max_dbu BIGINT,
    -- The id the legacy data sources API shows for this warehouse.
    data_source_id TEXT NOT NULL,
    -- No foreign key: a warehouse outlives the principal that created it.
    creator_id BIGINT NOT NULL,
    creator_name TEXT NOT NULL,
    state TEXT NOT NULL,
    state_since BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX warehouses_name ON warehouses (workspace_id, name);

CREATE TABLE clusters (
    id TEXT PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    cluster_name TEXT NOT NULL,
    -- JSON of the cluster specification as the client sent it.
    spec TEXT NOT NULL,
    creator_id BIGINT NOT NULL,
    creator_name TEXT NOT NULL,
    state TEXT NOT NULL,
    state_since BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX clusters_workspace ON clusters (workspace_id);

CREATE TABLE jobs (
    id BIGINT PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    -- settings.name, for the list filter.
    name TEXT NOT NULL,
    -- JSON of the job settings.
    settings TEXT NOT NULL,
    creator_id BIGINT NOT NULL,
    creator_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX jobs_workspace ON jobs (workspace_id, created_at);
