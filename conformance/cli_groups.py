"""databricks-cli 0.18's legacy groups API client (what `databricks groups …` runs) against
patchbay: text/json bodies, GET parameters in the query, the same groups SCIM shows.

usage: DATABRICKS_HOST=http://127.0.0.1:PORT DATABRICKS_TOKEN=dapi... python cli_groups.py
Prints one line per step and a closing 'N passed, N failed' line; exits non-zero on any failure.
"""
import uuid

from databricks_cli.groups.api import GroupsApi
from databricks_cli.sdk.api_client import ApiClient
from requests.exceptions import HTTPError

from harness import HOST, TOKEN, check, client, expect, finish, step

api = ApiClient(host=HOST, token=TOKEN)
# databricks-cli 0.18 keeps only the host name of its host setting (it drops the port), so it
# reaches a server on 80 or 443 only; the suite's server listens on a free port.
api.url = f"{HOST.rstrip('/')}/api/"
groups = GroupsApi(api)
w = client()
suffix = uuid.uuid4().hex[:8]
parent, child = f"conformance-{suffix}", f"conformance-child-{suffix}"
user = f"conformance-groups-{suffix}@example.com"

step("create", lambda: check(groups.create(parent) == {"group_name": parent}, "answer"))
step("create another", lambda: groups.create(child))
step("the same again is refused", expect(HTTPError, lambda: groups.create(parent)))
step("list_all", lambda: check({"admins", "users", parent, child} <= set(groups.list_all()["group_names"]), "names"))
u = step("a user (SCIM)", lambda: w.users.create(user_name=user))
step("add_member(user)", lambda: groups.add_member(parent, user_name=user, group_name=None))
step("add_member(group)", lambda: groups.add_member(parent, user_name=None, group_name=child))
step("list_members", lambda: check(
    sorted(groups.list_members(parent)["members"], key=str) == sorted(
        [{"user_name": user}, {"group_name": child}], key=str), "members"))
step("list_parents(user)", lambda: check(parent in groups.list_parents(user_name=user, group_name=None)["group_names"],
                                         "parents"))
step("list_parents(group)", lambda: check(groups.list_parents(user_name=None, group_name=child)["group_names"] == [parent],
                                          "parents"))
step("SCIM sees the members", lambda: check(
    len(next(iter(w.groups.list(filter=f'displayName eq "{parent}"'))).members) == 2, "members"))
step("no group joins admins", expect(HTTPError, lambda: groups.add_member("admins", user_name=None, group_name=child)))
step("admins cannot be deleted", expect(HTTPError, lambda: groups.delete("admins")))
step("remove_member", lambda: groups.remove_member(parent, user_name=user, group_name=None))
step("one member left", lambda: check(groups.list_members(parent)["members"] == [{"group_name": child}], "members"))
step("delete", lambda: groups.delete(parent))
step("delete the other", lambda: groups.delete(child))
step("gone", lambda: check(parent not in groups.list_all()["group_names"], "listed"))
if u is not None:
    step("users.delete", lambda: w.users.delete(id=u.id))

finish()
