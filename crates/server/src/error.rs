//! The one error type of the API. It renders as the Databricks envelope
//! `{"error_code","message"}`, or as the SCIM envelope on SCIM paths, and never leaks internal
//! text: unexpected failures are logged once and answered with an opaque 500.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use patchbay_core::catalog as catalog_rules;
use patchbay_core::compute::ObjectKind;
use patchbay_core::partner::delete::Refusal;
use patchbay_core::principal::PrincipalKind;
use patchbay_store::{
    CatalogError, Changed, Conflict, Denied, FilterError, Missing, Rejected, StoreError, Taken,
};
use serde::Serialize;

/// Which envelope an error is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Envelope {
    Databricks,
    Scim,
}

impl Envelope {
    /// The envelope of the request's endpoint. Inside a nested router the URI has lost its
    /// prefix, so the original URI decides when there is one.
    pub fn for_request(uri: &axum::http::Uri, extensions: &axum::http::Extensions) -> Envelope {
        let path = extensions
            .get::<axum::extract::OriginalUri>()
            .map_or(uri.path(), |original| original.0.path());
        Envelope::for_path(path)
    }

    /// SCIM paths answer in the SCIM envelope, everything else in the Databricks one.
    pub fn for_path(path: &str) -> Envelope {
        if path.starts_with(crate::scim::PREFIX) { Envelope::Scim } else { Envelope::Databricks }
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// RFC 7644 `scimType`, where one applies.
    pub scim_type: Option<&'static str>,
    pub envelope: Envelope,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            scim_type: None,
            envelope: Envelope::Databricks,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", message)
    }

    pub fn malformed(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "RESOURCE_ALREADY_EXISTS", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "PERMISSION_DENIED", message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message)
    }

    pub fn not_implemented(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_IMPLEMENTED, "NOT_IMPLEMENTED", message)
    }

    pub fn payload_too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RESOURCE_EXHAUSTED",
            format!("The request body is larger than {} KiB.", limit / 1024),
        )
    }

    /// The database is unreachable or busy: worth retrying later.
    pub fn unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "TEMPORARILY_UNAVAILABLE",
            "The service is temporarily unavailable.",
        )
    }

    /// Anything unexpected: logged here with its detail, answered without it.
    pub fn internal(detail: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %detail, "internal error");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "Internal error.")
    }

    pub fn scim_type(mut self, scim_type: &'static str) -> ApiError {
        self.scim_type = Some(scim_type);
        self
    }

    pub fn in_envelope(mut self, envelope: Envelope) -> ApiError {
        self.envelope = envelope;
        self
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::Changed(changed) => {
                ApiError::new(StatusCode::CONFLICT, "ABORTED", changed_message(changed))
            }
            StoreError::Refused(refusal) => refused(refusal),
            StoreError::Conflict(conflict) => ApiError::conflict(conflict_message(conflict)),
            StoreError::InvalidFilter(e) => {
                ApiError::bad_request(filter_message(e)).scim_type("invalidFilter")
            }
            // Outside the catalog's API (a Partner Connect grant, a connection's health) a
            // catalog failure reads as its generic kind, with the catalog's message.
            StoreError::Catalog(e) => {
                let specific = ApiError::from(*e);
                match specific.status {
                    StatusCode::NOT_FOUND => ApiError::not_found(specific.message),
                    StatusCode::CONFLICT => ApiError::conflict(specific.message),
                    StatusCode::FORBIDDEN => ApiError::forbidden(specific.message),
                    StatusCode::BAD_REQUEST => {
                        ApiError::bad_request(specific.message).scim_type("invalidValue")
                    }
                    _ => specific,
                }
            }
            StoreError::Missing(missing) => ApiError::not_found(missing_message(missing)),
            StoreError::Taken(taken) => ApiError::conflict(taken_message(taken)),
            StoreError::Denied(denied) => ApiError::forbidden(denied_message(denied)),
            StoreError::Rejected(rejected) => {
                ApiError::bad_request(rejected_message(rejected)).scim_type("invalidValue")
            }
            StoreError::Unavailable(e) => {
                tracing::warn!(error = %e, "database unavailable");
                ApiError::unavailable()
            }
            other => ApiError::internal(other),
        }
    }
}

