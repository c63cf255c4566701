"""The official databricks-sdk's w.secrets against patchbay: scopes, secrets and ACLs, what a
service principal with READ may and may not do, and that no call gives a value back.

usage: DATABRICKS_HOST=http://127.0.0.1:PORT DATABRICKS_TOKEN=dapi... python sdk_secrets.py
Prints one line per step and a closing 'N passed, N failed' line; exits non-zero on any failure.
"""
import base64
import uuid

from databricks.sdk.errors import (InvalidParameterValue, NotFound, PermissionDenied, ResourceAlreadyExists,
                                   ResourceDoesNotExist)
from databricks.sdk.service import settings, workspace

from harness import check, client, expect, finish, step

# scripts/conformance looks for this value in the server's log and database files afterwards.
SECRET_VALUE = "patchbay-conformance-s3cr3t-value"
w = client()
suffix = uuid.uuid4().hex[:8]
scope = f"conformance-{suffix}"
me = step("current_user.me", lambda: w.current_user.me())

step("secrets.create_scope", lambda: w.secrets.create_scope(scope=scope))
step("the same scope again is ResourceAlreadyExists", expect(ResourceAlreadyExists, lambda: w.secrets.create_scope(
    scope=scope)))
step("secrets.list_scopes", lambda: check(
    any(s.name == scope and s.backend_type == workspace.ScopeBackendType.DATABRICKS for s in w.secrets.list_scopes()),
    "missing"))
step("secrets.put_secret(string_value)", lambda: w.secrets.put_secret(scope=scope, key="password", string_value=SECRET_VALUE))
step("secrets.put_secret(bytes_value)", lambda: w.secrets.put_secret(
    scope=scope, key="keystore", bytes_value=base64.b64encode(b"\x00\x01").decode()))
listed = step("secrets.list_secrets", lambda: list(w.secrets.list_secrets(scope=scope)))
step("keys and times, no values", lambda: check(
    sorted(s.key for s in listed) == ["keystore", "password"] and all(s.last_updated_timestamp > 0 for s in listed),
    f"{listed}"))
step("secrets.get_secret is refused", expect(PermissionDenied, lambda: w.secrets.get_secret(scope=scope, key="password")))
step("a bad key is InvalidParameterValue", expect(InvalidParameterValue, lambda: w.secrets.put_secret(
    scope=scope, key="no/slash", string_value="x")))
step("an unknown scope is ResourceDoesNotExist", expect(ResourceDoesNotExist, lambda: list(w.secrets.list_secrets(
    scope=f"missing-{suffix}"))))

acls = step("secrets.list_acls", lambda: list(w.secrets.list_acls(scope=scope)))
step("the creator manages the scope", lambda: check(
    [(a.principal, a.permission) for a in acls] == [(me.user_name, workspace.AclPermission.MANAGE)], f"{acls}"))

# A service principal with READ lists keys, and may not write.
sp = step("service_principals.create", lambda: w.service_principals.create(display_name=f"conformance-secrets-{suffix}"))
step("token permission for the principal", lambda: w.token_management.update_permissions(
    access_control_list=[settings.TokenAccessControlRequest(
        service_principal_name=sp.application_id, permission_level=settings.TokenPermissionLevel.CAN_USE)]))
obo = step("create_obo_token", lambda: w.token_management.create_obo_token(
    application_id=sp.application_id, comment="conformance", lifetime_seconds=600))
sp_w = client(token=obo.token_value, retry_timeout_seconds=5)
step("without an ACL the principal cannot list", expect(PermissionDenied, lambda: list(sp_w.secrets.list_secrets(
    scope=scope))))
step("secrets.put_acl(READ)", lambda: w.secrets.put_acl(
    scope=scope, principal=sp.application_id, permission=workspace.AclPermission.READ))
step("secrets.get_acl", lambda: check(
    w.secrets.get_acl(scope=scope, principal=sp.application_id).permission == workspace.AclPermission.READ, "READ"))
step("with READ the principal lists the keys", lambda: check(
    len(list(sp_w.secrets.list_secrets(scope=scope))) == 2, "keys"))
step("but may not put", expect(PermissionDenied, lambda: sp_w.secrets.put_secret(
    scope=scope, key="k", string_value="x")))
step("nor read a value", expect(PermissionDenied, lambda: sp_w.secrets.get_secret(scope=scope, key="password")))
step("secrets.delete_acl", lambda: w.secrets.delete_acl(scope=scope, principal=sp.application_id))
step("the ACL is gone", expect(NotFound, lambda: w.secrets.get_acl(scope=scope, principal=sp.application_id)))

step("secrets.delete_secret", lambda: w.secrets.delete_secret(scope=scope, key="password"))
step("one key left", lambda: check([s.key for s in w.secrets.list_secrets(scope=scope)] == ["keystore"], "keys"))
step("secrets.delete_scope", lambda: w.secrets.delete_scope(scope=scope))
step("the scope is gone", lambda: check(scope not in [s.name for s in w.secrets.list_scopes()], "listed"))
if sp is not None:
    step("service_principals.delete", lambda: w.service_principals.delete(id=sp.id))

finish()
