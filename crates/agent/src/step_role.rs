//! What an agent run's step is, for the people reading its trace: the engine knows four step
//! kinds (task, sleep, event, child); the agent loop's key names and wait names say which task
//! is a model call and which wait is an approval. One place reads those conventions.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use waymark_engine::{StepKind as EngineKind, StepRecord};

use crate::agent_loop::{ANSWER_EVENT, APPROVAL_EVENT, ELICITATION_EVENT};

/// A step's role in a run.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
// On the wire it is the step's kind: the engine's own kinds stay behind the API.
#[ts(rename = "StepKind")]
#[schemars(rename = "StepKind")]
pub enum StepRole {
    /// A call to the model (`llm/N`).
    ModelCall,
    /// A call to a tool: MCP, a built-in or a sub-agent (`tool/N.I`).
    ToolCall,
    /// A tool call waiting for a person's approval.
    Approval,
    /// A question to a person (`ask_human`).
    Question,
    /// A question an MCP server asked during a tool call (`elicitation/create`).
    Elicitation,
    /// A durable sleep.
    Timer,
    /// A wait for a named event.
    EventWait,
    /// A child run (a sub-agent's run).
    ChildRun,
    /// Any other piece of work.
    Task,
}

impl StepRole {
    pub fn as_str(self) -> &'static str {
        match self {
            StepRole::ModelCall => "model_call",
            StepRole::ToolCall => "tool_call",
            StepRole::Approval => "approval",
            StepRole::Question => "question",
            StepRole::Elicitation => "elicitation",
            StepRole::Timer => "timer",
            StepRole::EventWait => "event_wait",
            StepRole::ChildRun => "child_run",
            StepRole::Task => "task",
        }
    }

    pub fn of(step: &StepRecord) -> StepRole {
        Self::from_parts(step.kind, step.key.as_str(), &step.meta, &step.input)
    }

    /// From what an event says of a step before its record is read.
    pub fn from_parts(kind: EngineKind, key: &str, meta: &Value, input: &Value) -> StepRole {
        match kind {
            EngineKind::Sleep => StepRole::Timer,
            EngineKind::Child => StepRole::ChildRun,
            EngineKind::Event => match event_name(meta, input).as_deref() {
                Some(APPROVAL_EVENT) => StepRole::Approval,
                Some(ANSWER_EVENT) => StepRole::Question,
                Some(ELICITATION_EVENT) => StepRole::Elicitation,
                // An event names no wait: the loop's key conventions say what it is.
                None if key.starts_with("approval/")
                    || (key.starts_with("sample/") && key.ends_with("/approval")) =>
                {
                    StepRole::Approval
                }
                None if key.starts_with("elicit/") => StepRole::Elicitation,
                None if key.starts_with("tool/") => StepRole::Question,
                _ if key.starts_with("approval/") => StepRole::Approval,
                _ => StepRole::EventWait,
            },
            // `sample/...`: the model answering a server's sampling request.
            EngineKind::Task if key.starts_with("llm/") || key.starts_with("sample/") => {
                StepRole::ModelCall
            }
            EngineKind::Task if key.starts_with("tool/") => StepRole::ToolCall,
            EngineKind::Task => StepRole::Task,
        }
    }
}

