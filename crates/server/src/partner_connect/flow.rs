//! Connect, sign in, delete and rotate: the flows that touch a partner. Local changes happen in
//! store transactions; the partner is called between them, never while one is open.

use super::catalog::{self, Partner};
use super::wire::{
    ClickAnswer, ConnectionFile, ConnectionShown, ConnectionSummary, ConnectionView, Deleted,
    DeletedObjects, JsonConnectionFile, ManualRotation, OAuthAppView, PartnerTestView,
    PbidsAddress, PbidsConnection, PbidsDetails, PbidsFile, Plan, PlanCompute, PlanPrincipal,
    PlanToken, PrincipalView, ProfileCompute, Reached, Repair, Rotated, SecretView, Unconfirmed,
    WouldCreate,
};
use crate::AppState;
use crate::auth::{Admin, Authenticated};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult, refused};
use crate::params::Params;
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use patchbay_core::WorkspaceId;
use patchbay_core::access::{Caller, WorkspaceAdmin};
use patchbay_core::compute::{Action, ObjectKind};
pub use patchbay_core::partner::Health;
use patchbay_core::partner::delete::{self as delete_rule, Refusal, RotationMode};
use patchbay_core::partner::facts::ConnectChoices;
use patchbay_core::partner::sign_in::{self as sign_in_rule, Click, Refusal as ClickRefusal};
use patchbay_core::partner::{
    self, ComputePlan, ConnectionState, Credential, HIVE_METASTORE, PartnerSpec, Provision,
    ProvisionPlan, Repaired, cluster_name, schema_selection, service_principal_name,
    warehouse_name,
};
use patchbay_core::principal::PrincipalKind;
use patchbay_partner::client::{CallError, Endpoint, checked_redirect};
use patchbay_partner::protocol::{
    Auth, ConnectRequest, Connection, ErrorReason, RedirectValue, RotateTokenRequest, Secret,
    UserInfo,
};
use patchbay_store::{Actor, Completion, ConnectionRecord, Removal, Rotation, StoreError, Taken};
use serde::Deserialize;
use serde_json::json;

pub fn no_connection(partner_id: &str) -> ApiError {
    refused(Refusal::NoConnection { partner_id: partner_id.to_owned() })
}

/// A refusal of a click or sign-in rule as the client gets it.
fn refused_click(refusal: ClickRefusal) -> ApiError {
    let message = refusal.to_string();
    match refusal {
        ClickRefusal::AlreadyConnected { .. } => ApiError::conflict(message),
        ClickRefusal::Connecting { .. } => ApiError::new(StatusCode::CONFLICT, "ABORTED", message),
        ClickRefusal::OnlyAdminsConnect { .. } | ClickRefusal::ServicePrincipal { .. } => {
            ApiError::forbidden(message)
        }
        ClickRefusal::NoSignIn { .. } => ApiError::bad_request(message),
    }
}

/// A connection's health: the store gathers what it uses, core judges it.
pub async fn health(
    state: &AppState,
    partner: &Partner,
    c: &ConnectionRecord,
) -> ApiResult<Health> {
    let facts = state.store.health_facts(partner.spec.profile, c).await?;
    Ok(partner::health(&facts))
}

/// A connection as the API shows it to admins, typed.
pub async fn connection_details(
    state: &AppState,
    partner: &Partner,
    c: &ConnectionRecord,
) -> ApiResult<ConnectionView> {
    let health = health(state, partner, c).await?;
    connection_details_with(state, partner, c, health, None).await
}

/// A connection as the API shows it to admins, with its health and what the partner's own
/// test said, if it was asked (`(passed, detail)`).
pub async fn connection_details_with(
    state: &AppState,
    partner: &Partner,
    c: &ConnectionRecord,
    health: Health,
    partner_test: Option<(bool, String)>,
) -> ApiResult<ConnectionView> {
    let health = match &partner_test {
        Some((passed, detail)) => health.with_partner_test(*passed, &partner.spec.name, detail),
        None => health,
    };
    let account = state.store.partner_account(c.workspace_id, &c.partner_id).await?;
    let oauth_secret = match (&c.token_id, c.credential) {
        (Some(id), Credential::OAuthSecret) => {
            state.store.oauth_secret(c.workspace_id, id).await?.map(|secret| SecretView {
                id: secret.secret_id,
                create_time: secret.create_time,
                expire_time: secret.expire_time,
            })
        }
        _ => None,
    };
    let oauth_u2m_app = state
        .store
        .connection_oauth_app(c.workspace_id, &c.partner_id)
        .await?
        .map(|app| OAuthAppView { client_id: app.client_id, redirect_uri: app.redirect_uri });
    Ok(ConnectionView {
        partner_id: c.partner_id.clone(),
        partner_name: partner.spec.name.clone(),
        state: health.state(),
        reasons: health.reasons().iter().map(ToString::to_string).collect(),
        catalog_name: c.catalog_name.clone(),
        schemas: c.schemas.clone(),
        token_id: c.token_id.clone(),
        credential: c.credential.as_db(),
        grants: c.grants.clone(),
        created_by: c.created_by_name.clone(),
        created_at: c.created_at,
        partner_connection_id: c.partner_connection_id.clone(),
        partner_account_administrator: account.map(|a| a.administrator_email),
        service_principal: c.service_principal_name.as_ref().map(|name| PrincipalView {
            id: c.service_principal_id.map(|i| i.to_string()),
            application_id: c.application_id.clone(),
            display_name: name.clone(),
        }),
        warehouse_id: c.warehouse_id.clone(),
        warehouse_created_by_connection: c.warehouse_id.as_ref().map(|_| c.warehouse_created),
        cluster_id: c.cluster_id.clone(),
        message: c.message.clone(),
        oauth_u2m_app,
        oauth_secret,
        partner_test: partner_test.map(|(passed, detail)| PartnerTestView { passed, detail }),
    })
}

