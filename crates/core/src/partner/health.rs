//! A connection's health: its stored state, or CONNECTED, or BROKEN with the reasons, decided
//! on [`HealthFacts`] (what the connection uses, as the workspace holds it now).

use super::facts::{CredentialFacts, HealthFacts};
use super::{ConnectionState, GrantTarget, Privilege};
use crate::oauth::{SecretStanding, secret_standing};
use crate::time::EpochMillis;
use std::fmt;

/// Why a connected connection cannot work. Adding a reason is adding a variant here, its
/// words in `Display`, the fact it needs in [`HealthFacts`] and its check in [`health`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokenReason {
    /// The connection's service principal was deleted, and with it the partner's token.
    PrincipalDeleted {
        name: Option<String>,
    },
    /// The personal access token the partner uses was deleted.
    TokenDeleted {
        token_id: String,
    },
    /// The OAuth secret the partner uses was deleted, expired or expires soon.
    Secret {
        secret_id: String,
        standing: SecretStanding,
        expire_time: Option<EpochMillis>,
    },
    WarehouseDeleted {
        id: String,
    },
    ClusterDeleted {
        id: String,
    },
    /// A catalog or schema the connection was granted on was deleted.
    SecurableDeleted {
        securable_type: GrantTarget,
        full_name: String,
    },
    /// Privileges of the connection's grant that its principal no longer holds.
    PrivilegesRevoked {
        privileges: Vec<Privilege>,
        securable_type: GrantTarget,
        full_name: String,
    },
    /// The partner's own `/test-connection` failed (asked only on an admin's test).
    PartnerTestFailed {
        partner: String,
        detail: String,
    },
}

impl fmt::Display for BrokenReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokenReason::PrincipalDeleted { name } => write!(
                f,
                "The service principal {} was deleted, and with it the partner's token.",
                name.as_deref().unwrap_or("of this connection")
            ),
            BrokenReason::TokenDeleted { token_id } => {
                write!(f, "The token {token_id} the partner uses was deleted.")
            }
            BrokenReason::Secret { secret_id, standing, expire_time } => {
                f.write_str(&standing.reason(secret_id, *expire_time))
            }
            BrokenReason::WarehouseDeleted { id } => {
                write!(f, "The SQL warehouse {id} was deleted.")
            }
            BrokenReason::ClusterDeleted { id } => write!(f, "The cluster {id} was deleted."),
            BrokenReason::SecurableDeleted { securable_type, full_name } => {
                write!(f, "The {securable_type} {full_name} was deleted.")
            }
            BrokenReason::PrivilegesRevoked { privileges, securable_type, full_name } => {
                let names: Vec<&str> = privileges.iter().map(|p| p.as_str()).collect();
                write!(f, "{} on {securable_type} {full_name} was revoked.", names.join(", "))
            }
            BrokenReason::PartnerTestFailed { partner, detail } => {
                write!(f, "{partner}'s connection test failed: {detail}")
            }
        }
    }
}

/// A connection's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Still being created: not judged.
    Connecting,
    /// Being deleted: not judged.
    Deleting,
    /// Everything the connection uses exists and its principal holds its grants.
    Connected,
    /// Connected, but it cannot work until what is named is fixed.
    Broken(Vec<BrokenReason>),
}

impl Health {
    /// As the API shows it (`state`).
    pub fn state(&self) -> &'static str {
        match self {
            Health::Connecting => "CONNECTING",
            Health::Deleting => "DELETING",
            Health::Connected => "CONNECTED",
            Health::Broken(_) => "BROKEN",
        }
    }

    pub fn reasons(&self) -> &[BrokenReason] {
        match self {
            Health::Broken(reasons) => reasons,
            _ => &[],
        }
    }

    pub fn is_broken(&self) -> bool {
        matches!(self, Health::Broken(_))
    }

    /// The health once the partner's own connection test answered: a failed test breaks a
    /// connected connection, with the partner's words as a reason. (A connection still being
    /// created has nothing at the partner to test.)
    pub fn with_partner_test(self, passed: bool, partner: &str, detail: &str) -> Health {
        if passed {
            return self;
        }
        let failed = BrokenReason::PartnerTestFailed {
            partner: partner.to_owned(),
            detail: detail.to_owned(),
        };
        match self {
            Health::Connected => Health::Broken(vec![failed]),
            Health::Broken(mut reasons) => {
                reasons.push(failed);
                Health::Broken(reasons)
            }
            other => other,
        }
    }
}

