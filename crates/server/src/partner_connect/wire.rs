//! The answers of the Partner Connect API, typed: what the handlers and the flows return and
//! the page reads. The answers were first written as `json!` maps, which `serde_json` writes
//! with their keys sorted, so every struct here declares its fields in byte order to keep the
//! bytes on the wire as they were; `null` stays `null` (a plain `Option`) and a key left out
//! stays left out (`skip_serializing_if`). `tests/partner_connect_shapes.rs` holds the bytes.

use patchbay_core::partner::{
    AuthOption, Category, Grant, GrantTarget, Privilege, Profile, Provision,
};
use patchbay_core::time::EpochMillis;
use patchbay_core::token::TokenValue;
use patchbay_core::{PrincipalId, WorkspaceId};
use patchbay_partner::protocol::{AccountStatus, RedirectValue, UserStatus};
use patchbay_store::AuditEvent;
use serde::{Serialize, Serializer};

/// A grant with its keys in byte order (core's [`Grant`] declares `securable_type` first).
#[derive(Serialize)]
struct GrantView<'a> {
    full_name: &'a str,
    privileges: &'a [Privilege],
    securable_type: GrantTarget,
}

/// Writes a list of grants as [`GrantView`]s.
fn grants<S: Serializer>(grants: &[Grant], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(grants.iter().map(|g| GrantView {
        full_name: &g.full_name,
        privileges: &g.privileges,
        securable_type: g.securable_type,
    }))
}

/// A token's value, in the one answer that shows it.
fn expose<S: Serializer>(value: &TokenValue, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(value.expose())
}

// ---- partners ----

/// A tile: the partner and whether the workspace is connected to it.
#[derive(Debug, Serialize)]
pub struct Tile<'a> {
    pub auth_options: &'a [AuthOption],
    pub builtin: bool,
    pub category: Category,
    pub connected: bool,
    /// The connection's health, `null` without one.
    pub connection_state: Option<&'static str>,
    pub endpoint_configured: bool,
    /// The partner's redirect allow-list: for admins only, absent for everyone else.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostnames: Option<&'a [String]>,
    pub id: &'a str,
    pub name: &'a str,
    pub needs_service_principal: bool,
    pub profile: Profile,
    pub provisions: Provision,
    pub sign_in_through_partner_connect: bool,
    pub supports_unity_catalog: bool,
    /// What a connect would create: in the answer about one partner only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_create: Option<WouldCreate>,
}

/// `{"partners": [...]}`.
#[derive(Debug, Serialize)]
pub struct PartnerList<'a> {
    pub partners: Vec<Tile<'a>>,
}

/// `{"partner": {...}}`.
#[derive(Debug, Serialize)]
pub struct OnePartner<'a> {
    pub partner: Tile<'a>,
}

/// What a connect would create for a partner, in words and names.
#[derive(Debug, Serialize)]
pub struct WouldCreate {
    pub chooses_schemas: bool,
    pub compute: Option<ProfileCompute>,
    pub entitlements: Vec<&'static str>,
    #[serde(serialize_with = "grants")]
    pub hive_metastore_grants: Vec<Grant>,
    pub service_principal: Option<String>,
    pub token_permission: Option<&'static str>,
    #[serde(serialize_with = "grants")]
    pub unity_catalog_grants: Vec<Grant>,
    pub warehouse_permission: Option<&'static str>,
}

/// The compute a partner's connect provisions, by name: `{"new_warehouse": "…"}` and so on.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileCompute {
    NewWarehouse(String),
    SelectedWarehouseOrNew(String),
    NewCluster(String),
    ConnectionFile(&'static str),
}

/// `{"account": {...}}`: the organization's account at a partner.
#[derive(Debug, Serialize)]
pub struct AccountAnswer {
    pub account: Account,
}

/// A partner account: who administers it and which workspace made it.
#[derive(Debug, Serialize)]
pub struct Account {
    pub administrator: String,
    pub created_at: EpochMillis,
    pub first_workspace_id: WorkspaceId,
    pub partner_id: String,
    /// Always `active`.
    pub status: &'static str,
}

// ---- connections ----

/// A connection's service principal, as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PrincipalView {
    pub application_id: Option<String>,
    pub display_name: String,
    /// `None` once it was deleted.
    pub id: Option<String>,
}

