//! Partner Connect's domain, and every rule of its workflow, free of IO: the partner catalog,
//! permission profiles as data, the names of what a connection creates and the Unity Catalog
//! rule (here); a connection as data ([`connection`]); the facts the rules decide on
//! ([`facts`], gathered by the store); the plan of a connect ([`plan`]); a connection's health
//! ([`health`]); who may click, connect and sign in ([`sign_in`]); what a delete removes and
//! how a rotation goes ([`delete`]).

pub mod connection;
pub mod delete;
pub mod endpoint;
pub mod facts;
pub mod grant;
pub mod health;
pub mod plan;
pub mod sign_in;

pub use connection::{ConnectionRecord, ConnectionState, NotificationKind, Owed};
pub use endpoint::PartnerEndpoint;
pub use grant::{Grant, GrantTarget, Privilege};
pub use health::{BrokenReason, Health, health};
pub use plan::{ComputePlan, ProvisionPlan, Repaired, Restoration, plan, restoration};

use crate::principal::Entitlement;
use serde::{Deserialize, Serialize};

/// The protocol's partner categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Category {
    Ingest,
    DataPrepAndTransform,
    SecurityAndGovernance,
    BiAndViz,
    Ml,
    DataQuality,
    ReverseEtl,
    SemanticLayer,
    DataGovernance,
}

/// What a connection's service principal is given, by partner (the admin guide's table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// No service principal: SaaS partners act as the connecting user, desktop tools get a file.
    None,
    Ingest,
    Cluster,
    Token,
    Read,
    Dataiku,
}

/// What compute a connection provisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provision {
    /// Nothing.
    None,
    /// A new SQL warehouse `<NAME>_ENDPOINT`, owned by the connection.
    NewWarehouse,
    /// The warehouse the user selects, or a new one if none is selected.
    SelectedWarehouse,
    /// A new cluster `<NAME>_CLUSTER`, owned by the connection.
    NewCluster,
    /// A desktop tool: the user picks a warehouse and downloads a connection file.
    ConnectionFile,
}

/// A partner as the catalog knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerSpec {
    pub id: String,
    pub name: String,
    pub category: Category,
    pub profile: Profile,
    pub provision: Provision,
    pub supports_unity_catalog: bool,
    /// Whether users sign in to the partner through Partner Connect.
    pub sign_in: bool,
    /// How the partner authenticates to the workspace (the protocol's `auth_options`); empty
    /// means a personal access token, as for every partner before v2.2.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auth_options: Vec<AuthOption>,
}

/// The protocol's `auth_options`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthOption {
    AuthPat,
    AuthOauthM2m,
    AuthOauthU2m,
}

/// The credential a connection hands its partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// A non-expiring personal access token of the connection's principal (or of the
    /// connecting user, for partners without a principal).
    Token,
    /// An OAuth secret of the connection's service principal, which the partner exchanges for
    /// access tokens (`AUTH_OAUTH_M2M`).
    OAuthSecret,
}

impl Credential {
    /// As stored on the connection.
    pub fn as_db(self) -> &'static str {
        match self {
            Credential::Token => "token",
            Credential::OAuthSecret => "oauth_secret",
        }
    }

    pub fn from_db(s: &str) -> Option<Credential> {
        match s {
            "token" => Some(Credential::Token),
            "oauth_secret" => Some(Credential::OAuthSecret),
            _ => None,
        }
    }
}

/// Checks a partner's `auth_options` against its profile: `AUTH_PAT` and `AUTH_OAUTH_M2M`
/// exclude each other (the protocol says so), M2M needs the service principal it gives a
/// secret to. `AUTH_OAUTH_U2M` goes with either, or alone (see [`u2m_app`]).
pub fn credential_for(
    options: &[AuthOption],
    profile: Profile,
) -> Result<Credential, CredentialRefusal> {
    let m2m = options.contains(&AuthOption::AuthOauthM2m);
    if m2m && options.contains(&AuthOption::AuthPat) {
        return Err(CredentialRefusal::PatWithM2m);
    }
    if m2m && !profile.rules().service_principal {
        return Err(CredentialRefusal::M2mWithoutPrincipal);
    }
    Ok(if m2m { Credential::OAuthSecret } else { Credential::Token })
}

/// Why a partner's `auth_options` do not fit its profile ([`credential_for`]). Its text is
/// the client's message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialRefusal {
    PatWithM2m,
    /// The profile creates no service principal to hold an OAuth secret.
    M2mWithoutPrincipal,
}

