//! The agent builder: a model drafts an [`AgentSpec`] from a plain description and the
//! connected MCP servers' tools. The draft is parsed and checked (the spec's own rules, and
//! that every server and MCP tool it names is connected); its problems go back to the model
//! a bounded number of times. Nothing is saved: the caller shows the draft in a form.

mod prompt;

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::mcp::McpTool;
use crate::model::{ChatMessage, ModelRequest};
use crate::provider::{Provider, ProviderError};
use crate::spec::{AgentSpec, SpecError, ToolRef, ToolSelection};

pub use prompt::SYSTEM_PROMPT;

/// The model the draft runs with when the model's answer names none.
const DEFAULT_MODEL: (&str, &str) = ("openai", "gpt-4o-mini");

/// A checked draft, for the user to edit before saving.
#[derive(Clone, Debug, PartialEq)]
pub struct Draft {
    pub spec: AgentSpec,
    /// How many times the model's answer was sent back to be fixed.
    pub repairs: u32,
    /// What the user should look at before saving (defaults filled in, sub-agents that must
    /// exist, changing tools that run without approval).
    pub notes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuilderError {
    #[error("the description is empty: say what the agent should do")]
    EmptyDescription,
    #[error("the model call failed: {0}")]
    Model(#[from] ProviderError),
    #[error(
        "the model's draft is still invalid after {repairs} repair(s): {}",
        problems.join("; ")
    )]
    Invalid {
        problems: Vec<String>,
        repairs: u32,
        /// The model's last answer, for showing what it wrote.
        last_answer: String,
    },
}

/// Asks `model` through `provider` for a spec matching `description` that uses the tools of
/// `servers` (server name, its tools); sends the problems of an answer back up to
/// `max_repairs` times.
pub async fn draft_agent(
    provider: &Provider,
    model: &str,
    description: &str,
    servers: &[(String, Vec<McpTool>)],
    max_repairs: u32,
) -> Result<Draft, BuilderError> {
    if description.trim().is_empty() {
        return Err(BuilderError::EmptyDescription);
    }
    let mut messages = vec![
        ChatMessage::system(prompt::SYSTEM_PROMPT),
        ChatMessage::user(prompt::user_message(description, servers)),
    ];
    let mut repairs = 0;
    loop {
        let request = ModelRequest::new(model, messages.clone());
        let response = provider.complete(&request, |_| {}).await?;
        match check(&response.text, servers) {
            Ok((spec, notes)) => {
                return Ok(Draft {
                    spec,
                    repairs,
                    notes,
                })
            }
            Err(problems) if repairs >= max_repairs => {
                return Err(BuilderError::Invalid {
                    problems,
                    repairs,
                    last_answer: response.text,
                })
            }
            Err(problems) => {
                messages.push(ChatMessage::assistant(response.text, Vec::new()));
                messages.push(ChatMessage::user(prompt::repair_message(&problems)));
                repairs += 1;
            }
        }
    }
}

/// Parses and checks one answer: the spec and notes, or every problem found.
pub fn check(
    answer: &str,
    servers: &[(String, Vec<McpTool>)],
) -> Result<(AgentSpec, Vec<String>), Vec<String>> {
    let mut notes = Vec::new();
    let text = extract_json(answer);
    let mut value: Value = serde_json::from_str(text).map_err(|e| {
        vec![format!(
            "the answer is not one JSON object ({e}); write only the object"
        )]
    })?;
    let Some(obj) = value.as_object_mut() else {
        return Err(vec![
            "the answer must be a JSON object (an AgentSpec)".into()
        ]);
    };
    // A missing model is filled in rather than sent back: the user picks one in the form.
    if !obj.contains_key("model") {
        let (provider, model) = DEFAULT_MODEL;
        obj.insert(
            "model".into(),
            json!({"provider": provider, "model": model}),
        );
        notes.push(format!(
            "model: the draft named none; set to {provider} {model}, change it before saving"
        ));
    }
    let spec = AgentSpec::from_json_str(&value.to_string()).map_err(spec_problems)?;
    let problems = tool_problems(&spec, servers);
    if !problems.is_empty() {
        return Err(problems);
    }
    notes.extend(review(&spec, servers));
    Ok((spec, notes))
}

