//! OpenAI-compatible chat completions: OpenAI itself and what Ollama, vLLM, llama.cpp server,
//! LM Studio and OpenRouter serve at `{base_url}/chat/completions`.

use std::collections::BTreeMap;

use reqwest::header::{HeaderMap, AUTHORIZATION};
use serde_json::{json, Value};

use crate::http::{error_from_body, secret_header, HttpTransport, WireFormat};
use crate::model::{ChatMessage, ModelRequest, ModelResponse, StopReason, ToolCall, Usage};
use crate::provider::{HttpConfig, ProviderError};
use crate::sse::SseEvent;

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
const PATH: &str = "chat/completions";

#[derive(Debug)]
pub struct OpenAiProvider {
    http: HttpTransport,
}

impl OpenAiProvider {
    pub fn new(config: HttpConfig) -> Result<Self, ProviderError> {
        Ok(OpenAiProvider {
            http: HttpTransport::new(config)?,
        })
    }

    pub async fn complete(
        &self,
        request: &ModelRequest,
        on_partial: &mut (dyn FnMut(&str) + Send),
    ) -> Result<ModelResponse, ProviderError> {
        let mut headers = HeaderMap::new();
        if let Some(key) = &self.http.config.api_key {
            let value = secret_header(&format!("Bearer {}", key.expose()))?;
            headers.insert(AUTHORIZATION, value);
        }
        let body = request_body(request);
        self.http
            .exchange::<StreamState>(PATH, headers, &body, on_partial)
            .await
    }
}

/// The request in OpenAI's wire format, always streamed with usage in the last chunk.
pub fn request_body(request: &ModelRequest) -> Value {
    let messages: Vec<Value> = request.messages.iter().map(wire_message).collect();
    let mut body = json!({
        "model": request.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if !request.tools.is_empty() {
        body["tools"] = request
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function", "function": {
                    "name": t.name, "description": t.description, "parameters": t.input_schema,
                }})
            })
            .collect();
    }
    if let Some(max) = request.max_tokens {
        body["max_tokens"] = json!(max);
    }
    if let Some(t) = request.temperature {
        body["temperature"] = json!(t);
    }
    body
}

fn wire_message(message: &ChatMessage) -> Value {
    match message {
        ChatMessage::System { content } => json!({"role": "system", "content": content}),
        ChatMessage::User { content } => json!({"role": "user", "content": content}),
        ChatMessage::Assistant {
            content,
            tool_calls,
        } => {
            let mut m = json!({"role": "assistant", "content": content});
            if !tool_calls.is_empty() {
                // Content may be null beside tool calls; some servers reject an empty string.
                if content.is_empty() {
                    m["content"] = Value::Null;
                }
                m["tool_calls"] = tool_calls
                    .iter()
                    .map(|c| {
                        json!({"id": c.id, "type": "function", "function": {
                            "name": c.name, "arguments": c.arguments_text(),
                        }})
                    })
                    .collect();
            }
            m
        }
        // The format has no error flag for tool results; the prefix tells the model.
        ChatMessage::Tool(r) => json!({
            "role": "tool",
            "tool_call_id": r.tool_call_id,
            "content": if r.is_error { format!("Error: {}", r.content) } else { r.content.clone() },
        }),
    }
}

fn stop_reason(finish_reason: &str) -> StopReason {
    match finish_reason {
        "stop" => StopReason::EndTurn,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "length" => StopReason::MaxTokens,
        "content_filter" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_string()),
    }
}

fn usage(v: &Value) -> Option<Usage> {
    let n = |name: &str| v.get(name).and_then(Value::as_u64).unwrap_or(0);
    v.is_object().then(|| Usage {
        input_tokens: n("prompt_tokens"),
        output_tokens: n("completion_tokens"),
    })
}

/// An `{"error": ...}` document in place of an answer (OpenRouter and vLLM send these inside
/// streams too). Without a status of its own it counts as a server error, which is retried.
fn embedded_error(doc: &Value) -> Option<ProviderError> {
    let error = doc.get("error")?;
    let status = error
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .filter(|c| (400..600).contains(c))
        .unwrap_or(500);
    Some(error_from_body(status, &doc.to_string(), None))
}

