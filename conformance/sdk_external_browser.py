"""The official databricks-sdk's external-browser auth against patchbay, with a scripted browser
(headless Chromium, ui-tests/oauth-login.mjs): the SDK opens /oidc/v1/authorize for the public
client databricks-cli, the browser logs in on patchbay's page, the code comes back to the SDK's
loopback port (8020, fixed by the SDK) and is exchanged with PKCE; current_user.me() is then the
user, and a second client reuses the SDK's token cache without a browser.

usage: DATABRICKS_HOST=http://127.0.0.1:PORT DATABRICKS_TOKEN=dapi... python sdk_external_browser.py
Needs /usr/bin/chromium and ui-tests' node modules (npm ci in ui-tests).
Prints one line per step and a closing 'N passed, N failed' line; exits non-zero on any failure.
"""
import base64
import json
import os
import tempfile

from harness import HOST, TOKEN, check, client, finish, step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
admin_name = step("the admin's user name", lambda: client().current_user.me().user_name)

# The SDK must not see the token (it would refuse two auth methods), and its token cache goes in
# a home of its own. The scripted browser logs in with the token on the page.
os.environ.pop("DATABRICKS_TOKEN", None)
os.environ["HOME"] = tempfile.mkdtemp(prefix="sdk-external-browser-")
os.environ["PATCHBAY_LOGIN_TOKEN"] = TOKEN
os.environ["BROWSER"] = os.path.join(ROOT, "ui-tests", "open-detached") + " %s"
os.environ.setdefault("PATCHBAY_BROWSER_LOG", os.path.join(os.environ["HOME"], "browser.log"))

from databricks.sdk import WorkspaceClient  # noqa: E402
from databricks.sdk.core import Config  # noqa: E402


def browser_client():
    return WorkspaceClient(config=Config(host=HOST, auth_type="external-browser", retry_timeout_seconds=30))


w = step("external-browser sign-in", browser_client)
me = step("current_user.me as the signed-in user", lambda: w.current_user.me())
step("me is the user who logged in on the page", lambda: check(
    me is not None and me.user_name == admin_name, f"{me}"))
again = step("a second client signs in from the token cache", browser_client)
step("and works", lambda: check(again.current_user.me().user_name == admin_name, "not the user"))
headers = step("the client's credentials", lambda: w.config.authenticate())
def is_access_token(headers):
    """An OAuth access token is a JWT signed with HS256 (a personal access token starts dapi)."""
    if headers is None:
        return False
    value = headers.get("Authorization", "")
    if not value.startswith("Bearer "):
        return False
    parts = value[len("Bearer "):].split(".")
    if len(parts) != 3:
        return False
    header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    return header.get("alg") == "HS256" and header.get("typ") == "JWT"


step("an OAuth access token, not a personal access token", lambda: check(
    is_access_token(headers), "not an OAuth access token"))


def cached_refresh_token():
    cache = os.path.join(os.environ["HOME"], ".config", "databricks-sdk-py", "oauth")
    tokens = [json.load(open(os.path.join(cache, f))) for f in os.listdir(cache)]
    return [t.get("token", {}).get("refresh_token", "") for t in tokens]


step("the SDK's cache holds a refresh token", lambda: check(
    any(t.startswith("dort") for t in cached_refresh_token()), "no refresh token cached"))
if os.path.exists(os.environ["PATCHBAY_BROWSER_LOG"]):
    print(open(os.environ["PATCHBAY_BROWSER_LOG"]).read().strip())
finish()
