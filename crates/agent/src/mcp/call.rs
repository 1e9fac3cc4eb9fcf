//! One `tools/call` on a live connection: progress forwarded, the timeout enforced by
//! cancelling on the wire, rounds of `input_required` answered or handed back, the answer
//! mapped and checked.

use std::time::Duration;

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotificationParam,
    ClientRequest, RequestId, ServerResult,
};
use rmcp::service::{PeerRequestOptions, ServiceError};
use rmcp::{Peer, RoleClient};
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use super::connection::Connection;
use super::interaction::{answer_locally, InputRequired, InputResume, MAX_INPUT_ROUNDS};
use super::tools::ToolCache;
use super::{CallOptions, OutputCheck, ToolCallOutput};

/// How long a call's progress callback outlives its answer.
const PROGRESS_LINGER: Duration = Duration::from_millis(250);

/// How a call failed, before the hub adds the server's name and stderr.
pub(crate) enum CallFailure {
    /// The transport closed under the call (process exit, lost session).
    Closed(String),
    Rpc {
        code: i64,
        message: String,
    },
    Timeout,
    Invalid(String),
    /// The server refused the request for want of a (better) sign-in: 401, or 403
    /// `insufficient_scope`, with its challenge.
    SignIn {
        challenge: Option<String>,
    },
    /// The server no longer knows the call's task (it expired it, or forgot it).
    TaskLost(String),
    /// The server ended the call's task without a result (cancelled it).
    TaskEnded(String),
}

pub(crate) async fn call(
    conn: &Connection,
    tools: &ToolCache,
    tool: &str,
    arguments: Option<serde_json::Map<String, Value>>,
    options: &CallOptions,
    deadline: Option<Instant>,
) -> Result<ToolCallOutput, CallFailure> {
    // Questions asked inside the call go to its interaction while it is in flight.
    let _questions = options
        .interaction
        .clone()
        .map(|sink| conn.events.interactions.register(sink));
    let mut resume = options.resume.clone();
    for _round in 0..=MAX_INPUT_ROUNDS {
        let output = round(
            conn,
            tool,
            arguments.clone(),
            resume.take(),
            options,
            deadline,
        )
        .await?;
        if let Some(handle) = &output.task {
            if options.return_task {
                return Ok(output);
            }
            // Followed here to its end; a caller that stops waiting cancels the task, as it
            // would a request.
            let mut abandoned = TaskGuard {
                peer: conn.peer.clone(),
                task_id: Some(handle.task_id.clone()),
            };
            let followed = super::tasks::follow(conn, tools, tool, handle, options).await;
            abandoned.task_id = None;
            return followed;
        }
        let Some(required) = &output.input_required else {
            return checked(tools, tool, output, options);
        };
        if options.return_input_required {
            return Ok(output);
        }
        resume = Some(
            answer_locally(
                required,
                options.interaction.as_ref(),
                conn.events.elicitation,
            )
            .await
            .map_err(CallFailure::Invalid)?,
        );
    }
    Err(CallFailure::Invalid(format!(
        "the server still wanted input after {MAX_INPUT_ROUNDS} rounds"
    )))
}

/// The result checked against the tool's output schema: a failing check fails the call, or
/// with `keep_invalid_output` is reported in the output.
pub(crate) fn checked(
    tools: &ToolCache,
    tool: &str,
    mut output: ToolCallOutput,
    options: &CallOptions,
) -> Result<ToolCallOutput, CallFailure> {
    if tools.has_output_schema(tool) {
        let checked = tools.check_output(tool, &output);
        if !options.keep_invalid_output {
            checked.clone().map_err(CallFailure::Invalid)?;
        }
        output.output_check = Some(OutputCheck {
            valid: checked.is_ok(),
            problem: checked.err(),
        });
    }
    Ok(output)
}

