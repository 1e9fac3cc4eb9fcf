//! One tool call of the model as durable steps: the argument check, the approval wait, and
//! the call itself (an MCP tool, a built-in, or a sub-agent's child run).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use waymark_engine::{RetryPolicy, RunContext, RunError, StepError, StepSpec};

use super::toolset::{AgentTool, ToolSet, ToolSource};
use super::{AgentRunInput, AgentRunOutput, AGENT_FUNCTION};
use crate::arguments::{ArgumentValidator, RepairBudget, RepairDecision};
use crate::model::{ToolCall, ToolResult};
use crate::replay::ReplayData;
use crate::runtime::{AgentDirectory, AgentRuntime, DirectoryError};
use crate::spec::{AgentSpec, BuiltinTool};

/// Event names the CLI and API send to a waiting run.
pub const APPROVAL_EVENT: &str = "approval";
pub const ANSWER_EVENT: &str = "answer";

/// How long an approval or a question waits for a person before it gives up.
const HUMAN_WAIT: Duration = Duration::from_secs(30 * 24 * 3600);
/// An MCP call's attempt timeout when the spec sets none.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// A tool step's journaled output: what the model is told.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolStepOutput {
    pub content: String,
    #[serde(default)]
    pub is_error: bool,
    /// The MCP result as the server sent it (content blocks, structured content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<Value>,
    /// Who answered an MCP call: the protocol revision agreed on and the server's name and
    /// version, as the trace shows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<Value>,
    /// The server needs input before it finishes the call (2026-07-28): what it asks and
    /// the state to send back. The call goes on in the next round's step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_required: Option<crate::mcp::InputRequired>,
    /// The task the server runs the call as (its handle, journaled as soon as it arrives);
    /// the task's own steps poll it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<crate::mcp::McpTaskHandle>,
}

impl ToolStepOutput {
    pub(crate) fn error(content: impl Into<String>) -> Self {
        ToolStepOutput {
            content: content.into(),
            is_error: true,
            ..Default::default()
        }
    }
}

pub fn default_tool_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        initial_interval_ms: 500,
        backoff_coefficient: 2.0,
        max_interval_ms: 30_000,
        jitter: 0.1,
        non_retryable_kinds: Vec::new(),
    }
}