/// A non-streamed completion, from servers that ignore `stream: true`.
fn parse_whole(doc: &Value) -> Result<ModelResponse, ProviderError> {
    if let Some(e) = embedded_error(doc) {
        return Err(e);
    }
    let choice = doc
        .pointer("/choices/0")
        .ok_or_else(|| ProviderError::invalid("the completion has no choices"))?;
    let message = choice.get("message").unwrap_or(&Value::Null);
    let text = message
        .get("content")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut tool_calls = Vec::new();
    for call in message
        .get("tool_calls")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let s = |p: &str| call.pointer(p).and_then(Value::as_str).unwrap_or_default();
        tool_calls.push(ToolCall::from_raw_arguments(
            s("/id").to_string(),
            s("/function/name").to_string(),
            &arguments_text(call.pointer("/function/arguments")),
        ));
    }
    let reason = choice.get("finish_reason").and_then(Value::as_str);
    Ok(ModelResponse {
        stop_reason: reason
            .map(stop_reason)
            .unwrap_or_else(|| default_stop(&tool_calls)),
        text,
        tool_calls,
        usage: doc.get("usage").and_then(usage).unwrap_or_default(),
    })
}

/// A call's `function.arguments` as JSON text. The API sends a string; some compatible servers
/// send the object itself, which is the same arguments.
fn arguments_text(arguments: Option<&Value>) -> std::borrow::Cow<'_, str> {
    match arguments {
        Some(Value::String(text)) => text.as_str().into(),
        None | Some(Value::Null) => "".into(),
        Some(other) => other.to_string().into(),
    }
}

fn default_stop(tool_calls: &[ToolCall]) -> StopReason {
    if tool_calls.is_empty() {
        StopReason::EndTurn
    } else {
        StopReason::ToolUse
    }
}

#[derive(Default)]
struct PartialCall {
    id: String,
    name: String,
    arguments: String,
}

/// The answer assembled from stream chunks.
#[derive(Default)]
struct StreamState {
    text: String,
    /// By the `index` the deltas carry: one call's pieces arrive over many chunks.
    calls: BTreeMap<u64, PartialCall>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
}

impl WireFormat for StreamState {
    fn parse_whole(doc: &Value) -> Result<ModelResponse, ProviderError> {
        parse_whole(doc)
    }

    /// Takes one event; true once `[DONE]` says the answer is complete.
    fn event(
        &mut self,
        event: &SseEvent,
        on_partial: &mut (dyn FnMut(&str) + Send),
    ) -> Result<bool, ProviderError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok(true);
        }
        let chunk: Value = serde_json::from_str(data).map_err(|e| {
            ProviderError::invalid(format!(
                "a stream chunk is not JSON ({e}): {}",
                crate::http::excerpt(data.as_bytes())
            ))
        })?;
        if let Some(e) = embedded_error(&chunk) {
            return Err(e);
        }
        if let Some(u) = chunk.get("usage").and_then(usage) {
            self.usage = Some(u);
        }
        let Some(choice) = chunk.pointer("/choices/0") else {
            return Ok(false); // the usage-only last chunk
        };
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(reason.to_string());
        }
        let delta = choice.get("delta").unwrap_or(&Value::Null);
        if let Some(piece) = delta.get("content").and_then(Value::as_str) {
            if !piece.is_empty() {
                self.text.push_str(piece);
                on_partial(piece);
            }
        }
        let deltas = delta.get("tool_calls").and_then(Value::as_array);
        for (position, d) in deltas.into_iter().flatten().enumerate() {
            // Some servers omit `index` when they send each call whole.
            let index = d
                .get("index")
                .and_then(Value::as_u64)
                .unwrap_or(position as u64);
            let call = self.calls.entry(index).or_default();
            let s = |p: &str| {
                d.pointer(p)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
            };
            if let Some(id) = s("/id") {
                call.id = id.to_string();
            }
            if let Some(name) = s("/function/name") {
                call.name = name.to_string();
            }
            if let Some(args) = d.pointer("/function/arguments") {
                call.arguments.push_str(&arguments_text(Some(args)));
            }
        }
        Ok(false)
    }

    fn finish(self) -> ModelResponse {
        let tool_calls: Vec<ToolCall> = self
            .calls
            .into_values()
            .map(|c| ToolCall::from_raw_arguments(c.id, c.name, &c.arguments))
            .collect();
        ModelResponse {
            stop_reason: match self.finish_reason.as_deref() {
                Some(reason) => stop_reason(reason),
                None => default_stop(&tool_calls),
            },
            text: self.text,
            tool_calls,
            usage: self.usage.unwrap_or_default(),
        }
    }
}
