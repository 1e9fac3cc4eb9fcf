//! An MCP tool call as durable steps: `tool/N.I` is the call; when the server answers
//! `input_required` (2026-07-28), its questions are asked as waits on the run and the call
//! goes on in `tool/N.I/round-R` with the answers, so a restart in between loses nothing.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use waymark_engine::{RetryPolicy, RunContext, RunError, SafetyClass, StepError, StepSpec};

use super::task_step;

/// A call whose task the server loses is made again at most this many times.
const MAX_TASK_RESTARTS: usize = 3;

use super::meter::RunMeter;
use super::questions::{self, AttemptQuestions, QuestionSource, LOST_QUESTION};
use super::sampling::{sample, Lender};
use super::tool_step::{settled_step, tool_retry, ToolStepOutput, DEFAULT_TOOL_TIMEOUT};
use super::toolset::AgentTool;
use crate::mcp::interaction::{sampling_refused, InputRequestKind};
use crate::mcp::{
    CallOptions, InputRequired, InputResume, ToolCallOutput, ToolProgress, MAX_INPUT_ROUNDS,
};
use crate::model::ToolCall;
use crate::replay::ReplayData;
use crate::runtime::AgentRuntime;
use crate::spec::AgentSpec;

/// Runs an MCP tool call; returns the output the model reads and the key of the step whose
/// output it is.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn mcp_step(
    rt: &AgentRuntime,
    ctx: &RunContext,
    spec: &AgentSpec,
    tool: &AgentTool,
    server: &str,
    name: &str,
    call: &ToolCall,
    key: String,
    replay: Option<&ReplayData>,
    meter: &RunMeter,
) -> Result<(ToolStepOutput, String), RunError> {
    let n_i = key.trim_start_matches("tool/").to_string();
    // Requests made inside an attempt that ended with its process cannot be answered any
    // more: close them, saying why, before the call is settled by its safety class.
    for prefix in questions::lost_prefixes(&n_i) {
        ctx.settle_recorded(&prefix, json!({ "lost": true, "reason": LOST_QUESTION }))
            .await?;
    }
    let lender = Lender {
        rt: rt.clone(),
        spec: Arc::new(spec.clone()),
        meter: meter.clone(),
    };
    let source = QuestionSource {
        server: server.to_string(),
        tool: name.to_string(),
        tool_step: key.clone(),
        policy: spec.elicitation_policy(server),
        timeout: spec
            .elicitation
            .as_ref()
            .map(|e| e.question_timeout())
            .unwrap_or(Duration::from_secs(crate::spec::DEFAULT_QUESTION_SECS)),
    };
    // A task the server lost is settled by the call's safety class: a call safe to repeat
    // is made again (`tool/N.I/again-K`), any other waits for a person.
    let mut again = 0;
    loop {
        let base = match again {
            0 => key.clone(),
            k => format!("{key}/again-{k}"),
        };
        let label = |what: &str, n: usize| match again {
            0 => format!("{what}{n}"),
            k => format!("g{k}{what}{n}"),
        };
        let mut round = 1;
        let mut step_key = base.clone();
        let mut resume: Option<InputResume> = None;
        let finished = loop {
            let mut out = call_round(
                rt,
                ctx,
                spec,
                tool,
                (server, name),
                call,
                &step_key,
                round,
                resume.take(),
                (&source, &lender),
                replay,
            )
            .await?;
            if let Some(why) = meter.halted() {
                return Err(RunError::Step(why));
            }
            if let Some(handle) = out.task.take() {
                let asked = |seg: usize| label("t", seg);
                break task_step::follow(
                    rt,
                    ctx,
                    (server, name),
                    &handle,
                    &base,
                    &asked,
                    (&source, &lender),
                    &n_i,
                    replay,
                )
                .await?;
            }
            let Some(required) = out.input_required.take() else {
                break Some((out, step_key));
            };
            if round > MAX_INPUT_ROUNDS {
                return Err(RunError::Step(StepError::fatal(
                    "mcp_input_rounds",
                    format!("{server}/{name} still wanted input after {MAX_INPUT_ROUNDS} rounds"),
                )));
            }
            let at = label("r", round);
            resume =
                Some(answer_round(ctx, (&source, &lender), &n_i, &at, &required, replay).await?);
            round += 1;
            step_key = format!("{base}/round-{round}");
        };
        if let Some(done) = finished {
            return Ok(done);
        }
        // The server lost the call's task.
        if tool.safety != SafetyClass::RetrySafe || again >= MAX_TASK_RESTARTS {
            let lost_key = format!("{base}/task-lost");
            let lost = StepSpec {
                safety: SafetyClass::AtMostOnce,
                ..StepSpec::retry_safe(lost_key.clone())
            }
            .with_name(format!("{server}/{name}"))
            .with_input(json!({ "server": server, "tool": name, "arguments": call.arguments }))
            .with_retry(RetryPolicy::no_retries());
            let why = StepError {
                in_doubt: true,
                ..StepError::fatal(
                    "mcp_task_lost",
                    format!(
                        "{server} no longer knows the task of this call, which may or may not have taken effect; it is {}, so a person decides: retry makes the call again",
                        if tool.safety == SafetyClass::RetrySafe {
                            "safe to repeat but was made again too often"
                        } else {
                            "not safe to repeat"
                        }
                    ),
                )
            };
            // The first attempt puts the question to a person; "retry anyway" (a later
            // attempt) makes the call again; "mark done" is the call's output.
            let out: ToolStepOutput = ctx
                .step(lost, |attempt| {
                    let why = why.clone();
                    async move {
                        if attempt.number == 1 {
                            return Err(why);
                        }
                        Ok(ToolStepOutput {
                            content: "a person chose to make the call again".into(),
                            raw: Some(json!({ "call_again": true })),
                            ..Default::default()
                        })
                    }
                })
                .await?;
            let call_again =
                out.raw.as_ref().and_then(|r| r.get("call_again")) == Some(&json!(true));
            if !call_again {
                return Ok((out, lost_key));
            }
        }
        again += 1;
    }
}

