//! The seam between the engine and its storage. Every write is one semantic [`Transition`],
//! applied atomically with its events; a PostgreSQL store would implement the same trait.

pub mod journal;
pub mod sqlite;

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::clock::Millis;
use crate::error::{StepError, StoreError};
use crate::ids::{RunId, StepKey, WorkerId};
use crate::maintenance::{DeletedRuns, Maintenance};
use crate::model::{
    AttemptOutcome, AttemptRecord, Event, Resolution, RunEnd, RunRecord, RunStatus, RunTrace,
    StepKind, StepRecord, StepTrace,
};
use crate::policy::SafetyClass;

/// How hard a commit must be on disk before it is acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Durability {
    /// Survives a process crash (WAL without fsync); a power loss may lose it.
    Relaxed,
    /// Survives a power loss (fsync), unless the store is configured `synchronous=NORMAL`.
    Durable,
}

/// Proof that a worker still owns a run: writes carrying a stale epoch are rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    pub run: RunId,
    pub worker: WorkerId,
    pub epoch: i64,
}

#[derive(Clone, Debug)]
pub struct NewRun {
    pub id: RunId,
    pub function: String,
    pub function_version: u32,
    pub input: Value,
    /// What lists show and search (see `registry::describe_run`).
    pub label: crate::registry::RunLabel,
    pub idempotency_key: Option<String>,
    pub parent: Option<(RunId, StepKey)>,
    pub deadline_at: Option<Millis>,
    /// Lease the new run to this worker at once, so a local worker needs no claim round-trip.
    pub lease_to: Option<(WorkerId, Millis)>,
    /// Only a worker with this label may execute the run (`None`: any worker).
    pub worker_label: Option<String>,
}

#[derive(Clone, Debug)]
pub struct NewStep {
    pub key: StepKey,
    pub kind: StepKind,
    pub safety: SafetyClass,
    pub name: Option<String>,
    pub input: Value,
    pub deadline_at: Option<Millis>,
    pub wake_at: Option<Millis>,
    pub meta: Value,
    /// Progress reported before the step's marker was written.
    pub progress: Option<Value>,
}

/// The step's state after an attempt finished.
#[derive(Clone, Debug, PartialEq)]
pub enum StepUpdate {
    Succeeded(Value),
    Failed(StepError),
    Retrying {
        at: Millis,
    },
    Cancelled,
    /// The attempt was interrupted and the step goes on with a new attempt (retry_safe).
    Continue,
    /// The attempt was interrupted and a human must decide (at_most_once).
    NeedsAttention,
}

#[derive(Clone, Debug)]
pub enum Transition {
    CreateRun(NewRun),
    /// Labels for runs written before labels existed: (run, label, search text).
    DescribeRuns(Vec<(RunId, Option<String>, String)>),
    ClaimRuns {
        worker: WorkerId,
        lease_ms: Millis,
        limit: usize,
        dead_workers: Vec<String>,
        /// The runs the claiming worker is executing, renewed first: after a suspension
        /// (a laptop lid) their leases have lapsed, and the worker must not take its own runs
        /// back as if another worker had died.
        held: Vec<(RunId, i64)>,
        /// The claiming worker's labels: it takes runs that ask for one of them, and runs
        /// that ask for none.
        labels: Vec<String>,
    },
    RenewLeases {
        worker: WorkerId,
        runs: Vec<(RunId, i64)>,
        lease_ms: Millis,
    },
    /// Give a run back (worker shutdown, or the function is blocked on something external).
    ReleaseRun {
        fence: Fence,
        status: Option<RunStatus>,
    },
    StartAttempt {
        fence: Fence,
        step: NewStep,
        attempt: u32,
    },
    FinishAttempt {
        fence: Fence,
        key: StepKey,
        attempt: u32,
        outcome: AttemptOutcome,
        update: StepUpdate,
        /// Set the run to `waiting` (no other attempt in flight and this one waits for a retry).
        run_waiting: bool,
    },
    /// StartAttempt and FinishAttempt at once, for work that was done before its marker was sent.
    RecordAttempt {
        fence: Fence,
        step: NewStep,
        attempt: u32,
        outcome: AttemptOutcome,
        update: StepUpdate,
        run_waiting: bool,
    },
    /// A timer or event wait: the step exists with a wake time and no attempts.
    OpenWait {
        fence: Fence,
        step: NewStep,
        run_waiting: bool,
    },
    CompleteStep {
        fence: Fence,
        key: StepKey,
        result: Result<Value, StepError>,
    },
    ConsumeEvent {
        fence: Fence,
        key: StepKey,
        name: String,
        matcher: Value,
    },
    StartChild {
        fence: Fence,
        step: NewStep,
        child: NewRun,
        run_waiting: bool,
    },
    SetRunStatus {
        fence: Fence,
        status: RunStatus,
    },
    FinishRun {
        fence: Option<Fence>,
        run: RunId,
        end: RunEnd,
    },
    RequestCancel {
        run: RunId,
        /// Who asked, for the journal.
        by: Option<String>,
    },
    Resolve {
        run: RunId,
        key: StepKey,
        resolution: Resolution,
        /// Who decided (a door: `cli`, `api`, `desktop`), for the journal.
        by: Option<String>,
    },
    SendEvent {
        name: String,
        payload: Value,
        ttl_ms: Millis,
    },
    Fork {
        run: RunId,
        at: StepKey,
        output: Option<Value>,
        new_id: RunId,
        /// Who forked, for the journal.
        by: Option<String>,
    },
    Progress {
        fence: Fence,
        key: StepKey,
        progress: Value,
    },
    RegisterWorker {
        worker: WorkerId,
        pid: u32,
        lock_path: String,
    },
    UnregisterWorker {
        worker: WorkerId,
    },
    /// Deletes finished runs with their child runs and journals. A run that cannot be
    /// deleted (unfinished, pinned without `force`, gone) fails the transition, or is
    /// reported in [`DeletedRuns::skipped`] when `skip_refused` (retention).
    DeleteRuns {
        runs: Vec<RunId>,
        force: bool,
        skip_refused: bool,
    },
    PinRun {
        run: RunId,
        pinned: bool,
    },
}

