"""The official databricks-sdk against patchbay: SQL warehouses, clusters (made from what
select_spark_version and select_node_type pick), jobs and their runs, and their object
permissions, with the SDK's own waiters (which fail on a STOPPED warehouse or a TERMINATED
cluster, or a run that never ends) and its not-found error mapping.

usage: DATABRICKS_HOST=http://127.0.0.1:PORT DATABRICKS_TOKEN=dapi... python sdk_compute.py
Prints one line per step and a closing 'N passed, N failed' line; exits non-zero on any failure.
"""
import os
import sys
import uuid
from datetime import timedelta

from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.errors import InvalidParameterValue, NotFound, PermissionDenied, ResourceDoesNotExist
from databricks.sdk.service import compute, jobs, settings, sql

from harness import check, expect, finish, step

HOST = os.environ["DATABRICKS_HOST"]
WAIT = timedelta(seconds=60)
w = WorkspaceClient(config=Config(host=HOST, token=os.environ["DATABRICKS_TOKEN"], auth_type="pat",
                                  retry_timeout_seconds=30))


suffix = uuid.uuid4().hex[:8]
me = step("current_user.me", lambda: w.current_user.me())

# ---- SQL warehouses ----
wh = step("warehouses.create_and_wait", lambda: w.warehouses.create_and_wait(
    name=f"CONFORMANCE_ENDPOINT_{suffix}", cluster_size="2X-Small", max_num_clusters=1, auto_stop_mins=10,
    enable_serverless_compute=False, spot_instance_policy=sql.SpotInstancePolicy.COST_OPTIMIZED,
    channel=sql.Channel(name=sql.ChannelName.CHANNEL_NAME_CURRENT),
    tags=sql.EndpointTags(custom_tags=[sql.EndpointTagPair(key="team", value="data")]), timeout=WAIT))
if wh is None:
    finish()
step("created warehouse is RUNNING", lambda: check(wh.state == sql.State.RUNNING, f"state {wh.state}"))
got = step("warehouses.get", lambda: w.warehouses.get(id=wh.id))
step("get has connection details", lambda: check(
    got.odbc_params.path == f"/sql/1.0/warehouses/{wh.id}" and isinstance(got.odbc_params.port, int)
    and f"httpPath=/sql/1.0/warehouses/{wh.id}" in got.jdbc_url, "odbc/jdbc"))
step("get has the creator and tags", lambda: check(
    got.creator_name == me.user_name and got.tags.custom_tags[0].key == "team", "creator/tags"))
step("warehouses.list", lambda: check(wh.id in [x.id for x in w.warehouses.list()], "missing"))
step("warehouses.list(page_size=1) terminates", lambda: check(
    wh.id in [x.id for x in w.warehouses.list(page_size=1)], "missing"))
step("data_sources.list has the warehouse", lambda: check(
    wh.id in [d.warehouse_id for d in w.data_sources.list()], "missing"))
step("warehouses.edit().result()", lambda: w.warehouses.edit(
    id=wh.id, name=f"CONFORMANCE_RENAMED_{suffix}", cluster_size="Small", max_num_clusters=2).result(timeout=WAIT))
step("edit is visible", lambda: check(
    w.warehouses.get(id=wh.id).cluster_size == "Small", "cluster_size"))
step("warehouses.stop_and_wait", lambda: check(
    w.warehouses.stop_and_wait(id=wh.id, timeout=WAIT).state == sql.State.STOPPED, "not stopped"))
step("warehouses.start_and_wait", lambda: check(
    w.warehouses.start_and_wait(id=wh.id, timeout=WAIT).state == sql.State.RUNNING, "not running"))
perms = step("warehouses.get_permissions", lambda: w.warehouses.get_permissions(warehouse_id=wh.id))
step("warehouse permissions shape", lambda: check(
    perms.object_type == "warehouses" and perms.object_id == f"warehouses/{wh.id}"
    and any(a.user_name == me.user_name and a.all_permissions[0].permission_level == sql.WarehousePermissionLevel.IS_OWNER
            for a in perms.access_control_list), f"{perms}"))
