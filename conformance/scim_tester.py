"""scim2-tester (RFC 7643/7644 compliance checks) against patchbay's SCIM API.

usage: python scim_tester.py BASE_URL TOKEN
Runs every check family on User, Group and ServicePrincipal. Exits non-zero when any check is
ERROR or CRITICAL; prints a 'N passed, N failed' line.
"""
import collections
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

base_url, token = sys.argv[1], sys.argv[2]
scim = SyncSCIMClient(Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30))
results = check_server(scim, resource_types=["User", "Group", "ServicePrincipal"])

counts = collections.Counter((r.resource_type or "-", r.status.name) for r in results)
for (resource_type, status), n in sorted(counts.items()):
    print(f"  {resource_type:18} {status:10} {n}")
bad = [r for r in results if r.status in (Status.ERROR, Status.CRITICAL)]
seen = set()
for r in bad:
    key = (r.resource_type, r.title, (r.reason or "")[:160])
    if key not in seen:
        seen.add(key)
        reason = (r.reason or "").splitlines()[0][:300] if r.reason else ""
        print(f"  [{r.status.name}] {r.resource_type or '-'} {r.title}: {reason}")
print(f"scim2-tester: {len(results) - len(bad)} passed, {len(bad)} failed")
sys.exit(1 if bad else 0)
