//! Per-token rate limits, so that one runaway client cannot monopolise a node: a token bucket per
//! (token digest, endpoint family), in memory. Above the limit a request is answered 429 with
//! `REQUEST_LIMIT_EXCEEDED` and an integer `Retry-After`, which the Databricks SDKs honour before
//! retrying. The defaults mirror Databricks' published limits; each bucket holds ten seconds'
//! worth of requests, so bursts pass and only sustained floods are slowed.
//!
//! The buckets live in each node's memory: with several nodes behind a load balancer the limits
//! apply per node.

use crate::error::{ApiError, Envelope};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use patchbay_core::token::TokenValue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A group of endpoints that share a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `/api/2.0/token-management/…`: 40 requests/s (Databricks: per workspace).
    TokenManagement,
    /// Permissions API `PATCH`/`PUT`: 30 requests/s.
    PermissionsWrite,
    /// Permissions API reads: 100 requests/s.
    PermissionsRead,
    /// SCIM `POST`/`PUT`/`PATCH`/`DELETE`: 5 requests/s.
    ScimWrite,
}

impl Family {
    /// The family of a request, if it has a limit.
    pub fn of(method: &Method, path: &str) -> Option<Family> {
        let write = matches!(
            *method,
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        );
        if path.starts_with("/api/2.0/token-management/") {
            Some(Family::TokenManagement)
        } else if path.starts_with("/api/2.0/permissions/") {
            Some(if *method == Method::PATCH || *method == Method::PUT {
                Family::PermissionsWrite
            } else {
                Family::PermissionsRead
            })
        } else if path.starts_with(crate::scim::PREFIX) && write {
            Some(Family::ScimWrite)
        } else {
            None
        }
    }

    /// Sustained requests per second allowed per token.
    pub fn per_second(self) -> u32 {
        match self {
            Family::TokenManagement => 40,
            Family::PermissionsWrite => 30,
            Family::PermissionsRead => 100,
            Family::ScimWrite => 5,
        }
    }

    /// How many requests may come at once: ten seconds' worth.
    pub fn burst(self) -> u32 {
        self.per_second() * 10
    }

    fn describe(self) -> &'static str {
        match self {
            Family::TokenManagement => "the Token Management API",
            Family::PermissionsWrite => "Permissions API updates",
            Family::PermissionsRead => "Permissions API reads",
            Family::ScimWrite => "SCIM changes",
        }
    }
}

/// Past this many buckets, full ones (idle tokens) are dropped on the next insert.
const SWEEP_ABOVE: usize = 10_000;

/// The buckets of one node.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<(String, Family), Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn refilled(self, family: Family, now: Instant) -> Bucket {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        Bucket {
            tokens: (self.tokens + elapsed * f64::from(family.per_second()))
                .min(f64::from(family.burst())),
            at: now,
        }
    }
}

impl RateLimiter {
    pub fn new() -> Arc<RateLimiter> {
        Arc::new(RateLimiter::default())
    }

    /// Takes one request from the bucket of (`digest`, `family`); when it is empty, says how
    /// many whole seconds until it holds one again.
    pub fn check(&self, digest: &str, family: Family, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= SWEEP_ABOVE && !buckets.contains_key(&(digest.to_owned(), family)) {
            buckets.retain(|(_, f), b| b.refilled(*f, now).tokens < f64::from(f.burst()));
        }
        let bucket = buckets
            .entry((digest.to_owned(), family))
            .or_insert(Bucket {
                tokens: f64::from(family.burst()),
                at: now,
            });
        *bucket = bucket.refilled(family, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / f64::from(family.per_second());
            Err((wait.ceil() as u64).max(1))
        }
    }
}

/// The middleware: limits requests that carry a well-formed token and belong to a limited
/// family. Everything else passes untouched (authentication still refuses what it must).
pub async fn limit(
    State(limiter): State<Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let Some(family) = Family::of(request.method(), path) else {
        return next.run(request).await;
    };
    let Some(token) =
        crate::auth::presented_token(request.headers()).and_then(|t| TokenValue::parse(&t))
    else {
        return next.run(request).await;
    };
    match limiter.check(token.digest().as_str(), family, Instant::now()) {
        Ok(()) => next.run(request).await,
        Err(retry_after) => too_many_requests(family, retry_after, Envelope::for_path(path)),
    }
}

fn too_many_requests(family: Family, retry_after: u64, envelope: Envelope) -> Response {
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "REQUEST_LIMIT_EXCEEDED",
        format!(
            "Too many requests to {} with this token: the limit is {} per second (bursts of {}). \
             Wait {retry_after} s before the next one.",
            family.describe(),
            family.per_second(),
            family.burst()
        ),
    )
    .in_envelope(envelope)
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn families() {
        let scim = "/api/2.0/preview/scim/v2/Users";
        assert_eq!(Family::of(&Method::POST, scim), Some(Family::ScimWrite));
        assert_eq!(Family::of(&Method::GET, scim), None);
        assert_eq!(
            Family::of(&Method::GET, "/api/2.0/token-management/tokens"),
            Some(Family::TokenManagement)
        );
        assert_eq!(
            Family::of(&Method::PATCH, "/api/2.0/permissions/authorization/tokens"),
            Some(Family::PermissionsWrite)
        );
        assert_eq!(
            Family::of(&Method::GET, "/api/2.0/permissions/authorization/tokens"),
            Some(Family::PermissionsRead)
        );
        assert_eq!(
            Family::of(&Method::POST, "/api/2.0/partner-connect/partners/x/connect"),
            None
        );
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        for _ in 0..Family::ScimWrite.burst() {
            assert_eq!(limiter.check("a", Family::ScimWrite, t0), Ok(()));
        }
        assert_eq!(limiter.check("a", Family::ScimWrite, t0), Err(1));
        assert_eq!(
            limiter.check("b", Family::ScimWrite, t0),
            Ok(()),
            "per token"
        );
        assert_eq!(
            limiter.check("a", Family::TokenManagement, t0),
            Ok(()),
            "per family"
        );
        let later = t0 + Duration::from_millis(200);
        assert_eq!(limiter.check("a", Family::ScimWrite, later), Ok(()));
        assert_eq!(limiter.check("a", Family::ScimWrite, later), Err(1));
    }

    #[test]
    fn idle_buckets_are_swept() {
        let limiter = RateLimiter::default();
        let t0 = Instant::now();
        for i in 0..SWEEP_ABOVE {
            limiter
                .check(&i.to_string(), Family::ScimWrite, t0)
                .unwrap();
        }
        let later = t0 + Duration::from_secs(1);
        limiter.check("new", Family::ScimWrite, later).unwrap();
        assert_eq!(limiter.buckets.lock().unwrap().len(), 1);
    }
}
