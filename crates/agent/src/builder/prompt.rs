//! What the builder tells the model: the AgentSpec's JSON shape (a compact form of
//! `docs/agent-spec.md`), and the description with the connected servers' tools.

use crate::mcp::McpTool;

/// The system prompt: the shape of the answer and the rules it must follow.
pub const SYSTEM_PROMPT: &str = r#"You draft agent definitions for Waymark, a runtime for durable AI agents.
Answer with ONE JSON object, an AgentSpec, and nothing else: no prose, no code fences, no comments.

The AgentSpec's fields (unknown fields are errors):
- "name": string, required. 1-64 characters of a-z, 0-9, "-", "_", starting with a letter or digit.
- "description": string. One sentence: what the agent does.
- "instructions": string, required, not blank. The system prompt the agent runs with: its job, how and when to use each tool, what to do when unsure.
- "model": object, required: {"provider": "openai" | "anthropic", "model": model id, optional "temperature" (0-2), "max_tokens" (>= 1)}. Use {"provider": "openai", "model": "gpt-4o-mini"} unless the description names a model.
- "tools": array. Each entry is one of:
  {"kind": "mcp", "server": a connected server's name, "tools": [tool names of that server] or "*"} (each server at most once, a list never empty);
  {"kind": "builtin", "name": "ask_human" | "remember" | "recall" | "forget"} (ask_human waits for a person's answer; remember/recall/forget keep notes across runs);
  {"kind": "agent", "name": another agent's name, "description": optional}.
  Tool names must be unique across entries.
- "tool_overrides": object keyed by a tool name the agent has: {"needs_approval": bool, "safety": "retry_safe" | "at_most_once", "timeout_secs": integer >= 1}.
- "limits": object: {"max_steps": integer >= 1 (default 25), "max_tokens", "max_cost_usd" (> 0), "deadline_secs"}.
- "triggers": array, default [{"kind": "manual"}]. Entries: {"kind": "manual"}; {"kind": "webhook", "secret_ref": the NAME of a secret such as "ORDERS_WEBHOOK_SECRET", "auth": "standard_webhooks" (or "github" for GitHub)}; {"kind": "cron", "schedule": 5-field cron expression, "timezone": optional IANA name}.

Rules:
- Use only the connected servers and the tools they list, spelled exactly as listed; pick only the tools the job needs.
- Every tool that changes something outside (destructive, not read-only: sending, deleting, paying, writing) gets "needs_approval": true in tool_overrides, unless the description says it may act alone.
- Add a webhook or cron trigger only when the description asks for one.
- Never put secrets or API keys in the spec."#;

/// The user message: the description, then every connected server's tools.
pub(super) fn user_message(description: &str, servers: &[(String, Vec<McpTool>)]) -> String {
    let mut text = format!(
        "Draft an agent for this description:\n\n{}\n\n",
        description.trim()
    );
    if servers.is_empty() {
        text.push_str("No MCP servers are connected: use built-in tools only.\n");
        return text;
    }
    text.push_str("Connected MCP servers and their tools:\n");
    for (server, tools) in servers {
        text.push_str(&format!("\nserver \"{server}\":\n"));
        if tools.is_empty() {
            text.push_str("  (no tools)\n");
        }
        for tool in tools {
            text.push_str(&format!("- {}", tool.name));
            if !tool.description.trim().is_empty() {
                text.push_str(&format!(": {}", tool.description.trim()));
            }
            let args = arguments(tool);
            if !args.is_empty() {
                text.push_str(&format!(" (arguments: {})", args.join(", ")));
            }
            text.push_str(&format!(" [{}]\n", hints(tool).join(", ")));
        }
    }
    text
}

/// The annotations as words, and the safety class they give the tool.
fn hints(tool: &McpTool) -> Vec<String> {
    let a = &tool.annotations;
    let mut out = Vec::new();
    for (flag, word) in [
        (a.read_only, "read-only"),
        (a.destructive, "destructive"),
        (a.idempotent, "idempotent"),
        (a.open_world, "open-world"),
    ] {
        if flag == Some(true) {
            out.push(word.to_string());
        }
    }
    out.push(format!("safety: {}", tool.safety_class().as_str()));
    out
}

fn arguments(tool: &McpTool) -> Vec<String> {
    tool.input_schema
        .get("properties")
        .and_then(|p| p.as_object())
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// The message that sends the problems of an answer back to the model.
pub(super) fn repair_message(problems: &[String]) -> String {
    let mut text = String::from("That answer cannot be used:\n");
    for p in problems {
        text.push_str(&format!("- {p}\n"));
    }
    text.push_str("Answer again with the whole corrected JSON object only.");
    text
}
