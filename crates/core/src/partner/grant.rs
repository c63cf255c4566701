//! What a connection grants its principal on the catalog: typed, and stored as the same JSON
//! as ever (`{"securable_type": "catalog", "full_name": "main", "privileges": ["USE_CATALOG"]}`).

use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of securable a connection grants on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrantTarget {
    Catalog,
    Schema,
}

impl GrantTarget {
    /// As the catalog API and the stored grants spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantTarget::Catalog => "catalog",
            GrantTarget::Schema => "schema",
        }
    }
}

impl fmt::Display for GrantTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A privilege a permission profile grants: Unity Catalog's, or the Hive metastore's legacy
/// ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Privilege {
    UseCatalog,
    CreateSchema,
    UseSchema,
    Select,
    /// Legacy (`hive_metastore`).
    Usage,
    /// Legacy (`hive_metastore`).
    Create,
    /// Legacy (`hive_metastore`).
    ReadMetadata,
}

impl Privilege {
    /// As the catalog stores it (`USE_CATALOG`).
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::UseCatalog => "USE_CATALOG",
            Privilege::CreateSchema => "CREATE_SCHEMA",
            Privilege::UseSchema => "USE_SCHEMA",
            Privilege::Select => "SELECT",
            Privilege::Usage => "USAGE",
            Privilege::Create => "CREATE",
            Privilege::ReadMetadata => "READ_METADATA",
        }
    }

    /// Whether a principal holding `held` (privileges as the catalog reports them) has this
    /// one: itself, or every privilege.
    pub fn held_in<S: AsRef<str>>(self, held: &[S]) -> bool {
        held.iter().any(|h| {
            let h = h.as_ref();
            h == self.as_str() || h == crate::catalog::ALL_PRIVILEGES || h == "ALL PRIVILEGES"
        })
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One grant of a connection: privileges on a catalog, or on a schema of the chosen catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub securable_type: GrantTarget,
    /// `catalog` or `catalog.schema`.
    pub full_name: String,
    pub privileges: Vec<Privilege>,
}

impl Grant {
    /// The privileges as the catalog's grant functions take them.
    pub fn privilege_names(&self) -> Vec<&'static str> {
        self.privileges.iter().map(|p| p.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_keep_their_stored_json() {
        let stored = r#"[{"full_name":"main","privileges":["USE_CATALOG","CREATE_SCHEMA"],"securable_type":"catalog"},{"full_name":"hive_metastore.s","privileges":["USAGE","READ_METADATA","SELECT"],"securable_type":"schema"}]"#;
        let grants: Vec<Grant> = serde_json::from_str(stored).unwrap();
        assert_eq!(grants[0].securable_type, GrantTarget::Catalog);
        assert_eq!(
            grants[1].privileges,
            [Privilege::Usage, Privilege::ReadMetadata, Privilege::Select]
        );
        assert_eq!(serde_json::json!(grants).to_string(), stored);
        for p in [
            Privilege::UseCatalog,
            Privilege::CreateSchema,
            Privilege::UseSchema,
            Privilege::Select,
            Privilege::Usage,
            Privilege::Create,
            Privilege::ReadMetadata,
        ] {
            assert_eq!(serde_json::json!(p), p.as_str());
        }
    }

    #[test]
    fn every_privilege_is_held_in_all_privileges() {
        assert!(Privilege::Select.held_in(&["SELECT"]));
        assert!(Privilege::Select.held_in(&["ALL_PRIVILEGES"]));
        assert!(Privilege::Select.held_in(&["ALL PRIVILEGES"]));
        assert!(!Privilege::Select.held_in(&["USE_SCHEMA"]));
        assert!(!Privilege::Select.held_in::<&str>(&[]));
    }
}