/// Runs call `i` of model call `n`; returns the result for the model, and the step whose
/// output it is verbatim (if one is). A step that fails for good becomes an error result the
/// model reads, except a spent repair budget, which ends the run. In a `replay`, calls return
/// their recorded results and waits for a person their recorded answers.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run_tool_call(
    rt: &AgentRuntime,
    ctx: &RunContext,
    spec: &AgentSpec,
    tools: &ToolSet,
    call: &ToolCall,
    key: String,
    repairs: &std::sync::Mutex<RepairBudget>,
    replay: Option<&ReplayData>,
    run_input: &str,
    meter: &super::meter::RunMeter,
) -> Result<(ToolResult, Option<String>), RunError> {
    let (from, inline) = answers(call);
    let Some(tool) = tools.get(&call.name) else {
        let message = format!(
            "there is no tool named \"{}\"; the tools are: {}",
            call.name,
            tools.names().join(", ")
        );
        let out = recorded_answer(ctx, &key, &call.name, ToolStepOutput::error(message)).await?;
        return Ok(from(out, &key));
    };
    // The check is pure, so replaying it gives the same verdict; the repair is journaled as
    // its own step so the trace shows each one.
    if let Some(violation) = check_arguments(tool, call) {
        let decision = {
            let mut budget = repairs.lock().unwrap_or_else(|e| e.into_inner());
            budget.next(&violation)
        };
        let out = match decision {
            RepairDecision::AskModel(text) => ToolStepOutput::error(text),
            RepairDecision::Fail(e) => {
                let spec = StepSpec::retry_safe(key.clone())
                    .with_name(call.name.clone())
                    .with_input(json!({"tool": call.name, "arguments": call.arguments}))
                    .with_retry(RetryPolicy::no_retries());
                // Journaled as the failed step; the run ends with its error.
                return settled_step(ctx, spec, Err(e))
                    .await
                    .map(|out| from(out, &key));
            }
        };
        let out = recorded_answer(ctx, &key, &call.name, out).await?;
        return Ok(from(out, &key));
    }
    // A reviewer may edit the arguments before approving: the call is made with theirs,
    // checked against the schema again, and the model is told what changed.
    let mut edited: Option<ToolCall> = None;
    let mut edit: Option<Value> = None;
    if tool.needs_approval {
        let approval_key = key.replacen("tool/", "approval/", 1);
        let (matcher, wait) = human_wait(ctx, replay, &approval_key, &key);
        let decision = ctx
            .wait_for_event(approval_key, APPROVAL_EVENT, matcher, wait)
            .await?;
        match decision {
            None => {
                return Ok(inline(ToolStepOutput::error(
                    "nobody approved this call in time; it was not made",
                )))
            }
            Some(p) if p.get("approved").and_then(Value::as_bool) != Some(true) => {
                let reason = rejection_reason(&p);
                return Ok(inline(ToolStepOutput::error(format!(
                    "a person rejected this call{reason}; it was not made"
                ))));
            }
            Some(p) => {
                if let Some(arguments) = p.get("arguments").filter(|a| **a != call.arguments) {
                    let changed = ToolCall {
                        arguments: arguments.clone(),
                        arguments_error: None,
                        ..call.clone()
                    };
                    if let Some(violation) = check_arguments(tool, &changed) {
                        return Ok(inline(ToolStepOutput::error(format!(
                            "a person approved this call with arguments the tool refuses, so it was not made: {violation}"
                        ))));
                    }
                    edit = Some(json!({
                        "by": p.get("by").cloned().unwrap_or(Value::Null),
                        "changes": changes(&call.arguments, arguments),
                        "original": call.arguments,
                    }));
                    edited = Some(changed);
                }
            }
        }
    }
    let call = edited.as_ref().unwrap_or(call);
    let (result, from_step) = dispatch(
        rt,
        ctx,
        spec,
        tool,
        call,
        key,
        replay,
        run_input,
        edit.as_ref(),
        meter,
    )
    .await?;
    Ok(match edit {
        None => (result, from_step),
        Some(edit) => (
            ToolResult {
                content: format!(
                    "{}\n\n(Before this call was made, a person changed its arguments: {}.)",
                    result.content,
                    edit.get("changes")
                        .map(describe_changes)
                        .unwrap_or_default()
                ),
                ..result
            },
            // The model reads more than the step's output: the note is inline.
            None,
        ),
    })
}

/// `: REASON` from a person's rejection that gave one, else nothing.
pub(crate) fn rejection_reason(decision: &Value) -> String {
    decision
        .get("reason")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .map(|r| format!(": {r}"))
        .unwrap_or_default()
}

/// What the model is told of a call: `from(out, key)` when it is that step's output verbatim,
/// `inline(out)` when it is not (a person's answer, a note added).
#[allow(clippy::type_complexity)]
fn answers(
    call: &ToolCall,
) -> (
    impl Fn(ToolStepOutput, &str) -> (ToolResult, Option<String>) + '_,
    impl Fn(ToolStepOutput) -> (ToolResult, Option<String>) + '_,
) {
    let result = move |out: ToolStepOutput| ToolResult {
        tool_call_id: call.id.clone(),
        content: out.content,
        is_error: out.is_error,
    };
    (
        move |out: ToolStepOutput, key: &str| (result(out), Some(key.to_string())),
        move |out: ToolStepOutput| (result(out), None),
    )
}

