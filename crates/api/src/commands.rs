//! The command list: the one place that declares every command, its request and response
//! types and what it does. Dispatch by name, the HTTP routes, the OpenAPI document and the
//! TypeScript bindings are all generated from it, so a new command needs no routing code.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::agents::*;
use crate::database::*;
use crate::engine_cmds::*;
use crate::mcp::*;
use crate::replay::*;
use crate::runs::*;
use crate::settings::*;
use crate::{Api, ApiError, ErrorCode};

/// One command: its name (also its route, `POST /api/v1/{name}`) and what it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandInfo {
    pub name: &'static str,
    pub summary: &'static str,
}

macro_rules! commands {
    ($( #[doc = $doc:literal] $name:ident($req:ty) -> $resp:ty; )*) => {
        /// Every command, in the order the API documents them.
        pub const COMMANDS: &[CommandInfo] = &[$(CommandInfo {
            name: stringify!($name),
            summary: $doc.trim_ascii(),
        }),*];

        impl Api {
            /// Runs `command` on a JSON request: the entry point both doors use.
            pub async fn call(&self, command: &str, request: Value) -> Result<Value, ApiError> {
                match command {
                    $(stringify!($name) => {
                        let req: $req = parse_request(request)?;
                        let resp: $resp = self.$name(req).await?;
                        to_value(&resp)
                    })*
                    other => Err(ApiError::new(
                        ErrorCode::UnknownCommand,
                        format!("there is no command \"{other}\" (see /openapi.json)"),
                    )),
                }
            }
        }

        /// Each command with the JSON Schemas of its request and response.
        pub fn command_schemas(
            generator: &mut schemars::SchemaGenerator,
        ) -> Vec<(CommandInfo, schemars::Schema, schemars::Schema)> {
            let infos = COMMANDS.iter();
            let schemas = vec![$((
                generator.subschema_for::<$req>(),
                generator.subschema_for::<$resp>(),
            )),*];
            infos.copied().zip(schemas).map(|(i, (a, b))| (i, a, b)).collect()
        }

        /// Writes the TypeScript bindings of every request, response and event type.
        pub fn export_command_types(cfg: &ts_rs::Config) -> Result<(), ts_rs::ExportError> {
            use ts_rs::TS as _;
            $(
                <$req>::export_all(cfg)?;
                <$resp>::export_all(cfg)?;
            )*
            Ok(())
        }
    };
}

commands! {
    /// List the saved agents.
    agents_list(AgentsListRequest) -> AgentsListResponse;
    /// Get an agent's spec and its saved versions.
    agents_get(AgentNameRequest) -> AgentGetResponse;
    /// Create or replace an agent from its spec (validated; every field problem named).
    agents_save(AgentSaveRequest) -> AgentSaveResponse;
    /// Delete an agent (its runs and saved versions are kept).
    agents_delete(AgentNameRequest) -> DeletedResponse;
    /// Export an agent as a TOML or JSON file's text.
    agents_export(AgentExportRequest) -> AgentExportResponse;
    /// Import an agent from a TOML or JSON file's text.
    agents_import(AgentImportRequest) -> AgentSaveResponse;
    /// Draft an agent from a plain description with a model (never saved: edit, then save).
    agents_draft(AgentsDraftRequest) -> AgentsDraftResponse;
    /// List the MCP servers with their connection status (secrets never included).
    mcp_list(McpListRequest) -> McpListResponse;
    /// Add or replace an MCP server (stdio command or Streamable HTTP URL).
    mcp_add(McpAddRequest) -> McpAddResponse;
    /// Remove an MCP server.
    mcp_remove(McpServerRequest) -> DeletedResponse;
    /// Import MCP servers from a Claude Desktop / Cursor or VS Code config file's text.
    mcp_import(McpImportRequest) -> McpImportResponse;
    /// List a server's tools with their schemas, annotations and safety class.
    mcp_tools(McpServerRequest) -> McpToolsResponse;
    /// Call a tool by hand (arguments checked against its input schema first).
    mcp_call(McpCallRequest) -> McpCallResponse;
    /// Start a run of a saved agent.
    runs_start(RunsStartRequest) -> RunIdResponse;
    /// Start a run of a registered durable function by name (the engine's own examples).
    runs_start_function(RunsStartFunctionRequest) -> RunIdResponse;
    /// Send an event; a run waiting for it (in any process) takes it.
    events_send(EventsSendRequest) -> EventsSendResponse;
    /// What an agent remembers across runs.
    memory_list(MemoryListRequest) -> MemoryListResponse;
    /// List runs, newest first, with filters and paging.
    runs_list(RunsListRequest) -> RunsListResponse;
    /// Get a run with its steps and attempts, and its child runs' ids.
    runs_get(RunIdRequest) -> RunGetResponse;
    /// Cancel a run, its step in flight and its children.
    runs_cancel(RunIdRequest) -> RunsCancelResponse;
    /// Settle a step in needs_attention: retry it, mark it done with an output, or fail it.
    runs_resolve(RunsResolveRequest) -> OkResponse;
    /// Approve a tool call that waits for approval.
    runs_approve(RunStepRequest) -> OkResponse;
    /// Reject a tool call that waits for approval (the model is told why).
    runs_reject(RunsRejectRequest) -> OkResponse;
    /// Answer the question an agent asked with ask_human.
    runs_answer(RunsAnswerRequest) -> OkResponse;
    /// Fork a run at a step, optionally with an edited output for it; returns the new run.
    runs_fork(RunsForkRequest) -> RunIdResponse;
    /// Retry a failed step: a new run from the journal before it (the failed run is kept).
    runs_retry_step(RunsRetryStepRequest) -> RunIdResponse;
    /// Export a finished run as an offline replay file (scripted turns and recorded results).
    runs_export(RunsExportRequest) -> RunsExportResponse;
    /// Start a replay of an exported run: no model or tool is called.
    runs_replay(RunsReplayRequest) -> RunIdResponse;
    /// Where the data lives, which secret store holds keys, which providers have one.
    settings_get(SettingsGetRequest) -> SettingsResponse;
    /// Set where a provider is reached when a spec names no base URL (or clear it).
    settings_set_provider(SettingsSetProviderRequest) -> OkResponse;
    /// Store a provider's API key in the secret store (write-only: never returned).
    settings_set_key(SettingsSetKeyRequest) -> OkResponse;
    /// Store a webhook trigger's secret in the secret store (write-only).
    settings_set_webhook_secret(SettingsSetWebhookSecretRequest) -> OkResponse;
    /// Forget a provider's stored API key.
    settings_delete_key(SettingsProviderRequest) -> DeletedResponse;
    /// Delete a finished run with its child runs (a pinned one only with force).
    runs_delete(RunsDeleteRequest) -> waymark_engine::DeletedRuns;
    /// Pin a run (retention never deletes it) or unpin it.
    runs_pin(RunsPinRequest) -> OkResponse;
    /// Check the database file's integrity.
    db_check(DbCheckRequest) -> DbCheckResponse;
    /// The database's size, row counts and largest runs.
    db_stats(DbRequest) -> waymark_engine::DbStats;
    /// Delete finished runs by age and/or keep the newest N per agent (pinned runs are kept).
    db_retention(DbRetentionRequest) -> waymark_engine::DeletedRuns;
    /// Delete stored payloads (blobs) no run refers to any more.
    db_gc(DbRequest) -> waymark_engine::GcReport;
    /// Copy the database to a new file while it is in use (SQLite online backup).
    db_backup(DbBackupRequest) -> waymark_engine::BackupReport;
    /// Rewrite the database file to give freed space back to the disk.
    db_vacuum(DbRequest) -> waymark_engine::VacuumReport;
}

/// Parses a request, naming the field at fault in the error.
pub fn parse_request<T: DeserializeOwned>(request: Value) -> Result<T, ApiError> {
    // `null` or a missing body means "no fields", so commands without fields need no `{}`.
    let request = if request.is_null() {
        Value::Object(Default::default())
    } else {
        request
    };
    serde_path_to_error::deserialize(request).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        if path == "." || path.is_empty() {
            ApiError::new(
                ErrorCode::InvalidInput,
                format!("invalid request: {message}"),
            )
        } else {
            ApiError::invalid(path.clone(), format!("{path}: {message}"))
        }
    })
}

fn to_value<T: Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::internal(format!("response: {e}")))
}

/// Generates a response type with no fields but `ok: true`.
#[derive(
    Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
pub struct OkResponse {
    pub ok: bool,
}

impl OkResponse {
    pub fn ok() -> Self {
        OkResponse { ok: true }
    }
}

/// Whether a delete found something to delete.
#[derive(
    Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
pub struct DeletedResponse {
    pub deleted: bool,
}
