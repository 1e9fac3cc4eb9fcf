//! MCP servers: their definitions (secrets kept out of every response), tools and calls.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::views::SafetyClass;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use waymark_agent::arguments::ArgumentValidator;
use waymark_agent::mcp::{
    CallOptions, McpServerDef, McpTool, McpTransport, ServerStatus, SignInState,
};
use waymark_agent::Secret;

use crate::commands::DeletedResponse;
use crate::{Api, ApiError};

/// How long a call made by hand may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct McpListRequest {}

/// A server as listed: secret values are never included, only their names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpServerInfo {
    pub name: String,
    /// `stdio` or `http`.
    pub transport: String,
    /// The command line (stdio) or URL (http), secrets masked.
    pub describe: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub url: Option<String>,
    /// Names of the env variables (stdio) or headers (http) that have a stored value.
    pub secret_names: Vec<String>,
    pub status: ServerStatus,
    /// Where its OAuth sign-in stands (HTTP servers; `not_needed` for stdio).
    pub sign_in: SignInState,
    /// A pre-registered OAuth client id, if one is set (its secret is never shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub oauth_client_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpListResponse {
    pub servers: Vec<McpServerInfo>,
}

/// A server to add: `command` (stdio) or `url` (Streamable HTTP), not both.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpAddRequest {
    pub name: String,
    #[serde(default)]
    #[ts(optional)]
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    /// Environment of a stdio server; the values go to the secret store.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    #[ts(optional)]
    pub cwd: Option<String>,
    #[serde(default)]
    #[ts(optional)]
    pub url: Option<String>,
    /// Headers of an HTTP server; the values go to the secret store.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How an HTTP server is signed in to when it asks (the client secret goes to the secret
    /// store).
    #[serde(default)]
    #[ts(optional)]
    pub oauth: Option<crate::mcp_auth::McpOAuthClient>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpAddResponse {
    pub server: McpServerInfo,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpServerRequest {
    pub server: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpImportRequest {
    /// The config file's text (Claude Desktop / Cursor `mcpServers`, or VS Code `mcp.json`).
    pub text: String,
    /// Names the file in errors.
    #[serde(default)]
    #[ts(optional)]
    pub file_name: Option<String>,
    /// `false` lists what would be saved without saving (the consent step).
    #[serde(default)]
    pub save: bool,
    /// What VS Code's `${workspaceFolder}` stands for (the folder holding `.vscode/`).
    #[serde(default)]
    #[ts(optional)]
    pub workspace_folder: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpImportResponse {
    /// Each server's name, in the order of `servers`.
    pub names: Vec<String>,
    /// Each server's one-line description (command or URL, secrets masked, `${env:NAME}`
    /// references by name).
    pub servers: Vec<String>,
    pub notes: Vec<String>,
    pub unresolved_inputs: Vec<String>,
    /// Every `${env:NAME}` in the config: kept as a reference (never its value) and resolved
    /// from Waymark's environment each time the server is connected, so the consent step must
    /// show where each variable's value would go.
    pub env_uses: Vec<McpEnvUse>,
    pub saved: bool,
}

/// One `${env:NAME}` of an imported server, and where its value would be sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpEnvUse {
    /// The environment variable's name (never its value).
    pub variable: String,
    pub server: String,
    /// The field holding it: `command`, `args[1]`, `cwd`, `env.API_KEY`, `url`,
    /// `headers.Authorization`.
    pub field: String,
    /// The URL an http server is reached at, or the command line a stdio server runs.
    pub destination: String,
    /// Whether Waymark's environment has the variable now (connecting fails until it does).
    pub is_set: bool,
}

/// A tool with the safety class its annotations give.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpToolInfo {
    #[serde(flatten)]
    pub tool: McpTool,
    pub safety: SafetyClass,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpToolsResponse {
    pub tools: Vec<McpToolInfo>,
    /// The protocol revision agreed on (`2026-07-28`, `2025-11-25`, …).
    pub protocol_version: String,
    /// The server's own name and version, as it gave them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub server_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub server_version: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpCallRequest {
    pub server: String,
    pub tool: String,
    #[serde(default)]
    pub arguments: Value,
    /// Send the arguments as given, without checking them against the tool's input schema
    /// first: to see what the server itself does with them.
    #[serde(default)]
    #[ts(optional)]
    pub unchecked: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpCallResponse {
    /// The MCP content blocks as the server sent them.
    pub content: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub structured_content: Option<Value>,
    pub is_error: bool,
    /// The text the model would see.
    pub text: String,
    /// The structured content checked against the tool's output schema, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub output_check: Option<waymark_agent::mcp::OutputCheck>,
}

impl McpCallResponse {
    pub(crate) fn from_output(out: waymark_agent::mcp::ToolCallOutput) -> Self {
        McpCallResponse {
            text: out.text(),
            content: out.content,
            structured_content: out.structured_content,
            is_error: out.is_error,
            output_check: out.output_check,
        }
    }
}

async fn info(api: &Api, def: &McpServerDef) -> McpServerInfo {
    let hub = api.app().hub();
    let status = hub.status(&def.name).unwrap_or(ServerStatus::Idle);
    let sign_in = hub
        .sign_in_state(&def.name)
        .await
        .unwrap_or(SignInState::NotNeeded);
    let describe = def.describe();
    let describe = describe
        .strip_prefix(&format!("{}: ", def.name))
        .unwrap_or(&describe)
        .to_string();
    match &def.transport {
        McpTransport::Stdio {
            command, args, env, ..
        } => McpServerInfo {
            name: def.name.clone(),
            transport: "stdio".into(),
            describe,
            command: Some(command.clone()),
            args: args.clone(),
            url: None,
            secret_names: env.keys().cloned().collect(),
            status,
            sign_in,
            oauth_client_id: None,
        },
        McpTransport::Http {
            url,
            headers,
            oauth,
        } => McpServerInfo {
            name: def.name.clone(),
            transport: "http".into(),
            describe,
            command: None,
            args: Vec::new(),
            url: Some(url.clone()),
            secret_names: headers.keys().cloned().collect(),
            status,
            sign_in,
            oauth_client_id: oauth.client_id.clone(),
        },
    }
}

fn secrets(values: BTreeMap<String, String>) -> BTreeMap<String, Secret> {
    values
        .into_iter()
        .map(|(k, v)| (k, Secret::new(v)))
        .collect()
}

impl Api {
    pub async fn mcp_list(&self, _: McpListRequest) -> Result<McpListResponse, ApiError> {
        let servers = self.app().catalog.servers_listed()?;
        let mut infos = Vec::with_capacity(servers.len());
        for (def, missing) in &servers {
            let mut info = info(self, def).await;
            if let Some(why) = missing {
                // Listed, not usable here: its values were set on another machine.
                info.status = ServerStatus::Failed {
                    error: format!("{why}: add the server again here to set its values"),
                    stderr_tail: None,
                    retry_in_ms: 0,
                };
            }
            infos.push(info);
        }
        Ok(McpListResponse { servers: infos })
    }

    pub async fn mcp_add(&self, req: McpAddRequest) -> Result<McpAddResponse, ApiError> {
        if req.name.trim().is_empty() {
            return Err(ApiError::invalid("name", "the server needs a name"));
        }
        let transport = match (req.command, req.url) {
            (Some(command), None) if !command.trim().is_empty() => McpTransport::Stdio {
                command,
                args: req.args,
                env: secrets(req.env),
                cwd: req.cwd,
            },
            (None, Some(url)) if url.starts_with("http://") || url.starts_with("https://") => {
                McpTransport::Http {
                    url,
                    headers: secrets(req.headers),
                    oauth: req.oauth.unwrap_or_default().settings()?,
                }
            }
            (None, Some(_)) => {
                return Err(ApiError::invalid(
                    "url",
                    "the URL must start with http:// or https://",
                ))
            }
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "url",
                    "give either a command (stdio) or a url (http), not both",
                ))
            }
            _ => {
                return Err(ApiError::invalid(
                    "command",
                    "give a command (stdio) or a url (http)",
                ))
            }
        };
        let def = McpServerDef {
            name: req.name,
            transport,
        };
        self.app().catalog.put_server(&def)?;
        self.app().hub().set_server(def.clone());
        Ok(McpAddResponse {
            server: info(self, &def).await,
        })
    }

    pub async fn mcp_remove(&self, req: McpServerRequest) -> Result<DeletedResponse, ApiError> {
        let old = self.app().catalog.server(&req.server)?;
        let deleted = self.app().catalog.delete_server(&req.server)?;
        self.app().hub().remove_server(&req.server);
        if let Some(McpServerDef {
            transport: McpTransport::Http { url, .. },
            ..
        }) = old
        {
            // Its sign-in goes with it (best effort: a token left behind is no longer used).
            let _ = self.app().hub().forget_sign_in(&req.server, &url).await;
        }
        Ok(DeletedResponse { deleted })
    }

    pub async fn mcp_import(&self, req: McpImportRequest) -> Result<McpImportResponse, ApiError> {
        let origin = req.file_name.unwrap_or_else(|| "the config".into());
        let workspace = req.workspace_folder.as_deref().map(std::path::Path::new);
        let config = waymark_agent::mcp_import::import_str_with(
            &req.text,
            &origin,
            &|name| std::env::var(name).ok(),
            workspace,
        )
        .map_err(|e| ApiError::invalid("text", e.to_string()))?;
        if req.save {
            for def in &config.servers {
                self.app().catalog.put_server(def)?;
                self.app().hub().set_server(def.clone());
            }
        }
        Ok(McpImportResponse {
            names: config.servers.iter().map(|d| d.name.clone()).collect(),
            servers: config.servers.iter().map(|d| d.describe()).collect(),
            notes: config.notes,
            unresolved_inputs: config.unresolved_inputs,
            env_uses: config
                .env_uses
                .into_iter()
                .map(|u| McpEnvUse {
                    variable: u.variable,
                    server: u.server,
                    field: u.field,
                    destination: u.destination,
                    is_set: u.is_set,
                })
                .collect(),
            saved: req.save,
        })
    }

    pub async fn mcp_tools(&self, req: McpServerRequest) -> Result<McpToolsResponse, ApiError> {
        let tools = self.tools_of(&req.server).await?;
        let (protocol_version, server_name, server_version) =
            match self.app().hub().status(&req.server) {
                Some(ServerStatus::Connected {
                    protocol_version,
                    server_name,
                    server_version,
                    ..
                }) => (protocol_version, server_name, server_version),
                _ => (String::new(), None, None),
            };
        Ok(McpToolsResponse {
            tools: tools
                .into_iter()
                .map(|tool| McpToolInfo {
                    safety: tool.safety_class().into(),
                    tool,
                })
                .collect(),
            protocol_version,
            server_name,
            server_version,
        })
    }

    pub(crate) async fn tools_of(&self, server: &str) -> Result<Vec<McpTool>, ApiError> {
        self.known_server(server)?;
        self.app()
            .hub()
            .tools(server)
            .await
            .map_err(crate::mcp_auth::hub_error)
    }

    pub async fn mcp_call(&self, req: McpCallRequest) -> Result<McpCallResponse, ApiError> {
        self.tools_of(&req.server).await?;
        let arguments = self.checked_arguments(&req).await?;
        let options = CallOptions {
            timeout: Some(CALL_TIMEOUT),
            ..CallOptions::default()
        };
        let out = self
            .app()
            .hub()
            .call_tool(&req.server, &req.tool, arguments, options)
            .await
            .map_err(crate::mcp_auth::hub_error)?;
        Ok(McpCallResponse::from_output(out))
    }

    /// The arguments of a call by hand, once its tool is found: checked against the tool's
    /// input schema unless the caller asked otherwise.
    pub(crate) async fn checked_arguments(&self, req: &McpCallRequest) -> Result<Value, ApiError> {
        let tools = self
            .app()
            .hub()
            .tools(&req.server)
            .await
            .map_err(crate::mcp_auth::hub_error)?;
        let tool = tools.iter().find(|t| t.name == req.tool).ok_or_else(|| {
            let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
            ApiError::invalid(
                "tool",
                format!(
                    "server \"{}\" has no tool \"{}\"; it has: {}",
                    req.server,
                    req.tool,
                    names.join(", ")
                ),
            )
        })?;
        let arguments = if req.arguments.is_null() {
            Value::Object(Default::default())
        } else {
            // A string holding an object is taken as the object (as a model's call is).
            waymark_agent::arguments::normalize_arguments(&req.arguments)
                .map_err(|v| ApiError::invalid("arguments", v.message))?
        };
        if req.unchecked == Some(true) {
            return Ok(arguments);
        }
        if let Ok(validator) = ArgumentValidator::new(&tool.name, &tool.input_schema) {
            if let Err(v) = validator.check(&arguments) {
                let at = v
                    .violations
                    .first()
                    .map(|x| format!("arguments{}", x.path.replace('/', ".")))
                    .unwrap_or_else(|| "arguments".into());
                return Err(ApiError::invalid(at, v.summary()));
            }
        }
        Ok(arguments)
    }
}
