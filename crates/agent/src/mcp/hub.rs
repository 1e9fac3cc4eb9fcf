//! The hub: the configured servers by name, each with its lazily opened connection.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rmcp::service::ServiceError;
use serde_json::Value;
use tokio::time::Instant;

use super::call::{call, CallFailure};

mod failure;
mod tasks;
use super::connection::Connection;
use super::oauth::OAuthBroker;
use super::resources::{
    self, McpPrompt, McpPromptResult, McpResource, McpResourceContent, McpResourceTemplate,
};
use super::slot::{ServerSlot, SlotError};
use super::{
    CallOptions, ElicitationPolicy, McpError, McpServerDef, McpTool, McpTransport, ServerStatus,
    SignInStart, SignInState, TokenVault, ToolCallOutput,
};

/// Calls in flight per server unless [`McpHub::with_max_concurrent_calls`] says otherwise.
pub const DEFAULT_MAX_CONCURRENT_CALLS: usize = 8;

/// Shared by every run of a process: clone it freely. Dropping the last clone stops every
/// stdio child (they are killed on drop); [`McpHub::shutdown`] closes them gracefully.
#[derive(Clone)]
pub struct McpHub {
    inner: Arc<HubInner>,
}

struct HubInner {
    servers: Mutex<BTreeMap<String, Arc<ServerSlot>>>,
    max_calls: usize,
    oauth: Arc<OAuthBroker>,
}

/// Servers tried without being saved are kept this many at most (the oldest goes first).
const MAX_TRIED_SERVERS: usize = 16;
/// The name prefix of a server tried without being saved (never a saved server's name).
pub const TRIED_SERVER_PREFIX: &str = "~try:";

impl Default for McpHub {
    fn default() -> Self {
        Self::new()
    }
}

impl McpHub {
    pub fn new() -> Self {
        Self::with_max_concurrent_calls(DEFAULT_MAX_CONCURRENT_CALLS)
    }

    /// A hub whose servers each run at most `limit` calls at once (at least 1); the others wait.
    pub fn with_max_concurrent_calls(limit: usize) -> Self {
        Self {
            inner: Arc::new(HubInner {
                servers: Mutex::new(BTreeMap::new()),
                max_calls: limit.max(1),
                oauth: Arc::new(OAuthBroker::default()),
            }),
        }
    }

    /// Where sign-in tokens of saved servers are kept (the keychain or the 0600 file); without
    /// one they live in memory.
    pub fn set_token_vault(&self, vault: Arc<dyn TokenVault>) {
        self.inner.oauth.set_vault(vault);
    }

    /// The HTTPS URL of the client's metadata document (a Client ID Metadata Document), used
    /// to register with authorization servers that accept one; `None`: not used.
    pub fn set_client_metadata_url(&self, url: Option<String>) {
        self.inner.oauth.set_client_metadata_url(url);
    }

    /// Adds or replaces a server's definition (a replaced one is disconnected; the same
    /// definition again keeps its connection).
    pub fn set_server(&self, def: McpServerDef) {
        self.put_slot(def, true, ElicitationPolicy::Ask);
    }

    /// Adds a server to try without saving it: named `~try:<hash of the definition>` (the
    /// returned name), its sign-in tokens kept in memory only. The same definition again is
    /// the same server, so a sign-in carries over to the next call.
    pub fn set_tried_server(
        &self,
        mut def: McpServerDef,
        elicitation: ElicitationPolicy,
    ) -> String {
        use sha2::{Digest, Sha256};
        let described = format!("{:?}|{}|{elicitation:?}", def.transport, def.describe());
        let digest = Sha256::digest(described.as_bytes());
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        def.name = format!("{TRIED_SERVER_PREFIX}{hex}");
        let name = def.name.clone();
        let evicted = {
            let mut servers = self.lock();
            let tried: Vec<String> = servers
                .keys()
                .filter(|k| k.starts_with(TRIED_SERVER_PREFIX) && **k != name)
                .cloned()
                .collect();
            let excess = tried.len().saturating_sub(MAX_TRIED_SERVERS - 1);
            tried
                .into_iter()
                .take(excess)
                .filter_map(|k| servers.remove(&k))
                .collect::<Vec<_>>()
        };
        evicted.into_iter().for_each(close_in_background);
        self.put_slot(def, false, elicitation);
        name
    }

