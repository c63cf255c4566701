//! What this node keeps of statements between requests: their progress and results (for
//! polling and chunks), and the short-lived links that serve `EXTERNAL_LINKS` chunks.
//!
//! This is per node and in memory, as a warehouse's result cache is: results expire after
//! [`RESULT_LIFETIME`], and a restart forgets them — the statements' effects are in the store
//! and the tables, and the history of who ran what is in the store. Every statement id and
//! link secret begins with this node's route, so that another node asked about it passes the
//! request here ([`super::relay`]). Sessions are in the store, shared by all nodes.

use super::engine::{ResultRows, SqlFailure};
use patchbay_core::time::EpochMillis;
use patchbay_core::{PrincipalId, WorkspaceId};
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long a finished statement's result can be fetched (Databricks keeps them an hour).
pub const RESULT_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// How long an external link works.
pub const LINK_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// The most statements a node remembers; the oldest finished ones go first.
const MAX_STATEMENTS: usize = 100_000;
/// About how many bytes of results a node holds; past it, the oldest results are dropped.
const MAX_HELD_BYTES: usize = 2 << 30;
/// What a statement costs to remember beyond its result's bytes (its entry, id and channel).
const ENTRY_BYTES: usize = 512;
/// How often the statements are swept of expired and excess results, and links of expired
/// ones.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Whether a sweep, started because the statements were over a limit, has made room enough:
/// down to three quarters of each, so that the next sweep is thousands of statements away
/// (sweeping a full registry to one below its limit made every new statement sweep it all).
fn room_enough(count: usize, bytes: usize) -> bool {
    count <= MAX_STATEMENTS / 4 * 3 && bytes <= MAX_HELD_BYTES / 4 * 3
}

/// Where a statement is.
#[derive(Clone)]
pub enum Phase {
    Running,
    Succeeded(Arc<Finished>),
    Failed(SqlFailure),
    Canceled,
    Closed,
}

impl Phase {
    pub fn is_done(&self) -> bool {
        !matches!(self, Phase::Running)
    }

    pub fn state(&self) -> &'static str {
        match self {
            Phase::Running => "RUNNING",
            Phase::Succeeded(_) => "SUCCEEDED",
            Phase::Failed(_) => "FAILED",
            Phase::Canceled => "CANCELED",
            Phase::Closed => "CLOSED",
        }
    }
}

/// A result cut into chunks, as the caller asked to receive it.
pub struct Finished {
    pub rows: Box<dyn ResultRows>,
    pub chunks: Vec<Range<usize>>,
    pub truncated: bool,
}

/// How the caller asked for the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presentation {
    pub format: Format,
    pub external_links: bool,
    pub lz4: bool,
    /// `INLINE_OR_EXTERNAL_LINKS` in `ARROW_STREAM`: a small result of one chunk comes in the
    /// response itself, as an `attachment`, instead of behind a link.
    pub attach_small: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonArray,
    ArrowStream,
    Csv,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::JsonArray => "JSON_ARRAY",
            Format::ArrowStream => "ARROW_STREAM",
            Format::Csv => "CSV",
        }
    }
}

/// One statement this node ran or runs.
pub struct Entry {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub principal_id: PrincipalId,
    pub presentation: Presentation,
    phase: watch::Sender<Phase>,
    finished_at: Mutex<Option<Instant>>,
    created: Instant,
}

impl Entry {
    pub fn phase(&self) -> Phase {
        self.phase.borrow().clone()
    }

    /// Records how it ended, unless it already ended (a cancel won the race).
    pub fn finish(&self, phase: Phase) -> bool {
        let changed = self.phase.send_if_modified(|current| {
            if current.is_done() {
                return false;
            }
            *current = phase;
            true
        });
        if changed {
            *self.finished_at.lock().expect("lock") = Some(Instant::now());
        }
        changed
    }

    /// Ends the statement as cancelled if it still runs; its task, waiting on
    /// [`Entry::stopped`] beside the engine, then drops the engine's work and records the
    /// cancel. True when this call cancelled it.
    pub fn cancel(&self) -> bool {
        self.finish(Phase::Canceled)
    }

    /// Closes the statement: its work stops (as for a cancel) and its result is dropped.
    pub fn close(&self) {
        self.phase.send_replace(Phase::Closed);
        *self.finished_at.lock().expect("lock") = Some(Instant::now());
    }

    /// Returns once the statement ended by other hands than its task's (a cancel or a close):
    /// what the task races its work against.
    pub async fn stopped(&self) {
        let mut rx = self.phase.subscribe();
        // The sender lives in `self`, so the channel cannot close while this waits.
        let _ = rx.wait_for(Phase::is_done).await;
    }