/// A connection as `caller` may see it: the details for admins; for everyone else what the
/// tile shows (the partner and the state).
pub async fn connection_view(
    state: &AppState,
    caller: &Caller,
    partner: &Partner,
    c: &ConnectionRecord,
) -> ApiResult<ConnectionShown> {
    if caller.is_admin {
        return Ok(ConnectionShown::Details(Box::new(
            connection_details(state, partner, c).await?,
        )));
    }
    let health = health(state, partner, c).await?;
    Ok(ConnectionShown::Summary(ConnectionSummary {
        partner_id: c.partner_id.clone(),
        partner_name: partner.spec.name.clone(),
        state: health.state(),
    }))
}

/// What a connect would create for this partner, in words and names.
pub fn describe_profile(spec: &PartnerSpec) -> WouldCreate {
    let rules = spec.profile.rules();
    let compute = match spec.provision {
        Provision::None => None,
        Provision::NewWarehouse => Some(ProfileCompute::NewWarehouse(warehouse_name(&spec.name))),
        Provision::SelectedWarehouse => {
            Some(ProfileCompute::SelectedWarehouseOrNew(warehouse_name(&spec.name)))
        }
        Provision::NewCluster => Some(ProfileCompute::NewCluster(cluster_name(&spec.name))),
        Provision::ConnectionFile => {
            Some(ProfileCompute::ConnectionFile("for a warehouse you pick"))
        }
    };
    WouldCreate {
        chooses_schemas: rules.reads_schemas,
        compute,
        entitlements: rules.entitlements.iter().map(|e| e.as_str()).collect(),
        hive_metastore_grants: rules.grants(HIVE_METASTORE, &["<schema>".to_owned()]),
        service_principal: rules.service_principal.then(|| service_principal_name(&spec.name)),
        token_permission: rules.token_can_use.then_some("CAN_USE"),
        unity_catalog_grants: rules.grants("<catalog>", &["<schema>".to_owned()]),
        warehouse_permission: rules.warehouse_can_use.then_some("CAN_USE"),
    }
}

/// The body of a tile click.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectBody {
    pub catalog_name: Option<String>,
    pub schemas: Option<Vec<String>>,
    pub warehouse_id: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

/// The longest warehouse id accepted (real ones are 16 hex digits).
const MAX_WAREHOUSE_ID: usize = 128;

impl ConnectBody {
    /// The body with its names checked and normalized and its schemas deduplicated and capped
    /// ([`schema_selection`]), before anything is looked up: a hostile list costs nothing.
    fn checked(self) -> ApiResult<ConnectBody> {
        let catalog_name = match self.catalog_name.filter(|c| !c.is_empty()) {
            Some(c) => Some(
                patchbay_core::catalog::normalize_name(&c)
                    .map_err(|e| ApiError::bad_request(format!("catalog_name: {e}")))?,
            ),
            None => None,
        };
        let schemas = match self.schemas {
            Some(list) => Some(
                schema_selection(&list).map_err(|why| ApiError::bad_request(why.to_string()))?,
            ),
            None => None,
        };
        if let Some(w) = &self.warehouse_id
            && (w.len() > MAX_WAREHOUSE_ID || w.chars().any(char::is_control))
        {
            return Err(ApiError::bad_request(format!(
                "warehouse_id must be the id of a SQL warehouse (at most {MAX_WAREHOUSE_ID} characters)"
            )));
        }
        Ok(ConnectBody {
            catalog_name,
            schemas,
            warehouse_id: self.warehouse_id,
            dry_run: self.dry_run,
        })
    }

    /// What a checked body asks a connect for, as core's rule reads it.
    fn choices(&self) -> ConnectChoices {
        ConnectChoices {
            catalog_name: self.catalog_name.clone().filter(|c| !c.is_empty()),
            schemas: self.schemas.clone(),
            warehouse_id: self.warehouse_id.clone().filter(|w| !w.is_empty()),
        }
    }
}

pub(super) fn endpoint_of(partner: &Partner) -> ApiResult<Endpoint> {
    partner.endpoint.clone().ok_or_else(|| {
        ApiError::bad_request(format!(
            "{} has no endpoint configured in this workspace; an admin sets it with PUT /api/2.0/partner-connect/partners/{}.",
            partner.spec.name, partner.spec.id
        ))
    })
}

/// `POST /partners/{partner_id}/connect`: a tile click over the API.
pub async fn connect(
    Authenticated { state, caller }: Authenticated,
    Path(partner_id): Path<String>,
    JsonBody(body): JsonBody<ConnectBody>,
) -> ApiResult<Response> {
    Ok(Json(click(&state, &caller, &partner_id, body).await?).into_response())
}