impl Transition {
    /// The lease it is fenced by, when it is: a backend may read the run's row for it ahead
    /// (with its first statement) instead of in a round trip of its own.
    pub fn fence(&self) -> Option<&Fence> {
        match self {
            Transition::ReleaseRun { fence, .. }
            | Transition::StartAttempt { fence, .. }
            | Transition::FinishAttempt { fence, .. }
            | Transition::RecordAttempt { fence, .. }
            | Transition::OpenWait { fence, .. }
            | Transition::CompleteStep { fence, .. }
            | Transition::ConsumeEvent { fence, .. }
            | Transition::StartChild { fence, .. }
            | Transition::SetRunStatus { fence, .. }
            | Transition::Progress { fence, .. } => Some(fence),
            Transition::FinishRun { fence, .. } => fence.as_ref(),
            _ => None,
        }
    }

    /// A short name for logs and crash points.
    pub fn kind(&self) -> &'static str {
        match self {
            Transition::CreateRun(_) => "create_run",
            Transition::DescribeRuns(_) => "describe_runs",
            Transition::ClaimRuns { .. } => "claim_runs",
            Transition::RenewLeases { .. } => "renew_leases",
            Transition::ReleaseRun { .. } => "release_run",
            Transition::StartAttempt { .. } => "start_attempt",
            Transition::FinishAttempt { .. } => "finish_attempt",
            Transition::RecordAttempt { .. } => "record_attempt",
            Transition::OpenWait { .. } => "open_wait",
            Transition::CompleteStep { .. } => "complete_step",
            Transition::ConsumeEvent { .. } => "consume_event",
            Transition::StartChild { .. } => "start_child",
            Transition::SetRunStatus { .. } => "set_run_status",
            Transition::FinishRun { .. } => "finish_run",
            Transition::RequestCancel { .. } => "request_cancel",
            Transition::Resolve { .. } => "resolve",
            Transition::SendEvent { .. } => "send_event",
            Transition::Fork { .. } => "fork",
            Transition::Progress { .. } => "progress",
            Transition::RegisterWorker { .. } => "register_worker",
            Transition::UnregisterWorker { .. } => "unregister_worker",
            Transition::DeleteRuns { .. } => "delete_runs",
            Transition::PinRun { .. } => "pin_run",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    pub run: RunId,
    pub epoch: i64,
}

/// What a transition produced.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    Done,
    Run {
        id: RunId,
        created: bool,
    },
    Claimed(Vec<Claim>),
    Renewed {
        lost: Vec<RunId>,
    },
    Consumed(Option<(i64, Value)>),
    EventSent(i64),
    Cancel {
        cancelled_now: Vec<RunId>,
        requested: Vec<RunId>,
    },
    Deleted(DeletedRuns),
    Described,
}

