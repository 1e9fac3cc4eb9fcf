//! Events as the API sends them: what happened, typed, and the state it left (the step's or
//! the run's new view), so a subscriber applies events instead of refetching. Subscriptions
//! follow one run's events or every run's, first what was missed after a sequence number,
//! then live; both doors forward them (SSE, a Tauri channel) with no logic of their own.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use waymark_engine as engine;
use waymark_engine::{EventKind, Subscription};

use crate::ids::{RunId, StepKey};
use crate::runs::{summary, RunSummary};
use crate::views::{RunStatus, StepError, StepKind, StepStatus, StepView};
use crate::{Api, ApiError};

/// An event's step view leaves out inputs and outputs larger than this (`runs_get_step` has
/// them): a model call's input is the whole conversation.
pub const EVENT_PAYLOAD_LIMIT: usize = 8 * 1024;

/// One committed change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct ApiEvent {
    /// Position in the whole database's stream.
    pub global_seq: i64,
    /// The run this is about, and its position in that run's stream.
    pub run_id: Option<RunId>,
    pub run_seq: Option<i64>,
    pub at: i64,
    #[serde(flatten)]
    pub change: Change,
    /// The step as it stands after this change (for a change to a step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub step: Option<StepView>,
    /// The run as it stands after this change (for a change to a run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub run: Option<RunSummary>,
}

/// What an attempt's end was, in a word (the step view has the details).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AttemptEnd {
    Ok,
    Error,
    Timeout,
    Cancelled,
    Interrupted,
}

/// How a person settled a step in need of attention.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ResolutionKind {
    /// Run it again, accepting that its effect may repeat.
    Retry,
    /// Its effect happened: the given output was recorded.
    Done,
    /// Failed with a given message.
    Fail,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    RunCreated {
        function: String,
        parent_run_id: Option<RunId>,
        forked_from: Option<RunId>,
        /// Who started it, when a person did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        by: Option<String>,
    },
    /// A worker took the run.
    RunClaimed {
        worker: String,
    },
    RunStatusChanged {
        status: RunStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        reason: Option<String>,
    },
    RunCancelRequested {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
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
        outcome: AttemptEnd,
        step_status: StepStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        error: Option<StepError>,
        /// When the next attempt is due.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        retry_at: Option<i64>,
    },
    StepWaiting {
        key: StepKey,
        kind: StepKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        wake_at: Option<i64>,
    },
    StepFinished {
        key: StepKey,
        status: StepStatus,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        error: Option<StepError>,
    },
    StepNeedsAttention {
        key: StepKey,
        attempt: u32,
    },
    StepResolved {
        key: StepKey,
        resolution: ResolutionKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        by: Option<String>,
    },
    /// Streamed progress (a model's partial answer, a tool's progress): not a state change,
    /// so it carries no step view.
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
    /// Runs removed with their journals.
    RunsDeleted {
        runs: Vec<RunId>,
    },
}

impl Change {
    /// The step this change is about.
    pub fn step_key(&self) -> Option<&StepKey> {
        match self {
            Change::AttemptStarted { key, .. }
            | Change::AttemptFinished { key, .. }
            | Change::StepWaiting { key, .. }
            | Change::StepFinished { key, .. }
            | Change::StepNeedsAttention { key, .. }
            | Change::StepResolved { key, .. }
            | Change::StepProgress { key, .. }
            | Change::EventConsumed { key, .. } => Some(key),
            _ => None,
        }
    }
}

fn attempt_end(label: &str) -> AttemptEnd {
    match label {
        "ok" => AttemptEnd::Ok,
        "timeout" => AttemptEnd::Timeout,
        "cancelled" => AttemptEnd::Cancelled,
        "interrupted" => AttemptEnd::Interrupted,
        // The engine writes only the labels above and "error"; an unknown one is a failure.
        _ => AttemptEnd::Error,
    }
}

fn resolution_kind(label: &str) -> ResolutionKind {
    match label {
        "retry" => ResolutionKind::Retry,
        "done" => ResolutionKind::Done,
        _ => ResolutionKind::Fail,
    }
}

/// An engine step kind in an event, before the step's record says more.
fn kind_of(kind: engine::StepKind, key: &engine::StepKey) -> StepKind {
    let none = Value::Null;
    StepKind::from_parts(kind, key.as_str(), &none, &none)
}

