// The official Databricks JS SDK (@databricks/sdk-experimental 0.17) against patchbay: who am I,
// service principals, on-behalf-of tokens, warehouses, and permissions.
//
// The SDK sends a body only with POST and PUT: its PATCH calls (permissions.update,
// grants.update) arrive without one, whatever the caller passed. patchbay must refuse them
// with 400 INVALID_PARAMETER_VALUE and change nothing, rather than answer 200.
//
// usage: DATABRICKS_HOST=http://127.0.0.1:PORT DATABRICKS_TOKEN=dapi... node sdk_js.mjs
// Prints one line per step and a closing 'N passed, N failed' line; exits non-zero on any failure.
import {WorkspaceClient, ApiError} from "@databricks/sdk-experimental";

const host = process.env.DATABRICKS_HOST;
const token = process.env.DATABRICKS_TOKEN;
if (!host || !token) {
    console.error("set DATABRICKS_HOST and DATABRICKS_TOKEN");
    process.exit(2);
}
const w = new WorkspaceClient({host, token, authType: "pat", retryTimeoutSeconds: 30});
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

/** A step body that passes only if `fn` fails with an API error of `status` and `code` (any
 * code when null: the SDK reads a SCIM error's code as the HTTP reason). */
function refused(status, code, needle, fn) {
    return async () => {
        try {
            await fn();
        } catch (e) {
            check(e instanceof ApiError, `not an ApiError: ${e}`);
            check(e.statusCode === status, `status ${e.statusCode}, expected ${status}: ${e.message}`);
            check(code === null || e.errorCode === code, `error_code ${e.errorCode}, expected ${code}: ${e.message}`);
            check(e.message.includes(needle), `message ${JSON.stringify(e.message)} lacks ${needle}`);
            return true;
        }
        throw new Error(`expected a ${status} ${code}`);
    };
}

const suffix = Math.random().toString(16).slice(2, 10);
const me = await step("currentUser.me", () => w.currentUser.me());
await step("me is a user", () => check(me?.userName && me?.id, JSON.stringify(me)));

// Service principals: create, list, get, delete.
const sp = await step("servicePrincipalsV2.create", () =>
    w.servicePrincipalsV2.create({
        displayName: `JS_${suffix}_USER`,
        entitlements: [{value: "databricks-sql-access"}],
    }),
);
await step("the created principal has ids", () =>
    check(sp?.id && sp?.applicationId, JSON.stringify(sp)),
);
// The SDK's SCIM list never moves startIndex on: it asks for the same page again until a page
// is empty. So this reads until a principal comes back a second time.
async function firstPage(iterator) {
    const seen = new Map();
    for await (const item of iterator) {
        if (seen.has(item.id)) {
            break;
        }
        seen.set(item.id, item);
    }
    return [...seen.values()];
}
await step("servicePrincipalsV2.list finds it by filter", async () => {
    const found = await firstPage(
        w.servicePrincipalsV2.list({filter: `displayName eq "JS_${suffix}_USER"`}),
    );
    return check(
        found.length === 1 && found[0].applicationId === sp.applicationId,
        JSON.stringify(found),
    );
});
await step("servicePrincipalsV2.get", async () => {
    const got = await w.servicePrincipalsV2.get({id: sp.id});
    return check(got.applicationId === sp.applicationId, JSON.stringify(got));
});

// Tokens on its behalf need CAN_USE on tokens; PUT (set) carries a body.
const tokenAcl = () =>
    w.permissions.get({request_object_type: "authorization", request_object_id: "tokens"});
const before = await step("permissions.get tokens", tokenAcl);
const withSp = (before?.access_control_list ?? [])
    .map((e) => {
        const level = e.all_permissions?.find((p) => !p.inherited)?.permission_level;
        const who = e.user_name
            ? {user_name: e.user_name}
            : e.group_name
              ? {group_name: e.group_name}
              : {service_principal_name: e.service_principal_name};
        return level ? {...who, permission_level: level} : undefined;
    })
    .filter(Boolean)
    .concat([{service_principal_name: sp?.applicationId, permission_level: "CAN_USE"}]);
