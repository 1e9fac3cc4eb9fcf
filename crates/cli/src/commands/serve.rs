//! `waymark serve`: the headless door. A host with the worker, cron and the demo agent, and
//! the HTTP server over it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use waymark_host::{Host, HostOptions, DEFAULT_SHUTDOWN_LIMIT};
use waymark_server::{parse_timeout, ServeOptions, Server};

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
    #[arg(long, default_value = "10s", value_parser = parse_timeout)]
    pub header_timeout: std::time::Duration,
    /// Also serve only `POST /hooks/{agent}` on this address: the one port to forward from a
    /// tunnel or a reverse proxy (the API stays on --addr)
    #[arg(long, value_name = "ADDR")]
    pub hooks_addr: Option<SocketAddr>,
}

pub async fn serve(
    db: &Path,
    chosen_by: waymark_host::DatabaseChosenBy,
    args: ServeArgs,
) -> anyhow::Result<ExitCode> {
    let options = HostOptions::new(db).chosen_by(chosen_by);
    let host = super::started(Host::start(options.actor("api").serving()?).await?)?;
    let mut options = ServeOptions::new(args.addr);
    options.token_file = args.token_file;
    options.max_connections = args.max_connections as usize;
    options.max_event_streams = args.max_event_streams as usize;
    options.header_timeout = args.header_timeout;
    options.hooks_addr = args.hooks_addr;
    let token_path = options.token_path();
    let server = Server::bind(&host, options).await?;
    let addr = server.addr().unwrap_or(args.addr);
    let base = format!("http://{addr}");
    println!("Waymark API on {base} (OpenAPI: {base}/openapi.json, docs: {base}/api/docs)");
    println!("Open in a browser: {base}/#token={}", server.token());
    // The token is printed once (the link above); the hints name it by a variable.
    println!(
        "For curl: export WAYMARK_TOKEN=\"$(cat '{}')\"",
        token_path.display()
    );
    let auth = "-H \"Authorization: Bearer $WAYMARK_TOKEN\"";
    let demo = host.api().demo();
    let input = serde_json::json!({ "agent": demo.agent, "input": demo.input });
    println!("Start the demo run: curl -s {auth} -d '{input}' {base}/api/v1/runs_start");
    println!(
        "Follow it: curl -sN {auth} '{base}/api/v1/events?run=RUN_ID'; approve its email: curl -s {auth} -d '{{\"run_id\":\"RUN_ID\",\"step\":\"{}\"}}' {base}/api/v1/runs_approve",
        demo.approval_step
    );
    if let Some(hooks) = server.hooks_addr() {
        println!("Webhooks only on http://{hooks}/hooks/AGENT (forward this one to the outside)");
    }
    use std::io::Write as _;
    std::io::stdout().flush()?;
    tracing::info!(%addr, "serving the API");
    let signal = async {
        super::shutdown_signal().await;
        tracing::info!("stopping (Ctrl-C again to exit at once)");
        // A second Ctrl-C (or SIGTERM) does not wait for anything.
        tokio::spawn(async {
            super::shutdown_signal().await;
            eprintln!("waymark serve: stopped at once");
            std::process::exit(130);
        });
    };
    server.run(signal).await;
    host.shutdown(DEFAULT_SHUTDOWN_LIMIT).await;
    Ok(ExitCode::SUCCESS)
}
