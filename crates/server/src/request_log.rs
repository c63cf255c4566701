//! One `info` line per request, written when its response is ready: method, path (never the
//! query string), status, latency and, once authenticated, the principal. Never a header.
//!
//! The line is a single event with its own fields rather than a span per request: at the
//! default level a span costs as much again as the line (it is formatted when it opens), and a
//! request is otherwise little more than a token check. With `PATCHBAY_LOG=debug` each request
//! also gets a `request` span, so what a handler logs carries its method and path.

use axum::extract::Request;
use axum::response::Response;
use patchbay_core::PrincipalId;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};
use tracing::{Instrument, Level};

/// Where authentication leaves the caller's principal id for the request's line; in the
/// request's extensions while the line is on.
#[derive(Clone)]
pub struct PrincipalSlot(Arc<AtomicI64>);

const NOBODY: i64 = i64::MIN;

impl PrincipalSlot {
    fn new() -> PrincipalSlot {
        PrincipalSlot(Arc::new(AtomicI64::new(NOBODY)))
    }

    pub fn set(&self, principal_id: PrincipalId) {
        self.0.store(principal_id.get(), Ordering::Relaxed);
    }

    fn get(&self) -> Option<i64> {
        Some(self.0.load(Ordering::Relaxed)).filter(|&id| id != NOBODY)
    }
}

/// Records who made the request, for its line (a no-op when the line is off).
pub fn record_principal(extensions: &axum::http::Extensions, principal_id: PrincipalId) {
    if let Some(slot) = extensions.get::<PrincipalSlot>() {
        slot.set(principal_id);
    }
}

/// Times the request as `handle` answers it, and logs its line.
pub async fn log_request(
    mut request: Request,
    handle: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let span = tracing::span!(
        Level::DEBUG,
        "request",
        method = %request.method(),
        path = %request.uri().path(),
    );
    if !tracing::enabled!(Level::INFO) {
        return handle(request).instrument(span).await;
    }
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let principal = PrincipalSlot::new();
    request.extensions_mut().insert(principal.clone());
    let response = handle(request).instrument(span).await;
    tracing::info!(
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        latency_ms = %Millis(started.elapsed()),
        principal_id = principal.get(),
        "request finished"
    );
    response
}

/// A latency in milliseconds with three decimals, formatted from integers (a float's
/// formatting costs more than the rest of the line).
struct Millis(Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = self.0.as_micros();
        write!(f, "{}.{:03}", micros / 1000, micros % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_keep_three_decimals() {
        assert_eq!(Millis(Duration::from_micros(412)).to_string(), "0.412");
        assert_eq!(Millis(Duration::from_micros(12_005)).to_string(), "12.005");
        assert_eq!(Millis(Duration::from_nanos(999)).to_string(), "0.000");
    }

    #[test]
    fn an_unset_slot_names_nobody() {
        let slot = PrincipalSlot::new();
        assert_eq!(slot.get(), None);
        slot.set(PrincipalId::new(7));
        assert_eq!(slot.get(), Some(7));
    }
}