/// One `tools/call` request and its answer: a result, or the input the server needs first.
async fn round(
    conn: &Connection,
    tool: &str,
    arguments: Option<serde_json::Map<String, Value>>,
    resume: Option<InputResume>,
    options: &CallOptions,
    deadline: Option<Instant>,
) -> Result<ToolCallOutput, CallFailure> {
    let mut params = CallToolRequestParams::new(tool.to_string());
    if let Some(arguments) = arguments {
        params = params.with_arguments(arguments);
    }
    if let Some(resume) = resume {
        // The state is echoed exactly, and only when the server sent one.
        params = params.with_input_responses(resume.responses);
        params.request_state = resume.request_state;
    }
    if deadline.is_some_and(|d| d <= Instant::now()) {
        return Err(CallFailure::Timeout);
    }
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
    let handle = conn
        .peer
        .send_request_with_option(request, PeerRequestOptions::no_options())
        .await
        .map_err(map_service_error)?;
    let progress = options.progress.clone().map(|cb| {
        conn.events
            .progress
            .register(handle.progress_token.clone(), cb)
    });
    // Dropping the call before its answer (the deadline below, an outer timeout) cancels
    // the request on the wire.
    let mut abandoned = AbandonGuard {
        peer: conn.peer.clone(),
        id: Some(handle.id.clone()),
    };
    let answer = tokio::select! {
        answer = handle.await_response() => answer,
        _ = sleep_past(deadline, conn.events.interactions.watch_asking()) => {
            return Err(CallFailure::Timeout)
        }
    };
    abandoned.id = None;
    if let Some(registration) = progress {
        // rmcp handles each notification in a task of its own, so progress sent just before
        // the answer may be handled just after it: keep forwarding it a moment longer.
        tokio::spawn(async move {
            tokio::time::sleep(PROGRESS_LINGER).await;
            drop(registration);
        });
    }
    let result = match answer.map_err(map_service_error)? {
        ServerResult::CallToolResult(result) => result,
        ServerResult::InputRequiredResult(required) => {
            let required = InputRequired::from_result(required).map_err(CallFailure::Invalid)?;
            if required.requests.is_empty() && required.request_state.is_none() {
                return Err(CallFailure::Invalid(
                    "an input_required result without input requests or request state".into(),
                ));
            }
            return Ok(ToolCallOutput::pending(Some(required), None));
        }
        // The server runs the call as a task: its handle now, the result by polling.
        ServerResult::CreateTaskResult(created) => {
            return Ok(ToolCallOutput::pending(
                None,
                Some(super::tasks::handle_of(&created.task)),
            ));
        }
        // rmcp's untagged decoding lands a malformed result here: say what is wrong with it.
        ServerResult::CustomResult(custom) => serde_json::from_value::<CallToolResult>(custom.0)
            .map_err(|e| CallFailure::Invalid(format!("not a tools/call result: {e}")))?,
        ServerResult::EmptyResult(_) => CallToolResult::default(),
        _ => {
            return Err(CallFailure::Invalid(
                "the answer is not a tools/call result".into(),
            ))
        }
    };
    to_output(result)
}

/// Resolves when `deadline` has passed, pushed back by the time a person spent answering
/// the connection's questions meanwhile; never without a deadline.
async fn sleep_past(deadline: Option<Instant>, mut asking: watch::Receiver<u32>) {
    let Some(deadline) = deadline else {
        return std::future::pending().await;
    };
    let mut paused = Duration::ZERO;
    loop {
        if *asking.borrow_and_update() > 0 {
            let since = Instant::now();
            while *asking.borrow_and_update() > 0 {
                if asking.changed().await.is_err() {
                    return std::future::pending().await;
                }
            }
            paused += since.elapsed();
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline + paused) => return,
            changed = asking.changed() => {
                if changed.is_err() {
                    // The connection is gone; the call's own answer ends the wait.
                    tokio::time::sleep_until(deadline + paused).await;
                    return;
                }
            }
        }
    }
}

pub(crate) fn to_output(result: CallToolResult) -> Result<ToolCallOutput, CallFailure> {
    let content = result
        .content
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<Value>, _>>()
        .map_err(|e| CallFailure::Invalid(format!("a content block does not serialize: {e}")))?;
    Ok(ToolCallOutput {
        content,
        structured_content: result.structured_content,
        is_error: result.is_error.unwrap_or(false),
        input_required: None,
        output_check: None,
        task: None,
    })
}

pub(crate) fn map_service_error(e: ServiceError) -> CallFailure {
    if e.is_authorization_required() || e.auth_challenge().is_some() {
        return CallFailure::SignIn {
            challenge: e.auth_challenge().map(str::to_string),
        };
    }
    match e {
        ServiceError::McpError(data) => CallFailure::Rpc {
            code: i64::from(data.code.0),
            message: data.message.to_string(),
        },
        ServiceError::Timeout { .. } => CallFailure::Timeout,
        ServiceError::TransportClosed | ServiceError::Cancelled { .. } => {
            CallFailure::Closed("the connection closed".into())
        }
        ServiceError::TransportSend(e) => CallFailure::Closed(format!("cannot send: {e}")),
        ServiceError::UnexpectedResponse => {
            CallFailure::Invalid("the answer is not a tools/call result".into())
        }
        other => CallFailure::Invalid(other.to_string()),
    }
}

/// Cancels the request on the wire when the caller drops the call before its answer
/// (a `select!`, an outer timeout): the server should not keep working for nobody.
struct AbandonGuard {
    peer: Peer<RoleClient>,
    id: Option<RequestId>,
}

impl Drop for AbandonGuard {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let peer = self.peer.clone();
        runtime.spawn(async move {
            let params = CancelledNotificationParam::new(
                Some(id),
                Some("the caller stopped waiting".into()),
            );
            let _ =
                tokio::time::timeout(Duration::from_secs(5), peer.notify_cancelled(params)).await;
        });
    }
}

/// Cancels a task followed in place when its caller drops the call before its end.
struct TaskGuard {
    peer: Peer<RoleClient>,
    task_id: Option<String>,
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let Some(task_id) = self.task_id.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let peer = self.peer.clone();
        runtime.spawn(async move {
            let params = rmcp::model::CancelTaskParams::new(task_id);
            let _ = tokio::time::timeout(Duration::from_secs(5), peer.cancel_task(params)).await;
        });
    }
}
