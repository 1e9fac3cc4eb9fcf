//! `waymark worker`: execute runs until told to stop.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use waymark_host::{Host, HostOptions, WorkerOptions, DEFAULT_SHUTDOWN_LIMIT};

use super::shutdown_signal;
use crate::cli::WorkerArgs;

pub async fn worker(db: &Path, a: WorkerArgs) -> anyhow::Result<ExitCode> {
    let worker = WorkerOptions {
        max_runs: a.max_runs.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        lease: a.lease_secs.map(Duration::from_secs),
        labels: a.labels,
    };
    let mut options = HostOptions::new(db).actor("cli");
    options.worker = Some(worker);
    let host = super::started(Host::start(options).await?)?;
    tracing::info!(
        db = %db.display(),
        functions = %host.api().functions().join(", "),
        "worker ready; stop it with Ctrl-C or SIGTERM"
    );
    shutdown_signal().await;
    tracing::info!("stopping: letting attempts in flight finish, then giving runs back");
    // The worker gives its runs back, then the MCP server processes the runs started stop.
    host.shutdown(DEFAULT_SHUTDOWN_LIMIT).await;
    Ok(ExitCode::SUCCESS)
}