impl std::fmt::Display for CredentialRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CredentialRefusal::PatWithM2m => {
                "auth_options: AUTH_PAT and AUTH_OAUTH_M2M exclude each other"
            }
            CredentialRefusal::M2mWithoutPrincipal => {
                "auth_options: AUTH_OAUTH_M2M needs a profile that creates a service principal"
            }
        })
    }
}

/// Whether a connection makes the partner an OAuth U2M app (`AUTH_OAUTH_U2M`): users then
/// authorize the partner to act as them.
pub fn u2m_app(options: &[AuthOption]) -> bool {
    options.contains(&AuthOption::AuthOauthU2m)
}

/// Whether the partner is handed the connection's token (`auth.personal_access_token`): not
/// when `auth_options` is set without `AUTH_PAT` (the token is then the connection's own, held
/// for the protocol's steps but never sent).
pub fn sends_token(options: &[AuthOption]) -> bool {
    options.is_empty() || options.contains(&AuthOption::AuthPat)
}

/// The entitlements a connection's principal gets: the profile's, plus `workspace-access`
/// for a principal that signs in with OAuth (an access token is refused without it).
pub fn entitlements_for(profile: Profile, credential: Credential) -> Vec<Entitlement> {
    let mut entitlements = profile.rules().entitlements.to_vec();
    if credential == Credential::OAuthSecret
        && !entitlements.contains(&Entitlement::WorkspaceAccess)
    {
        entitlements.push(Entitlement::WorkspaceAccess);
    }
    entitlements
}

/// A partner id from its name: lower case, non-alphanumerics as `-` (`dbt Cloud` → `dbt-cloud`).
pub fn partner_id(name: &str) -> String {
    let mut id = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.ends_with('-') && !id.is_empty() {
            id.push('-');
        }
    }
    id.trim_end_matches('-').to_owned()
}

/// `<PARTNER-NAME>` as the guide spells it in resource names: upper case, non-alphanumerics as `_`.
fn upper_name(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
        .collect()
}

/// The service principal of a connection: `FIVETRAN_USER`.
pub fn service_principal_name(partner_name: &str) -> String {
    format!("{}_USER", upper_name(partner_name))
}

/// The warehouse a connection creates: `FIVETRAN_ENDPOINT`.
pub fn warehouse_name(partner_name: &str) -> String {
    format!("{}_ENDPOINT", upper_name(partner_name))
}

/// The cluster a connection creates: `PROPHECY_CLUSTER`.
pub fn cluster_name(partner_name: &str) -> String {
    format!("{}_CLUSTER", upper_name(partner_name))
}

/// The catalog of the legacy Hive metastore.
pub const HIVE_METASTORE: &str = "hive_metastore";

/// The most schemas one connection may read: a person picks them in a dialog, and each becomes
/// a grant written in the connect's one transaction.
pub const MAX_SCHEMAS: usize = 100;

/// The schemas a connect asks for, as the connection will hold them: each name checked and
/// normalized (Unity Catalog compares names case-insensitively), repeats dropped in the order
/// first given, at most [`MAX_SCHEMAS`].
pub fn schema_selection(schemas: &[String]) -> Result<Vec<String>, SchemaRefusal> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (index, schema) in schemas.iter().enumerate() {
        let name = crate::catalog::normalize_name(schema)
            .map_err(|why| SchemaRefusal::BadName { index, why })?;
        if seen.insert(name.clone()) {
            out.push(name);
            if out.len() > MAX_SCHEMAS {
                return Err(SchemaRefusal::TooMany);
            }
        }
    }
    Ok(out)
}

/// Why a connect's schemas are refused ([`schema_selection`]). Its text is the client's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaRefusal {
    /// `schemas[index]` breaks the catalog's name rule, in that rule's words.
    BadName { index: usize, why: String },
    /// More than [`MAX_SCHEMAS`] different schemas.
    TooMany,
}

impl std::fmt::Display for SchemaRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SchemaRefusal::BadName { index, why } => write!(f, "schemas[{index}]: {why}"),
            SchemaRefusal::TooMany => write!(
                f,
                "A connection can read at most {MAX_SCHEMAS} schemas; more different schemas were chosen."
            ),
        }
    }
}

/// What a profile gives its service principal, before the catalog and schemas are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRules {
    pub service_principal: bool,
    pub entitlements: &'static [Entitlement],
    /// CAN_USE on authorization/tokens.
    pub token_can_use: bool,
    /// CAN_USE on the selected warehouse.
    pub warehouse_can_use: bool,
    /// Whether the user picks schemas to grant on.
    pub reads_schemas: bool,
    uc_catalog: &'static [Privilege],
    uc_schema: &'static [Privilege],
    hive_catalog: &'static [Privilege],
    hive_schema: &'static [Privilege],
}

