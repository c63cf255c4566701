//! Grants on securables, direct and effective.

use super::*;
use patchbay_core::WorkspaceId;
use patchbay_core::catalog::Privilege;

/// The grants on a securable, direct (`privileges` are names) or effective (`privileges` say
/// where each was granted).
#[derive(Debug, Serialize)]
pub(super) struct PermissionsList<P> {
    privilege_assignments: Vec<Assignment<P>>,
}

/// The privileges of one principal.
#[derive(Debug, Serialize)]
pub(super) struct Assignment<P> {
    principal: String,
    privileges: Vec<P>,
}

/// A privilege in effect, and the catalog or schema it is inherited from, if any.
#[derive(Debug, Serialize)]
pub(super) struct EffectivePrivilegeInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    inherited_from_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    inherited_from_type: Option<&'static str>,
    privilege: Privilege,
}

impl From<Vec<PrivilegeAssignment>> for PermissionsList<Privilege> {
    fn from(list: Vec<PrivilegeAssignment>) -> Self {
        let privilege_assignments = list
            .into_iter()
            .map(|a| Assignment { principal: a.principal, privileges: a.privileges })
            .collect();
        PermissionsList { privilege_assignments }
    }
}

impl From<Vec<EffectiveAssignment>> for PermissionsList<EffectivePrivilegeInfo> {
    fn from(list: Vec<EffectiveAssignment>) -> Self {
        let privilege = |p: EffectivePrivilege| EffectivePrivilegeInfo {
            inherited_from_name: p.inherited_from.as_ref().map(Securable::full_name),
            inherited_from_type: p
                .inherited_from
                .as_ref()
                .map(|from| from.securable_type().as_upper()),
            privilege: p.privilege,
        };
        let privilege_assignments = list
            .into_iter()
            .map(|a| Assignment {
                principal: a.principal,
                privileges: a.privileges.into_iter().map(privilege).collect(),
            })
            .collect();
        PermissionsList { privilege_assignments }
    }
}

/// A grants PATCH's answer: the grants after it, or `{}` when the caller asked for none.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum Updated {
    Grants(PermissionsList<Privilege>),
    Omitted(Empty),
}

// ---- grants ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PermissionsChange {
    principal: Option<String>,
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UpdatePermissions {
    /// Required, as a PATCH without changes (or without a body) is a client's mistake that
    /// would otherwise answer 200; an explicit `[]` reads the grants back unchanged.
    changes: Option<Vec<PermissionsChange>>,
    #[serde(default)]
    omit_permissions_in_response: bool,
}

/// The securable of a grants path. A metastore is named by its id, which must be the
/// workspace's.
pub(super) async fn grants_securable(
    state: &AppState,
    workspace_id: WorkspaceId,
    securable_type: &str,
    full_name: &str,
) -> ApiResult<Securable> {
    let s = securable(securable_type, full_name)?;
    if s.securable_type() == SecurableType::Metastore {
        let assigned = state.store.metastore_assignment(workspace_id).await?;
        if assigned.is_none_or(|a| a.metastore_id != full_name) {
            return Err(ApiError::does_not_exist(
                "METASTORE_DOES_NOT_EXIST",
                format!("Metastore '{full_name}' is not this workspace's metastore."),
            ));
        }
    }
    Ok(s)
}

/// The grants API's `max_results`: below 0, or between 1 and 149, is refused (so that a page
/// can always hold a whole assignment); every assignment fits the server's page.
pub(super) fn check_grants_page(max_results: Option<&str>) -> ApiResult<()> {
    let Some(raw) = max_results.filter(|s| !s.is_empty()) else {
        return Ok(());
    };
    match raw.parse::<i64>() {
        Ok(0) => Ok(()),
        Ok(n) if n >= 150 => Ok(()),
        _ => Err(ApiError::bad_request(format!(
            "max_results must be 0 or at least 150, not '{raw}'"
        ))),
    }
}

pub(super) async fn get_grants(
    Authenticated { state, caller }: Authenticated,
    Path((securable_type, full_name)): Path<(String, String)>,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<PermissionsList<Privilege>>> {
    check_grants_page(params.max_results.as_deref())?;
    let s = grants_securable(&state, caller.workspace_id, &securable_type, &full_name).await?;
    let list = state.store.grants(&caller, &s, params.principal.as_deref()).await?;
    Ok(Json(PermissionsList::from(list)))
}

pub(super) async fn update_grants(
    Authenticated { state, caller }: Authenticated,
    Path((securable_type, full_name)): Path<(String, String)>,
    JsonBody(req): JsonBody<UpdatePermissions>,
) -> ApiResult<Json<Updated>> {
    let changes = req
        .changes
        .ok_or_else(|| {
            ApiError::bad_request(
                "changes is required: a list of {principal, add, remove} to apply.",
            )
        })?
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            Ok(GrantChange {
                principal: c
                    .principal
                    .filter(|p| !p.trim().is_empty())
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "changes[{i}].principal is required (user e-mail, group name or application id)"
                        ))
                    })?,
                add: c.add,
                remove: c.remove,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let s = grants_securable(&state, caller.workspace_id, &securable_type, &full_name).await?;
    let list = state.store.update_grants(&caller, &s, &changes).await?;
    tracing::info!(securable = %s, changes = changes.len(), "grants changed");
    if req.omit_permissions_in_response {
        return Ok(Json(Updated::Omitted(Empty {})));
    }
    Ok(Json(Updated::Grants(PermissionsList::from(list))))
}

pub(super) async fn get_effective(
    Authenticated { state, caller }: Authenticated,
    Path((securable_type, full_name)): Path<(String, String)>,
    Params(params): Params<ListParams>,
) -> ApiResult<Json<PermissionsList<EffectivePrivilegeInfo>>> {
    check_grants_page(params.max_results.as_deref())?;
    let s = grants_securable(&state, caller.workspace_id, &securable_type, &full_name).await?;
    let list = state.store.effective_grants(&caller, &s, params.principal.as_deref()).await?;
    Ok(Json(PermissionsList::from(list)))
}
