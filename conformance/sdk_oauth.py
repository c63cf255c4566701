"""The official databricks-sdk's OAuth machine-to-machine auth against patchbay: secrets through
w.service_principal_secrets_proxy, a WorkspaceClient with auth_type="oauth-m2m" that finds the
token endpoint by discovery and calls current_user.me() as the service principal, and its
access refused once the secret, then the principal, is deleted.

usage: DATABRICKS_HOST=http://127.0.0.1:PORT DATABRICKS_TOKEN=dapi... python sdk_oauth.py
Prints one line per step and a closing 'N passed, N failed' line; exits non-zero on any failure.
"""
import uuid

from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks.sdk.errors import DatabricksError, PermissionDenied, Unauthenticated
from databricks.sdk.service import iam

from harness import HOST, check, client, expect, finish, step

w = client()
suffix = uuid.uuid4().hex[:8]


def m2m(client_id, client_secret):
    """A client as a partner or a pipeline builds one from a service principal's secret."""
    return WorkspaceClient(config=Config(host=HOST, client_id=client_id, client_secret=client_secret,
                                         auth_type="oauth-m2m", retry_timeout_seconds=10))


def refused(fn):
    """Passes when the call is refused as unauthenticated, whichever way the SDK reports it."""
    def run():
        try:
            fn()
        except (Unauthenticated, PermissionDenied) as e:
            check(not isinstance(e, PermissionDenied), f"refused with 403, not 401: {e}")
            return True
        except (DatabricksError, ValueError) as e:
            # The token request itself failed: the SDK reports the OAuth error.
            check("invalid_client" in str(e) or "401" in str(e) or "unauthorized" in str(e).lower(), f"{e}")
            return True
        raise AssertionError("the call succeeded")
    return run


sp = step("service_principals.create with workspace-access", lambda: w.service_principals.create(
    display_name=f"OAUTH_CONFORMANCE_{suffix}", entitlements=[iam.ComplexValue(value="workspace-access")]))
sp_id = int(sp.id)
proxy = w.service_principal_secrets_proxy
created = step("service_principal_secrets_proxy.create", lambda: proxy.create(
    service_principal_id=sp_id, lifetime="3600s"))
step("the secret is shown once, with its id and times", lambda: check(
    created.secret.startswith("dose") and created.id and created.status == "ACTIVE" and created.create_time
    and created.expire_time, f"{created}"))
listed = step("service_principal_secrets_proxy.list", lambda: list(proxy.list(service_principal_id=sp_id)))
step("the list shows the secret without its value", lambda: check(
    [s.id for s in listed] == [created.id] and all(getattr(s, "secret", None) is None for s in listed),
    f"{listed}"))

client_m2m = m2m(sp.application_id, created.secret)
me = step("oauth-m2m current_user.me", lambda: client_m2m.current_user.me())
step("me is the service principal", lambda: check(me.user_name == sp.application_id, f"{me}"))
step("a wrong secret gets no token", refused(lambda: m2m(
    sp.application_id, "dose" + "0" * 32).current_user.me()))
step("another principal's client id gets no token", refused(lambda: m2m(
    str(uuid.uuid4()), created.secret).current_user.me()))

step("service_principal_secrets_proxy.delete", lambda: proxy.delete(service_principal_id=sp_id,
                                                                    secret_id=created.id))
step("the cached access token is refused after the secret is deleted", refused(
    lambda: client_m2m.current_user.me()))
step("the deleted secret gets no new token", refused(lambda: m2m(
    sp.application_id, created.secret).current_user.me()))

second = step("a second secret", lambda: proxy.create(service_principal_id=sp_id))
client_two = m2m(sp.application_id, second.secret)
step("works with the second secret", lambda: check(
    client_two.current_user.me().user_name == sp.application_id, "not the principal"))
step("service_principals.delete", lambda: w.service_principals.delete(id=sp.id))
step("the access token is refused after the principal is deleted", refused(
    lambda: client_two.current_user.me()))
step("the secret gets no new token after the principal is deleted", refused(lambda: m2m(
    sp.application_id, second.secret).current_user.me()))
step("secrets of a deleted principal are not found", expect(DatabricksError, lambda: list(
    proxy.list(service_principal_id=sp_id))))

finish()
