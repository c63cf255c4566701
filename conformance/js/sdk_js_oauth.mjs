// The official Databricks JS SDK (@databricks/sdk-experimental) with OAuth machine-to-machine
// auth against patchbay: a service principal's secret (made with the admin's token), a
// WorkspaceClient with authType "oauth-m2m" that finds the token endpoint by discovery and
// calls currentUser.me() as the principal, and its access refused (401) once the secret is
// deleted.
//
// usage: DATABRICKS_HOST=http://127.0.0.1:PORT DATABRICKS_TOKEN=dapi... node sdk_js_oauth.mjs
// Prints one line per step and a closing 'N passed, N failed' line; exits non-zero on any failure.
import {WorkspaceClient, ApiError} from "@databricks/sdk-experimental";

const host = process.env.DATABRICKS_HOST;
const token = process.env.DATABRICKS_TOKEN;
if (!host || !token) {
    console.error("set DATABRICKS_HOST and DATABRICKS_TOKEN");
    process.exit(2);
}
const admin = new WorkspaceClient({host, token, authType: "pat", retryTimeoutSeconds: 30});
const counts = {passed: 0, failed: 0};

async function step(name, fn) {
    try {
        const result = await fn();
        console.log(`ok   ${name}`);
        counts.passed += 1;
        return result;
    } catch (e) {
        console.log(`FAIL ${name}: ${e?.constructor?.name}: ${e?.message}`);
        counts.failed += 1;
        return undefined;
    }
}

function check(cond, message) {
    if (!cond) {
        throw new Error(message);
    }
    return true;
}

/** The admin's call to the secrets API (the JS SDK 0.17 has no client for it). */
async function secrets(method, path, body) {
    const r = await fetch(`${host}/api/2.0/accounts/servicePrincipals/${path}`, {
        method,
        headers: {"Authorization": `Bearer ${token}`, "Content-Type": "application/json"},
        body: body === undefined ? undefined : JSON.stringify(body),
    });
    check(r.ok, `${method} ${path}: HTTP ${r.status}`);
    return r.json();
}

const suffix = Math.random().toString(16).slice(2, 10);
const sp = await step("servicePrincipalsV2.create with workspace-access", () => admin.servicePrincipalsV2.create({
    displayName: `OAUTH_JS_${suffix}`, entitlements: [{value: "workspace-access"}],
}));
const created = await step("a secret for it", () => secrets("POST", `${sp?.id}/credentials/secrets`, {}));
const m2m = new WorkspaceClient({
    host, clientId: sp?.applicationId, clientSecret: created?.secret, authType: "oauth-m2m", retryTimeoutSeconds: 10,
});
const me = await step("oauth-m2m currentUser.me", () => m2m.currentUser.me());
await step("me is the service principal", () =>
    check(me?.userName && me.userName === sp?.applicationId, JSON.stringify(me)));
await step("delete the secret", () => secrets("DELETE", `${sp?.id}/credentials/secrets/${created?.id}`));
await step("the access token is refused with 401 after the secret is deleted", async () => {
    try {
        await m2m.currentUser.me();
    } catch (e) {
        check(e instanceof ApiError, `not an ApiError: ${e}`);
        return check(e.statusCode === 401, `status ${e.statusCode}: ${e.message}`);
    }
    throw new Error("the call succeeded");
});
await step("servicePrincipalsV2.delete", () => admin.servicePrincipalsV2.delete({id: sp?.id}));

console.log(`${counts.passed} passed, ${counts.failed} failed`);
process.exit(counts.failed ? 1 : 0);