/// A Partner Connect rule's refusal (of a delete or a rotation), in core's words: whether the
/// store met it in its transaction or a handler before it.
pub(crate) fn refused(refusal: Refusal) -> ApiError {
    let message = refusal.to_string();
    match refusal {
        Refusal::Connecting { .. } | Refusal::Changed { .. } => {
            ApiError::new(StatusCode::CONFLICT, "ABORTED", message)
        }
        Refusal::NoConnection { .. } => ApiError::not_found(message),
        Refusal::NothingToRotate { .. } => ApiError::bad_request(message).scim_type("invalidValue"),
    }
}

fn changed_message(changed: Changed) -> String {
    match changed {
        Changed::WhileDeleting { partner_id } => {
            format!("The connection to {partner_id} changed while it was being deleted; try again.")
        }
        Changed::RotationInProgress { partner_id } => format!(
            "A token rotation of the connection to {partner_id} is in progress; try again in a moment."
        ),
        Changed::AwaitsConfirmation { previous_token_id } => format!(
            "An earlier rotation awaits confirmation: once the partner uses the new token, \
             confirm with {{\"revoke_token_id\": \"{previous_token_id}\"}}."
        ),
        Changed::RotationSettled { partner_id } => {
            format!("The rotation of the connection to {partner_id} was settled by another step.")
        }
        Changed::RotationEnded { partner_id } => {
            format!("The rotation of the connection to {partner_id} was ended by another step.")
        }
    }
}

fn conflict_message(conflict: Conflict) -> String {
    match conflict {
        Conflict::PartnerConnected { partner_id } => {
            format!("Partner {partner_id} has a connection; delete the connection first.")
        }
    }
}

fn filter_message(e: FilterError) -> String {
    match e {
        FilterError::UnsupportedAttribute { attribute } => {
            format!("Unsupported filter attribute '{attribute}'")
        }
        FilterError::NotMultiValued { attribute } => {
            format!("'{attribute}' is not a multi-valued attribute")
        }
        FilterError::NullComparison { attribute } => {
            format!("Cannot compare '{attribute}' with null")
        }
        FilterError::NotBoolean { attribute } => format!("'{attribute}' takes true or false"),
        FilterError::BooleanOperator { operator, attribute } => {
            format!("Operator '{operator}' cannot be used with the boolean attribute '{attribute}'")
        }
    }
}

fn missing_message(missing: Missing) -> String {
    match missing {
        Missing::Principal { kind, id } => format!("{} with id {id} not found.", kind.noun()),
        Missing::Vanished { kind, id } => format!("{} {id} vanished", kind.noun()),
        Missing::AclPrincipal { id } => format!("Principal {id} does not exist in this workspace."),
        Missing::ScopePrincipal { name } => format!(
            "Principal {name} does not exist: name a user, a service principal's application id or a group."
        ),
        Missing::Group { name } => format!("Group {name} does not exist."),
        Missing::User { name } => format!("User {name} does not exist."),
        Missing::Operator { name } => format!("User {name} not found."),
        Missing::Membership { member, group } => {
            format!("{member} is not a member of group {group}.")
        }
        Missing::ServicePrincipal { id } => format!("Service principal {id} does not exist."),
        Missing::Token { id } => format!("Token with id {id} does not exist."),
        Missing::Workspace { id } => format!("Workspace {id} does not exist."),
        Missing::Scope { name } => format!("Scope {name} does not exist!"),
        Missing::Secret { scope, key } => format!("Secret {key} does not exist in scope {scope}."),
        Missing::ScopeAcl { scope, principal } => {
            format!("No ACL for principal {principal} on scope {scope}.")
        }
        Missing::OAuthSecret { secret_id, principal_id } => {
            format!("Secret {secret_id} does not exist for service principal {principal_id}.")
        }
        Missing::Run { id } => format!("Run {id} does not exist."),
        // Clusters and jobs use the wording both SDKs recognise.
        Missing::Object { kind, id } => match kind {
            ObjectKind::Warehouse => format!("SQL warehouse {id} does not exist."),
            ObjectKind::Cluster => format!("Cluster {id} does not exist"),
            ObjectKind::Job => format!("Job {id} does not exist."),
        },
        Missing::ConnectionVanished { .. } => "the connection vanished".into(),
        Missing::ConnectionToken { token_id } => {
            format!("The connection's principal has no token {token_id}.")
        }
    }
}

