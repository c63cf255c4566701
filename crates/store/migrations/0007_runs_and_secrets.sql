-- Job runs, and secret scopes with their secrets and ACLs.
-- Paired with ../{{the other dialect}}/0007_runs_and_secrets.sql: the same statements in both dialects.

-- A run of a job (parent_id NULL), or the run of one of its tasks (parent_id: the job run).
-- Runs go with their job. The state is the phase it was last put in and since when; it moves
-- on by time when read.
CREATE TABLE job_runs (
    id BIGINT PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    parent_id BIGINT,
    task_key TEXT,
    -- A task run's place among its job run's tasks (0 for a job run).
    position BIGINT NOT NULL,
    run_name TEXT NOT NULL,
    -- JSON: the task's settings for a task run; the run-now parameters for a job run.
    spec TEXT NOT NULL,
    idempotency_token TEXT,
    creator_id BIGINT NOT NULL,
    creator_name TEXT NOT NULL,
    phase TEXT NOT NULL,
    phase_since BIGINT NOT NULL,
    start_time BIGINT NOT NULL
);
CREATE INDEX job_runs_workspace ON job_runs (workspace_id, start_time);
CREATE INDEX job_runs_job ON job_runs (job_id, start_time);
CREATE INDEX job_runs_parent ON job_runs (parent_id);
CREATE UNIQUE INDEX job_runs_idempotency ON job_runs (job_id, idempotency_token);

CREATE TABLE secret_scopes (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    name TEXT NOT NULL,
    backend_type TEXT NOT NULL,
    creator_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, name)
);

-- Never the value: its length and a salted SHA-256 digest (no API returns a value).
CREATE TABLE secrets (
    workspace_id BIGINT NOT NULL,
    scope TEXT NOT NULL,
    secret_key TEXT NOT NULL,
    value_length BIGINT NOT NULL,
    value_salt TEXT NOT NULL,
    value_digest TEXT NOT NULL,
    last_updated_timestamp BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, scope, secret_key),
    FOREIGN KEY (workspace_id, scope) REFERENCES secret_scopes (workspace_id, name) ON DELETE CASCADE
);

CREATE TABLE secret_acls (
    workspace_id BIGINT NOT NULL,
    scope TEXT NOT NULL,
    principal_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    permission TEXT NOT NULL,
    PRIMARY KEY (workspace_id, scope, principal_id),
    FOREIGN KEY (workspace_id, scope) REFERENCES secret_scopes (workspace_id, name) ON DELETE CASCADE
);
CREATE INDEX secret_acls_principal ON secret_acls (principal_id);
