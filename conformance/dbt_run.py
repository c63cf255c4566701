"""dbt-databricks, run the way a dbt Cloud job runs it over its connection: the project in
conformance/dbt (seeds, views, tables, an incremental model merged by key, an appended one, a
snapshot, tests, persisted docs, `dbt docs generate`) against a warehouse, as a principal that may
create its own schema and read one source schema. Then the source changes and everything runs
again: the merge, the append and the snapshot must carry the changes, and the principal must
still be refused what it was not given.

usage: DATABRICKS_HOST=https://127.0.0.1:PORT DATABRICKS_TOKEN=dapi... PATCHBAY_CA=.../tls/ca.pem \
       python dbt_run.py
dbt-databricks reaches warehouses through the SQL connector, which speaks HTTPS only.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlparse

import requests
from databricks.sdk.service import sql

import harness
from harness import HOST, check, client, finish, step

CA = os.environ["PATCHBAY_CA"]
os.environ["REQUESTS_CA_BUNDLE"] = CA
w = client()
suffix = uuid.uuid4().hex[:8]
parsed = urlparse(HOST)
DBT = str(Path(sys.executable).parent / "dbt")
shop, private, target = f"shop_{suffix}", f"private_{suffix}", f"dbt_{suffix}"


def api(method, path, **kwargs):
    r = requests.request(method, HOST + path, verify=CA,
                         headers={"Authorization": f"Bearer {os.environ['DATABRICKS_TOKEN']}"}, **kwargs)
    r.raise_for_status()
    return r.json()


def admin(statement):
    """Runs `statement` as the admin; the rows, as lists of strings."""
    r = w.statement_execution.execute_statement(warehouse_id=wh, statement=statement, wait_timeout="30s")
    check(r.status.state == sql.StatementState.SUCCEEDED, f"{statement}: {r.status}")
    return (r.result.data_array or []) if r.result else []


try:
    w.metastores.current()
except Exception:
    ms = w.metastores.create(name=f"dbt-{suffix}", storage_root="s3://bucket/uc")
    w.metastores.assign(workspace_id=w.get_workspace_id(), metastore_id=ms.metastore_id, default_catalog_name="main")
wh = w.warehouses.create(name=f"dbt-{suffix}", cluster_size="2X-Small", max_num_clusters=1).result().id

for statement in [
    f"CREATE SCHEMA main.{shop}",
    f"CREATE TABLE main.{shop}.orders (id BIGINT, customer_id BIGINT, ordered_at STRING, amount DOUBLE, status STRING)",
    f"INSERT INTO main.{shop}.orders VALUES (1, 1, '2026-01-10 10:00:00', 100.0, 'COMPLETED'), "
    "(2, 1, '2026-01-12 09:30:00', 50.5, 'completed'), (3, 2, '2026-02-15 08:00:00', 20.0, 'cancelled'), "
    "(4, 2, '2026-02-20 17:45:00', 75.25, 'pending'), (5, 3, '2026-03-25 12:00:00', 10.0, 'completed')",
    f"CREATE SCHEMA main.{private}",
    f"CREATE TABLE main.{private}.salaries AS SELECT 'ceo' AS who, 1000 AS pay",
]:
    admin(statement)

# The principal of a dbt Cloud connection, with what a dbt job needs besides the read profile's
# grants: its own schema to build in.
sp = w.service_principals.create(display_name=f"DBT_CLOUD_{suffix}_USER")
api("PATCH", "/api/2.0/permissions/authorization/tokens", json={"access_control_list": [
    {"service_principal_name": sp.application_id, "permission_level": "CAN_USE"}]})
api("PATCH", f"/api/2.0/permissions/sql/warehouses/{wh}", json={"access_control_list": [
    {"service_principal_name": sp.application_id, "permission_level": "CAN_USE"}]})
admin(f"GRANT USE CATALOG, CREATE SCHEMA ON CATALOG main TO `{sp.application_id}`")
admin(f"GRANT USE SCHEMA, SELECT ON SCHEMA main.{shop} TO `{sp.application_id}`")
token = w.token_management.create_obo_token(application_id=sp.application_id).token_value

work = Path(tempfile.mkdtemp())
project = work / "project"
shutil.copytree(Path(__file__).parent / "dbt", project)
(work / "profiles.yml").write_text(json.dumps({"patchbay": {"target": "ci", "outputs": {"ci": {
    "type": "databricks", "host": parsed.hostname, "http_path": f"/sql/1.0/warehouses/{wh}",
    "token": token, "catalog": "main", "schema": target, "threads": 4,
    "connection_parameters": {"use_sea": True, "_port": parsed.port, "_tls_trusted_ca_file": CA,
                              "_retry_stop_after_attempts_count": 1},
}}}}))


def dbt(*args, expect_ok=True):
    """Runs one dbt command on the project; its output. Fails the step when the outcome differs."""
    run = subprocess.run(
        [DBT, *args, "--project-dir", str(project), "--profiles-dir", str(work), "--vars",
         json.dumps({"source_schema": shop})],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1",
             "DBT_TARGET_PATH": str(work / "target"), "DBT_LOG_PATH": str(work / "logs")})
    output = run.stdout + run.stderr
    if (run.returncode == 0) != expect_ok:
        raise AssertionError(f"dbt {' '.join(args)} exited {run.returncode}:\n{output[-4000:]}")
    return output


def table(name, order_by):
    return admin(f"SELECT * FROM main.{target}.{name} ORDER BY {order_by}")


def columns(name, *names):
    return admin(f"SELECT {', '.join(names)} FROM main.{target}.{name} ORDER BY 1")


step("dbt debug: the connection works", lambda: dbt("debug"))
step("dbt seed", lambda: dbt("seed"))
step("dbt run: views, a table, two incremental models (first build)", lambda: dbt("run"))
step("dbt snapshot (first)", lambda: dbt("snapshot"))
step("dbt test: unique, not_null, accepted_values, relationships, source tests", lambda: dbt("test"))

step("the table model's rows", lambda: check(columns(
    "customer_revenue", "customer_id", "tier", "order_count", "revenue", "days_to_first_order") == [
    ["1", "GOLD", "2", "150.50", "6"], ["2", "SILVER", "1", "75.25", "9"],
    ["3", "BRONZE", "1", "10.00", "5"], ["4", "SILVER", "0", "0.00", None]],
    columns("customer_revenue", "customer_id", "tier", "order_count", "revenue", "days_to_first_order")))
step("the hashed keys are 32 hex digits, one per customer", lambda: check(
    len({k for [k] in columns("customer_revenue", "customer_key")}) == 4
    and all(len(k) == 32 for [k] in columns("customer_revenue", "customer_key")), "customer_key"))
step("the merged model holds every order once", lambda: check(
    columns("orders_incremental", "order_id", "status") == [
        ["1", "completed"], ["2", "completed"], ["3", "cancelled"], ["4", "pending"], ["5", "completed"]],
    columns("orders_incremental", "order_id", "status")))
step("the snapshot holds every customer, none closed", lambda: check(
    admin(f"SELECT id, tier, dbt_valid_to IS NULL FROM main.{target}.customers_snapshot ORDER BY id") == [
        ["1", "gold", "true"], ["2", "silver", "true"], ["3", "bronze", "true"], ["4", "silver", "true"]],
    "snapshot"))
step("staging models are views, marts are tables", lambda: check(admin(
    f"SELECT table_name, table_type FROM main.information_schema.tables WHERE table_schema = '{target}' "
    "AND table_name IN ('stg_orders', 'customer_revenue') ORDER BY table_name") == [
    ["customer_revenue", "MANAGED"], ["stg_orders", "VIEW"]], "table types"))
step("persist_docs: the table's and the column's descriptions are their comments", lambda: check(
    w.tables.get(f"main.{target}.customer_revenue").comment == "Revenue per customer, cancelled orders left out."
    and {c.name: c.comment for c in w.tables.get(f"main.{target}.customer_revenue").columns}["customer_id"]
    == "The customer's id in the shop.", "comments"))
step("the principal owns the schema dbt made and what is in it", lambda: check(
    w.schemas.get(f"main.{target}").owner == sp.application_id
    and w.tables.get(f"main.{target}.orders_incremental").owner == sp.application_id, "owner"))

# The source changes: an order completes, new orders come, a customer moves up a tier.
admin(f"UPDATE main.{shop}.orders SET status = 'completed' WHERE id = 4")
admin(f"INSERT INTO main.{shop}.orders VALUES (6, 4, '2026-04-02 12:00:00', 40.0, 'completed'), "
      "(7, 1, '2026-04-03 08:15:00', 5.0, 'completed')")
seed = project / "seeds" / "raw_customers.csv"
seed.write_text(seed.read_text().replace("3,Edsger,2026-03-20,bronze", "3,Edsger,2026-03-20,gold"))

step("dbt seed (again: the seed is replaced)", lambda: dbt("seed"))
step("dbt run (again: incremental)", lambda: dbt("run"))
step("dbt snapshot (again)", lambda: dbt("snapshot"))
step("dbt test (again)", lambda: dbt("test"))

step("the merge updated the order that changed and added the new ones", lambda: check(
    columns("orders_incremental", "order_id", "status") == [
        ["1", "completed"], ["2", "completed"], ["3", "cancelled"], ["4", "completed"], ["5", "completed"],
        ["6", "completed"], ["7", "completed"]], columns("orders_incremental", "order_id", "status")))
step("the appended model gained the new days only", lambda: check(
    columns("orders_by_day", "cast(order_date AS STRING)", "orders") == [
        ["2026-01-10", "1"], ["2026-01-12", "1"], ["2026-02-15", "1"], ["2026-02-20", "1"],
        ["2026-03-25", "1"], ["2026-04-02", "1"], ["2026-04-03", "1"]],
    columns("orders_by_day", "cast(order_date AS STRING)", "orders")))
step("the table model was rebuilt", lambda: check(columns(
    "customer_revenue", "customer_id", "tier", "order_count", "revenue") == [
    ["1", "GOLD", "3", "155.50"], ["2", "SILVER", "1", "75.25"], ["3", "GOLD", "1", "10.00"],
    ["4", "SILVER", "1", "40.00"]], columns("customer_revenue", "customer_id", "tier", "order_count", "revenue")))
step("the snapshot closed the old tier and opened the new one", lambda: check(
    admin(f"SELECT id, tier, dbt_valid_to IS NULL FROM main.{target}.customers_snapshot "
          "ORDER BY id, dbt_valid_to IS NULL") == [
        ["1", "gold", "true"], ["2", "silver", "true"], ["3", "bronze", "false"], ["3", "gold", "true"],
        ["4", "silver", "true"]], "snapshot"))
step("dbt run --full-refresh rebuilds the incremental models", lambda: dbt(
    "run", "--full-refresh", "--select", "orders_incremental", "orders_by_day"))
step("after the full refresh, every order once", lambda: check(
    len(columns("orders_incremental", "order_id")) == 7, "orders_incremental"))


def documented():
    dbt("docs", "generate")
    catalog = json.loads((work / "target" / "catalog.json").read_text())
    node = catalog["nodes"]["model.patchbay_conformance.customer_revenue"]
    check(list(node["columns"]) == ["customer_id", "customer_name", "tier", "order_count", "revenue",
                                    "first_order_at", "days_to_first_order", "customer_key"], f"{node['columns']}")
    check(node["metadata"]["type"].lower() == "table", f"{node['metadata']}")
    return True


step("dbt docs generate: the catalog lists the models' columns", documented)
step("the principal cannot read what it was not given", lambda: check(
    "PERMISSION_DENIED" in dbt("show", "--inline", f"select * from main.{private}.salaries", expect_ok=False),
    "no PERMISSION_DENIED"))
step("the principal cannot write the source it only reads", lambda: check(
    "PERMISSION_DENIED" in dbt("run-operation", "run_sql", "--args",
                               json.dumps({"sql": f"delete from main.{shop}.orders"}), expect_ok=False),
    "no PERMISSION_DENIED"))
if harness.failures():
    print(f"dbt's project, compiled SQL and logs are kept in {work}")
else:
    shutil.rmtree(work, ignore_errors=True)
finish()
