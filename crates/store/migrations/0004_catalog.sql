-- Unity Catalog and the legacy Hive metastore: metastores and their assignment to workspaces,
-- catalogs, schemas, tables with their columns, and the privileges granted on them.
-- Paired with ../{{the other dialect}}/0004_catalog.sql: the same logical schema; only the expression that
-- makes random UUIDs for the rows inserted below differs.

-- A Unity Catalog metastore of the account. Its owner is the metastore admin (a user or a
-- group). Deleting that principal leaves the metastore without an owner rather than failing
-- the delete: the workspace admins then administer it until they name a new owner.
CREATE TABLE metastores (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    storage_root TEXT,
    region TEXT,
    owner_id BIGINT REFERENCES principals (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE UNIQUE INDEX metastores_name ON metastores (account_id, name);
CREATE INDEX metastores_owner ON metastores (owner_id);

-- A workspace with a row here is Unity Catalog enabled.
CREATE TABLE metastore_assignments (
    workspace_id BIGINT PRIMARY KEY REFERENCES workspaces (id),
    metastore_id TEXT NOT NULL REFERENCES metastores (id) ON DELETE CASCADE,
    default_catalog_name TEXT NOT NULL,
    assigned_at BIGINT NOT NULL
);
CREATE INDEX metastore_assignments_metastore ON metastore_assignments (metastore_id);

-- Catalogs: `hive_metastore` belongs to one workspace (workspace_id set), Unity Catalog
-- catalogs to a metastore (metastore_id set). Owners are principals; deleting an owner leaves
-- the object without one (its catalog's owner and the admins still manage it), never deletes data.
CREATE TABLE catalogs (
    id TEXT PRIMARY KEY,
    workspace_id BIGINT REFERENCES workspaces (id),
    metastore_id TEXT REFERENCES metastores (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    comment TEXT,
    storage_root TEXT,
    -- JSON object of string properties.
    properties TEXT NOT NULL DEFAULT '{}',
    owner_id BIGINT REFERENCES principals (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    CHECK ((workspace_id IS NULL) <> (metastore_id IS NULL))
);
CREATE UNIQUE INDEX catalogs_workspace_name ON catalogs (workspace_id, name) WHERE workspace_id IS NOT NULL;
CREATE UNIQUE INDEX catalogs_metastore_name ON catalogs (metastore_id, name) WHERE metastore_id IS NOT NULL;
CREATE INDEX catalogs_owner ON catalogs (owner_id);

CREATE TABLE catalog_schemas (
    id TEXT PRIMARY KEY,
    catalog_id TEXT NOT NULL REFERENCES catalogs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    comment TEXT,
    properties TEXT NOT NULL DEFAULT '{}',
    owner_id BIGINT REFERENCES principals (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    UNIQUE (catalog_id, name)
);
CREATE INDEX catalog_schemas_owner ON catalog_schemas (owner_id);

-- Table metadata only: patchbay holds no data.
CREATE TABLE catalog_tables (
    id TEXT PRIMARY KEY,
    schema_id TEXT NOT NULL REFERENCES catalog_schemas (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    table_type TEXT NOT NULL,
    data_source_format TEXT,
    storage_location TEXT,
    comment TEXT,
    properties TEXT NOT NULL DEFAULT '{}',
    owner_id BIGINT REFERENCES principals (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    UNIQUE (schema_id, name)
);
CREATE INDEX catalog_tables_owner ON catalog_tables (owner_id);

CREATE TABLE catalog_columns (
    table_id TEXT NOT NULL REFERENCES catalog_tables (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    name TEXT NOT NULL,
    type_name TEXT NOT NULL,
    type_text TEXT NOT NULL,
    type_json TEXT NOT NULL,
    nullable BIGINT NOT NULL DEFAULT 1,
    comment TEXT,
    PRIMARY KEY (table_id, position)
);
CREATE UNIQUE INDEX catalog_columns_name ON catalog_columns (table_id, name);

-- Privileges granted on a securable; exactly one of the four securable ids is set, the one
-- securable_type names. Deleting the securable or the grantee deletes the grant.
CREATE TABLE catalog_grants (
    securable_type TEXT NOT NULL CHECK (securable_type IN ('metastore', 'catalog', 'schema', 'table')),
    metastore_id TEXT REFERENCES metastores (id) ON DELETE CASCADE,
    catalog_id TEXT REFERENCES catalogs (id) ON DELETE CASCADE,
    schema_id TEXT REFERENCES catalog_schemas (id) ON DELETE CASCADE,
    table_id TEXT REFERENCES catalog_tables (id) ON DELETE CASCADE,
    principal_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    privilege TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    CHECK ((metastore_id IS NOT NULL) = (securable_type = 'metastore')),
    CHECK ((catalog_id IS NOT NULL) = (securable_type = 'catalog')),
    CHECK ((schema_id IS NOT NULL) = (securable_type = 'schema')),
    CHECK ((table_id IS NOT NULL) = (securable_type = 'table'))
);
CREATE UNIQUE INDEX catalog_grants_unique ON catalog_grants
    (securable_type, COALESCE(metastore_id, catalog_id, schema_id, table_id), principal_id, privilege);
CREATE INDEX catalog_grants_metastore ON catalog_grants (metastore_id);
CREATE INDEX catalog_grants_catalog ON catalog_grants (catalog_id);
CREATE INDEX catalog_grants_schema ON catalog_grants (schema_id);
CREATE INDEX catalog_grants_table ON catalog_grants (table_id);
CREATE INDEX catalog_grants_principal ON catalog_grants (principal_id);

-- Every existing workspace gets its hive_metastore, owned by its admins group, with the
-- `default` schema (new workspaces get them at bootstrap).
INSERT INTO catalogs (id, workspace_id, metastore_id, name, comment, owner_id,
                      created_at, created_by, updated_at, updated_by)
SELECT {{new uuid}}, w.id, NULL, 'hive_metastore', 'The workspace''s legacy Hive metastore',
       (SELECT p.id FROM principals p WHERE p.workspace_id = w.id AND p.builtin = 'admins'),
       w.created_at, 'System user', w.created_at, 'System user'
FROM workspaces w;

INSERT INTO catalog_schemas (id, catalog_id, name, comment, owner_id,
                             created_at, created_by, updated_at, updated_by)
SELECT {{new uuid}}, c.id, 'default', 'Default Hive metastore schema', c.owner_id,
       c.created_at, 'System user', c.created_at, 'System user'
FROM catalogs c WHERE c.workspace_id IS NOT NULL AND c.name = 'hive_metastore';
