//! The tiles, the connect dialog, a connected tile's details, sign in, token rotation and
//! delete connection. Every action calls the flow the JSON API calls (`partner_connect::flow`),
//! so the page cannot do anything the API would refuse, and refuses it in the same words.

use super::form::Fields;
use super::session::PostForm;
use super::{Page, Session, UiError, render, see_other, when};
use crate::AppState;
use crate::error::ApiError;
use crate::partner_connect::catalog::{self, Partner};
use crate::partner_connect::flow::{self, ConnectBody, RotateBody};
use crate::partner_connect::wire::{ClickAnswer, Plan, PlanCompute, Rotated};
use axum::extract::{Path, State};
use axum::http::{Uri, header};
use axum::response::IntoResponse;
use maud::{Markup, html};
use patchbay_core::access::Caller;
use patchbay_core::compute::Action;
use patchbay_core::partner::{
    self, CatalogChoices, Category, Credential, Grant, PartnerSpec, Provision,
};
use patchbay_core::principal::PrincipalKind;
use patchbay_store::{ConnectionRecord, TokenFilter};

const CATEGORIES: [(Category, &str); 9] = [
    (Category::Ingest, "Data ingestion"),
    (Category::DataPrepAndTransform, "Data preparation and transformation"),
    (Category::BiAndViz, "BI and visualization"),
    (Category::Ml, "Machine learning"),
    (Category::DataQuality, "Data quality"),
    (Category::DataGovernance, "Data governance"),
    (Category::SecurityAndGovernance, "Security and governance"),
    (Category::ReverseEtl, "Reverse ETL"),
    (Category::SemanticLayer, "Semantic layer"),
];

/// The protocol's name of a category (`DATA_QUALITY`), used in query strings.
fn slug(c: Category) -> String {
    serde_json::to_value(c).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn category_label(c: Category) -> &'static str {
    CATEGORIES.iter().find(|(k, _)| *k == c).map_or("Other", |(_, l)| l)
}

/// The partner's mark: its initial on a colour picked from its id.
fn mark(spec: &PartnerSpec) -> Markup {
    let initial =
        spec.name.chars().find(|c| c.is_alphanumeric()).map_or('?', |c| c.to_ascii_uppercase());
    let colour =
        spec.id.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b))) % 8;
    html! { span class=(format!("mark c{colour}")) aria-hidden="true" { (initial) } }
}

/// The head of a connected partner's page: where it is, its mark and name, and the
/// connection's health.
fn connected_head(spec: &PartnerSpec, health: &str) -> Markup {
    html! {
        p.crumbs { a href="/" { "Partner Connect" } " / " (spec.name) }
        div.partner-head {
            (mark(spec))
            div {
                h1 { (spec.name) }
                @match health {
                    "CONNECTED" => p.ok { img src="/ui/check.svg" alt="" width="20" height="20"; " Connected" },
                    "BROKEN" => p.broken { img src="/ui/warning.svg" alt="" width="18" height="18"; " Broken" },
                    other => p.muted { (other.to_lowercase()) },
                }
            }
        }
    }
}

