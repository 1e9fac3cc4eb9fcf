//! A call's failure as the hub reports it.

use std::sync::Arc;

use super::{lost, McpHub};
use crate::mcp::call::CallFailure;
use crate::mcp::connection::Connection;
use crate::mcp::slot::ServerSlot;
use crate::mcp::McpError;

impl McpHub {
    /// A call's failure as the hub reports it, with the server's name (and stderr when it
    /// closed the connection).
    pub(super) async fn failed(
        &self,
        slot: &ServerSlot,
        conn: &Arc<Connection>,
        server: &str,
        tool: &str,
        failure: CallFailure,
    ) -> McpError {
        let (server_name, tool) = (server.to_string(), tool.to_string());
        match failure {
            CallFailure::Timeout => McpError::Timeout {
                server: server_name,
                tool,
                after_ms: 0,
            },
            CallFailure::Rpc { code, message } => McpError::Rpc {
                server: server_name,
                tool,
                code,
                message,
            },
            CallFailure::Invalid(message) => McpError::InvalidResponse {
                server: server_name,
                tool,
                message,
            },
            CallFailure::TaskLost(message) => McpError::TaskLost {
                server: server_name,
                tool,
                message,
            },
            CallFailure::TaskEnded(message) => McpError::TaskEnded {
                server: server_name,
                tool,
                message,
            },
            CallFailure::Closed(message) => lost(slot, conn, server, message).await,
            CallFailure::SignIn { challenge } => {
                self.refused(slot, conn, challenge.as_deref()).await
            }
        }
    }
}
