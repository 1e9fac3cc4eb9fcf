//! What the API shows of runs, steps and attempts: its own types, converted from the engine's
//! records. Storage details (leases, epochs, ordinals of attempts' workers) stay behind; what
//! a person reads (a step's role, usage and cost, an attempt's outcome) is typed.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use waymark_agent::step_role::{event_name, model_call_of, tool_call_in, StepRole, StepUsage};
use waymark_engine as engine;

use crate::ids::{RunId, StepKey};

/// An engine enum's twin on the wire, with conversions both ways.
macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident <=> $engine:path { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<$engine> for $name {
            fn from(v: $engine) -> Self {
                use $engine as E;
                match v { $(E::$variant => $name::$variant),+ }
            }
        }

        impl From<$name> for $engine {
            fn from(v: $name) -> Self {
                use $engine as E;
                match v { $($name::$variant => E::$variant),+ }
            }
        }
    };
}

wire_enum!(
    /// `queued → running ⇄ waiting → succeeded | failed | cancelled`, or `needs_attention`.
    RunStatus <=> engine::RunStatus {
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
        engine::RunStatus::from(self).is_terminal()
    }
}

wire_enum!(
    StepStatus <=> engine::StepStatus {
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
        engine::StepStatus::from(self).is_terminal()
    }
}

wire_enum!(
    /// Whether an interrupted attempt may simply run again.
    SafetyClass <=> engine::SafetyClass {
        /// Running it twice is harmless: an interrupted attempt is retried.
        RetrySafe => "retry_safe",
        /// Its effect must not repeat: an interrupted attempt needs a person's decision.
        AtMostOnce => "at_most_once",
    }
);

/// A step's role in its run: what the trace draws and the inspector explains.
pub type StepKind = StepRole;

/// Why a step, an attempt or a run failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct StepError {
    /// A short machine-readable class (`timeout`, `http_429`, `invalid_arguments`, ...).
    pub kind: String,
    pub message: String,
    pub retryable: bool,
    /// The delay the error asked for before the next attempt (a Retry-After).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub retry_after_ms: Option<u64>,
    /// The work may have taken effect before it failed.
    #[serde(default)]
    pub in_doubt: bool,
}

