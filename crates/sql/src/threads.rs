//! The threads statements are planned and run on: a runtime of their own.
//!
//! The query engine works on whatever runtime polls it, and a heavy query (a join of millions
//! of rows) keeps each thread it runs on busy for seconds between yields. On the server's own
//! runtime that held the threads that answer HTTP requests: while one such query ran, a `/Me`
//! took 16 seconds. On threads of their own, the operating system shares the cores between
//! the two, and every other request is answered as before.

use patchbay_engine::EngineError;
use std::future::Future;
use tokio::runtime::{Builder, Runtime};
use tokio::task::JoinHandle;

pub(crate) struct EngineThreads(Option<Runtime>);

impl EngineThreads {
    /// As many threads as the machine has cores.
    pub(crate) fn new() -> Result<EngineThreads, EngineError> {
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        let runtime = Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("sql-engine")
            .enable_all()
            .build()
            .map_err(|e| EngineError::Storage(format!("no threads for the query engine: {e}")))?;
        Ok(EngineThreads(Some(runtime)))
    }

    /// Runs `work` on the engine's threads. Dropping the returned future stops the work, as
    /// dropping the work itself would.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, EngineError>> + Send + 'static,
    ) -> Result<T, EngineError> {
        let runtime = self.0.as_ref().expect("the engine's runtime lives as long as it");
        let mut task = AbortOnDrop(runtime.spawn(work));
        match (&mut task.0).await {
            Ok(outcome) => outcome,
            Err(e) if e.is_cancelled() => Err(EngineError::Cancelled),
            Err(e) => {
                tracing::error!(error = %e, "a statement's work panicked");
                Err(EngineError::Storage("the statement failed inside the engine".into()))
            }
        }
    }
}

impl Drop for EngineThreads {
    /// A runtime may not be dropped where blocking is not allowed (inside the server's own):
    /// its threads are told to stop, and not waited for.
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
