//! Provider-neutral conversation types: what the agent loop journals and what each provider
//! translates to and from its wire format.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One message of a conversation. Tagged by role so a tool result cannot lack its call id and
/// only assistant messages carry tool calls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum ChatMessage {
    System {
        content: String,
    },
    User {
        content: String,
    },
    Assistant {
        #[serde(default)]
        content: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCall>,
    },
    Tool(ToolResult),
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        ChatMessage::System {
            content: content.into(),
        }
    }

    pub fn user(content: impl Into<String>) -> Self {
        ChatMessage::User {
            content: content.into(),
        }
    }

    pub fn assistant(content: impl Into<String>, tool_calls: Vec<ToolCall>) -> Self {
        ChatMessage::Assistant {
            content: content.into(),
            tool_calls,
        }
    }

    pub fn tool_result(
        tool_call_id: impl Into<String>,
        content: impl Into<String>,
        is_error: bool,
    ) -> Self {
        ChatMessage::Tool(ToolResult {
            tool_call_id: tool_call_id.into(),
            content: content.into(),
            is_error,
        })
    }

    pub fn is_assistant(&self) -> bool {
        matches!(self, ChatMessage::Assistant { .. })
    }
}

/// A tool call the model asked for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The parsed arguments. When the model's arguments were not valid JSON this is the raw
    /// text as a JSON string and `arguments_error` says why, so the loop can hand the model a
    /// tool error to repair instead of failing the step.
    pub arguments: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments_error: Option<String>,
}

impl ToolCall {
    pub fn new(id: impl Into<String>, name: impl Into<String>, arguments: Value) -> Self {
        ToolCall {
            id: id.into(),
            name: name.into(),
            arguments,
            arguments_error: None,
        }
    }

    /// A call from the raw arguments text a model streamed. Empty text means "no arguments":
    /// models send that for tools without parameters.
    pub fn from_raw_arguments(id: String, name: String, raw: &str) -> Self {
        if raw.trim().is_empty() {
            return ToolCall::new(id, name, Value::Object(Default::default()));
        }
        match serde_json::from_str(raw) {
            Ok(arguments) => ToolCall::new(id, name, arguments),
            Err(e) => ToolCall {
                id,
                name,
                arguments: Value::String(raw.to_string()),
                arguments_error: Some(format!("arguments are not valid JSON: {e}")),
            },
        }
    }

    /// The arguments as the text a provider expects back when the call is replayed.
    pub fn arguments_text(&self) -> String {
        match (&self.arguments_error, &self.arguments) {
            (Some(_), Value::String(raw)) => raw.clone(),
            _ => self.arguments.to_string(),
        }
    }
}

/// The outcome of running a tool, sent back to the model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    pub tool_call_id: String,
    pub content: String,
    #[serde(default)]
    pub is_error: bool,
}

/// A tool as the model sees it: `input_schema` is the tool's JSON Schema for its arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub input_schema: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolDefinition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
}

impl ModelRequest {
    pub fn new(model: impl Into<String>, messages: Vec<ChatMessage>) -> Self {
        ModelRequest {
            model: model.into(),
            messages,
            tools: Vec::new(),
            max_tokens: None,
            temperature: None,
        }
    }
}

/// Why the model stopped, in one vocabulary for all providers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    #[default]
    EndTurn,
    ToolUse,
    MaxTokens,
    StopSequence,
    ContentFilter,
    /// A reason this crate does not know, kept verbatim.
    Other(String),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// A completed model turn: the journal keeps this, never the partial stream.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelResponse {
    #[serde(default)]
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default)]
    pub stop_reason: StopReason,
    #[serde(default)]
    pub usage: Usage,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_serialize_tagged_by_role() {
        let m = ChatMessage::tool_result("call_1", "42", false);
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v,
            json!({"role": "tool", "tool_call_id": "call_1", "content": "42", "is_error": false})
        );
        let back: ChatMessage = serde_json::from_value(v).unwrap();
        assert_eq!(back, m);
        let a: ChatMessage = serde_json::from_value(json!({"role": "assistant"})).unwrap();
        assert_eq!(a, ChatMessage::assistant("", vec![]));
    }

    #[test]
    fn raw_arguments_keep_invalid_json_as_text() {
        let ok = ToolCall::from_raw_arguments("1".into(), "f".into(), r#"{"a":1}"#);
        assert_eq!(ok.arguments, json!({"a": 1}));
        assert_eq!(ok.arguments_error, None);
        let empty = ToolCall::from_raw_arguments("1".into(), "f".into(), "");
        assert_eq!(empty.arguments, json!({}));
        let bad = ToolCall::from_raw_arguments("1".into(), "f".into(), r#"{"a":"#);
        assert_eq!(bad.arguments, json!(r#"{"a":"#));
        assert!(bad.arguments_error.is_some());
        assert_eq!(bad.arguments_text(), r#"{"a":"#);
        assert_eq!(ok.arguments_text(), r#"{"a":1}"#);
    }
}
