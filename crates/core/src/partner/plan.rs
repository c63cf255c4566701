//! The plan of a connect: what it creates and grants, decided on [`ConnectFacts`] before
//! anything is written, or why it is refused.

use super::facts::ConnectFacts;
use super::{
    CatalogRefusal, Credential, CredentialRefusal, Grant, HIVE_METASTORE, PartnerSpec, Profile,
    Provision, choose_catalog, cluster_name, credential_for, entitlements_for,
    service_principal_name, u2m_app, warehouse_name,
};

/// The compute a connection uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComputePlan {
    None,
    /// A new warehouse with this name, owned by the connection's principal.
    NewWarehouse(String),
    /// An existing warehouse the user selected: its principal gets CAN_USE on it.
    ExistingWarehouse(String),
    /// A new cluster with this name, owned by the connection's principal.
    NewCluster(String),
}

/// Everything a connect creates, decided before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionPlan {
    pub partner_id: String,
    /// `<PARTNER-NAME>_USER`, or `None` for partners that act as the connecting user.
    pub service_principal: Option<String>,
    pub entitlements: Vec<String>,
    pub token_can_use: bool,
    pub compute: ComputePlan,
    /// CAN_USE on the warehouse (new or selected) for the principal.
    pub warehouse_can_use: bool,
    pub catalog_name: Option<String>,
    pub schemas: Vec<String>,
    pub grants: Vec<Grant>,
    /// What the partner is handed: a token, or an OAuth secret of the principal.
    pub credential: Credential,
    /// Whether the connection makes the partner an OAuth U2M app (`AUTH_OAUTH_U2M`).
    pub u2m_app: bool,
}

/// Why a connect is refused. Its text is the client's message (a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The Unity Catalog rule ([`choose_catalog`]) refused the catalog.
    #[error("{0}")]
    Catalog(CatalogRefusal),
    /// Schemas were chosen for a partner that reads none.
    #[error("{partner} does not read schemas; do not pass 'schemas'.")]
    SchemasNotRead { partner: String },
    /// A reading partner needs at least one schema.
    #[error("Choose at least one schema for {partner} to read.")]
    NoSchema { partner: String },
    #[error("Schema '{catalog}.{schema}' does not exist.")]
    SchemaMissing { catalog: String, schema: String },
    /// The partner's `auth_options` do not fit its profile ([`credential_for`]).
    #[error("{0}")]
    Credential(CredentialRefusal),
    #[error("SQL warehouse {id} does not exist.")]
    WarehouseMissing { id: String },
    /// A warehouse was chosen for a partner that creates its own compute.
    #[error("{partner} creates its own compute; do not pass 'warehouse_id'.")]
    OwnCompute { partner: String },
}

/// Decides everything a connect will create: the catalog (the Unity Catalog rule), the
/// schemas, the credential, the compute, the principal's entitlements and grants. The checks
/// run in this order, so the first refusal a client meets is always the same.
pub fn plan(facts: &ConnectFacts) -> Result<ProvisionPlan, Refusal> {
    let spec = &facts.spec;
    let request = &facts.request;
    let rules = spec.profile.rules();
    let uc_default = facts.catalog.uc_default_catalog.as_deref();
    let uses_catalog = spec.profile != Profile::None || request.catalog_name.is_some();
    let catalog_name = if uses_catalog || uc_default.is_some() {
        let chosen =
            choose_catalog(request.catalog_name.as_deref(), spec, &facts.catalog.context(), |c| {
                facts.catalog.standing(c)
            })
            .map_err(Refusal::Catalog)?;
        Some(chosen)
    } else {
        None
    };
    let schemas: Vec<String> = request.schemas.clone().unwrap_or_default();
    if !rules.reads_schemas && !schemas.is_empty() {
        return Err(Refusal::SchemasNotRead { partner: spec.name.clone() });
    }
    if spec.profile == Profile::Read && schemas.is_empty() {
        return Err(Refusal::NoSchema { partner: spec.name.clone() });
    }
    let catalog = catalog_name.clone().unwrap_or_else(|| HIVE_METASTORE.to_owned());
    if let Some(schema) = schemas.iter().find(|s| facts.missing_schemas.contains(s)) {
        return Err(Refusal::SchemaMissing { catalog, schema: schema.clone() });
    }
    let credential =
        credential_for(&spec.auth_options, spec.profile).map_err(Refusal::Credential)?;
    let compute = match (spec.provision, request.warehouse_id.as_deref()) {
        (Provision::SelectedWarehouse, Some(id)) => {
            if !facts.warehouse_exists {
                return Err(Refusal::WarehouseMissing { id: id.to_owned() });
            }
            ComputePlan::ExistingWarehouse(id.to_owned())
        }
        (_, Some(_)) => {
            return Err(Refusal::OwnCompute { partner: spec.name.clone() });
        }
        (Provision::SelectedWarehouse | Provision::NewWarehouse, None) => {
            ComputePlan::NewWarehouse(warehouse_name(&spec.name))
        }
        (Provision::NewCluster, None) => ComputePlan::NewCluster(cluster_name(&spec.name)),
        (Provision::None | Provision::ConnectionFile, None) => ComputePlan::None,
    };
    Ok(ProvisionPlan {
        partner_id: spec.id.clone(),
        service_principal: rules.service_principal.then(|| service_principal_name(&spec.name)),
        entitlements: entitlements_for(spec.profile, credential)
            .iter()
            .map(|e| e.as_str().to_owned())
            .collect(),
        token_can_use: rules.token_can_use,
        credential,
        u2m_app: u2m_app(&spec.auth_options),
        compute,
        warehouse_can_use: rules.warehouse_can_use,
        grants: if rules.service_principal { rules.grants(&catalog, &schemas) } else { Vec::new() },
        catalog_name,
        schemas,
    })
}

