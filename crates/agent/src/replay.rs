//! A finished run exported as an offline replay, and replayed.
//!
//! The file holds the run's spec and input as it started, and for the run and each of its
//! sub-agent runs what the outside world said: the model's turns (in the scripted provider's
//! `{"turns": [...]}` shape, so the file is also a script) and the model calls that failed,
//! the tool list, each tool step's result or failure by step key, and each person's answer or
//! approval by step key.
//!
//! A replay runs the same loop with that record in its input: the model is a scripted provider
//! over the turns (a recorded failed call fails again with its error), the `tools` step
//! returns the recorded list without connecting to any MCP server, and each tool call returns
//! its recorded result as a journaled step of the same key, kind and safety class, without
//! calling anything. Recorded outcomes are not retried. A sub-agent call starts a child run
//! that replays the recorded child run (the child's input carries its record).
//!
//! Approvals and `ask_human` never wait in a replay: [`AgentRuntime::start_replay`] sends the
//! recorded decisions and answers as events before the run starts, their `run` field a token
//! of the replay rather than a run id (so the wait steps' inputs differ from the original's
//! only by that id). A wait recorded as timed out, or one the record lacks, times out at once:
//! its input's `timeout_ms` is then 0.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use waymark_engine::{
    Engine, EngineError, RunId, RunStatus, RunTrace, StartOptions, StepError, StepKind, StepStatus,
    StepTrace,
};

use crate::agent_loop::{
    AgentRunInput, ModelStepOutput, ToolSet, ToolStepOutput, AGENT_FUNCTION, TOOLS_STEP,
};
use crate::model::ModelResponse;
use crate::provider::{Provider, ProviderError};
use crate::runtime::{AgentRuntime, StartError};
use crate::scripted::ScriptedProvider;
use crate::spec::AgentSpec;

/// The `format` field of a replay file.
pub const REPLAY_FORMAT: &str = "waymark-replay";
/// Bump when a file of this version would replay differently.
pub const REPLAY_VERSION: u32 = 1;
/// How long the recorded answers a replay sends wait for its run to consume them.
const REPLAY_EVENT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// A replay file: the run's spec and input, and its record ([`ReplayData`], flattened).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayFile {
    pub format: String,
    pub version: u32,
    /// The run this was exported from, for people reading the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_run: Option<String>,
    pub spec: AgentSpec,
    pub input: String,
    #[serde(flatten)]
    pub run: ReplayData,
}

/// What one run was told by the outside world, by step key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplayData {
    /// The provider the run talked to (`openai`): replayed model steps report it, so their
    /// output is the recorded one.
    #[serde(default)]
    pub provider: String,
    /// Each successful model call's answer, in order.
    #[serde(default)]
    pub turns: Vec<ModelResponse>,
    /// `llm/N` (or `llm/N.compact`) → how a model call failed for good: it fails again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub model_failures: BTreeMap<String, StepError>,
    /// The `tools` step's output; `None` when the run never listed its tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<ToolSet>,
    /// `tool/N.i` → what the tool step returned or how it failed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tool_results: BTreeMap<String, RecordedTool>,
    /// `approval/N.i`, or `tool/N.i` of an `ask_human` call → the person's decision or answer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub events: BTreeMap<String, RecordedEvent>,
    /// `tool/N.i` of a sub-agent call → the child run's record.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub children: BTreeMap<String, ReplayData>,
    /// Set when the replay starts: the `run` its event matchers carry (see the module doc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_run: Option<String>,
}

/// A tool step's recorded outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordedTool {
    Output(ToolStepOutput),
    /// The step failed for good; the model was told this error.
    Error(StepError),
}

/// A recorded wait for a person: the event's name and payload, `None` when nobody answered in
/// time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    pub name: String,
    #[serde(default)]
    pub payload: Option<Value>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    #[error("run {run} has not finished (it is {status}); only a finished run can be exported")]
    NotFinished { run: RunId, status: RunStatus },
    #[error("run {run} is not an agent run: {message}")]
    NotAnAgentRun { run: RunId, message: String },
    #[error("step {key} of run {run} has an unexpected output: {message}")]
    BadStep {
        run: RunId,
        key: String,
        message: String,
    },
    #[error("no run {0}")]
    UnknownRun(RunId),
    #[error("not a replay file: {0}")]
    Format(String),
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// Exports finished agent run `trace`. `child_traces` holds its sub-agent runs' traces, and
/// theirs (any order; other runs are ignored).
pub fn export_replay(
    trace: &RunTrace,
    child_traces: &[RunTrace],
) -> Result<ReplayFile, ReplayError> {
    let run = &trace.run;
    if !run.status.is_terminal() {
        return Err(ReplayError::NotFinished {
            run: run.id,
            status: run.status,
        });
    }
    let input: AgentRunInput =
        serde_json::from_value(run.input.clone()).map_err(|e| ReplayError::NotAnAgentRun {
            run: run.id,
            message: e.to_string(),
        })?;
    let data = record(trace, child_traces, &input.spec)?;
    Ok(ReplayFile {
        format: REPLAY_FORMAT.into(),
        version: REPLAY_VERSION,
        source_run: Some(run.id.to_string()),
        spec: input.spec,
        input: input.input,
        run: data,
    })
}

