//! SKELETON: the API the rest of the crate uses; bodies to be written (rmcp client).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::{CallOptions, McpError, McpServerDef, McpTool, ServerStatus, ToolCallOutput};

/// Shared by every run of a process: clone it freely.
#[derive(Clone, Default)]
pub struct McpHub {
    servers: Arc<Mutex<BTreeMap<String, McpServerDef>>>,
}

impl McpHub {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a server's definition (a replaced one is disconnected).
    pub fn set_server(&self, def: McpServerDef) {
        let mut s = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        s.insert(def.name.clone(), def);
    }

    pub fn remove_server(&self, name: &str) {
        let mut s = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        s.remove(name);
    }

    /// The configured servers' names, sorted.
    pub fn servers(&self) -> Vec<String> {
        let s = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        s.keys().cloned().collect()
    }

    /// The server's tools (connecting if needed), from the cache when it is fresh.
    pub async fn tools(&self, server: &str) -> Result<Vec<McpTool>, McpError> {
        Err(McpError::UnknownServer(server.to_string()))
    }

    pub async fn call_tool(
        &self,
        server: &str,
        tool: &str,
        arguments: Value,
        options: CallOptions,
    ) -> Result<ToolCallOutput, McpError> {
        let _ = (tool, arguments, options);
        Err(McpError::UnknownServer(server.to_string()))
    }

    pub fn status(&self, server: &str) -> Option<ServerStatus> {
        let s = self.servers.lock().unwrap_or_else(|e| e.into_inner());
        s.get(server).map(|_| ServerStatus::Idle)
    }

    /// Closes every connection and stops every child process.
    pub async fn shutdown(&self) {}
}
