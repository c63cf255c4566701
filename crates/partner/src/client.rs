//! The HTTP client patchbay calls partners with. A partner's answer is untrusted input: the
//! client caps its size and time, retries 500s as the protocol says (1 s, 2 s, 4 s), and checks
//! redirect hosts strictly against the partner's allow-list.

use crate::protocol::{
    ConnectRequest, Connection, ConnectionInfo, ConnectionTestResult, DeleteConnectionRequest,
    DeleteConnectionResponse, ErrorResponse, RotateTokenRequest,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Where and how to reach one partner.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub base_url: String,
    pub connect_path: String,
    pub delete_connection_path: Option<String>,
    pub test_connection_path: Option<String>,
    pub rotate_token_path: Option<String>,
    pub username: String,
    pub password: crate::protocol::Secret,
}

impl Endpoint {
    fn url(&self, path: &str) -> String {
        format!(
            "{}/{}",
            self.base_url.trim_end_matches('/'),
            path.trim_start_matches('/')
        )
    }
}

/// Why a call to a partner did not produce a usable answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
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
            delays: vec![
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(4),
            ],
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
}

impl PartnerClient {
    pub fn new(retry: RetryPolicy, timeout: Duration) -> PartnerClient {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent("databricks")
            // A partner never moves patchbay elsewhere; only the user's browser follows redirects.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .build()
            .unwrap_or_default();
        PartnerClient {
            http,
            retry,
            timeout,
        }
    }

    /// `POST /connect`. `idempotency_key` is the same on every retry.
    pub async fn connect(
        &self,
        endpoint: &Endpoint,
        request: &ConnectRequest,
        idempotency_key: &str,
    ) -> Result<Connection, CallError> {
        self.call(endpoint, &endpoint.connect_path, request, idempotency_key)
            .await
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
        let url = endpoint.url(path);
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
                Err(CallError::Status { status, error, .. }) => Err(CallError::Status {
                    status,
                    error,
                    attempts,
                }),
                Ok(bytes) => {
                    serde_json::from_slice(&bytes).map_err(|e| CallError::Malformed(e.to_string()))
                }
                Err(other) => Err(other),
            };
        }
    }

    /// One request; the body of a 2xx answer, read up to the cap.
    async fn attempt<B: Serialize>(
        &self,
        url: &str,
        endpoint: &Endpoint,
        body: &B,
        idempotency_key: &str,
    ) -> Result<Vec<u8>, CallError> {
        let send = self
            .http
            .post(url)
            .basic_auth(&endpoint.username, Some(&endpoint.password.0))
            .header("Accept-Language", "en-US")
            .header("Idempotency-Key", idempotency_key)
            .json(body)
            .send();
        let secs = self.timeout.as_secs().max(1);
        let read = async {
            let mut response = send
                .await
                .map_err(|e| CallError::Unreachable(without_url(&e)))?;
            let status = response.status().as_u16();
            let mut bytes = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| CallError::Unreachable(without_url(&e)))?
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
        tokio::time::timeout(self.timeout, read)
            .await
            .map_err(|_| CallError::Timeout(secs))?
    }
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

/// Whether a redirect may be opened: `http`/`https` and a host equal (case-insensitively) to
/// one of the partner's allow-listed hostnames. No substring or suffix matching.
pub fn redirect_allowed(uri: &str, hostnames: &[String]) -> bool {
    let Ok(url) = reqwest::Url::parse(uri) else {
        return false;
    };
    if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() {
        return false;
    }
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    hostnames.iter().any(|h| h.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_match_hosts_exactly() {
        let allowed = vec!["partner.example.com".to_owned(), "127.0.0.1".to_owned()];
        assert!(redirect_allowed(
            "https://partner.example.com/signin?x=1",
            &allowed
        ));
        assert!(redirect_allowed("http://127.0.0.1:8080/trial", &allowed));
        assert!(redirect_allowed("https://PARTNER.example.com/", &allowed));
        for bad in [
            "https://evil.partner.example.com/",
            "https://partner.example.com.evil.io/",
            "https://evil.io/partner.example.com",
            "https://partner.example.com@evil.io/",
            "javascript:alert(1)",
            "ftp://partner.example.com/",
            "not a url",
        ] {
            assert!(!redirect_allowed(bad, &allowed), "{bad}");
        }
    }
}
