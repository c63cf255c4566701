//! Per-token limits, so that one runaway client cannot monopolise a node: how many requests a
//! token may have in progress at once, and a token bucket per (token, endpoint family). Above a
//! limit a request is answered 429 with `REQUEST_LIMIT_EXCEEDED` and an integer `Retry-After`,
//! which the Databricks SDKs honour before retrying.
//!
//! Only tokens that authenticated are counted: the middleware ([`admission`]) leaves an
//! [`Admission`] in the request, and authentication ([`crate::auth`]) fills it in once the
//! token is known to be real, with no lookup of its own. A made-up token makes no entry, so
//! the entries are bounded by the tokens in use, and idle ones are swept at most once per
//! [`SWEEP_EVERY`].
//!
//! The limits live in each node's memory: with several nodes behind a load balancer they apply
//! per node, and a restart resets them.

use crate::error::{ApiError, Envelope};
use axum::extract::{Request, State};
use axum::http::{Extensions, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use patchbay_core::token::TokenDigest;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How a node limits each token (`patchbay serve --rate-limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateLimits {
    /// Protects the node without slowing any ordinary client. The rates are far above what the
    /// busiest clients we know send with one token: scim2-tester's whole run is about 1,300
    /// requests, an identity provider provisioning ten thousand users sends them a few at a
    /// time, an SDK loop one request at a time (a few hundred a second against a local node).
    /// A node commits about 5,000 durable write transactions a second (SQLite,
    /// `synchronous=FULL`), so 2,000 writes a second per token is no brake on a client, yet
    /// keeps a flood from one token from taking every write the node can make. What protects
    /// the node first is the bound on requests in progress ([`MAX_IN_FLIGHT`]).
    #[default]
    On,
    /// Databricks' published per-token limits: token management 40/s, permissions updates
    /// 30/s and reads 100/s, SCIM changes 5/s. For partner engineers who want to see their
    /// integration honour 429 and `Retry-After`.
    Databricks,
    /// No limits.
    Off,
}

impl RateLimits {
    /// Sustained requests per second a token may send to `family`.
    pub fn per_second(self, family: Family) -> u32 {
        match (self, family) {
            (RateLimits::Databricks, Family::TokenManagement) => 40,
            (RateLimits::Databricks, Family::PermissionsWrite) => 30,
            (RateLimits::Databricks, Family::PermissionsRead) => 100,
            (RateLimits::Databricks, Family::ScimWrite) => 5,
            (RateLimits::On, Family::PermissionsRead) => 10_000,
            (RateLimits::On, _) => 2_000,
            (RateLimits::Off, _) => u32::MAX,
        }
    }

    /// How many requests may come at once: ten seconds' worth, so bursts pass and only
    /// sustained floods are slowed.
    pub fn burst(self, family: Family) -> u32 {
        self.per_second(family).saturating_mul(10)
    }
}

/// Most requests one token may have in progress at once (with limits on). The SDKs and CLIs
/// send one request at a time, Terraform ten by default, an identity provider a few; beyond 64
/// one token would only queue for the node's database connections and crowd out the others.
pub const MAX_IN_FLIGHT: u32 = 64;

/// A group of endpoints that share a rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `/api/2.0/token-management/…`.
    TokenManagement,
    /// Permissions API `PATCH`/`PUT`.
    PermissionsWrite,
    /// Permissions API reads.
    PermissionsRead,
    /// SCIM `POST`/`PUT`/`PATCH`/`DELETE`.
    ScimWrite,
}

const FAMILIES: usize = 4;

impl Family {
    const ALL: [Family; FAMILIES] = [
        Family::TokenManagement,
        Family::PermissionsWrite,
        Family::PermissionsRead,
        Family::ScimWrite,
    ];

    /// The family of a request, if it has a rate.
    pub fn of(method: &Method, path: &str) -> Option<Family> {
        let write = matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
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

    fn index(self) -> usize {
        match self {
            Family::TokenManagement => 0,
            Family::PermissionsWrite => 1,
            Family::PermissionsRead => 2,
            Family::ScimWrite => 3,
        }
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

/// With more tokens than this tracked, idle ones are dropped when a new one comes…
pub const SWEEP_ABOVE: usize = 10_000;
/// …but at most once per this interval, so that the sweep, which visits every entry under the
/// lock, stays rare whatever the traffic.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The limits of one node.
#[derive(Debug)]
pub struct RateLimiter {
    limits: RateLimits,
    tokens: Mutex<Tokens>,
}

#[derive(Debug)]
struct Tokens {
    /// By SHA-256 digest of the token.
    by_digest: HashMap<[u8; 32], TokenUse, BuildHasherDefault<DigestHasher>>,
    swept_at: Instant,
}

/// Hashes a key that is already a SHA-256 digest by taking its first eight bytes: uniform, and
/// chosen by no one (only tokens that authenticated become keys), so SipHash's protection
/// against crafted keys buys nothing here, and this runs twice per request.
#[derive(Debug, Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        if let Some(first) = bytes.first_chunk::<8>() {
            self.0 = u64::from_ne_bytes(*first);
        }
    }

    // The array's length, written before its bytes: the same for every key.
    fn write_usize(&mut self, _: usize) {}
}

/// What one token is doing.
#[derive(Debug, Clone, Copy)]
struct TokenUse {
    in_flight: u32,
    buckets: [Bucket; FAMILIES],
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn refilled(self, per_second: u32, burst: u32, now: Instant) -> Bucket {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        Bucket {
            tokens: (self.tokens + elapsed * f64::from(per_second)).min(f64::from(burst)),
            at: now,
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The token already has [`MAX_IN_FLIGHT`] requests in progress.
    InFlight,
    /// The family's bucket is empty; it holds a request again in this many whole seconds.
    Rate { family: Family, retry_after: u64 },
}

impl Refusal {
    fn retry_after(self) -> u64 {
        match self {
            Refusal::InFlight => 1,
            Refusal::Rate { retry_after, .. } => retry_after,
        }
    }
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> RateLimiter {
        RateLimiter {
            limits,
            tokens: Mutex::new(Tokens { by_digest: HashMap::default(), swept_at: Instant::now() }),
        }
    }

    /// How many tokens this node keeps track of now.
    pub fn tracked_tokens(&self) -> usize {
        self.lock().by_digest.len()
    }

    /// How many requests of the token with `digest` are in progress.
    pub fn in_progress(&self, digest: &TokenDigest) -> u32 {
        self.lock().by_digest.get(&key_of(digest)).map_or(0, |token| token.in_flight)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tokens> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a request of the token `key` starting (to `family`, if it has a rate): one more
    /// in progress, one less in the family's bucket. The caller ends it with [`Self::end`].
    pub fn start(
        &self,
        key: [u8; 32],
        family: Option<Family>,
        now: Instant,
    ) -> Result<(), Refusal> {
        let limits = self.limits;
        let mut tokens = self.lock();
        if !tokens.by_digest.contains_key(&key)
            && tokens.by_digest.len() >= SWEEP_ABOVE
            && now.saturating_duration_since(tokens.swept_at) >= SWEEP_EVERY
        {
            tokens.swept_at = now;
            tokens.by_digest.retain(|_, token| !token.is_idle(limits, now));
        }
        let token = tokens.by_digest.entry(key).or_insert_with(|| TokenUse {
            in_flight: 0,
            buckets: Family::ALL.map(|f| Bucket { tokens: f64::from(limits.burst(f)), at: now }),
        });
        if token.in_flight >= MAX_IN_FLIGHT {
            return Err(Refusal::InFlight);
        }
        if let Some(family) = family {
            let per_second = limits.per_second(family);
            let bucket = &mut token.buckets[family.index()];
            *bucket = bucket.refilled(per_second, limits.burst(family), now);
            if bucket.tokens < 1.0 {
                let wait = (1.0 - bucket.tokens) / f64::from(per_second);
                return Err(Refusal::Rate { family, retry_after: (wait.ceil() as u64).max(1) });
            }
            bucket.tokens -= 1.0;
        }
        token.in_flight += 1;
        Ok(())
    }

    /// A request counted by [`Self::start`] is done.
    pub fn end(&self, key: [u8; 32]) {
        if let Some(token) = self.lock().by_digest.get_mut(&key) {
            token.in_flight = token.in_flight.saturating_sub(1);
        }
    }
}

impl TokenUse {
    /// Nothing in progress and every bucket full again: forgetting the token changes nothing,
    /// as it would start again from full buckets.
    fn is_idle(&self, limits: RateLimits, now: Instant) -> bool {
        self.in_flight == 0
            && Family::ALL.iter().all(|f| {
                let burst = limits.burst(*f);
                self.buckets[f.index()].refilled(limits.per_second(*f), burst, now).tokens
                    >= f64::from(burst)
            })
    }
}

/// The map's key for a token: its digest as bytes.
fn key_of(digest: &TokenDigest) -> [u8; 32] {
    let mut key = [0u8; 32];
    hex::decode_to_slice(digest.as_str(), &mut key).expect("a digest is 64 hex digits");
    key
}

/// What the middleware leaves in each request for authentication to decide on: a request is
/// counted only once its token proved real.
#[derive(Clone)]
pub struct Admission(Arc<Slot>);

struct Slot {
    limiter: Arc<RateLimiter>,
    family: Option<Family>,
    outcome: OnceLock<Result<InProgress, Refusal>>,
}

/// A counted request; ends when the last holder of the [`Admission`] lets go of it, that is
/// when the response is ready.
struct InProgress {
    limiter: Arc<RateLimiter>,
    key: [u8; 32],
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.limiter.end(self.key);
    }
}

/// Counts the request of an authenticated token, if the node limits requests (the
/// [`admission`] middleware runs); a refusal is a 429 in the request's envelope. Called once
/// per request by authentication; a second call repeats the first answer.
pub(crate) fn admit(
    extensions: &Extensions,
    digest: &TokenDigest,
    envelope: Envelope,
) -> Result<(), ApiError> {
    let Some(Admission(slot)) = extensions.get::<Admission>() else {
        return Ok(());
    };
    let outcome = slot.outcome.get_or_init(|| {
        let key = key_of(digest);
        slot.limiter
            .start(key, slot.family, Instant::now())
            .map(|()| InProgress { limiter: slot.limiter.clone(), key })
    });
    match outcome {
        Ok(_) => Ok(()),
        Err(refusal) => Err(too_many_requests(*refusal, slot.limiter.limits).in_envelope(envelope)),
    }
}

/// The middleware: gives each request an [`Admission`] for authentication to fill in, and adds
/// `Retry-After` to a refusal.
pub async fn admission(
    State(limiter): State<Arc<RateLimiter>>,
    mut request: Request,
    next: Next,
) -> Response {
    let family = Family::of(request.method(), request.uri().path());
    let slot = Arc::new(Slot { limiter, family, outcome: OnceLock::new() });
    request.extensions_mut().insert(Admission(slot.clone()));
    let mut response = next.run(request).await;
    if let Some(Err(refusal)) = slot.outcome.get()
        && response.status() == StatusCode::TOO_MANY_REQUESTS
    {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(refusal.retry_after()));
    }
    response
}

fn too_many_requests(refusal: Refusal, limits: RateLimits) -> ApiError {
    let message = match refusal {
        Refusal::InFlight => format!(
            "Too many requests in progress with this token: at most {MAX_IN_FLIGHT} at a time. \
             Wait 1 s before the next one."
        ),
        Refusal::Rate { family, retry_after } => format!(
            "Too many requests to {} with this token: the limit is {} per second (bursts of {}). \
             Wait {retry_after} s before the next one.",
            family.describe(),
            limits.per_second(family),
            limits.burst(family)
        ),
    };
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "REQUEST_LIMIT_EXCEEDED", message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> [u8; 32] {
        let mut k = [0u8; 32];
        k[..8].copy_from_slice(&(i as u64).to_le_bytes());
        k
    }

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
        assert_eq!(Family::of(&Method::POST, "/api/2.0/partner-connect/partners/x/connect"), None);
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let limiter = RateLimiter::new(RateLimits::Databricks);
        let burst = RateLimits::Databricks.burst(Family::ScimWrite);
        let t0 = Instant::now();
        let (a, b) = (key(1), key(2));
        for _ in 0..burst {
            assert_eq!(limiter.start(a, Some(Family::ScimWrite), t0), Ok(()));
            limiter.end(a);
        }
        let empty = Err(Refusal::Rate { family: Family::ScimWrite, retry_after: 1 });
        assert_eq!(limiter.start(a, Some(Family::ScimWrite), t0), empty);
        assert_eq!(limiter.start(b, Some(Family::ScimWrite), t0), Ok(()), "per token");
        assert_eq!(limiter.start(a, Some(Family::TokenManagement), t0), Ok(()), "per family");
        assert_eq!(limiter.start(a, None, t0), Ok(()), "no family, no rate");
        // 5/s: one more after 200 ms, and only one.
        let later = t0 + Duration::from_millis(200);
        assert_eq!(limiter.start(a, Some(Family::ScimWrite), later), Ok(()));
        assert_eq!(limiter.start(a, Some(Family::ScimWrite), later), empty);
    }

    #[test]
    fn the_default_rates_let_a_large_sync_through() {
        let limiter = RateLimiter::new(RateLimits::On);
        let t0 = Instant::now();
        // Ten thousand SCIM changes within one second, one at a time.
        for i in 0..10_000u32 {
            let now = t0 + Duration::from_micros(u64::from(i) * 100);
            assert_eq!(limiter.start(key(1), Some(Family::ScimWrite), now), Ok(()), "{i}");
            limiter.end(key(1));
        }
    }

    #[test]
    fn requests_in_progress_are_bounded_per_token() {
        for limits in [RateLimits::On, RateLimits::Databricks] {
            let limiter = RateLimiter::new(limits);
            let t0 = Instant::now();
            for _ in 0..MAX_IN_FLIGHT {
                assert_eq!(limiter.start(key(1), None, t0), Ok(()));
            }
            assert_eq!(limiter.start(key(1), None, t0), Err(Refusal::InFlight));
            assert_eq!(limiter.start(key(1), Some(Family::ScimWrite), t0), Err(Refusal::InFlight));
            assert_eq!(limiter.start(key(2), None, t0), Ok(()), "per token");
            limiter.end(key(1));
            assert_eq!(limiter.start(key(1), None, t0), Ok(()), "one ended, one more");
        }
    }

    #[test]
    fn idle_tokens_are_swept_at_most_once_per_interval() {
        let limiter = RateLimiter::new(RateLimits::Databricks);
        let t0 = Instant::now();
        for i in 0..SWEEP_ABOVE {
            limiter.start(key(i), Some(Family::ScimWrite), t0).unwrap();
            limiter.end(key(i));
        }
        // One token still has a request in progress: it stays.
        limiter.start(key(0), None, t0).unwrap();
        assert_eq!(limiter.tracked_tokens(), SWEEP_ABOVE);

        // Within the interval, new tokens are added without a sweep.
        let soon = t0 + Duration::from_secs(1);
        limiter.start(key(SWEEP_ABOVE), None, soon).unwrap();
        assert_eq!(limiter.tracked_tokens(), SWEEP_ABOVE + 1);

        // Once it has passed, the next new token sweeps every idle one (full buckets again).
        let later = t0 + SWEEP_EVERY;
        limiter.start(key(SWEEP_ABOVE + 1), None, later).unwrap();
        assert_eq!(
            limiter.tracked_tokens(),
            3,
            "the busy token, the one added meanwhile (in progress), the new one"
        );
        // A known token never sweeps.
        limiter.start(key(0), None, later + SWEEP_EVERY).unwrap();
        assert_eq!(limiter.tracked_tokens(), 3);
    }
}