/// The messages Terraform matches on, word for word.
fn taken_message(taken: Taken) -> String {
    match taken {
        Taken::Principal { kind, name } => match kind {
            PrincipalKind::User => format!("User with username {name} already exists."),
            PrincipalKind::ServicePrincipal => {
                format!("Service principal with application ID {name} already exists.")
            }
            PrincipalKind::Group => format!("Group with name {name} already exists."),
        },
        Taken::Scope { name } => format!("Scope {name} already exists!"),
        Taken::Warehouse { name } => format!("A SQL warehouse named '{name}' already exists."),
        Taken::Connection { partner_id } => {
            format!("The workspace already has a connection to {partner_id}.")
        }
        Taken::NodeRoute { route } => {
            format!("Another running node's id begins with {route}, as this node's does.")
        }
    }
}

fn denied_message(denied: Denied) -> String {
    match denied {
        Denied::CreateToken => {
            "You do not have permission to create personal access tokens (CAN_USE on tokens)."
                .into()
        }
        Denied::ServicePrincipalTokens { application_id } => format!(
            "Service principal {application_id} does not have permission to use tokens; \
             grant it CAN_USE on authorization/tokens first."
        ),
        Denied::Object { kind, id, needed } => {
            format!("You need {needed} on {} {id} to do this.", kind.noun())
        }
        Denied::Create { kind, entitlement } => {
            let what = match kind {
                ObjectKind::Warehouse => "SQL warehouses",
                ObjectKind::Cluster => "clusters",
                ObjectKind::Job => "jobs",
            };
            format!(
                "You do not have permission to create {what}: it needs the {entitlement} entitlement."
            )
        }
        Denied::ChangeOwner { kind, id } => format!(
            "Only a workspace admin or the current owner can change the owner of {} {id}.",
            kind.noun()
        ),
        Denied::Scope { user, needed, scope } => {
            format!("User {user} does not have {needed} permission on scope {scope}.")
        }
    }
}

fn rejected_message(rejected: Rejected) -> String {
    use patchbay_core::oauth::MAX_SECRETS_PER_PRINCIPAL;
    use patchbay_core::secrets::{MAX_SCOPES_PER_WORKSPACE, MAX_SECRETS_PER_SCOPE};
    match rejected {
        Rejected::ScopeLimit => {
            format!("A workspace holds at most {MAX_SCOPES_PER_WORKSPACE} secret scopes.")
        }
        Rejected::SecretLimit { scope } => format!(
            "Scope {scope} already holds {MAX_SECRETS_PER_SCOPE} secrets, the most a scope may hold."
        ),
        Rejected::OAuthSecretLimit { principal_id } => format!(
            "Service principal {principal_id} already has {MAX_SECRETS_PER_PRINCIPAL} secrets, \
             the most one may hold; delete one first."
        ),
        Rejected::GroupInAdmins => "Groups cannot be added to the admins group.".into(),
        Rejected::GroupCycle { group, parent } => {
            format!("Adding group {group} to group {parent} would make a group a member of itself.")
        }
        Rejected::SelfMember => "A group cannot be a member of itself.".into(),
        Rejected::UnknownMember { id } => format!(
            "Member {id} not found: no user, service principal or group of this \
             workspace has that id."
        ),
        Rejected::BuiltinGroupRename { name } => {
            format!("The built-in group '{name}' cannot be renamed")
        }
        Rejected::BuiltinGroupDelete { name } => {
            format!("The built-in group '{name}' cannot be deleted")
        }
        Rejected::UnknownServicePrincipal { application_id } => {
            format!("Service principal with application ID {application_id} does not exist.")
        }
        Rejected::Level { level, object } => {
            format!("Permission level {level} is not valid for {}.", object.storage_type())
        }
        Rejected::GroupOwner => {
            "A group cannot be an owner; give IS_OWNER to a user or a service principal.".into()
        }
        Rejected::UnknownTask { task, job_id } => {
            format!("Task {task} does not exist in job {job_id}.")
        }
        Rejected::ClusterState { id, reason } => format!("Cluster {id}: {reason}"),
        Rejected::Rule(reason) => reason,
        Rejected::SortBy(e) => filter_message(e),
        Rejected::SortByMultiValued { attribute } => {
            format!("Cannot sort by the multi-valued attribute '{attribute}'")
        }
        Rejected::UnknownWarehouse { id } => format!("SQL warehouse {id} does not exist."),
        Rejected::OAuthSecretWithoutServicePrincipal => {
            "An OAuth secret needs the connection's service principal.".into()
        }
        Rejected::CurrentToken => "That is the token the partner holds now; rotate first.".into(),
        Rejected::ServicePrincipalDeleted => "The connection's service principal was deleted; \
             delete the connection and connect again."
            .into(),
    }
}