impl Profile {
    /// Every profile, in the guide's order (`certify` runs its scenarios under each).
    pub const ALL: [Profile; 6] = [
        Profile::None,
        Profile::Ingest,
        Profile::Cluster,
        Profile::Token,
        Profile::Read,
        Profile::Dataiku,
    ];

    /// The profile's name, as the API, DESIGN.md and `certify --profile` write it.
    pub fn name(self) -> &'static str {
        match self {
            Profile::None => "none",
            Profile::Ingest => "ingest",
            Profile::Cluster => "cluster",
            Profile::Token => "token",
            Profile::Read => "read",
            Profile::Dataiku => "dataiku",
        }
    }

    /// The profile named `name` (any case), if there is one.
    pub fn parse(name: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The category a partner of this profile typically has (the protocol's integration
    /// types); certify registers its partner with it.
    pub fn typical_category(self) -> Category {
        match self {
            Profile::None | Profile::Ingest => Category::Ingest,
            Profile::Cluster => Category::DataPrepAndTransform,
            Profile::Token | Profile::Dataiku => Category::Ml,
            Profile::Read => Category::BiAndViz,
        }
    }

    /// The compute a custom partner of this profile provisions unless its registration says.
    pub fn default_provision(self) -> Provision {
        match self {
            Profile::Ingest | Profile::Dataiku | Profile::None => Provision::NewWarehouse,
            Profile::Read => Provision::SelectedWarehouse,
            Profile::Cluster => Provision::NewCluster,
            Profile::Token => Provision::None,
        }
    }

    /// The guide's table, row by row.
    pub fn rules(self) -> ProfileRules {
        use Entitlement::*;
        use Privilege::*;
        let none = ProfileRules {
            service_principal: false,
            entitlements: &[],
            token_can_use: false,
            warehouse_can_use: false,
            reads_schemas: false,
            uc_catalog: &[],
            uc_schema: &[],
            hive_catalog: &[],
            hive_schema: &[],
        };
        match self {
            Profile::None => none,
            Profile::Ingest => ProfileRules {
                service_principal: true,
                entitlements: &[AllowClusterCreate, WorkspaceAccess, DatabricksSqlAccess],
                token_can_use: true,
                uc_catalog: &[UseCatalog, CreateSchema],
                hive_catalog: &[Usage, Create],
                ..none
            },
            Profile::Cluster => ProfileRules {
                service_principal: true,
                entitlements: &[WorkspaceAccess, AllowClusterCreate],
                token_can_use: true,
                ..none
            },
            Profile::Token => ProfileRules {
                service_principal: true,
                entitlements: &[WorkspaceAccess],
                token_can_use: true,
                ..none
            },
            Profile::Read => ProfileRules {
                service_principal: true,
                token_can_use: true,
                warehouse_can_use: true,
                reads_schemas: true,
                uc_catalog: &[UseCatalog],
                uc_schema: &[UseSchema, Select],
                hive_schema: &[Usage, ReadMetadata, Select],
                ..none
            },
            Profile::Dataiku => ProfileRules {
                service_principal: true,
                entitlements: &[AllowClusterCreate],
                token_can_use: true,
                reads_schemas: true,
                uc_catalog: &[UseCatalog, CreateSchema],
                uc_schema: &[UseSchema],
                hive_catalog: &[Usage, Create],
                hive_schema: &[Usage, Select],
                ..none
            },
        }
    }
}

impl ProfileRules {
    /// The grants for a chosen catalog and schemas: Unity Catalog privileges on a UC catalog,
    /// legacy privileges on `hive_metastore`.
    pub fn grants(&self, catalog: &str, schemas: &[String]) -> Vec<Grant> {
        let hive = catalog == HIVE_METASTORE;
        let (on_catalog, on_schema) = if hive {
            (self.hive_catalog, self.hive_schema)
        } else {
            (self.uc_catalog, self.uc_schema)
        };
        let mut grants = Vec::new();
        if !on_catalog.is_empty() {
            grants.push(Grant {
                securable_type: GrantTarget::Catalog,
                full_name: catalog.to_owned(),
                privileges: on_catalog.to_vec(),
            });
        }
        if !on_schema.is_empty() {
            for schema in schemas {
                grants.push(Grant {
                    securable_type: GrantTarget::Schema,
                    full_name: format!("{catalog}.{schema}"),
                    privileges: on_schema.to_vec(),
                });
            }
        }
        grants
    }
}

/// The built-in catalog: every partner the admin guide names. Built once: every connect and
/// delete looks its partner up here.
pub fn builtin_partners() -> &'static [PartnerSpec] {
    static CATALOG: std::sync::LazyLock<Vec<PartnerSpec>> = std::sync::LazyLock::new(build_catalog);
    &CATALOG
}

