"""What every conformance script shares: the SDK client for the server under test, and steps
that report each failure and carry on, ending with a 'N passed, N failed' line."""
import os
import sys

from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config

HOST = os.environ["DATABRICKS_HOST"]
TOKEN = os.environ["DATABRICKS_TOKEN"]
_counts = {"passed": 0, "failed": 0}


def client(token=TOKEN, retry_timeout_seconds=30):
    """A WorkspaceClient for the server under test, authenticated with `token`."""
    return WorkspaceClient(config=Config(host=HOST, token=token, auth_type="pat",
                                         retry_timeout_seconds=retry_timeout_seconds))


def step(name, fn):
    """Runs one check; prints ok/FAIL and returns its result (None on failure)."""
    try:
        result = fn()
        print(f"ok   {name}")
        _counts["passed"] += 1
        return result
    except Exception as e:  # report every failure, then carry on
        print(f"FAIL {name}: {type(e).__name__}: {e}")
        _counts["failed"] += 1
        return None


def expect(exc, fn):
    """A step body that passes only if `fn` raises `exc`."""
    def run():
        try:
            fn()
        except exc:
            return True
        raise AssertionError(f"expected {exc.__name__}")
    return run


def check(cond, message):
    if not cond:
        raise AssertionError(message)
    return True


def failures():
    """How many steps have failed so far."""
    return _counts["failed"]


def finish(extra_failures=0):
    """Prints the closing line and exits non-zero on any failure."""
    failed = _counts["failed"] + extra_failures
    print(f"{_counts['passed']} passed, {failed} failed")
    sys.exit(1 if failed else 0)
