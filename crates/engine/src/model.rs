//! The journal's records as the engine and its readers see them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::Millis;
use crate::error::StepError;
use crate::ids::{RunId, StepKey};
use crate::policy::SafetyClass;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// `queued → running ⇄ waiting → succeeded | failed | cancelled`, or `needs_attention`.
    RunStatus {
        Queued => "queued",
        Running => "running",
        Waiting => "waiting",
        NeedsAttention => "needs_attention",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

impl RunStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

string_enum!(
    StepKind {
        Task => "task",
        Sleep => "sleep",
        Event => "event",
        Child => "child",
    }
);

string_enum!(
    StepStatus {
        /// An attempt is in flight (or was, when its worker died).
        Running => "running",
        /// Waiting for the next attempt's time.
        Retrying => "retrying",
        /// A timer, an event or a child run.
        Waiting => "waiting",
        /// Resolved with "retry anyway": the next replay starts a new attempt.
        Pending => "pending",
        NeedsAttention => "needs_attention",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
    }
);

impl StepStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            StepStatus::Succeeded | StepStatus::Failed | StepStatus::Cancelled
        )
    }
}

/// How one attempt ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// Committed before the work began; still the outcome if the worker died mid-attempt.
    Started,
    Ok,
    Error {
        error: StepError,
    },
    Timeout {
        after_ms: u64,
    },
    Cancelled,
    /// Found `started` by a later worker: the process that ran it died or lost its lease.
    Interrupted,
}

impl AttemptOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            AttemptOutcome::Started => "started",
            AttemptOutcome::Ok => "ok",
            AttemptOutcome::Error { .. } => "error",
            AttemptOutcome::Timeout { .. } => "timeout",
            AttemptOutcome::Cancelled => "cancelled",
            AttemptOutcome::Interrupted => "interrupted",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: RunId,
    pub function: String,
    pub function_version: u32,
    pub status: RunStatus,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<StepError>,
    pub parent_run_id: Option<RunId>,
    pub parent_step_key: Option<StepKey>,
    pub idempotency_key: Option<String>,
    pub forked_from: Option<RunId>,
    pub forked_at_step: Option<StepKey>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub finished_at: Option<Millis>,
    pub deadline_at: Option<Millis>,
    pub cancel_requested: bool,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<Millis>,
    pub lease_epoch: i64,
    pub last_seq: i64,
    pub step_count: i64,
    /// Kept by retention, and deleted only when forced.
    #[serde(default)]
    pub pinned: bool,
    /// Only a worker with this label executes the run.
    #[serde(default)]
    pub worker_label: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub run_id: RunId,
    pub key: StepKey,
    /// Order of first appearance in the run; forks copy the steps before a given one.
    pub ordinal: i64,
    pub kind: StepKind,
    pub safety: SafetyClass,
    pub status: StepStatus,
    pub name: Option<String>,
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<StepError>,
    pub attempts: u32,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub finished_at: Option<Millis>,
    /// When a timer fires, a retry is due, or an event wait times out.
    pub wake_at: Option<Millis>,
    /// Schedule-to-close deadline of the whole step.
    pub deadline_at: Option<Millis>,
    pub progress: Option<Value>,
    /// Kind-specific facts: a child's run id, an event wait's name and match.
    pub meta: Value,
    /// Attempts cut short by a dead worker or a lost lease: they do not count against the
    /// retry policy's `max_attempts`.
    pub interrupted_attempts: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub run_id: RunId,
    pub step_key: StepKey,
    pub number: u32,
    pub lease_epoch: i64,
    #[serde(flatten)]
    pub outcome: AttemptOutcome,
    pub started_at: Millis,
    pub finished_at: Option<Millis>,
}

/// A run with its whole journal, as `runs show` prints it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunTrace {
    pub run: RunRecord,
    pub steps: Vec<StepTrace>,
    pub children: Vec<RunId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepTrace {
    #[serde(flatten)]
    pub step: StepRecord,
    pub attempt_list: Vec<AttemptRecord>,
}

/// One committed transition, as subscribers receive it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the whole database's stream.
    pub global_seq: i64,
    /// The run this is about, and its position in that run's stream.
    pub run_id: Option<RunId>,
    pub run_seq: Option<i64>,
    pub at: Millis,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    RunCreated {
        function: String,
        parent_run_id: Option<RunId>,
        forked_from: Option<RunId>,
        /// Who started it, when a person did (a fork: `cli`, `api`, ...).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    RunClaimed {
        worker: String,
        epoch: i64,
    },
    RunStatusChanged {
        status: RunStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    RunCancelRequested {
        /// Who asked; the event's `at` says when.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    AttemptStarted {
        key: StepKey,
        kind: StepKind,
        attempt: u32,
    },
    AttemptFinished {
        key: StepKey,
        attempt: u32,
        outcome: String,
        step_status: StepStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<StepError>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_at: Option<Millis>,
    },
    StepWaiting {
        key: StepKey,
        kind: StepKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wake_at: Option<Millis>,
    },
    StepFinished {
        key: StepKey,
        status: StepStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<StepError>,
    },
    StepNeedsAttention {
        key: StepKey,
        attempt: u32,
    },
    StepResolved {
        key: StepKey,
        resolution: String,
        /// Who decided; the event's `at` says when.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    StepProgress {
        key: StepKey,
        progress: Value,
    },
    EventSent {
        id: i64,
        name: String,
    },
    EventConsumed {
        id: i64,
        name: String,
        key: StepKey,
    },
    RunPinned {
        pinned: bool,
    },
    /// Runs removed with their journals (their own events went with them); not about one run.
    RunsDeleted {
        runs: Vec<RunId>,
    },
}

/// The three ways a human settles a step whose at_most_once attempt was interrupted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "resolution", rename_all = "snake_case")]
pub enum Resolution {
    /// Run the step again, accepting that its effect may repeat.
    Retry,
    /// The effect happened: record this as the step's output.
    Done { output: Value },
    /// Fail the step with this message.
    Fail { message: String },
}

impl Resolution {
    pub fn label(&self) -> &'static str {
        match self {
            Resolution::Retry => "retry",
            Resolution::Done { .. } => "done",
            Resolution::Fail { .. } => "fail",
        }
    }
}

/// How a run's execution ended, as the worker commits it.
#[derive(Clone, Debug, PartialEq)]
pub enum RunEnd {
    Succeeded(Value),
    Failed(StepError),
    Cancelled,
}