impl From<engine::StepError> for StepError {
    fn from(e: engine::StepError) -> Self {
        StepError {
            kind: e.kind,
            message: e.message,
            retryable: e.retryable,
            retry_after_ms: e.retry_after_ms,
            in_doubt: e.in_doubt,
        }
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

/// How one attempt ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AttemptOutcome {
    /// Still running (or its worker died and nobody has looked yet).
    Started,
    Ok,
    Error {
        error: StepError,
    },
    Timeout {
        after_ms: u64,
    },
    Cancelled,
    /// Its worker died or lost the run: the attempt was cut short.
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

impl From<engine::AttemptOutcome> for AttemptOutcome {
    fn from(o: engine::AttemptOutcome) -> Self {
        use engine::AttemptOutcome as E;
        match o {
            E::Started => AttemptOutcome::Started,
            E::Ok => AttemptOutcome::Ok,
            E::Error { error } => AttemptOutcome::Error {
                error: error.into(),
            },
            E::Timeout { after_ms } => AttemptOutcome::Timeout { after_ms },
            E::Cancelled => AttemptOutcome::Cancelled,
            E::Interrupted => AttemptOutcome::Interrupted,
        }
    }
}

/// One attempt at a step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct AttemptView {
    pub number: u32,
    #[serde(flatten)]
    pub outcome: AttemptOutcome,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

impl From<engine::AttemptRecord> for AttemptView {
    fn from(a: engine::AttemptRecord) -> Self {
        AttemptView {
            number: a.number,
            outcome: a.outcome.into(),
            started_at: a.started_at,
            finished_at: a.finished_at,
        }
    }
}

/// The model's tool call a step is about (an approval waits to let it run; a question is
/// one): the tool and the arguments the model gave.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct ToolCallView {
    pub tool: String,
    pub arguments: Value,
}

impl ToolCallView {
    /// The `index`-th tool call of a model call's recorded output (`llm/N`'s).
    pub fn from_model_output(output: &Value, index: usize) -> Option<Self> {
        tool_call_in(output, index).map(|(tool, arguments)| ToolCallView { tool, arguments })
    }
}

/// One step of a run with its attempts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct StepView {
    pub key: StepKey,
    /// Order of first appearance in the run.
    pub ordinal: i64,
    pub kind: StepKind,
    pub safety: SafetyClass,
    pub status: StepStatus,
    /// A tool's name, a child's function: what the step is called besides its key.
    pub name: Option<String>,
    /// `null` with `payloads_omitted` when an event left a large payload out: fetch the step
    /// (the output too).
    pub input: Value,
    pub output: Option<Value>,
    pub error: Option<StepError>,
    /// Attempts so far.
    pub attempts: u32,
    /// Attempts cut short by a dead worker or a lost lease (not counted against the policy).
    pub interrupted_attempts: u32,
    /// The retry policy's limit, when the step has one.
    pub max_attempts: Option<u32>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    /// When a timer fires, a retry is due, or an event wait times out.
    pub wake_at: Option<i64>,
    /// Schedule-to-close deadline of the whole step.
    pub deadline_at: Option<i64>,
    pub progress: Option<Value>,
    /// A model call's tokens and cost.
    pub usage: Option<StepUsage>,
    /// A child run step's run.
    pub child_run_id: Option<RunId>,
    /// The event an event wait (approval, question, named event) waits for.
    pub event_name: Option<String>,
    /// An approval's or a question's tool call, from the model call that asked for it.
    pub call: Option<ToolCallView>,
    /// Kind-specific facts as recorded.
    pub meta: Value,
    pub attempt_list: Vec<AttemptView>,
    /// Set when this view left the input or the output out (it is large): `runs_get_step`
    /// has them.
    #[serde(default)]
    pub payloads_omitted: bool,
}

impl StepView {
    pub fn from_trace(trace: engine::StepTrace) -> Self {
        let s = trace.step;
        let kind = StepRole::of(&s);
        let usage = match kind {
            StepRole::ModelCall => s.output.as_ref().and_then(StepUsage::of_output),
            _ => None,
        };
        let max_attempts = s
            .meta
            .get("max_attempts")
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok());
        let child_run_id = s
            .meta
            .get("child_run_id")
            .and_then(Value::as_str)
            .and_then(|t| RunId::parse(t).ok());
        let event_name = match kind {
            StepRole::Approval | StepRole::Question | StepRole::EventWait => {
                event_name(&s.meta, &s.input)
            }
            _ => None,
        };
        StepView {
            key: s.key.into(),
            ordinal: s.ordinal,
            kind,
            safety: s.safety.into(),
            status: s.status.into(),
            name: s.name,
            input: s.input,
            output: s.output,
            error: s.error.map(Into::into),
            attempts: s.attempts,
            interrupted_attempts: s.interrupted_attempts,
            max_attempts,
            created_at: s.created_at,
            updated_at: s.updated_at,
            finished_at: s.finished_at,
            wake_at: s.wake_at,
            deadline_at: s.deadline_at,
            progress: s.progress,
            usage,
            child_run_id,
            event_name,
            call: None,
            meta: s.meta,
            attempt_list: trace.attempt_list.into_iter().map(Into::into).collect(),
            payloads_omitted: false,
        }
    }

    /// The model call whose tool call this step is about, when it is an approval or a
    /// question without its call yet: the model call's key and the call's index.
    pub fn needs_call(&self) -> Option<(String, usize)> {
        let about_a_call = matches!(self.kind, StepRole::Approval | StepRole::Question);
        if !about_a_call || self.call.is_some() {
            return None;
        }
        model_call_of(self.key.as_str())
    }

    /// Takes the tool call from the model call's recorded output (`llm/N`'s).
    pub fn set_call_from(&mut self, model_output: &Value, index: usize) {
        self.call = tool_call_in(model_output, index)
            .map(|(tool, arguments)| ToolCallView { tool, arguments });
    }

    /// Leaves out the input, the output, or both, where one passes `max_bytes` of JSON.
    pub fn without_large_payloads(mut self, max_bytes: usize) -> Self {
        let large = |v: &Value| json_longer_than(v, max_bytes);
        if large(&self.input) {
            self.input = Value::Null;
            self.payloads_omitted = true;
        }
        if self.output.as_ref().is_some_and(large) {
            self.output = None;
            self.payloads_omitted = true;
        }
        self
    }
}

