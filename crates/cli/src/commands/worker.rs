//! `waymark worker` (execute runs until told to stop) and `waymark demo` (one run, in process).

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use waymark_engine::{StartOptions, WorkerConfig};

use super::runs::{finish_waited, settle};
use super::{open_engine, shutdown_signal};
use crate::cli::WorkerArgs;
use crate::examples;
use crate::output::emit;

pub async fn worker(db: &Path, a: WorkerArgs) -> anyhow::Result<ExitCode> {
    let mut config = WorkerConfig::default();
    if let Some(n) = a.max_runs {
        config.max_runs = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(s) = a.lease_secs {
        config.lease = Duration::from_secs(s);
    }
    let engine = open_engine(db).await?.with_worker_config(config);
    let worker = engine.start_worker().await?;
    tracing::info!(
        db = %db.display(),
        functions = %engine.registry().names().join(", "),
        "worker ready; stop it with Ctrl-C or SIGTERM"
    );
    shutdown_signal().await;
    tracing::info!("stopping: letting attempts in flight finish, then giving runs back");
    worker.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

pub async fn demo(db: &Path) -> anyhow::Result<ExitCode> {
    let engine = open_engine(db).await?;
    let worker = engine.start_worker().await?;
    let outcome = async {
        let id = engine
            .start_run(
                examples::ORDER,
                examples::sample_order(),
                StartOptions::default(),
            )
            .await?;
        eprintln!("started {} run {id} on {}", examples::ORDER, db.display());
        let settled = settle(&engine, id, None).await?;
        anyhow::Ok((id, settled))
    }
    .await;
    worker.shutdown().await;
    let (id, settled) = outcome?;
    let code = finish_waited(&engine, id, settled, false).await?;
    // Name the database only when the plain command would open another one.
    let db_flag = if db == waymark_engine::paths::default_db_path() {
        String::new()
    } else {
        format!("--db {} ", db.display())
    };
    emit(&format!(
        "\nInspect it again with: waymark {db_flag}runs show {id}"
    ))?;
    Ok(code)
}
