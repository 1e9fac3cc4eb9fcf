//! MCP Tasks (the `io.modelcontextprotocol/tasks` extension): a server may answer a call with
//! a task handle at once and run the work on its side; the client polls `tasks/get` for the
//! status and the result, answers the task's input requests with `tasks/update`, and may
//! cancel it with `tasks/cancel`. A durable caller journals the handle and polls it again
//! after a restart; anyone else follows it here until it ends.

use std::time::Duration;

use rmcp::model::{
    CallToolResult, CancelTaskParams, ErrorCode, GetTaskParams, Task, TaskPayload, UpdateTaskParams,
};
use rmcp::service::ServiceError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::call::CallFailure;
use super::connection::Connection;
use super::interaction::{answer_locally, InputRequired};
use super::tools::ToolCache;
use super::{CallOptions, ToolCallOutput, ToolProgress};

/// A server's poll interval is kept within these bounds: a hostile one must neither flood
/// it nor stall the run.
const MIN_POLL: Duration = Duration::from_millis(100);
const MAX_POLL: Duration = Duration::from_secs(5);
/// Rounds of input a task may ask for, as for a call.
const MAX_TASK_INPUTS: usize = super::MAX_INPUT_ROUNDS;

/// A task the server made of a call, as the journal keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpTaskHandle {
    pub task_id: String,
    /// `working`, `input_required`, `completed`, `failed` or `cancelled`, when last seen.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub status_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub poll_interval_ms: Option<u64>,
    /// How long the server keeps the task after its creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub ttl_ms: Option<u64>,
}

pub(crate) fn handle_of(task: &Task) -> McpTaskHandle {
    McpTaskHandle {
        task_id: task.task_id.clone(),
        status: serde_json::to_value(task.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "working".into()),
        status_message: task.status_message.clone(),
        poll_interval_ms: task.poll_interval_ms,
        ttl_ms: task.ttl_ms,
    }
}

/// Polls task `handle` until it ends: its result (checked like a call's), or with
/// `return_input_required` the input it waits for. Status messages are the call's progress.
pub(crate) async fn follow(
    conn: &Connection,
    tools: &ToolCache,
    tool: &str,
    handle: &McpTaskHandle,
    options: &CallOptions,
) -> Result<ToolCallOutput, CallFailure> {
    let every =
        Duration::from_millis(handle.poll_interval_ms.unwrap_or(500)).clamp(MIN_POLL, MAX_POLL);
    let mut last_message: Option<String> = None;
    let mut inputs = 0;
    loop {
        let got = conn
            .peer
            .get_task(GetTaskParams::new(handle.task_id.clone()))
            .await
            .map_err(|e| lost_or(e, &handle.task_id))?;
        let detailed = got.task;
        if detailed.task.status_message != last_message {
            last_message = detailed.task.status_message.clone();
            if let (Some(progress), Some(message)) = (&options.progress, &last_message) {
                progress(ToolProgress {
                    progress: 0.0,
                    total: None,
                    message: Some(message.clone()),
                });
            }
        }
        match detailed.payload {
            TaskPayload::Completed { result } => {
                let result: CallToolResult = serde_json::from_value(Value::Object(result))
                    .map_err(|e| {
                        CallFailure::Invalid(format!(
                            "the task's result is not a tools/call result: {e}"
                        ))
                    })?;
                let mut output = super::call::to_output(result)?;
                output.task = Some(handle_of(&detailed.task));
                return super::call::checked(tools, tool, output, options);
            }
            TaskPayload::Failed { error } => {
                let code = error.get("code").and_then(Value::as_i64).unwrap_or(-32603);
                let message = error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("the task failed")
                    .to_string();
                return Err(CallFailure::Rpc { code, message });
            }
            TaskPayload::Cancelled => {
                return Err(CallFailure::TaskEnded(format!(
                    "the server cancelled task {}",
                    handle.task_id
                )))
            }
            TaskPayload::InputRequired { input_requests } => {
                let required = InputRequired::from_result(
                    rmcp::model::InputRequiredResult::from_input_requests(input_requests),
                )
                .map_err(CallFailure::Invalid)?;
                if options.return_input_required {
                    return Ok(ToolCallOutput::pending(
                        Some(required),
                        Some(handle_of(&detailed.task)),
                    ));
                }
                inputs += 1;
                if inputs > MAX_TASK_INPUTS {
                    return Err(CallFailure::Invalid(format!(
                        "task {} still wanted input after {MAX_TASK_INPUTS} rounds",
                        handle.task_id
                    )));
                }
                let answers = answer_locally(
                    &required,
                    options.interaction.as_ref(),
                    conn.events.elicitation,
                )
                .await
                .map_err(CallFailure::Invalid)?;
                update(conn, &handle.task_id, answers.responses).await?;
                continue;
            }
            // Working, or a status this client does not know yet.
            _ => {}
        }
        tokio::time::sleep(every).await;
    }
}

/// Delivers answers to a task's input requests.
pub(crate) async fn update(
    conn: &Connection,
    task_id: &str,
    responses: std::collections::BTreeMap<String, Value>,
) -> Result<(), CallFailure> {
    conn.peer
        .update_task(UpdateTaskParams::new(task_id.to_string(), responses))
        .await
        .map_err(|e| lost_or(e, task_id))
}

/// Asks the server to cancel a task (it ends cancelled, or finishes first).
pub(crate) async fn cancel(conn: &Connection, task_id: &str) -> Result<(), CallFailure> {
    conn.peer
        .cancel_task(CancelTaskParams::new(task_id.to_string()))
        .await
        .map_err(|e| lost_or(e, task_id))
}

/// An unknown task id (the server expired or forgot it) is its own failure: polling it again
/// cannot help.
fn lost_or(e: ServiceError, task_id: &str) -> CallFailure {
    if let ServiceError::McpError(data) = &e {
        if data.code == ErrorCode::INVALID_PARAMS {
            return CallFailure::TaskLost(format!(
                "the server no longer knows task {task_id}: {}",
                data.message
            ));
        }
    }
    super::call::map_service_error(e)
}
