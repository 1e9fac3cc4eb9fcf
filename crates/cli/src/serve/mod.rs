//! `waymark serve`: the headless door. Every command of the one API as
//! `POST /api/v1/{command}`, the event stream over SSE, the OpenAPI document and a page that
//! renders it; bearer-token auth (the web app too: no cookie another local port could
//! replay); the worker runs in this process.

mod auth;
mod docs;
mod listener;
mod routes;
mod webapp;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use waymark_api::Api;

pub use auth::Auth;

/// What every request handler shares.
pub struct ServerState {
    pub api: Api,
    pub auth: Auth,
    pub webhooks: waymark_agent::triggers::WebhookReceiver,
    /// The built web app every other GET serves.
    pub ui_dir: PathBuf,
    /// Event streams open at once; one over the cap is answered 503.
    pub streams: Arc<Semaphore>,
    /// Cancelled when the server stops: event streams end instead of holding the stop open.
    pub stop: CancellationToken,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; loopback by default (port 0 picks a free one)
    #[arg(long, default_value = "127.0.0.1:4680")]
    pub addr: SocketAddr,
    /// A file holding the API token (at least 16 characters); without it a token is generated
    /// once into the data directory (owner-only) and reused
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Connections open at once; each one over it is answered 503 and closed
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_connections: u32,
    /// Event streams (SSE) open at once; each one over it is answered 503
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub max_event_streams: u32,
    /// A client must send a request's headers within this time (`10s`, `10`, `500ms`); an idle
    /// connection is closed after it too
    #[arg(long, default_value = "10s", value_parser = listener::parse_timeout)]
    pub header_timeout: std::time::Duration,
}

pub async fn serve(db: &Path, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let data_dir = waymark_engine::paths::data_dir();
    let token = auth::load_token(args.token_file.as_deref(), &data_dir)?;
    let app = crate::commands::open_app(db).await?;
    // The offline demo agent is always ready to run (no network, no API key).
    let exe = std::env::current_exe().context("locating this executable")?;
    waymark_agent::demo::install(&app, &exe).map_err(|e| anyhow::anyhow!(e))?;
    let worker = app.engine.start_worker().await?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener.local_addr()?;
    let webhooks = waymark_agent::triggers::WebhookReceiver::new(app.clone())
        .map_err(|e| anyhow::anyhow!(e))?;
    // Cron triggers fire while the server runs; a tick missed while it was stopped fires once.
    let cron = waymark_agent::triggers::CronScheduler::spawn(app.clone())
        .map_err(|e| anyhow::anyhow!(e))?;
    let state = Arc::new(ServerState {
        api: Api::new(app.clone()),
        auth: Auth::new(token, addr.port(), addr.ip()),
        webhooks,
        ui_dir: webapp::ui_dir(),
        streams: Arc::new(Semaphore::new(args.max_event_streams as usize)),
        stop: CancellationToken::new(),
    });
    let base = format!("http://{addr}");
    println!("Waymark API on {base} (OpenAPI: {base}/openapi.json, docs: {base}/api/docs)");
    println!("Open in a browser: {base}/#token={}", state.auth.token());
    // The token is printed once (the link above); the hints name it by a variable.
    let token_path = args
        .token_file
        .clone()
        .unwrap_or_else(|| data_dir.join("api-token"));
    println!(
        "For curl: export WAYMARK_TOKEN=\"$(cat '{}')\"",
        token_path.display()
    );
    let auth = "-H \"Authorization: Bearer $WAYMARK_TOKEN\"";
    let input = serde_json::json!({
        "agent": waymark_agent::demo::DEMO_AGENT,
        "input": waymark_agent::demo::DEMO_INPUT,
    });
    println!("Start the demo run: curl -s {auth} -d '{input}' {base}/api/v1/runs_start");
    println!(
        "Follow it: curl -sN {auth} '{base}/api/v1/events?run=RUN_ID'; approve its email: curl -s {auth} -d '{{\"run_id\":\"RUN_ID\",\"step\":\"approval/4.1\"}}' {base}/api/v1/runs_approve"
    );
    use std::io::Write as _;
    std::io::stdout().flush()?;
    tracing::info!(%addr, "serving the API");
    let stop = state.stop.clone();
    let router = routes::router(state);
    let limits = listener::Limits {
        max_connections: args.max_connections as usize,
        header_timeout: args.header_timeout,
    };
    let signal = async {
        crate::commands::shutdown_signal().await;
        tracing::info!("stopping (Ctrl-C again to exit at once)");
        // A second Ctrl-C (or SIGTERM) does not wait for anything.
        tokio::spawn(async {
            crate::commands::shutdown_signal().await;
            eprintln!("waymark serve: stopped at once");
            std::process::exit(130);
        });
    };
    listener::run(listener, router, limits, stop, signal).await;
    cron.stop().await;
    worker.shutdown().await;
    app.hub().shutdown().await;
    Ok(ExitCode::SUCCESS)
}
