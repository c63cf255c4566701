-- Access control lists of workspace objects (Permissions API). The token permission is the
-- object ('tokens', 'tokens'): admins always hold CAN_MANAGE, the users group CAN_USE.
-- Paired with ../{{the other dialect}}/0002_object_permissions.sql.

CREATE TABLE object_permissions (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    principal_id BIGINT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    permission_level TEXT NOT NULL,
    PRIMARY KEY (workspace_id, object_type, object_id, principal_id)
);
CREATE INDEX object_permissions_principal ON object_permissions (principal_id);

INSERT INTO object_permissions (workspace_id, object_type, object_id, principal_id, permission_level)
SELECT workspace_id, 'tokens', 'tokens', id,
       CASE builtin WHEN 'admins' THEN 'CAN_MANAGE' ELSE 'CAN_USE' END
FROM principals WHERE builtin IN ('admins', 'users');
