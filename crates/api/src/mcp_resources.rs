//! A server's resources and prompts: listed, read and got by hand, and attached to a run's
//! input (resolved when the run starts, so the journal holds what the agent was given).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use waymark_agent::mcp::{
    McpPrompt, McpPromptResult, McpResource, McpResourceContent, McpResourceTemplate,
};

use crate::mcp::McpServerRequest;
use crate::mcp_auth::hub_error;
use crate::{Api, ApiError};

/// Attachments one run may carry.
const MAX_ATTACHMENTS: usize = 16;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpResourcesResponse {
    pub resources: Vec<McpResource>,
    pub templates: Vec<McpResourceTemplate>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpReadResourceRequest {
    pub server: String,
    pub uri: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpReadResourceResponse {
    pub contents: Vec<McpResourceContent>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpPromptsResponse {
    pub prompts: Vec<McpPrompt>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpGetPromptRequest {
    pub server: String,
    pub prompt: String,
    #[serde(default)]
    pub arguments: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpGetPromptResponse {
    #[serde(flatten)]
    pub result: McpPromptResult,
    /// The messages as the text a run's input would carry.
    pub text: String,
}

/// A resource or a prompt of a saved server, attached to a run's input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunAttachment {
    pub server: String,
    /// A resource's URI (give this or `prompt`).
    #[serde(default)]
    #[ts(optional)]
    pub uri: Option<String>,
    /// A prompt's name, with its `arguments`.
    #[serde(default)]
    #[ts(optional)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub arguments: BTreeMap<String, String>,
}

fn arguments_object(arguments: &BTreeMap<String, String>) -> serde_json::Map<String, Value> {
    arguments
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

/// A read resource as the text a run's input carries: text parts as they are, binary parts
/// named with their type and size.
fn contents_text(contents: &[McpResourceContent]) -> String {
    contents
        .iter()
        .map(|c| match (&c.text, &c.blob) {
            (Some(text), _) => text.clone(),
            (None, Some(blob)) => format!(
                "[binary {}, {} bytes of base64, not included]",
                c.mime_type.as_deref().unwrap_or("data"),
                blob.len()
            ),
            (None, None) => String::new(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Api {
    pub async fn mcp_resources(
        &self,
        req: McpServerRequest,
    ) -> Result<McpResourcesResponse, ApiError> {
        self.known_server(&req.server)?;
        let (resources, templates) = self
            .app()
            .hub()
            .resources(&req.server)
            .await
            .map_err(hub_error)?;
        Ok(McpResourcesResponse {
            resources,
            templates,
        })
    }

    pub async fn mcp_read_resource(
        &self,
        req: McpReadResourceRequest,
    ) -> Result<McpReadResourceResponse, ApiError> {
        self.known_server(&req.server)?;
        if req.uri.trim().is_empty() || req.uri.len() > 8192 || req.uri.contains('\0') {
            return Err(ApiError::invalid(
                "uri",
                "give the resource's URI (at most 8192 characters)",
            ));
        }
        let contents = self
            .app()
            .hub()
            .read_resource(&req.server, &req.uri)
            .await
            .map_err(hub_error)?;
        Ok(McpReadResourceResponse { contents })
    }

    pub async fn mcp_prompts(&self, req: McpServerRequest) -> Result<McpPromptsResponse, ApiError> {
        self.known_server(&req.server)?;
        let prompts = self
            .app()
            .hub()
            .prompts(&req.server)
            .await
            .map_err(hub_error)?;
        Ok(McpPromptsResponse { prompts })
    }

    pub async fn mcp_get_prompt(
        &self,
        req: McpGetPromptRequest,
    ) -> Result<McpGetPromptResponse, ApiError> {
        self.known_server(&req.server)?;
        let result = self
            .app()
            .hub()
            .get_prompt(&req.server, &req.prompt, arguments_object(&req.arguments))
            .await
            .map_err(hub_error)?;
        Ok(McpGetPromptResponse {
            text: result.text(),
            result,
        })
    }

    /// The run's input with each attachment resolved now and appended, delimited and named.
    pub(crate) async fn input_with_attachments(
        &self,
        input: &str,
        attach: &[RunAttachment],
    ) -> Result<String, ApiError> {
        if attach.len() > MAX_ATTACHMENTS {
            return Err(ApiError::invalid(
                "attach",
                format!("a run takes at most {MAX_ATTACHMENTS} attachments"),
            ));
        }
        let mut out = input.to_string();
        for (i, a) in attach.iter().enumerate() {
            let field = format!("attach[{i}]");
            let (label, text) = match (&a.uri, &a.prompt) {
                (Some(uri), None) => {
                    let read = self
                        .mcp_read_resource(McpReadResourceRequest {
                            server: a.server.clone(),
                            uri: uri.clone(),
                        })
                        .await
                        .map_err(|e| ApiError::invalid(&field, e.message))?;
                    (
                        format!("resource {uri} from {}", a.server),
                        contents_text(&read.contents),
                    )
                }
                (None, Some(prompt)) => {
                    let got = self
                        .mcp_get_prompt(McpGetPromptRequest {
                            server: a.server.clone(),
                            prompt: prompt.clone(),
                            arguments: a.arguments.clone(),
                        })
                        .await
                        .map_err(|e| ApiError::invalid(&field, e.message))?;
                    (format!("prompt {prompt} from {}", a.server), got.text)
                }
                _ => {
                    return Err(ApiError::invalid(
                        field,
                        "an attachment names either a resource (uri) or a prompt",
                    ))
                }
            };
            out.push_str(&format!(
                "\n\n--- {label} ---\n{text}\n--- end of {label} ---"
            ));
        }
        Ok(out)
    }
}