/// Click on a tile: connect when there is no connection (admins only), sign in when there is.
/// The answer is the API's; the API and the Partner Connect page both call this.
pub async fn click(
    state: &AppState,
    caller: &Caller,
    partner_id: &str,
    body: ConnectBody,
) -> ApiResult<ClickAnswer> {
    let body = body.checked()?;
    let partner = catalog::partner(state, caller.workspace_id, partner_id).await?;
    let spec = &partner.spec;
    let existing = match spec.provision {
        // A desktop tool has no connection to read.
        Provision::ConnectionFile => None,
        _ => state.store.connection(caller.workspace_id, partner_id).await?,
    };
    let action = sign_in_rule::click(
        &spec.name,
        spec.provision,
        existing.is_some(),
        body.dry_run,
        caller.is_admin,
    )
    .map_err(refused_click)?;
    match (action, existing) {
        (Click::ConnectionFile, _) => {
            return connection_file(state, caller, &partner, body.warehouse_id.as_deref()).await;
        }
        (Click::SignIn, Some(existing)) => {
            return sign_in(state, caller, &partner, &existing).await;
        }
        _ => {}
    }
    let admin = caller.clone().require_admin().map_err(|_| {
        refused_click(ClickRefusal::OnlyAdminsConnect { partner: spec.name.clone() })
    })?;
    let facts = state.store.connect_facts(caller, spec, body.choices()).await?;
    let plan = partner::plan(&facts).map_err(|r| ApiError::bad_request(r.to_string()))?;
    if body.dry_run {
        return Ok(ClickAnswer::Plan { plan: Box::new(plan_view(&partner, &plan)) });
    }
    sign_in_rule::may_call_partner(&spec.name, caller.kind).map_err(refused_click)?;
    let endpoint = endpoint_of(&partner)?;
    let node = state.settings().node_id.as_str();
    let mut claims = 0;
    let provisioned = loop {
        match state.store.provision_connection(&admin, &plan, node).await {
            Ok(p) => break p,
            Err(StoreError::Taken(Taken::Connection { .. })) => {
                // Someone else connected first: this click is a sign-in, or must wait for theirs.
                if let Some(existing) =
                    state.store.connection(caller.workspace_id, partner_id).await?
                {
                    return sign_in(state, caller, &partner, &existing).await;
                }
                // It went between the two reads (deleted, or undone): claim the tile again.
                claims += 1;
                if claims == 3 {
                    return Err(ApiError::new(
                        StatusCode::CONFLICT,
                        "ABORTED",
                        format!(
                            "Connections to {} are being created and deleted right now; try again in a moment.",
                            partner.spec.name
                        ),
                    ));
                }
            }
            Err(e) => return Err(e.into()),
        }
    };
    let connection = provisioned.connection;
    let mut request = connect_request(
        state,
        caller,
        &connection,
        Some(Secret(provisioned.token.expose().to_owned())),
    )
    .await?;
    if !patchbay_core::partner::sends_token(&partner.spec.auth_options)
        && let Some(auth) = request.user_info.auth.as_mut()
    {
        auth.personal_access_token = None;
    }
    let key = format!("connect:{}:{}:{}", caller.workspace_id, partner_id, connection.created_at);
    let actor = Actor::of(&admin);
    let outcome = state.partner_client().connect(&endpoint, &request, &key).await;
    let hostnames = partner.hostnames();
    match outcome {
        Ok(answer) if !answer.configured_resources => {
            undo(state, &admin, &connection, "the partner did not configure its side").await?;
            Ok(ClickAnswer::Reached(Reached {
                account_status: answer.account_status,
                connection: None,
                message: Some(format!(
                    "{} did not set up the connection, so nothing was kept in the workspace.",
                    partner.spec.name
                )),
                redirect_uri: checked_redirect(&answer.redirect_uri, &hostnames).ok(),
                redirect_value: answer.redirect_value,
                user_status: answer.user_status,
            }))
        }
        Ok(answer) => {
            let checked = match check_answer(&answer, &hostnames, false) {
                Ok(redirect) => crate::oauth::record_partner_callback(
                    state,
                    &actor,
                    &connection,
                    &answer,
                    &hostnames,
                )
                .await?
                .map(|()| redirect),
                Err(problem) => Err(problem),
            };
            let redirect = match checked {
                Ok(redirect) => redirect,
                Err(problem) => {
                    undo(state, &admin, &connection, &problem).await?;
                    return Err(partner_error(&partner, &problem));
                }
            };
            let completion = Completion {
                uid: &connection.uid,
                partner_connection_id: answer.connection_id.as_deref(),
                message: None,
                account_administrator: Some(&caller.name),
            };
            complete(state, &admin, &partner, partner_id, completion).await?;
            respond(state, caller, &partner, &answer, redirect, None).await
        }
        Err(CallError::Status { status: 500, error, attempts }) => {
            // The protocol: keep what was created and send the user to the partner's sign-in page.
            let message = format!(
                "{} did not confirm the connection after {attempts} attempts; the workspace side is ready. Sign in at the partner to finish.",
                partner.spec.name
            );
            let completion = Completion {
                uid: &connection.uid,
                partner_connection_id: None,
                message: Some(&message),
                account_administrator: Some(&caller.name),
            };
            complete(state, &admin, &partner, partner_id, completion).await?;
            let connection = state
                .store
                .connection(caller.workspace_id, partner_id)
                .await?
                .ok_or_else(|| no_connection(partner_id))?;
            Ok(ClickAnswer::Unconfirmed(Box::new(Unconfirmed {
                connection: connection_details(state, &partner, &connection).await?,
                message,
                partner_message: error.and_then(|e| e.display_message),
                redirect_uri: sign_in_page(&endpoint),
                redirect_value: RedirectValue::SignIn,
            })))
        }
        Err(e) => {
            let problem = describe_failure(&partner, &e);
            undo(state, &admin, &connection, &problem).await?;
            Err(partner_error(&partner, &problem))
        }
    }
}

