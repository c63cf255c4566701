"""databricks-cli 0.18's API clients (what `databricks groups|secrets|jobs|runs …` run) against
patchbay: text/json bodies, GET parameters in the query, the 2.0 jobs API. The legacy groups
are the same groups SCIM shows.

usage: DATABRICKS_HOST=http://127.0.0.1:PORT DATABRICKS_TOKEN=dapi... python cli_legacy.py
Prints one line per step and a closing 'N passed, N failed' line; exits non-zero on any failure.
"""
import uuid

import time

from databricks_cli.groups.api import GroupsApi
from databricks_cli.jobs.api import JobsApi
from databricks_cli.runs.api import RunsApi
from databricks_cli.sdk.api_client import ApiClient
from databricks_cli.secrets.api import SecretApi
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

# ---- databricks secrets ----
secrets = SecretApi(api)
scope = f"conformance-cli-{suffix}"
step("secrets create_scope", lambda: secrets.create_scope(scope, None, None, None))
step("secrets list_scopes", lambda: check(scope in [s["name"] for s in secrets.list_scopes()["scopes"]], "missing"))
step("secrets put_secret", lambda: secrets.put_secret(scope, "k", "patchbay-conformance-s3cr3t-value", None))
step("secrets list_secrets", lambda: check([s["key"] for s in secrets.list_secrets(scope)["secrets"]] == ["k"], "keys"))
step("secrets put_acl", lambda: secrets.put_acl(scope, "users", "READ"))
step("secrets list_acls", lambda: check(
    {"principal": "users", "permission": "READ"} in secrets.list_acls(scope)["items"], "acls"))
step("secrets delete_scope", lambda: secrets.delete_scope(scope))

# ---- databricks jobs run-now, databricks runs (Jobs API 2.0) ----
jobs_api, runs_api = JobsApi(api), RunsApi(api)
job = step("jobs create (2.0 single-task)", lambda: jobs_api.create_job(
    {"name": f"conformance-cli-{suffix}", "notebook_task": {"notebook_path": "/x"}}))
if job is not None:
    run = step("jobs run-now", lambda: jobs_api.run_now(job["job_id"], None, {"env": "test"}, None, None))

    def until_terminated():
        for _ in range(60):
            got = runs_api.get_run(run["run_id"])
            if got["state"]["life_cycle_state"] == "TERMINATED":
                return got
            time.sleep(0.5)
        raise AssertionError(f"still {got['state']}")
    done = step("runs get, until TERMINATED", until_terminated)
    step("the run succeeded", lambda: check(done["state"]["result_state"] == "SUCCESS", f"{done['state']}"))
    step("runs get-output", lambda: check(runs_api.get_run_output(run["run_id"])["notebook_output"] == {}, "output"))
    step("runs list", lambda: check(
        [r["run_id"] for r in runs_api.list_runs(job["job_id"], None, None, None, None)["runs"]] == [run["run_id"]],
        "runs"))
    step("runs list --completed-only", lambda: check(
        len(runs_api.list_runs(job["job_id"], None, True, 0, 20)["runs"]) == 1, "runs"))
    step("runs cancel (of an ended run)", lambda: runs_api.cancel_run(run["run_id"]))
    step("jobs delete", lambda: jobs_api.delete_job(job["job_id"]))

finish()
