//! Principals of a workspace: users, service principals and groups, and their entitlements.

use std::fmt;

/// The three kinds of SCIM resource a workspace holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    User,
    ServicePrincipal,
    Group,
}

impl PrincipalKind {
    /// The value stored in the `kind` column.
    pub fn as_db(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::ServicePrincipal => "service_principal",
            PrincipalKind::Group => "group",
        }
    }

    pub fn from_db(s: &str) -> Option<Self> {
        match s {
            "user" => Some(PrincipalKind::User),
            "service_principal" => Some(PrincipalKind::ServicePrincipal),
            "group" => Some(PrincipalKind::Group),
            _ => None,
        }
    }

    /// The SCIM resource type name (`meta.resourceType`, `/ResourceTypes/{name}`).
    pub fn resource_type(self) -> &'static str {
        match self {
            PrincipalKind::User => "User",
            PrincipalKind::ServicePrincipal => "ServicePrincipal",
            PrincipalKind::Group => "Group",
        }
    }

    /// The SCIM endpoint, also the first segment of `$ref` values.
    pub fn endpoint(self) -> &'static str {
        match self {
            PrincipalKind::User => "Users",
            PrincipalKind::ServicePrincipal => "ServicePrincipals",
            PrincipalKind::Group => "Groups",
        }
    }

    /// Human wording for messages ("Service principal with id 5 not found").
    pub fn noun(self) -> &'static str {
        match self {
            PrincipalKind::User => "User",
            PrincipalKind::ServicePrincipal => "Service principal",
            PrincipalKind::Group => "Group",
        }
    }
}

/// What a principal may use in the workspace, granted directly or through a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entitlement {
    WorkspaceAccess,
    DatabricksSqlAccess,
    /// Also governs SQL warehouse creation.
    AllowClusterCreate,
    AllowInstancePoolCreate,
    WorkspaceConsume,
}

impl Entitlement {
    pub const ALL: [Entitlement; 5] = [
        Entitlement::WorkspaceAccess,
        Entitlement::DatabricksSqlAccess,
        Entitlement::AllowClusterCreate,
        Entitlement::AllowInstancePoolCreate,
        Entitlement::WorkspaceConsume,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Entitlement::WorkspaceAccess => "workspace-access",
            Entitlement::DatabricksSqlAccess => "databricks-sql-access",
            Entitlement::AllowClusterCreate => "allow-cluster-create",
            Entitlement::AllowInstancePoolCreate => "allow-instance-pool-create",
            Entitlement::WorkspaceConsume => "workspace-consume",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Entitlement::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

impl fmt::Display for Entitlement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The built-in groups every workspace has. Membership of `admins` makes a workspace admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinGroup {
    Admins,
    Users,
}

impl BuiltinGroup {
    pub fn name(self) -> &'static str {
        match self {
            BuiltinGroup::Admins => "admins",
            BuiltinGroup::Users => "users",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "admins" => Some(BuiltinGroup::Admins),
            "users" => Some(BuiltinGroup::Users),
            _ => None,
        }
    }
}

/// Longest accepted user name, display name, external id or other SCIM string.
pub const MAX_NAME_LEN: usize = 256;

/// Checks a user name. Databricks uses e-mail addresses, but SCIM clients and identity
/// providers send other unique names too, so only emptiness, length, whitespace and control
/// characters are refused.
pub fn validate_user_name(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("userName must not be empty".into());
    }
    if s.len() > MAX_NAME_LEN {
        return Err(format!("userName is longer than {MAX_NAME_LEN} characters"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "userName '{}' must not contain spaces or control characters",
            s.escape_debug()
        ));
    }
    Ok(())
}

/// Checks a display name or other free-text name.
pub fn validate_display_name(field: &str, s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    if s.len() > MAX_NAME_LEN {
        return Err(format!("{field} is longer than {MAX_NAME_LEN} characters"));
    }
    if s.chars().any(|c| c.is_control()) {
        return Err(format!("{field} must not contain control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entitlements_round_trip() {
        for e in Entitlement::ALL {
            assert_eq!(Entitlement::parse(e.as_str()), Some(e));
        }
        assert_eq!(Entitlement::parse("root"), None);
    }

    #[test]
    fn user_names_refuse_empty_spaces_and_control_characters() {
        assert!(validate_user_name("jsmith@example.com").is_ok());
        assert!(validate_user_name("6e2b0c46-1b2c-4d5e-8f90-123456789abc").is_ok());
        let long = "x".repeat(300);
        for bad in ["", " jsmith", "a b@example.com", "a\u{7}b", long.as_str()] {
            assert!(validate_user_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn display_names_refuse_empty_long_and_control() {
        assert!(validate_display_name("displayName", "FIVETRAN_USER").is_ok());
        assert!(validate_display_name("displayName", " ").is_err());
        assert!(validate_display_name("displayName", &"x".repeat(300)).is_err());
        assert!(validate_display_name("displayName", "a\u{0}b").is_err());
    }
}
