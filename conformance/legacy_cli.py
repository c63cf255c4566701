"""The legacy databricks-cli 0.18 against patchbay: its real commands (run in-process through
click), which send `Content-Type: text/json` on every request and the parameters of a DELETE
as a JSON body.

The CLI builds `scheme://hostname/api/` and drops the port of DATABRICKS_HOST, so the one line
of its ApiClient that builds that URL is redone here with the port kept; every request is
otherwise the CLI's own.

usage: DATABRICKS_HOST=http://127.0.0.1:PORT DATABRICKS_TOKEN=dapi... python legacy_cli.py
Prints one line per step and a closing 'N passed, N failed' line; exits non-zero on any failure.
Leaves the workspace's metastore assignment as it found it.
"""
import json
import uuid

from click.testing import CliRunner
from databricks.sdk.errors import NotFound
from databricks_cli.cli import cli
from databricks_cli.sdk import api_client

from harness import HOST, TOKEN, check, client, finish, step

_init = api_client.ApiClient.__init__


def _init_keeping_the_port(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.url = HOST.rstrip("/") + "/api/"


api_client.ApiClient.__init__ = _init_keeping_the_port
runner = CliRunner()
ENV = {"DATABRICKS_HOST": HOST, "DATABRICKS_TOKEN": TOKEN, "DATABRICKS_CONFIG_FILE": "/dev/null"}


def run(*args):
    """Runs `databricks ARGS`; returns its JSON output (or None when it prints none)."""
    result = runner.invoke(cli, list(args), env=ENV, catch_exceptions=False)
    if result.exit_code != 0:
        raise AssertionError(f"exit {result.exit_code}: {result.output.strip()}")
    out = result.output.strip()
    return json.loads(out) if out.startswith(("{", "[")) else out


def refused(*args, saying):
    """Runs `databricks ARGS`, which must fail with an error whose output contains `saying`."""
    def go():
        result = runner.invoke(cli, list(args), env=ENV, catch_exceptions=False)
        check(result.exit_code == 1, f"exit {result.exit_code}: {result.output.strip()}")
        check(saying in result.output, f"{saying!r} not in {result.output.strip()!r}")
        return True
    return go


w = client()
suffix = uuid.uuid4().hex[:8]
workspace_id = str(step("get_workspace_id", lambda: w.get_workspace_id()))
try:
    before = w.metastores.current()
except NotFound:
    before = None

# Tokens: create, list, revoke.
created = step("tokens create", lambda: run("tokens", "create", "--comment", f"legacy {suffix}",
                                            "--lifetime-seconds", "3600"))
token_id = created["token_info"]["token_id"] if created else None
step("tokens list shows it", lambda: check(
    token_id in [t["token_id"] for t in run("tokens", "list")["token_infos"]], "not listed"))
step("tokens revoke", lambda: run("tokens", "revoke", "--token-id", token_id))
step("tokens list no longer shows it", lambda: check(
    token_id not in [t["token_id"] for t in run("tokens", "list")["token_infos"]], "still listed"))

# A metastore of its own, assigned with `main` as the default catalog.
ms = step("metastores create", lambda: run("unity-catalog", "metastores", "create",
                                           "--name", f"legacy-{suffix}", "--storage-root", "s3://bucket/legacy"))
ms_id = ms["metastore_id"] if ms else None
step("metastores assign", lambda: run("unity-catalog", "metastores", "assign", "--workspace-id", workspace_id,
                                      "--metastore-id", ms_id, "--default-catalog-name", "main"))
step("metastores get-assignment", lambda: check(
    run("unity-catalog", "metastores", "get-assignment")["metastore_id"] == ms_id, "not assigned"))

# Catalogs, schemas, tables and their deletes (each DELETE sends `{}`).
cat = f"legacy_{suffix}"
step("catalogs create", lambda: run("unity-catalog", "catalogs", "create", "--name", cat))
for schema in ["raw", "clean"]:
    step(f"schemas create {schema}", lambda s=schema: run("unity-catalog", "schemas", "create",
                                                          "--catalog-name", cat, "--name", s))
    for table in ["orders", "users"]:
        spec = {"name": table, "catalog_name": cat, "schema_name": schema, "table_type": "MANAGED",
                "data_source_format": "DELTA",
                "columns": [{"name": "id", "type_name": "LONG", "type_text": "bigint", "position": 0}]}
        step(f"tables create {schema}.{table}",
             lambda sp=spec: run("unity-catalog", "tables", "create", "--json", json.dumps(sp)))
step("tables list", lambda: check(
    sorted(t["name"] for t in run("unity-catalog", "tables", "list", "--catalog-name", cat,
                                  "--schema-name", "raw")["tables"]) == ["orders", "users"], "tables"))
step("tables delete", lambda: run("unity-catalog", "tables", "delete", "--full-name", f"{cat}.raw.users"))
step("tables get after delete is an error", refused(
    "unity-catalog", "tables", "get", "--full-name", f"{cat}.raw.users", saying="TABLE_DOES_NOT_EXIST"))
step("schemas delete --purge", lambda: run("unity-catalog", "schemas", "delete", "--full-name",
                                           f"{cat}.clean", "--purge"))
step("the schema is gone", lambda: check(
    "clean" not in [s["name"] for s in run("unity-catalog", "schemas", "list", "--catalog-name", cat)["schemas"]],
    "still listed"))

# Permissions get and update.
step("permissions update", lambda: run("unity-catalog", "permissions", "update", "--catalog", cat, "--json",
                                       json.dumps({"changes": [{"principal": "users", "add": ["USE_CATALOG"]}]})))
step("permissions get", lambda: check(
    {"principal": "users", "privileges": ["USE_CATALOG"]}
    in run("unity-catalog", "permissions", "get", "--catalog", cat)["privilege_assignments"], "no grant"))
step("permissions get --effective", lambda: check(
    any(a["principal"] == "users"
        for a in run("unity-catalog", "permissions", "get", "--catalog", cat, "--effective")["privilege_assignments"]),
    "no effective grant"))

step("catalogs delete --purge", lambda: run("unity-catalog", "catalogs", "delete", "--name", cat, "--purge"))
step("the catalog is gone", lambda: check(
    cat not in [c["name"] for c in run("unity-catalog", "catalogs", "list")["catalogs"]], "still listed"))

# Unassign and delete: DELETE with {"metastore_id": …} and {"force": …} in the body.
step("metastores unassign", lambda: run("unity-catalog", "metastores", "unassign", "--workspace-id", workspace_id,
                                        "--metastore-id", ms_id))
step("no metastore assigned afterwards", refused(
    "unity-catalog", "metastores", "get-assignment", saying="METASTORE_DOES_NOT_EXIST"))
step("metastores delete without --force keeps a metastore with catalogs", refused(
    "unity-catalog", "metastores", "delete", "--id", ms_id, saying="METASTORE_NOT_EMPTY"))
step("metastores delete --force", lambda: run("unity-catalog", "metastores", "delete", "--id", ms_id, "--force"))
step("the metastore is gone", refused(
    "unity-catalog", "metastores", "get", "--id", ms_id, saying="METASTORE_DOES_NOT_EXIST"))

# Put back what the other scripts set up.
if before is not None:
    step("the previous assignment is restored", lambda: w.metastores.assign(
        workspace_id=int(workspace_id), metastore_id=before.metastore_id,
        default_catalog_name=before.default_catalog_name))
finish()
