//! Helpers shared by the test files: a client that records progress notifications, and
//! short ways to call a tool and read its answer.
#![allow(dead_code)] // each test file uses a different subset

pub mod asker;
pub mod spawn;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ClientRequest,
    Implementation, ProgressNotificationParam, ProtocolVersion, Request,
};
use rmcp::service::{NotificationContext, PeerRequestOptions, RunningService, ServiceError};
use rmcp::{ClientHandler, RoleClient};
use serde_json::Value;

pub type Client = RunningService<RoleClient, RecordingClient>;

/// A client that keeps every progress notification it receives.
#[derive(Debug, Clone)]
pub struct RecordingClient {
    config: ClientConfig,
    pub progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

impl RecordingClient {
    /// rmcp's default client config. It offers the newest version (2026-07-28) in
    /// `initialize`; an rmcp server answers that with 2025-11-25, the newest version that
    /// still has the handshake (other servers may refuse it, see STACK.md).
    pub fn plain() -> Self {
        Self::with_config(ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("demo-tools-test", "0"),
        ))
    }

    /// A client using the `initialize` handshake, as waymark does with published servers.
    pub fn with_initialize() -> Self {
        Self::with_config(
            ClientConfig::new(
                ClientCapabilities::default(),
                Implementation::new("demo-tools-test", "0"),
            )
            .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE),
        )
    }

    fn with_config(config: ClientConfig) -> Self {
        Self {
            config,
            progress: Arc::default(),
        }
    }

    pub fn progress_count(&self) -> usize {
        self.progress.lock().unwrap().len()
    }

    /// Waits until at least `count` progress notifications arrived and returns them sorted
    /// by progress. rmcp's client runs each notification handler in a task of its own, so a
    /// notification sent before the response may be handled after it, and out of order.
    pub async fn wait_for_progress(&self, count: usize) -> Vec<ProgressNotificationParam> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while self.progress_count() < count && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut progress = self.progress.lock().unwrap().clone();
        progress.sort_by(|a, b| a.progress.total_cmp(&b.progress));
        progress
    }
}

impl ClientHandler for RecordingClient {
    fn get_info(&self) -> ClientConfig {
        self.config.clone()
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }
}

pub fn params(name: &str, args: Value) -> CallToolRequestParams {
    let arguments = args
        .as_object()
        .cloned()
        .expect("tool arguments are an object");
    CallToolRequestParams::new(name.to_owned()).with_arguments(arguments)
}

/// Calls a tool and returns its result (a tool error is still `Ok`, with `is_error`).
pub async fn call(client: &Client, name: &str, args: Value) -> CallToolResult {
    client
        .call_tool(params(name, args))
        .await
        .unwrap_or_else(|e| panic!("calling {name}: {e}"))
}

/// Calls a tool with a client-side timeout.
pub async fn call_with_timeout(
    client: &Client,
    name: &str,
    args: Value,
    timeout: Duration,
) -> Result<CallToolResult, ServiceError> {
    call_with_options(
        client,
        name,
        args,
        PeerRequestOptions::with_timeout(timeout),
    )
    .await
}

/// Calls a tool with request options (timeouts, resetting them on progress).
pub async fn call_with_options(
    client: &Client,
    name: &str,
    args: Value,
    options: PeerRequestOptions,
) -> Result<CallToolResult, ServiceError> {
    let request = ClientRequest::CallToolRequest(Request::new(params(name, args)));
    let handle = client.send_request_with_option(request, options).await?;
    match handle.await_response().await? {
        rmcp::model::ServerResult::CallToolResult(result) => Ok(result),
        _ => Err(ServiceError::UnexpectedResponse),
    }
}

pub fn is_error(result: &CallToolResult) -> bool {
    result.is_error == Some(true)
}

/// The text of the first content block.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|block| block.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// The structured content, which every successful demo tool answer carries.
pub fn structured(result: &CallToolResult) -> Value {
    assert!(!is_error(result), "tool error: {}", text(result));
    result
        .structured_content
        .clone()
        .expect("structured content")
}

pub async fn configure_faults(client: &Client, args: Value) {
    let result = call(client, "configure_faults", args).await;
    assert!(
        !is_error(&result),
        "configure_faults failed: {}",
        text(&result)
    );
}
