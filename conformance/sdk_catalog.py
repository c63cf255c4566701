"""The official databricks-sdk against patchbay's Unity Catalog: enabling it (a metastore and its
assignment), catalogs, schemas and tables, grants with inheritance, what a service principal may
read, and SQL grants through the Statement Execution API.

usage: DATABRICKS_HOST=http://127.0.0.1:PORT DATABRICKS_TOKEN=dapi... python sdk_catalog.py
Prints one line per step and a closing 'N passed, N failed' line; exits non-zero on any failure.
"""
import os
import sys
import uuid

from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.errors import NotFound, PermissionDenied, ResourceConflict
from databricks.sdk.service import catalog, settings, sql

from harness import check, expect, finish, step

HOST = os.environ["DATABRICKS_HOST"]
cfg = Config(host=HOST, token=os.environ["DATABRICKS_TOKEN"], auth_type="pat", retry_timeout_seconds=30)
w = WorkspaceClient(config=cfg)


def privileges_of(assignments, principal):
    return sorted(p.value for a in assignments or [] if a.principal == principal for p in a.privileges or [])


suffix = uuid.uuid4().hex[:8]
me = step("current_user.me", lambda: w.current_user.me())
workspace_id = step("get_workspace_id", lambda: w.get_workspace_id())

# Enable Unity Catalog: a metastore, assigned with `main` as the default catalog.
current = None
try:
    current = w.metastores.current()
except NotFound:
    pass
if current is None:
    ms = step("metastores.create", lambda: w.metastores.create(name=f"conformance-{suffix}", storage_root="s3://bucket/uc"))
    step("metastores.assign", lambda: w.metastores.assign(
        workspace_id=workspace_id, metastore_id=ms.metastore_id, default_catalog_name="main"))
current = step("metastores.current", lambda: w.metastores.current())
step("assignment names main", lambda: check(
    current.default_catalog_name == "main" and current.workspace_id == workspace_id, f"{current}"))
summary = step("metastores.summary", lambda: w.metastores.summary())
step("the metastore admin is the owner", lambda: check(summary.owner, "no owner"))
step("metastores.get", lambda: check(w.metastores.get(id=current.metastore_id).metastore_id == current.metastore_id, "id"))

# Catalogs, schemas, tables.
names = step("catalogs.list", lambda: [c.name for c in w.catalogs.list()])
step("hive_metastore and main exist", lambda: check({"hive_metastore", "main"} <= set(names or []), f"{names}"))
cat = f"conformance_{suffix}"
created = step("catalogs.create", lambda: w.catalogs.create(name=cat, comment="sdk conformance"))
step("the creator owns the catalog", lambda: check(created.owner == me.user_name, f"{created.owner}"))
step("catalogs.get", lambda: check(w.catalogs.get(name=cat).comment == "sdk conformance", "comment"))
step("catalogs.update(comment)", lambda: check(w.catalogs.update(name=cat, comment="changed").comment == "changed", "comment"))
step("duplicate catalog is a conflict", expect(ResourceConflict, lambda: w.catalogs.create(name=cat)))
step("unknown catalog is NotFound", expect(NotFound, lambda: w.catalogs.get(name=f"nope_{suffix}")))
step("schemas.create", lambda: w.schemas.create(name="raw", catalog_name=cat, comment="landing"))
step("schemas.list", lambda: check(
    sorted(s.name for s in w.schemas.list(catalog_name=cat)) == ["default", "raw"], "schemas"))
step("schemas.get", lambda: check(w.schemas.get(full_name=f"{cat}.raw").owner == me.user_name, "owner"))
table = f"{cat}.raw.orders"
step("tables.create(MANAGED)", lambda: w.tables.create(
    name="orders", catalog_name=cat, schema_name="raw", table_type=catalog.TableType.MANAGED,
    data_source_format=catalog.DataSourceFormat.DELTA, storage_location="",
    columns=[catalog.ColumnInfo(name="id", type_name=catalog.ColumnTypeName.LONG, type_text="bigint",
                                position=0, nullable=False),
             catalog.ColumnInfo(name="amount", type_name=catalog.ColumnTypeName.DECIMAL,
                                type_text="decimal(10,2)", position=1)]))
step("tables.list", lambda: check(
    [t.name for t in w.tables.list(catalog_name=cat, schema_name="raw")] == ["orders"], "tables"))
got = step("tables.get", lambda: w.tables.get(full_name=table))
step("table columns and owner", lambda: check(
    [c.type_name for c in got.columns] == [catalog.ColumnTypeName.LONG, catalog.ColumnTypeName.DECIMAL]
    and got.owner == me.user_name and got.table_type == catalog.TableType.MANAGED, f"{got}"))
step("tables.exists", lambda: check(w.tables.exists(full_name=table).table_exists, "exists"))

# A service principal reads only what it is granted.
sp = step("service_principals.create", lambda: w.service_principals.create(display_name=f"CONFORMANCE_{suffix}_USER"))
step("token permission CAN_USE", lambda: w.token_management.update_permissions(access_control_list=[
    settings.TokenAccessControlRequest(service_principal_name=sp.application_id,
                                       permission_level=settings.TokenPermissionLevel.CAN_USE)]))
obo = step("create_obo_token", lambda: w.token_management.create_obo_token(application_id=sp.application_id))
spc = WorkspaceClient(config=Config(host=HOST, token=obo.token_value, auth_type="pat", retry_timeout_seconds=5))
step("without grants the table is refused", expect(PermissionDenied, lambda: spc.tables.get(full_name=table)))
step("without grants the catalog is hidden", lambda: check(
    cat not in [c.name for c in spc.catalogs.list()], "listed"))
