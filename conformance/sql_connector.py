"""Partner principals using their connection the way partners do: databricks-sql-connector with its
Statement Execution backend (use_sea=True), with cloud fetch off (INLINE JSON) and on (EXTERNAL_LINKS,
Arrow, LZ4), and databricks-sdk's statement_execution. Every promise of the admin guide's profile
table, statement by statement: an ingest principal creates schemas and tables, loads and reads
them, and cannot query a table it did not create; a read principal reads the selected schema and
nothing else.

usage: DATABRICKS_HOST=https://127.0.0.1:PORT DATABRICKS_TOKEN=dapi... PATCHBAY_CA=.../tls/ca.pem \
       python sql_connector.py
The SQL connector speaks HTTPS only: the server runs with --tls, and PATCHBAY_CA is the CA it made.
"""
import os
import uuid
from urllib.parse import urlparse

import requests
from databricks import sql as dbsql
from databricks.sdk.service import sql

from harness import HOST, check, client, expect, finish, step

CA = os.environ["PATCHBAY_CA"]
os.environ["REQUESTS_CA_BUNDLE"] = CA  # the SDK's requests, and only them, trust the server's CA
w = client()
suffix = uuid.uuid4().hex[:8]
parsed = urlparse(HOST)


def api(method, path, **kwargs):
    r = requests.request(method, HOST + path, verify=CA,
                         headers={"Authorization": f"Bearer {os.environ['DATABRICKS_TOKEN']}"}, **kwargs)
    r.raise_for_status()
    return r.json()


def connect(token, cloud_fetch):
    return dbsql.connect(server_hostname=parsed.hostname, _port=parsed.port,
                         http_path=f"/sql/1.0/warehouses/{wh}", access_token=token, use_sea=True,
                         _tls_trusted_ca_file=CA, use_cloud_fetch=cloud_fetch, _retry_stop_after_attempts_count=1)


def run(token, cloud_fetch, statement, parameters=None):
    with connect(token, cloud_fetch) as conn, conn.cursor() as cur:
        cur.execute(statement, parameters)
        return cur.fetchall() if cur.description else []


def refused(token, cloud_fetch, statement):
    def go():
        try:
            run(token, cloud_fetch, statement)
        except dbsql.exc.Error as e:
            check("INSUFFICIENT_PERMISSIONS" in str(e), f"refused for another reason: {e}")
            return True
        raise AssertionError("the statement ran")
    return go


# The workspace: Unity Catalog with `main`, a warehouse, and a principal per profile, set up as an
# admin does (the connect flow itself is tested elsewhere).
try:
    w.metastores.current()
except Exception:
    ms = w.metastores.create(name=f"sql-{suffix}", storage_root="s3://bucket/uc")
    w.metastores.assign(workspace_id=w.get_workspace_id(), metastore_id=ms.metastore_id, default_catalog_name="main")
wh = step("warehouses.create", lambda: w.warehouses.create(
    name=f"sql-{suffix}", cluster_size="2X-Small", max_num_clusters=1).result()).id


def principal(name, grants):
    sp = w.service_principals.create(display_name=name)
    api("PATCH", "/api/2.0/permissions/authorization/tokens", json={"access_control_list": [
        {"service_principal_name": sp.application_id, "permission_level": "CAN_USE"}]})
    api("PATCH", f"/api/2.0/permissions/sql/warehouses/{wh}", json={"access_control_list": [
        {"service_principal_name": sp.application_id, "permission_level": "CAN_USE"}]})
    for statement in grants:
        r = w.statement_execution.execute_statement(warehouse_id=wh, wait_timeout="30s",
                                                    statement=statement.format(sp=sp.application_id))
        check(r.status.state == sql.StatementState.SUCCEEDED, f"{statement}: {r.status}")
    token = w.token_management.create_obo_token(application_id=sp.application_id).token_value
    return sp, token


mart = f"mart_{suffix}"
secret = f"private_{suffix}"
for statement in [f"CREATE SCHEMA main.{mart}", f"CREATE SCHEMA main.{secret}",
                  f"CREATE TABLE main.{mart}.revenue (quarter STRING, total DECIMAL(12,2), at TIMESTAMP)",
                  f"INSERT INTO main.{mart}.revenue VALUES ('q1', 100.50, TIMESTAMP'2026-01-01 00:00:00'), ('q2', 200.25, TIMESTAMP'2026-04-01 00:00:00')",
                  f"CREATE TABLE main.{secret}.salaries AS SELECT 'ceo' AS who, 1000 AS pay"]:
    step(f"admin: {statement[:40]}", lambda s=statement: check(w.statement_execution.execute_statement(
        warehouse_id=wh, statement=s, wait_timeout="30s").status.state == sql.StatementState.SUCCEEDED, s))

ingest, ingest_token = step("an ingest principal (USE CATALOG, CREATE SCHEMA on main)", lambda: principal(
    f"INGEST_{suffix}_USER", ["GRANT USE CATALOG, CREATE SCHEMA ON CATALOG main TO `{sp}`"])) or (None, "")
reader, read_token = step("a read principal (USE CATALOG; USE SCHEMA, SELECT on one schema)", lambda: principal(
    f"READ_{suffix}_USER", ["GRANT USE CATALOG ON CATALOG main TO `{sp}`",
                            f"GRANT USE SCHEMA, SELECT ON SCHEMA main.{mart} TO `{{sp}}`"])) or (None, "")

