//! The partners a workspace can connect to: the built-in catalog plus the partners its admins
//! registered, each with the endpoint configured for it.

use crate::AppState;
use crate::error::{ApiError, ApiResult};
use patchbay_core::partner::{PartnerSpec, builtin_partners};
use patchbay_store::{PartnerEndpoint, PartnerSettings};

/// One partner of a workspace.
#[derive(Debug, Clone)]
pub struct Partner {
    pub spec: PartnerSpec,
    pub builtin: bool,
    pub endpoint: Option<PartnerEndpoint>,
}

/// Every partner of the workspace, built-in ones first in catalog order.
pub async fn partners(state: &AppState, workspace_id: i64) -> ApiResult<Vec<Partner>> {
    let settings = state.store.partner_settings(workspace_id).await?;
    Ok(merge(builtin_partners(), settings))
}

/// One partner, or a 404 naming it.
pub async fn partner(state: &AppState, workspace_id: i64, partner_id: &str) -> ApiResult<Partner> {
    let settings = state
        .store
        .partner_setting(workspace_id, partner_id)
        .await?
        .into_iter()
        .collect();
    merge(builtin_partners(), settings)
        .into_iter()
        .find(|p| p.spec.id == partner_id)
        .ok_or_else(|| unknown(partner_id))
}

pub fn unknown(partner_id: &str) -> ApiError {
    ApiError::not_found(format!("Partner '{partner_id}' does not exist."))
}

fn merge(builtins: Vec<PartnerSpec>, settings: Vec<PartnerSettings>) -> Vec<Partner> {
    let mut out: Vec<Partner> = builtins
        .into_iter()
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
        Some(Partner {
            spec,
            builtin: false,
            endpoint: s.endpoint,
        })
    }));
    out
}
