//! Job runs: the life cycle a run goes through and how a new run is admitted. Nothing runs: a
//! run is PENDING for one transition time, RUNNING for another, then TERMINATED with
//! `SUCCESS`; a cancel makes it TERMINATING, then TERMINATED with `CANCELED`. Like warehouses
//! and clusters, the stored phase and its start are enough to tell the state at any instant.

use super::wire_enum;
use crate::time::EpochMillis;

wire_enum! {
    /// What a run was last put in, as stored.
    RunPhase {
        Pending = "PENDING",
        Terminating = "TERMINATING",
        Skipped = "SKIPPED",
    }
}

wire_enum! {
    /// `state.life_cycle_state` of the Jobs API.
    LifeCycleState {
        Pending = "PENDING",
        Running = "RUNNING",
        Terminating = "TERMINATING",
        Terminated = "TERMINATED",
        Skipped = "SKIPPED",
    }
}

wire_enum! {
    /// `state.result_state` of a run that ended.
    ResultState {
        Success = "SUCCESS",
        Canceled = "CANCELED",
    }
}

/// Why a run exists without doing anything, in every message a client shows.
pub const NO_CODE_RUNS: &str = "patchbay runs no code";

/// A run's state at one instant, with its timings as the Jobs API reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub life_cycle: LifeCycleState,
    pub result: Option<ResultState>,
    pub message: &'static str,
    /// When it ended; `None` while it is active.
    pub end_time: Option<EpochMillis>,
    pub setup_duration: i64,
    pub execution_duration: i64,
    pub cleanup_duration: i64,
}

impl Observed {
    /// Whether the run still counts against the job's `max_concurrent_runs`.
    pub fn is_active(&self) -> bool {
        matches!(
            self.life_cycle,
            LifeCycleState::Pending | LifeCycleState::Running | LifeCycleState::Terminating
        )
    }

    /// Whether a user canceled it.
    pub fn canceled(&self) -> bool {
        self.result == Some(ResultState::Canceled)
    }
}

impl RunPhase {
    /// The state at `now` of a run started at `start`, in this phase since `since`, each
    /// transition taking `delay_millis`.
    pub fn at(
        self,
        start: EpochMillis,
        since: EpochMillis,
        now: EpochMillis,
        delay_millis: i64,
    ) -> Observed {
        let d = delay_millis.max(0);
        let elapsed = now.saturating_sub(since);
        match self {
            RunPhase::Skipped => Observed {
                life_cycle: LifeCycleState::Skipped,
                result: None,
                message: "Skipping this run because the job's limit of concurrent runs has been \
                          reached.",
                end_time: Some(since),
                setup_duration: 0,
                execution_duration: 0,
                cleanup_duration: 0,
            },
            RunPhase::Pending if elapsed < d => Observed {
                life_cycle: LifeCycleState::Pending,
                result: None,
                message: "Waiting for the run to start (patchbay runs no code).",
                end_time: None,
                setup_duration: 0,
                execution_duration: 0,
                cleanup_duration: 0,
            },
            RunPhase::Pending if elapsed < d.saturating_mul(2) => Observed {
                life_cycle: LifeCycleState::Running,
                result: None,
                message: "Running (patchbay runs no code: the run ends without doing anything).",
                end_time: None,
                setup_duration: d,
                execution_duration: 0,
                cleanup_duration: 0,
            },
            RunPhase::Pending => Observed {
                life_cycle: LifeCycleState::Terminated,
                result: Some(ResultState::Success),
                message: "patchbay runs no code: the run succeeded without running anything.",
                end_time: Some(since.saturating_add(d.saturating_mul(2))),
                setup_duration: d,
                execution_duration: d,
                cleanup_duration: 0,
            },
            RunPhase::Terminating => {
                // Canceled at `since`: whatever of setup and execution had passed by then.
                let before = since.saturating_sub(start).max(0);
                let setup = before.min(d);
                // (`i64::saturating_sub` stops at `i64::MIN`, not at zero.)
                let execution = before.saturating_sub(d).max(0);
                if elapsed < d {
                    Observed {
                        life_cycle: LifeCycleState::Terminating,
                        result: Some(ResultState::Canceled),
                        message: "Canceling the run.",
                        end_time: None,
                        setup_duration: setup,
                        execution_duration: execution,
                        cleanup_duration: 0,
                    }
                } else {
                    Observed {
                        life_cycle: LifeCycleState::Terminated,
                        result: Some(ResultState::Canceled),
                        message: "Run canceled by a user request.",
                        end_time: Some(since.saturating_add(d)),
                        setup_duration: setup,
                        execution_duration: execution,
                        cleanup_duration: d,
                    }
                }
            }
        }
    }
}

