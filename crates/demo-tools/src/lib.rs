//! `waymark-demo-tools`: a small MCP server of our own, for the demo and for fault tests.
//!
//! Tools: `lookup_order` (read-only), `lookup_company` (read-only: enriches a sales lead from
//! a domain or an email address, see [`companies`]), `set_order_note` (idempotent),
//! `send_email` (destructive: appends one JSON line to the outbox file, the side-effect
//! ledger), `slow_report` (progress notifications), and `configure_faults` (test control).
//! Fault switches per tool are described in [`faults`].
//!
//! For tests of MCP's interactive parts: `confirm_refund` (form elicitation), `link_account`
//! (URL elicitation) and `summarize_order` (sampling) ask the client mid-call, by
//! `input_required` on 2026-07-28 and by a request to the client on older revisions
//! ([`interactive`]); `build_report` runs as a task when the client declares the tasks
//! extension ([`tasks`]). Every `tools/call` is recorded ([`calls`]); over HTTP the record,
//! the tasks and the links are served beside `/mcp` ([`admin`]).
//!
//! Served over stdio ([`serve_stdio`]) or Streamable HTTP ([`serve_http`], endpoint
//! [`MCP_PATH`]). In stdio mode stdout is the protocol: log to stderr only.
//!
//! For tests of MCP clients it can also narrow the protocol revisions it answers
//! ([`revision::ProtocolMode`]) and, over HTTP, act as an OAuth 2.1 protected resource
//! ([`protected`]).

pub mod admin;
pub mod calls;
mod catalog;
pub mod companies;
pub mod error;
pub mod faults;
pub mod interactive;
pub mod orders;
pub mod outbox;
pub mod protected;
pub mod revision;
pub mod server;
pub mod tasks;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::ServiceExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use error::DemoToolsError;
pub use faults::{FaultSwitches, FaultTable, FAULTS_ENV};
pub use protected::ProtectedResource;
pub use revision::ProtocolMode;
pub use server::{DemoTools, SharedState};

/// The path of the Streamable HTTP endpoint.
pub const MCP_PATH: &str = "/mcp";

/// How to run the server: where the outbox is, which faults are on at start, which protocol
/// revisions it answers, and whether its HTTP endpoint needs OAuth tokens.
#[derive(Debug)]
pub struct DemoToolsConfig {
    pub outbox: PathBuf,
    pub faults: FaultTable,
    pub protocol: ProtocolMode,
    /// Protected-resource mode; HTTP only.
    pub protected: Option<ProtectedResource>,
}

impl DemoToolsConfig {
    /// A healthy server writing its outbox to `outbox`.
    pub fn new(outbox: impl Into<PathBuf>) -> Self {
        Self {
            outbox: outbox.into(),
            faults: FaultTable::default(),
            protocol: ProtocolMode::default(),
            protected: None,
        }
    }

    /// Like [`new`](Self::new), with the faults of [`FAULTS_ENV`] switched on.
    pub fn from_env(outbox: impl Into<PathBuf>) -> Result<Self, DemoToolsError> {
        Ok(Self {
            faults: FaultTable::from_env()?,
            ..Self::new(outbox)
        })
    }

    pub fn with_faults(mut self, faults: FaultTable) -> Self {
        self.faults = faults;
        self
    }

    pub fn with_protocol(mut self, protocol: ProtocolMode) -> Self {
        self.protocol = protocol;
        self
    }

    pub fn with_protected_resource(mut self, protected: ProtectedResource) -> Self {
        self.protected = Some(protected);
        self
    }

    /// The state every connection of the process shares.
    pub fn into_state(self) -> Arc<SharedState> {
        self.into_state_at(None)
    }

    /// The same, for a server whose HTTP origin (`http://HOST:PORT`) is known.
    fn into_state_at(self, http_origin: Option<String>) -> Arc<SharedState> {
        Arc::new(SharedState {
            faults: self.faults,
            orders: Default::default(),
            outbox: self.outbox,
            protocol: self.protocol,
            calls: Default::default(),
            tasks: Default::default(),
            http_origin,
        })
    }
}