/// Records how the connect ended at the partner. A connection that was undone or replaced
/// meanwhile cannot complete: the click ends in a conflict, and the partner is told of the
/// connection it named.
async fn complete(
    state: &AppState,
    admin: &WorkspaceAdmin,
    partner: &Partner,
    partner_id: &str,
    completion: Completion<'_>,
) -> ApiResult<()> {
    if state.store.complete_connection(admin, partner_id, completion).await? {
        return Ok(());
    }
    let named = completion.partner_connection_id;
    Err(interrupted(state, admin.workspace_id(), partner, named).await?)
}

/// Undoes the connection a connect created, whose partner call failed: that connection only,
/// never one made after it.
async fn undo(
    state: &AppState,
    admin: &WorkspaceAdmin,
    connection: &ConnectionRecord,
    why: &str,
) -> ApiResult<()> {
    tracing::warn!(
        partner_id = %connection.partner_id,
        reason = why,
        "connect failed; undoing what it created"
    );
    state
        .store
        .undo_connect(
            admin.workspace_id(),
            &connection.partner_id,
            &connection.uid,
            &Actor::of(admin),
            why,
        )
        .await?;
    Ok(())
}

/// The answer to a connect whose connection was undone while the partner set up its side
/// (the node running it restarted, or it took longer than `--stale-connect-after`): the
/// partner is told, durably, that the connection it made is gone.
async fn interrupted(
    state: &AppState,
    workspace_id: WorkspaceId,
    partner: &Partner,
    partner_connection_id: Option<&str>,
) -> ApiResult<ApiError> {
    if let Some(id) = partner_connection_id {
        let notification =
            state.store.notify_connection_deleted(workspace_id, &partner.spec.id, id).await?;
        super::worker::deliver_now(state, notification).await?;
    }
    Ok(ApiError::new(
        StatusCode::CONFLICT,
        "ABORTED",
        format!(
            "The connect to {} was interrupted and undone before it finished; connect again.",
            partner.spec.name
        ),
    ))
}

fn partner_error(partner: &Partner, problem: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "PARTNER_ERROR",
        format!("{}: {problem}", partner.spec.name),
    )
}