    fn put_slot(&self, def: McpServerDef, persist_tokens: bool, elicitation: ElicitationPolicy) {
        let old = {
            let mut servers = self.lock();
            if servers.get(&def.name).is_some_and(|s| s.def == def) {
                return;
            }
            let slot = Arc::new(ServerSlot::new(
                def.clone(),
                self.inner.max_calls,
                self.inner.oauth.clone(),
                persist_tokens,
                elicitation,
            ));
            servers.insert(def.name, slot)
        };
        if let Some(old) = old {
            close_in_background(old);
        }
    }

    pub fn remove_server(&self, name: &str) {
        let old = self.lock().remove(name);
        if let Some(old) = old {
            close_in_background(old);
        }
    }

    /// The configured servers' names, sorted.
    pub fn servers(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// The server's tools (connecting if needed), from the cache when it is fresh.
    pub async fn tools(&self, server: &str) -> Result<Vec<McpTool>, McpError> {
        self.tools_with(server, false).await
    }

    /// Lists the server's tools again now (the cache is otherwise refreshed only when the
    /// server sends `notifications/tools/list_changed`).
    pub async fn refresh_tools(&self, server: &str) -> Result<Vec<McpTool>, McpError> {
        self.tools_with(server, true).await
    }

    async fn tools_with(&self, server: &str, refresh: bool) -> Result<Vec<McpTool>, McpError> {
        let slot = self.slot(server)?;
        let conn = slot
            .connection(None)
            .await
            .map_err(|e| connect_error(server, e))?;
        let listed = if refresh {
            conn.refresh_tools().await
        } else {
            conn.tools().await
        };
        match listed {
            Ok(cache) => Ok(cache.tools.clone()),
            Err(e) if wants_sign_in(&e) => {
                Err(self.refused(&slot, &conn, e.auth_challenge()).await)
            }
            Err(e) => Err(list_error(&slot, &conn, server, e).await),
        }
    }

    /// One `tools/call`. The timeout covers the whole call (waiting for a free call slot,
    /// connecting, the request); when it passes during the request, the request is cancelled
    /// on the wire. A call during a reconnection backoff waits for it when its timeout allows.
    pub async fn call_tool(
        &self,
        server: &str,
        tool: &str,
        arguments: Value,
        options: CallOptions,
    ) -> Result<ToolCallOutput, McpError> {
        let slot = self.slot(server)?;
        let arguments = match arguments {
            Value::Null => None,
            Value::Object(map) => Some(map),
            other => {
                return Err(McpError::InvalidArguments {
                    server: server.to_string(),
                    tool: tool.to_string(),
                    message: format!("arguments must be a JSON object, got {other}"),
                })
            }
        };
        let deadline = options.timeout.map(|t| Instant::now() + t);
        let timeout = || McpError::Timeout {
            server: server.to_string(),
            tool: tool.to_string(),
            after_ms: options
                .timeout
                .map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        };
        let until = |d: Option<Instant>| async move {
            match d {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };

        let permit = tokio::select! {
            permit = slot.calls.clone().acquire_owned() => permit,
            _ = until(deadline) => return Err(timeout()),
        };
        // The semaphore is never closed, so this is always a permit.
        let _permit = permit.map_err(|_| timeout())?;

        // Bounded too while another caller's connection attempt holds the slot.
        let connected = tokio::select! {
            connected = slot.connection(deadline) => connected,
            _ = until(deadline) => return Err(timeout()),
        };
        let conn = match connected {
            Ok(conn) => conn,
            Err(SlotError::Deadline) => return Err(timeout()),
            Err(e) => return Err(connect_error(server, e)),
        };
        let tools = tokio::select! {
            tools = conn.tools() => match tools {
                Ok(tools) => tools,
                Err(e) if wants_sign_in(&e) => {
                    return Err(self.refused(&slot, &conn, e.auth_challenge()).await)
                }
                Err(e) => return Err(list_error(&slot, &conn, server, e).await),
            },
            _ = until(deadline) => return Err(timeout()),
        };
        if !tools.contains(tool) {
            return Err(McpError::UnknownTool {
                server: server.to_string(),
                tool: tool.to_string(),
            });
        }
        match call(&conn, &tools, tool, arguments, &options, deadline).await {
            Ok(output) => Ok(output),
            Err(CallFailure::Timeout) => Err(timeout()),
            Err(failure) => Err(self.failed(&slot, &conn, server, tool, failure).await),
        }
    }

    /// The server's resources and resource templates (none when it has no resources
    /// capability).
    pub async fn resources(
        &self,
        server: &str,
    ) -> Result<(Vec<McpResource>, Vec<McpResourceTemplate>), McpError> {
        self.on_connection(server, "resources/list", |conn| async move {
            if !conn.has_capability(|c| c.resources.is_some()) {
                return Ok(Ok((Vec::new(), Vec::new())));
            }
            let listed = conn.peer.list_all_resources().await?;
            // Templates are optional even for a server with resources.
            let templates = conn
                .peer
                .list_all_resource_templates()
                .await
                .unwrap_or_default();
            Ok(Ok((
                listed.into_iter().map(resources::resource).collect(),
                templates.into_iter().map(resources::template).collect(),
            )))
        })
        .await
    }

    /// Reads one resource by its URI.
    pub async fn read_resource(
        &self,
        server: &str,
        uri: &str,
    ) -> Result<Vec<McpResourceContent>, McpError> {
        let params = resources::read_params(uri);
        self.on_connection(server, "resources/read", |conn| async move {
            let read = conn.peer.read_resource(params).await?;
            Ok(resources::contents(read.contents))
        })
        .await
    }

    /// The server's prompts (none when it has no prompts capability).
    pub async fn prompts(&self, server: &str) -> Result<Vec<McpPrompt>, McpError> {
        self.on_connection(server, "prompts/list", |conn| async move {
            if !conn.has_capability(|c| c.prompts.is_some()) {
                return Ok(Ok(Vec::new()));
            }
            let listed = conn.peer.list_all_prompts().await?;
            Ok(Ok(listed.into_iter().map(resources::prompt).collect()))
        })
        .await
    }

    /// One prompt's messages for the arguments given.
    pub async fn get_prompt(
        &self,
        server: &str,
        name: &str,
        arguments: serde_json::Map<String, Value>,
    ) -> Result<McpPromptResult, McpError> {
        let params = resources::prompt_params(name, arguments);
        self.on_connection(server, "prompts/get", |conn| async move {
            let answer = conn.peer.get_prompt_once(params).await?;
            Ok(resources::prompt_result(answer))
        })
        .await
    }

    /// Runs `f` on the server's connection (connecting if needed) within the listing timeout,
    /// with the same error mapping as the tools: a sign-in, a lost connection, the server's
    /// JSON-RPC error. `f`'s inner `Err` is an answer this client cannot use.
    async fn on_connection<T, F, Fut>(&self, server: &str, what: &str, f: F) -> Result<T, McpError>
    where
        F: FnOnce(Arc<Connection>) -> Fut,
        Fut: std::future::Future<Output = Result<Result<T, String>, ServiceError>>,
    {
        let slot = self.slot(server)?;
        let conn = slot
            .connection(None)
            .await
            .map_err(|e| connect_error(server, e))?;
        let answer = tokio::time::timeout(super::connection::LIST_TIMEOUT, f(conn.clone()))
            .await
            .map_err(|_| McpError::Timeout {
                server: server.to_string(),
                tool: what.to_string(),
                after_ms: u64::try_from(super::connection::LIST_TIMEOUT.as_millis())
                    .unwrap_or(u64::MAX),
            })?;
        match answer {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(message)) => Err(McpError::InvalidResponse {
                server: server.to_string(),
                tool: what.to_string(),
                message,
            }),
            Err(e) if wants_sign_in(&e) => {
                Err(self.refused(&slot, &conn, e.auth_challenge()).await)
            }
            Err(e) => Err(named(list_error(&slot, &conn, server, e).await, what)),
        }
    }

    pub fn status(&self, server: &str) -> Option<ServerStatus> {
        self.lock().get(server).map(|slot| slot.status())
    }

    /// Where the server's sign-in stands (stdio servers never sign in).
    pub async fn sign_in_state(&self, server: &str) -> Result<SignInState, McpError> {
        let slot = self.slot(server)?;
        match &slot.def.transport {
            McpTransport::Http { url, .. } => Ok(self
                .inner
                .oauth
                .state(server, url, slot.persist_tokens)
                .await),
            McpTransport::Stdio { .. } => Ok(SignInState::NotNeeded),
        }
    }

    /// Starts a browser sign-in to an HTTP server: the URL to open, and the id that
    /// [`McpHub::finish_sign_in`] waits on.
    pub async fn begin_sign_in(&self, server: &str) -> Result<SignInStart, McpError> {
        let slot = self.slot(server)?;
        let McpTransport::Http { url, oauth, .. } = &slot.def.transport else {
            return Err(McpError::Connect {
                server: server.to_string(),
                message: "a stdio server has no sign-in (its credentials are its environment)"
                    .into(),
            });
        };
        self.inner
            .oauth
            .begin(server, url, oauth, slot.persist_tokens)
            .await
            .map_err(|message| McpError::Connect {
                server: server.to_string(),
                message: format!("cannot start the sign-in: {message}"),
            })
    }

    /// Waits for a started sign-in's redirect (at most `wait`), stores its tokens and
    /// reconnects the server with them on its next use. Returns the server's name.
    pub async fn finish_sign_in(
        &self,
        id: &str,
        wait: std::time::Duration,
    ) -> Result<String, McpError> {
        let server =
            self.inner
                .oauth
                .finish(id, wait)
                .await
                .map_err(|message| McpError::SignInFailed {
                    message: format!("the sign-in did not finish: {message}"),
                })?;
        if let Ok(slot) = self.slot(&server) {
            slot.shutdown().await;
        }
        Ok(server)
    }

    /// Forgets the server's sign-in (its tokens leave the keychain) and disconnects it.
    pub async fn sign_out(&self, server: &str) -> Result<(), McpError> {
        let slot = self.slot(server)?;
        self.inner
            .oauth
            .sign_out(server)
            .await
            .map_err(|message| McpError::Connect {
                server: server.to_string(),
                message: format!("cannot forget the sign-in: {message}"),
            })?;
        slot.shutdown().await;
        Ok(())
    }

    /// Forgets a saved server's tokens by its name and URL (after the server is removed).
    pub async fn forget_sign_in(&self, server: &str, url: &str) -> Result<(), String> {
        self.inner.oauth.forget(server, url, true).await
    }

    /// The last ~4 KB the server's process wrote to stderr (stdio servers; across restarts).
    pub fn stderr_tail(&self, server: &str) -> Option<String> {
        self.lock().get(server).and_then(|slot| slot.tail.text())
    }

    /// How many calls to `server` hold one of its call slots now (running or connecting).
    pub fn calls_in_flight(&self, server: &str) -> Option<usize> {
        self.lock()
            .get(server)
            .map(|slot| slot.max_calls - slot.calls.available_permits())
    }

    /// Closes every connection and stops every child process. The servers stay configured;
    /// a later use connects again.
    pub async fn shutdown(&self) {
        let slots: Vec<Arc<ServerSlot>> = self.lock().values().cloned().collect();
        futures::future::join_all(slots.iter().map(|slot| slot.shutdown())).await;
    }

    /// A request refused for want of a sign-in: noted (with the challenge, which carries the
    /// scopes to ask for), and the connection dropped so the next use signs in anew.
    async fn refused(
        &self,
        slot: &ServerSlot,
        conn: &Arc<Connection>,
        challenge: Option<&str>,
    ) -> McpError {
        let reason = if challenge.is_some_and(|c| c.contains("insufficient_scope")) {
            "the server needs more scopes than the sign-in granted (HTTP 403 insufficient_scope)"
        } else {
            "the server refused the sign-in's token (HTTP 401), and it could not be refreshed"
        };
        if let McpTransport::Http { url, .. } = &slot.def.transport {
            self.inner.oauth.note_refused(
                &slot.def.name,
                url,
                slot.persist_tokens,
                reason,
                challenge,
            );
        }
        slot.connection_lost(conn, reason.to_string()).await;
        McpError::SignInRequired {
            server: slot.def.name.clone(),
            reason: reason.to_string(),
        }
    }

    fn slot(&self, server: &str) -> Result<Arc<ServerSlot>, McpError> {
        self.lock()
            .get(server)
            .cloned()
            .ok_or_else(|| McpError::UnknownServer(server.to_string()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<ServerSlot>>> {
        self.inner.servers.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A removed or replaced server is closed without making the caller wait; outside a runtime
/// dropping it is enough (its child is killed on drop).
fn close_in_background(slot: Arc<ServerSlot>) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move { slot.shutdown().await });
    }
}

/// `list_error` names what failed `tools/list`; another request names itself.
fn named(error: McpError, what: &str) -> McpError {
    match error {
        McpError::Rpc {
            server,
            code,
            message,
            ..
        } => McpError::Rpc {
            server,
            tool: what.to_string(),
            code,
            message,
        },
        McpError::Timeout {
            server, after_ms, ..
        } => McpError::Timeout {
            server,
            tool: what.to_string(),
            after_ms,
        },
        McpError::InvalidResponse {
            server, message, ..
        } => McpError::InvalidResponse {
            server,
            tool: what.to_string(),
            message,
        },
        other => other,
    }
}

fn wants_sign_in(e: &ServiceError) -> bool {
    e.is_authorization_required() || e.auth_challenge().is_some()
}

fn connect_error(server: &str, e: SlotError) -> McpError {
    let message = match e {
        SlotError::SignIn(reason) => {
            return McpError::SignInRequired {
                server: server.to_string(),
                reason,
            }
        }
        SlotError::Connect(message) => message,
        SlotError::Deadline => "the caller's deadline passed while connecting".into(),
    };
    McpError::Connect {
        server: server.to_string(),
        message,
    }
}

/// A failed `tools/list`: a dead transport is a lost connection; anything else is the
/// server's answer about listing (named as the tool `tools/list`).
async fn list_error(
    slot: &ServerSlot,
    conn: &Arc<Connection>,
    server: &str,
    e: ServiceError,
) -> McpError {
    let tool = "tools/list".to_string();
    let server_name = server.to_string();
    match e {
        ServiceError::McpError(data) => McpError::Rpc {
            server: server_name,
            tool,
            code: i64::from(data.code.0),
            message: data.message.to_string(),
        },
        ServiceError::Timeout { timeout } => McpError::Timeout {
            server: server_name,
            tool,
            after_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        },
        ServiceError::TransportClosed
        | ServiceError::TransportSend(_)
        | ServiceError::Cancelled { .. } => lost(slot, conn, server, e.to_string()).await,
        other => McpError::InvalidResponse {
            server: server_name,
            tool,
            message: other.to_string(),
        },
    }
}

/// The connection died under a request: forget it (the next use reconnects after the
/// backoff) and report it with the process's last stderr lines.
async fn lost(slot: &ServerSlot, conn: &Arc<Connection>, server: &str, why: String) -> McpError {
    conn.wait_stderr_eof().await;
    slot.connection_lost(conn, why).await;
    McpError::Closed {
        server: server.to_string(),
        stderr_tail: slot.tail.text(),
    }
}
