//! The protocol's messages, written from its field lists. Names and enums are the wire's.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A secret on the wire (the personal access token handed to a partner): serialized as the
/// plain string, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Credentials for the partner (`auth`): present only on a first connect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auth {
    /// Null when the partner was given an OAuth secret instead (`AUTH_OAUTH_M2M`).
    #[serde(default)]
    pub personal_access_token: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_token: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_scope: Option<String>,
}

/// Who is connecting or signing in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub databricks_user_id: i64,
    pub databricks_organization_id: i64,
    pub is_connection_established: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
}

/// The body of `POST /connect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectRequest {
    pub user_info: UserInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    pub hostname: String,
    pub port: i32,
    pub workspace_url: String,
    pub workspace_id: i64,
    pub demo: bool,
    pub cloud_provider: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_provider_region: Option<String>,
    pub is_free_trial: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jdbc_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub databricks_jdbc_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catalog_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_sql_endpoint: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_sql_warehouse: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_source_connector: Option<String>,
    /// The service principal's application id; absent when none was created.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_principal_id: Option<String>,
    /// The principal's OAuth secret, on a first connect of an `AUTH_OAUTH_M2M` partner: the
    /// partner exchanges it, with `service_principal_id` as client id, for access tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal_oauth_secret: Option<Secret>,
    /// The client id of the OAuth U2M app Partner Connect made for this connection
    /// (`AUTH_OAUTH_U2M`): users authorize it to act as them; the partner's answer names its
    /// callback (`oauth_redirect_uri`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_u2m_app_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_scope: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedirectValue {
    CreateTrial,
    PurchaseProduct,
    SignIn,
    ContactAdmin,
    NotApplicable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    New,
    Existing,
    NotApplicable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    New,
    Active,
    Expired,
    NotApplicable,
}

/// The partner's answer to `/connect` (200 or 201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub redirect_uri: String,
    pub redirect_value: RedirectValue,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_id: Option<String>,
    pub user_status: UserStatus,
    pub account_status: AccountStatus,
    pub configured_resources: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth_redirect_uri: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorReason {
    Unauthorized,
    BadRequest,
    AccountNotFound,
    ConnectionNotFound,
    GeneralError,
}

/// A partner's error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub error_reason: ErrorReason,
    /// Shown to the user (404 and 500 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_message: Option<String>,
    /// Logged, never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debugging_message: Option<String>,
}

/// The body of `/delete-connection`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteConnectionRequest {
    pub connection_id: String,
    pub cloud_provider: String,
    pub databricks_organization_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_info: Option<UserInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceStatus {
    ResourcesDeleted,
    ResourcesPendingDeletion,
    DeletionAcknowledged,
    UserUnauthorized,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteConnectionResponse {
    pub resource_status: ResourceStatus,
}

/// The body of `/test-connection`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionInfo {
    pub connection_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloud_provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub databricks_organization_id: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TestStatus {
    #[serde(rename = "PASS", alias = "SUCCESS")]
    Pass,
    #[serde(rename = "FAIL", alias = "FAILED")]
    Fail,
    #[serde(rename = "UNKNOWN")]
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestResult {
    pub test_name: String,
    pub status: TestStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionTestResult {
    pub test_results: Vec<TestResult>,
}

/// patchbay's extension: `POST /rotate-token` delivers a new token for an existing connection,
/// so that the old one can be revoked only once the partner holds the new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotateTokenRequest {
    pub connection_id: String,
    pub databricks_organization_id: i64,
    pub auth: Auth,
    /// For an `AUTH_OAUTH_M2M` connection: the principal's new OAuth secret (and `auth` holds
    /// no token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_principal_oauth_secret: Option<Secret>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_never_shows_in_debug() {
        let auth = Auth {
            personal_access_token: Some(Secret("dapi0123".into())),
            oauth_token: None,
            oauth_scope: None,
        };
        assert!(!format!("{auth:?}").contains("dapi0123"));
        assert!(serde_json::to_string(&auth).unwrap().contains("dapi0123"));
    }

    #[test]
    fn enums_use_the_wire_names() {
        let c: Connection = serde_json::from_str(
            r#"{"redirect_uri":"https://p.example.com/x","redirect_value":"create_trial","connection_id":"c1",
                "user_status":"new","account_status":"active","configured_resources":true}"#,
        )
        .unwrap();
        assert_eq!(c.redirect_value, RedirectValue::CreateTrial);
        assert!(serde_json::from_str::<Connection>(r#"{"redirect_uri":"x","redirect_value":"teleport","user_status":"new","account_status":"new","configured_resources":true}"#).is_err());
        let t: TestResult =
            serde_json::from_str(r#"{"test_name":"a","status":"SUCCESS"}"#).unwrap();
        assert_eq!(t.status, TestStatus::Pass);
    }
}