step("warehouses.get_permission_levels", lambda: check(
    sql.WarehousePermissionLevel.CAN_USE in [lv.permission_level for lv in
                                             w.warehouses.get_permission_levels(warehouse_id=wh.id).permission_levels],
    "levels"))
step("warehouses.set_permissions (Terraform-style, IS_OWNER included)", lambda: w.warehouses.set_permissions(
    warehouse_id=wh.id, access_control_list=[
        sql.WarehouseAccessControlRequest(user_name=me.user_name, permission_level=sql.WarehousePermissionLevel.CAN_MANAGE),
        sql.WarehouseAccessControlRequest(user_name=me.user_name, permission_level=sql.WarehousePermissionLevel.IS_OWNER),
        sql.WarehouseAccessControlRequest(group_name="users", permission_level=sql.WarehousePermissionLevel.CAN_VIEW)]))
updated = step("warehouses.update_permissions", lambda: w.warehouses.update_permissions(
    warehouse_id=wh.id, access_control_list=[
        sql.WarehouseAccessControlRequest(group_name="users", permission_level=sql.WarehousePermissionLevel.CAN_USE)]))
step("update_permissions merged", lambda: check(
    any(a.group_name == "users" and a.all_permissions[0].permission_level == sql.WarehousePermissionLevel.CAN_USE
        for a in updated.access_control_list), f"{updated}"))
step("permissions.get('sql/warehouses', id)", lambda: check(
    w.permissions.get("sql/warehouses", wh.id).object_type == "warehouses", "object_type"))

# A service principal sees a warehouse only once it is given a level on it.
sp = step("service_principals.create", lambda: w.service_principals.create(display_name=f"conformance-compute-{suffix}"))
step("token permission for the principal", lambda: w.token_management.update_permissions(
    access_control_list=[settings.TokenAccessControlRequest(
        service_principal_name=sp.application_id, permission_level=settings.TokenPermissionLevel.CAN_USE)]))
obo = step("create_obo_token", lambda: w.token_management.create_obo_token(
    application_id=sp.application_id, comment="conformance", lifetime_seconds=600))
sp_w = WorkspaceClient(config=Config(host=HOST, token=obo.token_value, auth_type="pat", retry_timeout_seconds=5))
step("the principal sees no warehouse", lambda: check(
    wh.id not in [x.id for x in sp_w.warehouses.list()], "visible"))
step("the principal gets NotFound", expect(NotFound, lambda: sp_w.warehouses.get(id=wh.id)))
step("the principal cannot create a warehouse", expect(PermissionDenied, lambda: sp_w.warehouses.create(
    name=f"SP_ENDPOINT_{suffix}")))
step("grant CAN_USE to the principal", lambda: w.warehouses.update_permissions(
    warehouse_id=wh.id, access_control_list=[sql.WarehouseAccessControlRequest(
        service_principal_name=sp.application_id, permission_level=sql.WarehousePermissionLevel.CAN_USE)]))
step("the principal sees it now", lambda: check(
    wh.id in [x.id for x in sp_w.warehouses.list()] and sp_w.warehouses.get(id=wh.id).id == wh.id, "not visible"))
step("the principal may start it", lambda: sp_w.warehouses.start_and_wait(id=wh.id, timeout=WAIT))
step("but not stop it", expect(PermissionDenied, lambda: sp_w.warehouses.stop(id=wh.id)))

step("warehouses.delete", lambda: w.warehouses.delete(id=wh.id))
step("deleted warehouse is ResourceDoesNotExist", expect(ResourceDoesNotExist, lambda: w.warehouses.get(id=wh.id)))

# ---- clusters ----
lts = step("clusters.select_spark_version(latest, LTS)", lambda: w.clusters.select_spark_version(
    latest=True, long_term_support=True))
step("the LTS runtime is a Scala 2.12 key", lambda: check(lts.endswith("-scala2.12"), f"{lts}"))
step("select_spark_version(scala 2.13)", lambda: check(
    w.clusters.select_spark_version(latest=True, scala="2.13").endswith("-scala2.13"), "2.13"))