/// What a catalog failure says to the client: Unity Catalog's error code and status, and the
/// message. The one place where catalog errors become words.
impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> ApiError {
        use CatalogError as E;
        let not_found = |code, message: String| ApiError::does_not_exist(code, message);
        let exists = |code, message: String| ApiError::already_exists(code, message);
        let invalid = |code, message: String| ApiError::new(StatusCode::BAD_REQUEST, code, message);
        let metastore = "METASTORE_DOES_NOT_EXIST";
        let bad = "INVALID_PARAMETER_VALUE";
        match e {
            E::NoMetastore => not_found(
                metastore,
                "No metastore assigned for the current workspace: Unity Catalog is not enabled. \
                 Assign one with PUT /api/2.1/unity-catalog/workspaces/{workspace_id}/metastore."
                    .into(),
            ),
            E::UnityCatalogDisabled => not_found(
                metastore,
                "Unity Catalog is not enabled for this workspace: only hive_metastore exists. \
                 Assign a metastore first."
                    .into(),
            ),
            E::NoMetastoreSummary => {
                not_found(metastore, "No metastore assigned for the current workspace.".into())
            }
            E::NotAssigned { workspace_id } => {
                not_found(metastore, format!("Workspace {workspace_id} has no metastore assigned."))
            }
            E::AssignmentNotFound { metastore_id, workspace_id } => not_found(
                metastore,
                format!("Metastore '{metastore_id}' is not assigned to workspace {workspace_id}."),
            ),
            E::MetastoreNotFound { id } => {
                not_found(metastore, format!("Metastore '{id}' does not exist."))
            }
            E::CatalogNotFound { name } => {
                not_found("CATALOG_DOES_NOT_EXIST", format!("Catalog '{name}' does not exist."))
            }
            E::SchemaNotFound { catalog, name } => not_found(
                "SCHEMA_DOES_NOT_EXIST",
                format!("Schema '{catalog}.{name}' does not exist."),
            ),
            E::TableNotFound { catalog, schema, name } => not_found(
                "TABLE_DOES_NOT_EXIST",
                format!("Table '{catalog}.{schema}.{name}' does not exist."),
            ),
            E::ColumnNotFound { table, name } => not_found(
                "COLUMN_DOES_NOT_EXIST",
                format!("Column '{name}' does not exist in table '{table}'."),
            ),
            E::PrincipalNotFound { name } => not_found(
                "PRINCIPAL_DOES_NOT_EXIST",
                format!("Could not find principal with name {name}."),
            ),
            E::WorkspaceNotFound { workspace_id } => ApiError::not_found(format!(
                "Workspace {workspace_id} does not exist or is not this workspace."
            )),
            E::MetastoreExists { name } => exists(
                "METASTORE_ALREADY_EXISTS",
                match name {
                    Some(name) => format!("Metastore '{name}' already exists."),
                    None => "A metastore with that name already exists.".into(),
                },
            ),
            E::CatalogExists { name } => {
                exists("CATALOG_ALREADY_EXISTS", format!("Catalog '{name}' already exists."))
            }
            E::SchemaExists { name } => {
                exists("SCHEMA_ALREADY_EXISTS", format!("Schema '{name}' already exists."))
            }
            E::TableExists { name } => {
                exists("TABLE_ALREADY_EXISTS", format!("Table '{name}' already exists."))
            }
            E::ColumnExists { table, name } => exists(
                "COLUMN_ALREADY_EXISTS",
                format!("Column '{name}' already exists in table '{table}'."),
            ),
            E::Refused(reason) => ApiError::forbidden(reason),
            E::NotOwner { on } => ApiError::forbidden(format!(
                "User is not an owner of {on} and may not change it or its permissions."
            )),
            E::NoUseCatalog { on } => {
                ApiError::forbidden(format!("User does not have USE CATALOG on {on}."))
            }
            E::NoUseSchema { on, legacy } => {
                let wanted = if legacy { "USAGE" } else { "USE SCHEMA" };
                ApiError::forbidden(format!("User does not have {wanted} on {on}."))
            }
            E::NoCreateCatalog => {
                ApiError::forbidden("User does not have CREATE CATALOG on Metastore.")
            }
            E::MayNotReadGrants { on } => ApiError::forbidden(format!(
                "User does not have permission to read the permissions of {on}."
            )),
            E::MayNotGrant { on } => ApiError::forbidden(format!(
                "User does not have MANAGE on {on}: only its owner, the owner of its \
                 parents, a metastore admin or (for hive_metastore) a workspace admin may grant."
            )),
            E::NotMetastoreAdmin { name } => ApiError::forbidden(format!(
                "Only the metastore admin of '{name}' or a workspace admin can change it."
            )),
            E::Invalid(reason) => invalid(bad, reason),
            E::NotATable { name } => invalid(bad, format!("{name} is not a table name")),
            E::UnsupportedTableType { given } => invalid(
                bad,
                format!(
                    "table_type '{given}' is not supported; use {}.",
                    catalog_rules::TableType::ALL.map(catalog_rules::TableType::as_str).join(", ")
                ),
            ),
            E::UnsupportedFormat { given } => invalid(
                bad,
                format!(
                    "data_source_format '{given}' is not supported; use {}.",
                    catalog_rules::DATA_SOURCE_FORMATS.join(", ")
                ),
            ),
            E::PropertyNotSet { table, key } => {
                invalid(bad, format!("Property '{key}' is not set on table '{table}'."))
            }
            E::DuplicateColumn { name } => {
                invalid(bad, format!("Column '{name}' appears more than once."))
            }
            E::UnknownColumnType { column, type_name } => invalid(
                bad,
                format!(
                    "Column '{column}' has type_name '{type_name}', which is not one of {}.",
                    catalog_rules::COLUMN_TYPE_NAMES.join(", ")
                ),
            ),
            E::MetastoreNameLength => invalid(
                bad,
                format!(
                    "A metastore name must have 1 to {} characters.",
                    catalog_rules::MAX_NAME_LEN
                ),
            ),
            E::MetastoreNameControl => {
                invalid(bad, "A metastore name must not contain control characters.".into())
            }
            E::NoPrincipal => invalid(
                bad,
                "Each change needs a 'principal' (user e-mail, group name or application id)."
                    .into(),
            ),
            E::RenameLegacyCatalog { to } => {
                invalid(bad, format!("hive_metastore cannot be renamed (to '{to}')."))
            }
            E::DeleteLegacyCatalog => invalid(
                bad,
                "hive_metastore is the workspace's legacy catalog and cannot be deleted.".into(),
            ),
            E::DeleteLegacyDefaultSchema => {
                invalid(bad, "Schema 'hive_metastore.default' cannot be deleted.".into())
            }
            E::CatalogNotEmpty { name } => invalid(
                "CATALOG_NOT_EMPTY",
                format!(
                    "Catalog '{name}' is not empty: delete its schemas first, or use force=true."
                ),
            ),
            E::SchemaNotEmpty { name, tables } => invalid(
                "SCHEMA_NOT_EMPTY",
                format!(
                    "Schema '{name}' is not empty ({tables} tables): delete them first, or use force=true."
                ),
            ),
            E::MetastoreNotEmpty { id } => invalid(
                "METASTORE_NOT_EMPTY",
                format!(
                    "Metastore '{id}' is assigned to a workspace or holds catalogs; \
                     delete it with force=true to delete them too."
                ),
            ),
            E::Store(e) => ApiError::from(e),
        }
    }
}