/// Judges a connection: a stored CONNECTING or DELETING stands; a connected one is BROKEN when
/// its principal, credential, compute or catalog objects are gone or its grants were revoked.
pub fn health(facts: &HealthFacts) -> Health {
    let c = &facts.connection;
    match c.state {
        ConnectionState::Connecting => return Health::Connecting,
        ConnectionState::Deleting => return Health::Deleting,
        ConnectionState::Connected => {}
    }
    let mut reasons = Vec::new();
    if facts.needs_service_principal && c.service_principal_id.is_none() {
        reasons.push(BrokenReason::PrincipalDeleted { name: c.service_principal_name.clone() });
    } else if let Some(token_id) = &c.token_id {
        match facts.credential {
            Some(CredentialFacts::Token { exists: false }) => {
                reasons.push(BrokenReason::TokenDeleted { token_id: token_id.clone() });
            }
            Some(CredentialFacts::OAuthSecret { expire_time }) => {
                match secret_standing(expire_time, facts.now) {
                    SecretStanding::Fine => {}
                    standing => reasons.push(BrokenReason::Secret {
                        secret_id: token_id.clone(),
                        standing,
                        expire_time,
                    }),
                }
            }
            Some(CredentialFacts::Token { exists: true }) | None => {}
        }
    }
    if let Some(id) = &c.warehouse_id
        && !facts.warehouse_exists
    {
        reasons.push(BrokenReason::WarehouseDeleted { id: id.clone() });
    }
    if let Some(id) = &c.cluster_id
        && !facts.cluster_exists
    {
        reasons.push(BrokenReason::ClusterDeleted { id: id.clone() });
    }
    if c.service_principal_id.is_some() {
        for g in &facts.grants {
            let Some(held) = &g.held else {
                reasons.push(BrokenReason::SecurableDeleted {
                    securable_type: g.grant.securable_type,
                    full_name: g.grant.full_name.clone(),
                });
                continue;
            };
            let missing: Vec<Privilege> =
                g.grant.privileges.iter().copied().filter(|p| !p.held_in(held)).collect();
            if !missing.is_empty() {
                reasons.push(BrokenReason::PrivilegesRevoked {
                    privileges: missing,
                    securable_type: g.grant.securable_type,
                    full_name: g.grant.full_name.clone(),
                });
            }
        }
    }
    if reasons.is_empty() { Health::Connected } else { Health::Broken(reasons) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::EXPIRY_WARNING_MILLIS;
    use crate::partner::connection::tests::connected;
    use crate::partner::facts::GrantFacts;
    use crate::partner::{Credential, Grant};

    /// A healthy ingest connection: everything exists, the principal holds its grant.
    fn healthy() -> HealthFacts {
        let connection = connected();
        let grants = connection
            .grants
            .iter()
            .map(|g| GrantFacts { grant: g.clone(), held: Some(g.privileges.clone()) })
            .collect();
        HealthFacts {
            connection,
            needs_service_principal: true,
            credential: Some(CredentialFacts::Token { exists: true }),
            warehouse_exists: true,
            cluster_exists: true,
            grants,
            now: 1_000,
        }
    }

    fn reasons(f: &HealthFacts) -> Vec<String> {
        health(f).reasons().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_connection_whose_objects_exist_is_connected() {
        assert_eq!(health(&healthy()), Health::Connected);
        assert_eq!(health(&healthy()).state(), "CONNECTED");
        let mut all = healthy();
        all.grants[0].held = Some(vec![Privilege::AllPrivileges]);
        assert_eq!(health(&all), Health::Connected);
    }

    #[test]
    fn stored_states_other_than_connected_are_not_judged() {
        let mut f = healthy();
        f.warehouse_exists = false;
        f.connection.state = ConnectionState::Connecting;
        assert_eq!(health(&f), Health::Connecting);
        f.connection.state = ConnectionState::Deleting;
        assert_eq!(health(&f).state(), "DELETING");
        assert!(health(&f).reasons().is_empty());
    }

    #[test]
    fn a_deleted_principal_breaks_the_connection() {
        let mut f = healthy();
        f.connection.service_principal_id = None;
        f.credential = Some(CredentialFacts::Token { exists: false });
        assert_eq!(
            reasons(&f),
            ["The service principal RIVERY_USER was deleted, and with it the partner's token."],
            "the token went with the principal: one reason, and no grant checks"
        );
        f.connection.service_principal_name = None;
        assert!(reasons(&f)[0].contains("of this connection"));
    }

    #[test]
    fn a_deleted_token_breaks_the_connection() {
        let mut f = healthy();
        f.credential = Some(CredentialFacts::Token { exists: false });
        assert_eq!(reasons(&f), ["The token t1 the partner uses was deleted."]);
        assert_eq!(health(&f).state(), "BROKEN");
    }

    #[test]
    fn an_oauth_secret_that_is_deleted_expired_or_expiring_breaks_the_connection() {
        let mut f = healthy();
        f.connection.credential = Credential::OAuthSecret;
        f.credential = Some(CredentialFacts::OAuthSecret {
            expire_time: Some(f.now + EXPIRY_WARNING_MILLIS * 2),
        });
        assert_eq!(health(&f), Health::Connected);
        f.credential = Some(CredentialFacts::OAuthSecret { expire_time: None });
        assert_eq!(reasons(&f), ["The OAuth secret t1 the partner uses was deleted."]);
        f.credential = Some(CredentialFacts::OAuthSecret { expire_time: Some(f.now - 1) });
        assert!(reasons(&f)[0].contains("expired on"));
        f.credential = Some(CredentialFacts::OAuthSecret { expire_time: Some(f.now + 1) });
        assert!(reasons(&f)[0].contains("rotate it before then"));
    }

    #[test]
    fn deleted_compute_breaks_the_connection() {
        let mut f = healthy();
        f.warehouse_exists = false;
        assert_eq!(reasons(&f), ["The SQL warehouse w1 was deleted."]);
        let mut f = healthy();
        f.connection.warehouse_id = None;
        f.connection.cluster_id = Some("c1".into());
        f.cluster_exists = false;
        assert_eq!(reasons(&f), ["The cluster c1 was deleted."]);
    }

    #[test]
    fn deleted_securables_and_revoked_privileges_break_the_connection() {
        let mut f = healthy();
        f.grants[0].held = None;
        assert_eq!(reasons(&f), ["The catalog hive_metastore was deleted."]);
        let mut f = healthy();
        f.grants[0].held = Some(vec![Privilege::Usage]);
        assert_eq!(reasons(&f), ["CREATE on catalog hive_metastore was revoked."]);
        f.grants.push(GrantFacts {
            grant: Grant {
                securable_type: GrantTarget::Schema,
                full_name: "hive_metastore.s".into(),
                privileges: vec![Privilege::Usage, Privilege::Select],
            },
            held: Some(Vec::new()),
        });
        assert_eq!(
            reasons(&f),
            [
                "CREATE on catalog hive_metastore was revoked.",
                "USAGE, SELECT on schema hive_metastore.s was revoked."
            ]
        );
    }

    #[test]
    fn every_reason_is_listed_in_order() {
        let mut f = healthy();
        f.credential = Some(CredentialFacts::Token { exists: false });
        f.warehouse_exists = false;
        f.grants[0].held = None;
        assert_eq!(
            reasons(&f),
            [
                "The token t1 the partner uses was deleted.",
                "The SQL warehouse w1 was deleted.",
                "The catalog hive_metastore was deleted."
            ]
        );
    }

    #[test]
    fn a_failed_partner_test_breaks_a_connected_connection() {
        let ok = health(&healthy());
        assert_eq!(ok.clone().with_partner_test(true, "Rivery", "fine"), Health::Connected);
        let failed = ok.with_partner_test(false, "Rivery", "no table");
        assert_eq!(failed.state(), "BROKEN");
        assert_eq!(failed.reasons()[0].to_string(), "Rivery's connection test failed: no table");
        let mut f = healthy();
        f.warehouse_exists = false;
        let both = health(&f).with_partner_test(false, "Rivery", "x");
        assert_eq!(both.reasons().len(), 2);
    }
}