step("select_spark_version(ml=True)", lambda: check("-ml-" in w.clusters.select_spark_version(ml=True), "ml"))
node = step("clusters.select_node_type(local_disk, 16 GB, 4 cores)", lambda: w.clusters.select_node_type(
    local_disk=True, min_memory_gb=16, min_cores=4))
step("the node type fits", lambda: check(
    any(n.node_type_id == node and n.memory_mb >= 16 * 1024 and n.num_cores >= 4
        and n.node_instance_type.local_disks >= 1 for n in w.clusters.list_node_types().node_types), f"{node}"))
step("select_node_type(min_gpus=1)", lambda: check(
    any(n.node_type_id == w.clusters.select_node_type(min_gpus=1) and n.num_gpus >= 1
        for n in w.clusters.list_node_types().node_types), "gpu"))
step("select_node_type(graviton=True)", lambda: w.clusters.select_node_type(graviton=True))
cluster = step("clusters.create().result() with the selected runtime and node", lambda: w.clusters.create(
    cluster_name=f"conformance-{suffix}", spark_version=lts or "15.4.x-scala2.12", node_type_id=node or "any-node",
    num_workers=1, autotermination_minutes=60, custom_tags={"team": "data"}).result(timeout=WAIT))
if cluster is not None:
    cid = cluster.cluster_id
    step("created cluster is RUNNING", lambda: check(cluster.state == compute.State.RUNNING, f"{cluster.state}"))
    step("clusters.get", lambda: check(
        w.clusters.get(cluster_id=cid).cluster_name == f"conformance-{suffix}", "name"))
    step("clusters.list", lambda: check(cid in [c.cluster_id for c in w.clusters.list()], "missing"))
    step("clusters.list(filter_by RUNNING)", lambda: check(cid in [c.cluster_id for c in w.clusters.list(
        filter_by=compute.ListClustersFilterBy(cluster_states=[compute.State.RUNNING]))], "missing"))
    step("clusters.edit().result()", lambda: w.clusters.edit(
        cluster_id=cid, spark_version="15.4.x-scala2.12", cluster_name=f"conformance-edited-{suffix}",
        node_type_id="any-node", num_workers=2).result(timeout=WAIT))
    step("clusters.restart_and_wait", lambda: w.clusters.restart_and_wait(cluster_id=cid, timeout=WAIT))
    cperms = step("permissions.get('clusters', id)", lambda: w.permissions.get("clusters", cid))
    step("cluster permissions shape", lambda: check(
        cperms.object_type == "cluster" and cperms.object_id == f"/clusters/{cid}", f"{cperms}"))
    step("clusters.update_permissions", lambda: w.clusters.update_permissions(
        cluster_id=cid, access_control_list=[compute.ClusterAccessControlRequest(
            group_name="users", permission_level=compute.ClusterPermissionLevel.CAN_ATTACH_TO)]))
    step("clusters.delete_and_wait (terminate)", lambda: check(
        w.clusters.delete_and_wait(cluster_id=cid, timeout=WAIT).state == compute.State.TERMINATED, "not terminated"))
    step("clusters.start_and_wait", lambda: w.clusters.start_and_wait(cluster_id=cid, timeout=WAIT))
    step("clusters.permanent_delete", lambda: w.clusters.permanent_delete(cluster_id=cid))
    step("deleted cluster is ResourceDoesNotExist", expect(ResourceDoesNotExist, lambda: w.clusters.get(cluster_id=cid)))

# ---- jobs ----
created = step("jobs.create", lambda: w.jobs.create(
    name=f"conformance-{suffix}", max_concurrent_runs=1, tags={"team": "data"},
    tasks=[jobs.Task(task_key="main", notebook_task=jobs.NotebookTask(notebook_path="/conformance"))]))