impl From<EventKind> for Change {
    fn from(kind: EventKind) -> Self {
        match kind {
            EventKind::RunCreated {
                function,
                parent_run_id,
                forked_from,
                by,
            } => Change::RunCreated {
                function,
                parent_run_id: parent_run_id.map(Into::into),
                forked_from: forked_from.map(Into::into),
                by,
            },
            EventKind::RunClaimed { worker, .. } => Change::RunClaimed { worker },
            EventKind::RunStatusChanged { status, reason } => Change::RunStatusChanged {
                status: status.into(),
                reason,
            },
            EventKind::RunCancelRequested { by } => Change::RunCancelRequested { by },
            EventKind::AttemptStarted { key, kind, attempt } => Change::AttemptStarted {
                kind: kind_of(kind, &key),
                key: key.into(),
                attempt,
            },
            EventKind::AttemptFinished {
                key,
                attempt,
                outcome,
                step_status,
                error,
                retry_at,
            } => Change::AttemptFinished {
                key: key.into(),
                attempt,
                outcome: attempt_end(&outcome),
                step_status: step_status.into(),
                error: error.map(Into::into),
                retry_at,
            },
            EventKind::StepWaiting { key, kind, wake_at } => Change::StepWaiting {
                kind: kind_of(kind, &key),
                key: key.into(),
                wake_at,
            },
            EventKind::StepFinished { key, status, error } => Change::StepFinished {
                key: key.into(),
                status: status.into(),
                error: error.map(Into::into),
            },
            EventKind::StepNeedsAttention { key, attempt } => Change::StepNeedsAttention {
                key: key.into(),
                attempt,
            },
            EventKind::StepResolved {
                key,
                resolution,
                by,
            } => Change::StepResolved {
                key: key.into(),
                resolution: resolution_kind(&resolution),
                by,
            },
            EventKind::StepProgress { key, progress } => Change::StepProgress {
                key: key.into(),
                progress,
            },
            EventKind::EventSent { id, name } => Change::EventSent { id, name },
            EventKind::EventConsumed { id, name, key } => Change::EventConsumed {
                id,
                name,
                key: key.into(),
            },
            EventKind::RunPinned { pinned } => Change::RunPinned { pinned },
            EventKind::RunsDeleted { runs } => Change::RunsDeleted {
                runs: runs.into_iter().map(Into::into).collect(),
            },
        }
    }
}

/// Which events a subscription follows, and whether they carry state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventFilter {
    /// One run's events (numbered by the run's own sequence); every run's when absent
    /// (numbered by the global sequence).
    #[serde(default)]
    pub run: Option<RunId>,
    /// Only what changed, without the step's or run's view: a subscriber that reacts to the
    /// kind of change (notices) spares a read per event.
    #[serde(default)]
    pub changes_only: bool,
}

impl EventFilter {
    /// Every run's events, or one run's.
    pub fn of(run: Option<RunId>) -> Self {
        EventFilter {
            run,
            changes_only: false,
        }
    }

    pub fn changes_only(mut self) -> Self {
        self.changes_only = true;
        self
    }
}

/// A live subscription. [`EventStream::next`] waits for the next event.
pub struct EventStream {
    api: Api,
    inner: Subscription,
    per_run: bool,
    changes_only: bool,
}

impl EventStream {
    /// The next event with the state it left. A step or run deleted meanwhile is simply not
    /// attached (the `runs_deleted` event follows).
    pub async fn next(&mut self) -> Result<ApiEvent, ApiError> {
        let event = self.inner.next().await?;
        self.api.describe_event(event, !self.changes_only).await
    }

    /// The number a reconnect passes as `after` (SSE's `id:`): the run's sequence for a
    /// run's stream, the global one otherwise.
    pub fn position(&self, event: &ApiEvent) -> i64 {
        match (self.per_run, event.run_seq) {
            (true, Some(seq)) => seq,
            _ => event.global_seq,
        }
    }
}

impl Api {
    /// Follows `filter`'s events after `after` (0: from the start). A run that does not
    /// exist is an error rather than a stream that never speaks.
    pub async fn subscribe(
        &self,
        filter: EventFilter,
        after: i64,
    ) -> Result<EventStream, ApiError> {
        let engine = &self.app().engine;
        let inner = match filter.run {
            Some(id) => match engine.run(id.into()).await? {
                Some(_) => engine.subscribe(id.into(), after),
                None => return Err(ApiError::not_found(format!("run {id} not found"))),
            },
            None => engine.subscribe_all(after),
        };
        Ok(EventStream {
            api: self.clone(),
            inner,
            per_run: filter.run.is_some(),
            changes_only: filter.changes_only,
        })
    }

    /// The newest global sequence number: subscribe after it to see only what comes next.
    pub async fn current_seq(&self) -> Result<i64, ApiError> {
        Ok(self.app().engine.current_global_seq().await?)
    }

    /// An engine event with the state it left attached.
    async fn describe_event(
        &self,
        event: engine::Event,
        with_state: bool,
    ) -> Result<ApiEvent, ApiError> {
        let engine = &self.app().engine;
        let change = Change::from(event.kind);
        let mut step = None;
        let mut run = None;
        if let Some(run_id) = event.run_id.filter(|_| with_state) {
            match &change {
                // Progress streams fast and carries its own payload.
                Change::StepProgress { .. } | Change::EventConsumed { .. } => {}
                c if c.step_key().is_some() => {
                    if let Some(key) = c.step_key() {
                        step = match engine.step_trace(run_id, key.engine()).await? {
                            Some(t) => {
                                let mut view = [StepView::from_trace(t)];
                                self.attach_calls(run_id.into(), &mut view).await?;
                                let [view] = view;
                                Some(view.without_large_payloads(EVENT_PAYLOAD_LIMIT))
                            }
                            None => None,
                        };
                    }
                }
                Change::RunClaimed { .. } => {}
                _ => run = engine.run(run_id).await?.as_ref().map(summary),
            }
        }
        Ok(ApiEvent {
            global_seq: event.global_seq,
            run_id: event.run_id.map(Into::into),
            run_seq: event.run_seq,
            at: event.at,
            change,
            step,
            run,
        })
    }
}
