//! Tools that need the client mid-call: `confirm_refund` (a form elicitation),
//! `link_account` (a URL elicitation) and `summarize_order` (sampling).
//!
//! A question reaches the client one of two ways, by the revision of the call:
//! - 2026-07-28 forbids server-to-client requests. The first call answers `input_required`
//!   with the question under a fixed key (`confirm`, `link`, `summary`) and a `requestState`
//!   ([`state`]); the client retries with `inputResponses` under that key and the echoed
//!   state. The server keeps nothing in between.
//! - Older revisions: the server sends the request (`elicitation/create`,
//!   `sampling/createMessage`) during the call and waits, honouring the call's cancellation.
//!
//! Either way a client that did not declare the capability a question needs gets a tool
//! error instead of a question it cannot answer.

mod link;
mod refund;
pub(crate) mod state;
mod summary;
mod tools;

use rmcp::model::{
    CallToolResponse, CallToolResult, CancelledNotificationParam, ClientCapabilities, ClientResult,
    ContentBlock, InputRequest, InputRequests, InputRequiredResult, InputResponses,
    ProtocolVersion, ServerRequest,
};
use rmcp::service::{PeerRequestOptions, RequestContext, ServiceError};
use rmcp::{ErrorData, RoleServer};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

pub use refund::{ConfirmRefundArgs, MAX_REFUND_CENTS};

/// The origin of `link_account`'s links when the server has no HTTP address (stdio).
pub const NO_HTTP_ORIGIN: &str = "https://example.invalid";

/// Whether the call runs under 2026-07-28 or later (per-request `_meta`, or what
/// `initialize` agreed for a session).
pub(crate) fn is_stateless(context: &RequestContext<RoleServer>) -> bool {
    context
        .protocol_version()
        .is_some_and(|v| v.as_str() >= ProtocolVersion::V_2026_07_28.as_str())
}

/// What the client declared: on this request (2026-07-28) or at `initialize`.
pub(crate) fn capabilities(context: &RequestContext<RoleServer>) -> ClientCapabilities {
    context.client_capabilities().unwrap_or_default()
}

/// Form elicitation: an `elicitation` capability naming neither mode means form (2025-06-18).
pub(crate) fn takes_forms(caps: &ClientCapabilities) -> bool {
    caps.elicitation
        .as_ref()
        .is_some_and(|e| e.form.is_some() || e.url.is_none())
}

pub(crate) fn takes_links(caps: &ClientCapabilities) -> bool {
    caps.elicitation.as_ref().is_some_and(|e| e.url.is_some())
}

pub(crate) fn takes_sampling(caps: &ClientCapabilities) -> bool {
    caps.sampling.is_some()
}

/// A tool error: the model reads it and the call is over.
pub(crate) fn tool_error(text: impl Into<String>) -> CallToolResponse {
    CallToolResult::error(vec![ContentBlock::text(text.into())]).into()
}

pub(crate) fn tool_text(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text.into())])
}

/// Where a 2026-07-28 call stands in its round trips.
pub(crate) enum Round {
    /// No state yet: ask, under a new nonce.
    First,
    /// A valid state came back without the answer: ask again, same nonce.
    Unanswered { nonce: String },
    /// The answer came back with a state that matches the call.
    Answered { answer: Value },
}

/// Reads the retry fields of a call; a bad or missing state fails the call with
/// invalid_params naming `requestState`.
pub(crate) fn round<A>(
    tool: &str,
    args: &A,
    key: &str,
    request_state: Option<String>,
    responses: Option<InputResponses>,
) -> Result<Round, ErrorData>
where
    A: DeserializeOwned + PartialEq,
{
    let answer = responses.and_then(|mut r| r.remove(key));
    let Some(request_state) = request_state else {
        return match answer {
            Some(_) => Err(ErrorData::invalid_params(
                format!("requestState is missing: a retry carrying inputResponses.{key} must echo the requestState of the input_required result"),
                None,
            )),
            None => Ok(Round::First),
        };
    };
    let nonce = state::open(&request_state, tool, args)?;
    Ok(match answer {
        Some(answer) => Round::Answered { answer },
        None => Round::Unanswered { nonce },
    })
}

/// The `input_required` answer asking `request` under `key`.
pub(crate) fn input_required<A: Serialize>(
    tool: &str,
    args: &A,
    nonce: &str,
    key: &str,
    request: InputRequest,
) -> CallToolResponse {
    let requests = InputRequests::from([(key.to_owned(), request)]);
    InputRequiredResult::new(Some(requests), Some(state::seal(tool, args, nonce))).into()
}

/// Parses the answer under `key` of a retry; a malformed one is the client's protocol error.
pub(crate) fn parse_answer<T: DeserializeOwned>(key: &str, answer: Value) -> Result<T, ErrorData> {
    serde_json::from_value(answer).map_err(|e| {
        ErrorData::invalid_params(
            format!("inputResponses.{key} is not the expected result: {e}"),
            None,
        )
    })
}

/// Why a request to the client during the call got no answer.
pub(crate) enum AskFailure {
    /// The client cancelled the tool call meanwhile.
    Cancelled,
    /// The client answered an error, or the connection failed.
    Failed(ServiceError),
}

impl AskFailure {
    /// The text of a failure for a tool error; a JSON-RPC error from the client is named by
    /// its message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Cancelled => "the call was cancelled".to_owned(),
            Self::Failed(ServiceError::McpError(error)) => {
                format!("{} (code {})", error.message, error.code.0)
            }
            Self::Failed(other) => other.to_string(),
        }
    }
}

/// Sends `request` to the client (older revisions) and waits for its answer until the tool
/// call is cancelled; then the question is withdrawn with `notifications/cancelled`.
pub(crate) async fn ask_peer(
    context: &RequestContext<RoleServer>,
    request: ServerRequest,
) -> Result<ClientResult, AskFailure> {
    let handle = context
        .peer
        .send_request_with_option(request, PeerRequestOptions::no_options())
        .await
        .map_err(AskFailure::Failed)?;
    let id = handle.id.clone();
    tokio::select! {
        answer = handle.await_response() => answer.map_err(AskFailure::Failed),
        _ = context.ct.cancelled() => {
            let withdrawn = CancelledNotificationParam::new(
                Some(id),
                Some("the tool call was cancelled".to_owned()),
            );
            // The client may be gone already; the call ends either way.
            let _ = context.peer.notify_cancelled(withdrawn).await;
            Err(AskFailure::Cancelled)
        }
    }
}

/// The JSON-RPC error a cancelled call ends with (the client no longer reads it).
pub(crate) fn cancelled_call() -> ErrorData {
    ErrorData::internal_error("request cancelled", None)
}
