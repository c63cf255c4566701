//! A connection as plain data: its stored state, what it holds, and what a partner is owed.
//! The store reads and writes these; the rules in this module decide on them.

use super::{Credential, Grant};
use crate::time::EpochMillis;
use crate::{PrincipalId, WorkspaceId};
use std::fmt;
use std::str::FromStr;

/// A connection's state as stored (the `state` column). Health is judged on top of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// The connect's first transaction made it; the partner has not confirmed yet.
    Connecting,
    Connected,
    Deleting,
}

impl ConnectionState {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Connecting => "CONNECTING",
            ConnectionState::Connected => "CONNECTED",
            ConnectionState::Deleting => "DELETING",
        }
    }
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConnectionState {
    type Err = String;

    /// The stored spelling back. A state patchbay does not write reads as `CONNECTED`, as it
    /// always has: health judges such a connection on what it uses.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "CONNECTING" => ConnectionState::Connecting,
            "DELETING" => ConnectionState::Deleting,
            _ => ConnectionState::Connected,
        })
    }
}

/// What a partner is owed (the `kind` column of its notifications).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NotificationKind {
    /// A connection it made is gone: its `/delete-connection`.
    DeleteConnection,
    /// A kind this version does not know (written by a newer one): acknowledged, not sent.
    Unknown(String),
}

impl NotificationKind {
    pub fn as_str(&self) -> &str {
        match self {
            NotificationKind::DeleteConnection => "delete_connection",
            NotificationKind::Unknown(other) => other,
        }
    }
}

impl fmt::Display for NotificationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NotificationKind {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "delete_connection" => NotificationKind::DeleteConnection,
            other => NotificationKind::Unknown(other.to_owned()),
        })
    }
}

/// What a notification asks the worker to send, read from its kind and its stored payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owed {
    /// The partner's `/delete-connection` for its connection `connection_id`.
    DeleteConnection { connection_id: String },
    /// A kind this version does not know (written by a newer one): acknowledged, not sent.
    Unknown(String),
    /// A payload this version cannot read, and why: acknowledged and reported, never sent with
    /// its fields guessed (a partner told to delete the connection `""`).
    Unreadable(String),
}

impl Owed {
    /// Reads a notification's stored payload (JSON text) for its kind.
    pub fn read(kind: &NotificationKind, payload: &str) -> Owed {
        #[derive(serde::Deserialize)]
        struct DeleteConnection {
            connection_id: String,
        }
        match kind {
            NotificationKind::Unknown(other) => Owed::Unknown(other.clone()),
            NotificationKind::DeleteConnection => {
                match serde_json::from_str::<DeleteConnection>(payload) {
                    Ok(p) if !p.connection_id.is_empty() => {
                        Owed::DeleteConnection { connection_id: p.connection_id }
                    }
                    Ok(_) => Owed::Unreadable("unreadable payload: connection_id is empty".into()),
                    Err(e) => Owed::Unreadable(format!("unreadable payload: {e}")),
                }
            }
        }
    }
}

/// A connection: what makes a tile show its check mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    pub workspace_id: WorkspaceId,
    pub partner_id: String,
    /// This connection's identity: a later connection of the same partner has another, so a
    /// step that names it never touches its successor.
    pub uid: String,
    /// The node running the step that calls the partner (connect, rotation), if one runs.
    pub node_id: Option<String>,
    /// The token a rotation minted and is delivering; recorded before it leaves the process.
    pub pending_token_id: Option<String>,
    pub pending_since: Option<EpochMillis>,
    /// The old token after a rotation that the partner could not be sent, until an admin
    /// confirms the partner uses the new one.
    pub previous_token_id: Option<String>,
    pub state: ConnectionState,
    pub catalog_name: Option<String>,
    pub schemas: Vec<String>,
    /// `None` once the principal was deleted behind the connection's back.
    pub service_principal_id: Option<PrincipalId>,
    pub service_principal_name: Option<String>,
    pub application_id: Option<String>,
    pub token_owner_id: Option<PrincipalId>,
    pub token_id: Option<String>,
    /// Whether `token_id`, `pending_token_id` and `previous_token_id` name tokens or OAuth
    /// secrets.
    pub credential: Credential,
    pub warehouse_id: Option<String>,
    pub warehouse_created: bool,
    pub cluster_id: Option<String>,
    pub partner_connection_id: Option<String>,
    /// The grants made.
    pub grants: Vec<Grant>,
    pub message: Option<String>,
    pub created_by_id: PrincipalId,
    pub created_by_name: String,
    pub created_at: EpochMillis,
    pub updated_at: EpochMillis,
}