/// The built-in partner with this id.
pub fn builtin_partner(id: &str) -> Option<&'static PartnerSpec> {
    builtin_partners().iter().find(|p| p.id == id)
}

fn build_catalog() -> Vec<PartnerSpec> {
    use Category::*;
    use Profile as P;
    use Provision::*;
    let rows: &[(&str, Category, Profile, Provision)] = &[
        ("Fivetran", Ingest, P::None, NewWarehouse),
        ("Matillion", DataPrepAndTransform, P::None, NewWarehouse),
        ("Power BI", BiAndViz, P::None, ConnectionFile),
        ("Tableau", BiAndViz, P::None, ConnectionFile),
        ("erwin Data Modeler", DataGovernance, P::None, ConnectionFile),
        ("Hevo Data", Ingest, P::Ingest, NewWarehouse),
        ("Hunters", SecurityAndGovernance, P::Ingest, NewWarehouse),
        ("Rivery", Ingest, P::Ingest, NewWarehouse),
        ("RudderStack", Ingest, P::Ingest, NewWarehouse),
        ("Snowplow", Ingest, P::Ingest, NewWarehouse),
        ("Prophecy", DataPrepAndTransform, P::Cluster, NewCluster),
        ("John Snow Labs", Ml, P::Token, None),
        ("Labelbox", Ml, P::Token, None),
        ("Alation", DataGovernance, P::Read, SelectedWarehouse),
        ("Anomalo", DataQuality, P::Read, SelectedWarehouse),
        ("AtScale", SemanticLayer, P::Read, SelectedWarehouse),
        ("Census", ReverseEtl, P::Read, SelectedWarehouse),
        ("dbt Cloud", DataPrepAndTransform, P::Read, SelectedWarehouse),
        ("Hex", BiAndViz, P::Read, SelectedWarehouse),
        ("Hightouch", ReverseEtl, P::Read, SelectedWarehouse),
        ("Lightup", DataQuality, P::Read, SelectedWarehouse),
        ("Monte Carlo", DataQuality, P::Read, SelectedWarehouse),
        ("Preset", BiAndViz, P::Read, SelectedWarehouse),
        ("Privacera", SecurityAndGovernance, P::Read, SelectedWarehouse),
        ("Qlik Sense", BiAndViz, P::Read, SelectedWarehouse),
        ("Sigma", BiAndViz, P::Read, SelectedWarehouse),
        ("Stardog", SemanticLayer, P::Read, SelectedWarehouse),
        ("ThoughtSpot", BiAndViz, P::Read, SelectedWarehouse),
        ("Dataiku", Ml, P::Dataiku, NewWarehouse),
    ];
    const NO_UC: [&str; 4] = ["Hunters", "Snowplow", "Stardog", "Privacera"];
    rows.iter()
        .map(|(name, category, profile, provision)| PartnerSpec {
            id: partner_id(name),
            name: (*name).to_owned(),
            category: *category,
            profile: *profile,
            provision: *provision,
            supports_unity_catalog: !NO_UC.contains(name),
            sign_in: *provision != ConnectionFile,
            auth_options: Vec::new(),
        })
        .collect()
}

/// What the Unity Catalog rule needs to know about the workspace and the user.
#[derive(Debug, Clone)]
pub struct CatalogContext<'a> {
    /// The workspace's default catalog when it is Unity Catalog-enabled; `None` otherwise.
    pub uc_default_catalog: Option<&'a str>,
    pub is_metastore_admin: bool,
}

/// What the rule needs to know about one catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CatalogStanding {
    /// No such catalog in the workspace's metastore.
    Missing,
    /// It exists and the user owns it (directly or through a group).
    Owned,
    /// It exists and belongs to someone else.
    NotOwned,
}