/// A connection's OAuth secret: its id and dates, never its value.
#[derive(Debug, Clone, Serialize)]
pub struct SecretView {
    pub create_time: i64,
    pub expire_time: i64,
    pub id: String,
}

/// The connection's OAuth U2M app (`AUTH_OAUTH_U2M`): its client id and the partner's
/// callback, once named. No secret: it is a public client.
#[derive(Debug, Clone, Serialize)]
pub struct OAuthAppView {
    pub client_id: String,
    pub redirect_uri: Option<String>,
}

/// What the partner's `/test-connection` said.
#[derive(Debug, Clone, Serialize)]
pub struct PartnerTestView {
    pub detail: String,
    pub passed: bool,
}

/// A connection as the API shows it to admins (and the page renders it). Never a token value.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionView {
    pub catalog_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    pub created_at: EpochMillis,
    pub created_by: String,
    pub credential: &'static str,
    #[serde(serialize_with = "grants")]
    pub grants: Vec<Grant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_secret: Option<SecretView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_u2m_app: Option<OAuthAppView>,
    pub partner_account_administrator: Option<String>,
    pub partner_connection_id: Option<String>,
    pub partner_id: String,
    pub partner_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_test: Option<PartnerTestView>,
    pub reasons: Vec<String>,
    pub schemas: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_principal: Option<PrincipalView>,
    /// `CONNECTING`, `CONNECTED`, `BROKEN` or `DELETING`.
    pub state: &'static str,
    pub token_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warehouse_created_by_connection: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warehouse_id: Option<String>,
}

/// A connection as a workspace user who is not an admin sees it: what the tile shows.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionSummary {
    pub partner_id: String,
    pub partner_name: String,
    pub state: &'static str,
}

/// A connection as its caller may see it: the details for admins, the summary for others.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ConnectionShown {
    Details(Box<ConnectionView>),
    Summary(ConnectionSummary),
}

/// `{"connections": [...]}`.
#[derive(Debug, Serialize)]
pub struct ConnectionList {
    pub connections: Vec<ConnectionView>,
}

/// `{"connection": {...}}`.
#[derive(Debug, Serialize)]
pub struct OneConnection {
    pub connection: ConnectionView,
}

// ---- a tile click ----

/// What a tile click answers: a plan (a dry run), a connection file (desktop tools), where the
/// partner sends the user, or a connect the partner did not confirm.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ClickAnswer {
    Plan { plan: Box<Plan> },
    ConnectionFile { connection_file: ConnectionFile },
    Reached(Reached),
    Unconfirmed(Box<Unconfirmed>),
}

/// The dry-run answer: everything a connect would create and grant.
#[derive(Debug, Serialize)]
pub struct Plan {
    pub catalog_name: Option<String>,
    pub compute: Option<PlanCompute>,
    #[serde(serialize_with = "grants")]
    pub grants: Vec<Grant>,
    /// Where patchbay would call the partner, `null` without an endpoint.
    pub partner_endpoint: Option<String>,
    pub partner_id: String,
    pub schemas: Vec<String>,
    pub service_principal: Option<PlanPrincipal>,
    pub token: PlanToken,
    pub warehouse_permission: Option<&'static str>,
}

/// The compute of a plan.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum PlanCompute {
    NewWarehouse { auto_stop_mins: u32, cluster_size: &'static str, create_warehouse: String },
    ExistingWarehouse { use_warehouse: String },
    NewCluster { create_cluster: String },
}

/// The service principal of a plan.
#[derive(Debug, Serialize)]
pub struct PlanPrincipal {
    pub display_name: String,
    pub entitlements: Vec<String>,
    pub token_permission: Option<&'static str>,
}

/// The token of a plan.
#[derive(Debug, Serialize)]
pub struct PlanToken {
    pub comment: &'static str,
    pub expires: &'static str,
    pub owner: String,
    pub readable: bool,
}

/// A desktop tool's connection file: its name, type and content (no token in it).
#[derive(Debug, Serialize)]
pub struct ConnectionFile {
    pub content: String,
    pub content_type: &'static str,
    pub file_name: String,
}

/// Power BI's `.pbids` file.
#[derive(Debug, Serialize)]
pub struct PbidsFile<'a> {
    pub connections: [PbidsConnection<'a>; 1],
    pub version: &'static str,
}

/// The one connection of a `.pbids` file.
#[derive(Debug, Serialize)]
pub struct PbidsConnection<'a> {
    pub details: PbidsDetails<'a>,
    pub mode: &'static str,
}

