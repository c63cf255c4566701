"""The official databricks-sdk on the small incompatibilities other clients hit: a metastore
unassigned and force-deleted (parameters in the query string, and in a JSON body as the legacy
CLI sends them), updates without their required list (a 400 that changes nothing), and a SCIM
create's Location and meta.location (one absolute URI under the server's URL).

usage: DATABRICKS_HOST=http://127.0.0.1:PORT DATABRICKS_TOKEN=dapi... python sdk_compat.py
Prints one line per step and a closing 'N passed, N failed' line; exits non-zero on any failure.
Leaves the workspace's metastore assignment as it found it.
"""
import uuid

from databricks.sdk.errors import InvalidParameterValue, NotFound

from harness import HOST, check, client, expect, finish, step

w = client()
suffix = uuid.uuid4().hex[:8]
workspace_id = step("get_workspace_id", lambda: w.get_workspace_id())
try:
    before = w.metastores.current()
except NotFound:
    before = None


def metastore_assigned():
    try:
        return w.metastores.current().metastore_id
    except NotFound:
        return None


# Unassign and delete as the SDK sends them: DELETE with query parameters.
ms = step("metastores.create", lambda: w.metastores.create(name=f"compat-{suffix}", storage_root="s3://b/compat"))
step("metastores.assign", lambda: w.metastores.assign(
    workspace_id=workspace_id, metastore_id=ms.metastore_id, default_catalog_name="main"))
step("metastores.unassign", lambda: w.metastores.unassign(workspace_id=workspace_id, metastore_id=ms.metastore_id))
step("nothing is assigned", lambda: check(metastore_assigned() is None, "still assigned"))
step("metastores.delete(force=True)", lambda: w.metastores.delete(id=ms.metastore_id, force=True))
step("the metastore is gone", expect(NotFound, lambda: w.metastores.get(id=ms.metastore_id)))

# The same with the parameters in a JSON body, as the legacy CLI sends them.
ms = step("metastores.create (body parameters)", lambda: w.metastores.create(
    name=f"compat-body-{suffix}", storage_root="s3://b/compat"))
step("metastores.assign (body parameters)", lambda: w.metastores.assign(
    workspace_id=workspace_id, metastore_id=ms.metastore_id, default_catalog_name="main"))
assignment = f"/api/2.1/unity-catalog/workspaces/{workspace_id}/metastore"
step("query and body that disagree are a 400", expect(InvalidParameterValue, lambda: w.api_client.do(
    "DELETE", assignment, query={"metastore_id": ms.metastore_id}, body={"metastore_id": "another"})))
step("still assigned after the refusal", lambda: check(metastore_assigned() == ms.metastore_id, "unassigned"))
step("DELETE assignment with {metastore_id} in the body", lambda: w.api_client.do(
    "DELETE", assignment, body={"metastore_id": ms.metastore_id}))
step("nothing is assigned", lambda: check(metastore_assigned() is None, "still assigned"))
step("DELETE metastore with {force: true} in the body", lambda: w.api_client.do(
    "DELETE", f"/api/2.1/unity-catalog/metastores/{ms.metastore_id}", body={"force": True}))
step("the metastore is gone", expect(NotFound, lambda: w.metastores.get(id=ms.metastore_id)))

if before is not None:
    step("the previous assignment is restored", lambda: w.metastores.assign(
        workspace_id=workspace_id, metastore_id=before.metastore_id,
        default_catalog_name=before.default_catalog_name))

# Updates without their list: 400, nothing changed.
acl = step("permissions.get(tokens)", lambda: w.permissions.get("authorization", "tokens").as_dict())
step("permissions.update without access_control_list is a 400", expect(
    InvalidParameterValue, lambda: w.permissions.update("authorization", "tokens")))
step("permissions.set without access_control_list is a 400", expect(
    InvalidParameterValue, lambda: w.permissions.set("authorization", "tokens")))
step("the token ACL is unchanged", lambda: check(
    w.permissions.get("authorization", "tokens").as_dict() == acl, "changed"))
grants = step("grants.get(catalog, hive_metastore)", lambda: w.grants.get(
    securable_type="catalog", full_name="hive_metastore").as_dict())
step("grants.update without changes is a 400", expect(
    InvalidParameterValue, lambda: w.grants.update(securable_type="catalog", full_name="hive_metastore")))
step("the grants are unchanged", lambda: check(w.grants.get(
    securable_type="catalog", full_name="hive_metastore").as_dict() == grants, "changed"))

# SCIM: Location and meta.location are one absolute URI under the server's URL.
created = step("POST /ServicePrincipals", lambda: w.api_client.do(
    "POST", "/api/2.0/preview/scim/v2/ServicePrincipals", body={"displayName": f"COMPAT_{suffix}_USER"},
    response_headers=["Location"]))
if created:
    expected = f"{HOST.rstrip('/')}/api/2.0/preview/scim/v2/ServicePrincipals/{created['id']}"
    step("Location is the absolute URI", lambda: check(created.get("Location") == expected,
                                                        f"{created.get('Location')} != {expected}"))
    step("meta.location is the same URI", lambda: check(created["meta"]["location"] == expected,
                                                         f"{created['meta']['location']}"))
    step("GET shows the same meta.location", lambda: check(w.api_client.do(
        "GET", f"/api/2.0/preview/scim/v2/ServicePrincipals/{created['id']}")["meta"]["location"] == expected, "differs"))
    step("service_principals.delete", lambda: w.service_principals.delete(id=created["id"]))

finish()