/// Picks the catalog a connection uses (the admin guide's rules):
/// - not Unity Catalog-enabled: `hive_metastore`;
/// - a partner without Unity Catalog support: the workspace default catalog only, and only if it
///   is `hive_metastore` or the user owns it;
/// - otherwise `hive_metastore` or a catalog the user owns; metastore admins may pick any.
pub fn choose_catalog(
    requested: Option<&str>,
    partner: &PartnerSpec,
    ctx: &CatalogContext<'_>,
    standing: impl Fn(&str) -> CatalogStanding,
) -> Result<String, CatalogRefusal> {
    let name = || partner.name.clone();
    let Some(default) = ctx.uc_default_catalog else {
        return match requested {
            None | Some(HIVE_METASTORE) => Ok(HIVE_METASTORE.to_owned()),
            Some(other) => {
                Err(CatalogRefusal::NoUnityCatalog { partner: name(), requested: other.to_owned() })
            }
        };
    };
    if !partner.supports_unity_catalog {
        if let Some(r) = requested.filter(|r| *r != default) {
            return Err(CatalogRefusal::NotTheDefault {
                partner: name(),
                default: default.to_owned(),
                requested: r.to_owned(),
            });
        }
        if default == HIVE_METASTORE || standing(default) == CatalogStanding::Owned {
            return Ok(default.to_owned());
        }
        return Err(CatalogRefusal::DefaultNotOwned {
            partner: name(),
            default: default.to_owned(),
        });
    }
    let catalog = requested.unwrap_or(default);
    if catalog == HIVE_METASTORE {
        return Ok(catalog.to_owned());
    }
    match standing(catalog) {
        CatalogStanding::Missing => Err(CatalogRefusal::Missing { catalog: catalog.to_owned() }),
        CatalogStanding::Owned => Ok(catalog.to_owned()),
        CatalogStanding::NotOwned if ctx.is_metastore_admin => Ok(catalog.to_owned()),
        CatalogStanding::NotOwned => {
            Err(CatalogRefusal::NotOwned { partner: name(), catalog: catalog.to_owned() })
        }
    }
}

/// Why the Unity Catalog rule ([`choose_catalog`]) refuses a catalog. Its text is the user's
/// message, naming the catalog and the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogRefusal {
    /// The workspace has no Unity Catalog, so only `hive_metastore`.
    NoUnityCatalog {
        partner: String,
        requested: String,
    },
    Missing {
        catalog: String,
    },
    /// Neither `hive_metastore` nor owned by a user who is not a metastore admin.
    NotOwned {
        partner: String,
        catalog: String,
    },
    /// A partner without Unity Catalog support asked for another than the default catalog.
    NotTheDefault {
        partner: String,
        default: String,
        requested: String,
    },
    /// A partner without Unity Catalog support, and a default catalog the user may not give it.
    DefaultNotOwned {
        partner: String,
        default: String,
    },
}

impl std::fmt::Display for CatalogRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CatalogRefusal::NoUnityCatalog { partner, requested } => write!(
                f,
                "This workspace is not enabled for Unity Catalog, so {partner} can only use {HIVE_METASTORE}, not '{requested}'."
            ),
            CatalogRefusal::Missing { catalog } => {
                write!(f, "Catalog '{catalog}' does not exist in this workspace's metastore.")
            }
            CatalogRefusal::NotOwned { partner, catalog } => write!(
                f,
                "You can connect {partner} to {HIVE_METASTORE} or to a catalog you own; you do not own '{catalog}'. A metastore admin can choose any catalog."
            ),
            CatalogRefusal::NotTheDefault { partner, default, requested } => write!(
                f,
                "{partner} does not support Unity Catalog, so it can only use the workspace default catalog '{default}', not '{requested}'."
            ),
            CatalogRefusal::DefaultNotOwned { partner, default } => write!(
                f,
                "{partner} does not support Unity Catalog, so it can only use the workspace default catalog '{default}'; \
                 because '{default}' is not {HIVE_METASTORE} and you do not own it, you cannot connect this partner."
            ),
        }
    }
}

/// The catalogs the connect dialog offers for a partner, and why the others are not offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogChoices {
    /// Whether the connection uses a catalog at all.
    pub shown: bool,
    pub offered: Vec<String>,
    /// Each catalog refused, and why.
    pub refused: Vec<(String, CatalogRefusal)>,
    pub default: Option<String>,
    /// The rule in a sentence, for the dialog.
    pub note: String,
}