    fn expired(&self, now: Instant) -> bool {
        self.finished_at
            .lock()
            .expect("lock")
            .is_some_and(|t| now.duration_since(t) > RESULT_LIFETIME)
    }
}

/// What an external link serves.
#[derive(Clone)]
pub struct Link {
    pub entry: Arc<Entry>,
    pub chunk: usize,
    /// On the server's clock: the link is a credential, and its expiry is on the wire.
    pub expires: EpochMillis,
}

pub struct Registry {
    /// What this node's ids begin with.
    route: String,
    statements: Mutex<Statements>,
    last_sweep: Mutex<Option<Instant>>,
    links: Mutex<Links>,
}

#[derive(Default)]
struct Statements {
    by_id: HashMap<String, Arc<Entry>>,
    /// What the entries and results held take, as of the last sweep plus the entries since.
    bytes: usize,
}

#[derive(Default)]
struct Links {
    by_secret: HashMap<String, Link>,
    last_sweep: Option<Instant>,
}

impl Registry {
    /// The registry of the node whose ids begin with `route`.
    pub fn new(route: String) -> Registry {
        Registry {
            route,
            statements: Mutex::default(),
            last_sweep: Mutex::default(),
            links: Mutex::default(),
        }
    }

    /// What the ids of this node's statements and links begin with.
    pub fn route(&self) -> &str {
        &self.route
    }

