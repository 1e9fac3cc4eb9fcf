//! Thin wrapper around the library: `waymark-demo-tools [--http ADDR] [--outbox FILE]`.
//! Logs go to stderr (stdout is the MCP protocol in stdio mode); RUST_LOG overrides the
//! default filter `info,rmcp=warn` (rmcp logs every message at info). In HTTP mode the one line on
//! stdout is the endpoint URL, so a test that asked for port 0 can learn the real port.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tokio_util::sync::CancellationToken;
use waymark_demo_tools::{
    bind_http, serve_http_listener, serve_stdio, DemoToolsConfig, DemoToolsError, MCP_PATH,
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
    let config = DemoToolsConfig::from_env(outbox)?;
    let Some(addr) = args.http else {
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
    let mut stdout = std::io::stdout().lock();
    // If nobody reads stdout the server still works; the URL is also in the log.
    let _ = writeln!(stdout, "{url}");
    let _ = stdout.flush();
}