fn describe_failure(partner: &Partner, e: &CallError) -> String {
    match e {
        CallError::Status { status: 401, .. } => format!(
            "{} refused patchbay's credentials (they may have been rotated); update them on the partner's settings",
            partner.spec.name
        ),
        CallError::Status { status, error: Some(body), .. } => format!(
            "the partner answered HTTP {status} ({}){}",
            serde_json::to_value(body.error_reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            body.display_message.as_ref().map(|m| format!(": {m}")).unwrap_or_default()
        ),
        other => other.to_string(),
    }
}

/// Checks a `/connect` answer against the protocol's rules; the redirect to hand on, parsed
/// and serialized again (never the partner's own string).
fn check_answer(
    answer: &Connection,
    hostnames: &[String],
    established: bool,
) -> Result<String, String> {
    let redirect = checked_redirect(&answer.redirect_uri, hostnames).map_err(|why| {
        format!(
            "the partner's redirect_uri cannot be used: {why} (allowed hosts: {})",
            hostnames.join(", ")
        )
    })?;
    if !established
        && answer.configured_resources
        && answer.connection_id.as_deref().is_none_or(str::is_empty)
    {
        return Err("the partner configured the connection but sent no connection_id".into());
    }
    Ok(redirect)
}

/// The partner's own site (the origin of its `base_url`, parsed and serialized again), where a
/// user can sign in when Partner Connect cannot take them.
fn sign_in_page(endpoint: &Endpoint) -> String {
    match url::Url::parse(&endpoint.base_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url.origin().ascii_serialization(),
        _ => String::new(),
    }
}

/// The answer to a tile click that reached the partner: the connection and where to go.
async fn respond(
    state: &AppState,
    caller: &Caller,
    partner: &Partner,
    answer: &Connection,
    redirect_uri: String,
    message: Option<String>,
) -> ApiResult<ClickAnswer> {
    let connection = match state.store.connection(caller.workspace_id, &partner.spec.id).await? {
        Some(c) => Some(connection_view(state, caller, partner, &c).await?),
        None => None,
    };
    Ok(ClickAnswer::Reached(Reached {
        account_status: answer.account_status,
        connection,
        message,
        redirect_uri: Some(redirect_uri),
        redirect_value: answer.redirect_value,
        user_status: answer.user_status,
    }))
}

/// Click on a connected tile: any workspace user signs in to the partner through it.
async fn sign_in(
    state: &AppState,
    caller: &Caller,
    partner: &Partner,
    c: &ConnectionRecord,
) -> ApiResult<ClickAnswer> {
    sign_in_rule::sign_in(&partner.spec.name, partner.spec.sign_in, c.state, caller.kind)
        .map_err(refused_click)?;
    let endpoint = endpoint_of(partner)?;
    let request = connect_request(state, caller, c, None).await?;
    let key = uuid_key();
    let hostnames = partner.hostnames();
    let actor = Actor::caller(caller);
    let outcome = state.partner_client().connect(&endpoint, &request, &key).await;
    let administrator = state
        .store
        .partner_account(caller.workspace_id, &partner.spec.id)
        .await?
        .map(|a| a.administrator_email);
    let ask_admin = || match &administrator {
        Some(a) => {
            format!("Ask your {} account administrator, {a}, to add you.", partner.spec.name)
        }
        None => format!("Ask your {} account administrator to add you.", partner.spec.name),
    };
    let result = match outcome {
        Ok(answer) => {
            let redirect =
                check_answer(&answer, &hostnames, true).map_err(|p| partner_error(partner, &p))?;
            let message = (answer.redirect_value == RedirectValue::ContactAdmin).then(ask_admin);
            respond(state, caller, partner, &answer, redirect, message).await
        }
        Err(CallError::Status { status: 404, error: Some(e), .. })
            if e.error_reason == ErrorReason::ConnectionNotFound =>
        {
            Err(ApiError::new(
                StatusCode::CONFLICT,
                "CONNECTION_NOT_FOUND",
                format!(
                    "{} no longer has this connection (it was deleted at the partner). A workspace admin must delete the connection here and connect again.",
                    partner.spec.name
                ),
            ))
        }
        Err(CallError::Status { status: 404, .. }) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "PARTNER_ACCOUNT_NOT_FOUND",
            format!(
                "You have no user in your organization's {} account. {} Or a workspace admin can delete the connection and connect again, which cannot be undone.",
                partner.spec.name,
                ask_admin()
            ),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "PARTNER_ERROR",
            format!(
                "{}: {}. You can still sign in at {}.",
                partner.spec.name,
                describe_failure(partner, &e),
                sign_in_page(&endpoint)
            ),
        )),
    };
    let outcome_text = match &result {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.code.to_owned(),
    };
    state
        .store
        .record_audit(
            caller.workspace_id,
            &actor,
            "connection.sign_in",
            ("connection", &partner.spec.id),
            Some(&partner.spec.id),
            json!({"outcome": outcome_text}),
        )
        .await?;
    result
}

fn uuid_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The dry-run answer: everything a connect would create and grant.
fn plan_view(partner: &Partner, plan: &ProvisionPlan) -> Plan {
    let compute = match &plan.compute {
        ComputePlan::None => None,
        ComputePlan::NewWarehouse(n) => Some(PlanCompute::NewWarehouse {
            auto_stop_mins: 10,
            cluster_size: "2X-Small",
            create_warehouse: n.clone(),
        }),
        ComputePlan::ExistingWarehouse(id) => {
            Some(PlanCompute::ExistingWarehouse { use_warehouse: id.clone() })
        }
        ComputePlan::NewCluster(n) => Some(PlanCompute::NewCluster { create_cluster: n.clone() }),
    };
    Plan {
        catalog_name: plan.catalog_name.clone(),
        compute,
        grants: plan.grants.clone(),
        partner_endpoint: partner
            .endpoint
            .as_ref()
            .map(|e| format!("{}{}", e.base_url.trim_end_matches('/'), e.connect_path)),
        partner_id: plan.partner_id.clone(),
        schemas: plan.schemas.clone(),
        service_principal: plan.service_principal.as_ref().map(|n| PlanPrincipal {
            display_name: n.clone(),
            entitlements: plan.entitlements.clone(),
            token_permission: plan.token_can_use.then_some("CAN_USE"),
        }),
        token: PlanToken {
            comment: "Partner Connect",
            expires: "never",
            owner: plan.service_principal.clone().unwrap_or_else(|| "the connecting user".into()),
            readable: false,
        },
        warehouse_permission: (plan.warehouse_can_use && plan.service_principal.is_some())
            .then_some("CAN_USE"),
    }
}

