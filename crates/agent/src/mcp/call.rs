//! One `tools/call` on a live connection: progress forwarded, the timeout enforced by
//! cancelling on the wire, the answer mapped and checked.

use std::time::Duration;

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotificationParam,
    ClientRequest, RequestId, ServerResult,
};
use rmcp::service::{PeerRequestOptions, ServiceError};
use rmcp::{Peer, RoleClient};
use serde_json::Value;
use tokio::time::Instant;

use super::connection::Connection;
use super::tools::ToolCache;
use super::{CallOptions, ToolCallOutput};

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
}

pub(crate) async fn call(
    conn: &Connection,
    tools: &ToolCache,
    tool: &str,
    arguments: Option<serde_json::Map<String, Value>>,
    options: &CallOptions,
    deadline: Option<Instant>,
) -> Result<ToolCallOutput, CallFailure> {
    let mut params = CallToolRequestParams::new(tool.to_string());
    if let Some(arguments) = arguments {
        params = params.with_arguments(arguments);
    }
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
    // rmcp's own timeout sends `notifications/cancelled` (and awaits sending it) when it fires.
    let request_options = match deadline {
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(CallFailure::Timeout);
            }
            PeerRequestOptions::with_timeout(left)
        }
        None => PeerRequestOptions::no_options(),
    };
    let handle = conn
        .peer
        .send_request_with_option(request, request_options)
        .await
        .map_err(map_service_error)?;
    let progress = options.progress.clone().map(|cb| {
        conn.events
            .progress
            .register(handle.progress_token.clone(), cb)
    });
    let mut abandoned = AbandonGuard {
        peer: conn.peer.clone(),
        id: Some(handle.id.clone()),
    };
    let answer = handle.await_response().await;
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
    let output = to_output(result)?;
    tools
        .check_output(tool, &output)
        .map_err(CallFailure::Invalid)?;
    Ok(output)
}

fn to_output(result: CallToolResult) -> Result<ToolCallOutput, CallFailure> {
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
    })
}

fn map_service_error(e: ServiceError) -> CallFailure {
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
