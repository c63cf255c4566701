//! Query history, written in groups.
//!
//! A statement that ends adds its line and waits until the line is committed, so whoever sees
//! the statement end (its waiter, a poll) finds it in the history too. Statements ending at the
//! same time share one transaction (one statement): while one group commits, the lines that arrive meanwhile
//! gather and go in the next. On a busy warehouse that is one commit (and one `fsync`) for many
//! statements instead of one each; a lone statement waits for nothing but its own commit.

use patchbay_core::access::Caller;
use patchbay_core::time::EpochMillis;
use patchbay_store::{NewQuery, Store};
use std::sync::OnceLock;
use tokio::sync::{mpsc, oneshot};

/// The most lines one transaction writes: twelve values each in one statement, and SQLite
/// looks a value's `$N` name up in a list, so a statement of thousands of values costs more
/// to bind than it saves.
const MAX_GROUP: usize = 64;

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
    lines: OnceLock<mpsc::UnboundedSender<Pending>>,
}

impl History {
    pub fn new(store: Store) -> History {
        History {
            store,
            lines: OnceLock::new(),
        }
    }

    /// Writes `line`, and returns once it is committed (or could not be, with why).
    pub(crate) async fn record(&self, line: Line) -> Result<(), String> {
        let lines = self.lines.get_or_init(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            tokio::spawn(write_groups(self.store.clone(), receiver));
            sender
        });
        let (written, wait) = oneshot::channel();
        lines
            .send(Pending { line, written })
            .map_err(|_| "the history writer has stopped".to_owned())?;
        wait.await
            .map_err(|_| "the history writer has stopped".to_owned())?
    }
}

/// Writes whatever lines are waiting, up to [`MAX_GROUP`], in one transaction, and tells each
/// waiter how it went; then the next group.
async fn write_groups(store: Store, mut lines: mpsc::UnboundedReceiver<Pending>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while lines.recv_many(&mut group, MAX_GROUP).await > 0 {
        let new: Vec<NewQuery<'_>> = group.iter().map(|p| p.line.as_new()).collect();
        let outcome = store.record_queries(&new).await.map_err(|e| e.to_string());
        drop(new);
        for pending in group.drain(..) {
            // A waiter that went away (its request ended) needs no answer.
            let _ = pending.written.send(outcome.clone());
        }
    }
}