/// Reads run `run` and its sub-agent runs from `engine` and exports them.
pub async fn export_run(engine: &Engine, run: RunId) -> Result<ReplayFile, ReplayError> {
    let root = engine
        .trace(run)
        .await?
        .ok_or(ReplayError::UnknownRun(run))?;
    let mut children = Vec::new();
    let mut pending = root.children.clone();
    while let Some(id) = pending.pop() {
        let child = engine.trace(id).await?.ok_or(ReplayError::UnknownRun(id))?;
        pending.extend(child.children.iter().copied());
        children.push(child);
    }
    export_replay(&root, &children)
}

fn record(trace: &RunTrace, all: &[RunTrace], spec: &AgentSpec) -> Result<ReplayData, ReplayError> {
    let run = trace.run.id;
    let bad = |s: &StepTrace, message: String| ReplayError::BadStep {
        run,
        key: s.step.key.to_string(),
        message,
    };
    let mut data = ReplayData::default();
    let mut steps: Vec<&StepTrace> = trace.steps.iter().collect();
    steps.sort_by_key(|s| s.step.ordinal);
    for s in steps {
        let key = s.step.key.as_str();
        let ok = s.step.status == StepStatus::Succeeded;
        let output = s.step.output.clone().unwrap_or(Value::Null);
        match s.step.kind {
            StepKind::Task if key == TOOLS_STEP && ok => {
                let tools = serde_json::from_value(output).map_err(|e| bad(s, e.to_string()))?;
                data.tools = Some(tools);
            }
            StepKind::Task if key.starts_with("llm/") && ok => {
                let out: ModelStepOutput =
                    serde_json::from_value(output).map_err(|e| bad(s, e.to_string()))?;
                if data.provider.is_empty() {
                    data.provider = out.provider;
                }
                data.turns.push(out.response);
            }
            StepKind::Task if key.starts_with("llm/") && s.step.status == StepStatus::Failed => {
                data.model_failures.insert(key.to_string(), step_error(s));
            }
            StepKind::Task if key.starts_with("tool/") => {
                let recorded = match s.step.status {
                    StepStatus::Succeeded => RecordedTool::Output(
                        serde_json::from_value(output).map_err(|e| bad(s, e.to_string()))?,
                    ),
                    StepStatus::Failed => RecordedTool::Error(step_error(s)),
                    _ => continue,
                };
                data.tool_results.insert(key.to_string(), recorded);
            }
            StepKind::Event if ok => {
                let name = s.step.input["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let timed_out = output["timed_out"].as_bool() == Some(true);
                let payload = (!timed_out).then(|| output["payload"].clone());
                data.events
                    .insert(key.to_string(), RecordedEvent { name, payload });
            }
            StepKind::Child => {
                let child = all.iter().find(|c| {
                    c.run.parent_run_id == Some(run)
                        && c.run.parent_step_key.as_ref().map(|k| k.as_str()) == Some(key)
                });
                let Some(child) = child else { continue };
                let child_spec: AgentSpec = serde_json::from_value(child.run.input["spec"].clone())
                    .map_err(|e| bad(s, format!("the child run's spec: {e}")))?;
                data.children
                    .insert(key.to_string(), record(child, all, &child_spec)?);
            }
            _ => {}
        }
    }
    if data.provider.is_empty() {
        data.provider = spec.model.provider.as_str().to_string();
    }
    Ok(data)
}

fn step_error(s: &StepTrace) -> StepError {
    s.step
        .error
        .clone()
        .unwrap_or_else(|| StepError::fatal("failed", "the step failed without an error"))
}

impl ReplayFile {
    pub fn to_json_string(&self) -> Result<String, ReplayError> {
        serde_json::to_string_pretty(self).map_err(|e| ReplayError::Format(e.to_string()))
    }

    /// Parses a replay file and checks its format and version.
    pub fn from_json_str(text: &str) -> Result<Self, ReplayError> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| ReplayError::Format(e.to_string()))?;
        match (value["format"].as_str(), value["version"].as_u64()) {
            (Some(REPLAY_FORMAT), Some(v)) if v == u64::from(REPLAY_VERSION) => {}
            (Some(REPLAY_FORMAT), v) => {
                return Err(ReplayError::Format(format!(
                    "version {} is not supported (this build reads version {REPLAY_VERSION})",
                    v.map(|v| v.to_string()).unwrap_or_else(|| "missing".into())
                )))
            }
            _ => {
                return Err(ReplayError::Format(format!(
                    "expected \"format\": \"{REPLAY_FORMAT}\""
                )))
            }
        }
        serde_json::from_value(value).map_err(|e| ReplayError::Format(e.to_string()))
    }

    pub fn write(&self, path: &Path) -> Result<(), ReplayError> {
        let text = self.to_json_string()?;
        std::fs::write(path, text).map_err(|e| file_error(path, e.to_string()))
    }

    pub fn read(path: &Path) -> Result<Self, ReplayError> {
        let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e.to_string()))?;
        Self::from_json_str(&text).map_err(|e| file_error(path, e.to_string()))
    }
}