/// Each top-level argument a reviewer changed: `{field: {from, to}}`.
fn changes(before: &Value, after: &Value) -> Value {
    let mut out = serde_json::Map::new();
    let empty = serde_json::Map::new();
    let (b, a) = (
        before.as_object().unwrap_or(&empty),
        after.as_object().unwrap_or(&empty),
    );
    for (k, v) in a {
        if b.get(k) != Some(v) {
            out.insert(k.clone(), json!({"from": b.get(k), "to": v}));
        }
    }
    for (k, v) in b {
        if !a.contains_key(k) {
            out.insert(k.clone(), json!({"from": v, "to": null}));
        }
    }
    Value::Object(out)
}

fn describe_changes(changes: &Value) -> String {
    let Some(map) = changes.as_object() else {
        return String::new();
    };
    map.iter()
        .map(|(k, c)| {
            let show = |v: Option<&Value>| match v {
                Some(Value::String(s)) => format!("{s:?}"),
                Some(Value::Null) | None => "nothing".to_string(),
                Some(other) => other.to_string(),
            };
            format!("{k} from {} to {}", show(c.get("from")), show(c.get("to")))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The call itself, once approved: an MCP tool, a built-in or a sub-agent.
#[allow(clippy::too_many_arguments)]
async fn dispatch(
    rt: &AgentRuntime,
    ctx: &RunContext,
    spec: &AgentSpec,
    tool: &AgentTool,
    call: &ToolCall,
    key: String,
    replay: Option<&ReplayData>,
    run_input: &str,
    edit: Option<&Value>,
    meter: &super::meter::RunMeter,
) -> Result<(ToolResult, Option<String>), RunError> {
    let (from, inline) = answers(call);
    Ok(match &tool.source {
        ToolSource::Mcp {
            server, tool: name, ..
        } => match super::mcp_step::mcp_step(
            rt,
            ctx,
            spec,
            tool,
            server,
            name,
            call,
            key.clone(),
            replay,
            meter,
        )
        .await
        {
            Ok((out, last)) => from(out, &last),
            // A limit reached by a model answering the server's request ends the run.
            Err(RunError::Step(e)) if e.kind == "limit_reached" => return Err(RunError::Step(e)),
            Err(RunError::Step(e)) => inline(ToolStepOutput::error(format!(
                "the tool failed: {}",
                e.message
            ))),
            Err(other) => return Err(other),
        },
        ToolSource::Builtin {
            builtin: BuiltinTool::SendEmail,
        } => {
            let out = crate::email::send_email_step(
                rt,
                ctx,
                spec,
                &call.arguments,
                key.clone(),
                run_input,
                edit,
                replay,
            )
            .await;
            match out {
                Ok(out) => from(out, &key),
                Err(RunError::Step(e)) => inline(ToolStepOutput::error(format!(
                    "the email was not sent: {}",
                    e.message
                ))),
                Err(other) => return Err(other),
            }
        }
        ToolSource::Builtin { builtin } => {
            let out = builtin_step(rt, ctx, spec, *builtin, call, key.clone(), replay).await?;
            // A person's answer is the wait's payload, not its output verbatim.
            if *builtin == BuiltinTool::AskHuman {
                inline(out)
            } else {
                from(out, &key)
            }
        }
        ToolSource::Agent {
            spec: child,
            script,
        } => {
            let input = sub_agent_input(&call.arguments);
            let child_input = AgentRunInput {
                spec: (**child).clone(),
                input,
                script: script.clone(),
                replay: replay.map(|r| r.child(&key)),
            };
            let value = serde_json::to_value(&child_input)
                .map_err(|e| StepError::fatal("serialization", e.to_string()))?;
            match ctx.child(key.clone(), AGENT_FUNCTION, value).await {
                Ok(v) => match serde_json::from_value::<AgentRunOutput>(v.clone()) {
                    Ok(o) => from(
                        ToolStepOutput {
                            content: o.answer,
                            is_error: false,
                            raw: None,
                            server: None,
                            input_required: None,
                            task: None,
                        },
                        &key,
                    ),
                    Err(_) => inline(ToolStepOutput {
                        content: v.to_string(),
                        is_error: false,
                        raw: None,
                        server: None,
                        input_required: None,
                        task: None,
                    }),
                },
                Err(RunError::Step(e)) => inline(ToolStepOutput::error(format!(
                    "the sub-agent {} failed: {}",
                    child.name, e.message
                ))),
                Err(other) => return Err(other),
            }
        }
    })
}

fn check_arguments(
    tool: &AgentTool,
    call: &ToolCall,
) -> Option<crate::arguments::ArgumentViolations> {
    if let Some(reason) = &call.arguments_error {
        return Some(crate::arguments::ArgumentViolations {
            tool: call.name.clone(),
            violations: vec![crate::arguments::Violation {
                path: String::new(),
                message: reason.clone(),
            }],
        });
    }
    match ArgumentValidator::new(&tool.name, &tool.input_schema) {
        Ok(v) => v.check(&call.arguments).err(),
        // A schema the validator cannot compile is the server's problem: let the call through.
        Err(_) => None,
    }
}

/// The matcher and timeout of a wait for a person at `wait_key` (for tool step `key`). A
/// replay's recorded answer was sent before it started and matches its token; a wait it has
/// no answer for times out at once, so a replay never waits.
fn human_wait(
    ctx: &RunContext,
    replay: Option<&ReplayData>,
    wait_key: &str,
    key: &str,
) -> (Value, Duration) {
    match replay {
        None => (json!({ "run": ctx.run_id(), "step": key }), HUMAN_WAIT),
        Some(r) => match r.human_wait(wait_key) {
            Some(token) => (json!({ "run": token, "step": key }), HUMAN_WAIT),
            None => (json!({ "run": ctx.run_id(), "step": key }), Duration::ZERO),
        },
    }
}

/// A result the loop decided without calling anything (an unknown tool, a repair), journaled
/// as a step so the trace shows it.
async fn recorded_answer(
    ctx: &RunContext,
    key: &str,
    tool: &str,
    out: ToolStepOutput,
) -> Result<ToolStepOutput, RunError> {
    let spec = StepSpec::retry_safe(key.to_string())
        .with_name(tool.to_string())
        .with_input(json!({ "tool": tool, "checked": true }))
        .with_retry(RetryPolicy::no_retries());
    settled_step(ctx, spec, Ok(out)).await
}

/// A step whose outcome is known before it runs (a check's verdict, a replay's record):
/// journaled like any other, so the trace shows it.
pub(crate) async fn settled_step(
    ctx: &RunContext,
    spec: StepSpec,
    outcome: Result<ToolStepOutput, StepError>,
) -> Result<ToolStepOutput, RunError> {
    ctx.step(spec, move |_| {
        let outcome = outcome.clone();
        async move { outcome }
    })
    .await
}

async fn builtin_step(
    rt: &AgentRuntime,
    ctx: &RunContext,
    spec: &AgentSpec,
    builtin: BuiltinTool,
    call: &ToolCall,
    key: String,
    replay: Option<&ReplayData>,
) -> Result<ToolStepOutput, RunError> {
    let args = &call.arguments;
    let text = |name: &str| {
        args.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    if builtin == BuiltinTool::AskHuman {
        let (matcher, wait) = human_wait(ctx, replay, &key, &key);
        return Ok(
            match ctx.wait_for_event(key, ANSWER_EVENT, matcher, wait).await? {
                Some(p) => ToolStepOutput {
                    content: p
                        .get("text")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .unwrap_or_else(|| p.to_string()),
                    is_error: false,
                    raw: None,
                    server: None,
                    input_required: None,
                    task: None,
                },
                None => ToolStepOutput::error("nobody answered the question in time"),
            },
        );
    }
    let agent = spec.name.clone();
    let recorded = replay.map(|r| r.tool_result(&key));
    let step = StepSpec::retry_safe(key)
        .with_name(builtin.name())
        .with_input(json!({ "tool": builtin.name(), "arguments": args }))
        .with_retry(match replay {
            Some(_) => RetryPolicy::no_retries(),
            None => default_tool_retry(),
        });
    if let Some(recorded) = recorded {
        return settled_step(ctx, step, recorded).await;
    }
    let (key_arg, value_arg, query) = (text("key"), text("value"), text("query"));
    let limit = args.get("limit").and_then(Value::as_u64).unwrap_or(20) as usize;
    ctx.step(step, |_| {
        let (agent, key_arg, value_arg, query) = (
            agent.clone(),
            key_arg.clone(),
            value_arg.clone(),
            query.clone(),
        );
        async move {
            let dir = rt.directory().cloned().ok_or_else(|| {
                StepError::fatal("no_memory", "this process has no agent memory store")
            })?;
            // A locked database keeps the catalog waiting up to its busy timeout: wait on a
            // blocking thread, not on one of the runtime's few async ones.
            let outcome = tokio::task::spawn_blocking(move || {
                memory_call(&*dir, builtin, &agent, &key_arg, &value_arg, &query, limit)
            })
            .await
            .map_err(|e| StepError::fatal("memory", format!("the memory call failed: {e}")))?;
            match outcome {
                Ok(content) => Ok(ToolStepOutput {
                    content,
                    is_error: false,
                    raw: None,
                    server: None,
                    input_required: None,
                    task: None,
                }),
                // The model asked for something the store refuses: it reads why and may fix it.
                Err(DirectoryError::Invalid(message)) => Ok(ToolStepOutput::error(message)),
                // A locked store is retried by the step's policy; a broken one fails the step.
                Err(e) => Err(e.into_step_error("memory")),
            }
        }
    })
    .await
}

/// One memory tool's call on the directory; the text the model is told on success.
fn memory_call(
    dir: &dyn AgentDirectory,
    builtin: BuiltinTool,
    agent: &str,
    key: &str,
    value: &str,
    query: &str,
    limit: usize,
) -> Result<String, DirectoryError> {
    Ok(match builtin {
        BuiltinTool::Remember => {
            dir.remember(agent, key, value)?;
            format!("remembered \"{key}\"")
        }
        BuiltinTool::Recall => dir.recall(agent, query, limit)?.to_string(),
        BuiltinTool::Forget => {
            if dir.forget(agent, key)? {
                format!("forgot \"{key}\"")
            } else {
                format!("there was no note \"{key}\"")
            }
        }
        BuiltinTool::AskHuman | BuiltinTool::SendEmail => String::new(),
    })
}

/// A replayed failure is the recorded one: trying it again could only give the same answer.
pub(crate) fn tool_retry(spec: &AgentSpec, tool: &str, replay: Option<&ReplayData>) -> RetryPolicy {
    match replay {
        Some(_) => RetryPolicy::no_retries(),
        None => spec.tool_retry(tool, default_tool_retry()),
    }
}

/// The task a sub-agent gets from its call: the `input` text the tool's schema asks for; from
/// a model that sent something else, that thing as JSON text rather than nothing.
fn sub_agent_input(arguments: &Value) -> String {
    match arguments.get("input").unwrap_or(arguments) {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod sub_agent_tests {
    use super::sub_agent_input;
    use serde_json::json;

    #[test]
    fn a_sub_agent_gets_its_input_whatever_shape_it_came_in() {
        assert_eq!(
            sub_agent_input(&json!({"input": "find A-1001"})),
            "find A-1001"
        );
        assert_eq!(
            sub_agent_input(&json!({"input": {"order": "A-1001"}})),
            r#"{"order":"A-1001"}"#
        );
        assert_eq!(
            sub_agent_input(&json!({"task": "find A-1001"})),
            r#"{"task":"find A-1001"}"#
        );
        assert_eq!(sub_agent_input(&json!("just text")), "just text");
    }
}