/// The Databricks error envelope.
#[derive(Serialize)]
struct DatabricksErrorBody<'a> {
    error_code: &'static str,
    message: &'a str,
}

const SCIM_ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The SCIM error envelope (RFC 7644 §3.12). Fields in byte order (`schemas` before
/// `scimType`), the order its bytes have always had.
#[derive(Serialize)]
struct ScimErrorBody<'a> {
    detail: &'a str,
    schemas: [&'static str; 1],
    #[serde(rename = "scimType", skip_serializing_if = "Option::is_none")]
    scim_type: Option<&'static str>,
    /// The HTTP status, as a string.
    status: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = match self.envelope {
            Envelope::Databricks => (
                self.status,
                axum::Json(DatabricksErrorBody { error_code: self.code, message: &self.message }),
            )
                .into_response(),
            Envelope::Scim => {
                let body = ScimErrorBody {
                    detail: &self.message,
                    schemas: [SCIM_ERROR_SCHEMA],
                    scim_type: self.scim_type,
                    status: self.status.as_u16().to_string(),
                };
                let mut r = (self.status, axum::Json(body)).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/scim+json"),
                );
                r
            }
        };
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// 404 with a specific code, as Unity Catalog answers (`CATALOG_DOES_NOT_EXIST`,
    /// `SCHEMA_DOES_NOT_EXIST`, `TABLE_DOES_NOT_EXIST`, `PRINCIPAL_DOES_NOT_EXIST`, …).
    pub fn does_not_exist(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 409 with a specific code (`CATALOG_ALREADY_EXISTS`, `SCHEMA_ALREADY_EXISTS`, …).
    pub fn already_exists(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catalog_error_has_its_own_code_in_the_catalog_api_and_the_generic_one_elsewhere() {
        let missing = || CatalogError::CatalogNotFound { name: "main".into() };
        let specific = ApiError::from(missing());
        assert_eq!(
            (specific.status, specific.code, specific.message.as_str()),
            (StatusCode::NOT_FOUND, "CATALOG_DOES_NOT_EXIST", "Catalog 'main' does not exist.")
        );
        let generic = ApiError::from(StoreError::from(missing()));
        assert_eq!(
            (generic.status, generic.code, generic.message.as_str()),
            (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", "Catalog 'main' does not exist.")
        );
        let not_empty = ApiError::from(StoreError::from(CatalogError::SchemaNotEmpty {
            name: "main.s".into(),
            tables: 2,
        }));
        assert_eq!(
            (not_empty.status, not_empty.code, not_empty.scim_type),
            (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", Some("invalidValue"))
        );
    }

    #[test]
    fn unavailable_is_a_503_and_words_come_from_here() {
        let busy = StoreError::Unavailable("busy".into());
        assert_eq!(ApiError::from(busy).status, StatusCode::SERVICE_UNAVAILABLE);
        let taken = ApiError::from(StoreError::Taken(Taken::Principal {
            kind: PrincipalKind::User,
            name: "a@example.com".into(),
        }));
        assert_eq!(
            (taken.status, taken.code, taken.message.as_str()),
            (
                StatusCode::CONFLICT,
                "RESOURCE_ALREADY_EXISTS",
                "User with username a@example.com already exists."
            )
        );
    }

    /// Status, error code and message of a store error as the client gets it.
    fn said(err: StoreError) -> (StatusCode, &'static str, String, Option<&'static str>) {
        let e = ApiError::from(err);
        (e.status, e.code, e.message, e.scim_type)
    }

    #[test]
    fn partner_connect_races_and_refusals_keep_their_words() {
        let rivery = || "rivery".to_owned();
        assert_eq!(
            said(StoreError::Changed(Changed::AwaitsConfirmation {
                previous_token_id: "t1".into()
            })),
            (
                StatusCode::CONFLICT,
                "ABORTED",
                "An earlier rotation awaits confirmation: once the partner uses the new token, \
                 confirm with {\"revoke_token_id\": \"t1\"}."
                    .into(),
                None
            )
        );
        let changed = [
            (
                Changed::WhileDeleting { partner_id: rivery() },
                "The connection to rivery changed while it was being deleted; try again.",
            ),
            (
                Changed::RotationInProgress { partner_id: rivery() },
                "A token rotation of the connection to rivery is in progress; try again in a moment.",
            ),
            (
                Changed::RotationSettled { partner_id: rivery() },
                "The rotation of the connection to rivery was settled by another step.",
            ),
            (
                Changed::RotationEnded { partner_id: rivery() },
                "The rotation of the connection to rivery was ended by another step.",
            ),
        ];
        for (changed, message) in changed {
            assert_eq!(
                said(StoreError::Changed(changed)),
                (StatusCode::CONFLICT, "ABORTED", message.into(), None)
            );
        }
        assert_eq!(
            said(StoreError::Refused(Refusal::Connecting { partner_id: rivery() })),
            (
                StatusCode::CONFLICT,
                "ABORTED",
                "A connection to rivery is being created right now; try again in a moment.".into(),
                None
            )
        );
        assert_eq!(
            said(StoreError::Refused(Refusal::Changed { partner_id: rivery() })),
            (
                StatusCode::CONFLICT,
                "ABORTED",
                "The connection to rivery changed since it was read; look at it again.".into(),
                None
            )
        );
        assert_eq!(
            said(StoreError::Refused(Refusal::NoConnection { partner_id: rivery() })),
            (
                StatusCode::NOT_FOUND,
                "RESOURCE_DOES_NOT_EXIST",
                "The workspace has no connection to rivery.".into(),
                None
            )
        );
        assert_eq!(
            said(StoreError::Refused(Refusal::NothingToRotate { partner: rivery() })),
            (
                StatusCode::BAD_REQUEST,
                "INVALID_PARAMETER_VALUE",
                "The connection to rivery has no service principal whose token could rotate."
                    .into(),
                Some("invalidValue")
            )
        );
        assert_eq!(
            said(StoreError::Taken(Taken::Connection { partner_id: rivery() })),
            (
                StatusCode::CONFLICT,
                "RESOURCE_ALREADY_EXISTS",
                "The workspace already has a connection to rivery.".into(),
                None
            )
        );
        assert_eq!(
            said(StoreError::Conflict(Conflict::PartnerConnected { partner_id: rivery() })),
            (
                StatusCode::CONFLICT,
                "RESOURCE_ALREADY_EXISTS",
                "Partner rivery has a connection; delete the connection first.".into(),
                None
            )
        );
        let missing = [
            (Missing::ConnectionVanished { partner_id: rivery() }, "the connection vanished"),
            (
                Missing::ConnectionToken { token_id: "t1".into() },
                "The connection's principal has no token t1.",
            ),
        ];
        for (missing, message) in missing {
            assert_eq!(
                said(StoreError::Missing(missing)),
                (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST", message.into(), None)
            );
        }
    }

    #[test]
    fn rejections_are_400s_with_their_words() {
        let rejected = [
            (Rejected::UnknownWarehouse { id: "w1".into() }, "SQL warehouse w1 does not exist."),
            (
                Rejected::OAuthSecretWithoutServicePrincipal,
                "An OAuth secret needs the connection's service principal.",
            ),
            (Rejected::CurrentToken, "That is the token the partner holds now; rotate first."),
            (
                Rejected::ServicePrincipalDeleted,
                "The connection's service principal was deleted; delete the connection and \
                 connect again.",
            ),
            (
                Rejected::Rule("auto_stop_mins must be 0 or at least 10".into()),
                "auto_stop_mins must be 0 or at least 10",
            ),
            (
                Rejected::SortByMultiValued { attribute: "emails".into() },
                "Cannot sort by the multi-valued attribute 'emails'",
            ),
            (
                Rejected::SortBy(FilterError::UnsupportedAttribute {
                    attribute: "nickName".into(),
                }),
                "Unsupported filter attribute 'nickName'",
            ),
        ];
        for (rejected, message) in rejected {
            assert_eq!(
                said(StoreError::Rejected(rejected)),
                (
                    StatusCode::BAD_REQUEST,
                    "INVALID_PARAMETER_VALUE",
                    message.into(),
                    Some("invalidValue")
                )
            );
        }
    }

    #[test]
    fn a_filter_error_names_the_attribute_and_is_an_invalid_filter() {
        let attribute = || "name.givenName".to_owned();
        let filters = [
            (
                FilterError::UnsupportedAttribute { attribute: attribute() },
                "Unsupported filter attribute 'name.givenName'",
            ),
            (
                FilterError::NotMultiValued { attribute: attribute() },
                "'name.givenName' is not a multi-valued attribute",
            ),
            (
                FilterError::NullComparison { attribute: attribute() },
                "Cannot compare 'name.givenName' with null",
            ),
            (
                FilterError::NotBoolean { attribute: "active".into() },
                "'active' takes true or false",
            ),
            (
                FilterError::BooleanOperator { operator: "gt", attribute: "active".into() },
                "Operator 'gt' cannot be used with the boolean attribute 'active'",
            ),
        ];
        for (e, message) in filters {
            assert_eq!(
                said(StoreError::InvalidFilter(e)),
                (
                    StatusCode::BAD_REQUEST,
                    "INVALID_PARAMETER_VALUE",
                    message.into(),
                    Some("invalidFilter")
                )
            );
        }
    }

    #[test]
    fn a_name_that_is_no_table_is_an_invalid_parameter() {
        let e = ApiError::from(CatalogError::NotATable { name: "main.s".into() });
        assert_eq!(
            (e.status, e.code, e.message.as_str()),
            (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE", "main.s is not a table name")
        );
    }

    #[test]
    fn internal_failures_are_an_opaque_500() {
        let corrupt = StoreError::Internal("column grants holds invalid grants: eof".into());
        assert_eq!(
            said(corrupt),
            (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "Internal error.".into(), None)
        );
    }
}
