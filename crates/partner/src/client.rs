//! The HTTP client patchbay calls partners with. A partner's address and answer are untrusted
//! input: the client calls only addresses the installation allows (see [`crate::outbound`]),
//! never follows a redirect, caps an answer's size and time, retries 500s as the protocol says
//! (1 s, 2 s, 4 s), and checks redirect hosts strictly against the partner's allow-list.

use crate::outbound::{GuardedResolver, Lookup, OutboundPolicy, Refused, SystemLookup};
use crate::protocol::{
    ConnectRequest, Connection, ConnectionInfo, ConnectionTestResult, DeleteConnectionRequest,
    DeleteConnectionResponse, ErrorResponse, RotateTokenRequest,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// Where and how to reach one partner: the endpoint the workspace's settings hold.
pub use patchbay_core::partner::PartnerEndpoint as Endpoint;

/// Why a call to a partner did not produce a usable answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The partner's address is one this installation does not call (or no valid URL).
    #[error("patchbay did not call the partner: {0}")]
    Refused(String),
    #[error("the partner could not be reached: {0}")]
    Unreachable(String),
    #[error("the partner did not answer within {0} seconds")]
    Timeout(u64),
    #[error("the partner's answer was larger than {0} bytes")]
    TooLarge(usize),
    #[error("the partner's answer was not valid: {0}")]
    Malformed(String),
    /// A non-success status, with the partner's error body when it sent a valid one.
    #[error("the partner answered HTTP {status}")]
    Status {
        status: u16,
        error: Option<ErrorResponse>,
        /// How many attempts were made (retries on 500 included).
        attempts: usize,
    },
}

impl CallError {
    pub fn status(&self) -> Option<u16> {
        match self {
            CallError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    pub fn error_response(&self) -> Option<&ErrorResponse> {
        match self {
            CallError::Status { error, .. } => error.as_ref(),
            _ => None,
        }
    }
}

/// How a client waits between attempts after a 500.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub delays: Vec<Duration>,
}

impl Default for RetryPolicy {
    /// The protocol's: three retries, after 1, 2 and 4 seconds.
    fn default() -> Self {
        RetryPolicy {
            delays: vec![Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(4)],
        }
    }
}

/// Largest partner answer read.
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct PartnerClient {
    http: reqwest::Client,
    retry: RetryPolicy,
    timeout: Duration,
    policy: Arc<OutboundPolicy>,
}

impl PartnerClient {
    /// A client that calls only the addresses `policy` allows.
    pub fn new(retry: RetryPolicy, timeout: Duration, policy: OutboundPolicy) -> PartnerClient {
        PartnerClient::with_lookup(retry, timeout, policy, Arc::new(SystemLookup))
    }

    /// [`PartnerClient::new`] with names resolved by `lookup` (tests give a table).
    pub fn with_lookup(
        retry: RetryPolicy,
        timeout: Duration,
        policy: OutboundPolicy,
        lookup: Arc<dyn Lookup>,
    ) -> PartnerClient {
        crate::install_crypto_provider();
        let policy = Arc::new(policy);
        let http = reqwest::Client::builder()
            .user_agent("databricks")
            // A partner never moves patchbay elsewhere (the protocol has no redirects); only
            // the user's browser follows the partner's `redirect_uri`. A 3xx is a failure.
            .redirect(reqwest::redirect::Policy::none())
            // Straight to the checked address: no proxy from the environment in between.
            .no_proxy()
            .dns_resolver(GuardedResolver::new(policy.clone(), lookup))
            .connect_timeout(timeout)
            .build()
            .expect("a client without TLS settings of its own builds");
        PartnerClient { http, retry, timeout, policy }
    }

    /// The addresses this client may call.
    pub fn policy(&self) -> &OutboundPolicy {
        &self.policy
    }

    /// `POST /connect`. `idempotency_key` is the same on every retry.
    pub async fn connect(
        &self,
        endpoint: &Endpoint,
        request: &ConnectRequest,
        idempotency_key: &str,
    ) -> Result<Connection, CallError> {
        self.call(endpoint, &endpoint.connect_path, request, idempotency_key).await
    }

    /// `POST /delete-connection`; `None` when the partner has no such endpoint.
    pub async fn delete_connection(
        &self,
        endpoint: &Endpoint,
        request: &DeleteConnectionRequest,
        idempotency_key: &str,
    ) -> Option<Result<DeleteConnectionResponse, CallError>> {
        let path = endpoint.delete_connection_path.as_deref()?;
        Some(self.call(endpoint, path, request, idempotency_key).await)
    }

    /// `POST /test-connection`; `None` when the partner has no such endpoint.
    pub async fn test_connection(
        &self,
        endpoint: &Endpoint,
        request: &ConnectionInfo,
    ) -> Option<Result<ConnectionTestResult, CallError>> {
        let path = endpoint.test_connection_path.as_deref()?;
        let key = uuid::Uuid::new_v4().to_string();
        Some(self.call(endpoint, path, request, &key).await)
    }