/// The `/connect` body for a first connect (with the connection's credential: a token, or an
/// OAuth secret with `auth.personal_access_token` null) or a sign-in (without).
async fn connect_request(
    state: &AppState,
    caller: &Caller,
    c: &ConnectionRecord,
    token: Option<Secret>,
) -> ApiResult<ConnectRequest> {
    let public_url = state.store.workspace_public_url(caller.workspace_id).await?;
    let (hostname, port) = host_and_port(&public_url);
    let user =
        state.store.get_principal(caller.workspace_id, caller.kind, caller.principal_id).await?;
    let email = match caller.kind {
        PrincipalKind::User => caller.name.clone(),
        _ => user
            .as_ref()
            .and_then(|u| u.attributes.display_name.clone())
            .unwrap_or_else(|| caller.name.clone()),
    };
    let warehouse = c.warehouse_id.as_ref().map(|id| {
        let path = format!("/sql/1.0/warehouses/{id}");
        (
            id.clone(),
            path.clone(),
            format!("jdbc:spark://{hostname}:{port}/default;transportMode=http;ssl=1;AuthMech=3;httpPath={path};"),
            format!("jdbc:databricks://{hostname}:{port}/default;httpPath={path};"),
        )
    });
    Ok(ConnectRequest {
        user_info: UserInfo {
            email,
            first_name: user
                .as_ref()
                .and_then(|u| u.attributes.given_name.clone())
                .unwrap_or_default(),
            last_name: user
                .as_ref()
                .and_then(|u| u.attributes.family_name.clone())
                .unwrap_or_default(),
            databricks_user_id: caller.principal_id.get(),
            databricks_organization_id: caller.workspace_id.get(),
            is_connection_established: token.is_none(),
            auth: token.as_ref().map(|t| Auth {
                personal_access_token: (c.credential == Credential::Token).then(|| t.clone()),
                oauth_token: None,
                oauth_scope: None,
            }),
        },
        connection_id: if c.state == ConnectionState::Connecting {
            None
        } else {
            c.partner_connection_id.clone()
        },
        hostname: hostname.clone(),
        port,
        workspace_url: public_url.clone(),
        workspace_id: caller.workspace_id.get(),
        demo: false,
        cloud_provider: state.settings().cloud_provider.as_str().into(),
        cloud_provider_region: None,
        is_free_trial: false,
        http_path: warehouse.as_ref().map(|w| w.1.clone()),
        jdbc_url: warehouse.as_ref().map(|w| w.2.clone()),
        databricks_jdbc_url: warehouse.as_ref().map(|w| w.3.clone()),
        destination_location: None,
        catalog_name: c.catalog_name.clone(),
        database_name: None,
        cluster_id: warehouse.as_ref().map(|w| w.0.clone()).or_else(|| c.cluster_id.clone()),
        is_sql_endpoint: Some(warehouse.is_some()),
        is_sql_warehouse: Some(warehouse.is_some()),
        data_source_connector: None,
        service_principal_id: c.application_id.clone(),
        service_principal_oauth_secret: token.filter(|_| c.credential == Credential::OAuthSecret),
        oauth_u2m_app_id: state
            .store
            .connection_oauth_app(c.workspace_id, &c.partner_id)
            .await?
            .map(|app| app.client_id),
        connection_scope: Some("workspace".into()),
    })
}

fn host_and_port(url: &str) -> (String, i32) {
    let https = url.starts_with("https://");
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or_default();
    match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => {
            (h.to_owned(), p.parse().unwrap_or(443))
        }
        _ => (authority.to_owned(), if https { 443 } else { 80 }),
    }
}

/// Desktop tools: a connection file for a warehouse the user may use. No token in it.
async fn connection_file(
    state: &AppState,
    caller: &Caller,
    partner: &Partner,
    warehouse_id: Option<&str>,
) -> ApiResult<ClickAnswer> {
    let id = warehouse_id.filter(|w| !w.is_empty()).ok_or_else(|| {
        ApiError::bad_request(format!(
            "Pick the SQL warehouse {} should use ('warehouse_id').",
            partner.spec.name
        ))
    })?;
    let usable = state.store.may(caller, ObjectKind::Warehouse, id, Action::Start).await?;
    if !usable || state.store.get_warehouse(caller.workspace_id, id).await?.is_none() {
        return Err(ApiError::bad_request(format!(
            "SQL warehouse {id} does not exist or you cannot use it."
        )));
    }
    let public_url = state.store.workspace_public_url(caller.workspace_id).await?;
    let (host, port) = host_and_port(&public_url);
    let path = format!("/sql/1.0/warehouses/{id}");
    let (file_name, content_type, content) = match partner.spec.id.as_str() {
        "power-bi" => (
            format!("{id}.pbids"),
            "application/json",
            file_text(&PbidsFile {
                connections: [PbidsConnection {
                    details: PbidsDetails {
                        address: PbidsAddress {
                            host: &host,
                            path: &path,
                        },
                        protocol: "databricks-sql",
                    },
                    mode: "DirectQuery",
                }],
                version: "0.1",
            })?,
        ),
        "tableau" => (
            format!("{id}.tds"),
            "application/xml",
            format!(
                "<?xml version='1.0' encoding='utf-8' ?>
<datasource formatted-name='databricks' inline='true' version='18.1'>
  <connection class='databricks' dbname='' http-path='{path}' server='{host}' port='{port}' authentication='auth-pass' />
</datasource>
"
            ),
        ),
        _ => (
            format!("{id}.json"),
            "application/json",
            file_text(&JsonConnectionFile {
                authentication: "personal access token of your own",
                host: &host,
                http_path: &path,
                port,
            })?,
        ),
    };
    Ok(ClickAnswer::ConnectionFile {
        connection_file: ConnectionFile { content, content_type, file_name },
    })
}

/// A connection file's JSON text.
fn file_text(file: &impl serde::Serialize) -> ApiResult<String> {
    serde_json::to_string(file).map_err(ApiError::internal)
}