fn file_error(path: &Path, message: String) -> ReplayError {
    ReplayError::File {
        path: path.display().to_string(),
        message,
    }
}

impl ReplayData {
    /// The model of the replay: a scripted provider over the recorded turns.
    pub fn provider(&self) -> Result<Provider, ProviderError> {
        let turns =
            serde_json::to_value(&self.turns).map_err(|e| ProviderError::InvalidScript {
                message: format!("the replay's turns: {e}"),
            })?;
        Ok(Provider::Scripted(ScriptedProvider::from_value(turns)?))
    }

    /// The recorded tool list, for the `tools` step.
    pub fn tool_list(&self) -> Result<ToolSet, StepError> {
        self.tools.clone().ok_or_else(|| {
            StepError::fatal("not_recorded", "the replayed run never listed its tools")
        })
    }

    /// The recorded result of tool step `key`; a step the run did not record fails, so a
    /// replay that strays from the record never calls anything real.
    pub fn tool_result(&self, key: &str) -> Result<ToolStepOutput, StepError> {
        match self.tool_results.get(key) {
            Some(RecordedTool::Output(out)) => Ok(out.clone()),
            Some(RecordedTool::Error(e)) => Err(e.clone()),
            None => Err(StepError::fatal(
                "not_recorded",
                format!("the replay has no recorded result for {key}"),
            )),
        }
    }

    /// The child run's record for sub-agent call `key` (empty when none was recorded: its
    /// model then has no turns, and the child fails rather than calling anything).
    pub fn child(&self, key: &str) -> ReplayData {
        self.children
            .get(key)
            .cloned()
            .unwrap_or_else(|| ReplayData {
                provider: self.provider.clone(),
                ..ReplayData::default()
            })
    }

    /// The `run` the matcher of the wait at `wait_key` carries when its recorded answer was
    /// sent; `None` when there is none, and the wait then times out at once: no replay waits.
    pub(crate) fn human_wait(&self, wait_key: &str) -> Option<&str> {
        let answered = self
            .events
            .get(wait_key)
            .is_some_and(|e| e.payload.is_some());
        if answered {
            self.event_run.as_deref()
        } else {
            None
        }
    }

    /// Gives this run and its children their event tokens, and lists the events to send.
    fn prepare(&mut self, events: &mut Vec<(String, Value)>) {
        let token = RunId::new().to_string();
        for e in self.events.values() {
            let Some(mut payload) = e.payload.clone() else {
                continue;
            };
            if let Some(obj) = payload.as_object_mut() {
                obj.insert("run".into(), json!(token));
                events.push((e.name.clone(), payload));
            }
        }
        self.event_run = Some(token);
        for child in self.children.values_mut() {
            child.prepare(events);
        }
    }
}

impl AgentRuntime {
    /// Starts an offline replay of `replay`: a new run whose model turns, tool results and
    /// human answers all come from the file (see the module doc).
    pub async fn start_replay(
        &self,
        engine: &Engine,
        replay: &ReplayFile,
    ) -> Result<RunId, StartError> {
        replay
            .spec
            .validate()
            .map_err(|e| StartError::Spec(e.to_string()))?;
        let mut data = replay.run.clone();
        let mut events = Vec::new();
        data.prepare(&mut events);
        // Sent first, so every recorded answer is waiting before the run asks for it.
        for (name, payload) in events {
            engine.send_event(&name, payload, REPLAY_EVENT_TTL).await?;
        }
        let run_input = AgentRunInput {
            spec: replay.spec.clone(),
            input: replay.input.clone(),
            script: None,
            replay: Some(data),
        };
        let value = serde_json::to_value(&run_input)
            .map_err(|e| StartError::Spec(format!("the replay cannot be serialized: {e}")))?;
        let opts = StartOptions {
            idempotency_key: None,
            deadline: replay.spec.limits.deadline_secs.map(Duration::from_secs),
            worker_label: replay.spec.worker_label.clone(),
        };
        Ok(engine.start_run(AGENT_FUNCTION, value, opts).await?)
    }
}
