//! The hub: the configured servers by name, each with its lazily opened connection.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rmcp::service::ServiceError;
use serde_json::Value;
use tokio::time::Instant;

use super::call::{call, CallFailure};
use super::connection::Connection;
use super::slot::{ServerSlot, SlotError};
use super::{CallOptions, McpError, McpServerDef, McpTool, ServerStatus, ToolCallOutput};

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
}

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
            }),
        }
    }

    /// Adds or replaces a server's definition (a replaced one is disconnected; the same
    /// definition again keeps its connection).
    pub fn set_server(&self, def: McpServerDef) {
        let old = {
            let mut servers = self.lock();
            if servers.get(&def.name).is_some_and(|s| s.def == def) {
                return;
            }
            let slot = Arc::new(ServerSlot::new(def.clone(), self.inner.max_calls));
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
            Err(CallFailure::Rpc { code, message }) => Err(McpError::Rpc {
                server: server.to_string(),
                tool: tool.to_string(),
                code,
                message,
            }),
            Err(CallFailure::Invalid(message)) => Err(McpError::InvalidResponse {
                server: server.to_string(),
                tool: tool.to_string(),
                message,
            }),
            Err(CallFailure::Closed(message)) => Err(lost(&slot, &conn, server, message).await),
        }
    }

    pub fn status(&self, server: &str) -> Option<ServerStatus> {
        self.lock().get(server).map(|slot| slot.status())
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

fn connect_error(server: &str, e: SlotError) -> McpError {
    let message = match e {
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
