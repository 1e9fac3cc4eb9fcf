//! Recovery: a child process holds runs mid-step, is killed, and a new worker takes them over.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde_json::Value;
use tokio::runtime::Runtime;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;
use waymark_engine::{
    DurableFunction, Engine, EventKind, Registry, RunContext, SharedStore, SqliteStore,
    StartOptions, StepError, StepSpec, Store,
};

use crate::figures::{Settled, PATIENCE};
use crate::runtime;

/// Interrupted runs the recovery figure brings back.
pub(crate) const RECOVERY_RUNS: usize = 1000;

/// The child's side: N runs whose step blocks forever, `ready` once all attempts are journaled.
pub(crate) fn hold_runs(db: &Path, n: usize) -> Result<()> {
    // If the parent goes away without killing us, its end of our stdin closes: leave too.
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        std::process::exit(3);
    });
    let rt = runtime()?;
    rt.block_on(async {
        let mut registry = Registry::new();
        registry.register(DurableFunction::new(
            "hold",
            1,
            |ctx: RunContext, _input: Value| async move {
                ctx.step(StepSpec::retry_safe("block"), |_| {
                    std::future::pending::<Result<(), StepError>>()
                })
                .await?;
                Ok(Value::Null)
            },
        ));
        let store = SqliteStore::open(db)?;
        let mut live = store.live();
        let engine = Engine::new(store.clone() as SharedStore, registry);
        let _worker = engine.start_worker().await?;
        let mut starts = JoinSet::new();
        for _ in 0..n {
            let engine = engine.clone();
            starts.spawn(async move {
                engine
                    .start_run("hold", Value::Null, StartOptions::default())
                    .await
            });
        }
        while let Some(r) = starts.join_next().await {
            r??;
        }
        // The attempt markers are committed before their events are published.
        let mut started = HashSet::new();
        let count = || {
            store.with_connection(|c| {
                c.query_row(
                    "SELECT (SELECT count(*) FROM attempts)
                        + (SELECT count(*) FROM steps WHERE inline_attempt IS NOT NULL)",
                    [],
                    |r| r.get::<_, i64>(0),
                )
            })
        };
        while started.len() < n {
            match live.recv().await {
                Ok(e) => {
                    if let EventKind::AttemptStarted { .. } = e.kind {
                        started.insert(e.run_id);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    while (count()? as usize) < n {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => bail!("the store's writer stopped"),
            }
        }
        println!("ready");
        std::io::stdout().flush()?;
        // Hold everything until SIGKILL.
        std::future::pending::<()>().await;
        Ok(())
    })
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Ms from opening the store to every one of `RECOVERY_RUNS` interrupted runs executing again.
pub(crate) fn recovery_ms(rt: &Runtime, dir: &Path) -> Result<f64> {
    std::fs::create_dir_all(dir)?;
    let db = dir.join("waymark.db");
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let child = Command::new(exe)
        .arg("--hold-runs")
        .arg(&db)
        .arg(RECOVERY_RUNS.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start the holding child process")?;
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    match rx.recv_timeout(PATIENCE) {
        Ok(line) if line.trim() == "ready" => {}
        Ok(line) => bail!("the holding child said '{line}' instead of 'ready'"),
        Err(_) => bail!("the holding child did not get ready within {PATIENCE:?}"),
    }
    // SIGKILL: no shutdown, no lease released, the worker's lock file left behind.
    child.0.kill().context("cannot kill the holding child")?;
    child.0.wait()?;
    drop(child);

    rt.block_on(async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut registry = Registry::new();
        registry.register(DurableFunction::new(
            "hold",
            1,
            move |ctx: RunContext, _input: Value| {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(ctx.run_id());
                    ctx.step(StepSpec::retry_safe("block"), |_| async {
                        Ok::<(), StepError>(())
                    })
                    .await?;
                    Ok(Value::Null)
                }
            },
        ));
        let t0 = Instant::now();
        let store = SqliteStore::open(&db)?;
        let engine = Engine::new(store.clone() as SharedStore, registry);
        let worker = engine.start_worker().await?;
        let mut running = HashSet::new();
        let all_running = async {
            while running.len() < RECOVERY_RUNS {
                match rx.recv().await {
                    Some(id) => running.insert(id),
                    None => break,
                };
            }
        };
        tokio::time::timeout(PATIENCE, all_running)
            .await
            .map_err(|_| {
                anyhow!("the interrupted runs were not all resumed within {PATIENCE:?}")
            })?;
        let ms = t0.elapsed().as_secs_f64() * 1e3;
        Settled::open(&db)?.until(RECOVERY_RUNS).await?;
        // Each run must have gone through replay: attempt 1 interrupted, attempt 2 ok.
        let second: i64 = store.with_connection(|c| {
            c.query_row(
                "SELECT count(DISTINCT run_id) FROM attempts WHERE number = 2",
                [],
                |r| r.get(0),
            )
        })?;
        ensure!(
            second as usize == RECOVERY_RUNS,
            "only {second} of {RECOVERY_RUNS} runs resumed with a second attempt"
        );
        worker.shutdown().await;
        store.close();
        Ok(ms)
    })
}