for cloud in (False, True):
    mode = "cloud fetch" if cloud else "inline"
    raw = f"main.raw_{suffix}_{int(cloud)}"
    # Ingest: it creates schemas and tables, loads them (parameters included) and reads them.
    step(f"[{mode}] ingest: CREATE SCHEMA", lambda: run(ingest_token, cloud, f"CREATE SCHEMA {raw}"))
    step(f"[{mode}] ingest: CREATE TABLE", lambda: run(
        ingest_token, cloud, f"CREATE TABLE {raw}.events (id BIGINT, kind STRING, amount DECIMAL(10,2))"))
    step(f"[{mode}] ingest: INSERT with parameters", lambda: run(
        ingest_token, cloud, f"INSERT INTO {raw}.events VALUES (:id, :kind, 1.25)", {"id": 1, "kind": "click"}))
    step(f"[{mode}] ingest: INSERT … SELECT", lambda: run(
        ingest_token, cloud, f"INSERT INTO {raw}.events SELECT x, 'view', 2.50 FROM range(2, 1002) AS t(x)"))
    step(f"[{mode}] ingest: MERGE", lambda: run(ingest_token, cloud, (
        f"MERGE INTO {raw}.events t USING (SELECT 1 AS id, 'clicked' AS kind, 9.99 AS amount) s ON t.id = s.id "
        "WHEN MATCHED THEN UPDATE SET kind = s.kind")))

    def reads_back():
        with connect(ingest_token, cloud) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT id, kind, amount FROM {raw}.events WHERE id = :id", {"id": 1})
            check(cur.fetchall()[0].kind == "clicked", "the MERGE did not land")
            cur.execute(f"SELECT id FROM {raw}.events ORDER BY id")
            first = cur.fetchmany(10)
            rest = cur.fetchall()
            check([r.id for r in first] == list(range(1, 11)) and len(rest) == 991, f"{len(first)} + {len(rest)}")
            cur.execute(f"SELECT COUNT(*) AS n, SUM(amount) AS total FROM {raw}.events")
            table = cur.fetchall_arrow()
            check(table.num_rows == 1 and table.column("n")[0].as_py() == 1001, f"{table}")
            return True
    step(f"[{mode}] ingest: reads back what it loaded (fetchmany, fetchall, fetchall_arrow)", reads_back)
    step(f"[{mode}] ingest: cannot query a table it did not create",
         refused(ingest_token, cloud, f"SELECT * FROM main.{secret}.salaries"))
    step(f"[{mode}] ingest: cannot write a table it did not create",
         refused(ingest_token, cloud, f"INSERT INTO main.{mart}.revenue VALUES ('q9', 1, NULL)"))

    def metadata():
        with connect(ingest_token, cloud) as conn, conn.cursor() as cur:
            cur.schemas(catalog_name="main")
            schemas = {r[0] for r in cur.fetchall()}
            check(raw.split(".")[1] in schemas and secret not in schemas, f"{schemas}")
            cur.tables(catalog_name="main", schema_name=raw.split(".")[1])
            check([r.tableName for r in cur.fetchall()] == ["events"], "tables")
            cur.columns(catalog_name="main", schema_name=raw.split(".")[1], table_name="events")
            check([r.col_name for r in cur.fetchall()] == ["id", "kind", "amount"], "columns")
            return True
    step(f"[{mode}] ingest: cursor.schemas/tables/columns show only its own", metadata)

    # Read: the selected schema, and nothing else.
    def reads_mart():
        rows = run(read_token, cloud, f"SELECT quarter, total, at FROM main.{mart}.revenue ORDER BY quarter")
        check([(r.quarter, str(r.total)) for r in rows] == [("q1", "100.50"), ("q2", "200.25")], f"{rows}")
        check(rows[0].at.year == 2026, f"{rows[0].at}")
        return True
    step(f"[{mode}] read: reads the selected schema (decimal, timestamp)", reads_mart)
    step(f"[{mode}] read: cannot read another schema",
         refused(read_token, cloud, f"SELECT * FROM main.{secret}.salaries"))
    step(f"[{mode}] read: cannot create a table", refused(read_token, cloud, f"CREATE TABLE main.{mart}.x (a INT)"))
    step(f"[{mode}] read: cannot modify", refused(read_token, cloud, f"DELETE FROM main.{mart}.revenue"))

# The SDK's statement_execution, with parameters and a result fetched in chunks by link.
r = step("sdk: execute_statement with parameters", lambda: w.statement_execution.execute_statement(
    warehouse_id=wh, statement=f"SELECT quarter FROM main.{mart}.revenue WHERE total > :min",
    parameters=[sql.StatementParameterListItem(name="min", value="150", type="DECIMAL(12,2)")], wait_timeout="30s"))
step("sdk: the parameter filtered", lambda: check(r.result.data_array == [["q2"]], f"{r.result}"))
r = step("sdk: EXTERNAL_LINKS", lambda: w.statement_execution.execute_statement(
    warehouse_id=wh, statement="SELECT * FROM range(0, 1000) AS t(x)", disposition=sql.Disposition.EXTERNAL_LINKS,
    format=sql.Format.ARROW_STREAM, wait_timeout="30s"))
step("sdk: the link serves an Arrow stream without a token", lambda: check(
    requests.get(r.result.external_links[0].external_link, verify=CA).content[:4] in (b"\xff\xff\xff\xff",),
    "not an Arrow IPC stream"))
r = step("sdk: wait_timeout=0s", lambda: w.statement_execution.execute_statement(
    warehouse_id=wh, statement="SELECT COUNT(*) FROM range(0, 100000) AS t(x)", wait_timeout="0s"))
step("sdk: get_statement until it succeeds", lambda: check(
    w.statement_execution.get_statement(r.statement_id).status.state in (
        sql.StatementState.SUCCEEDED, sql.StatementState.RUNNING, sql.StatementState.PENDING), "state"))
step("sdk: history shows the ingest principal's statements", lambda: check(
    any(q.user_name == ingest.application_id for q in w.query_history.list(max_results=500).res), "missing"))
finish()
