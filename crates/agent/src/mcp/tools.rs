//! A server's tool list as the hub caches it: our [`McpTool`]s, and each tool's output schema
//! compiled once to check structured results against.

use std::collections::HashMap;

use jsonschema::{Draft, Validator};
use serde_json::Value;

use super::{McpTool, ToolAnnotations, ToolCallOutput};

/// The tools of one connection, as last listed.
pub(crate) struct ToolCache {
    pub(crate) tools: Vec<McpTool>,
    outputs: HashMap<String, Validator>,
}

impl ToolCache {
    pub(crate) fn new(listed: Vec<rmcp::model::Tool>) -> Self {
        let mut outputs = HashMap::new();
        let mut tools = Vec::with_capacity(listed.len());
        for tool in listed {
            if let Some(schema) = &tool.output_schema {
                // A schema we cannot compile checks nothing: the call still works.
                if let Some(v) = compile(&Value::Object(schema.as_ref().clone())) {
                    outputs.insert(tool.name.to_string(), v);
                }
            }
            tools.push(convert(tool));
        }
        Self { tools, outputs }
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.tools.iter().any(|t| t.name == name)
    }

    pub(crate) fn has_output_schema(&self, tool: &str) -> bool {
        self.outputs.contains_key(tool)
    }

    /// A tool that declares an output schema must answer (unless `isError`) structured
    /// content that conforms to it (MCP: clients should validate it).
    pub(crate) fn check_output(&self, tool: &str, output: &ToolCallOutput) -> Result<(), String> {
        let Some(validator) = self.outputs.get(tool) else {
            return Ok(());
        };
        if output.is_error {
            return Ok(());
        }
        let Some(structured) = &output.structured_content else {
            return Err("the tool declares an output schema but sent no structuredContent".into());
        };
        let problems: Vec<String> = validator
            .iter_errors(structured)
            .take(3)
            .map(|e| {
                let at = e.instance_path().to_string();
                if at.is_empty() {
                    e.to_string()
                } else {
                    format!("at {at}: {e}")
                }
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "structuredContent breaks the tool's output schema: {}",
                problems.join("; ")
            ))
        }
    }
}

fn compile(schema: &Value) -> Option<Validator> {
    let mut options = jsonschema::options().offline();
    if schema.get("$schema").is_none() {
        options = options.with_draft(Draft::Draft202012);
    }
    options.build(schema).ok()
}

fn convert(tool: rmcp::model::Tool) -> McpTool {
    let hints = tool.annotations.unwrap_or_default();
    McpTool {
        name: tool.name.to_string(),
        title: tool.title.or(hints.title),
        description: tool.description.map(|d| d.to_string()).unwrap_or_default(),
        input_schema: Value::Object(tool.input_schema.as_ref().clone()),
        annotations: ToolAnnotations {
            read_only: hints.read_only_hint,
            destructive: hints.destructive_hint,
            idempotent: hints.idempotent_hint,
            open_world: hints.open_world_hint,
        },
    }
}
