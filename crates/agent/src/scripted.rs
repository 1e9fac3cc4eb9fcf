//! A provider that replays model turns from a file: the offline demo and deterministic tests.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::model::{ModelRequest, ModelResponse, StopReason, ToolCall, Usage};
use crate::provider::ProviderError;

/// One scripted model turn, as written in the file. Missing parts default: no text, no tool
/// calls, a stop reason that follows from the tool calls, zero usage.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptedTurn {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub tool_calls: Vec<ToolCall>,
    #[serde(default)]
    pub stop_reason: Option<StopReason>,
    #[serde(default)]
    pub usage: Usage,
}

impl From<ScriptedTurn> for ModelResponse {
    fn from(turn: ScriptedTurn) -> Self {
        let stop_reason = turn.stop_reason.unwrap_or(if turn.tool_calls.is_empty() {
            StopReason::EndTurn
        } else {
            StopReason::ToolUse
        });
        ModelResponse {
            text: turn.text,
            tool_calls: turn.tool_calls,
            stop_reason,
            usage: turn.usage,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScriptedProvider {
    turns: Vec<ModelResponse>,
}

impl ScriptedProvider {
    pub fn new(turns: Vec<ScriptedTurn>) -> Self {
        ScriptedProvider {
            turns: turns.into_iter().map(ModelResponse::from).collect(),
        }
    }

    /// A list of turns, or an object with a `turns` list (room for metadata later).
    pub fn from_value(mut value: Value) -> Result<Self, ProviderError> {
        let turns = match value.get_mut("turns") {
            Some(turns) => turns.take(),
            None => value,
        };
        if !turns.is_array() {
            return Err(ProviderError::InvalidScript {
                message: "expected a list of turns, or {\"turns\": [...]}".into(),
            });
        }
        let turns: Vec<ScriptedTurn> =
            serde_json::from_value(turns).map_err(|e| ProviderError::InvalidScript {
                message: format!("a turn is not valid: {e}"),
            })?;
        Ok(ScriptedProvider::new(turns))
    }

    pub fn from_json(text: &str) -> Result<Self, ProviderError> {
        let value = serde_json::from_str(text).map_err(|e| ProviderError::InvalidScript {
            message: format!("not JSON: {e}"),
        })?;
        Self::from_value(value)
    }

    pub fn from_file(path: &Path) -> Result<Self, ProviderError> {
        let text = std::fs::read_to_string(path).map_err(|e| ProviderError::InvalidScript {
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        Self::from_json(&text).map_err(|e| match e {
            ProviderError::InvalidScript { message } => ProviderError::InvalidScript {
                message: format!("{}: {message}", path.display()),
            },
            other => other,
        })
    }

    pub fn turns(&self) -> &[ModelResponse] {
        &self.turns
    }

    /// The turn for this call. Its index is the number of assistant messages already in the
    /// conversation, not a counter: a replayed or retried call gets the same turn.
    pub fn complete(
        &self,
        request: &ModelRequest,
        on_partial: &mut (dyn FnMut(&str) + Send),
    ) -> Result<ModelResponse, ProviderError> {
        let call = request.messages.iter().filter(|m| m.is_assistant()).count();
        let turn = self
            .turns
            .get(call)
            .cloned()
            .ok_or(ProviderError::ScriptExhausted {
                turns: self.turns.len(),
                call,
            })?;
        // Word by word, so the demo shows the answer growing as a real model's would.
        for piece in turn.text.split_inclusive(' ') {
            on_partial(piece);
        }
        Ok(turn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ChatMessage;
    use serde_json::json;

    fn script() -> ScriptedProvider {
        ScriptedProvider::from_value(json!([
            {"tool_calls": [{"id": "c1", "name": "add", "arguments": {"a": 1, "b": 2}}],
             "usage": {"input_tokens": 10, "output_tokens": 5}},
            {"text": "The sum is 3."}
        ]))
        .unwrap()
    }

    #[test]
    fn turns_follow_the_conversation_not_a_counter() {
        let p = script();
        let mut messages = vec![ChatMessage::user("add 1 and 2")];
        let first = p
            .complete(&ModelRequest::new("m", messages.clone()), &mut |_| {})
            .unwrap();
        assert_eq!(first.stop_reason, StopReason::ToolUse);
        assert_eq!(first.tool_calls[0].arguments, json!({"a": 1, "b": 2}));
        // Asking again with the same conversation replays the same turn.
        let again = p
            .complete(&ModelRequest::new("m", messages.clone()), &mut |_| {})
            .unwrap();
        assert_eq!(again, first);

        messages.push(ChatMessage::assistant("", first.tool_calls.clone()));
        messages.push(ChatMessage::tool_result("c1", "3", false));
        let mut pieces = Vec::new();
        let second = p
            .complete(&ModelRequest::new("m", messages.clone()), &mut |s| {
                pieces.push(s.to_string())
            })
            .unwrap();
        assert_eq!(second.text, "The sum is 3.");
        assert_eq!(second.stop_reason, StopReason::EndTurn);
        assert_eq!(pieces.concat(), "The sum is 3.");
        assert_eq!(pieces.len(), 4);

        messages.push(ChatMessage::assistant(second.text, vec![]));
        let err = p
            .complete(&ModelRequest::new("m", messages), &mut |_| {})
            .unwrap_err();
        assert_eq!(err, ProviderError::ScriptExhausted { turns: 2, call: 2 });
        let step = err.to_step_error();
        assert_eq!(step.kind, "script_exhausted");
        assert!(!step.retryable);
        assert!(step.message.contains("ran out"), "{}", step.message);
    }

    #[test]
    fn recorded_responses_load_as_a_script() {
        // A real run's model responses, as the journal keeps them, replay as a script.
        let recorded = vec![
            ModelResponse {
                text: "Looking.".into(),
                tool_calls: vec![ToolCall::new("c1", "search", json!({"q": "x"}))],
                stop_reason: StopReason::ToolUse,
                usage: Usage {
                    input_tokens: 9,
                    output_tokens: 4,
                },
            },
            ModelResponse {
                text: "Found.".into(),
                stop_reason: StopReason::Other("pause_turn".into()),
                ..ModelResponse::default()
            },
        ];
        let script =
            ScriptedProvider::from_value(serde_json::to_value(&recorded).unwrap()).unwrap();
        assert_eq!(script.turns(), recorded.as_slice());
    }

    #[test]
    fn files_in_either_shape_and_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("script.json");
        std::fs::write(&path, r#"{"turns": [{"text": "hi"}]}"#).unwrap();
        assert_eq!(ScriptedProvider::from_file(&path).unwrap().turns().len(), 1);
        std::fs::write(&path, r#"[{"txt": "typo"}]"#).unwrap();
        let err = ScriptedProvider::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("script.json") && err.contains("txt"), "{err}");
        std::fs::write(&path, r#"{"text": "no list"}"#).unwrap();
        let err = ScriptedProvider::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("expected a list of turns"), "{err}");
        let missing = ScriptedProvider::from_file(&dir.path().join("nope.json")).unwrap_err();
        assert_eq!(missing.to_step_error().kind, "invalid_script");
    }
}
