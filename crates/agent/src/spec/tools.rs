//! The tools an agent may call, and per-tool overrides of the engine's defaults.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use waymark_engine::{RetryPolicy, SafetyClass};

/// One source of tools.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ToolRef {
    /// Tools of an MCP server, by the server's name in the MCP hub.
    Mcp {
        server: String,
        /// A list of tool names, or `"*"` for every tool the server lists.
        tools: ToolSelection,
    },
    /// A tool the agent crate provides itself.
    Builtin { name: BuiltinTool },
    /// Another agent, which the model sees as a tool named after it; a call starts a child run.
    Agent {
        name: String,
        /// What the parent model is told the sub-agent does; the sub-agent's own description
        /// when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        description: Option<String>,
    },
}

/// Which tools of an MCP server: all of them (`"*"`) or those named.
#[derive(Clone, Debug, PartialEq, Eq, ts_rs::TS)]
// Serialized by hand (below) as `"*"` or a list of names; the TypeScript says the same.
#[ts(type = "\"*\" | Array<string>")]
pub enum ToolSelection {
    All,
    Named(Vec<String>),
}

impl ToolSelection {
    pub fn includes(&self, tool: &str) -> bool {
        match self {
            ToolSelection::All => true,
            ToolSelection::Named(names) => names.iter().any(|n| n == tool),
        }
    }
}

impl Serialize for ToolSelection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ToolSelection::All => s.serialize_str("*"),
            ToolSelection::Named(names) => names.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ToolSelection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A hand-written visitor rather than `untagged`, whose error ("did not match any
        // variant") would not tell the user what to write.
        struct SelectionVisitor;
        impl<'de> Visitor<'de> for SelectionVisitor {
            type Value = ToolSelection;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(r#"a list of tool names, or "*" for all of the server's tools"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                if v == "*" {
                    Ok(ToolSelection::All)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(ToolSelection::Named(names))
            }
        }
        d.deserialize_any(SelectionVisitor)
    }
}

impl schemars::JsonSchema for ToolSelection {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ToolSelection".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // What the hand-written serde above reads and writes.
        schemars::json_schema!({
            "description": "Every tool of the server (`\"*\"`, including ones it adds later) or the tools named.",
            "oneOf": [
                {"const": "*"},
                {"type": "array", "items": {"type": "string"}}
            ]
        })
    }
}

/// The engine's `SafetyClass` as a spec writes it, for the spec's TypeScript and JSON Schema
/// only: the engine derives neither (it stays free of the API's tooling). Inlined where used,
/// so it adds no second `SafetyClass` beside the API's; a test keeps it in step.
#[derive(Serialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(inline)]
#[allow(dead_code)] // Never built outside the test: only its shape is read, by the derives.
enum SafetyClassWire {
    RetrySafe,
    AtMostOnce,
}

/// The tools built into the agent crate.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum BuiltinTool {
    /// Pause the run until a person answers a question.
    AskHuman,
    /// Store a note in the agent's memory.
    Remember,
    /// Search the agent's memory.
    Recall,
    /// Delete a note from the agent's memory.
    Forget,
    /// Send an email from the agent's mail account (`[email]` in the spec): at most once,
    /// after a person approves the draft unless the spec says otherwise.
    SendEmail,
}

impl BuiltinTool {
    /// The tool's name as the model sees it.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinTool::AskHuman => "ask_human",
            BuiltinTool::Remember => "remember",
            BuiltinTool::Recall => "recall",
            BuiltinTool::Forget => "forget",
            BuiltinTool::SendEmail => "send_email",
        }
    }
}

/// What the spec changes about one tool's calls.
#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ToolOverride {
    /// Replaces the class derived from the tool's MCP annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(as = "Option<SafetyClassWire>", optional, inline)]
    #[schemars(with = "Option<SafetyClassWire>")]
    pub safety: Option<SafetyClass>,
    /// Each call waits for a person to approve it before it runs.
    #[serde(default, skip_serializing_if = "is_false")]
    pub needs_approval: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub retry: Option<RetryOverride>,
    /// How long one attempt of the call may take.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub timeout_secs: Option<u64>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Changes to a retry policy; each field left out keeps the default's value.
#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct RetryOverride {
    /// Total attempts including the first; 1 means no retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub max_attempts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub initial_interval_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub backoff_coefficient: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub max_interval_ms: Option<u64>,
    /// Fraction (0..=1) of each delay that is randomised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub jitter: Option<f64>,
}

impl RetryOverride {
    /// `base` with this override's fields put in.
    pub fn apply(&self, base: RetryPolicy) -> RetryPolicy {
        RetryPolicy {
            max_attempts: self.max_attempts.unwrap_or(base.max_attempts),
            initial_interval_ms: self.initial_interval_ms.unwrap_or(base.initial_interval_ms),
            backoff_coefficient: self.backoff_coefficient.unwrap_or(base.backoff_coefficient),
            max_interval_ms: self.max_interval_ms.unwrap_or(base.max_interval_ms),
            jitter: self.jitter.unwrap_or(base.jitter),
            non_retryable_kinds: base.non_retryable_kinds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_safety_class_stand_in_writes_what_the_engine_does() {
        // An exhaustive match: a new engine class fails to compile here until it is mirrored.
        let wire = |c: SafetyClass| match c {
            SafetyClass::RetrySafe => SafetyClassWire::RetrySafe,
            SafetyClass::AtMostOnce => SafetyClassWire::AtMostOnce,
        };
        for c in [SafetyClass::RetrySafe, SafetyClass::AtMostOnce] {
            assert_eq!(
                serde_json::to_value(c).ok(),
                serde_json::to_value(wire(c)).ok()
            );
        }
    }
}