    /// patchbay's `POST /rotate-token` extension; `None` when the partner does not offer it.
    pub async fn rotate_token(
        &self,
        endpoint: &Endpoint,
        request: &RotateTokenRequest,
        idempotency_key: &str,
    ) -> Option<Result<serde_json::Value, CallError>> {
        let path = endpoint.rotate_token_path.as_deref()?;
        Some(self.call(endpoint, path, request, idempotency_key).await)
    }

    async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        endpoint: &Endpoint,
        path: &str,
        body: &B,
        idempotency_key: &str,
    ) -> Result<R, CallError> {
        let url = self.target(&endpoint.url(path))?;
        let mut attempts = 0;
        let mut delays = self.retry.delays.iter();
        loop {
            attempts += 1;
            let result = self.attempt(&url, endpoint, body, idempotency_key).await;
            match &result {
                Err(CallError::Status { status: 500, .. }) => {
                    if let Some(delay) = delays.next() {
                        tracing::info!(%url, attempts, "partner answered 500; retrying");
                        tokio::time::sleep(*delay).await;
                        continue;
                    }
                }
                Err(e) => tracing::info!(%url, attempts, error = %e, "partner call failed"),
                Ok(_) => {}
            }
            return match result {
                Err(CallError::Status { status, error, .. }) => {
                    Err(CallError::Status { status, error, attempts })
                }
                Ok(bytes) => {
                    serde_json::from_slice(&bytes).map_err(|e| CallError::Malformed(e.to_string()))
                }
                Err(other) => Err(other),
            };
        }
    }

    /// The URL of a call, parsed, with its host checked against the policy: an IP literal is
    /// connected to as written (no resolver runs), so it is judged here; a name is judged again
    /// on the addresses it resolves to.
    fn target(&self, url: &str) -> Result<reqwest::Url, CallError> {
        let url = reqwest::Url::parse(url)
            .map_err(|_| CallError::Refused("the partner's address is not a valid URL".into()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(CallError::Refused(
                "the partner's address is not an http(s) URL with a host".into(),
            ));
        }
        if let Some(host) = url.host() {
            self.policy.check_host(host).map_err(|r| CallError::Refused(r.to_string()))?;
        }
        Ok(url)
    }

    /// One request; the body of a 2xx answer, read up to the cap.
    async fn attempt<B: Serialize>(
        &self,
        url: &reqwest::Url,
        endpoint: &Endpoint,
        body: &B,
        idempotency_key: &str,
    ) -> Result<Vec<u8>, CallError> {
        let send = self
            .http
            .post(url.clone())
            .basic_auth(&endpoint.username, Some(&endpoint.password))
            .header("Accept-Language", "en-US")
            .header("Idempotency-Key", idempotency_key)
            .json(body)
            .send();
        let secs = self.timeout.as_secs().max(1);
        let read = async {
            let mut response = send.await.map_err(|e| match refusal(&e) {
                Some(r) => CallError::Refused(r.to_string()),
                None => CallError::Unreachable(without_url(&e)),
            })?;
            let status = response.status().as_u16();
            let mut bytes = Vec::new();
            while let Some(chunk) =
                response.chunk().await.map_err(|e| CallError::Unreachable(without_url(&e)))?
            {
                if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(CallError::TooLarge(MAX_RESPONSE_BYTES));
                }
                bytes.extend_from_slice(&chunk);
            }
            if (200..300).contains(&status) {
                Ok(bytes)
            } else {
                Err(CallError::Status {
                    status,
                    error: serde_json::from_slice(&bytes).ok(),
                    attempts: 1,
                })
            }
        };
        tokio::time::timeout(self.timeout, read).await.map_err(|_| CallError::Timeout(secs))?
    }
}

/// The policy's refusal behind a transport error, when the resolver refused every address.
fn refusal(e: &reqwest::Error) -> Option<&Refused> {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return Some(r);
        }
        source = s.source();
    }
    None
}

/// A transport error, described without the URL (which may carry credentials).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "connection failed"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_body() || e.is_decode() {
        "the answer broke off"
    } else {
        "request failed"
    };
    match std::error::Error::source(e) {
        Some(source) => format!("{kind}: {source}"),
        None => kind.to_owned(),
    }
}

/// A host name of a partner's redirect allow-list, normalized as a URL parser normalizes a
/// host: lower case, IDN as punycode, an IP address in its canonical form (IPv6 without
/// brackets), no trailing dot. `None` when it is no host name.
pub fn normalize_hostname(hostname: &str) -> Option<String> {
    let h = hostname.trim().trim_end_matches('.');
    let bracketed;
    let h = if h.contains(':') && !h.starts_with('[') {
        bracketed = format!("[{h}]");
        bracketed.as_str()
    } else {
        h
    };
    if h.is_empty() || h.contains(['/', '\\', '@', '?', '#', '%']) {
        return None;
    }
    match url::Host::parse(h).ok()? {
        url::Host::Domain(d) if !d.is_empty() && !d.ends_with('.') => Some(d),
        url::Host::Domain(_) => None,
        url::Host::Ipv4(ip) => Some(ip.to_string()),
        url::Host::Ipv6(ip) => Some(ip.to_string()),
    }
}