/// Which runs a list holds, newest first; filtered and paged by the store itself.
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub status: Option<RunStatus>,
    pub function: Option<String>,
    /// The run's label (an agent's name), or its function's name when it has none.
    pub label: Option<String>,
    pub parent: Option<RunId>,
    /// Only runs without a parent.
    pub top_level: bool,
    /// Lowercase text the run's search text contains.
    pub search: Option<String>,
    /// Only runs listed after this one (keyset paging): its `(created_at, id)`.
    pub after: Option<(Millis, RunId)>,
    pub offset: usize,
    /// At most this many (1,000 when unset).
    pub limit: Option<usize>,
    /// Only runs written before run labels existed (to describe them once).
    pub undescribed: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct WorkerRow {
    pub id: String,
    pub pid: u32,
    pub lock_path: String,
    pub started_at: Millis,
}

/// A queued transition's eventual result.
pub type Pending = BoxFuture<'static, Result<Applied, StoreError>>;

pub trait Store: Send + Sync + 'static {
    /// Queues a transition for the writer and returns its result. The transition is queued
    /// before this returns, so transitions submitted in order are applied in order.
    fn submit(&self, transition: Transition, durability: Durability) -> Pending;

    /// Whether any run a worker with `labels` may take could be claimed now (a read, so idle
    /// workers take no write lock).
    fn has_claimable(
        &self,
        now: Millis,
        labels: Vec<String>,
    ) -> BoxFuture<'static, Result<bool, StoreError>>;

    fn run(&self, id: RunId) -> BoxFuture<'static, Result<Option<RunRecord>, StoreError>>;
    fn steps(&self, id: RunId) -> BoxFuture<'static, Result<Vec<StepRecord>, StoreError>>;
    fn step(
        &self,
        id: RunId,
        key: StepKey,
    ) -> BoxFuture<'static, Result<Option<StepRecord>, StoreError>>;
    fn attempts(&self, id: RunId) -> BoxFuture<'static, Result<Vec<AttemptRecord>, StoreError>>;
    /// One step with its attempts (what an event about it changed). A store without a
    /// narrower query reads the run's attempts and keeps the step's.
    fn step_trace(
        &self,
        id: RunId,
        key: StepKey,
    ) -> BoxFuture<'static, Result<Option<StepTrace>, StoreError>> {
        let step = self.step(id, key);
        let attempts = self.attempts(id);
        Box::pin(async move {
            let Some(step) = step.await? else {
                return Ok(None);
            };
            let mut attempt_list: Vec<AttemptRecord> = attempts
                .await?
                .into_iter()
                .filter(|a| a.step_key == step.key)
                .collect();
            attempt_list.sort_by_key(|a| a.number);
            Ok(Some(StepTrace { step, attempt_list }))
        })
    }
    fn trace(&self, id: RunId) -> BoxFuture<'static, Result<Option<RunTrace>, StoreError>>;
    /// The trace with only `limit` of its steps after `offset` (the run's `step_count` says how
    /// many there are). A store that cannot page reads the whole trace and slices it.
    fn trace_page(
        &self,
        id: RunId,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'static, Result<Option<RunTrace>, StoreError>> {
        let whole = self.trace(id);
        Box::pin(async move {
            Ok(whole.await?.map(|mut t| {
                t.steps = t.steps.into_iter().skip(offset).take(limit).collect();
                t
            }))
        })
    }
    fn list_runs(
        &self,
        filter: RunFilter,
    ) -> BoxFuture<'static, Result<Vec<RunRecord>, StoreError>>;
    /// Events after a sequence number: of one run (per-run sequence) or of all (global).
    fn events_after(
        &self,
        run: Option<RunId>,
        after: i64,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<Event>, StoreError>>;
    /// The newest event's global sequence number (0 when there is none).
    fn latest_global_seq(&self) -> BoxFuture<'static, Result<i64, StoreError>>;
    fn workers(&self) -> BoxFuture<'static, Result<Vec<WorkerRow>, StoreError>>;
    /// Integrity problems, empty when healthy.
    fn check(&self) -> BoxFuture<'static, Result<Vec<String>, StoreError>>;
    /// Every committed event, from this process or (noticed within ~100 ms) another.
    fn live(&self) -> broadcast::Receiver<Arc<Event>>;
    /// Where the store is (a file's path, a server's URL without its password), for messages.
    fn location(&self) -> String;
    /// The schema version this store's database is at (this build's: an older one was
    /// migrated when it opened, a newer one refused).
    fn schema_version(&self) -> i64;
    /// Where workers keep lock files that tell other processes on this machine they are alive
    /// (a dead worker's runs are then taken at once). `None` for a database shared across
    /// machines: there a dead worker is found out by its leases expiring.
    fn worker_lock_dir(&self) -> Option<std::path::PathBuf> {
        None
    }
    /// Database upkeep (blob collection, backup, vacuum, statistics), when the store has it.
    fn maintenance(&self) -> Option<&dyn Maintenance> {
        None
    }
}

pub type SharedStore = Arc<dyn Store>;