/// Serves one MCP client on stdin/stdout until it closes the connection.
pub async fn serve_stdio(config: DemoToolsConfig) -> Result<(), DemoToolsError> {
    if config.protected.is_some() {
        return Err(DemoToolsError::Config(
            "protected-resource mode (--authorization-server) needs --http".to_owned(),
        ));
    }
    tracing::info!(outbox = %config.outbox.display(), protocol = %config.protocol, "serving MCP on stdio");
    let server = DemoTools::new(config.into_state());
    let running = server.serve(rmcp::transport::stdio_pipes()).await?;
    let reason = running.waiting().await?;
    tracing::info!(?reason, "stdio connection ended");
    Ok(())
}

/// What the `waymark-demo-tools` binary and `waymark demo-tools` do: serve stdio, or with
/// `http` serve Streamable HTTP there, print the endpoint URL as the one line on stdout (so a
/// caller that asked for port 0 learns the port) and stop cleanly on Ctrl-C.
pub async fn serve_until_ctrl_c(
    config: DemoToolsConfig,
    http: Option<SocketAddr>,
) -> Result<(), DemoToolsError> {
    let Some(addr) = http else {
        return serve_stdio(config).await;
    };
    let listener = bind_http(addr).await?;
    let local = listener
        .local_addr()
        .map_err(|source| DemoToolsError::Http {
            addr: addr.to_string(),
            source,
        })?;
    announce_endpoint(&format!("http://{local}{MCP_PATH}"));
    let shutdown = CancellationToken::new();
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        // Without a signal handler the process would still end on Ctrl-C; this lets the
        // open SSE streams close cleanly first.
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    serve_http_listener(config, listener, shutdown).await
}

fn announce_endpoint(url: &str) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    // If nobody reads stdout the server still works; the URL is also in the log.
    let _ = writeln!(stdout, "{url}");
    let _ = stdout.flush();
}

/// Binds `addr` and serves Streamable HTTP at [`MCP_PATH`] until the process ends.
pub async fn serve_http(config: DemoToolsConfig, addr: SocketAddr) -> Result<(), DemoToolsError> {
    let listener = bind_http(addr).await?;
    serve_http_listener(config, listener, CancellationToken::new()).await
}

/// Binds a listener for [`serve_http_listener`]; port 0 picks a free port (read it back with
/// `local_addr`).
pub async fn bind_http(addr: SocketAddr) -> Result<TcpListener, DemoToolsError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| DemoToolsError::Http {
            addr: addr.to_string(),
            source,
        })
}

/// Serves Streamable HTTP on an already bound listener until `shutdown` is cancelled.
/// Every session (and, for stateless requests, every request) gets a handler over the same
/// shared state, so faults set on one connection apply to all.
pub async fn serve_http_listener(
    config: DemoToolsConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), DemoToolsError> {
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "unknown address".to_owned());
    tracing::info!(outbox = %config.outbox.display(), protocol = %config.protocol, "serving MCP on http://{addr}{MCP_PATH}");
    let protected = config.protected.clone();
    let origin = format!("http://{addr}");
    let state = config.into_state_at(Some(origin.clone()));
    let admin = admin::routes(state.clone());
    let http_config = StreamableHttpServerConfig::default()
        .with_cancellation_token(shutdown.child_token())
        .with_legacy_session_mode(state.protocol.http_sessions());
    let service = StreamableHttpService::new(
        move || Ok(DemoTools::new(state.clone())),
        Arc::new(LocalSessionManager::default()),
        http_config,
    );
    let router = axum::Router::new().nest_service(MCP_PATH, service);
    let router = match protected {
        Some(protected) => protected::protect(router, protected, &origin)?,
        None => router,
    };
    let router = router.merge(admin);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
        .map_err(|source| DemoToolsError::Http { addr, source })
}
