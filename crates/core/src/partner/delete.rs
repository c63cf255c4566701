//! What deleting a connection removes, and when a delete or a rotation is refused. Decided on
//! the connection as the transaction that acts on it reads it.

use super::{ConnectionRecord, ConnectionState};
use crate::PrincipalId;

/// Why a removal or a rotation does not go ahead. Its text is the client's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// An admin's delete (or a rotation) while a connect is in flight (409).
    #[error("A connection to {partner_id} is being created right now; try again in a moment.")]
    Connecting { partner_id: String },
    /// The connection is not the one the caller saw (409).
    #[error("The connection to {partner_id} changed since it was read; look at it again.")]
    Changed { partner_id: String },
    /// There is no connection (any more) (404).
    #[error("The workspace has no connection to {partner_id}.")]
    NoConnection { partner_id: String },
    /// The connection has no service principal, so no token of its own to rotate (400).
    #[error("The connection to {partner} has no service principal whose token could rotate.")]
    NothingToRotate { partner: String },
}

/// Who removes a connection, which decides whether one still being created may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remover {
    /// An admin's delete: a connection still being created is a conflict.
    Admin,
    /// Undoing a connect that failed or was interrupted: it is still being created.
    Undo,
}

/// What a connection's principal leaves behind when the connection goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalRemoval {
    /// Its service principal goes, and with it every token, secret, permission and grant.
    ServicePrincipal { id: PrincipalId, application_id: String },
    /// A partner acting as the connecting user holds tokens of that user: each one the
    /// connection made is revoked.
    UserTokens(Vec<String>),
    /// The principal was deleted behind the connection's back, and its tokens with it.
    Gone,
}

/// Everything a removal deletes, and the partner's notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovalPlan {
    /// The warehouse the connection created (never one the user selected).
    pub warehouse: Option<String>,
    pub cluster: Option<String>,
    pub principal: PrincipalRemoval,
    /// The partner's id of the connection, when the partner must hear of the removal.
    pub notify: Option<String>,
}

/// What removing `c` does. `Ok(None)`: it is not the connection the caller named
/// (`expected_uid`), so nothing is removed.
pub fn removal(
    c: &ConnectionRecord,
    expected_uid: Option<&str>,
    by: Remover,
) -> Result<Option<RemovalPlan>, Refusal> {
    if expected_uid.is_some_and(|uid| uid != c.uid) {
        return Ok(None);
    }
    if c.state == ConnectionState::Connecting && by == Remover::Admin {
        return Err(Refusal::Connecting { partner_id: c.partner_id.clone() });
    }
    let principal = match c.service_principal_id {
        Some(id) => PrincipalRemoval::ServicePrincipal {
            id,
            application_id: c.application_id.clone().unwrap_or_default(),
        },
        None if c.service_principal_name.is_none() => {
            PrincipalRemoval::UserTokens(c.credentials().map(str::to_owned).collect())
        }
        None => PrincipalRemoval::Gone,
    };
    Ok(Some(RemovalPlan {
        warehouse: c.warehouse_id.clone().filter(|_| c.warehouse_created),
        cluster: c.cluster_id.clone(),
        principal,
        notify: c.partner_connection_id.clone(),
    }))
}

/// Why a delete removed nothing: the connection the caller named was replaced by another
/// (`still_connected`), or there is none.
pub fn delete_missed(
    partner_id: &str,
    expected_uid: Option<&str>,
    still_connected: bool,
) -> Refusal {
    let partner_id = partner_id.to_owned();
    if expected_uid.is_some() && still_connected {
        Refusal::Changed { partner_id }
    } else {
        Refusal::NoConnection { partner_id }
    }
}

/// How a rotation delivers the new credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationMode {
    /// Sent to the partner's `/rotate-token`; the old one is revoked once it took the new one.
    Deliver,
    /// Shown once to the admin, who enters it at the partner and confirms; the old one stays
    /// until then.
    Manual,
}

/// Whether a connection's credential can rotate, and how: only a service principal's, sent to
/// the partner when it has a rotate-token endpoint and knows the connection.
pub fn rotation(
    partner: &str,
    c: &ConnectionRecord,
    partner_rotates: bool,
) -> Result<RotationMode, Refusal> {
    if c.application_id.is_none() || c.service_principal_id.is_none() {
        return Err(Refusal::NothingToRotate { partner: partner.to_owned() });
    }
    Ok(if partner_rotates && c.partner_connection_id.is_some() {
        RotationMode::Deliver
    } else {
        RotationMode::Manual
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partner::connection::tests::connected;

    #[test]
    fn deleting_a_connection_removes_what_it_created_and_tells_the_partner() {
        let c = connected();
        let plan = removal(&c, None, Remover::Admin).unwrap().unwrap();
        assert_eq!(
            plan,
            RemovalPlan {
                warehouse: Some("w1".into()),
                cluster: None,
                principal: PrincipalRemoval::ServicePrincipal {
                    id: PrincipalId::new(7),
                    application_id: "app".into()
                },
                notify: Some("c-1".into()),
            }
        );
    }

    #[test]
    fn a_selected_warehouse_stays_and_an_unconfirmed_connection_is_not_notified() {
        let mut c = connected();
        c.warehouse_created = false;
        c.partner_connection_id = None;
        let plan = removal(&c, None, Remover::Admin).unwrap().unwrap();
        assert_eq!(plan.warehouse, None);
        assert_eq!(plan.notify, None);
    }

    #[test]
    fn a_partner_acting_as_the_user_loses_every_token_the_connection_made() {
        let mut c = connected();
        c.service_principal_id = None;
        c.service_principal_name = None;
        c.previous_token_id = Some("t0".into());
        let plan = removal(&c, None, Remover::Admin).unwrap().unwrap();
        assert_eq!(plan.principal, PrincipalRemoval::UserTokens(vec!["t1".into(), "t0".into()]));
        c.service_principal_name = Some("RIVERY_USER".into());
        let plan = removal(&c, None, Remover::Admin).unwrap().unwrap();
        assert_eq!(plan.principal, PrincipalRemoval::Gone);
    }

    #[test]
    fn only_the_named_connection_goes_and_a_connect_in_flight_only_by_undo() {
        let mut c = connected();
        assert_eq!(removal(&c, Some("other"), Remover::Admin), Ok(None));
        assert!(removal(&c, Some("u1"), Remover::Admin).unwrap().is_some());
        c.state = ConnectionState::Connecting;
        assert_eq!(
            removal(&c, None, Remover::Admin),
            Err(Refusal::Connecting { partner_id: "rivery".into() })
        );
        assert!(removal(&c, Some("u1"), Remover::Undo).unwrap().is_some());
    }

    #[test]
    fn a_missed_delete_is_a_change_only_when_another_connection_stands() {
        assert!(matches!(delete_missed("rivery", Some("u1"), true), Refusal::Changed { .. }));
        assert!(matches!(delete_missed("rivery", Some("u1"), false), Refusal::NoConnection { .. }));
        assert!(matches!(delete_missed("rivery", None, true), Refusal::NoConnection { .. }));
    }

    #[test]
    fn rotation_delivers_when_the_partner_can_take_it() {
        let mut c = connected();
        assert_eq!(rotation("Rivery", &c, true), Ok(RotationMode::Deliver));
        assert_eq!(rotation("Rivery", &c, false), Ok(RotationMode::Manual));
        c.partner_connection_id = None;
        assert_eq!(rotation("Rivery", &c, true), Ok(RotationMode::Manual));
        c.service_principal_id = None;
        assert!(matches!(rotation("Rivery", &c, true), Err(Refusal::NothingToRotate { .. })));
    }
}
