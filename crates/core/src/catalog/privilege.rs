//! The privileges of the catalog: Unity Catalog's, the legacy Hive metastore's and the
//! metastore's own; which apply to which securable, and how a client's spelling of one reads.

use super::{Securable, SecurableType};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::LazyLock;

/// Declares [`Privilege`] with the one spelling patchbay stores and answers for each. Listed in
/// the order of those spellings, so that a set of privileges sorts as their names do.
macro_rules! privileges {
    ($($variant:ident = $name:literal,)*) => {
        /// A privilege on the metastore or a catalog object. Its name (`USE_CATALOG`) is how
        /// the store keeps it and every API shows it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Privilege {
            $($variant,)*
        }

        impl Privilege {
            /// As stored and shown: upper case with underscores.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Privilege::$variant => $name,)*
                }
            }

            /// The privilege a stored name stands for; a client's spelling goes through
            /// [`normalize_privilege`] first.
            pub fn from_name(name: &str) -> Option<Privilege> {
                match name {
                    $($name => Some(Privilege::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

privileges! {
    AllPrivileges = "ALL_PRIVILEGES",
    ApplyTag = "APPLY_TAG",
    Browse = "BROWSE",
    Create = "CREATE",
    CreateCatalog = "CREATE_CATALOG",
    CreateCleanRoom = "CREATE_CLEAN_ROOM",
    CreateConnection = "CREATE_CONNECTION",
    CreateExternalLocation = "CREATE_EXTERNAL_LOCATION",
    CreateFunction = "CREATE_FUNCTION",
    CreateMaterializedView = "CREATE_MATERIALIZED_VIEW",
    CreateModel = "CREATE_MODEL",
    CreateNamedFunction = "CREATE_NAMED_FUNCTION",
    CreateProvider = "CREATE_PROVIDER",
    CreateRecipient = "CREATE_RECIPIENT",
    CreateSchema = "CREATE_SCHEMA",
    CreateServiceCredential = "CREATE_SERVICE_CREDENTIAL",
    CreateShare = "CREATE_SHARE",
    CreateStorageCredential = "CREATE_STORAGE_CREDENTIAL",
    CreateTable = "CREATE_TABLE",
    CreateVolume = "CREATE_VOLUME",
    Execute = "EXECUTE",
    ExternalUseSchema = "EXTERNAL_USE_SCHEMA",
    Manage = "MANAGE",
    ManageAllowlist = "MANAGE_ALLOWLIST",
    Modify = "MODIFY",
    ModifyClasspath = "MODIFY_CLASSPATH",
    ReadMetadata = "READ_METADATA",
    ReadVolume = "READ_VOLUME",
    Refresh = "REFRESH",
    Select = "SELECT",
    SetSharePermission = "SET_SHARE_PERMISSION",
    Usage = "USAGE",
    UseCatalog = "USE_CATALOG",
    UseMarketplaceAssets = "USE_MARKETPLACE_ASSETS",
    UseProvider = "USE_PROVIDER",
    UseRecipient = "USE_RECIPIENT",
    UseSchema = "USE_SCHEMA",
    UseShare = "USE_SHARE",
    WriteVolume = "WRITE_VOLUME",
}

impl Privilege {
    /// Whether a principal holding `held` has this privilege: itself, or `ALL_PRIVILEGES`,
    /// which covers everything but `MANAGE`, as in Unity Catalog.
    pub fn held_in<'a>(self, held: impl IntoIterator<Item = &'a Privilege>) -> bool {
        held.into_iter()
            .any(|&h| h == self || (h == Privilege::AllPrivileges && self != Privilege::Manage))
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Privilege {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Privilege {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Privilege::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown privilege {name}")))
    }
}

use Privilege::*;

/// Unity Catalog privileges grantable on the metastore.
const METASTORE_PRIVILEGES: &[Privilege] = &[
    CreateCatalog,
    CreateCleanRoom,
    CreateConnection,
    CreateExternalLocation,
    CreateProvider,
    CreateRecipient,
    CreateServiceCredential,
    CreateShare,
    CreateStorageCredential,
    ManageAllowlist,
    SetSharePermission,
    UseMarketplaceAssets,
    UseProvider,
    UseRecipient,
    UseShare,
];

/// Unity Catalog privileges grantable on a catalog, a schema and a table: each row names where
/// the privilege may be granted (C catalog, S schema, T table); a privilege granted on a catalog
/// is inherited by its schemas and tables.
const UC_PRIVILEGES: &[(Privilege, &str)] = &[
    (AllPrivileges, "CST"),
    (ApplyTag, "CST"),
    (Browse, "C"),
    (CreateFunction, "CS"),
    (CreateMaterializedView, "CS"),
    (CreateModel, "CS"),
    (CreateSchema, "C"),
    (CreateTable, "CS"),
    (CreateVolume, "CS"),
    (Execute, "CS"),
    (ExternalUseSchema, "CS"),
    (Manage, "CST"),
    (Modify, "CST"),
    (ReadVolume, "CS"),
    (Refresh, "CS"),
    (Select, "CST"),
    (UseCatalog, "C"),
    (UseSchema, "CS"),
    (WriteVolume, "CS"),
];

/// Legacy Hive metastore privileges, and where each may be granted: on `hive_metastore` itself
/// (C), on one of its schemas (S, databases) or tables (T).
const LEGACY_PRIVILEGES: &[(Privilege, &str)] = &[
    (AllPrivileges, "CST"),
    (Create, "CS"),
    (CreateNamedFunction, "CS"),
    (Modify, "CST"),
    (ModifyClasspath, "C"),
    (ReadMetadata, "CST"),
    (Select, "CST"),
    (Usage, "CS"),
];

/// The privileges of a table above that may be granted on `C`, `S` or `T`, in the table's order.
fn privileges_on(table: &'static [(Privilege, &'static str)], on: char) -> Vec<Privilege> {
    table.iter().filter(|(_, kinds)| kinds.contains(on)).map(|(p, _)| *p).collect()
}

/// The privileges that may be granted on a kind of securable, in Unity Catalog (`legacy =
/// false`) or in the Hive metastore.
pub fn applicable_privileges(kind: SecurableType, legacy: bool) -> &'static [Privilege] {
    /// `[legacy][C, S, T]`.
    static ON: LazyLock<[[Vec<Privilege>; 3]; 2]> = LazyLock::new(|| {
        [UC_PRIVILEGES, LEGACY_PRIVILEGES]
            .map(|table| ['C', 'S', 'T'].map(|on| privileges_on(table, on)))
    });
    let on = &ON[usize::from(legacy)];
    match kind {
        SecurableType::Metastore => METASTORE_PRIVILEGES,
        SecurableType::Catalog => &on[0],
        SecurableType::Schema => &on[1],
        SecurableType::Table => &on[2],
    }
}

/// A privilege as written by a client (`use catalog`, `ALL PRIVILEGES`, `Use_Schema`) in the
/// one spelling patchbay stores and answers: upper case with underscores.
pub fn normalize_privilege(s: &str) -> String {
    s.split(|c: char| c.is_whitespace() || c == '_' || c == '-')
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_uppercase)
        .collect::<Vec<_>>()
        .join("_")
}

/// Checks that a privilege may be granted on a securable and returns it. Legacy names on Unity
/// Catalog objects and the reverse are refused with a hint.
pub fn check_privilege(securable: &Securable, privilege: &str) -> Result<Privilege, String> {
    let canonical = normalize_privilege(privilege);
    let kind = securable.securable_type();
    let legacy = securable.is_legacy();
    let known = Privilege::from_name(&canonical);
    let applies = |legacy| known.filter(|p| applicable_privileges(kind, legacy).contains(p));
    if let Some(p) = applies(legacy) {
        return Ok(p);
    }
    if canonical == "OWN" || canonical == "OWNERSHIP" {
        return Err(format!(
            "Ownership of {securable} is not a privilege: change its owner instead."
        ));
    }
    let hint = if legacy && applies(false).is_some() {
        format!(
            " {canonical} is a Unity Catalog privilege; hive_metastore objects take the legacy \
             privileges {}.",
            names(applicable_privileges(kind, true))
        )
    } else if !legacy && kind != SecurableType::Metastore && applies(true).is_some() {
        format!(
            " {canonical} is a legacy Hive metastore privilege; Unity Catalog uses USE_CATALOG, \
             USE_SCHEMA, CREATE_SCHEMA, CREATE_TABLE, SELECT, MODIFY and others."
        )
    } else {
        format!(" Privileges on a {kind}: {}.", names(applicable_privileges(kind, legacy)))
    };
    let shown =
        if privilege.trim().is_empty() { "''".to_owned() } else { privilege.trim().to_owned() };
    Err(format!("Privilege {shown} is not applicable to {securable}.{hint}"))
}

/// `A, B, C`, for a message.
fn names(privileges: &[Privilege]) -> String {
    privileges.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", ")
}

