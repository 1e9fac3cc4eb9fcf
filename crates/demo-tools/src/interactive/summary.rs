//! `summarize_order`: asks the client's model for a one-sentence summary (sampling).
// rmcp marks sampling deprecated (SEP-2577), but it is still part of every revision we serve
// and exactly what this tool exists to exercise.
#![allow(deprecated)]

use rmcp::model::{
    CallToolResponse, ContextInclusion, CreateMessageRequest, CreateMessageRequestParams,
    CreateMessageResult, InputRequest, SamplingContent, SamplingMessage,
    SamplingMessageContentBlock, ServerRequest,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use rmcp::ErrorData;

use super::{parse_answer, tool_error, tool_text};
use crate::orders::OrderDetails;

pub const SYSTEM_PROMPT: &str = "You write one-sentence order summaries.";
pub const MAX_TOKENS: u32 = 200;
/// The `inputRequests` key of the question.
pub const KEY: &str = "summary";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SummarizeOrderArgs {
    /// The order id, for example "A-1001".
    pub order_id: String,
}

fn question(order: &OrderDetails) -> CreateMessageRequestParams {
    // Serializing a plain struct cannot fail; the debug form would still name the order.
    let order_json = serde_json::to_string(order).unwrap_or_else(|_| format!("{order:?}"));
    CreateMessageRequestParams::new(
        vec![SamplingMessage::user_text(format!(
            "Summarize this order for the customer: {order_json}"
        ))],
        MAX_TOKENS,
    )
    .with_system_prompt(SYSTEM_PROMPT)
    .with_include_context(ContextInclusion::None)
}

pub fn input_request(order: &OrderDetails) -> InputRequest {
    InputRequest::CreateMessage(CreateMessageRequest::new(question(order)))
}

pub fn server_request(order: &OrderDetails) -> ServerRequest {
    ServerRequest::CreateMessageRequest(CreateMessageRequest::new(question(order)))
}

/// The tool's answer to the model's answer.
pub fn answer(reply: &CreateMessageResult) -> CallToolResponse {
    let blocks: Vec<&SamplingMessageContentBlock> = match &reply.message.content {
        SamplingContent::Single(block) => vec![block],
        SamplingContent::Multiple(blocks) => blocks.iter().collect(),
    };
    let text = blocks.into_iter().find_map(|block| match block {
        SamplingMessageContentBlock::Text(text) => Some(text.text.clone()),
        _ => None,
    });
    match text {
        Some(text) => tool_text(format!("Summary ({}): {text}", reply.model)).into(),
        None => tool_error(format!(
            "the model {} answered no text to summarize the order",
            reply.model
        )),
    }
}

/// What came back under `summary` in a 2026-07-28 retry.
pub enum Reply {
    Model(Box<CreateMessageResult>),
    /// The client's sampling failed and it said so with a JSON-RPC error object (`{"error":
    /// {...}}` or the bare `{code, message}`): its message.
    Failed(String),
}

/// Reads the `summary` answer; anything else is the client's protocol error.
pub fn read_reply(answer: Value) -> Result<Reply, ErrorData> {
    let error = answer.get("error").or_else(|| {
        (answer.get("code").is_some() && answer.get("message").is_some()).then_some(&answer)
    });
    if let Some(error) = error {
        let message = error.get("message").and_then(Value::as_str);
        return Ok(Reply::Failed(message.unwrap_or("no message").to_owned()));
    }
    parse_answer(KEY, answer).map(|reply| Reply::Model(Box::new(reply)))
}

pub fn sampling_failed(why: &str) -> CallToolResponse {
    tool_error(format!("the client's sampling failed: {why}"))
}
