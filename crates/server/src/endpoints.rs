//! The endpoints that read a JSON request body, for the `json_bodies` fuzz target (outside the
//! workspace, in `fuzz/`), which sends arbitrary bytes to each of them. The list lives here so
//! that the workspace's tests can check it against the router: a route that reads a JSON body
//! and is in neither [`JSON_BODY_ENDPOINTS`] (through its [`ALIASES`]) nor [`NOT_FUZZED`] fails
//! `tests/endpoints.rs`, so a new API family cannot go unfuzzed by accident.

/// `(method, path)` of every endpoint that reads a JSON body, one path per handler. A
/// `{placeholder}` in a path names a fixture the fuzz target creates (`{user}`, `{sp}`,
/// `{group}`, `{warehouse}`, `{cluster}`, `{job}`, `{workspace_id}`, `{account_id}`,
/// `{metastore}`); the other segments are
/// sent as written. The fuzz seeds pick an endpoint by its index, so new entries go last.
/// DELETEs are left out on purpose: the fuzz target's fixtures must outlive every input, and
/// GETs read a body only as [`crate::params::Params`], which the legacy groups' GETs exercise.
pub const JSON_BODY_ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/api/2.0/preview/scim/v2/Users"),
    ("PUT", "/api/2.0/preview/scim/v2/Users/{user}"),
    ("PATCH", "/api/2.0/preview/scim/v2/Users/{user}"),
    ("POST", "/api/2.0/preview/scim/v2/ServicePrincipals"),
    ("PUT", "/api/2.0/preview/scim/v2/ServicePrincipals/{sp}"),
    ("PATCH", "/api/2.0/preview/scim/v2/ServicePrincipals/{sp}"),
    ("POST", "/api/2.0/preview/scim/v2/Groups"),
    ("PUT", "/api/2.0/preview/scim/v2/Groups/{group}"),
    ("PATCH", "/api/2.0/preview/scim/v2/Groups/{group}"),
    ("POST", "/api/2.0/token/create"),
    ("POST", "/api/2.0/token/delete"),
    ("POST", "/api/2.0/token-management/on-behalf-of/tokens"),
    ("PUT", "/api/2.0/permissions/authorization/tokens"),
    ("PATCH", "/api/2.0/permissions/authorization/tokens"),
    ("PUT", "/api/2.0/permissions/sql/warehouses/{warehouse}"),
    ("PATCH", "/api/2.0/permissions/sql/warehouses/{warehouse}"),
    ("PUT", "/api/2.0/permissions/clusters/{cluster}"),
    ("PATCH", "/api/2.0/permissions/clusters/{cluster}"),
    ("PUT", "/api/2.0/permissions/jobs/{job}"),
    ("PATCH", "/api/2.0/permissions/jobs/{job}"),
    ("POST", "/api/2.0/sql/warehouses"),
    ("POST", "/api/2.0/sql/warehouses/{warehouse}/edit"),
    ("POST", "/api/2.0/clusters/create"),
    ("POST", "/api/2.0/clusters/edit"),
    ("POST", "/api/2.2/jobs/create"),
    ("POST", "/api/2.2/jobs/update"),
    ("POST", "/api/2.2/jobs/reset"),
    ("PATCH", "/api/2.1/unity-catalog/permissions/catalog/hive_metastore"),
    ("PATCH", "/api/2.1/unity-catalog/permissions/schema/hive_metastore.default"),
    ("POST", "/api/2.1/unity-catalog/catalogs"),
    ("PATCH", "/api/2.1/unity-catalog/catalogs/hive_metastore"),
    ("POST", "/api/2.1/unity-catalog/schemas"),
    ("POST", "/api/2.1/unity-catalog/tables"),
    ("POST", "/api/2.1/unity-catalog/metastores"),
    ("PUT", "/api/2.1/unity-catalog/workspaces/{workspace_id}/metastore"),
    ("POST", "/api/2.0/partner-connect/partners"),
    ("PUT", "/api/2.0/partner-connect/partners/rivery"),
    ("POST", "/api/2.0/partner-connect/partners/rivery/connect"),
    ("POST", "/api/2.0/partner-connect/connections/rivery/rotate-token"),
    ("POST", "/api/2.0/sql/statements"),
    // Appended later; the seeds name endpoints by index, so new ones go last.
    ("PATCH", "/api/2.1/unity-catalog/schemas/hive_metastore.default"),
    ("PATCH", "/api/2.1/unity-catalog/workspaces/{workspace_id}/metastore"),
    ("POST", "/api/2.0/partner-connect/connections/rivery/repair"),
    ("POST", "/api/2.0/clusters/start"),
    ("POST", "/api/2.0/clusters/restart"),
    ("POST", "/api/2.0/clusters/delete"),
    ("POST", "/api/2.2/jobs/run-now"),
    ("POST", "/api/2.2/jobs/runs/cancel"),
    ("POST", "/api/2.0/secrets/scopes/create"),
    ("POST", "/api/2.0/secrets/scopes/delete"),
    ("POST", "/api/2.0/secrets/put"),
    ("POST", "/api/2.0/secrets/delete"),
    ("POST", "/api/2.0/secrets/acls/put"),
    ("POST", "/api/2.0/secrets/acls/delete"),
    ("POST", "/api/2.0/groups/create"),
    ("POST", "/api/2.0/groups/add-member"),
    ("POST", "/api/2.0/groups/remove-member"),
    ("POST", "/api/2.0/groups/delete"),
    // The legacy groups API reads a GET's parameters from its body too.
    ("GET", "/api/2.0/groups/list-members"),
    ("GET", "/api/2.0/groups/list-parents"),
    ("POST", "/api/2.0/accounts/servicePrincipals/{sp}/credentials/secrets"),
    // Found missing when the list was first checked against the router.
    ("POST", "/api/2.0/accounts/{account_id}/servicePrincipals/{sp}/credentials/secrets"),
    ("POST", "/api/2.0/partner-connect/connections/rivery/test"),
    ("PATCH", "/api/2.1/unity-catalog/metastores/{metastore}"),
    ("PATCH", "/api/2.1/unity-catalog/tables/hive_metastore.default.fuzz"),
    ("POST", "/api/2.0/sql/sessions"),
];

/// Routes that read a JSON body and are not fuzzed, with the reason: `(method, path, why)`.
pub const NOT_FUZZED: &[(&str, &str, &str)] = &[
    (
        "POST",
        "/api/2.0/clusters/permanent-delete",
        "would delete the fixture cluster the other endpoints address",
    ),
    ("POST", "/api/2.2/jobs/delete", "would delete the fixture job the other endpoints address"),
];

/// Route prefixes served by the same handlers as another prefix, which the fuzz target reaches
/// through that one: `(alias, fuzzed)`.
pub const ALIASES: &[(&str, &str)] = &[
    ("/api/2.1/clusters/", "/api/2.0/clusters/"),
    ("/api/2.0/jobs/", "/api/2.2/jobs/"),
    ("/api/2.1/jobs/", "/api/2.2/jobs/"),
    ("/api/2.0/preview/permissions/", "/api/2.0/permissions/"),
    ("/api/2.0/permissions/warehouses/", "/api/2.0/permissions/sql/warehouses/"),
    ("/api/2.0/sql/statements/", "/api/2.0/sql/statements"),
    ("/api/2.0/sql/sessions/", "/api/2.0/sql/sessions"),
];