/// A partner URL is only ever shown as a link when it is http(s).
fn web_link(url: &str) -> Option<&str> {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then_some(url)
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `GET /`: the tiles, by category, with search and category filter (GET parameters, so they
/// work without JavaScript).
pub async fn home(State(state): State<AppState>, session: Session, uri: Uri) -> Page {
    let q = Fields::from_query(uri.query());
    let search = q.get("q").unwrap_or_default().to_lowercase();
    let category = q.get("category").unwrap_or_default().to_owned();
    let ws = session.caller.workspace_id;
    let partners = catalog::partners(&state, ws).await?;
    let connections = state.store.connections(ws).await?;
    let mut tiles: Vec<(&Partner, Option<flow::Health>)> = Vec::new();
    for p in &partners {
        let health = match connections.iter().find(|c| c.partner_id == p.spec.id) {
            Some(c) => Some(flow::health(&state, p, c).await?),
            None => None,
        };
        tiles.push((p, health));
    }
    let deleted = q.get("deleted").and_then(|id| partners.iter().find(|p| p.spec.id == id));
    let shown = |p: &Partner| {
        (search.is_empty() || p.spec.name.to_lowercase().contains(&search))
            && (category.is_empty() || slug(p.spec.category) == category)
    };
    let any_shown = tiles.iter().any(|(p, _)| shown(p));
    let body = html! {
        div.page-head {
            h1 { "Partner Connect" }
            p.lead { "Connect this workspace to a partner's tool in a few clicks. A check mark shows a partner that is connected; anyone can then sign in to it." }
        }
        @if let Some(p) = deleted {
            p.notice role="status" { "The connection to " (p.spec.name) " was deleted." }
        }
        form.filters method="get" action="/" role="search" {
            div.field {
                label for="q" { "Search partners" }
                input #q type="search" name="q" value=(q.get("q").unwrap_or_default()) autocomplete="off";
            }
            div.field {
                label for="category" { "Category" }
                select #category name="category" {
                    option value="" { "All categories" }
                    @for (c, label) in CATEGORIES {
                        @let s = slug(c);
                        option value=(s) selected[s == category] { (label) }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        @if !any_shown {
            p.empty { "No partner matches this search." }
        }
        p.empty.js-empty hidden { "No partner matches this search." }
        @for (c, label) in CATEGORIES {
            @let group: Vec<_> = tiles.iter().filter(|(p, _)| p.spec.category == c).collect();
            @if group.iter().any(|(p, _)| shown(p)) {
                section.group data-category=(slug(c)) {
                    h2 { (label) }
                    ul.tiles {
                        @for (p, health) in &group {
                            @if shown(p) {
                                li.tile data-name=(p.spec.name.to_lowercase()) {
                                    (tile(p, health.as_ref()))
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(render("Partner Connect", &session, body))
}

fn tile(p: &Partner, health: Option<&flow::Health>) -> Markup {
    html! {
        a href=(format!("/partners/{}", p.spec.id)) {
            (mark(&p.spec))
            span.tile-name { (p.spec.name) }
            @match health.map(|h| h.state()) {
                Some("CONNECTED") => img.check src="/ui/check.svg" alt="Connected" title="Connected" width="22" height="22";
                Some("BROKEN") => span.warn { img src="/ui/warning.svg" alt="" width="16" height="16"; "Broken" }
                Some(other) => span.pending { (other.to_lowercase()) }
                None => {}
            }
        }
    }
}

/// `GET /partners/{id}`: the connect dialog, or the connection's details when connected.
pub async fn partner(
    State(state): State<AppState>,
    session: Session,
    Path(partner_id): Path<String>,
    uri: Uri,
) -> Page {
    let ws = session.caller.workspace_id;
    let partner = catalog::partner(&state, ws, &partner_id).await?;
    match state.store.connection(ws, &partner_id).await? {
        Some(c) => connected(&state, &session, &partner, &c).await,
        None => connect_dialog(&state, &session, &partner, &Fields::from_query(uri.query())).await,
    }
}

/// The catalogs a user may choose for a partner, and why the others are not offered: the
/// store gathers the same facts a connect is decided on, core applies the same rule.
async fn catalog_choices(
    state: &AppState,
    caller: &Caller,
    spec: &PartnerSpec,
) -> Result<CatalogChoices, UiError> {
    let facts = state.store.catalog_facts(caller, spec).await?;
    Ok(partner::catalog_choices(spec, &facts))
}

/// The connect dialog: choices (a GET form, so it works without JavaScript), the exact plan for
/// them (the API's dry run) and the Connect button.
async fn connect_dialog(
    state: &AppState,
    session: &Session,
    partner: &Partner,
    q: &Fields,
) -> Page {
    let caller = &session.caller;
    let spec = &partner.spec;
    let rules = spec.profile.rules();
    if spec.provision == Provision::ConnectionFile {
        return connection_file_dialog(state, session, partner).await;
    }
    let choices = catalog_choices(state, caller, spec).await?;
    let catalog = q
        .get("catalog")
        .filter(|c| choices.offered.iter().any(|o| o == c))
        .map(str::to_owned)
        .or_else(|| choices.default.clone().filter(|d| choices.offered.contains(d)))
        .or_else(|| choices.offered.first().cloned());
    let schemas_available: Vec<String> = match (&catalog, rules.reads_schemas) {
        (Some(c), true) => state
            .store
            .list_schemas_for(caller, c)
            .await
            .map_err(ApiError::from)?
            .into_iter()
            .map(|s| s.name)
            .collect(),
        _ => Vec::new(),
    };
    let chosen: Vec<String> =
        q.all("schemas").into_iter().filter(|s| schemas_available.contains(s)).collect();
    let warehouses = if spec.provision == Provision::SelectedWarehouse {
        state.store.list_warehouses(caller).await?
    } else {
        Vec::new()
    };
    let warehouse_id =
        q.get("warehouse_id").filter(|w| warehouses.iter().any(|x| x.id == *w)).map(str::to_owned);
    let body = ConnectBody {
        catalog_name: catalog.clone().filter(|_| choices.shown),
        schemas: (!chosen.is_empty()).then(|| chosen.clone()),
        warehouse_id: warehouse_id.clone(),
        dry_run: true,
    };
    // A dry run of a partner without a connection file, on a tile not connected: a plan.
    let plan = flow::click(state, caller, &spec.id, body).await.and_then(|answer| match answer {
        ClickAnswer::Plan { plan } => Ok(plan),
        _ => Err(ApiError::internal("a dry run answered no plan")),
    });
    let page = html! {
        p.crumbs { a href="/" { "Partner Connect" } " / " (spec.name) }
        div.partner-head {
            (mark(spec))
            div {
                h1 { "Connect to " (spec.name) }
                p.muted { (category_label(spec.category)) }
            }
        }
        @if !caller.is_admin {
            p.notice role="note" {
                "Only workspace admins can connect " (spec.name) ". Once an admin has connected it, you can sign in to it from this page. Ask a workspace admin to connect it."
            }
        }
        @if caller.is_admin && partner.endpoint.is_none() {
            p.error role="alert" {
                (spec.name) " has no endpoint configured in this workspace, so it cannot be connected yet. An admin sets it with PUT /api/2.0/partner-connect/partners/" (spec.id) "."
            }
        }
        @if caller.is_admin {
            section.card aria-labelledby="choose" {
                h2 #choose { "1. Choose" }
                form.choices method="get" action=(format!("/partners/{}", spec.id)) {
                    @if choices.shown {
                        div.field {
                            label for="catalog" { "Catalog" }
                            select #catalog name="catalog" data-autosubmit {
                                @for c in &choices.offered {
                                    option value=(c) selected[Some(c) == catalog.as_ref()] { (c) }
                                }
                            }
                            p.hint { (choices.note) }
                            @if !choices.refused.is_empty() {
                                p.hint { "Not offered:" }
                                ul.hint {
                                    @for (name, why) in &choices.refused {
                                        li { strong { (name) } ": " (why) }
                                    }
                                }
                            }
                        }
                    }
                    @if rules.reads_schemas {
                        fieldset.field {
                            legend { "Schemas " (spec.name) " may read" }
                            @if schemas_available.is_empty() {
                                p.hint { "This catalog has no schema you can see. Create one first, or choose another catalog." }
                            }
                            @for s in &schemas_available {
                                @let id = format!("schema-{s}");
                                div.check {
                                    input type="checkbox" name="schemas" value=(s) id=(id) checked[chosen.contains(s)];
                                    label for=(id) { (s) }
                                }
                            }
                        }
                    }
                    @if spec.provision == Provision::SelectedWarehouse {
                        div.field {
                            label for="warehouse_id" { "SQL warehouse" }
                            select #warehouse_id name="warehouse_id" {
                                option value="" { "New warehouse " (patchbay_core::partner::warehouse_name(&spec.name)) }
                                @for w in &warehouses {
                                    option value=(w.id) selected[warehouse_id.as_deref() == Some(w.id.as_str())] { (w.spec.name) " (" (w.id) ")" }
                                }
                            }
                        }
                    }
                    button type="submit" { "Review plan" }
                }
            }
            section.card aria-labelledby="plan" {
                h2 #plan { "2. What will be created and granted" }
                @match &plan {
                    Ok(plan) => {
                        (plan_view(spec, plan))
                        form.connect method="post" action=(format!("/partners/{}/connect", spec.id)) {
                            input type="hidden" name="csrf" value=(session.csrf);
                            @if let Some(c) = &plan.catalog_name {
                                input type="hidden" name="catalog_name" value=(c);
                            }
                            @for s in &chosen {
                                input type="hidden" name="schemas" value=(s);
                            }
                            @if let Some(w) = &warehouse_id {
                                input type="hidden" name="warehouse_id" value=(w);
                            }
                            button.primary type="submit" data-busy="Connecting…" { "Connect" }
                        }
                    }
                    Err(e) => {
                        p.error role="alert" { (e.message) }
                    }
                }
            }
        } @else {
            @if let Err(e) = &plan {
                p.muted { (e.message) }
            }
        }
    };
    Ok(render(&format!("Connect to {}", spec.name), session, page))
}

/// The dry-run plan in words.
fn plan_view(spec: &PartnerSpec, plan: &Plan) -> Markup {
    html! {
        ul.plan {
            @if let Some(sp) = &plan.service_principal {
                li {
                    "A service principal " strong { (sp.display_name) }
                    @if !sp.entitlements.is_empty() { ", with the entitlements " (sp.entitlements.join(", ")) }
                    @if sp.token_permission.is_some() { ", and permission to use personal access tokens (CAN_USE)" }
                    "."
                }
            }
            li {
                "A personal access token owned by " strong { (plan.token.owner) }
                ", comment “Partner Connect”, that never expires. Nobody can read it: it goes to " (spec.name) " only."
            }
            @match &plan.compute {
                Some(PlanCompute::NewWarehouse { create_warehouse, cluster_size, auto_stop_mins }) => {
                    li { "A new SQL warehouse " strong { (create_warehouse) } " (" (cluster_size) ", stops after " (auto_stop_mins) " idle minutes)." }
                }
                Some(PlanCompute::ExistingWarehouse { use_warehouse }) => {
                    li { "The SQL warehouse " strong { (use_warehouse) } " you selected (it is not deleted with the connection)." }
                }
                Some(PlanCompute::NewCluster { create_cluster }) => {
                    li { "A new cluster " strong { (create_cluster) } "." }
                }
                None => {}
            }
            @if plan.warehouse_permission.is_some() {
                li { "Permission for the service principal to use the warehouse (CAN_USE)." }
            }
            @if let Some(c) = &plan.catalog_name {
                li { "Catalog " strong { (c) }
                    @if !plan.schemas.is_empty() { ", schemas " strong { (plan.schemas.join(", ")) } }
                    "." }
            }
        }
        @if !plan.grants.is_empty() {
            (grants_table(&plan.grants, "Grants to the service principal"))
        }
        @if let Some(e) = &plan.partner_endpoint {
            p.muted { "Then patchbay calls " code { (e) } ", and you continue at " (spec.name) "." }
        }
    }
}

fn grants_table(grants: &[Grant], caption: &str) -> Markup {
    html! {
        div.table-wrap {
            table {
                caption { (caption) }
                thead { tr { th scope="col" { "On" } th scope="col" { "Name" } th scope="col" { "Privileges" } } }
                tbody {
                    @for g in grants {
                        tr {
                            td { (g.securable_type.as_str()) }
                            td {
                                code {
                                    // Long names break after their dots only.
                                    @for (i, part) in g.full_name.split('.').enumerate() {
                                        @if i > 0 { "." wbr; }
                                        (part)
                                    }
                                }
                            }
                            td {
                                (g.privilege_names().join(", "))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Desktop tools get a connection file for a warehouse the user may use.
async fn connection_file_dialog(state: &AppState, session: &Session, partner: &Partner) -> Page {
    let spec = &partner.spec;
    // Those the user may use (CAN_USE), not all it sees: the API refuses a file for the others.
    let warehouses = state.store.list_warehouses_allowing(&session.caller, Action::Start).await?;
    let page = html! {
        p.crumbs { a href="/" { "Partner Connect" } " / " (spec.name) }
        div.partner-head {
            (mark(spec))
            div { h1 { (spec.name) } p.muted { (category_label(spec.category)) } }
        }
        section.card {
            h2 { "Download a connection file" }
            p { (spec.name) " runs on your computer. Pick the SQL warehouse it should use and open the file in " (spec.name) "; sign in there with a personal access token of your own. The file holds no token." }
            @if warehouses.is_empty() {
                p.notice { "There is no SQL warehouse you can use yet." }
            } @else {
                form method="post" action=(format!("/partners/{}/connect", spec.id)) {
                    input type="hidden" name="csrf" value=(session.csrf);
                    div.field {
                        label for="warehouse_id" { "SQL warehouse" }
                        select #warehouse_id name="warehouse_id" {
                            @for w in &warehouses { option value=(w.id) { (w.spec.name) " (" (w.id) ")" } }
                        }
                    }
                    button.primary type="submit" { "Download" }
                }
            }
        }
    };
    Ok(render(&spec.name, session, page))
}

/// `POST /partners/{id}/connect`: the Connect button.
pub async fn connect(
    State(state): State<AppState>,
    Path(partner_id): Path<String>,
    form: PostForm,
) -> Page {
    let f = &form.fields;
    let schemas = f.all("schemas");
    let body = ConnectBody {
        catalog_name: f.get("catalog_name").map(str::to_owned),
        schemas: (!schemas.is_empty()).then_some(schemas),
        warehouse_id: f.get("warehouse_id").map(str::to_owned),
        dry_run: false,
    };
    let answer = flow::click(&state, &form.session.caller, &partner_id, body).await?;
    if let ClickAnswer::ConnectionFile { connection_file: file } = answer {
        let name: String = file
            .file_name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c))
            .collect();
        let content_type = match file.content_type {
            "application/xml" => "application/xml",
            _ => "application/json",
        };
        return Ok((
            [
                (header::CONTENT_TYPE, content_type.to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
            ],
            file.content,
        )
            .into_response());
    }
    let partner = catalog::partner(&state, form.session.caller.workspace_id, &partner_id).await?;
    Ok(outcome(&form.session, &partner, &answer, "Connected to"))
}

/// `POST /partners/{id}/sign-in`: any user, on a connected tile.
pub async fn sign_in(
    State(state): State<AppState>,
    Path(partner_id): Path<String>,
    form: PostForm,
) -> Page {
    let answer =
        flow::click(&state, &form.session.caller, &partner_id, ConnectBody::default()).await?;
    let partner = catalog::partner(&state, form.session.caller.workspace_id, &partner_id).await?;
    Ok(outcome(&form.session, &partner, &answer, "Sign in to"))
}

/// What a connect or sign-in answered: the partner's link, and any message in words.
fn outcome(
    session: &Session,
    partner: &Partner,
    answer: &ClickAnswer,
    verb: &str,
) -> axum::response::Response {
    let spec = &partner.spec;
    let (connected, redirect_uri, message, partner_message) = match answer {
        ClickAnswer::Reached(r) => {
            (r.connection.is_some(), r.redirect_uri.as_deref(), r.message.as_deref(), None)
        }
        ClickAnswer::Unconfirmed(u) => (
            true,
            Some(u.redirect_uri.as_str()),
            Some(u.message.as_str()),
            u.partner_message.as_deref(),
        ),
        ClickAnswer::Plan { .. } | ClickAnswer::ConnectionFile { .. } => (false, None, None, None),
    };
    let link = redirect_uri.and_then(web_link);
    let page = html! {
        p.crumbs { a href="/" { "Partner Connect" } " / " a href=(format!("/partners/{}", spec.id)) { (spec.name) } }
        div.partner-head {
            (mark(spec))
            div {
                h1 { (verb) " " (spec.name) }
                @if connected {
                    p.ok { img src="/ui/check.svg" alt="" width="20" height="20"; " Connected" }
                }
            }
        }
        @if let Some(m) = message {
            p.notice role="status" { (m) }
        }
        @if let Some(m) = partner_message {
            p.notice { (spec.name) " said: " (m) }
        }
        @if let Some(url) = link {
            p { a.button.primary href=(url) target="_blank" rel="noopener noreferrer" { "Continue to " (spec.name) } }
        }
        p {
            a href=(format!("/partners/{}", spec.id)) { "See the connection" }
            " · "
            a href="/" { "Back to Partner Connect" }
        }
    };
    render(&format!("{verb} {}", spec.name), session, page)
}

/// A connected tile: sign in (users), and for admins the connection's details. Never a
/// token value.
async fn connected(
    state: &AppState,
    session: &Session,
    partner: &Partner,
    c: &ConnectionRecord,
) -> Page {
    if !session.caller.is_admin {
        return connected_for_user(state, session, partner, c).await;
    }
    let spec = &partner.spec;
    let v = flow::connection_details(state, partner, c).await?;
    // The partner's credential, as (creation, expiry) of a live one: a token, or an OAuth
    // secret (`AUTH_OAUTH_M2M`).
    let token = match (&c.token_id, c.credential) {
        (Some(id), Credential::Token) => state
            .store
            .get_token(c.workspace_id, id)
            .await?
            .map(|t| (t.creation_time, t.expiry_time)),
        (Some(id), Credential::OAuthSecret) => state
            .store
            .oauth_secret(c.workspace_id, id)
            .await?
            .map(|s| (s.create_time, s.expire_time)),
        (None, _) => None,
    };
    let credential_label = match c.credential {
        Credential::Token => "Token",
        Credential::OAuthSecret => "OAuth secret",
    };
    let warehouse = warehouse_label(state, c).await?;
    let health = v.state;
    let reasons = &v.reasons;
    let grants = &v.grants;
    let page = html! {
        (connected_head(spec, health))
        @if !reasons.is_empty() {
            div.error role="alert" {
                p { (spec.name) " cannot work until this is fixed; a workspace admin can delete the connection and connect again." }
                ul { @for r in reasons { li { (r) } } }
            }
        }
        (sign_in_button(session, spec, health))
        section.card aria-labelledby="details" {
            h2 #details { "Connection details" }
            dl.details {
                @if let Some(sp) = &v.service_principal {
                    dt { "Service principal" }
                    dd {
                        (sp.display_name)
                        @if let Some(app) = &sp.application_id {
                            br; span.muted { "Application ID " code { (app) } }
                        }
                        @if sp.id.is_none() { br; span.broken { "deleted" } }
                    }
                }
                dt { (credential_label) }
                dd {
                    @match (&c.token_id, &token) {
                        (Some(id), Some((created, expires))) => {
                            "ID " code { (id) } br;
                            span.muted {
                                "Created " (when(*created)) ", "
                                @if *expires < 0 { "never expires" } @else { "expires " (when(*expires)) }
                                ". Its value is never shown."
                            }
                        }
                        (Some(id), None) => { "ID " code { (id) } " " span.broken { "(deleted)" } }
                        (None, _) => { "None" }
                    }
                }
                @if let Some(app) = &v.oauth_u2m_app {
                    dt { "OAuth app (U2M)" }
                    dd {
                        "Client ID " code { (app.client_id) } br;
                        span.muted {
                            @if let Some(uri) = &app.redirect_uri {
                                "Redirect URI " code { (uri) } ". Users authorize the partner to act as them; no secret."
                            } @else {
                                "No redirect URI: the partner named none, so users cannot authorize it."
                            }
                        }
                    }
                }
                dt { "Compute" }
                dd {
                    @if let Some(w) = &warehouse {
                        "SQL warehouse " (w)
                        @if c.warehouse_created { " (created by this connection)" } @else { " (selected)" }
                    } @else if let Some(id) = &c.cluster_id {
                        "Cluster " code { (id) } " (created by this connection)"
                    } @else { "None" }
                }
                @if let Some(cat) = &c.catalog_name {
                    dt { "Catalog" }
                    dd { code { (cat) } }
                }
                @if !c.schemas.is_empty() {
                    dt { "Schemas" }
                    dd { (c.schemas.join(", ")) }
                }
                dt { "Partner account administrator" }
                dd { (v.partner_account_administrator.as_deref().unwrap_or("Not known")) }
                dt { "Connected by" }
                dd { (c.created_by_name) ", " (when(c.created_at)) }
                dt { "Health" }
                dd {
                    (health)
                    @if reasons.is_empty() { span.muted { " — everything the connection uses exists." } }
                }
                @if let Some(m) = &c.message {
                    dt { "Note" }
                    dd { (m) }
                }
            }
            @if !grants.is_empty() {
                (grants_table(grants, "Grants"))
            }
        }
        section.card aria-labelledby="manage" {
            h2 #manage { "Manage" }
            div.actions {
                @if c.service_principal_id.is_some() {
                    form.inline method="post" action=(format!("/partners/{}/rotate-token", spec.id)) {
                        input type="hidden" name="csrf" value=(session.csrf);
                        input type="hidden" name="uid" value=(c.uid);
                        button type="submit" data-busy="Rotating…" { "Rotate token" }
                    }
                }
                a.button.danger href=(format!("/partners/{}/delete", spec.id)) { "Delete connection…" }
            }
        }
    };
    Ok(render(&spec.name, session, page))
}

/// The sign-in button of a connected tile, for users (service principals do not sign in).
fn sign_in_button(session: &Session, spec: &PartnerSpec, health: &str) -> Markup {
    html! {
        @if spec.sign_in && health != "CONNECTING" {
            @if session.caller.kind == PrincipalKind::User {
                form.inline method="post" action=(format!("/partners/{}/sign-in", spec.id)) {
                    input type="hidden" name="csrf" value=(session.csrf);
                    button.primary type="submit" data-busy="Signing in…" { "Sign in to " (spec.name) }
                }
            } @else {
                p.muted { "Service principals do not sign in to partners." }
            }
        }
    }
}

/// A connected tile as a user who is not an admin sees it: the state and the sign-in button.
/// The connection's details (principal, token, compute, grants, who connected) are for
/// admins, like the API's; nothing here calls the partner.
async fn connected_for_user(
    state: &AppState,
    session: &Session,
    partner: &Partner,
    c: &ConnectionRecord,
) -> Page {
    let spec = &partner.spec;
    let health = flow::health(state, partner, c).await?;
    let page = html! {
        (connected_head(spec, health.state()))
        @if health.is_broken() {
            p.error role="alert" { (spec.name) " cannot work until a workspace admin repairs the connection or connects again." }
        }
        (sign_in_button(session, spec, health.state()))
        p.muted { "Only workspace admins can rotate the token, delete the connection or see its details (service principal, token, compute, grants)." }
    };
    Ok(render(&spec.name, session, page))
}

/// The connection's warehouse as `NAME (id)`, or its id alone once it is gone.
async fn warehouse_label(
    state: &AppState,
    c: &ConnectionRecord,
) -> Result<Option<Markup>, UiError> {
    let Some(id) = &c.warehouse_id else {
        return Ok(None);
    };
    let name = state.store.get_warehouse(c.workspace_id, id).await?.map(|w| w.spec.name);
    Ok(Some(html! {
        @if let Some(n) = name { strong { (n) } " (" code { (id) } ")" } @else { code { (id) } " (deleted)" }
    }))
}

/// `POST /partners/{id}/rotate-token` (admins).
pub async fn rotate(
    State(state): State<AppState>,
    Path(partner_id): Path<String>,
    form: PostForm,
) -> Page {
    let admin = form.session.admin()?;
    let partner = catalog::partner(&state, admin.workspace_id(), &partner_id).await?;
    let body = RotateBody {
        revoke_token_id: form.fields.get("revoke_token_id").map(str::to_owned),
        uid: form.fields.get("uid").map(str::to_owned),
    };
    let answer = flow::rotate(&state, &admin, &partner_id, body).await?;
    let spec = &partner.spec;
    let page = html! {
        p.crumbs { a href="/" { "Partner Connect" } " / " a href=(format!("/partners/{}", spec.id)) { (spec.name) } }
        h1 { "Token rotation for " (spec.name) }
        @match &answer {
            Rotated::Revoked { revoked_token_id: old } => {
                p.notice role="status" { "the old token " code { (old) } " was revoked." }
            }
            Rotated::Delivered { revoked_token_id: Some(old), token_id, .. } => {
                p.notice role="status" {
                    "The new token " code { (token_id) } " was delivered to " (spec.name) ", and "
                    "the old token " code { (old) } " was revoked."
                }
            }
            Rotated::Delivered { revoked_token_id: None, token_id, .. } => {
                p.notice role="status" { "The new token " code { (token_id) } " was delivered to " (spec.name) "." }
            }
            Rotated::Manual(manual) => {
                p.error role="alert" { (manual.message) }
                p { "New token (shown only now): " code.secret { (manual.token_value.expose()) } }
                @if let Some(old) = &manual.old_token_id {
                    form method="post" action=(format!("/partners/{}/rotate-token", spec.id)) {
                        input type="hidden" name="csrf" value=(form.session.csrf);
                        input type="hidden" name="revoke_token_id" value=(old);
                        button.danger type="submit" { "I entered it at " (spec.name) ": revoke the old token" }
                    }
                }
            }
        }
        p { a href=(format!("/partners/{}", spec.id)) { "Back to the connection" } }
    };
    Ok(render("Token rotation", &form.session, page))
}

/// `GET /partners/{id}/delete`: what deleting the connection removes, and that it is final.
pub async fn confirm_delete(
    State(state): State<AppState>,
    session: Session,
    Path(partner_id): Path<String>,
) -> Page {
    let admin = session.admin()?;
    let ws = admin.workspace_id();
    let partner = catalog::partner(&state, ws, &partner_id).await?;
    let c = state
        .store
        .connection(ws, &partner_id)
        .await?
        .ok_or_else(|| flow::no_connection(&partner_id))?;
    let tokens = match c.service_principal_id {
        Some(owner) => {
            state
                .store
                .list_tokens(ws, &TokenFilter { owner_id: Some(owner), ..TokenFilter::default() })
                .await?
        }
        None => Vec::new(),
    };
    let warehouse = warehouse_label(&state, &c).await?;
    let spec = &partner.spec;
    let page = html! {
        p.crumbs { a href="/" { "Partner Connect" } " / " a href=(format!("/partners/{}", spec.id)) { (spec.name) } }
        h1 { "Delete the connection to " (spec.name) "?" }
        section.card.danger-zone {
            p { "Deleting the connection removes:" }
            ul {
                @if c.warehouse_created {
                    @if let Some(w) = &warehouse { li { "the SQL warehouse " (w) " it created;" } }
                }
                @if let Some(id) = &c.cluster_id { li { "the cluster " code { (id) } " it created;" } }
                @if let Some(name) = &c.service_principal_name {
                    @if c.service_principal_id.is_some() {
                        li {
                            "the service principal " strong { (name) }
                            @if let Some(app) = &c.application_id { " (" code { (app) } ")" }
                            ", with its grants and every token it owns"
                            @if tokens.is_empty() { " (none left);" } @else { ":" }
                            @if !tokens.is_empty() {
                                ul { @for t in &tokens { li { "token " code { (t.token_id) } " — " (t.comment) ", created " (when(t.creation_time)) } } }
                            }
                        }
                    }
                }
                li { "the check mark on the " (spec.name) " tile." }
            }
            @if !c.warehouse_created {
                @if let Some(w) = &warehouse { p { "The SQL warehouse " (w) " was selected, not created by the connection: it is kept." } }
            }
            p { (spec.name) " is told the connection was deleted. Your organization's " (spec.name) " account stays." }
            p { strong { "This cannot be undone." } }
            form.inline method="post" action=(format!("/partners/{}/delete", spec.id)) {
                input type="hidden" name="csrf" value=(session.csrf);
                input type="hidden" name="uid" value=(c.uid);
                button.danger type="submit" data-busy="Deleting…" { "Delete connection" }
            }
            " "
            a.button href=(format!("/partners/{}", spec.id)) { "Cancel" }
        }
    };
    Ok(render(&format!("Delete {}", spec.name), &session, page))
}

/// `POST /partners/{id}/delete` (admins): deletes, then back to the tiles.
pub async fn delete(
    State(state): State<AppState>,
    Path(partner_id): Path<String>,
    form: PostForm,
) -> Page {
    let admin = form.session.admin()?;
    flow::delete(&state, &admin, &partner_id, form.fields.get("uid")).await?;
    Ok(see_other(&format!("/?deleted={}", encode(&partner_id))))
}