/// Answers one round's input requests, each a journaled wait (or the policy's answer).
pub(crate) async fn answer_round(
    ctx: &RunContext,
    (source, lender): (&QuestionSource, &Lender),
    n_i: &str,
    at: &str,
    required: &InputRequired,
    replay: Option<&ReplayData>,
) -> Result<InputResume, RunError> {
    let mut responses = std::collections::BTreeMap::new();
    for (k, (id, request)) in required.requests.iter().enumerate() {
        let answer = match InputRequestKind::of(request) {
            InputRequestKind::Elicitation(params) => {
                let wait = format!("elicit/{n_i}/{at}.{}", k + 1);
                questions::ask(ctx, source, wait, &params, true, replay).await?
            }
            InputRequestKind::Roots => json!({ "roots": [] }),
            InputRequestKind::Sampling(params) => {
                let step = format!("sample/{n_i}/{at}.{}", k + 1);
                match sample(lender, ctx, source, step, &params).await? {
                    Ok(answer) => answer,
                    Err(refused) => sampling_refused(&refused),
                }
            }
            InputRequestKind::Unknown(method) => {
                return Err(RunError::Step(StepError::fatal(
                    "mcp_input_request",
                    format!(
                        "{}/{} sent an input request ({id}) of an unknown kind: {method}",
                        source.server, source.tool
                    ),
                )))
            }
        };
        responses.insert(id.clone(), answer);
    }
    Ok(InputResume {
        responses,
        request_state: required.request_state.clone(),
    })
}

