//! A call the server runs as an MCP task, after its handle was journaled with the call's
//! step: polled by steps of its own (`tool/N.I/task`, then `task-2`... after each round of
//! input it asks for), so a restart polls the same task again instead of calling the tool
//! again. Cancelling the run cancels the task on the server.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use waymark_engine::{Interrupt, RunContext, RunError, StepError, StepSpec};

use super::mcp_step::{answer_round, step_output};
use super::questions::QuestionSource;
use super::sampling::Lender;
use super::tool_step::{default_tool_retry, settled_step, ToolStepOutput};
use crate::mcp::{CallOptions, McpError, McpTaskHandle, ToolProgress, MAX_INPUT_ROUNDS};
use crate::replay::ReplayData;
use crate::runtime::AgentRuntime;

/// How long a cancelled run waits for the server to take the task's cancellation.
const CANCEL_WAIT: Duration = Duration::from_secs(5);

/// Polls the task to its end: its output and the key of the step that journaled it, or
/// `None` when the server no longer knows the task.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn follow(
    rt: &AgentRuntime,
    ctx: &RunContext,
    (server, name): (&str, &str),
    handle: &McpTaskHandle,
    base: &str,
    asked: &(dyn Fn(usize) -> String + Sync),
    (source, lender): (&QuestionSource, &Lender),
    n_i: &str,
    replay: Option<&ReplayData>,
) -> Result<Option<(ToolStepOutput, String)>, RunError> {
    let mut segment = 1;
    let mut responses: Option<BTreeMap<String, Value>> = None;
    loop {
        let key = match segment {
            1 => format!("{base}/task"),
            n => format!("{base}/task-{n}"),
        };
        match poll_step(
            rt,
            ctx,
            (server, name),
            handle,
            &key,
            responses.take(),
            replay,
        )
        .await
        {
            Ok(mut out) => {
                let Some(required) = out.input_required.take() else {
                    return Ok(Some((out, key)));
                };
                if segment > MAX_INPUT_ROUNDS {
                    return Err(RunError::Step(StepError::fatal(
                        "mcp_input_rounds",
                        format!("task {} of {server}/{name} still wanted input after {MAX_INPUT_ROUNDS} rounds", handle.task_id),
                    )));
                }
                let answers = answer_round(
                    ctx,
                    (source, lender),
                    n_i,
                    &asked(segment),
                    &required,
                    replay,
                )
                .await?;
                responses = Some(answers.responses);
                segment += 1;
            }
            Err(RunError::Step(e)) if e.kind == "mcp_task_lost" => return Ok(None),
            Err(RunError::Interrupted(Interrupt::Cancelled)) => {
                let cancel = rt.hub().cancel_task(server, name, &handle.task_id);
                if let Ok(Err(e)) = tokio::time::timeout(CANCEL_WAIT, cancel).await {
                    tracing::warn!(task = %handle.task_id, "cancelling the run's task: {e}");
                }
                return Err(RunError::Interrupted(Interrupt::Cancelled));
            }
            Err(e) => return Err(e),
        }
    }
}

/// One step of polling: answers first (when the task asked for input), then `tasks/get`
/// until the task ends or asks again. No attempt timeout: the server's TTL bounds a task.
async fn poll_step(
    rt: &AgentRuntime,
    ctx: &RunContext,
    (server, name): (&str, &str),
    handle: &McpTaskHandle,
    key: &str,
    responses: Option<BTreeMap<String, Value>>,
    replay: Option<&ReplayData>,
) -> Result<ToolStepOutput, RunError> {
    let mut input = json!({ "server": server, "tool": name, "task_id": handle.task_id });
    if let Some(r) = &responses {
        input["input_responses"] = json!(r);
    }
    let step = StepSpec::retry_safe(key.to_string())
        .with_name(format!("{server}/{name} (task)"))
        .with_input(input)
        .with_retry(default_tool_retry());
    if let Some(replay) = replay {
        return settled_step(ctx, step, replay.tool_result(key)).await;
    }
    ctx.step(step, |attempt| {
        let responses = responses.clone();
        async move {
            let hub = rt.hub();
            if let Some(r) = responses {
                match hub.update_task(server, name, &handle.task_id, r).await {
                    // A retried attempt may deliver the answers again: a server that already
                    // has them refuses, which changes nothing.
                    Ok(()) | Err(McpError::Rpc { .. }) => {}
                    Err(e) => return Err(e.to_step_error()),
                }
            }
            let progress_attempt = attempt.clone();
            let options = CallOptions {
                progress: Some(Arc::new(move |p: ToolProgress| {
                    progress_attempt.progress(json!({ "message": p.message }));
                })),
                return_input_required: true,
                ..CallOptions::default()
            };
            let output = hub
                .follow_task(server, name, handle, options)
                .await
                .map_err(|e| e.to_step_error())?;
            Ok(step_output(rt, server, output))
        }
    })
    .await
}
