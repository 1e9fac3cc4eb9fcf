//! The hub's side of MCP Tasks for a caller that journals a task's handle and polls it
//! itself (an agent run, across restarts): follow, answer, cancel.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::{connect_error, McpHub};
use crate::mcp::call::CallFailure;
use crate::mcp::connection::Connection;
use crate::mcp::slot::ServerSlot;
use crate::mcp::tasks::{self, McpTaskHandle};
use crate::mcp::{CallOptions, McpError, ToolCallOutput};

impl McpHub {
    /// Polls the task `handle` of a call of `tool` until it ends, or until it needs input
    /// when `options.return_input_required` is set (the output then says what it asks).
    pub async fn follow_task(
        &self,
        server: &str,
        tool: &str,
        handle: &McpTaskHandle,
        options: CallOptions,
    ) -> Result<ToolCallOutput, McpError> {
        let (slot, conn) = self.task_connection(server).await?;
        let tools = conn.tools().await.map_err(|e| McpError::Connect {
            server: server.to_string(),
            message: e.to_string(),
        })?;
        match tasks::follow(&conn, &tools, tool, handle, &options).await {
            Ok(output) => Ok(output),
            Err(failure) => Err(self.failed(&slot, &conn, server, tool, failure).await),
        }
    }

    /// Delivers answers to the input a task waits for.
    pub async fn update_task(
        &self,
        server: &str,
        tool: &str,
        task_id: &str,
        responses: BTreeMap<String, Value>,
    ) -> Result<(), McpError> {
        let (slot, conn) = self.task_connection(server).await?;
        self.task_result(
            &slot,
            &conn,
            server,
            tool,
            tasks::update(&conn, task_id, responses).await,
        )
        .await
    }

    /// Asks the server to cancel a task.
    pub async fn cancel_task(
        &self,
        server: &str,
        tool: &str,
        task_id: &str,
    ) -> Result<(), McpError> {
        let (slot, conn) = self.task_connection(server).await?;
        self.task_result(
            &slot,
            &conn,
            server,
            tool,
            tasks::cancel(&conn, task_id).await,
        )
        .await
    }

    async fn task_connection(
        &self,
        server: &str,
    ) -> Result<(Arc<ServerSlot>, Arc<Connection>), McpError> {
        let slot = self.slot(server)?;
        let conn = slot
            .connection(None)
            .await
            .map_err(|e| connect_error(server, e))?;
        Ok((slot, conn))
    }

    async fn task_result(
        &self,
        slot: &ServerSlot,
        conn: &Arc<Connection>,
        server: &str,
        tool: &str,
        result: Result<(), CallFailure>,
    ) -> Result<(), McpError> {
        match result {
            Ok(()) => Ok(()),
            Err(failure) => Err(self.failed(slot, conn, server, tool, failure).await),
        }
    }
}
