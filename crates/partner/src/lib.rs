//! The Partner Connect protocol: what patchbay sends to a partner's `/connect`,
//! `/delete-connection` and `/test-connection`, what it accepts back, the client that makes
//! those calls (Basic auth, retries, timeouts, size caps, redirect allow-list, the outbound
//! address rules), and
//! `partner-sim`, a reference partner for demos and tests.

pub mod client;
pub mod outbound;
pub mod protocol;
pub mod sim;

/// Installs the process-wide TLS provider (ring) once; every HTTPS client needs it.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
