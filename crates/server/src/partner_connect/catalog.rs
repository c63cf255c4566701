//! The partners a workspace can connect to: the built-in catalog plus the partners its admins
//! registered, each with the endpoint configured for it.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use patchbay_core::WorkspaceId;
use patchbay_core::partner::{PartnerSpec, builtin_partners};
use patchbay_store::{PartnerEndpoint, PartnerSettings};

/// One partner of a workspace.
#[derive(Debug, Clone)]
pub struct Partner {
    pub spec: PartnerSpec,
    pub builtin: bool,
    pub endpoint: Option<PartnerEndpoint>,
}

impl Partner {
    /// The hosts the partner may send a user back to after a connect: its endpoint's
    /// allow-list, none without an endpoint.
    pub fn hostnames(&self) -> Vec<String> {
        self.endpoint.as_ref().map(|e| e.hostnames.clone()).unwrap_or_default()
    }
}

/// Every partner of the workspace, built-in ones first in catalog order, for listings: their
/// endpoints carry no password (see [`patchbay_store::Store::partner_listing`]); a partner to
/// call is loaded with [`partner`].
pub async fn partners(state: &AppState, workspace_id: WorkspaceId) -> ApiResult<Vec<Partner>> {
    let settings = state.store.partner_listing(workspace_id).await?;
    Ok(merge(builtin_partners(), settings))
}

/// One partner, or a 404 naming it. A built-in partner of that id comes first, as in
/// [`partners`].
pub async fn partner(
    state: &AppState,
    workspace_id: WorkspaceId,
    partner_id: &str,
) -> ApiResult<Partner> {
    let setting = state.store.partner_setting(workspace_id, partner_id).await?;
    if let Some(spec) = builtin_partners().iter().find(|p| p.id == partner_id) {
        return Ok(Partner {
            spec: spec.clone(),
            builtin: true,
            endpoint: setting.filter(|s| s.custom.is_none()).and_then(|s| s.endpoint),
        });
    }
    setting
        .and_then(|s| Some(Partner { spec: s.custom?, builtin: false, endpoint: s.endpoint }))
        .ok_or_else(|| unknown(partner_id))
}

pub fn unknown(partner_id: &str) -> ApiError {
    ApiError::not_found(format!("Partner '{partner_id}' does not exist."))
}

fn merge(builtins: &[PartnerSpec], settings: Vec<PartnerSettings>) -> Vec<Partner> {
    let mut out: Vec<Partner> = builtins
        .iter()
        .cloned()
        .map(|spec| Partner {
            endpoint: settings
                .iter()
                .find(|s| s.partner_id == spec.id && s.custom.is_none())
                .and_then(|s| s.endpoint.clone()),
            spec,
            builtin: true,
        })
        .collect();
    out.extend(settings.into_iter().filter_map(|s| {
        let spec = s.custom?;
        Some(Partner { spec, builtin: false, endpoint: s.endpoint })
    }));
    out
}