step("grants.update(catalog USE_CATALOG)", lambda: w.grants.update(securable_type="catalog", full_name=cat, changes=[
    catalog.PermissionsChange(principal=sp.application_id, add=[catalog.Privilege.USE_CATALOG])]))
step("grants.update(schema USE_SCHEMA, SELECT)", lambda: w.grants.update(securable_type="schema", full_name=f"{cat}.raw", changes=[
    catalog.PermissionsChange(principal=sp.application_id, add=[catalog.Privilege.USE_SCHEMA, catalog.Privilege.SELECT])]))
step("grants.get(schema)", lambda: check(
    privileges_of(w.grants.get(securable_type="schema", full_name=f"{cat}.raw").privilege_assignments,
                  sp.application_id) == ["SELECT", "USE_SCHEMA"], "privileges"))
eff = step("grants.get_effective(table)", lambda: w.grants.get_effective(securable_type="table", full_name=table))
step("effective privileges are inherited", lambda: check(sorted(
    (p.privilege.value, p.inherited_from_type.value, p.inherited_from_name)
    for a in eff.privilege_assignments if a.principal == sp.application_id for p in a.privileges) == [
    ("SELECT", "SCHEMA", f"{cat}.raw"), ("USE_CATALOG", "CATALOG", cat), ("USE_SCHEMA", "SCHEMA", f"{cat}.raw")], f"{eff}"))
step("with the grants the table reads", lambda: check(len(spc.tables.get(full_name=table).columns) == 2, "columns"))
step("grants.update(remove SELECT)", lambda: w.grants.update(securable_type="schema", full_name=f"{cat}.raw", changes=[
    catalog.PermissionsChange(principal=sp.application_id, remove=[catalog.Privilege.SELECT])]))
step("after the revoke the table is refused", expect(PermissionDenied, lambda: spc.tables.get(full_name=table)))
step("a reader cannot grant", expect(PermissionDenied, lambda: spc.grants.update(
    securable_type="catalog", full_name=cat,
    changes=[catalog.PermissionsChange(principal=sp.application_id, add=[catalog.Privilege.CREATE_SCHEMA])])))

# The calls of the shared smoke test, on main.
step("grants.get(catalog, main)", lambda: w.grants.get(securable_type="catalog", full_name="main"))
step("grants.update(catalog, main, USE_CATALOG)", lambda: check(sp.application_id in [
    a.principal for a in w.grants.update(securable_type="catalog", full_name="main", changes=[
        catalog.PermissionsChange(principal=sp.application_id, add=[catalog.Privilege.USE_CATALOG])]).privilege_assignments], "missing"))

# SQL: GRANT and SHOW GRANTS through the Statement Execution API, on the same grants, on a
# warehouse the admin creates.
wh = step("warehouses.create", lambda: w.warehouses.create(
    name=f"catalog-{suffix}", cluster_size="2X-Small", max_num_clusters=1).result()).id
r = step("execute_statement(GRANT)", lambda: w.statement_execution.execute_statement(
    warehouse_id=wh, statement=f"GRANT SELECT ON TABLE {table} TO `{sp.application_id}`", wait_timeout="30s"))
step("GRANT succeeded", lambda: check(r.status.state == sql.StatementState.SUCCEEDED, f"{r.status}"))
step("the SQL grant shows in grants.get", lambda: check(privileges_of(
    w.grants.get(securable_type="table", full_name=table).privilege_assignments, sp.application_id) == ["SELECT"], "grant"))
r = step("execute_statement(SHOW GRANTS)", lambda: w.statement_execution.execute_statement(
    warehouse_id=wh, statement=f"SHOW GRANTS ON TABLE {table}", wait_timeout="30s"))
step("SHOW GRANTS rows", lambda: check(
    [sp.application_id, "SELECT", "TABLE", table] in r.result.data_array
    and [me.user_name, "OWN", "TABLE", table] in r.result.data_array
    and [c.name for c in r.manifest.schema.columns] == ["principal", "action_type", "object_type", "object_key"],
    f"{r.result.data_array}"))
r = step("execute_statement(SELECT)", lambda: w.statement_execution.execute_statement(
    warehouse_id=wh, statement="SELECT 1", wait_timeout="30s"))
step("SELECT runs", lambda: check(
    r.status.state == sql.StatementState.SUCCEEDED and r.result.data_array == [["1"]], f"{r.status}"))
r = step("execute_statement(SELECT from the table)", lambda: w.statement_execution.execute_statement(
    warehouse_id=wh, statement=f"SELECT COUNT(*) FROM {table}", wait_timeout="30s"))
step("an empty table counts 0", lambda: check(
    r.status.state == sql.StatementState.SUCCEEDED and r.result.data_array == [["0"]], f"{r.status}"))

# Clean up.
step("tables.delete", lambda: w.tables.delete(full_name=table))
step("schemas.delete(force)", lambda: w.schemas.delete(full_name=f"{cat}.raw", force=True))
step("catalogs.delete(force)", lambda: w.catalogs.delete(name=cat, force=True))
step("deleted catalog is NotFound", expect(NotFound, lambda: w.catalogs.get(name=cat)))
step("warehouses.delete", lambda: w.warehouses.delete(id=wh))
step("service_principals.delete", lambda: w.service_principals.delete(id=sp.id))
step("its grants went with it", lambda: check(sp.application_id not in [
    a.principal for a in w.grants.get(securable_type="catalog", full_name="main").privilege_assignments or []], "left over"))

finish()
