//! Numeric ids as the Databricks API shows them: decimal strings in SCIM, JSON numbers elsewhere.

use serde::{Deserialize, Serialize};

/// Smallest and largest generated id. Sixteen digits like real workspace ids, and below 2^53 so
/// that JavaScript clients read them exactly.
const ID_RANGE: std::ops::Range<i64> = 1_000_000_000_000_000..9_000_000_000_000_000;

/// A workspace's id: what every stored object belongs to, and what no other number may stand
/// for. It is a JSON number on the wire and an integer column in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WorkspaceId(i64);

impl WorkspaceId {
    pub const fn new(id: i64) -> WorkspaceId {
        WorkspaceId(id)
    }

    /// A new random id, as [`new_numeric_id`] makes them.
    pub fn generate() -> WorkspaceId {
        WorkspaceId(new_numeric_id())
    }

    /// Parses an id given in a URL, as [`parse_numeric_id`] does.
    pub fn parse(s: &str) -> Option<WorkspaceId> {
        parse_numeric_id(s).map(WorkspaceId)
    }

    /// The number, for a database column or a partner's wire format.
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl std::fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A new random id for a principal or a workspace. Random rather than sequential so that ids
/// say nothing about how many principals exist and cannot be guessed.
pub fn new_numeric_id() -> i64 {
    rand::random_range(ID_RANGE)
}

/// Parses an id given in a URL or a filter. Anything that is not a plain positive decimal is
/// simply not an id (no such object), never an error of its own.
pub fn parse_numeric_id(s: &str) -> Option<i64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|id| *id > 0)
}

/// A new application id (UUID v4, lower case) for a service principal created without one.
pub fn new_application_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Normalizes an application id given by a client: a UUID in any case becomes lower case.
pub fn parse_application_id(s: &str) -> Option<String> {
    uuid::Uuid::parse_str(s.trim()).ok().map(|u| u.hyphenated().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_sixteen_digits_and_javascript_safe() {
        for _ in 0..1000 {
            let id = new_numeric_id();
            assert_eq!(id.to_string().len(), 16);
            assert!(id < (1 << 53));
        }
    }

    #[test]
    fn only_plain_positive_decimals_are_ids() {
        assert_eq!(parse_numeric_id("7535194597985784"), Some(7535194597985784));
        for bad in ["", "0", "-1", "+1", "1e3", " 1", "99999999999999999999", "abc"] {
            assert_eq!(parse_numeric_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_workspace_id_is_a_json_number_and_parses_like_any_id() {
        let id = WorkspaceId::new(7535194597985784);
        assert_eq!(serde_json::to_value(id).unwrap(), serde_json::json!(7535194597985784_i64));
        assert_eq!(serde_json::from_str::<WorkspaceId>("7535194597985784").unwrap(), id);
        assert!(serde_json::from_str::<WorkspaceId>("\"7535194597985784\"").is_err());
        assert_eq!(WorkspaceId::parse("7535194597985784"), Some(id));
        assert_eq!(WorkspaceId::parse("-7"), None);
        assert_eq!(id.to_string(), "7535194597985784");
        assert_eq!(WorkspaceId::generate().to_string().len(), 16);
    }

    #[test]
    fn application_ids_are_normalized_uuids() {
        let id = new_application_id();
        assert_eq!(parse_application_id(&id.to_uppercase()), Some(id));
        assert_eq!(parse_application_id("not-a-uuid"), None);
    }
}