await step("permissions.set tokens (PUT) grants CAN_USE", async () => {
    const after = await w.permissions.set({
        request_object_type: "authorization",
        request_object_id: "tokens",
        access_control_list: withSp,
    });
    return check(
        after.access_control_list.some((e) => e.service_principal_name === sp.applicationId),
        JSON.stringify(after),
    );
});
const obo = await step("tokenManagement.createOboToken", () =>
    w.tokenManagement.createOboToken({
        application_id: sp.applicationId,
        comment: "js conformance",
        lifetime_seconds: 600,
    }),
);
await step("the token is new and its info names the principal", () =>
    check(obo?.token_value?.startsWith("dapi") && obo?.token_info?.token_id, "no token"),
);
await step("tokenManagement.list shows it", async () => {
    const ids = [];
    for await (const t of w.tokenManagement.list({})) {
        ids.push(t.token_id);
    }
    return check(ids.includes(obo.token_info.token_id), "not listed");
});

// The SDK's PATCH arrives without a body: a 400 that changes nothing, with or without a list.
const snapshot = await step("permissions.get tokens before the PATCHes", tokenAcl);
await step(
    "permissions.update without access_control_list is a 400",
    refused(400, "INVALID_PARAMETER_VALUE", "access_control_list", () =>
        w.permissions.update({request_object_type: "authorization", request_object_id: "tokens"}),
    ),
);
await step(
    "permissions.update with a list (sent without a body) is a 400",
    refused(400, "INVALID_PARAMETER_VALUE", "access_control_list", () =>
        w.permissions.update({
            request_object_type: "authorization",
            request_object_id: "tokens",
            access_control_list: [{group_name: "users", permission_level: "CAN_USE"}],
        }),
    ),
);
await step("the token ACL is unchanged", async () => {
    const now = await tokenAcl();
    return check(JSON.stringify(now) === JSON.stringify(snapshot), JSON.stringify(now));
});

// Warehouses and their permissions.
const wh = await step("warehouses.create", () =>
    w.warehouses.create({name: `js-${suffix}`, cluster_size: "2X-Small", max_num_clusters: 1}),
);
const warehouseId = wh?.response?.id ?? wh?.id;
await step("warehouses.list finds it", async () => {
    const ids = [];
    for await (const x of w.warehouses.list({})) {
        ids.push(x.id);
    }
    return check(ids.includes(warehouseId), `${warehouseId} not in ${ids}`);
});
const whAcl = () =>
    w.permissions.get({request_object_type: "warehouses", request_object_id: warehouseId});
const whBefore = await step("permissions.get warehouse", whAcl);
await step(
    "permissions.update on a warehouse is a 400",
    refused(400, "INVALID_PARAMETER_VALUE", "access_control_list", () =>
        w.permissions.update({
            request_object_type: "warehouses",
            request_object_id: warehouseId,
            access_control_list: [{service_principal_name: sp.applicationId, permission_level: "CAN_USE"}],
        }),
    ),
);
await step("the warehouse ACL is unchanged", async () => {
    const now = await whAcl();
    return check(JSON.stringify(now) === JSON.stringify(whBefore), JSON.stringify(now));
});
await step("permissions.set on a warehouse (PUT) works", async () => {
    const after = await w.permissions.set({
        request_object_type: "warehouses",
        request_object_id: warehouseId,
        access_control_list: [
            {user_name: me.userName, permission_level: "IS_OWNER"},
            {service_principal_name: sp.applicationId, permission_level: "CAN_USE"},
        ],
    });
    return check(
        after.access_control_list.some((e) => e.service_principal_name === sp.applicationId),
        JSON.stringify(after),
    );
});
await step("warehouses.delete", () => w.warehouses.delete({id: warehouseId}));

// Clean up: deleting the principal revokes its token.
await step("tokenManagement.delete", () => w.tokenManagement.delete({token_id: obo.token_info.token_id}));
await step("servicePrincipalsV2.delete", () => w.servicePrincipalsV2.delete({id: sp.id}));
await step(
    "the deleted principal is gone",
    refused(404, null, "not found", () => w.servicePrincipalsV2.get({id: sp.id})),
);

const failed = counts.failed;
console.log(`${counts.passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
