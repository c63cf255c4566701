//! What a connection grants its principal on the catalog: typed, and stored as the same JSON
//! as ever (`{"securable_type": "catalog", "full_name": "main", "privileges": ["USE_CATALOG"]}`).

pub use crate::catalog::Privilege;
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
}
