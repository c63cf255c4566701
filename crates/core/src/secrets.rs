//! Secret scopes and secrets: the name rules, the ACL levels and who may do what, as the
//! Databricks Secrets API has them.
//!
//! No API returns a secret's value (Databricks only answers `secrets/get` inside jobs and
//! notebooks, and patchbay runs none), so a value is never kept: only its length and a salted
//! SHA-256 digest ([`SecretValue::fingerprint`]) are stored, to tell that a key was set and to
//! which value, never to give it back.

use sha2::{Digest, Sha256};

/// Longest scope name and key.
pub const MAX_NAME_CHARS: usize = 128;
/// Largest secret value, in bytes.
pub const MAX_VALUE_BYTES: usize = 128 * 1024;
/// Most secrets one scope holds.
pub const MAX_SECRETS_PER_SCOPE: i64 = 1000;
/// Most scopes one workspace holds.
pub const MAX_SCOPES_PER_WORKSPACE: i64 = 1000;
/// The only `scope_backend_type` patchbay keeps secrets in.
pub const DATABRICKS_BACKEND: &str = "DATABRICKS";

/// A secret ACL level; each implies the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AclPermission {
    Read,
    Write,
    Manage,
}

impl AclPermission {
    pub const ALL: [AclPermission; 3] =
        [AclPermission::Read, AclPermission::Write, AclPermission::Manage];

    pub fn as_str(self) -> &'static str {
        match self {
            AclPermission::Read => "READ",
            AclPermission::Write => "WRITE",
            AclPermission::Manage => "MANAGE",
        }
    }

    pub fn parse(s: &str) -> Option<AclPermission> {
        AclPermission::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// What a caller wants to do in a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeAction {
    /// List the keys (never the values).
    ListSecrets,
    /// Put or delete a secret.
    WriteSecret,
    /// Delete the scope, read or change its ACLs.
    Manage,
}

impl ScopeAction {
    /// The weakest level that allows the action.
    pub fn required(self) -> AclPermission {
        match self {
            ScopeAction::ListSecrets => AclPermission::Read,
            ScopeAction::WriteSecret => AclPermission::Write,
            ScopeAction::Manage => AclPermission::Manage,
        }
    }
}

/// Whether a caller may act in a scope: admins hold MANAGE on every scope; others need the
/// level through their own entry or a group's (`held`: every level that applies to them).
pub fn allows(is_admin: bool, held: &[AclPermission], action: ScopeAction) -> bool {
    is_admin || held.iter().any(|p| *p >= action.required())
}

/// Checks a scope name: letters, digits, `-`, `_`, `.` and `@`, at most 128 characters.
pub fn validate_scope_name(name: &str) -> Result<(), String> {
    validate_name("scope", name, &['-', '_', '.', '@'])
}

/// Checks a secret key: letters, digits, `-`, `_` and `.`, at most 128 characters.
pub fn validate_key(key: &str) -> Result<(), String> {
    validate_name("key", key, &['-', '_', '.'])
}

fn validate_name(field: &str, name: &str, extra: &[char]) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!("{field} must not be empty."));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("{field} must be at most {MAX_NAME_CHARS} characters long."));
    }
    if let Some(bad) = name.chars().find(|c| !c.is_ascii_alphanumeric() && !extra.contains(c)) {
        let allowed: String = extra.iter().map(|c| format!(" '{c}'")).collect();
        return Err(format!(
            "{field} '{}' must consist of alphanumeric characters and{allowed} only, not '{}'.",
            name.escape_debug(),
            bad.escape_debug()
        ));
    }
    Ok(())
}

/// A secret value as a client put it. Its `Debug` shows only the length, and it can be turned
/// into nothing but a fingerprint.
pub struct SecretValue(Vec<u8>);

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretValue({} bytes)", self.0.len())
    }
}

/// What is stored of a value: its length, and SHA-256 over a random salt and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub length: i64,
    pub salt: String,
    pub digest: String,
}

impl SecretValue {
    /// A value of at most [`MAX_VALUE_BYTES`].
    pub fn new(bytes: Vec<u8>) -> Result<SecretValue, String> {
        if bytes.len() > MAX_VALUE_BYTES {
            return Err(format!(
                "The secret value is {} bytes; the limit is {} KiB.",
                bytes.len(),
                MAX_VALUE_BYTES / 1024
            ));
        }
        Ok(SecretValue(bytes))
    }

    /// The only thing kept of the value. The salt makes equal values look different, so the
    /// stored digests cannot be matched against each other or a table of common values.
    pub fn fingerprint(&self) -> Fingerprint {
        let salt: [u8; 16] = rand::random();
        let mut hasher = Sha256::new();
        hasher.update(salt);
        hasher.update(&self.0);
        Fingerprint {
            length: i64::try_from(self.0.len()).unwrap_or(i64::MAX),
            salt: hex::encode(salt),
            digest: hex::encode(hasher.finalize()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_databricks_rules() {
        assert_eq!(validate_scope_name("jdbc-creds_1.prod@team"), Ok(()));
        assert_eq!(validate_key("password.v2_x-y"), Ok(()));
        assert!(validate_key("a@b").is_err(), "keys take no @");
        assert!(validate_scope_name("").is_err());
        assert!(validate_scope_name("has space").is_err());
        assert!(validate_key("slash/no").is_err());
        assert!(validate_key("é").is_err());
        assert_eq!(validate_key(&"k".repeat(128)), Ok(()));
        assert!(validate_key(&"k".repeat(129)).is_err());
    }

    #[test]
    fn levels_imply_the_weaker_ones_and_admins_manage_every_scope() {
        use AclPermission::*;
        assert!(allows(false, &[Manage], ScopeAction::ListSecrets));
        assert!(allows(false, &[Write], ScopeAction::WriteSecret));
        assert!(!allows(false, &[Write], ScopeAction::Manage));
        assert!(allows(false, &[Read], ScopeAction::ListSecrets));
        assert!(!allows(false, &[Read], ScopeAction::WriteSecret));
        assert!(!allows(false, &[], ScopeAction::ListSecrets));
        assert!(allows(true, &[], ScopeAction::Manage));
        assert_eq!(AclPermission::parse("WRITE"), Some(Write));
        assert_eq!(AclPermission::parse("write"), None);
    }

    #[test]
    fn values_are_limited_and_never_shown() {
        assert!(SecretValue::new(vec![0; MAX_VALUE_BYTES]).is_ok());
        assert!(SecretValue::new(vec![0; MAX_VALUE_BYTES + 1]).is_err());
        let v = SecretValue::new(b"hunter2".to_vec()).unwrap();
        assert_eq!(format!("{v:?}"), "SecretValue(7 bytes)");
        let (a, b) = (v.fingerprint(), v.fingerprint());
        assert_eq!(a.length, 7);
        assert_ne!(a.digest, b.digest, "salted");
        assert!(!a.digest.contains("hunter2") && a.digest.len() == 64);
    }
}
