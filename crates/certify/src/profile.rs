//! The permission profile certify registers the partner with (DESIGN.md, "The permission
//! profiles"), and what follows from it: a protocol category a partner of that profile has,
//! the compute its connection provisions, what an admin selects on the connect, and so what the
//! partner's `ConnectRequest` must carry. Partners are certified with the profile they will be
//! registered with, because that decides what they receive.

use patchbay_core::partner::{Category, Provision};

pub use patchbay_core::partner::Profile;

/// The profile certify uses when none is given.
pub const DEFAULT_PROFILE: Profile = Profile::Ingest;

/// The names, for help texts and errors.
pub fn names() -> Vec<&'static str> {
    Profile::ALL.iter().map(|p| p.name()).collect()
}

/// A profile from its name; the error lists the valid ones.
pub fn parse(name: &str) -> Result<Profile, String> {
    Profile::parse(name)
        .ok_or_else(|| format!("no profile '{name}'; the profiles are: {}", names().join(", ")))
}

/// What the connection hands the partner to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compute {
    /// A SQL warehouse: `is_sql_warehouse`, its id as `cluster_id`, `http_path`, the JDBC URLs.
    Warehouse,
    /// A cluster: its id as `cluster_id`, no `http_path`.
    Cluster,
    /// Nothing to run on: no `cluster_id`, no `http_path`.
    None,
}

/// How certify registers and connects a partner of a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    pub profile: Profile,
    /// The category of a built-in partner with this profile.
    pub category: Category,
    /// What the connection provisions, as the built-in partners of the profile do.
    pub provision: Provision,
    /// The admin selects an existing SQL warehouse (the `read` partners).
    pub selects_warehouse: bool,
    /// The admin selects schemas for the partner (`read` must, `dataiku` may).
    pub selects_schemas: bool,
    /// A service principal is created and owns the token; without one (`none`) the partner
    /// gets a token of the connecting user.
    pub service_principal: bool,
}

impl Setup {
    /// A partner of the profile's typical category, provisioning the profile's default
    /// compute. For `none` that is a SaaS partner such as Fivetran (a new warehouse): desktop
    /// tools, with connection files, never call `/connect`, so there is nothing of theirs to
    /// certify.
    pub fn of(profile: Profile) -> Setup {
        let rules = profile.rules();
        let provision = profile.default_provision();
        Setup {
            profile,
            category: profile.typical_category(),
            provision,
            selects_warehouse: provision == Provision::SelectedWarehouse,
            selects_schemas: rules.reads_schemas,
            service_principal: rules.service_principal,
        }
    }

    pub fn compute(&self) -> Compute {
        match self.provision {
            Provision::NewWarehouse | Provision::SelectedWarehouse => Compute::Warehouse,
            Provision::NewCluster => Compute::Cluster,
            Provision::None | Provision::ConnectionFile => Compute::None,
        }
    }

    /// One line for reports: what the partner was registered as and what it receives.
    pub fn describe(&self) -> String {
        let compute = match (self.compute(), self.selects_warehouse) {
            (Compute::Warehouse, true) => "a SQL warehouse the admin selected",
            (Compute::Warehouse, false) => "a new SQL warehouse",
            (Compute::Cluster, _) => "a new cluster",
            (Compute::None, _) => "no compute",
        };
        let token = if self.service_principal {
            "a token of its service principal"
        } else {
            "a token of the connecting user (no service principal)"
        };
        let schemas = if self.selects_schemas { ", schemas the admin selected" } else { "" };
        format!(
            "profile {} (category {}): {token}, {compute}{schemas}",
            self.profile.name(),
            wire(&self.category)
        )
    }
}

/// A value's name on the wire (`"INGEST"`, `"new_warehouse"`).
pub fn wire<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_has_a_name_and_a_setup() {
        assert_eq!(names(), ["none", "ingest", "cluster", "token", "read", "dataiku"]);
        for p in Profile::ALL {
            assert_eq!(parse(p.name()), Ok(p));
            // The names are the API's.
            assert_eq!(wire(&p), p.name());
        }
        assert!(parse("admin").unwrap_err().contains("none, ingest, cluster"));
        let read = Setup::of(Profile::Read);
        assert!(read.selects_warehouse && read.selects_schemas && read.service_principal);
        assert_eq!(read.compute(), Compute::Warehouse);
        let none = Setup::of(Profile::None);
        assert!(!none.service_principal && !none.selects_schemas);
        assert_eq!(Setup::of(Profile::Cluster).compute(), Compute::Cluster);
        assert_eq!(Setup::of(Profile::Token).compute(), Compute::None);
        assert_eq!(Setup::of(Profile::Ingest).category, Category::Ingest);
    }
}
