//! Who may do what with a tile: a click connects (admins), signs in (everyone) or hands out a
//! connection file; a sign-in is refused while the connection is being created, for partners
//! that do not sign users in, and for service principals.

use super::{ConnectionState, Provision};
use crate::principal::PrincipalKind;

/// What a tile click does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Click {
    /// A desktop tool: a connection file for a warehouse the user picks.
    ConnectionFile,
    /// The tile is connected: the user signs in to the partner.
    SignIn,
    /// The tile is not connected: an admin connects (or, dry, sees the plan).
    Connect,
}

/// Why a click, a connect or a sign-in is refused. Its text is the client's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A dry run on a connected tile: a click there signs in; there is nothing to plan (409).
    #[error(
        "The workspace is already connected to {partner}: a click signs in. To see what a new connection would create, an admin deletes this one first."
    )]
    AlreadyConnected { partner: String },
    /// Only workspace admins connect (403).
    #[error("Only workspace admins can connect {partner}; once connected, every user can sign in.")]
    OnlyAdminsConnect { partner: String },
    /// The connection is still being created (409).
    #[error("A connection to {partner} is being created right now; try again in a moment.")]
    Connecting { partner: String },
    /// The partner does not sign users in through Partner Connect (400).
    #[error("{partner} does not sign users in through Partner Connect.")]
    NoSignIn { partner: String },
    /// Partner Connect signs in workspace users, not service principals (403).
    #[error(
        "Service principals cannot sign in to {partner} or connect it: Partner Connect signs in workspace users. Use a user's token."
    )]
    ServicePrincipal { partner: String },
}

/// What a click does: a connection file for desktop tools; a sign-in on a connected tile (a
/// dry run there is refused, it never calls a partner); a connect by an admin otherwise.
pub fn click(
    partner: &str,
    provision: Provision,
    connected: bool,
    dry_run: bool,
    is_admin: bool,
) -> Result<Click, Refusal> {
    let partner = partner.to_owned();
    if provision == Provision::ConnectionFile {
        return Ok(Click::ConnectionFile);
    }
    if connected {
        if dry_run {
            return Err(Refusal::AlreadyConnected { partner });
        }
        return Ok(Click::SignIn);
    }
    if !is_admin {
        return Err(Refusal::OnlyAdminsConnect { partner });
    }
    Ok(Click::Connect)
}

/// Partner Connect signs people in: a service principal, a partner's own included, neither
/// signs in to a partner nor creates its account there.
pub fn may_call_partner(partner: &str, caller: PrincipalKind) -> Result<(), Refusal> {
    if caller == PrincipalKind::User {
        Ok(())
    } else {
        Err(Refusal::ServicePrincipal { partner: partner.to_owned() })
    }
}

/// Whether a caller may sign in through a connection now.
pub fn sign_in(
    partner: &str,
    partner_signs_in: bool,
    state: ConnectionState,
    caller: PrincipalKind,
) -> Result<(), Refusal> {
    if state == ConnectionState::Connecting {
        return Err(Refusal::Connecting { partner: partner.to_owned() });
    }
    if !partner_signs_in {
        return Err(Refusal::NoSignIn { partner: partner.to_owned() });
    }
    may_call_partner(partner, caller)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_click_connects_signs_in_or_hands_out_a_file() {
        assert_eq!(
            click("Tableau", Provision::ConnectionFile, false, false, false),
            Ok(Click::ConnectionFile)
        );
        assert_eq!(click("Rivery", Provision::NewWarehouse, true, false, false), Ok(Click::SignIn));
        assert_eq!(
            click("Rivery", Provision::NewWarehouse, false, false, true),
            Ok(Click::Connect)
        );
        assert_eq!(
            click("Rivery", Provision::NewWarehouse, false, true, true),
            Ok(Click::Connect),
            "a dry run plans"
        );
    }

    #[test]
    fn only_admins_connect_and_a_connected_tile_has_nothing_to_plan() {
        let refused = click("Rivery", Provision::NewWarehouse, false, false, false).unwrap_err();
        assert!(refused.to_string().starts_with("Only workspace admins can connect Rivery"));
        let dry = click("Rivery", Provision::NewWarehouse, true, true, true).unwrap_err();
        assert_eq!(dry, Refusal::AlreadyConnected { partner: "Rivery".into() });
    }

    #[test]
    fn sign_in_is_for_users_of_a_finished_connection_of_a_signing_partner() {
        use ConnectionState::*;
        use PrincipalKind::*;
        assert_eq!(sign_in("Rivery", true, Connected, User), Ok(()));
        assert!(matches!(
            sign_in("Rivery", true, Connecting, User),
            Err(Refusal::Connecting { .. })
        ));
        assert!(matches!(sign_in("Rivery", false, Connected, User), Err(Refusal::NoSignIn { .. })));
        let sp = sign_in("Rivery", true, Connected, ServicePrincipal).unwrap_err();
        assert!(sp.to_string().starts_with("Service principals cannot sign in to Rivery"));
        assert!(may_call_partner("Rivery", User).is_ok());
        assert!(may_call_partner("Rivery", ServicePrincipal).is_err());
    }
}