if created is not None:
    jid = created.job_id
    step("job_id is an int", lambda: check(isinstance(jid, int), f"{jid!r}"))
    step("jobs.get", lambda: check(
        w.jobs.get(job_id=jid).settings.name == f"conformance-{suffix}"
        and w.jobs.get(job_id=jid).creator_user_name == me.user_name, "get"))
    step("jobs.list(name)", lambda: check(
        [j.job_id for j in w.jobs.list(name=f"conformance-{suffix}")] == [jid], "list"))
    step("jobs.list() terminates", lambda: check(jid in [j.job_id for j in w.jobs.list(limit=1)], "missing"))
    step("jobs.update", lambda: w.jobs.update(job_id=jid, new_settings=jobs.JobSettings(name=f"conformance-2-{suffix}")))
    step("update is visible", lambda: check(
        w.jobs.get(job_id=jid).settings.name == f"conformance-2-{suffix}", "name"))
    step("jobs.reset", lambda: w.jobs.reset(job_id=jid, new_settings=jobs.JobSettings(
        name=f"conformance-3-{suffix}", tasks=[jobs.Task(task_key="only")])))
    # ---- runs: nothing runs, but a run goes PENDING, RUNNING, TERMINATED as the waiter expects ----
    run = step("jobs.run_now().result()", lambda: w.jobs.run_now(job_id=jid).result(timeout=WAIT))
    if run is not None:
        step("the run succeeded", lambda: check(
            run.state.life_cycle_state == jobs.RunLifeCycleState.TERMINATED
            and run.state.result_state == jobs.RunResultState.SUCCESS, f"{run.state}"))
        step("the run says nothing ran", lambda: check("no code" in run.state.state_message, run.state.state_message))
        step("the run has a task run per task", lambda: check(
            [t.task_key for t in run.tasks] == ["only"] and run.tasks[0].run_id != run.run_id, f"{run.tasks}"))
        step("jobs.get_run", lambda: check(
            w.jobs.get_run(run_id=run.run_id).job_id == jid, "job_id"))
        step("jobs.get_run_output(task run)", lambda: check(
            w.jobs.get_run_output(run_id=run.tasks[0].run_id).metadata.run_id == run.tasks[0].run_id, "metadata"))
        step("jobs.get_run_output(job run) is refused", expect(InvalidParameterValue, lambda: w.jobs.get_run_output(
            run_id=run.run_id)))
        step("jobs.list_runs(job_id)", lambda: check(
            run.run_id in [r.run_id for r in w.jobs.list_runs(job_id=jid)], "missing"))
        step("jobs.list_runs(completed_only)", lambda: check(
            run.run_id in [r.run_id for r in w.jobs.list_runs(job_id=jid, completed_only=True)], "missing"))
        step("jobs.list_runs(active_only) leaves it out", lambda: check(
            run.run_id not in [r.run_id for r in w.jobs.list_runs(job_id=jid, active_only=True)], "listed"))
    waiting = step("jobs.run_now (to cancel)", lambda: w.jobs.run_now(job_id=jid))
    if waiting is not None:
        canceled = step("jobs.cancel_run_and_wait", lambda: w.jobs.cancel_run_and_wait(
            run_id=waiting.run_id, timeout=WAIT))
        step("the run was canceled", lambda: check(
            canceled.state.result_state == jobs.RunResultState.CANCELED, f"{canceled.state}"))
    step("unknown run is ResourceDoesNotExist", expect(ResourceDoesNotExist, lambda: w.jobs.get_run(run_id=1)))
    jperms = step("jobs.get_permissions", lambda: w.jobs.get_permissions(job_id=str(jid)))
    step("job permissions shape", lambda: check(
        jperms.object_type == "job" and jperms.object_id == f"/jobs/{jid}", f"{jperms}"))
    step("permissions.get('jobs', id)", lambda: w.permissions.get("jobs", str(jid)))
    step("jobs.set_permissions", lambda: w.jobs.set_permissions(job_id=str(jid), access_control_list=[
        jobs.JobAccessControlRequest(user_name=me.user_name, permission_level=jobs.JobPermissionLevel.IS_OWNER),
        jobs.JobAccessControlRequest(group_name="users", permission_level=jobs.JobPermissionLevel.CAN_VIEW)]))
    step("jobs.delete", lambda: w.jobs.delete(job_id=jid))
    step("deleted job is ResourceDoesNotExist", expect(ResourceDoesNotExist, lambda: w.jobs.get(job_id=jid)))

if sp is not None:
    step("service_principals.delete", lambda: w.service_principals.delete(id=sp.id))

finish()