impl std::fmt::Display for StepRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The event an event-wait step waits for.
pub fn event_name(meta: &Value, input: &Value) -> Option<String> {
    meta.get("name")
        .or_else(|| input.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The model call a tool call's steps serve: `approval/N.I` and `tool/N.I` are the `I`-th
/// tool call of `llm/N`. Its key and the call's index (from 0).
pub fn model_call_of(key: &str) -> Option<(String, usize)> {
    let n_i = key
        .strip_prefix("approval/")
        .or_else(|| key.strip_prefix("tool/"))?;
    let (n, i) = n_i.split_once('.')?;
    let (n, i): (u64, usize) = (n.parse().ok()?, i.parse().ok()?);
    Some((format!("llm/{n}"), i.checked_sub(1)?))
}

/// The `index`-th tool call a model call's recorded output asked for: its tool and arguments.
pub fn tool_call_in(model_output: &Value, index: usize) -> Option<(String, Value)> {
    let call = model_output
        .pointer("/response/tool_calls")?
        .as_array()?
        .get(index)?;
    let tool = call.get("name")?.as_str()?.to_string();
    Some((tool, call.get("arguments").cloned().unwrap_or(Value::Null)))
}

/// Tokens and cost of a model call, as its output records them.
#[derive(
    Clone, Copy, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
pub struct StepUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Absent when the model's price is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub cost_usd: Option<f64>,
}

impl StepUsage {
    /// A model call's usage from its recorded output; `None` for any other output.
    pub fn of_output(output: &Value) -> Option<StepUsage> {
        let usage = output.get("usage")?;
        let count = |name: &str| usage.get(name).and_then(Value::as_u64).unwrap_or(0);
        Some(StepUsage {
            input_tokens: count("input_tokens"),
            output_tokens: count("output_tokens"),
            cost_usd: output.get("cost_usd").and_then(Value::as_f64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn roles_follow_the_loop_conventions() {
        let none = json!({});
        assert_eq!(
            StepRole::from_parts(EngineKind::Task, "llm/3", &none, &none),
            StepRole::ModelCall
        );
        assert_eq!(
            StepRole::from_parts(EngineKind::Task, "tool/3.1", &none, &none),
            StepRole::ToolCall
        );
        let approval = json!({"name": APPROVAL_EVENT});
        assert_eq!(
            StepRole::from_parts(EngineKind::Event, "approval/3.1", &none, &approval),
            StepRole::Approval
        );
        let answer = json!({"name": ANSWER_EVENT});
        assert_eq!(
            StepRole::from_parts(EngineKind::Event, "ask/3.1", &answer, &none),
            StepRole::Question
        );
        assert_eq!(
            StepRole::from_parts(EngineKind::Event, "wait", &json!({"name": "paid"}), &none),
            StepRole::EventWait
        );
        // Events carry no wait's name: the key says what waits.
        let events = [
            ("elicit/2.1/r1.1", StepRole::Elicitation),
            ("sample/2.1/r1.1/approval", StepRole::Approval),
            ("tool/2.1", StepRole::Question),
            ("approval/2.1", StepRole::Approval),
            ("wait", StepRole::EventWait),
        ];
        for (key, role) in events {
            assert_eq!(
                StepRole::from_parts(EngineKind::Event, key, &none, &none),
                role,
                "{key}"
            );
        }
        assert_eq!(
            StepRole::from_parts(EngineKind::Task, "sample/2.1/r1.1", &none, &none),
            StepRole::ModelCall
        );
        assert_eq!(
            StepRole::from_parts(EngineKind::Sleep, "nap", &none, &none),
            StepRole::Timer
        );
        assert_eq!(
            StepRole::from_parts(EngineKind::Child, "child/1", &none, &none),
            StepRole::ChildRun
        );
        assert_eq!(
            StepRole::from_parts(EngineKind::Task, "charge", &none, &none),
            StepRole::Task
        );
    }

    #[test]
    fn a_tool_call_step_names_its_model_call() {
        assert_eq!(model_call_of("approval/4.1"), Some(("llm/4".into(), 0)));
        assert_eq!(model_call_of("tool/12.3"), Some(("llm/12".into(), 2)));
        for other in [
            "llm/4",
            "tool/4",
            "tool/4.0",
            "approval/x.1",
            "tool/4.1.2",
            "child/1",
        ] {
            assert_eq!(model_call_of(other), None, "{other}");
        }
        let out = json!({"response": {"tool_calls": [
            {"id": "c1", "name": "lookup", "arguments": {"id": 7}},
            {"id": "c2", "name": "send"},
        ]}});
        assert_eq!(
            tool_call_in(&out, 0),
            Some(("lookup".into(), json!({"id": 7})))
        );
        assert_eq!(tool_call_in(&out, 1), Some(("send".into(), Value::Null)));
        assert_eq!(tool_call_in(&out, 2), None);
        assert_eq!(tool_call_in(&json!({"response": {}}), 0), None);
    }

    #[test]
    fn usage_reads_a_model_output_and_nothing_else() {
        let out = json!({"usage": {"input_tokens": 12, "output_tokens": 5}, "cost_usd": 0.25});
        assert_eq!(
            StepUsage::of_output(&out),
            Some(StepUsage {
                input_tokens: 12,
                output_tokens: 5,
                cost_usd: Some(0.25)
            })
        );
        assert_eq!(StepUsage::of_output(&json!({"content": []})), None);
        assert_eq!(StepUsage::of_output(&json!("usage")), None);
    }
}
