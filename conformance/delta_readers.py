"""The warehouses' tables are Delta tables that other tools read: a table made and changed through
the Statement Execution API (databricks-sdk), found by its catalog `storage_location`, is read
with the `deltalake` Python package, version by version, and holds exactly the rows SQL returns.

usage: DATABRICKS_HOST=http://127.0.0.1:PORT DATABRICKS_TOKEN=dapi... python delta_readers.py
The server must store its tables where this script can read them (a directory on this machine).
"""
import uuid

from databricks.sdk.service import sql
from deltalake import DeltaTable

from harness import check, client, finish, step

w = client()
suffix = uuid.uuid4().hex[:8]
schema = f"delta_readers_{suffix}"
table = f"hive_metastore.{schema}.events"
wh = w.warehouses.create_and_wait(name=f"delta-readers-{suffix}", cluster_size="2X-Small",
                                  max_num_clusters=1).id


def run(statement):
    r = w.statement_execution.execute_statement(statement=statement, warehouse_id=wh,
                                                wait_timeout="50s")
    if r.status.state != sql.StatementState.SUCCEEDED:
        raise AssertionError(f"{statement}: {r.status}")
    return r.result.data_array if r.result and r.result.data_array else []


def delta_rows(location):
    """The table's rows as a Delta reader sees them, sorted by id."""
    rows = DeltaTable(location).to_pyarrow_table().sort_by("id").to_pylist()
    return [(row["id"], row["name"], row["amount"]) for row in rows]


def sql_rows():
    return [(int(i), n, float(a)) for i, n, a in
            run(f"SELECT id, name, amount FROM {table} ORDER BY id")]


state = {}


def make_and_load():
    run(f"CREATE SCHEMA hive_metastore.{schema}")
    run(f"CREATE TABLE {table} (id BIGINT, name STRING, amount DOUBLE)")
    run(f"INSERT INTO {table} VALUES (1, 'ada', 10.5), (2, 'bob', 20.0), (3, 'cy', 7.25)")
    run(f"INSERT INTO {table} SELECT id + 3, concat(name, '2'), amount * 2 FROM {table}")


def location_is_in_the_catalog():
    info = w.tables.get(table)
    check(info.table_type.value == "MANAGED", f"{info.table_type}")
    location = info.storage_location
    check(location and location.endswith(info.table_id), f"storage_location {location!r}")
    described = {row[0]: row[1] for row in run(f"DESCRIBE TABLE EXTENDED {table}")}
    check(described.get("Location") == location, f"DESCRIBE says {described.get('Location')!r}")
    state["location"] = location


def a_delta_reader_reads_what_sql_wrote():
    rows = delta_rows(state["location"])
    check(len(rows) == 6, f"{rows}")
    check(rows == sql_rows(), f"delta {rows} != sql {sql_rows()}")


def changes_are_new_versions_it_reads():
    before = DeltaTable(state["location"]).version()
    run(f"UPDATE {table} SET amount = 0 WHERE name = 'bob'")
    run(f"DELETE FROM {table} WHERE id > 4")
    run(f"MERGE INTO {table} t USING (SELECT 9 AS id, 'zed' AS name, 1.0 AS amount) s "
        "ON t.id = s.id WHEN NOT MATCHED THEN INSERT *")
    dt = DeltaTable(state["location"])
    check(dt.version() == before + 3, f"version {dt.version()} after {before} and three changes")
    rows = delta_rows(state["location"])
    check(rows == sql_rows(), f"delta {rows} != sql {sql_rows()}")
    check((2, "bob", 0.0) in rows and (9, "zed", 1.0) in rows and len(rows) == 5, f"{rows}")
    # The version before the changes is still there for a reader that asks for it.
    old = DeltaTable(state["location"], version=before).to_pyarrow_table()
    check(old.num_rows == 6, f"{old.num_rows} rows at version {before}")


step("a table made and loaded with SQL", make_and_load)
step("its storage_location is in the catalog and DESCRIBE TABLE EXTENDED", location_is_in_the_catalog)
if "location" in state:
    step("the deltalake package reads the rows SQL wrote", a_delta_reader_reads_what_sql_wrote)
    step("UPDATE, DELETE and MERGE are Delta versions it reads", changes_are_new_versions_it_reads)
step("the table and its schema are dropped",
     lambda: run(f"DROP TABLE {table}") is not None and run(f"DROP SCHEMA hive_metastore.{schema}") is not None)
w.warehouses.delete(wh)
finish()
