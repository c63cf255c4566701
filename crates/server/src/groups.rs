//! The legacy Groups API (`/api/2.0/groups`), which `databricks groups …` (databricks-cli) calls:
//! groups and their members by name. The same groups and memberships as SCIM, with SCIM's
//! rules: any user may read, only admins change anything (the [`Admin`] extractor), built-in
//! groups cannot be deleted, no group joins `admins`.
//!
//! The legacy CLI sends `Content-Type: text/json`, and clients send the parameters of a GET
//! in the query string or in a JSON body: both are read, the body's fields winning.

use crate::AppState;
use crate::auth::{Admin, Authenticated};
use crate::body::JsonBody;
use crate::error::{ApiError, ApiResult};
use crate::params::{query_pairs, required};
use crate::response::{Empty, PrincipalName, empty};
use axum::Json;
use axum::Router;
use axum::extract::{FromRequest, Request};
use axum::routing::{MethodRouter, get, post};
use patchbay_core::access::WorkspaceAdmin;
use patchbay_core::principal::validate_display_name;
use patchbay_store::NamedPrincipal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

const BASE: &str = "/api/2.0/groups";

#[derive(Debug, Serialize)]
struct Created {
    group_name: String,
}

#[derive(Debug, Serialize)]
struct GroupNames {
    group_names: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Members {
    members: Vec<PrincipalName>,
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{BASE}/create"), post(create))
        .route(&format!("{BASE}/list"), get(list))
        .route(&format!("{BASE}/add-member"), Membership::Add.route())
        .route(&format!("{BASE}/remove-member"), Membership::Remove.route())
        .route(&format!("{BASE}/list-members"), get(list_members))
        .route(&format!("{BASE}/list-parents"), get(list_parents))
        .route(&format!("{BASE}/delete"), post(delete))
}

/// Parameters from the query string and the JSON body together. Unlike
/// [`crate::params::Params`], the body keeps its JSON types (`{"group_name": 7}` is a malformed
/// request, not the group `7`) and a body field wins over the same query parameter, as the
/// legacy Groups API has always read them.
struct Params<T>(T);

impl<S, T> FromRequest<S> for Params<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let mut fields = Map::new();
        for (k, v) in query_pairs(req.uri().query().unwrap_or_default())? {
            fields.insert(k, Value::String(v));
        }
        // The body's size limit, read errors and JSON errors are JsonBody's.
        let JsonBody(body) = JsonBody::<Value>::from_request(req, state).await?;
        match body {
            Value::Object(body) => fields.extend(body),
            _ => {
                return Err(ApiError::malformed("The request body must be a JSON object"));
            }
        }
        serde_json::from_value(Value::Object(fields))
            .map(Params)
            .map_err(|e| ApiError::malformed(format!("Invalid request: {e}")))
    }
}

#[derive(Debug, Deserialize)]
struct GroupName {
    group_name: Option<String>,
}

/// `{"user_name" | "group_name", "parent_name"}` of add-member and remove-member, and
/// `{"user_name" | "group_name"}` of list-parents.
#[derive(Debug, Deserialize)]
struct MemberParams {
    user_name: Option<String>,
    group_name: Option<String>,
    parent_name: Option<String>,
}

fn group_name(value: Option<String>, field: &str) -> ApiResult<String> {
    let name = required(value, field)?;
    validate_display_name(field, &name).map_err(ApiError::bad_request)?;
    Ok(name)
}

/// Exactly one of `user_name` (a user, or a service principal's application id) and
/// `group_name`.
fn member(params: &MemberParams) -> ApiResult<NamedPrincipal> {
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    match (nonempty(&params.user_name), nonempty(&params.group_name)) {
        (Some(user), None) => Ok(NamedPrincipal::User(user)),
        (None, Some(group)) => Ok(NamedPrincipal::Group(group)),
        _ => Err(ApiError::bad_request("Exactly one of user_name and group_name must be given")),
    }
}

async fn create(
    Admin { state, admin }: Admin,
    Params(params): Params<GroupName>,
) -> ApiResult<Json<Created>> {
    let name = group_name(params.group_name, "group_name")?;
    state.store.create_group_named(&admin, &name).await?;
    tracing::info!(group = %name, "group created");
    Ok(Json(Created { group_name: name }))
}

async fn list(Authenticated { state, caller }: Authenticated) -> ApiResult<Json<GroupNames>> {
    let names = state.store.group_names(caller.workspace_id).await?;
    Ok(Json(GroupNames { group_names: names }))
}

async fn list_members(
    Authenticated { state, caller }: Authenticated,
    Params(params): Params<GroupName>,
) -> ApiResult<Json<Members>> {
    let name = group_name(params.group_name, "group_name")?;
    let members = state
        .store
        .group_members_named(caller.workspace_id, &name)
        .await?
        .into_iter()
        .map(|m| PrincipalName::new(m.kind, m.name))
        .collect();
    Ok(Json(Members { members }))
}

async fn list_parents(
    Authenticated { state, caller }: Authenticated,
    Params(params): Params<MemberParams>,
) -> ApiResult<Json<GroupNames>> {
    let who = member(&params)?;
    let names = state.store.group_parents_named(caller.workspace_id, &who).await?;
    Ok(Json(GroupNames { group_names: names }))
}

/// add-member and remove-member: one request, one store call each, one log line.
#[derive(Debug, Clone, Copy)]
enum Membership {
    Add,
    Remove,
}

impl Membership {
    /// The route for this change: `{"parent_name", "user_name" | "group_name"}` in, `{}` out.
    fn route(self) -> MethodRouter<AppState> {
        post(move |Admin { state, admin }: Admin, Params(params): Params<MemberParams>| {
            self.run(state, admin, params)
        })
    }

    async fn run(
        self,
        state: AppState,
        admin: WorkspaceAdmin,
        params: MemberParams,
    ) -> ApiResult<Json<Empty>> {
        let parent = group_name(params.parent_name.clone(), "parent_name")?;
        let who = member(&params)?;
        let store = &state.store;
        let changed = match self {
            Membership::Add => store.add_group_member_named(&admin, &parent, &who).await,
            Membership::Remove => store.remove_group_member_named(&admin, &parent, &who).await,
        };
        changed?;
        let done = match self {
            Membership::Add => "added",
            Membership::Remove => "removed",
        };
        tracing::info!(group = %parent, "group member {done}");
        Ok(empty())
    }
}

async fn delete(
    Admin { state, admin }: Admin,
    Params(params): Params<GroupName>,
) -> ApiResult<Json<Empty>> {
    let name = group_name(params.group_name, "group_name")?;
    state.store.delete_group_named(&admin, &name).await?;
    tracing::info!(group = %name, "group deleted");
    Ok(empty())
}