/// Whether `v`'s JSON passes `max` bytes, without writing it all: a model call's input can
/// be megabytes, and this runs for each event about it.
fn json_longer_than(v: &Value, max: usize) -> bool {
    struct Budget(usize);
    impl std::io::Write for Budget {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 = self
                .0
                .checked_sub(buf.len())
                .ok_or_else(|| std::io::Error::other("over budget"))?;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(Budget(max), v).is_err()
}

/// A run: what it runs, where it stands, how it started and ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct RunView {
    pub id: RunId,
    /// The agent's name for agent runs, else the durable function's.
    pub agent: String,
    /// The durable function (`agent` for agent runs) and the version that started the run.
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
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
    pub deadline_at: Option<i64>,
    pub cancel_requested: bool,
    /// Kept by retention, and deleted only when forced.
    pub pinned: bool,
    pub step_count: i64,
    /// The run's event sequence this view includes: subscribe after it for what follows.
    pub seq: i64,
}

impl RunView {
    pub fn from_record(r: engine::RunRecord) -> Self {
        RunView {
            agent: agent_of(&r),
            id: r.id.into(),
            function: r.function,
            function_version: r.function_version,
            status: r.status.into(),
            input: r.input,
            output: r.output,
            error: r.error.map(Into::into),
            parent_run_id: r.parent_run_id.map(Into::into),
            parent_step_key: r.parent_step_key.map(Into::into),
            idempotency_key: r.idempotency_key,
            forked_from: r.forked_from.map(Into::into),
            forked_at_step: r.forked_at_step.map(Into::into),
            created_at: r.created_at,
            updated_at: r.updated_at,
            finished_at: r.finished_at,
            deadline_at: r.deadline_at,
            cancel_requested: r.cancel_requested,
            pinned: r.pinned,
            step_count: r.step_count,
            seq: r.last_seq,
        }
    }

    /// The text an agent run was started with (other runs: their input as JSON).
    pub fn input_text(&self) -> String {
        input_text(&self.input)
    }
}

/// The agent a run belongs to: the spec's name in an agent run's input.
pub(crate) fn agent_of(run: &engine::RunRecord) -> String {
    run.input
        .pointer("/spec/name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| run.function.clone())
}

pub(crate) fn input_text(input: &Value) -> String {
    match input.get("input") {
        Some(Value::String(s)) => s.clone(),
        _ => input.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::json_longer_than;
    use serde_json::json;

    #[test]
    fn a_payload_is_measured_up_to_the_limit() {
        let v = json!({"a": "x".repeat(100)});
        let len = v.to_string().len();
        assert!(
            !json_longer_than(&v, len),
            "exactly the limit is not longer"
        );
        assert!(json_longer_than(&v, len - 1));
        assert!(!json_longer_than(&json!(null), 4));
        assert!(json_longer_than(&json!(null), 3));
        // A deep value stops being written once it is over.
        let mut deep = json!("end");
        for _ in 0..100 {
            deep = json!([deep]);
        }
        assert!(json_longer_than(&deep, 10));
    }
}