/// A redirect a user may be sent to: an `http`/`https` URL without credentials whose host
/// equals (after normalization, see [`normalize_hostname`]) one of the partner's allow-listed
/// hostnames. No substring or suffix matching; a host with a trailing dot matches nothing.
///
/// Returns the URL as parsed and serialized again, which is the only form ever handed on: a
/// browser given it reaches the host that was checked, whatever tricks the partner's string
/// played (backslashes, `@`, percent-encoding, case). An error says why in words.
pub fn checked_redirect(uri: &str, hostnames: &[String]) -> Result<String, String> {
    let url = url::Url::parse(uri.trim()).map_err(|_| "it is not a URL".to_owned())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("its scheme is '{}', not http or https", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it carries a user name or password".into());
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_owned(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => return Err("it has no host".into()),
    };
    if hostnames.iter().filter_map(|h| normalize_hostname(h)).any(|h| h == host) {
        Ok(url.into())
    } else {
        Err(format!("its host '{host}' is not on the allow-list"))
    }
}

/// Whether a redirect may be opened (see [`checked_redirect`]).
pub fn redirect_allowed(uri: &str, hostnames: &[String]) -> bool {
    checked_redirect(uri, hostnames).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<String> {
        vec![
            "partner.example.com".to_owned(),
            "127.0.0.1".to_owned(),
            "pärtner.example.com".to_owned(),
            "[::1]".to_owned(),
        ]
    }

    #[test]
    fn redirects_match_hosts_exactly_and_come_back_reserialized() {
        let allowed = allowed();
        for (sent, returned) in [
            ("https://partner.example.com/signin?x=1", "https://partner.example.com/signin?x=1"),
            ("http://127.0.0.1:8080/trial", "http://127.0.0.1:8080/trial"),
            ("https://PARTNER.Example.COM", "https://partner.example.com/"),
            ("https://partner.example.com:8443/a", "https://partner.example.com:8443/a"),
            // Browsers read a backslash as a slash: the host is 127.0.0.1, and the URL handed
            // on says so unambiguously.
            ("http://127.0.0.1\\@evil.example.com/", "http://127.0.0.1/@evil.example.com/"),
            ("https://partner%2Eexample.com/x", "https://partner.example.com/x"),
            ("https://xn--prtner-bua.example.com/", "https://xn--prtner-bua.example.com/"),
            ("https://pärtner.example.com/", "https://xn--prtner-bua.example.com/"),
            ("http://2130706433/x", "http://127.0.0.1/x"),
            ("http://[0:0::1]:9/", "http://[::1]:9/"),
            ("  https://partner.example.com/  ", "https://partner.example.com/"),
        ] {
            assert_eq!(checked_redirect(sent, &allowed).as_deref(), Ok(returned), "{sent}");
        }
    }

    #[test]
    fn redirects_elsewhere_are_refused() {
        let allowed = allowed();
        for bad in [
            "https://evil.partner.example.com/",
            "https://partner.example.com.evil.io/",
            "https://evil.io/partner.example.com",
            "https://partner.example.com@evil.io/",
            "https://user@partner.example.com/",
            "https://user:pw@partner.example.com/",
            "http://evil.example.com\\@127.0.0.1/",
            "http://evil.example.com%2F@127.0.0.1/",
            "https://partner.example.com./",
            "https://pаrtner.example.com/",
            "https://partner.example.com%00.evil.io/",
            "javascript:alert(1)",
            "javascript://partner.example.com/%0aalert(1)",
            "data:text/html,hi",
            "ftp://partner.example.com/",
            "//partner.example.com/",
            "/relative",
            "not a url",
            "",
            "http:///",
        ] {
            assert!(checked_redirect(bad, &allowed).is_err(), "{bad}");
            assert!(!redirect_allowed(bad, &allowed), "{bad}");
        }
    }

    #[test]
    fn hostnames_normalize_like_url_hosts() {
        for (given, normal) in [
            ("Partner.Example.com", "partner.example.com"),
            ("partner.example.com.", "partner.example.com"),
            ("pärtner.example.com", "xn--prtner-bua.example.com"),
            ("[::1]", "::1"),
            ("0:0::1", "::1"),
            ("127.0.0.1", "127.0.0.1"),
        ] {
            assert_eq!(normalize_hostname(given).as_deref(), Some(normal), "{given}");
        }
        for bad in ["", ".", "a/b", "a b", "user@host", "host?x", "a\\b", "%41"] {
            assert_eq!(normalize_hostname(bad), None, "{bad}");
        }
    }
}
