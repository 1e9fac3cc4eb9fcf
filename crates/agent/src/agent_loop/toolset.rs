//! The tools a run offers its model, resolved once at the run's start (the `tools` step) and
//! kept in the journal: a run keeps the tool list it started with.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use waymark_engine::{SafetyClass, StepError};

use crate::mcp::ToolAnnotations;
use crate::model::ToolDefinition;
use crate::runtime::AgentRuntime;
use crate::spec::{AgentSpec, BuiltinTool, ToolRef};

/// One tool as the run offers it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentTool {
    /// The name the model sees.
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub input_schema: Value,
    pub source: ToolSource,
    /// From the annotations (or the built-in's nature), then the spec's override.
    pub safety: SafetyClass,
    #[serde(default)]
    pub needs_approval: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ToolSource {
    Mcp {
        server: String,
        tool: String,
        #[serde(default)]
        annotations: ToolAnnotations,
    },
    Builtin {
        builtin: BuiltinTool,
    },
    /// A sub-agent: its spec (and scripted turns) as they were when the parent started.
    Agent {
        spec: Box<AgentSpec>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        script: Option<Value>,
    },
}

/// The `tools` step's output.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolSet {
    pub tools: Vec<AgentTool>,
}

impl ToolSet {
    pub fn get(&self, name: &str) -> Option<&AgentTool> {
        self.tools.iter().find(|t| t.name == name)
    }

    pub fn definitions(&self) -> Vec<ToolDefinition> {
        self.tools
            .iter()
            .map(|t| ToolDefinition {
                name: t.name.clone(),
                description: t.description.clone(),
                input_schema: t.input_schema.clone(),
            })
            .collect()
    }

    pub fn names(&self) -> Vec<&str> {
        self.tools.iter().map(|t| t.name.as_str()).collect()
    }
}

/// Lists every tool the spec names. A server that cannot be reached is a retryable error;
/// a tool the server does not have, or two tools with one name, is the spec's mistake.
pub async fn resolve(rt: &AgentRuntime, spec: &AgentSpec) -> Result<ToolSet, StepError> {
    let mut tools: Vec<AgentTool> = Vec::new();
    for tool_ref in &spec.tools {
        match tool_ref {
            ToolRef::Mcp {
                server,
                tools: selection,
            } => {
                let listed = rt
                    .hub()
                    .tools(server)
                    .await
                    .map_err(|e| e.to_step_error())?;
                if let crate::spec::ToolSelection::Named(names) = selection {
                    for name in names {
                        if !listed.iter().any(|t| &t.name == name) {
                            return Err(StepError::fatal(
                                "unknown_tool",
                                format!("MCP server \"{server}\" has no tool named \"{name}\" (the spec's tools list names it)"),
                            ));
                        }
                    }
                }
                for t in listed.iter().filter(|t| selection.includes(&t.name)) {
                    tools.push(AgentTool {
                        name: t.name.clone(),
                        description: t.description.clone(),
                        input_schema: t.input_schema.clone(),
                        safety: spec.tool_safety(&t.name, t.safety_class()),
                        needs_approval: spec.needs_approval(&t.name),
                        source: ToolSource::Mcp {
                            server: server.clone(),
                            tool: t.name.clone(),
                            annotations: t.annotations.clone(),
                        },
                    });
                }
            }
            ToolRef::Builtin { name } => {
                let (description, schema, safety) = builtin(*name);
                let tool_name = name.name();
                tools.push(AgentTool {
                    name: tool_name.to_string(),
                    description: description.to_string(),
                    input_schema: schema,
                    safety: spec.tool_safety(tool_name, safety),
                    needs_approval: spec.needs_approval(tool_name),
                    source: ToolSource::Builtin { builtin: *name },
                });
            }
            ToolRef::Agent { name, description } => {
                let directory = rt.directory().ok_or_else(|| {
                    StepError::fatal(
                        "unknown_agent",
                        format!("sub-agent \"{name}\": this process has no agent directory"),
                    )
                })?;
                let child = directory
                    .agent(name)
                    // A locked catalog is retried; a broken one (or a saved spec that no longer
                    // reads) fails the tool list at once.
                    .map_err(|e| e.into_step_error("agent_directory"))?
                    .ok_or_else(|| {
                        StepError::fatal(
                            "unknown_agent",
                            format!(
                                "the spec uses sub-agent \"{name}\", but no agent has that name"
                            ),
                        )
                    })?;
                let script = rt
                    .load_script(&child.model)
                    .map_err(|e| e.to_step_error())?;
                tools.push(AgentTool {
                    name: name.clone(),
                    description: description
                        .clone()
                        .unwrap_or_else(|| child.description.clone()),
                    input_schema: json!({
                        "type": "object",
                        "properties": {
                            "input": {"type": "string", "description": "The task or question for this agent."}
                        },
                        "required": ["input"]
                    }),
                    // A child run is journaled itself: starting it again finds the same run.
                    safety: SafetyClass::RetrySafe,
                    needs_approval: spec.needs_approval(name),
                    source: ToolSource::Agent {
                        spec: Box::new(child),
                        script,
                    },
                });
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for t in &tools {
        if !seen.insert(t.name.as_str()) {
            return Err(StepError::fatal(
                "duplicate_tool",
                format!("two of the agent's tools are named \"{}\"; keep one of them in the spec's tools list", t.name),
            ));
        }
    }
    Ok(ToolSet { tools })
}

fn builtin(tool: BuiltinTool) -> (&'static str, Value, SafetyClass) {
    match tool {
        BuiltinTool::AskHuman => (
            "Ask the person running this agent a question and wait for the answer.",
            json!({"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"]}),
            SafetyClass::RetrySafe,
        ),
        BuiltinTool::Remember => (
            "Store a note in your memory under a key; it is kept across runs.",
            json!({"type": "object", "properties": {"key": {"type": "string"}, "value": {"type": "string"}}, "required": ["key", "value"]}),
            SafetyClass::RetrySafe,
        ),
        BuiltinTool::Recall => (
            "Search your memory: notes whose key or text contains the query (empty: all).",
            json!({"type": "object", "properties": {"query": {"type": "string"}, "limit": {"type": "integer", "minimum": 1}}, "required": ["query"]}),
            SafetyClass::RetrySafe,
        ),
        BuiltinTool::Forget => (
            "Delete the note stored under a key from your memory.",
            json!({"type": "object", "properties": {"key": {"type": "string"}}, "required": ["key"]}),
            SafetyClass::RetrySafe,
        ),
        BuiltinTool::SendEmail => (
            "Send a plain-text email. A reply to the message that started the run threads under it. A person reviews each email before it goes out unless the agent's settings say otherwise.",
            crate::email::send_email_schema(),
            SafetyClass::AtMostOnce,
        ),
    }
}
