//! What the API families' response types share. Each family declares its answers as
//! `Serialize` structs next to its handlers; fields are declared in the order they go on the
//! wire (alphabetical where an answer was first written as a `json!` map, so its bytes stayed
//! the same), and an optional field is left out rather than sent as `null` unless the API
//! says otherwise.

use patchbay_core::principal::PrincipalKind;
use serde::Serialize;

/// `{}`: the answer of a call that changes something and has nothing to report.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct Empty {}

/// The `{}` answer, ready to return from a handler.
pub(crate) fn empty() -> axum::Json<Empty> {
    axum::Json(Empty {})
}

/// A principal by the name the API uses for its kind (a user's `userName`, a group's display
/// name, a service principal's application id): exactly one field is set. Flattened into the
/// entries of ACLs and member lists.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct PrincipalName {
    #[serde(skip_serializing_if = "Option::is_none")]
    group_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service_principal_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_name: Option<String>,
}

impl PrincipalName {
    pub(crate) fn new(kind: PrincipalKind, name: String) -> PrincipalName {
        let name = Some(name);
        let (group_name, service_principal_name, user_name) = match kind {
            PrincipalKind::Group => (name, None, None),
            PrincipalKind::ServicePrincipal => (None, name, None),
            PrincipalKind::User => (None, None, name),
        };
        PrincipalName { group_name, service_principal_name, user_name }
    }
}
