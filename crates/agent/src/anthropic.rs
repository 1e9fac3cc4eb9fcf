//! Anthropic Messages at `{base_url}/messages`, streamed.

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{json, Value};

use crate::http::{excerpt, secret_header, HttpTransport, WireFormat};
use crate::model::{ChatMessage, ModelRequest, ModelResponse, StopReason, ToolCall, Usage};
use crate::provider::{mentions_context_overflow, HttpConfig, ProviderError};
use crate::sse::SseEvent;

pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com/v1";
const PATH: &str = "messages";
const API_VERSION: &str = "2023-06-01";
/// The API requires `max_tokens`; this is what a request without a limit gets.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

#[derive(Debug)]
pub struct AnthropicProvider {
    http: HttpTransport,
}

impl AnthropicProvider {
    pub fn new(config: HttpConfig) -> Result<Self, ProviderError> {
        Ok(AnthropicProvider {
            http: HttpTransport::new(config)?,
        })
    }

    pub async fn complete(
        &self,
        request: &ModelRequest,
        on_partial: &mut (dyn FnMut(&str) + Send),
    ) -> Result<ModelResponse, ProviderError> {
        let mut headers = HeaderMap::new();
        headers.insert("anthropic-version", HeaderValue::from_static(API_VERSION));
        if let Some(key) = &self.http.config.api_key {
            let value = secret_header(key.expose())?;
            headers.insert("x-api-key", value);
        }
        let body = request_body(request);
        self.http
            .exchange::<StreamState>(PATH, headers, &body, on_partial)
            .await
    }
}

/// The request in Anthropic's wire format: system prompts lifted to the top level, tool results
/// as `tool_result` blocks of a user turn, same-role neighbours merged because the API wants
/// user and assistant to alternate.
pub fn request_body(request: &ModelRequest) -> Value {
    let mut system = Vec::new();
    let mut messages: Vec<(&str, Vec<Value>)> = Vec::new();
    for message in &request.messages {
        let (role, blocks) = match message {
            ChatMessage::System { content } => {
                system.push(content.as_str());
                continue;
            }
            ChatMessage::User { content } => ("user", vec![text_block(content)]),
            ChatMessage::Assistant {
                content,
                tool_calls,
            } => {
                // Empty text blocks are rejected by the API.
                let text = (!content.is_empty()).then(|| text_block(content));
                let calls = tool_calls.iter().map(|c| {
                    // `input` must be an object; arguments that were not JSON went back to
                    // the model as a tool error already, so an empty object loses nothing.
                    let input = match &c.arguments {
                        Value::Object(_) if c.arguments_error.is_none() => c.arguments.clone(),
                        _ => json!({}),
                    };
                    json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input})
                });
                ("assistant", text.into_iter().chain(calls).collect())
            }
            ChatMessage::Tool(r) => (
                "user",
                vec![json!({
                    "type": "tool_result", "tool_use_id": r.tool_call_id,
                    "content": r.content, "is_error": r.is_error,
                })],
            ),
        };
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => messages.push((role, blocks)),
        }
    }
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    let mut body = json!({
        "model": request.model,
        "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages,
        "stream": true,
    });
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.input_schema}))
            .collect();
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    body
}

fn text_block(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

fn stop_reason(reason: &str) -> StopReason {
    match reason {
        "end_turn" => StopReason::EndTurn,
        "tool_use" => StopReason::ToolUse,
        "max_tokens" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "refusal" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_string()),
    }
}

/// Adds what `v` (a `usage` object) says to `usage`. Cache reads and writes are input too; the
/// price table has one input price, so cost overestimates cached prompts a little.
fn add_usage(usage: &mut Usage, v: &Value) {
    let n = |name: &str| v.get(name).and_then(Value::as_u64);
    let input: Option<u64> = [
        "input_tokens",
        "cache_creation_input_tokens",
        "cache_read_input_tokens",
    ]
    .iter()
    .filter_map(|name| n(name))
    .reduce(|a, b| a + b);
    if let Some(input) = input {
        usage.input_tokens = input;
    }
    // `message_delta` carries the cumulative output count, so it replaces, never adds.
    if let Some(output) = n("output_tokens") {
        usage.output_tokens = output;
    }
}

/// An `error` event inside a stream, classified like the same error as a response status.
fn stream_error(doc: &Value) -> ProviderError {
    let s = |p: &str| doc.pointer(p).and_then(Value::as_str).map(str::to_string);
    let error_type = s("/error/type");
    let message = s("/error/message").unwrap_or_else(|| excerpt(doc.to_string().as_bytes()));
    let status = match error_type.as_deref() {
        Some("invalid_request_error") => 400,
        Some("authentication_error") => 401,
        Some("permission_error") => 403,
        Some("not_found_error") => 404,
        Some("request_too_large") => 413,
        Some("rate_limit_error") => 429,
        Some("overloaded_error") => 529,
        _ => 500,
    };
    if status == 400 && mentions_context_overflow(&message) {
        return ProviderError::ContextLength { message };
    }
    ProviderError::Http {
        status,
        error_type,
        message: format!("{message} (in the stream)"),
        retry_after_ms: None,
    }
}