    /// A new running statement.
    pub fn begin(
        &self,
        workspace_id: WorkspaceId,
        principal_id: PrincipalId,
        presentation: Presentation,
    ) -> Arc<Entry> {
        let entry = Arc::new(Entry {
            id: new_id(&self.route),
            workspace_id,
            principal_id,
            presentation,
            phase: watch::Sender::new(Phase::Running),
            finished_at: Mutex::new(None),
            created: Instant::now(),
        });
        let mut statements = self.statements.lock().expect("lock");
        let due = {
            let mut last = self.last_sweep.lock().expect("lock");
            let due = last.is_none_or(|t| t.elapsed() >= SWEEP_EVERY);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due || statements.by_id.len() >= MAX_STATEMENTS || statements.bytes > MAX_HELD_BYTES {
            sweep(&mut statements);
        }
        statements.bytes += ENTRY_BYTES;
        statements.by_id.insert(entry.id.clone(), entry.clone());
        entry
    }

    /// A statement of this caller; another's is as unknown as one that never was.
    pub fn statement(
        &self,
        workspace_id: WorkspaceId,
        principal_id: PrincipalId,
        id: &str,
    ) -> Option<Arc<Entry>> {
        let statements = self.statements.lock().expect("lock");
        statements
            .by_id
            .get(id)
            .filter(|e| e.workspace_id == workspace_id && e.principal_id == principal_id)
            .filter(|e| !e.expired(Instant::now()))
            .cloned()
    }

    /// A link to a chunk made at `now`; its secret is the whole credential, so it is random and
    /// short-lived.
    pub fn link(&self, entry: Arc<Entry>, chunk: usize, now: EpochMillis) -> (String, EpochMillis) {
        let mut links = self.links.lock().expect("lock");
        if links.last_sweep.is_none_or(|t| t.elapsed() >= SWEEP_EVERY) {
            links.by_secret.retain(|_, l| l.expires > now);
            links.last_sweep = Some(Instant::now());
        }
        let secret = format!("{}{}", new_id(&self.route), uuid::Uuid::new_v4().simple());
        let lifetime = i64::try_from(LINK_LIFETIME.as_millis()).unwrap_or(i64::MAX);
        let expires = now.saturating_add(lifetime);
        links.by_secret.insert(secret.clone(), Link { entry, chunk, expires });
        (secret, expires)
    }

    /// What the link `secret` serves, unless it expired by `now`.
    pub fn follow(&self, secret: &str, now: EpochMillis) -> Option<Link> {
        let links = self.links.lock().expect("lock");
        links.by_secret.get(secret).filter(|l| l.expires > now).cloned()
    }
}

/// Drops expired results, then, when there are too many statements or their results hold too
/// much memory, the oldest finished ones until there is [`room_enough`].
fn sweep(statements: &mut Statements) {
    let now = Instant::now();
    let by_id = &mut statements.by_id;
    by_id.retain(|_, e| !e.expired(now));
    let held = |e: &Entry| {
        ENTRY_BYTES
            + match &*e.phase.borrow() {
                Phase::Succeeded(f) => f.rows.approximate_bytes(),
                _ => 0,
            }
    };
    let mut bytes: usize = by_id.values().map(|e| held(e)).sum();
    if by_id.len() >= MAX_STATEMENTS || bytes > MAX_HELD_BYTES {
        let mut finished: Vec<(Instant, String, usize)> = by_id
            .values()
            .filter(|e| e.phase.borrow().is_done())
            .map(|e| (e.created, e.id.clone(), held(e)))
            .collect();
        finished.sort();
        for (_, id, size) in finished {
            if room_enough(by_id.len(), bytes) {
                break;
            }
            by_id.remove(&id);
            bytes -= size;
        }
    }
    statements.bytes = bytes;
}

/// A statement id, or the start of a link's secret: the route of the node that holds it, then
/// 96 random bits, in the dashed shape of Databricks' ids (`01ef…-…`).
fn new_id(route: &str) -> String {
    let random = uuid::Uuid::new_v4().to_string();
    format!("{route}{}", &random[ROUTE_LEN..])
}

/// How many hex digits of an id name the node that holds it.
pub const ROUTE_LEN: usize = 8;

/// The route an id names: its first [`ROUTE_LEN`] hex digits, when a dash follows them.
pub fn route_of_id(id: &str) -> Option<&str> {
    let route = id.get(..ROUTE_LEN)?;
    let dashed = id.as_bytes().get(ROUTE_LEN) == Some(&b'-');
    (dashed && route.bytes().all(|b| b.is_ascii_hexdigit())).then_some(route)
}

/// A node's route: the first hex digits of a digest of its id, so that any id (a UUID as
/// `serve` makes, or a name a test gives) has one.
pub fn route_of_node(node_id: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(node_id.as_bytes());
    digest[..ROUTE_LEN / 2].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const WS: WorkspaceId = WorkspaceId::new(1);

    #[test]
    fn a_full_registry_makes_room_for_many_statements_at_once() {
        let registry = Registry::new(route_of_node("node-a"));
        let presentation = Presentation {
            format: Format::JsonArray,
            external_links: false,
            lz4: false,
            attach_small: false,
        };
        let first = registry.begin(WS, PrincipalId::new(2), presentation);
        first.finish(Phase::Canceled);
        let running = registry.begin(WS, PrincipalId::new(2), presentation);
        for _ in 2..MAX_STATEMENTS {
            registry.begin(WS, PrincipalId::new(2), presentation).finish(Phase::Canceled);
        }
        let count = || registry.statements.lock().expect("lock").by_id.len();
        assert_eq!(count(), MAX_STATEMENTS);
        // The next one sweeps: the oldest finished go, down to three quarters.
        let newest = registry.begin(WS, PrincipalId::new(2), presentation);
        let after = count();
        assert!(after <= MAX_STATEMENTS / 4 * 3 + 1, "{after}");
        assert!(
            registry.statement(WS, PrincipalId::new(2), &first.id).is_none(),
            "the oldest went"
        );
        assert!(
            registry.statement(WS, PrincipalId::new(2), &running.id).is_some(),
            "a running one stays"
        );
        assert!(registry.statement(WS, PrincipalId::new(2), &newest.id).is_some());
        // The ones after find room without sweeping.
        for _ in 0..1000 {
            registry.begin(WS, PrincipalId::new(2), presentation).finish(Phase::Canceled);
        }
        assert_eq!(count(), after + 1000);
    }

    #[test]
    fn ids_name_the_node_that_holds_them() {
        let route = route_of_node("node-a");
        assert_eq!(route.len(), ROUTE_LEN);
        assert_ne!(route, route_of_node("node-b"));
        let registry = Registry::new(route.clone());
        let presentation = Presentation {
            format: Format::JsonArray,
            external_links: false,
            lz4: false,
            attach_small: false,
        };
        let entry = registry.begin(WS, PrincipalId::new(2), presentation);
        assert_eq!(route_of_id(&entry.id), Some(route.as_str()));
        assert!(uuid::Uuid::parse_str(&entry.id).is_ok(), "{}", entry.id);
        let (secret, _) = registry.link(entry, 0, 0);
        assert_eq!(route_of_id(&secret), Some(route.as_str()));
        // Ids of another shape name no node: this node answers them, as unknown.
        for id in ["", "abc", "0123456789", "0123456g-aaaa", "01234567_aaaa", "ü1234567-a"] {
            assert_eq!(route_of_id(id), None, "{id}");
        }
    }
}
