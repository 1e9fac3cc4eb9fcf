//! A server's resources (listed, templates, read) and prompts (listed, got with arguments):
//! what the Tools page shows and a run's input can carry.

use rmcp::model::{
    GetPromptRequestParams, GetPromptResponse, ReadResourceRequestParams, ResourceContents,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A resource's contents larger than this (text and base64 together) are refused: it would be
/// carried through the API and into a run's input whole.
pub const MAX_RESOURCE_BYTES: usize = 16 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpResource {
    pub uri: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub mime_type: Option<String>,
    /// The size in bytes, when the server says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "number")]
    pub size: Option<u64>,
}

/// A family of resources named by an RFC 6570 URI template (`file:///{path}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpResourceTemplate {
    pub uri_template: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub mime_type: Option<String>,
}

/// One part of a read resource: text, or binary data in base64.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpResourceContent {
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub text: Option<String>,
    /// Binary contents, base64 as the server sent them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub blob: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpPromptArgument {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub description: Option<String>,
    #[serde(default)]
    pub required: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpPrompt {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub description: Option<String>,
    #[serde(default)]
    pub arguments: Vec<McpPromptArgument>,
}

/// One message of a prompt: its role and its content block as the server sent it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpPromptMessage {
    pub role: String,
    pub content: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpPromptResult {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub description: Option<String>,
    pub messages: Vec<McpPromptMessage>,
}

impl McpPromptResult {
    /// The messages as text: each message's text, or its block as JSON (an image, a resource).
    pub fn text(&self) -> String {
        self.messages
            .iter()
            .map(|m| match m.content.get("text").and_then(Value::as_str) {
                Some(t) => format!("{}: {t}", m.role),
                None => format!("{}: {}", m.role, m.content),
            })
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

pub(crate) fn resource(r: rmcp::model::Resource) -> McpResource {
    McpResource {
        uri: r.uri.clone(),
        name: r.name.clone(),
        title: r.title.clone(),
        description: r.description.clone(),
        mime_type: r.mime_type.clone(),
        size: r.size,
    }
}

pub(crate) fn template(t: rmcp::model::ResourceTemplate) -> McpResourceTemplate {
    McpResourceTemplate {
        uri_template: t.uri_template.clone(),
        name: t.name.clone(),
        title: t.title.clone(),
        description: t.description.clone(),
        mime_type: t.mime_type.clone(),
    }
}

pub(crate) fn prompt(p: rmcp::model::Prompt) -> McpPrompt {
    McpPrompt {
        name: p.name.clone(),
        title: p.title.clone(),
        description: p.description.clone(),
        arguments: p
            .arguments
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|a| McpPromptArgument {
                name: a.name,
                title: a.title,
                description: a.description,
                required: a.required.unwrap_or(false),
            })
            .collect(),
    }
}

pub(crate) fn read_params(uri: &str) -> ReadResourceRequestParams {
    ReadResourceRequestParams::new(uri)
}

pub(crate) fn prompt_params(name: &str, arguments: Map<String, Value>) -> GetPromptRequestParams {
    let params = GetPromptRequestParams::new(name);
    if arguments.is_empty() {
        params
    } else {
        params.with_arguments(arguments)
    }
}

/// A read resource's parts, refused when they are larger than [`MAX_RESOURCE_BYTES`].
pub(crate) fn contents(parts: Vec<ResourceContents>) -> Result<Vec<McpResourceContent>, String> {
    let mut total = 0usize;
    let mut out = Vec::with_capacity(parts.len());
    for part in parts {
        let content = match part {
            ResourceContents::TextResourceContents {
                uri,
                mime_type,
                text,
                ..
            } => McpResourceContent {
                uri,
                mime_type,
                text: Some(text),
                blob: None,
            },
            ResourceContents::BlobResourceContents {
                uri,
                mime_type,
                blob,
                ..
            } => McpResourceContent {
                uri,
                mime_type,
                text: None,
                blob: Some(blob),
            },
            // A kind of contents this client does not know: kept as JSON text.
            #[allow(unreachable_patterns)]
            other => McpResourceContent {
                uri: String::new(),
                mime_type: Some("application/json".into()),
                text: serde_json::to_string(&other).ok(),
                blob: None,
            },
        };
        total = total
            .saturating_add(content.text.as_ref().map_or(0, String::len))
            .saturating_add(content.blob.as_ref().map_or(0, String::len));
        if total > MAX_RESOURCE_BYTES {
            return Err(format!(
                "the resource is larger than {} MiB",
                MAX_RESOURCE_BYTES / (1024 * 1024)
            ));
        }
        out.push(content);
    }
    Ok(out)
}

/// A got prompt's messages, or why they cannot be used.
pub(crate) fn prompt_result(answer: GetPromptResponse) -> Result<McpPromptResult, String> {
    let result = match answer {
        GetPromptResponse::Complete(result) => result,
        // Answering a server's questions is the interactive-MCP work.
        _ => return Err("the server asks for more input to give this prompt".into()),
    };
    let messages = result
        .messages
        .into_iter()
        .map(|m| {
            let role = serde_json::to_value(&m.role)
                .ok()
                .and_then(|v| v.as_str().map(str::to_lowercase))
                .unwrap_or_else(|| "user".into());
            let content = serde_json::to_value(&m.content).unwrap_or(Value::Null);
            McpPromptMessage { role, content }
        })
        .collect();
    Ok(McpPromptResult {
        description: result.description,
        messages,
    })
}