/// One round of the call as a step: the first is `tool/N.I`, later ones carry the answers.
#[allow(clippy::too_many_arguments)]
async fn call_round(
    rt: &AgentRuntime,
    ctx: &RunContext,
    spec: &AgentSpec,
    tool: &AgentTool,
    (server, name): (&str, &str),
    call: &ToolCall,
    key: &str,
    round: usize,
    resume: Option<InputResume>,
    (source, lender): (&QuestionSource, &Lender),
    replay: Option<&ReplayData>,
) -> Result<ToolStepOutput, RunError> {
    let timeout = spec
        .tool_override(&tool.name)
        .and_then(|o| o.timeout_secs)
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TOOL_TIMEOUT);
    let mut input = json!({ "server": server, "tool": name, "arguments": call.arguments });
    if let Some(resume) = &resume {
        input["round"] = json!(round);
        input["input_responses"] = json!(resume.responses);
        if let Some(state) = &resume.request_state {
            input["request_state"] = json!(state);
        }
    }
    let step = StepSpec {
        safety: tool.safety,
        ..StepSpec::retry_safe(key.to_string())
    }
    .with_name(format!("{server}/{name}"))
    .with_input(input)
    .with_retry(tool_retry(spec, &tool.name, replay))
    .attempt_timeout(timeout);
    if let Some(replay) = replay {
        return settled_step(ctx, step, replay.tool_result(key)).await;
    }
    ctx.step(step, |attempt| {
        let arguments = call.arguments.clone();
        let resume = resume.clone();
        let questions =
            AttemptQuestions::new(attempt.clone(), source.clone(), lender.clone(), round);
        async move {
            let progress_attempt = attempt.clone();
            let options = CallOptions {
                // The engine's attempt timeout drops this future, which cancels the request
                // on the wire; the hub's own timeout is a backstop just past it.
                timeout: Some(timeout + Duration::from_secs(1)),
                progress: Some(Arc::new(move |p: ToolProgress| {
                    progress_attempt.progress(json!({
                        "progress": p.progress, "total": p.total, "message": p.message
                    }));
                })),
                interaction: Some(questions),
                resume,
                return_input_required: true,
                keep_invalid_output: false,
                // The task's handle is journaled with this step, then polled by its own.
                return_task: true,
            };
            let output = rt
                .hub()
                .call_tool(server, name, arguments, options)
                .await
                .map_err(|e| e.to_step_error())?;
            Ok(step_output(rt, server, output))
        }
    })
    .await
}

/// A call's output as its step journals it.
pub(crate) fn step_output(
    rt: &AgentRuntime,
    server: &str,
    output: ToolCallOutput,
) -> ToolStepOutput {
    let server = answered_by(rt, server);
    // A task's handle alone (no result yet) is what the step journals for its polls.
    let handle_only = output
        .task
        .as_ref()
        .is_some_and(|t| !matches!(t.status.as_str(), "completed" | "failed" | "cancelled"));
    if output.input_required.is_some() || handle_only {
        return ToolStepOutput {
            input_required: output.input_required,
            task: output.task,
            server,
            ..Default::default()
        };
    }
    // The raw result is kept only when it holds more than its text (structured content,
    // images, resources): the text alone would be stored twice.
    let only_text = output.structured_content.is_none()
        && output
            .content
            .iter()
            .all(|b| b.get("type").and_then(Value::as_str) == Some("text"));
    ToolStepOutput {
        content: output.text(),
        is_error: output.is_error,
        raw: if only_text {
            None
        } else {
            serde_json::to_value(&output).ok()
        },
        server,
        input_required: None,
        task: output.task,
    }
}

/// The connection's revision and the server's identity, as the hub has them after the call.
fn answered_by(rt: &AgentRuntime, server: &str) -> Option<Value> {
    match rt.hub().status(server)? {
        crate::mcp::ServerStatus::Connected {
            protocol_version,
            server_name,
            server_version,
            ..
        } => Some(json!({
            "protocol_version": protocol_version,
            "name": server_name,
            "version": server_version,
        })),
        _ => None,
    }
}
