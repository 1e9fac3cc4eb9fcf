//! The MCP hub: one client per configured server (stdio child process or Streamable HTTP),
//! connected lazily, its tool list cached, its calls bounded and cancellable.
//!
//! API contract (the agent loop and the CLI are written against it):
//! - [`McpHub::new`] / [`McpHub::set_server`] / [`McpHub::remove_server`] / [`McpHub::servers`]
//! - [`McpHub::tools`]: the cached tool list (connects on first use; refreshed on
//!   `notifications/tools/list_changed`, not fetched per call)
//! - [`McpHub::call_tool`]: one `tools/call` with a timeout that cancels on the wire and
//!   progress reported through a callback
//! - [`McpHub::status`], [`McpHub::shutdown`]
//! - also: [`McpHub::with_max_concurrent_calls`] (per-server call limit, default
//!   [`DEFAULT_MAX_CONCURRENT_CALLS`]), [`McpHub::refresh_tools`], [`McpHub::stderr_tail`],
//!   [`McpHub::calls_in_flight`]
//! - [`McpError::to_step_error`] classifies a failure for the engine's retry policy.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use waymark_engine::{SafetyClass, StepError};

pub use crate::mcp_import::{McpServerDef, McpTransport};
pub use interaction::{CallInteraction, InputRequired, InputResume, MAX_INPUT_ROUNDS};
pub use oauth::{OAuthClientSettings, SignInStart, SignInState, TokenVault, SIGN_IN_LIMIT};
pub use resources::{
    McpPrompt, McpPromptArgument, McpPromptMessage, McpPromptResult, McpResource,
    McpResourceContent, McpResourceTemplate, MAX_RESOURCE_BYTES,
};
pub use tasks::McpTaskHandle;

/// A tool as the server lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpTool {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default)]
    pub description: String,
    pub input_schema: Value,
    #[serde(default)]
    pub annotations: ToolAnnotations,
}

/// MCP tool annotations: hints from the server, which a spec may override per tool.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
pub struct ToolAnnotations {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_world: Option<bool>,
}

impl McpTool {
    /// `readOnlyHint` or `idempotentHint` → retry_safe; anything else → at_most_once.
    pub fn safety_class(&self) -> SafetyClass {
        let a = &self.annotations;
        if a.read_only == Some(true) || a.idempotent == Some(true) {
            SafetyClass::RetrySafe
        } else {
            SafetyClass::AtMostOnce
        }
    }
}

/// A `tools/call` result as the server sent it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct ToolCallOutput {
    /// The MCP content blocks, as JSON (`{"type":"text","text":…}`, images, resources…).
    pub content: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured_content: Option<Value>,
    /// `isError: true`: an answer for the model, not a transport failure.
    #[serde(default)]
    pub is_error: bool,
    /// Set instead of a result when the server needs input first (2026-07-28), for a caller
    /// that asked to answer it itself ([`CallOptions::return_input_required`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub input_required: Option<InputRequired>,
    /// The structured content checked against the tool's output schema, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub output_check: Option<OutputCheck>,
    /// The task the server runs the call as: set alone (no result yet) for a caller that
    /// asked to poll it itself ([`CallOptions::return_task`]), beside the result otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub task: Option<McpTaskHandle>,
}

/// A result's structured content against the tool's `outputSchema`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct OutputCheck {
    pub valid: bool,
    /// What breaks the schema, when it is not valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub problem: Option<String>,
}

impl ToolCallOutput {
    /// No result yet: the input the server waits for, or the task it runs the call as.
    pub(crate) fn pending(
        input_required: Option<InputRequired>,
        task: Option<McpTaskHandle>,
    ) -> Self {
        ToolCallOutput {
            content: Vec::new(),
            structured_content: None,
            is_error: false,
            input_required,
            output_check: None,
            task,
        }
    }

    /// The text the model sees: text blocks joined by newlines; other blocks as compact JSON.
    pub fn text(&self) -> String {
        let parts: Vec<String> = self
            .content
            .iter()
            .map(|block| match block.get("text").and_then(Value::as_str) {
                Some(t) if block.get("type").and_then(Value::as_str) == Some("text") => {
                    t.to_string()
                }
                _ => block.to_string(),
            })
            .collect();
        if parts.is_empty() {
            if let Some(s) = &self.structured_content {
                return s.to_string();
            }
        }
        parts.join("\n")
    }
}

/// One progress notification of a call in flight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct ToolProgress {
    pub progress: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

pub type ProgressCallback = Arc<dyn Fn(ToolProgress) + Send + Sync>;

/// Options of one call.
#[derive(Clone, Default)]
pub struct CallOptions {
    /// When it passes, the request is cancelled on the wire (`notifications/cancelled`). It
    /// waits while a person answers a question the server asked inside the call.
    pub timeout: Option<Duration>,
    pub progress: Option<ProgressCallback>,
    /// Who answers the server's questions during the call (see [`ElicitationPolicy::Ask`]).
    pub interaction: Option<Arc<dyn CallInteraction>>,
    /// This call is the next round of one that needed input: its answers and state.
    pub resume: Option<InputResume>,
    /// An `input_required` result comes back to the caller (in
    /// [`ToolCallOutput::input_required`]) to answer durably, rather than being answered
    /// here through `interaction` and sent again.
    pub return_input_required: bool,
    /// A result that breaks the tool's output schema is returned with the problem in
    /// [`ToolCallOutput::output_check`] (a person trying the tool wants to see it) instead
    /// of failing the call (a model must not read it).
    pub keep_invalid_output: bool,
    /// A call the server makes a task comes back with its handle at once (in
    /// [`ToolCallOutput::task`]) for the caller to journal and poll
    /// ([`McpHub::follow_task`]), rather than being followed here to its end.
    pub return_task: bool,
}

