//! Following an agent run and its sub-agent runs until it settles or can only go on once a
//! person decides: an approval, an answer, or a step that needs attention.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;

use serde_json::Value;
use waymark_api::{
    Api, ApiEvent, Change, EventFilter, EventStream, RunId, RunIdRequest, RunStatus, RunView,
    StepKind, StepStatus, StepView,
};

use super::{api_error, shutdown_signal};

/// What a person must do for a run to go on.
#[derive(Clone, Debug, PartialEq)]
pub enum Blocker {
    /// `approval/N.I` waits for `waymark approve` or `reject`.
    Approval {
        run: RunId,
        key: String,
        tool: Option<String>,
        arguments: Option<Value>,
    },
    /// `tool/N.I` (ask_human) waits for `waymark answer`.
    Answer {
        run: RunId,
        key: String,
        question: Option<Value>,
    },
    /// An MCP server's question during a tool call (`elicit/...`) waits for `waymark answer`.
    Elicitation {
        run: RunId,
        key: String,
        /// The question as journaled: server, tool, mode, message, form or link.
        about: Value,
    },
    /// An at_most_once step was interrupted: `waymark runs resolve`.
    Attention { run: RunId, key: String },
}

impl Blocker {
    pub fn run(&self) -> RunId {
        match self {
            Blocker::Approval { run, .. }
            | Blocker::Answer { run, .. }
            | Blocker::Elicitation { run, .. }
            | Blocker::Attention { run, .. } => *run,
        }
    }

    pub fn key(&self) -> &str {
        match self {
            Blocker::Approval { key, .. }
            | Blocker::Answer { key, .. }
            | Blocker::Elicitation { key, .. }
            | Blocker::Attention { key, .. } => key,
        }
    }
}

pub enum Stop {
    /// Finished, or needs attention itself.
    Settled(Box<RunView>),
    /// Nothing moves until a person acts on one of these.
    Blocked(Vec<Blocker>),
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

/// Events of a run and of the runs it starts, in commit order.
pub struct Follower {
    root: RunId,
    family: HashSet<RunId>,
    sub: EventStream,
}

impl Follower {
    /// Subscribe before the run starts (`after` = the global sequence then), so nothing is
    /// missed; or after it started, with `after` = 0 … any earlier sequence works.
    pub async fn new(api: &Api, root: RunId, after_global_seq: i64) -> anyhow::Result<Self> {
        let sub = api
            .subscribe(EventFilter::default(), after_global_seq)
            .await
            .map_err(api_error)?;
        Ok(Follower {
            root,
            family: HashSet::from([root]),
            sub,
        })
    }

    /// The next stop, handing each event of the family to `on_event` (with whether it is a
    /// sub-agent's) on the way.
    pub async fn next_stop(
        &mut self,
        api: &Api,
        mut on_event: impl FnMut(&ApiEvent, bool),
    ) -> anyhow::Result<Stop> {
        // The run may have settled before the first event arrives (an idempotent start).
        if let Some(stop) = self.check(api).await? {
            return Ok(stop);
        }
        loop {
            let Some((e, sub)) = self.next_event().await? else {
                return Ok(Stop::Interrupted);
            };
            on_event(&e, sub);
            if moves(&e) {
                if let Some(stop) = self.check(api).await? {
                    return Ok(stop);
                }
            }
        }
    }

    /// The family's next event and whether a sub-agent's run sent it; `None` on Ctrl-C.
    pub async fn next_event(&mut self) -> anyhow::Result<Option<(ApiEvent, bool)>> {
        loop {
            let e = tokio::select! {
                e = self.sub.next() => e.map_err(api_error)?,
                _ = shutdown_signal() => return Ok(None),
            };
            let Some(run) = e.run_id else { continue };
            if let Change::RunCreated {
                parent_run_id: Some(parent),
                ..
            } = &e.change
            {
                if self.family.contains(parent) {
                    self.family.insert(run);
                }
            }
            if self.family.contains(&run) {
                return Ok(Some((e, run != self.root)));
            }
        }
    }