/// The JSON object in an answer: inside a ```json fence when there is one, else from the
/// first `{` to the last `}` (models wrap the object in prose despite being told not to).
fn extract_json(answer: &str) -> &str {
    let text = answer.trim();
    if let Some(start) = text.find("```") {
        let after = &text[start + 3..];
        let body = after.split_once('\n').map_or(after, |(_, rest)| rest);
        if let Some(end) = body.find("```") {
            return body[..end].trim();
        }
    }
    match (text.find('{'), text.rfind('}')) {
        (Some(a), Some(b)) if a < b => &text[a..=b],
        _ => text,
    }
}

fn spec_problems(e: SpecError) -> Vec<String> {
    match e {
        SpecError::Invalid { problems, .. } => problems.iter().map(|p| p.to_string()).collect(),
        other => vec![other.to_string()],
    }
}

/// Every MCP server the spec names must be connected, and every tool it names listed there;
/// every override must name one of the agent's tools.
fn tool_problems(spec: &AgentSpec, servers: &[(String, Vec<McpTool>)]) -> Vec<String> {
    let connected: Vec<&str> = servers.iter().map(|(s, _)| s.as_str()).collect();
    let mut problems = Vec::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    for (i, tool_ref) in spec.tools.iter().enumerate() {
        match tool_ref {
            ToolRef::Mcp { server, tools } => {
                let Some((_, listed)) = servers.iter().find(|(s, _)| s == server) else {
                    problems.push(format!(
                        "tools[{i}].server: no MCP server named \"{server}\" is connected; the servers are: {}",
                        list(&connected)
                    ));
                    continue;
                };
                let available: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
                match tools {
                    ToolSelection::All => names.extend(available.iter().map(|s| s.to_string())),
                    ToolSelection::Named(wanted) => {
                        for name in wanted {
                            if available.contains(&name.as_str()) {
                                names.insert(name.clone());
                            } else {
                                problems.push(format!(
                                    "tools[{i}].tools: server \"{server}\" has no tool named \"{name}\"; its tools are: {}",
                                    list(&available)
                                ));
                            }
                        }
                    }
                }
            }
            ToolRef::Builtin { name } => {
                names.insert(name.name().to_string());
            }
            ToolRef::Agent { name, .. } => {
                names.insert(name.clone());
            }
        }
    }
    for tool in spec.tool_overrides.keys() {
        if !names.contains(tool) {
            problems.push(format!(
                "tool_overrides.{tool}: the agent has no tool named \"{tool}\""
            ));
        }
    }
    problems
}

fn list(items: &[&str]) -> String {
    if items.is_empty() {
        "(none)".into()
    } else {
        items.join(", ")
    }
}

/// What a valid draft still leaves for the user to check.
fn review(spec: &AgentSpec, servers: &[(String, Vec<McpTool>)]) -> Vec<String> {
    let mut notes = Vec::new();
    for tool_ref in &spec.tools {
        match tool_ref {
            ToolRef::Agent { name, .. } => notes.push(format!(
                "sub-agent \"{name}\": an agent of that name must exist before this one runs"
            )),
            ToolRef::Mcp { server, tools } => {
                let listed = servers
                    .iter()
                    .find(|(s, _)| s == server)
                    .map(|(_, t)| t.as_slice())
                    .unwrap_or_default();
                for t in listed.iter().filter(|t| tools.includes(&t.name)) {
                    let changes = t.annotations.destructive == Some(true)
                        || t.annotations.read_only != Some(true);
                    if changes && !spec.needs_approval(&t.name) {
                        notes.push(format!(
                            "{server}/{}: may change things and runs without a person's approval",
                            t.name
                        ));
                    }
                }
            }
            ToolRef::Builtin { .. } => {}
        }
    }
    // Read from the file form, which every webhook scheme shares.
    for trigger in spec
        .triggers
        .iter()
        .filter_map(|t| serde_json::to_value(t).ok())
    {
        if let (Some("webhook"), Some(secret)) =
            (trigger["kind"].as_str(), trigger["secret_ref"].as_str())
        {
            notes.push(format!(
                "webhook trigger: store the secret \"{secret}\" before using it"
            ));
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::extract_json;

    #[test]
    fn the_object_is_found_in_fences_and_prose() {
        assert_eq!(extract_json("```json\n{\"a\": 1}\n```"), "{\"a\": 1}");
        assert_eq!(extract_json("```\n{\"a\": 1}\n```\nDone."), "{\"a\": 1}");
        assert_eq!(
            extract_json("Sure: {\"a\": {\"b\": 2}} hope it helps"),
            "{\"a\": {\"b\": 2}}"
        );
        assert_eq!(extract_json("  {\"a\": 1}  "), "{\"a\": 1}");
        assert_eq!(extract_json("no object"), "no object");
    }
}