/// What the client answers when a server asks the user something during a call
/// (`elicitation/create`), and which kinds of questions it says it takes.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ts_rs::TS,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ElicitationPolicy {
    /// Says it takes no questions: the server must do without.
    #[default]
    Decline,
    /// Takes form questions and answers them with the form's defaults (declines when a
    /// required field has none), with nobody asked.
    AcceptDefaults,
    /// Takes form and URL questions and puts them to a person through the call's
    /// [`CallInteraction`]; a call without one declines.
    Ask,
}

/// Where a server's connection is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ServerStatus {
    /// Not connected yet (connections are lazy).
    Idle,
    Connected {
        /// The protocol revision agreed on (`2026-07-28`, `2025-11-25`, …).
        protocol_version: String,
        tool_count: usize,
        /// The server's name and version as it gave them (a 2026-07-28 server may not).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        server_name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        server_version: Option<String>,
    },
    /// The last connection attempt failed, or the process exited; the next use retries
    /// after `retry_in_ms` (backoff).
    Failed {
        error: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stderr_tail: Option<String>,
        retry_in_ms: u64,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("no MCP server named \"{0}\" is configured")]
    UnknownServer(String),
    #[error("MCP server \"{server}\" has no tool named \"{tool}\"")]
    UnknownTool { server: String, tool: String },
    #[error("cannot connect to MCP server \"{server}\": {message}")]
    Connect { server: String, message: String },
    #[error("MCP server \"{server}\" exited or closed the connection during the call{}", tail_suffix(.stderr_tail))]
    Closed {
        server: String,
        stderr_tail: Option<String>,
    },
    #[error("MCP server \"{server}\" answered {tool} with JSON-RPC error {code}: {message}")]
    Rpc {
        server: String,
        tool: String,
        code: i64,
        message: String,
    },
    #[error("MCP call {server}/{tool} timed out after {after_ms} ms (cancelled on the wire)")]
    Timeout {
        server: String,
        tool: String,
        after_ms: u64,
    },
    /// The arguments given to `call_tool` are not a JSON object (MCP requires one).
    #[error("invalid arguments for MCP tool {server}/{tool}: {message}")]
    InvalidArguments {
        server: String,
        tool: String,
        message: String,
    },
    /// The server wants a signed-in client: someone must sign in (Tools page, `waymark mcp
    /// login`) before it can be used.
    #[error("MCP server \"{server}\" needs a sign-in: {reason}; sign in on the Tools page or with `waymark mcp login {server}`")]
    SignInRequired { server: String, reason: String },
    /// A started sign-in came to nothing (no redirect in time, refused, replaced).
    #[error("{message}")]
    SignInFailed { message: String },
    #[error("MCP server \"{server}\" lost the task of {tool}: {message}")]
    TaskLost {
        server: String,
        tool: String,
        message: String,
    },
    #[error("MCP server \"{server}\" ended the task of {tool}: {message}")]
    TaskEnded {
        server: String,
        tool: String,
        message: String,
    },
    #[error("MCP server \"{server}\" sent an invalid answer to {tool}: {message}")]
    InvalidResponse {
        server: String,
        tool: String,
        message: String,
    },
}

fn tail_suffix(tail: &Option<String>) -> String {
    match tail {
        Some(t) if !t.trim().is_empty() => format!("; its stderr ended with: {}", t.trim()),
        _ => String::new(),
    }
}

impl McpError {
    /// The error as a step error for the engine's retry policy: connection failures, exits
    /// and timeouts are retryable; a JSON-RPC error, an unknown tool and an invalid answer are not.
    pub fn to_step_error(&self) -> StepError {
        let message = self.to_string();
        match self {
            McpError::Connect { .. } => StepError::retryable("mcp_connect", message),
            // The request may have been carried out before the answer was lost.
            McpError::Closed { .. } => StepError::in_doubt("mcp_server_exited", message),
            McpError::Timeout { .. } => StepError::in_doubt("timeout", message),
            // The server failed on its side (internal or server-defined error): worth
            // another attempt. Bad params, an unknown method or a parse error are not.
            McpError::Rpc { code, .. } if *code == -32603 || (-32099..=-32000).contains(code) => {
                StepError::retryable("mcp_rpc_error", message)
            }
            McpError::Rpc { .. } => StepError::fatal("mcp_rpc_error", message),
            McpError::UnknownServer(_) => StepError::fatal("mcp_unknown_server", message),
            // Nothing a retry can change until a person signs in.
            McpError::SignInRequired { .. } | McpError::SignInFailed { .. } => {
                StepError::fatal("mcp_sign_in_required", message)
            }
            McpError::UnknownTool { .. } => StepError::fatal("mcp_unknown_tool", message),
            McpError::InvalidArguments { .. } => StepError::fatal("mcp_invalid_arguments", message),
            McpError::InvalidResponse { .. } => StepError::fatal("mcp_invalid_response", message),
            // Polling a task the server forgot cannot bring it back: the step's safety class
            // decides what happens to the call.
            McpError::TaskLost { .. } => StepError::fatal("mcp_task_lost", message),
            McpError::TaskEnded { .. } => StepError::fatal("mcp_task_ended", message),
        }
    }
}

mod call;
mod connection;
mod handler;
mod hub;
pub mod interaction;
mod oauth;
mod process;
mod resources;
mod slot;
mod stderr_tail;
mod tasks;
mod tools;

pub use hub::{McpHub, DEFAULT_MAX_CONCURRENT_CALLS, TRIED_SERVER_PREFIX};