impl ConnectionRecord {
    /// The ids of every credential (token or OAuth secret) the connection holds or is
    /// settling: the partner's, a rotation's pending one, and an unconfirmed rotation's
    /// previous one.
    pub fn credentials(&self) -> impl Iterator<Item = &str> {
        [&self.token_id, &self.pending_token_id, &self.previous_token_id]
            .into_iter()
            .filter_map(|t| t.as_deref())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A connected connection of an ingest partner, for the rules' tests.
    pub(crate) fn connected() -> ConnectionRecord {
        ConnectionRecord {
            workspace_id: WorkspaceId::new(1),
            partner_id: "rivery".into(),
            uid: "u1".into(),
            node_id: None,
            pending_token_id: None,
            pending_since: None,
            previous_token_id: None,
            state: ConnectionState::Connected,
            catalog_name: Some("hive_metastore".into()),
            schemas: Vec::new(),
            service_principal_id: Some(PrincipalId::new(7)),
            service_principal_name: Some("RIVERY_USER".into()),
            application_id: Some("app".into()),
            token_owner_id: Some(PrincipalId::new(7)),
            token_id: Some("t1".into()),
            credential: Credential::Token,
            warehouse_id: Some("w1".into()),
            warehouse_created: true,
            cluster_id: None,
            partner_connection_id: Some("c-1".into()),
            grants: crate::partner::Profile::Ingest.rules().grants("hive_metastore", &[]),
            message: None,
            created_by_id: PrincipalId::new(2),
            created_by_name: "admin@example.com".into(),
            created_at: 1,
            updated_at: 1,
        }
    }

    #[test]
    fn states_and_kinds_keep_their_stored_spelling() {
        for s in
            [ConnectionState::Connecting, ConnectionState::Connected, ConnectionState::Deleting]
        {
            assert_eq!(s.as_str().parse::<ConnectionState>(), Ok(s));
        }
        assert_eq!("SOMETHING".parse::<ConnectionState>(), Ok(ConnectionState::Connected));
        let kind: NotificationKind = "delete_connection".parse().unwrap();
        assert_eq!(kind, NotificationKind::DeleteConnection);
        assert_eq!(kind.as_str(), "delete_connection");
        let other: NotificationKind = "later".parse().unwrap();
        assert_eq!(other.as_str(), "later");
    }

    #[test]
    fn a_notification_owes_what_its_payload_reads_as() {
        let delete = NotificationKind::DeleteConnection;
        assert_eq!(
            Owed::read(&delete, r#"{"connection_id": "c-1", "databricks_organization_id": 7}"#),
            Owed::DeleteConnection { connection_id: "c-1".into() }
        );
        for payload in
            ["", "not json", "null", "{}", r#"{"connection_id": 7}"#, r#"{"connection_id": ""}"#]
        {
            match Owed::read(&delete, payload) {
                Owed::Unreadable(why) => assert!(why.starts_with("unreadable payload: "), "{why}"),
                other => panic!("{payload:?} read as {other:?}"),
            }
        }
        assert_eq!(
            Owed::read(&NotificationKind::Unknown("later".into()), "not json"),
            Owed::Unknown("later".into())
        );
    }
}
