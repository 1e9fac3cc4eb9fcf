//! `waymark worker`: execute runs until told to stop.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use waymark_engine::WorkerConfig;

use super::{open_app, shutdown_signal};
use crate::cli::WorkerArgs;

pub async fn worker(db: &Path, a: WorkerArgs) -> anyhow::Result<ExitCode> {
    let mut config = WorkerConfig::default();
    if let Some(n) = a.max_runs {
        config.max_runs = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(s) = a.lease_secs {
        config.lease = Duration::from_secs(s);
    }
    let app = open_app(db).await?;
    let engine = app.engine.clone().with_worker_config(config);
    let worker = engine.start_worker().await?;
    tracing::info!(
        db = %db.display(),
        functions = %engine.registry().names().join(", "),
        "worker ready; stop it with Ctrl-C or SIGTERM"
    );
    shutdown_signal().await;
    tracing::info!("stopping: letting attempts in flight finish, then giving runs back");
    worker.shutdown().await;
    // Stops the MCP server processes the runs started.
    app.hub().shutdown().await;
    Ok(ExitCode::SUCCESS)
}
