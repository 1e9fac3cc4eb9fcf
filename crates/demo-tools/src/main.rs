//! Thin wrapper around the library: `waymark-demo-tools [--http ADDR] [--outbox FILE]
//! [--protocol both|2026-07-28|2025-06-18] [--authorization-server URL [--scope S]...]`.
//! Logs go to stderr (stdout is the MCP protocol in stdio mode); RUST_LOG overrides the
//! default filter `info,rmcp=warn` (rmcp logs every message at info). In HTTP mode the one line on
//! stdout is the endpoint URL, so a test that asked for port 0 can learn the real port; beside
//! `/mcp` it serves `GET /admin/calls`, `GET /admin/tasks`, `POST /admin/expire-tasks` and the
//! `GET /link/{id}` pages of `link_account` (see the library's `admin` module).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use waymark_demo_tools::{
    serve_until_ctrl_c, DemoToolsConfig, DemoToolsError, ProtectedResource, ProtocolMode,
};

#[derive(Debug, Parser)]
#[command(
    name = "waymark-demo-tools",
    about = "Demo MCP server with fault switches (faults at start: DEMO_TOOLS_FAULTS='{\"send_email\":{\"fail_next\":2}}')"
)]
struct Args {
    /// Serve Streamable HTTP on this address (e.g. 127.0.0.1:0) instead of stdio.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// The outbox file that send_email appends to.
    #[arg(long, value_name = "FILE", env = "DEMO_TOOLS_OUTBOX")]
    outbox: Option<PathBuf>,
    /// The protocol revisions to answer: `both` (initialize and server/discover),
    /// `2026-07-28` (stateless only: initialize is refused) or `2025-06-18` (initialize only,
    /// answered with that version; server/discover is an unknown method).
    #[arg(long, value_name = "MODE", default_value = "both")]
    protocol: ProtocolMode,
    /// Protected-resource mode: /mcp needs a bearer JWT issued by this OAuth authorization
    /// server (its issuer URL), with `aud` = this server's /mcp URL.
    #[arg(long, value_name = "URL", requires = "http")]
    authorization_server: Option<String>,
    /// A scope every token must grant (repeatable); needs --authorization-server.
    #[arg(
        long = "scope",
        value_name = "SCOPE",
        requires = "authorization_server"
    )]
    scopes: Vec<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rmcp=warn")),
        )
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), DemoToolsError> {
    let outbox = args
        .outbox
        .unwrap_or_else(waymark_demo_tools::outbox::default_outbox_path);
    let mut config = DemoToolsConfig::from_env(outbox)?.with_protocol(args.protocol);
    if let Some(authorization_server) = args.authorization_server {
        config = config.with_protected_resource(ProtectedResource {
            authorization_server,
            scopes: args.scopes,
        });
    }
    serve_until_ctrl_c(config, args.http).await
}
