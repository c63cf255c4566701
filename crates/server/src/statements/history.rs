//! Query history, written in groups.
//!
//! A statement that ends adds its line and waits until the line is committed, so whoever sees
//! the statement end (its waiter, a poll) finds it in the history too. Statements ending at the
//! same time share one transaction (one statement): while one group commits, the lines that
//! arrive meanwhile gather and go in the next. On a busy warehouse that is one commit (and one
//! `fsync`) for many statements instead of one each; a lone statement waits for nothing but its
//! own commit.
//!
//! History is kept for a while (`serve --query-history-days`, 30 by default, as Databricks
//! keeps it), not forever: after a group is written, and at most every ten minutes, the writer
//! forgets a batch of the lines that ended before then, and a batch after each group that
//! follows while there are more. A statement never waits for that.

use patchbay_core::access::Caller;
use patchbay_core::time::EpochMillis;
use patchbay_store::{NewQuery, Store};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The most lines one transaction writes: twelve values each in one statement, and SQLite
/// looks a value's `$N` name up in a list, so a statement of thousands of values costs more
/// to bind than it saves.
const MAX_GROUP: usize = 64;
/// How often lines past their retention are looked for.
const FORGET_EVERY_MILLIS: EpochMillis = 10 * 60 * 1000;
/// The most lines one forgetting removes: one short transaction between groups, however much
/// has piled up.
const FORGET_BATCH: i64 = 5000;

/// A line of history, owned until it is written.
#[derive(Debug)]
pub(crate) struct Line {
    pub id: String,
    pub caller: Caller,
    pub warehouse_id: String,
    pub statement: String,
    /// `FINISHED`, `FAILED` or `CANCELED`.
    pub status: &'static str,
    pub error: Option<String>,
    pub rows: Option<i64>,
    pub started_at: EpochMillis,
    pub ended_at: EpochMillis,
}

impl Line {
    fn as_new(&self) -> NewQuery<'_> {
        NewQuery {
            id: &self.id,
            caller: &self.caller,
            warehouse_id: &self.warehouse_id,
            statement: &self.statement,
            status: self.status,
            error: self.error.as_deref(),
            rows: self.rows,
            started_at: self.started_at,
            ended_at: self.ended_at,
        }
    }
}

struct Pending {
    line: Line,
    written: oneshot::Sender<Result<(), String>>,
}

/// The node's history writer: one task, started on the first line.
pub struct History {
    store: Store,
    /// How long a line is kept; `None`: forever.
    retention: Option<Duration>,
    lines: OnceLock<mpsc::UnboundedSender<Pending>>,
}

impl History {
    pub fn new(store: Store, retention: Option<Duration>) -> History {
        History { store, retention, lines: OnceLock::new() }
    }

    /// Writes `line`, and returns once it is committed (or could not be, with why).
    pub(crate) async fn record(&self, line: Line) -> Result<(), String> {
        let lines = self.lines.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            let forget = self.retention.map(|keep| Forget {
                keep: EpochMillis::try_from(keep.as_millis()).unwrap_or(EpochMillis::MAX),
                last: None,
                more: false,
            });
            tokio::spawn(write_groups(self.store.clone(), receiver, forget));
            sender
        });
        let (written, wait) = oneshot::channel();
        lines
            .send(Pending { line, written })
            .map_err(|_| "the history writer has stopped".to_owned())?;
        wait.await.map_err(|_| "the history writer has stopped".to_owned())?
    }
}

/// Writes whatever lines are waiting, up to [`MAX_GROUP`], in one transaction, and tells each
/// waiter how it went; then forgets old lines if it is time to; then the next group.
async fn write_groups(
    store: Store,
    mut lines: mpsc::UnboundedReceiver<Pending>,
    mut forget: Option<Forget>,
) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while lines.recv_many(&mut group, MAX_GROUP).await > 0 {
        let new: Vec<NewQuery<'_>> = group.iter().map(|p| p.line.as_new()).collect();
        let outcome = store.record_queries(&new).await.map_err(|e| e.to_string());
        drop(new);
        for pending in group.drain(..) {
            // A waiter that went away (its request ended) needs no answer.
            let _ = pending.written.send(outcome.clone());
        }
        if let Some(forget) = &mut forget {
            forget.run(&store).await;
        }
    }
}

/// Where forgetting lines past their retention stands.
struct Forget {
    keep: EpochMillis,
    /// When it last looked.
    last: Option<EpochMillis>,
    /// The last batch was full: there may be more.
    more: bool,
}

impl Forget {
    async fn run(&mut self, store: &Store) {
        let now = store.clock().now_millis();
        let due = self.last.is_none_or(|t| now - t >= FORGET_EVERY_MILLIS);
        if !(due || self.more) {
            return;
        }
        self.last = Some(now);
        match store.forget_queries(now.saturating_sub(self.keep), FORGET_BATCH).await {
            Ok(gone) => {
                self.more = gone >= FORGET_BATCH.unsigned_abs();
                if gone > 0 {
                    tracing::debug!(lines = gone, "query history: old lines forgotten");
                }
            }
            Err(e) => {
                self.more = false;
                tracing::warn!(error = %e, "query history: old lines not forgotten");
            }
        }
    }
}
