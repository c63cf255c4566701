"""The official databricks-sdk against patchbay: the SCIM and token calls the SDK and the admin
guide make.

usage: DATABRICKS_HOST=http://127.0.0.1:PORT DATABRICKS_TOKEN=dapi... python sdk_conformance.py
Prints one line per step and a closing 'N passed, N failed' line; exits non-zero on any failure.
"""
import os
import sys
import uuid

from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.errors import NotFound, PermissionDenied, ResourceConflict
from databricks.sdk.service import iam, settings

from harness import check, expect, finish, step

cfg = Config(host=os.environ["DATABRICKS_HOST"], token=os.environ["DATABRICKS_TOKEN"],
             auth_type="pat", retry_timeout_seconds=30)
w = WorkspaceClient(config=cfg)


me = step("current_user.me", lambda: w.current_user.me())
step("me is an admin", lambda: check(any(g.display == "admins" for g in me.groups or []), "not in admins"))
step("get_workspace_id", lambda: check(w.get_workspace_id() > 0, "no workspace id"))

name = f"conformance-{uuid.uuid4().hex[:8]}"
sp = step("service_principals.create", lambda: w.service_principals.create(display_name=name, active=True))
if sp is None:
    finish()
step("service_principals.get", lambda: check(w.service_principals.get(id=sp.id).application_id == sp.application_id, "wrong sp"))
step("service_principals.list(filter)", lambda: check(
    [s.id for s in w.service_principals.list(filter=f'displayName eq "{name}"')] == [sp.id], "filter"))
step("service_principals.list(applicationId filter)", lambda: check(
    [s.id for s in w.service_principals.list(filter=f"applicationId eq {sp.application_id}")] == [sp.id], "filter"))
step("service_principals.list() terminates", lambda: check(
    sp.id in [s.id for s in w.service_principals.list()], "missing from list"))
step("service_principals.patch(entitlements)", lambda: w.service_principals.patch(
    id=sp.id,
    operations=[iam.Patch(op=iam.PatchOp.ADD, path="entitlements", value=[{"value": "databricks-sql-access"}])],
    schemas=[iam.PatchSchema.URN_IETF_PARAMS_SCIM_API_MESSAGES_2_0_PATCH_OP]))
step("entitlement visible", lambda: check(
    [e.value for e in w.service_principals.get(id=sp.id).entitlements or []] == ["databricks-sql-access"], "entitlements"))
step("service_principals.update", lambda: w.service_principals.update(
    id=sp.id, display_name=name + "-2", application_id=sp.application_id, active=True))
step("duplicate application id is a conflict", expect(ResourceConflict, lambda: w.service_principals.create(
    display_name="dup", application_id=sp.application_id)))

user = step("users.create", lambda: w.users.create(user_name=f"{name}@example.com", display_name="Conformance User"))
group = step("groups.create", lambda: w.groups.create(display_name=name, members=[iam.ComplexValue(value=user.id)]))
step("groups.list(filter)", lambda: check(
    [g.id for g in w.groups.list(filter=f'displayName eq "{name}"', attributes="id,displayName")] == [group.id], "groups"))
step("groups.patch(remove member)", lambda: w.groups.patch(
    id=group.id,
    operations=[iam.Patch(op=iam.PatchOp.REMOVE, path=f'members[value eq "{user.id}"]')],
    schemas=[iam.PatchSchema.URN_IETF_PARAMS_SCIM_API_MESSAGES_2_0_PATCH_OP]))
step("member removed", lambda: check(not (w.groups.get(id=group.id).members or []), "still a member"))
step("users.list(filter)", lambda: check(
    [u.id for u in w.users.list(filter=f'userName eq "{name}@example.com"')] == [user.id], "users"))
# Tokens: the caller's own, then on behalf of the service principal (the guide's rotation).
own = step("tokens.create", lambda: w.tokens.create(comment="conformance", lifetime_seconds=600))
step("tokens.list shows it", lambda: check(own.token_info.token_id in [t.token_id for t in w.tokens.list()], "missing"))
step("tokens.delete", lambda: w.tokens.delete(token_id=own.token_info.token_id))
step("obo token refused without CAN_USE", expect(PermissionDenied, lambda: w.token_management.create_obo_token(
    application_id=sp.application_id, comment="Partner Connect")))
step("token_management.update_permissions(CAN_USE)", lambda: w.token_management.update_permissions(
    access_control_list=[settings.TokenAccessControlRequest(
        service_principal_name=sp.application_id, permission_level=settings.TokenPermissionLevel.CAN_USE)]))
perms = step("token_management.get_permissions", lambda: w.token_management.get_permissions())
step("permissions name the principal", lambda: check(
    sp.application_id in [a.service_principal_name for a in perms.access_control_list], "missing"))
step("token_management.get_permission_levels", lambda: w.token_management.get_permission_levels())
obo = step("token_management.create_obo_token", lambda: w.token_management.create_obo_token(
    application_id=sp.application_id, comment="Partner Connect", lifetime_seconds=1209600))
sp_client = WorkspaceClient(config=Config(host=os.environ["DATABRICKS_HOST"], token=obo.token_value,
                                          auth_type="pat", retry_timeout_seconds=5))
step("the obo token is the service principal's", lambda: check(
    sp_client.current_user.me().user_name == sp.application_id, "wrong principal"))
step("a service principal cannot manage tokens", expect(PermissionDenied, lambda: list(sp_client.token_management.list())))
step("token_management.get", lambda: check(
    w.token_management.get(token_id=obo.token_info.token_id).token_info.owner_id == int(sp.id), "owner"))
step("token_management.list(created_by_username)", lambda: check(obo.token_info.token_id in [
    t.token_id for t in w.token_management.list(created_by_username=me.user_name)], "missing"))
step("token_management.delete", lambda: w.token_management.delete(token_id=obo.token_info.token_id))
step("the deleted token is refused", expect(Exception, lambda: sp_client.current_user.me()))

step("groups.delete", lambda: w.groups.delete(id=group.id))
step("users.delete", lambda: w.users.delete(id=user.id))
step("service_principals.delete", lambda: w.service_principals.delete(id=sp.id))
step("deleted principal is NotFound", expect(NotFound, lambda: w.service_principals.get(id=sp.id)))

bad = WorkspaceClient(config=Config(host=os.environ["DATABRICKS_HOST"], token="dapi" + "0" * 32,
                                    auth_type="pat", retry_timeout_seconds=5))
step("unknown token is refused", expect(Exception, lambda: bad.current_user.me()))

finish()