    /// Where the run is now: settled, blocked on people, or (`None`) still moving.
    pub async fn check(&self, api: &Api) -> anyhow::Result<Option<Stop>> {
        let got = read_run(api, self.root).await?;
        let run = got.run;
        if run.status.is_terminal() || run.status == RunStatus::NeedsAttention {
            return Ok(Some(Stop::Settled(Box::new(run))));
        }
        if run.status != RunStatus::Waiting {
            return Ok(None);
        }
        Ok(parked(api, self.root).await?.map(Stop::Blocked))
    }
}

/// Recursion over sub-agent runs needs a boxed future.
type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Events after which the run may have settled or parked.
pub fn moves(e: &ApiEvent) -> bool {
    matches!(
        e.change,
        Change::RunStatusChanged { .. }
            | Change::StepWaiting { .. }
            | Change::StepNeedsAttention { .. }
    )
}

/// A run with all its steps, through the API.
pub async fn read_run(api: &Api, id: RunId) -> anyhow::Result<waymark_api::RunGetResponse> {
    api.runs_get(RunIdRequest { run_id: id })
        .await
        .map_err(api_error)
}

/// The people-blockers of a waiting run, when nothing else is in flight in it or in its
/// sub-agents (a timer, a retry, a running step all mean it still moves by itself).
pub fn parked(api: &Api, id: RunId) -> BoxFuture<'_, anyhow::Result<Option<Vec<Blocker>>>> {
    Box::pin(async move {
        let steps = match api.runs_get(RunIdRequest { run_id: id }).await {
            Ok(got) => got.steps,
            Err(e) if e.code == waymark_api::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(api_error(e)),
        };
        let mut blockers = Vec::new();
        for st in &steps {
            if st.status.is_terminal() {
                continue;
            }
            let key = st.key.to_string();
            match (st.kind, st.status) {
                (_, StepStatus::NeedsAttention) => {
                    blockers.push(Blocker::Attention { run: id, key });
                }
                (
                    StepKind::Approval | StepKind::Question | StepKind::Elicitation,
                    StepStatus::Waiting,
                ) => match human_wait(id, st) {
                    Some(b) => blockers.push(b),
                    None => return Ok(None),
                },
                (StepKind::ChildRun, StepStatus::Waiting) => {
                    let Some(child) = st.child_run_id else {
                        return Ok(None);
                    };
                    let record = match api.runs_get(RunIdRequest { run_id: child }).await {
                        Ok(got) => got,
                        Err(e) if e.code == waymark_api::ErrorCode::NotFound => return Ok(None),
                        Err(e) => return Err(api_error(e)),
                    };
                    match record.run.status {
                        RunStatus::NeedsAttention => {
                            for c in attention_steps(&record.steps) {
                                blockers.push(Blocker::Attention { run: child, key: c });
                            }
                        }
                        RunStatus::Waiting => match parked(api, child).await? {
                            Some(b) => blockers.extend(b),
                            None => return Ok(None),
                        },
                        _ => return Ok(None),
                    }
                }
                _ => return Ok(None),
            }
        }
        Ok((!blockers.is_empty()).then_some(blockers))
    })
}

fn attention_steps(steps: &[StepView]) -> Vec<String> {
    steps
        .iter()
        .filter(|s| s.status == StepStatus::NeedsAttention)
        .map(|s| s.key.to_string())
        .collect()
}

/// An agent loop's wait for a person: an approval before a gated call, or ask_human's
/// question; the step's view carries the model's call it is about.
fn human_wait(run: RunId, step: &StepView) -> Option<Blocker> {
    let key = step.key.to_string();
    let call = step.call.as_ref();
    match step.kind {
        StepKind::Approval => Some(Blocker::Approval {
            run,
            key,
            tool: call.map(|c| c.tool.clone()),
            arguments: call.map(|c| c.arguments.clone()),
        }),
        StepKind::Question => Some(Blocker::Answer {
            run,
            key,
            question: call.map(|c| c.arguments.clone()),
        }),
        StepKind::Elicitation => Some(Blocker::Elicitation {
            run,
            key,
            about: step.input.get("about").cloned().unwrap_or(Value::Null),
        }),
        _ => None,
    }
}

/// The tool call `N.I` as the model asked for it, from the output of step `llm/N`.
pub fn model_call<'a>(steps: &'a [StepView], n_i: &str) -> Option<&'a Value> {
    let (n, i) = n_i.split_once('.')?;
    let i: usize = i.parse().ok()?;
    let llm = format!("llm/{n}");
    let step = steps.iter().find(|s| s.key.as_str() == llm)?;
    let calls = step.output.as_ref()?.pointer("/response/tool_calls")?;
    calls.as_array()?.get(i.checked_sub(1)?)
}
