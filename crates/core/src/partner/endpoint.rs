//! Where and how a workspace reaches one partner: what an admin configures, what the store
//! keeps and what the partner client calls. One type for all three, so a field added to the
//! endpoint reaches the client without a copy in between.

/// How to reach a partner. The password is a secret: stored to be sent, never shown (its
/// `Debug` redacts it).
#[derive(Clone, PartialEq, Eq)]
pub struct PartnerEndpoint {
    pub base_url: String,
    pub connect_path: String,
    pub delete_connection_path: Option<String>,
    pub test_connection_path: Option<String>,
    pub rotate_token_path: Option<String>,
    pub username: String,
    pub password: String,
    /// The hosts the partner may redirect a user to (its OAuth callback, its sign-in page).
    pub hostnames: Vec<String>,
}

impl PartnerEndpoint {
    /// The URL of one of the partner's paths, one `/` between base and path.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.base_url.trim_end_matches('/'), path.trim_start_matches('/'))
    }
}

impl std::fmt::Debug for PartnerEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerEndpoint")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("hostnames", &self.hostnames)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(base_url: &str) -> PartnerEndpoint {
        PartnerEndpoint {
            base_url: base_url.into(),
            connect_path: "/connect".into(),
            delete_connection_path: None,
            test_connection_path: None,
            rotate_token_path: None,
            username: "databricks".into(),
            password: "hunter2".into(),
            hostnames: vec![],
        }
    }

    #[test]
    fn url_joins_with_one_slash() {
        assert_eq!(endpoint("https://p.example/").url("/connect"), "https://p.example/connect");
        assert_eq!(endpoint("https://p.example").url("connect"), "https://p.example/connect");
    }

    #[test]
    fn debug_redacts_the_password() {
        assert!(!format!("{:?}", endpoint("https://p.example")).contains("hunter2"));
    }
}