/// Reset the tile: delete the connection's compute, principal and tokens, then tell the
/// partner. The partner account stays. `?uid=` names the connection the caller saw: a
/// connection made since is not deleted.
pub async fn delete_connection(
    Admin { state, admin }: Admin,
    Path(partner_id): Path<String>,
    Params(query): Params<ExpectedConnection>,
) -> ApiResult<Json<Deleted>> {
    Ok(Json(delete(&state, &admin, &partner_id, query.uid.as_deref()).await?))
}

/// The connection a caller saw, by its identity.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedConnection {
    pub uid: Option<String>,
}

/// Deletes a connection and everything it created; the API and the page both call this.
/// Decided inside the transaction that deletes: of concurrent deletes one is acknowledged,
/// the others find nothing to delete.
pub async fn delete(
    state: &AppState,
    admin: &WorkspaceAdmin,
    partner_id: &str,
    expected_uid: Option<&str>,
) -> ApiResult<Deleted> {
    // An unknown partner is a 404 before anything is touched.
    catalog::partner(state, admin.workspace_id(), partner_id).await?;
    let removed = state
        .store
        .remove_connection(
            admin,
            partner_id,
            Removal { uid: expected_uid, reason: "deleted by an admin" },
        )
        .await?;
    let Some(removed) = removed else {
        let still_connected = expected_uid.is_some()
            && state.store.connection(admin.workspace_id(), partner_id).await?.is_some();
        return Err(refused(delete_rule::delete_missed(partner_id, expected_uid, still_connected)));
    };
    // The notification is durable: if this delivery fails, the worker retries it.
    let partner_status = match removed.notification {
        Some(id) => super::worker::deliver_now(state, id).await?.unwrap_or_else(|| "queued".into()),
        None => "not_notified".into(),
    };
    let removed = removed.connection;
    Ok(Deleted {
        deleted: DeletedObjects {
            cluster_id: removed.cluster_id,
            partner_id: removed.partner_id,
            service_principal: removed.service_principal_name,
            warehouse_id: removed.warehouse_id.filter(|_| removed.warehouse_created),
        },
        partner_status,
    })
}

/// Token rotation: a new token for the connection's principal, delivered to the partner
/// through patchbay's `/rotate-token` extension; the old one is revoked only once delivery
/// succeeded. Without that endpoint the new value is shown once and the old one stays until an
/// admin confirms with `{"revoke_token_id": …}`.
pub async fn rotate_token(
    Admin { state, admin }: Admin,
    Path(partner_id): Path<String>,
    JsonBody(body): JsonBody<RotateBody>,
) -> ApiResult<Json<Rotated>> {
    Ok(Json(rotate(&state, &admin, &partner_id, body).await?))
}

/// Rotates a connection's token; the API and the page both call this. The rotation is one
/// state of the connection: a second one while the first delivers is a conflict, and the new
/// token is recorded before it is sent, so it is either the partner's in the end or revoked.
pub async fn rotate(
    state: &AppState,
    admin: &WorkspaceAdmin,
    partner_id: &str,
    body: RotateBody,
) -> ApiResult<Rotated> {
    let partner = catalog::partner(state, admin.workspace_id(), partner_id).await?;
    let c = state
        .store
        .connection(admin.workspace_id(), partner_id)
        .await?
        .ok_or_else(|| no_connection(partner_id))?;
    // Whether it can rotate at all comes first, before the endpoint is needed.
    delete_rule::rotation(&partner.spec.name, &c, false).map_err(refused)?;
    if let Some(old) = body.revoke_token_id {
        state.store.finish_rotation(admin, partner_id, &old).await?;
        return Ok(Rotated::Revoked { revoked_token_id: old });
    }
    let actor = Actor::of(admin);
    let endpoint = endpoint_of(&partner)?;
    let node = state.settings().node_id.as_str();
    let uid = body.uid.as_deref();
    let mode = delete_rule::rotation(&partner.spec.name, &c, endpoint.rotate_token_path.is_some())
        .map_err(refused)?;
    let rotation = match mode {
        RotationMode::Deliver => Rotation::Deliver { uid },
        RotationMode::Manual => Rotation::Manual { uid },
    };
    let started = state
        .store
        .begin_rotation(admin.workspace_id(), partner_id, &actor, rotation, node)
        .await?;
    if mode == RotationMode::Deliver {
        let token_id = started.token_id.clone();
        let old_token_id = started.connection.token_id.clone();
        match deliver_rotation(state, &partner, &endpoint, started, &actor).await? {
            Ok(revoked) => Ok(Rotated::Delivered {
                delivered: true,
                revoked_token_id: revoked.or(old_token_id),
                token_id,
            }),
            Err(e) => Err(partner_error(
                &partner,
                &format!(
                    "the new token could not be delivered ({}); the old token still works",
                    describe_failure(&partner, &e)
                ),
            )),
        }
    } else {
        let old_token_id = started.connection.token_id.clone();
        let what = match started.connection.credential {
            Credential::Token => "token",
            Credential::OAuthSecret => "OAuth secret",
        };
        let message = format!(
            "{} cannot receive a new {what} automatically: enter this {what} in its settings (it is shown only now), then confirm with {{\"revoke_token_id\": \"{}\"}} to revoke the old one.",
            partner.spec.name,
            old_token_id.as_deref().unwrap_or("")
        );
        Ok(Rotated::Manual(ManualRotation {
            credential: started.connection.credential.as_db(),
            delivered: false,
            message,
            old_token_id,
            token_id: started.token_id,
            token_value: started.token,
        }))
    }
}