/// How a privilege reads in SQL output (`SHOW GRANTS`): Unity Catalog privileges with spaces
/// (`USE CATALOG`), legacy ones as Databricks prints them (`READ_METADATA`, `ALL PRIVILEGES`).
pub fn sql_privilege(privilege: Privilege, legacy: bool) -> String {
    if privilege == AllPrivileges {
        "ALL PRIVILEGES".to_owned()
    } else if legacy {
        privilege.as_str().to_owned()
    } else {
        privilege.as_str().replace('_', " ")
    }
}

/// The privileges a revoke removes. Revoking `ALL PRIVILEGES` on a Hive metastore object clears
/// every privilege the principal holds there (what `REVOKE ALL PRIVILEGES … FROM` does in the
/// legacy model, and what Terraform's SQL permissions rely on); in Unity Catalog it removes the
/// `ALL_PRIVILEGES` grant only.
pub fn revoked_privileges(securable: &Securable, privileges: &[Privilege]) -> Vec<Privilege> {
    if securable.is_legacy() && privileges.contains(&AllPrivileges) {
        applicable_privileges(securable.securable_type(), true).to_vec()
    } else {
        privileges.to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_privilege_reads_back_from_its_name_and_sorts_as_its_name() {
        let all = [UC_PRIVILEGES, LEGACY_PRIVILEGES]
            .concat()
            .into_iter()
            .map(|(p, _)| p)
            .chain(METASTORE_PRIVILEGES.iter().copied())
            .collect::<std::collections::BTreeSet<_>>();
        for p in &all {
            assert_eq!(Privilege::from_name(p.as_str()), Some(*p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        let names: Vec<&str> = all.iter().map(|p| p.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        assert_eq!(Privilege::from_name("use_catalog"), None, "names are stored upper case");
        assert!(serde_json::from_str::<Privilege>("\"TELEPORT\"").is_err());
    }

    #[test]
    fn all_privileges_covers_everything_but_manage() {
        assert!(Select.held_in(&[Select]));
        assert!(Select.held_in(&[AllPrivileges]));
        assert!(!Manage.held_in(&[AllPrivileges]));
        assert!(!Select.held_in(&[UseSchema]));
        assert!(!Select.held_in(&[]));
    }
}