/// What Power BI connects to, and how.
#[derive(Debug, Serialize)]
pub struct PbidsDetails<'a> {
    pub address: PbidsAddress<'a>,
    pub protocol: &'static str,
}

/// The warehouse's host and HTTP path.
#[derive(Debug, Serialize)]
pub struct PbidsAddress<'a> {
    pub host: &'a str,
    pub path: &'a str,
}

/// The connection file of any other desktop tool.
#[derive(Debug, Serialize)]
pub struct JsonConnectionFile<'a> {
    pub authentication: &'static str,
    pub host: &'a str,
    pub http_path: &'a str,
    pub port: i32,
}

/// The answer to a click that reached the partner: the connection (`null` when there is
/// none) and where the partner sends the user.
#[derive(Debug, Serialize)]
pub struct Reached {
    pub account_status: AccountStatus,
    pub connection: Option<ConnectionShown>,
    pub message: Option<String>,
    /// Absent when the partner configured nothing and named no redirect patchbay may use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    pub redirect_value: RedirectValue,
    pub user_status: UserStatus,
}

/// The answer to a connect the partner did not confirm: the workspace side is kept, and the
/// user signs in at the partner (`redirect_value` is `sign_in`).
#[derive(Debug, Serialize)]
pub struct Unconfirmed {
    pub connection: ConnectionView,
    pub message: String,
    /// What the partner said, `null` when it said nothing.
    pub partner_message: Option<String>,
    pub redirect_uri: String,
    pub redirect_value: RedirectValue,
}

// ---- delete, rotate, repair ----

/// A delete's answer: what went, and whether the partner was told.
#[derive(Debug, Serialize)]
pub struct Deleted {
    pub deleted: DeletedObjects,
    /// The notification's outcome, `queued` or `not_notified`.
    pub partner_status: String,
}

/// The objects a delete removed (the partner account stays).
#[derive(Debug, Serialize)]
pub struct DeletedObjects {
    pub cluster_id: Option<String>,
    pub partner_id: String,
    pub service_principal: Option<String>,
    /// The warehouse the connection created, `null` when it created none.
    pub warehouse_id: Option<String>,
}

/// A rotation's answer.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Rotated {
    /// The admin confirmed a manual rotation: the old token is revoked.
    Revoked { revoked_token_id: String },
    /// The partner took the new token; the old one is revoked.
    Delivered {
        /// Always `true`.
        delivered: bool,
        revoked_token_id: Option<String>,
        token_id: String,
    },
    /// The partner cannot take it: the new credential, shown once, for the admin to enter.
    Manual(ManualRotation),
}

/// A rotation the admin finishes by hand: the only answer that shows a credential's value.
#[derive(Serialize)]
pub struct ManualRotation {
    pub credential: &'static str,
    /// Always `false`.
    pub delivered: bool,
    pub message: String,
    pub old_token_id: Option<String>,
    pub token_id: String,
    #[serde(serialize_with = "expose")]
    pub token_value: TokenValue,
}

impl std::fmt::Debug for ManualRotation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManualRotation")
            .field("credential", &self.credential)
            .field("token_id", &self.token_id)
            .finish_non_exhaustive()
    }
}

/// A repair's answer: what it did, and the connection's health after it.
#[derive(Debug, Serialize)]
pub struct Repair {
    pub done: Vec<String>,
    pub reasons: Vec<String>,
    pub state: &'static str,
}

// ---- the audit trail ----

/// One page of the audit trail; `next_page_token` only when a next page may follow.
#[derive(Debug, Serialize)]
pub struct AuditPage {
    pub events: Vec<AuditEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_page_token: Option<String>,
}

/// One audit event.
#[derive(Debug, Serialize)]
pub struct AuditEntry {
    pub action: String,
    pub actor: String,
    pub actor_id: Option<PrincipalId>,
    pub detail: serde_json::Value,
    pub id: i64,
    pub object_id: String,
    pub object_type: String,
    pub partner_id: Option<String>,
    pub time: i64,
}

impl From<AuditEvent> for AuditEntry {
    fn from(e: AuditEvent) -> AuditEntry {
        AuditEntry {
            action: e.action,
            actor: e.actor_name,
            actor_id: e.actor_id,
            detail: e.detail,
            id: e.id,
            object_id: e.object_id,
            object_type: e.object_type,
            partner_id: e.partner_id,
            time: e.at,
        }
    }
}