/// [`choose_catalog`] applied to every catalog the user could pick: `hive_metastore` and the
/// catalogs they can see for a partner with Unity Catalog support, the workspace default
/// only for one without.
pub fn catalog_choices(spec: &PartnerSpec, facts: &facts::CatalogFacts) -> CatalogChoices {
    let uc_default = facts.uc_default_catalog.clone();
    let mut out = CatalogChoices {
        shown: spec.profile != Profile::None || uc_default.is_some(),
        offered: Vec::new(),
        refused: Vec::new(),
        default: uc_default.clone(),
        note: String::new(),
    };
    let Some(default) = uc_default else {
        out.offered.push(HIVE_METASTORE.to_owned());
        out.default = Some(HIVE_METASTORE.to_owned());
        out.note = format!(
            "This workspace is not enabled for Unity Catalog, so connections use {HIVE_METASTORE}."
        );
        return out;
    };
    let candidates: Vec<String> = if spec.supports_unity_catalog {
        out.note = format!(
            "You can choose {HIVE_METASTORE} or a catalog you own; a metastore admin can choose any catalog of the metastore."
        );
        let mut names = vec![HIVE_METASTORE.to_owned()];
        for c in &facts.listed {
            if !names.contains(c) {
                names.push(c.clone());
            }
        }
        names
    } else {
        out.note = format!(
            "{} does not support Unity Catalog, so it can only use the workspace default catalog.",
            spec.name
        );
        vec![default]
    };
    let ctx = facts.context();
    for name in candidates {
        let requested = spec.supports_unity_catalog.then_some(name.as_str());
        match choose_catalog(requested, spec, &ctx, |c| facts.standing(c)) {
            Ok(c) => out.offered.push(c),
            Err(why) => out.refused.push((name, why)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_selections_are_normalized_deduplicated_and_capped() {
        let copies = vec!["default".to_owned(); 5000];
        assert_eq!(schema_selection(&copies).unwrap(), ["default"]);
        let mixed: Vec<String> =
            ["Sales", "default", "sales", "DEFAULT", "web"].map(str::to_owned).to_vec();
        assert_eq!(schema_selection(&mixed).unwrap(), ["sales", "default", "web"]);
        let cap: Vec<String> = (0..MAX_SCHEMAS).map(|i| format!("s{i}")).collect();
        assert_eq!(schema_selection(&cap).unwrap().len(), MAX_SCHEMAS);
        let over: Vec<String> = (0..=MAX_SCHEMAS).map(|i| format!("s{i}")).collect();
        let e = schema_selection(&over).unwrap_err();
        assert_eq!(e, SchemaRefusal::TooMany);
        assert!(e.to_string().contains("at most 100 schemas"), "{e}");
        for bad in ["", "a.b", "a b", "x/y", "tab\t"] {
            let e = schema_selection(&["ok".to_owned(), bad.to_owned()]).unwrap_err();
            assert!(matches!(e, SchemaRefusal::BadName { index: 1, .. }), "{bad}: {e}");
            assert!(e.to_string().starts_with("schemas[1]: "), "{bad}: {e}");
        }
    }

    fn partner(id: &str) -> PartnerSpec {
        builtin_partner(id).unwrap().clone()
    }

    #[test]
    fn auth_options_decide_the_credential() {
        use AuthOption::*;
        assert_eq!(credential_for(&[], Profile::Read), Ok(Credential::Token));
        assert_eq!(credential_for(&[AuthPat], Profile::Read), Ok(Credential::Token));
        assert_eq!(credential_for(&[AuthOauthM2m], Profile::Read), Ok(Credential::OAuthSecret));
        assert_eq!(
            credential_for(&[AuthPat, AuthOauthM2m], Profile::Read),
            Err(CredentialRefusal::PatWithM2m)
        );
        assert_eq!(
            credential_for(&[AuthOauthM2m], Profile::None),
            Err(CredentialRefusal::M2mWithoutPrincipal)
        );
        assert_eq!(credential_for(&[AuthOauthU2m], Profile::Read), Ok(Credential::Token));
        assert_eq!(
            credential_for(&[AuthOauthU2m, AuthOauthM2m], Profile::Read),
            Ok(Credential::OAuthSecret)
        );
        assert!(credential_for(&[AuthOauthU2m, AuthPat, AuthOauthM2m], Profile::Read).is_err());
        assert!(u2m_app(&[AuthPat, AuthOauthU2m]) && !u2m_app(&[AuthPat]));
        assert!(sends_token(&[]) && sends_token(&[AuthPat, AuthOauthU2m]));
        assert!(!sends_token(&[AuthOauthU2m]));
        let wire: Vec<AuthOption> = serde_json::from_str(r#"["AUTH_OAUTH_M2M"]"#).unwrap();
        assert_eq!(wire, [AuthOauthM2m]);
    }

    #[test]
    fn an_oauth_principal_gets_workspace_access() {
        for profile in [Profile::Read, Profile::Dataiku, Profile::Ingest, Profile::Token] {
            let e = entitlements_for(profile, Credential::OAuthSecret);
            assert!(e.contains(&Entitlement::WorkspaceAccess), "{profile:?}");
            assert_eq!(e.iter().filter(|x| **x == Entitlement::WorkspaceAccess).count(), 1);
        }
        assert!(
            !entitlements_for(Profile::Read, Credential::Token)
                .contains(&Entitlement::WorkspaceAccess)
        );
    }

    #[test]
    fn ids_and_resource_names_follow_the_guide() {
        assert_eq!(partner_id("dbt Cloud"), "dbt-cloud");
        assert_eq!(partner_id("Power BI"), "power-bi");
        assert_eq!(partner_id("erwin Data Modeler"), "erwin-data-modeler");
        assert_eq!(service_principal_name("Fivetran"), "FIVETRAN_USER");
        assert_eq!(service_principal_name("dbt Cloud"), "DBT_CLOUD_USER");
        assert_eq!(warehouse_name("Hevo Data"), "HEVO_DATA_ENDPOINT");
        assert_eq!(cluster_name("Prophecy"), "PROPHECY_CLUSTER");
    }

    #[test]
    fn the_catalog_covers_every_partner_of_the_guide() {
        let all = builtin_partners();
        assert_eq!(all.len(), 29);
        let by_profile = |p: Profile| -> Vec<String> {
            all.iter().filter(|s| s.profile == p).map(|s| s.name.clone()).collect()
        };
        assert_eq!(
            by_profile(Profile::None),
            ["Fivetran", "Matillion", "Power BI", "Tableau", "erwin Data Modeler"]
        );
        assert_eq!(
            by_profile(Profile::Ingest),
            ["Hevo Data", "Hunters", "Rivery", "RudderStack", "Snowplow"]
        );
        assert_eq!(by_profile(Profile::Cluster), ["Prophecy"]);
        assert_eq!(by_profile(Profile::Token), ["John Snow Labs", "Labelbox"]);
        assert_eq!(by_profile(Profile::Read).len(), 15);
        assert_eq!(by_profile(Profile::Dataiku), ["Dataiku"]);
        assert!(
            !partner("hunters").supports_unity_catalog
                && partner("fivetran").supports_unity_catalog
        );
        assert!(!partner("tableau").sign_in && partner("rivery").sign_in);
    }

    #[test]
    fn grants_follow_the_catalog_kind() {
        let read = Profile::Read.rules();
        let schemas = vec!["sales".to_owned(), "ops".to_owned()];
        let uc = read.grants("main", &schemas);
        assert_eq!(
            uc[0],
            Grant {
                securable_type: GrantTarget::Catalog,
                full_name: "main".into(),
                privileges: vec![Privilege::UseCatalog]
            }
        );
        assert_eq!(uc[1].full_name, "main.sales");
        assert_eq!(uc[1].privileges, [Privilege::UseSchema, Privilege::Select]);
        let hive = read.grants(HIVE_METASTORE, &schemas);
        assert_eq!(hive.len(), 2, "no catalog grant for read on hive");
        assert_eq!(
            hive[0].privileges,
            [Privilege::Usage, Privilege::ReadMetadata, Privilege::Select]
        );
        let ingest = Profile::Ingest.rules().grants(HIVE_METASTORE, &[]);
        assert_eq!(
            ingest,
            vec![Grant {
                securable_type: GrantTarget::Catalog,
                full_name: HIVE_METASTORE.into(),
                privileges: vec![Privilege::Usage, Privilege::Create]
            }]
        );
        assert!(Profile::Token.rules().grants("main", &schemas).is_empty());
    }

    #[test]
    fn catalog_rule_without_unity_catalog() {
        let ctx = CatalogContext { uc_default_catalog: None, is_metastore_admin: false };
        let p = partner("rivery");
        assert_eq!(
            choose_catalog(None, &p, &ctx, |_| CatalogStanding::Missing).unwrap(),
            HIVE_METASTORE
        );
        assert!(choose_catalog(Some("main"), &p, &ctx, |_| CatalogStanding::Owned).is_err());
    }

    #[test]
    fn catalog_rule_with_unity_catalog() {
        let ctx = CatalogContext { uc_default_catalog: Some("main"), is_metastore_admin: false };
        let p = partner("dbt-cloud");
        let standing = |c: &str| match c {
            "mine" => CatalogStanding::Owned,
            "theirs" => CatalogStanding::NotOwned,
            _ => CatalogStanding::Missing,
        };
        assert_eq!(choose_catalog(Some("mine"), &p, &ctx, standing).unwrap(), "mine");
        assert_eq!(
            choose_catalog(Some(HIVE_METASTORE), &p, &ctx, standing).unwrap(),
            HIVE_METASTORE
        );
        let err = choose_catalog(Some("theirs"), &p, &ctx, standing).unwrap_err();
        assert!(err.to_string().contains("you do not own 'theirs'"), "{err}");
        assert_eq!(
            choose_catalog(Some("nope"), &p, &ctx, standing),
            Err(CatalogRefusal::Missing { catalog: "nope".into() })
        );
        let admin = CatalogContext { is_metastore_admin: true, ..ctx.clone() };
        assert_eq!(choose_catalog(Some("theirs"), &p, &admin, standing).unwrap(), "theirs");
    }

    #[test]
    fn catalog_rule_for_partners_without_unity_catalog() {
        let p = partner("hunters");
        let theirs_default =
            CatalogContext { uc_default_catalog: Some("main"), is_metastore_admin: false };
        let err =
            choose_catalog(None, &p, &theirs_default, |_| CatalogStanding::NotOwned).unwrap_err();
        assert_eq!(
            err,
            CatalogRefusal::DefaultNotOwned { partner: p.name.clone(), default: "main".into() }
        );
        assert!(err.to_string().contains("'main'") && err.to_string().contains("do not own"));
        assert_eq!(
            choose_catalog(None, &p, &theirs_default, |_| CatalogStanding::Owned).unwrap(),
            "main"
        );
        assert!(
            choose_catalog(Some(HIVE_METASTORE), &p, &theirs_default, |_| {
                CatalogStanding::Owned
            })
            .is_err()
        );
        let hive_default =
            CatalogContext { uc_default_catalog: Some(HIVE_METASTORE), is_metastore_admin: false };
        assert_eq!(
            choose_catalog(None, &p, &hive_default, |_| CatalogStanding::NotOwned).unwrap(),
            HIVE_METASTORE
        );
    }

    #[test]
    fn the_dialog_offers_what_the_catalog_rule_allows() {
        let uc = facts::CatalogFacts {
            uc_default_catalog: Some("main".into()),
            is_metastore_admin: false,
            listed: vec!["main".into(), "mine".into(), "hive_metastore".into()],
            standings: vec![
                ("main".into(), CatalogStanding::NotOwned),
                ("mine".into(), CatalogStanding::Owned),
            ],
        };
        let choices = catalog_choices(&partner("dbt-cloud"), &uc);
        assert!(choices.shown);
        assert_eq!(choices.offered, [HIVE_METASTORE, "mine"]);
        assert_eq!(choices.refused.len(), 1);
        assert_eq!(choices.refused[0].0, "main");
        assert_eq!(choices.default.as_deref(), Some("main"));
        let hunters = catalog_choices(&partner("hunters"), &uc);
        assert!(hunters.offered.is_empty() && hunters.refused.len() == 1);
        assert!(hunters.note.contains("does not support Unity Catalog"));
        let legacy = catalog_choices(&partner("fivetran"), &facts::CatalogFacts::default());
        assert!(!legacy.shown, "a partner without a principal and no Unity Catalog");
        assert_eq!(legacy.offered, [HIVE_METASTORE]);
        assert_eq!(legacy.default.as_deref(), Some(HIVE_METASTORE));
    }

    #[test]
    fn every_profile_is_listed_once_by_its_api_name() {
        for p in builtin_partners().iter().map(|p| p.profile) {
            assert!(Profile::ALL.contains(&p), "{p:?} is missing from Profile::ALL");
        }
        for (i, p) in Profile::ALL.into_iter().enumerate() {
            assert!(!Profile::ALL[..i].contains(&p), "{p:?} is listed twice");
            assert_eq!(serde_json::to_value(p).unwrap(), p.name());
            assert_eq!(Profile::parse(&p.name().to_uppercase()), Some(p));
        }
        assert_eq!(Profile::parse(" read "), Some(Profile::Read));
        assert_eq!(Profile::parse("admin"), None);
    }

    #[test]
    fn every_built_in_ingest_or_cluster_partner_provisions_its_profile_default() {
        for p in builtin_partners() {
            if matches!(p.profile, Profile::Ingest | Profile::Cluster | Profile::Token) {
                assert_eq!(p.provision, p.profile.default_provision(), "{}", p.name);
            }
        }
        assert_eq!(Profile::Read.default_provision(), Provision::SelectedWarehouse);
    }
}