/// The phase a cancel moves a run to at `now`, or `None` when it has already ended or is
/// being canceled (a cancel of such a run changes nothing, as in Databricks).
pub fn cancel(observed: &Observed) -> Option<RunPhase> {
    matches!(observed.life_cycle, LifeCycleState::Pending | LifeCycleState::Running)
        .then_some(RunPhase::Terminating)
}

/// The phase a new run starts in: skipped when the job already has `max_concurrent_runs`
/// active runs (`max_concurrent_runs` 0 skips every run), pending otherwise.
pub fn admit(active_runs: usize, max_concurrent_runs: i64) -> RunPhase {
    let limit = usize::try_from(max_concurrent_runs.max(0)).unwrap_or(usize::MAX);
    if active_runs >= limit { RunPhase::Skipped } else { RunPhase::Pending }
}

/// Longest `idempotency_token` of `run-now`.
pub const MAX_IDEMPOTENCY_TOKEN_CHARS: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_moves_from_pending_through_running_to_success() {
        let at = |now| RunPhase::Pending.at(1000, 1000, now, 100);
        assert_eq!(at(1000).life_cycle, LifeCycleState::Pending);
        assert_eq!(at(1099).life_cycle, LifeCycleState::Pending);
        assert_eq!(at(1100).life_cycle, LifeCycleState::Running);
        assert_eq!(at(1199).life_cycle, LifeCycleState::Running);
        let done = at(1200);
        assert_eq!(done.life_cycle, LifeCycleState::Terminated);
        assert_eq!(done.result, Some(ResultState::Success));
        assert_eq!(done.end_time, Some(1200));
        assert!(done.message.contains(NO_CODE_RUNS));
        assert!(!done.is_active() && at(1100).is_active());
    }

    #[test]
    fn without_delay_a_run_ends_at_once() {
        let now = RunPhase::Pending.at(5, 5, 5, 0);
        assert_eq!(now.life_cycle, LifeCycleState::Terminated);
        assert_eq!(now.result, Some(ResultState::Success));
    }

    #[test]
    fn a_canceled_run_terminates_as_canceled() {
        let running = RunPhase::Pending.at(0, 0, 150, 100);
        assert_eq!(cancel(&running), Some(RunPhase::Terminating));
        let canceling = RunPhase::Terminating.at(0, 150, 200, 100);
        assert_eq!(canceling.life_cycle, LifeCycleState::Terminating);
        assert!(canceling.is_active() && canceling.canceled());
        assert_eq!(cancel(&canceling), None);
        let canceled = RunPhase::Terminating.at(0, 150, 250, 100);
        assert_eq!(canceled.life_cycle, LifeCycleState::Terminated);
        assert_eq!(canceled.result, Some(ResultState::Canceled));
        assert_eq!(canceled.end_time, Some(250));
        assert_eq!((canceled.setup_duration, canceled.execution_duration), (100, 50));
        assert_eq!(cancel(&canceled), None);
        let succeeded = RunPhase::Pending.at(0, 0, 500, 100);
        assert_eq!(cancel(&succeeded), None);
    }

    #[test]
    fn a_run_canceled_while_pending_spent_no_time_executing() {
        let pending = RunPhase::Pending.at(0, 0, 30, 100);
        assert_eq!(pending.life_cycle, LifeCycleState::Pending);
        assert_eq!(cancel(&pending), Some(RunPhase::Terminating));
        for now in [40, 130, 500] {
            let canceled = RunPhase::Terminating.at(0, 30, now, 100);
            assert_eq!((canceled.setup_duration, canceled.execution_duration), (30, 0), "at {now}");
        }
        let at_once = RunPhase::Terminating.at(0, 0, 500, 100);
        assert_eq!((at_once.setup_duration, at_once.execution_duration), (0, 0));
    }

    #[test]
    fn runs_beyond_the_concurrency_limit_are_skipped() {
        assert_eq!(admit(0, 1), RunPhase::Pending);
        assert_eq!(admit(1, 1), RunPhase::Skipped);
        assert_eq!(admit(1, 2), RunPhase::Pending);
        assert_eq!(admit(0, 0), RunPhase::Skipped);
        let skipped = RunPhase::Skipped.at(0, 0, 10, 100);
        assert_eq!(skipped.life_cycle, LifeCycleState::Skipped);
        assert!(!skipped.is_active());
    }
}
