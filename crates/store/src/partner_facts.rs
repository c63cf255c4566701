//! The one loader of the facts the Partner Connect rules decide on (`patchbay_core::partner`):
//! the API and the page call these, then the same rule. Reads only; nothing here decides.

use crate::{Result, Store};
use patchbay_core::access::Caller;
use patchbay_core::catalog::Securable;
use patchbay_core::partner::facts::{
    CatalogFacts, ConnectChoices, ConnectFacts, CredentialFacts, GrantFacts, HealthFacts,
};
use patchbay_core::partner::{
    CatalogStanding, ConnectionRecord, Credential, HIVE_METASTORE, PartnerSpec, Profile, Provision,
};

impl Store {
    /// Whether `caller` owns a catalog (directly or through a group); `hive_metastore` is
    /// everyone's.
    pub async fn catalog_standing(&self, caller: &Caller, name: &str) -> Result<CatalogStanding> {
        if name == HIVE_METASTORE {
            return Ok(CatalogStanding::Owned);
        }
        let Some(catalog) = self.catalog(caller.workspace_id, name).await? else {
            return Ok(CatalogStanding::Missing);
        };
        let owns = match catalog.meta.owner_id {
            Some(owner) => {
                owner == caller.principal_id
                    || self.is_member_of(caller.principal_id, owner).await?
            }
            None => false,
        };
        Ok(if owns { CatalogStanding::Owned } else { CatalogStanding::NotOwned })
    }

    /// The workspace's Unity Catalog default and whether `caller` is a metastore admin, with
    /// the standing of `names` (each once).
    async fn catalog_basics(
        &self,
        caller: &Caller,
        names: impl IntoIterator<Item = String>,
    ) -> Result<CatalogFacts> {
        let ws = caller.workspace_id;
        let uc_default_catalog =
            self.metastore_assignment(ws).await?.map(|a| a.default_catalog_name);
        let is_metastore_admin = self.is_metastore_admin(ws, caller.principal_id).await?;
        let mut facts = CatalogFacts {
            uc_default_catalog,
            is_metastore_admin,
            listed: Vec::new(),
            standings: Vec::new(),
        };
        for name in names {
            if facts.standings.iter().any(|(n, _)| *n == name) {
                continue;
            }
            let standing = self.catalog_standing(caller, &name).await?;
            facts.standings.push((name, standing));
        }
        Ok(facts)
    }

    /// What a connect of `spec` asking for `request` is decided on
    /// ([`patchbay_core::partner::plan`]): the catalog facts of the catalog it would use and
    /// of the workspace default, which requested schemas are missing there, and whether the
    /// requested warehouse exists.
    pub async fn connect_facts(
        &self,
        caller: &Caller,
        spec: &PartnerSpec,
        request: ConnectChoices,
    ) -> Result<ConnectFacts> {
        let ws = caller.workspace_id;
        let mut catalog = self.catalog_basics(caller, []).await?;
        let candidate = request.candidate_catalog(catalog.uc_default_catalog.as_deref()).to_owned();
        let names = std::iter::once(candidate.clone()).chain(catalog.uc_default_catalog.clone());
        for name in names {
            if !catalog.standings.iter().any(|(n, _)| *n == name) {
                let standing = self.catalog_standing(caller, &name).await?;
                catalog.standings.push((name, standing));
            }
        }
        let mut missing_schemas = Vec::new();
        if spec.profile.rules().reads_schemas {
            for schema in request.schemas.iter().flatten() {
                if !self.schema_exists(ws, &candidate, schema).await? {
                    // The rule refuses on the first missing one.
                    missing_schemas.push(schema.clone());
                    break;
                }
            }
        }
        let warehouse_exists = match (spec.provision, request.warehouse_id.as_deref()) {
            (Provision::SelectedWarehouse, Some(id)) => self.get_warehouse(ws, id).await?.is_some(),
            _ => true,
        };
        Ok(ConnectFacts { spec: spec.clone(), request, catalog, missing_schemas, warehouse_exists })
    }

    /// What the connect dialog offers for `spec` is decided on
    /// ([`patchbay_core::partner::catalog_choices`]): the catalogs `caller` can see (for a
    /// partner with Unity Catalog support) and the standing of each and of the default.
    pub async fn catalog_facts(&self, caller: &Caller, spec: &PartnerSpec) -> Result<CatalogFacts> {
        let mut facts = self.catalog_basics(caller, []).await?;
        let Some(default) = facts.uc_default_catalog.clone() else {
            return Ok(facts);
        };
        if spec.supports_unity_catalog {
            for c in self.list_catalogs_for(caller).await? {
                if !facts.listed.contains(&c.name) {
                    facts.listed.push(c.name);
                }
            }
        }
        let names: Vec<String> =
            facts.listed.iter().cloned().chain(std::iter::once(default)).collect();
        for name in names {
            if !facts.standings.iter().any(|(n, _)| *n == name) {
                let standing = self.catalog_standing(caller, &name).await?;
                facts.standings.push((name, standing));
            }
        }
        Ok(facts)
    }

    /// What a connection's health is decided on ([`patchbay_core::partner::health`]): whether
    /// its credential, compute and catalog objects still exist, and what its principal holds
    /// on each securable it was granted on.
    pub async fn health_facts(
        &self,
        profile: Profile,
        c: &ConnectionRecord,
    ) -> Result<HealthFacts> {
        let ws = c.workspace_id;
        let credential = match (&c.token_id, c.credential) {
            (None, _) => None,
            (Some(id), Credential::Token) => {
                Some(CredentialFacts::Token { exists: self.token_exists(ws, id).await? })
            }
            (Some(id), Credential::OAuthSecret) => Some(CredentialFacts::OAuthSecret {
                expire_time: self.oauth_secret(ws, id).await?.map(|s| s.expire_time),
            }),
        };
        let warehouse_exists = match &c.warehouse_id {
            Some(id) => self.get_warehouse(ws, id).await?.is_some(),
            None => true,
        };
        let cluster_exists = match &c.cluster_id {
            Some(id) => self.get_cluster(ws, id).await?.is_some(),
            None => true,
        };
        let mut grants = Vec::new();
        if let Some(principal) = c.service_principal_id {
            for grant in &c.grants {
                let Ok(securable) =
                    Securable::parse(grant.securable_type.as_str(), &grant.full_name)
                else {
                    continue;
                };
                let held = match self.effective_privileges(ws, &securable, principal).await {
                    Ok(held) => Some(held),
                    Err(e) if e.is_not_found() => None,
                    Err(e) => return Err(e),
                };
                grants.push(GrantFacts { grant: grant.clone(), held });
            }
        }
        Ok(HealthFacts {
            connection: c.clone(),
            needs_service_principal: profile.rules().service_principal,
            credential,
            warehouse_exists,
            cluster_exists,
            grants,
            now: self.now_millis(),
        })
    }
}