fn parse_whole(doc: &Value) -> Result<ModelResponse, ProviderError> {
    if doc.get("type").and_then(Value::as_str) == Some("error") {
        return Err(stream_error(doc));
    }
    let content = doc
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| ProviderError::invalid("the message has no content blocks"))?;
    let mut response = ModelResponse::default();
    for block in content {
        let s = |name: &str| block.get(name).and_then(Value::as_str).unwrap_or_default();
        match s("type") {
            "text" => response.text.push_str(s("text")),
            "tool_use" => response.tool_calls.push(ToolCall::new(
                s("id"),
                s("name"),
                block.get("input").cloned().unwrap_or_else(|| json!({})),
            )),
            _ => {} // thinking and server-tool blocks are not part of the answer
        }
    }
    if let Some(reason) = doc.get("stop_reason").and_then(Value::as_str) {
        response.stop_reason = stop_reason(reason);
    }
    if let Some(u) = doc.get("usage") {
        add_usage(&mut response.usage, u);
    }
    Ok(response)
}

enum Block {
    Text(String),
    ToolUse {
        id: String,
        name: String,
        /// The `input` of `content_block_start`, used when no `input_json_delta` follows.
        start_input: Value,
        json: String,
    },
}

#[derive(Default)]
struct StreamState {
    blocks: BTreeMap<u64, Block>,
    stop_reason: Option<String>,
    usage: Usage,
}

impl WireFormat for StreamState {
    fn parse_whole(doc: &Value) -> Result<ModelResponse, ProviderError> {
        parse_whole(doc)
    }

    /// Takes one event; true at `message_stop`.
    fn event(
        &mut self,
        event: &SseEvent,
        on_partial: &mut (dyn FnMut(&str) + Send),
    ) -> Result<bool, ProviderError> {
        let doc: Value = serde_json::from_str(&event.data).map_err(|e| {
            ProviderError::invalid(format!(
                "a stream event is not JSON ({e}): {}",
                excerpt(event.data.as_bytes())
            ))
        })?;
        let s = |p: &str| doc.pointer(p).and_then(Value::as_str).unwrap_or_default();
        let index = doc.get("index").and_then(Value::as_u64).unwrap_or(0);
        match s("/type") {
            "message_start" => {
                if let Some(u) = doc.pointer("/message/usage") {
                    add_usage(&mut self.usage, u);
                }
            }
            "content_block_start" => match s("/content_block/type") {
                "text" => {
                    let text = s("/content_block/text").to_string();
                    if !text.is_empty() {
                        on_partial(&text);
                    }
                    self.blocks.insert(index, Block::Text(text));
                }
                "tool_use" => {
                    let block = Block::ToolUse {
                        id: s("/content_block/id").to_string(),
                        name: s("/content_block/name").to_string(),
                        start_input: doc
                            .pointer("/content_block/input")
                            .cloned()
                            .unwrap_or_else(|| json!({})),
                        json: String::new(),
                    };
                    self.blocks.insert(index, block);
                }
                _ => {} // thinking blocks: not part of the answer
            },
            "content_block_delta" => match (s("/delta/type"), self.blocks.get_mut(&index)) {
                ("text_delta", Some(Block::Text(text))) => {
                    let piece = s("/delta/text");
                    text.push_str(piece);
                    on_partial(piece);
                }
                ("input_json_delta", Some(Block::ToolUse { json, .. })) => {
                    json.push_str(s("/delta/partial_json"));
                }
                _ => {}
            },
            "message_delta" => {
                if let Some(reason) = doc.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(reason.to_string());
                }
                if let Some(u) = doc.get("usage") {
                    add_usage(&mut self.usage, u);
                }
            }
            "message_stop" => return Ok(true),
            "error" => return Err(stream_error(&doc)),
            _ => {} // ping, content_block_stop, and event types added later
        }
        Ok(false)
    }

    fn finish(self) -> ModelResponse {
        let mut response = ModelResponse {
            usage: self.usage,
            ..ModelResponse::default()
        };
        for block in self.blocks.into_values() {
            match block {
                Block::Text(text) => response.text.push_str(&text),
                Block::ToolUse {
                    id,
                    name,
                    start_input,
                    json,
                } => response.tool_calls.push(if json.trim().is_empty() {
                    ToolCall::new(id, name, start_input)
                } else {
                    ToolCall::from_raw_arguments(id, name, &json)
                }),
            }
        }
        response.stop_reason = match self.stop_reason.as_deref() {
            Some(reason) => stop_reason(reason),
            None if response.tool_calls.is_empty() => StopReason::EndTurn,
            None => StopReason::ToolUse,
        };
        response
    }
}
