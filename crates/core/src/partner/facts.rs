//! The facts the Partner Connect rules decide on, as plain data. The store gathers them
//! (`Store::connect_facts`, `Store::health_facts`, `Store::catalog_facts`); the rules in
//! [`super::plan`], [`super::health`] and [`super::catalog_choices`] read nothing else.

use super::{
    CatalogContext, CatalogStanding, ConnectionRecord, Grant, HIVE_METASTORE, PartnerSpec,
};
use crate::catalog::Privilege;
use crate::time::EpochMillis;

/// What the workspace's catalog says about the catalogs a connect may use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogFacts {
    /// The workspace's default catalog when it is Unity Catalog-enabled; `None` otherwise.
    pub uc_default_catalog: Option<String>,
    pub is_metastore_admin: bool,
    /// The catalogs the user can see, in the catalog's order (for the connect dialog; a
    /// connect leaves it empty).
    pub listed: Vec<String>,
    /// The standing of every catalog the rule may ask about; one not here is missing.
    pub standings: Vec<(String, CatalogStanding)>,
}

impl CatalogFacts {
    /// A catalog's standing for the user: `hive_metastore` is everyone's.
    pub fn standing(&self, name: &str) -> CatalogStanding {
        if name == HIVE_METASTORE {
            return CatalogStanding::Owned;
        }
        self.standings.iter().find(|(n, _)| n == name).map_or(CatalogStanding::Missing, |(_, s)| *s)
    }

    pub fn context(&self) -> CatalogContext<'_> {
        CatalogContext {
            uc_default_catalog: self.uc_default_catalog.as_deref(),
            is_metastore_admin: self.is_metastore_admin,
        }
    }
}

/// What a tile click asks for, checked and normalized (names valid, schemas deduplicated and
/// capped, empty strings as absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectChoices {
    pub catalog_name: Option<String>,
    pub schemas: Option<Vec<String>>,
    pub warehouse_id: Option<String>,
}

impl ConnectChoices {
    /// The catalog the request would use if the rule allows it: the one asked for, else the
    /// workspace default, else `hive_metastore`. The store looks up its standing and schemas.
    pub fn candidate_catalog<'a>(&'a self, uc_default: Option<&'a str>) -> &'a str {
        self.catalog_name.as_deref().or(uc_default).unwrap_or(HIVE_METASTORE)
    }
}

/// Everything [`super::plan`] decides a connect on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectFacts {
    pub spec: PartnerSpec,
    pub request: ConnectChoices,
    pub catalog: CatalogFacts,
    /// The requested schemas that do not exist in the candidate catalog.
    pub missing_schemas: Vec<String>,
    /// Whether the requested warehouse exists (`true` when none was requested).
    pub warehouse_exists: bool,
}

/// A connection's credential, as the workspace holds it now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialFacts {
    /// A personal access token: whether it still exists.
    Token { exists: bool },
    /// An OAuth secret: its expiry, `None` once deleted.
    OAuthSecret { expire_time: Option<EpochMillis> },
}

/// One grant of a connection and what its principal holds on the securable now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantFacts {
    pub grant: Grant,
    /// The principal's effective privileges there; `None` once the securable was deleted.
    pub held: Option<Vec<Privilege>>,
}

/// Everything [`super::health`] decides a connection's health on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthFacts {
    pub connection: ConnectionRecord,
    /// Whether the partner's profile gives the connection a service principal.
    pub needs_service_principal: bool,
    /// `None` when the connection holds no credential id.
    pub credential: Option<CredentialFacts>,
    /// Whether the connection's warehouse and cluster still exist (`true` when it has none).
    pub warehouse_exists: bool,
    pub cluster_exists: bool,
    /// Checked only while the connection's principal exists.
    pub grants: Vec<GrantFacts>,
    pub now: EpochMillis,
}