/// What a repair gives a connection's principal back: what its connect gave it besides
/// compute and grants (the grants are the connection's own record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restoration {
    pub entitlements: Vec<String>,
    pub token_can_use: bool,
}

/// What a repair of a connection of `spec` restores, by the same profile rules as its plan.
pub fn restoration(spec: &PartnerSpec) -> Result<Restoration, Refusal> {
    let credential =
        credential_for(&spec.auth_options, spec.profile).map_err(Refusal::Credential)?;
    Ok(Restoration {
        entitlements: entitlements_for(spec.profile, credential)
            .iter()
            .map(|e| e.as_str().to_owned())
            .collect(),
        token_can_use: spec.profile.rules().token_can_use,
    })
}

/// One thing a repair did, as the repair's answer and its audit event say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repaired {
    /// The principal had lost this entitlement.
    Entitlement(String),
    /// The principal had lost CAN_USE on tokens.
    TokensCanUse,
    /// The connection's catalog grants were applied again (they are idempotent).
    Grants,
    /// The partner's token was gone; a new one was issued, and this is the rotation's answer.
    NewToken { answer: String },
}

impl std::fmt::Display for Repaired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Repaired::Entitlement(e) => write!(f, "restored the entitlement {e}"),
            Repaired::TokensCanUse => f.write_str("restored CAN_USE on tokens"),
            Repaired::Grants => f.write_str("re-applied the connection's grants"),
            Repaired::NewToken { answer } => {
                write!(f, "issued a new token for the partner: {answer}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partner::facts::{CatalogFacts, ConnectChoices};
    use crate::partner::{AuthOption, CatalogStanding, GrantTarget, Privilege, builtin_partner};

    fn spec(id: &str) -> PartnerSpec {
        builtin_partner(id).unwrap().clone()
    }

    /// A workspace without Unity Catalog, and a request for nothing in particular.
    fn facts(id: &str) -> ConnectFacts {
        ConnectFacts {
            spec: spec(id),
            request: ConnectChoices::default(),
            catalog: CatalogFacts::default(),
            missing_schemas: Vec::new(),
            warehouse_exists: true,
        }
    }

    fn with_schemas(mut f: ConnectFacts, schemas: &[&str]) -> ConnectFacts {
        f.request.schemas = Some(schemas.iter().map(|s| (*s).to_owned()).collect());
        f
    }

    fn uc(
        mut f: ConnectFacts,
        default: &str,
        standings: &[(&str, CatalogStanding)],
    ) -> ConnectFacts {
        f.catalog.uc_default_catalog = Some(default.to_owned());
        f.catalog.standings = standings.iter().map(|(n, s)| ((*n).to_owned(), *s)).collect();
        f
    }

    #[test]
    fn a_partner_without_a_principal_gets_compute_and_nothing_else() {
        let p = plan(&facts("fivetran")).unwrap();
        assert_eq!(p.service_principal, None);
        assert!(p.entitlements.is_empty() && p.grants.is_empty() && !p.token_can_use);
        assert_eq!(p.compute, ComputePlan::NewWarehouse("FIVETRAN_ENDPOINT".into()));
        assert_eq!(p.catalog_name, None, "no catalog without Unity Catalog");
        assert_eq!(p.credential, Credential::Token);
        // With Unity Catalog the default catalog is recorded, still without grants.
        let p = plan(&uc(facts("fivetran"), "main", &[("main", CatalogStanding::Owned)])).unwrap();
        assert_eq!(p.catalog_name.as_deref(), Some("main"));
        assert!(p.grants.is_empty());
    }

    #[test]
    fn an_ingest_partner_gets_a_principal_a_warehouse_and_catalog_grants() {
        let p = plan(&facts("rivery")).unwrap();
        assert_eq!(p.service_principal.as_deref(), Some("RIVERY_USER"));
        assert_eq!(
            p.entitlements,
            ["allow-cluster-create", "workspace-access", "databricks-sql-access"]
        );
        assert!(p.token_can_use && !p.warehouse_can_use);
        assert_eq!(p.compute, ComputePlan::NewWarehouse("RIVERY_ENDPOINT".into()));
        assert_eq!(p.catalog_name.as_deref(), Some(HIVE_METASTORE));
        assert_eq!(
            p.grants,
            [Grant {
                securable_type: GrantTarget::Catalog,
                full_name: HIVE_METASTORE.into(),
                privileges: vec![Privilege::Usage, Privilege::Create],
            }]
        );
    }

    #[test]
    fn a_cluster_partner_gets_a_cluster_and_a_token_partner_nothing_to_run_on() {
        let p = plan(&facts("prophecy")).unwrap();
        assert_eq!(p.compute, ComputePlan::NewCluster("PROPHECY_CLUSTER".into()));
        assert_eq!(p.entitlements, ["workspace-access", "allow-cluster-create"]);
        assert!(p.grants.is_empty());
        let p = plan(&facts("labelbox")).unwrap();
        assert_eq!(p.compute, ComputePlan::None);
        assert_eq!(p.service_principal.as_deref(), Some("LABELBOX_USER"));
        assert_eq!(p.entitlements, ["workspace-access"]);
        assert!(p.grants.is_empty() && p.token_can_use);
    }

    #[test]
    fn a_reading_partner_needs_schemas_and_may_use_a_chosen_warehouse() {
        assert_eq!(
            plan(&facts("dbt-cloud")),
            Err(Refusal::NoSchema { partner: "dbt Cloud".into() })
        );
        let p = plan(&with_schemas(facts("dbt-cloud"), &["sales"])).unwrap();
        assert_eq!(p.compute, ComputePlan::NewWarehouse("DBT_CLOUD_ENDPOINT".into()));
        assert!(p.warehouse_can_use);
        assert_eq!(p.grants.len(), 1, "legacy: no catalog grant for reading");
        assert_eq!(p.grants[0].full_name, "hive_metastore.sales");
        let mut chosen = with_schemas(facts("dbt-cloud"), &["sales"]);
        chosen.request.warehouse_id = Some("w1".into());
        assert_eq!(plan(&chosen).unwrap().compute, ComputePlan::ExistingWarehouse("w1".into()));
        chosen.warehouse_exists = false;
        let refused = plan(&chosen).unwrap_err();
        assert_eq!(refused.to_string(), "SQL warehouse w1 does not exist.");
        let mut missing = with_schemas(facts("dbt-cloud"), &["sales", "gone"]);
        missing.missing_schemas = vec!["gone".into()];
        assert_eq!(
            plan(&missing).unwrap_err().to_string(),
            "Schema 'hive_metastore.gone' does not exist."
        );
    }

    #[test]
    fn dataiku_reads_schemas_and_creates_them_in_its_catalog() {
        let p = plan(&with_schemas(
            uc(facts("dataiku"), "main", &[("main", CatalogStanding::Owned)]),
            &["web"],
        ))
        .unwrap();
        assert_eq!(p.entitlements, ["allow-cluster-create"]);
        assert_eq!(p.grants[0].privileges, [Privilege::UseCatalog, Privilege::CreateSchema]);
        assert_eq!(p.grants[1].full_name, "main.web");
        assert_eq!(p.grants[1].privileges, [Privilege::UseSchema]);
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let schemas = with_schemas(facts("rivery"), &["sales"]);
        assert_eq!(
            plan(&schemas).unwrap_err().to_string(),
            "Rivery does not read schemas; do not pass 'schemas'."
        );
        let mut warehouse = facts("rivery");
        warehouse.request.warehouse_id = Some("w1".into());
        assert_eq!(
            plan(&warehouse).unwrap_err().to_string(),
            "Rivery creates its own compute; do not pass 'warehouse_id'."
        );
        let mut catalog = facts("rivery");
        catalog.request.catalog_name = Some("main".into());
        assert!(matches!(
            plan(&catalog),
            Err(Refusal::Catalog(CatalogRefusal::NoUnityCatalog { requested, .. })) if requested == "main"
        ));
        let theirs = uc(facts("rivery"), "main", &[("main", CatalogStanding::NotOwned)]);
        assert!(matches!(
            plan(&theirs),
            Err(Refusal::Catalog(CatalogRefusal::NotOwned { catalog, .. })) if catalog == "main"
        ));
        let mut admin = theirs.clone();
        admin.catalog.is_metastore_admin = true;
        assert_eq!(plan(&admin).unwrap().catalog_name.as_deref(), Some("main"));
        let mut m2m = facts("fivetran");
        m2m.spec.auth_options = vec![AuthOption::AuthOauthM2m];
        assert_eq!(plan(&m2m), Err(Refusal::Credential(CredentialRefusal::M2mWithoutPrincipal)));
    }

    #[test]
    fn the_catalog_refusal_comes_before_the_schema_refusals() {
        let mut f = with_schemas(facts("dbt-cloud"), &["gone"]);
        f.request.catalog_name = Some("main".into());
        f.missing_schemas = vec!["gone".into()];
        assert!(matches!(plan(&f), Err(Refusal::Catalog(_))));
    }

    #[test]
    fn an_oauth_partner_gets_a_secret_and_workspace_access() {
        let mut f = with_schemas(facts("hex"), &["sales"]);
        f.spec.auth_options = vec![AuthOption::AuthOauthM2m];
        let p = plan(&f).unwrap();
        assert_eq!(p.credential, Credential::OAuthSecret);
        assert!(p.entitlements.contains(&"workspace-access".to_owned()));
    }

    #[test]
    fn a_repair_restores_what_the_plan_gave() {
        for id in ["rivery", "prophecy", "labelbox", "dbt-cloud", "dataiku", "fivetran"] {
            let mut f = facts(id);
            if id == "dbt-cloud" || id == "dataiku" {
                f = with_schemas(f, &["s"]);
            }
            let p = plan(&f).unwrap();
            let r = restoration(&f.spec).unwrap();
            assert_eq!(r.entitlements, p.entitlements, "{id}");
            assert_eq!(r.token_can_use, p.token_can_use, "{id}");
        }
        let mut m2m = spec("hex");
        m2m.auth_options = vec![AuthOption::AuthOauthM2m, AuthOption::AuthPat];
        assert!(matches!(restoration(&m2m), Err(Refusal::Credential(_))));
    }

    #[test]
    fn a_u2m_partner_becomes_an_oauth_app() {
        assert!(!plan(&facts("rivery")).unwrap().u2m_app);
        let mut f = facts("rivery");
        f.spec.auth_options = vec![AuthOption::AuthPat, AuthOption::AuthOauthU2m];
        let p = plan(&f).unwrap();
        assert!(p.u2m_app);
        assert_eq!(p.credential, Credential::Token);
    }

    #[test]
    fn a_repair_says_what_it_did_in_words() {
        let said: Vec<String> = [
            Repaired::Entitlement("databricks-sql-access".into()),
            Repaired::TokensCanUse,
            Repaired::Grants,
            Repaired::NewToken { answer: r#"{"token_id":"t1"}"#.into() },
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            said,
            [
                "restored the entitlement databricks-sql-access",
                "restored CAN_USE on tokens",
                "re-applied the connection's grants",
                r#"issued a new token for the partner: {"token_id":"t1"}"#,
            ]
        );
    }
}