/// Sends a started rotation's token to the partner and settles it: delivered, the old token
/// is revoked (`Ok(Ok(revoked))`); refused or unreachable, the new one is (`Ok(Err(why))`).
/// The API's rotation and the worker's resumption of an interrupted one both end here.
pub async fn deliver_rotation(
    state: &AppState,
    partner: &Partner,
    endpoint: &Endpoint,
    started: patchbay_store::Rotated,
    actor: &Actor,
) -> Result<Result<Option<String>, CallError>, StoreError> {
    let c = &started.connection;
    let request = RotateTokenRequest {
        connection_id: c.partner_connection_id.clone().unwrap_or_default(),
        databricks_organization_id: c.workspace_id.get(),
        auth: Auth {
            personal_access_token: (c.credential == Credential::Token
                && patchbay_core::partner::sends_token(&partner.spec.auth_options))
            .then(|| Secret(started.token.expose().to_owned())),
            oauth_token: None,
            oauth_scope: None,
        },
        service_principal_oauth_secret: (c.credential == Credential::OAuthSecret)
            .then(|| Secret(started.token.expose().to_owned())),
    };
    let delivery = state
        .partner_client()
        .rotate_token(endpoint, &request, &format!("rotate:{}", started.token_id))
        .await
        .unwrap_or_else(|| {
            Err(CallError::Unreachable("the partner has no rotate-token endpoint".into()))
        });
    let delivered = delivery.is_ok();
    let settled = state
        .store
        .settle_rotation(
            c.workspace_id,
            &partner.spec.id,
            &c.uid,
            &started.token_id,
            delivered,
            actor,
        )
        .await?;
    Ok(delivery.map(|_| settled))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    pub revoke_token_id: Option<String>,
    /// The connection the caller saw (its `uid`): a connection made since is not rotated.
    pub uid: Option<String>,
}

/// Repair: restores the connection principal's entitlements, token permission and grants, and
/// a deleted token by rotating (delivering a new one to the partner). What cannot be restored
/// safely (a deleted principal or compute) is reported.
pub async fn repair(
    Admin { state, admin }: Admin,
    Path(partner_id): Path<String>,
) -> ApiResult<Json<Repair>> {
    let partner = catalog::partner(&state, admin.workspace_id(), &partner_id).await?;
    let restore =
        partner::restoration(&partner.spec).map_err(|r| ApiError::bad_request(r.to_string()))?;
    let mut done = state
        .store
        .repair_connection(&admin, &partner_id, &restore.entitlements, restore.token_can_use)
        .await?;
    let c = state
        .store
        .connection(admin.workspace_id(), &partner_id)
        .await?
        .ok_or_else(|| no_connection(&partner_id))?;
    if let Some(token_id) = &c.token_id
        && !state.store.credential_exists(admin.workspace_id(), c.credential, token_id).await?
    {
        let rotated = rotate_token(
            Admin { state: state.clone(), admin: admin.clone() },
            Path(partner_id.clone()),
            JsonBody(RotateBody::default()),
        )
        .await?;
        done.push(Repaired::NewToken {
            answer: serde_json::to_string(&rotated.0).map_err(ApiError::internal)?,
        });
    }
    let now = state
        .store
        .connection(admin.workspace_id(), &partner_id)
        .await?
        .ok_or_else(|| no_connection(&partner_id))?;
    let health = health(&state, &partner, &now).await?;
    Ok(Json(Repair {
        done: done.iter().map(ToString::to_string).collect(),
        reasons: health.reasons().iter().map(ToString::to_string).collect(),
        state: health.state(),
    }))
}

/// Asks the partner's `/test-connection` about a connected connection; `None` when the partner
/// has no such endpoint or the connection is not established there.
pub async fn partner_test(
    state: &AppState,
    partner: &Partner,
    c: &ConnectionRecord,
) -> Option<(bool, String)> {
    let connection_id = c.partner_connection_id.clone()?;
    let endpoint = endpoint_of(partner).ok()?;
    let request = patchbay_partner::protocol::ConnectionInfo {
        connection_id,
        cloud_provider: Some(state.settings().cloud_provider.as_str().into()),
        databricks_organization_id: Some(c.workspace_id.get()),
    };
    match state.partner_client().test_connection(&endpoint, &request).await? {
        Ok(result) => {
            let failed: Vec<String> = result
                .test_results
                .iter()
                .filter(|t| t.status == patchbay_partner::protocol::TestStatus::Fail)
                .map(|t| format!("{}: {}", t.test_name, t.message.clone().unwrap_or_default()))
                .collect();
            Some((
                failed.is_empty(),
                if failed.is_empty() { "all tests passed".into() } else { failed.join("; ") },
            ))
        }
        Err(e) => Some((false, describe_failure(partner, &e))),
    }
}
