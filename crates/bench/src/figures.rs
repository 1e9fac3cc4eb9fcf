//! The engine on a fresh file: the test bed, the functions it runs, and the per-step,
//! per-run and throughput figures.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Result};
use rusqlite::Connection;
use serde_json::{json, Value};
use tokio::task::JoinSet;
use waymark_engine::{
    DurableFunction, Engine, Registry, RunContext, RunStatus, SharedStore, SqliteConfig,
    SqliteStore, StartOptions, StepError, StepSpec, SystemClock, Worker,
};

/// Sequential steps in one run, for the per-step figures.
const SEQ_STEPS: u64 = 500;
/// Sequential one-step runs, for the start-to-settled figure.
const ONE_STEP_RUNS: usize = 200;
/// Waits longer than this mean something hangs.
pub(crate) const PATIENCE: Duration = Duration::from_secs(180);

pub(crate) struct Bed {
    pub(crate) engine: Engine,
    store: Arc<SqliteStore>,
    worker: Option<Worker>,
}

impl Bed {
    pub(crate) async fn open(dir: &Path, registry: Registry) -> Result<Bed> {
        Bed::open_with(dir, registry, SqliteConfig::default()).await
    }

    pub(crate) async fn open_with(
        dir: &Path,
        registry: Registry,
        config: SqliteConfig,
    ) -> Result<Bed> {
        std::fs::create_dir_all(dir)?;
        let store = SqliteStore::open_with(dir.join("waymark.db"), config, Arc::new(SystemClock))?;
        let engine = Engine::new(store.clone() as SharedStore, registry);
        let worker = engine.start_worker().await?;
        Ok(Bed {
            engine,
            store,
            worker: Some(worker),
        })
    }

    pub(crate) fn db_path(&self) -> &Path {
        self.store.path()
    }

    pub(crate) async fn close(mut self) {
        if let Some(w) = self.worker.take() {
            w.shutdown().await;
        }
        self.store.close();
    }
}

/// `seq`: `n` sequential no-op steps (`at_most_once` or retry_safe); returns the µs they took.
/// `one`: a single no-op retry_safe step.
pub(crate) fn bench_registry() -> Registry {
    let mut r = Registry::new();
    r.register(DurableFunction::new(
        "seq",
        1,
        |ctx: RunContext, input: Value| async move {
            let n = input["n"].as_u64().unwrap_or(0);
            let at_most_once = input["at_most_once"].as_bool().unwrap_or(false);
            let t0 = Instant::now();
            for i in 0..n {
                let key = format!("s/{i}");
                let spec = if at_most_once {
                    StepSpec::at_most_once(key)
                } else {
                    StepSpec::retry_safe(key)
                };
                ctx.step(spec, |_| async { Ok::<(), StepError>(()) })
                    .await?;
            }
            Ok(json!({ "us": t0.elapsed().as_secs_f64() * 1e6 }))
        },
    ));
    r.register(DurableFunction::new(
        "one",
        1,
        |ctx: RunContext, _input: Value| async move {
            ctx.step(StepSpec::retry_safe("s/0"), |_| async {
                Ok::<(), StepError>(())
            })
            .await?;
            Ok(Value::Null)
        },
    ));
    r
}

pub(crate) async fn settle(
    engine: &Engine,
    id: waymark_engine::RunId,
) -> Result<waymark_engine::RunRecord> {
    let run = tokio::time::timeout(PATIENCE, engine.wait_settled(id))
        .await
        .map_err(|_| anyhow!("run {id} did not settle within {PATIENCE:?}"))??;
    ensure!(
        run.status == RunStatus::Succeeded,
        "run {id} ended {:?}: {:?}",
        run.status,
        run.error
    );
    Ok(run)
}

/// µs per step of one run doing `SEQ_STEPS` sequential no-op steps, timed inside the function.
/// The run is waited for by polling, not `wait_settled`, so no reader competes with the steps.
/// Steps run before measuring, enough for the WAL to pass one checkpoint.
const WARMUP_STEPS: u64 = 1000;

pub(crate) async fn seq_step_us(dir: &Path, at_most_once: bool) -> Result<f64> {
    seq_step_us_with(dir, at_most_once, SqliteConfig::default()).await
}

/// A sequential retry_safe step with commits at synchronous=NORMAL (no fsync): everything a
/// step costs but waiting for the disk.
pub(crate) async fn seq_step_unsynced_us(dir: &Path) -> Result<f64> {
    let config = SqliteConfig {
        full_sync: false,
        ..SqliteConfig::default()
    };
    seq_step_us_with(dir, false, config).await
}

async fn seq_step_us_with(dir: &Path, at_most_once: bool, config: SqliteConfig) -> Result<f64> {
    let bed = Bed::open_with(dir, bench_registry(), config).await?;
    let settled = Settled::open(bed.store.path())?;
    let mut us = 0.0;
    // The first run warms the file up to its steady state: the WAL has wrapped around once,
    // so commits no longer grow it (a fresh file's first commits also pay for its growth).
    for (i, n) in [WARMUP_STEPS, SEQ_STEPS].into_iter().enumerate() {
        let id = bed
            .engine
            .start_run(
                "seq",
                json!({ "n": n, "at_most_once": at_most_once }),
                StartOptions::default(),
            )
            .await?;
        settled.until(i + 1).await?;
        let run = bed
            .engine
            .run(id)
            .await?
            .ok_or_else(|| anyhow!("run {id} vanished"))?;
        us = run
            .output
            .as_ref()
            .and_then(|o| o["us"].as_f64())
            .ok_or_else(|| anyhow!("run {id} returned no timing: {:?}", run.output))?;
    }
    bed.close().await;
    Ok(us / SEQ_STEPS as f64)
}

/// WAL frames (pages) a sequential no-op retry_safe step appends, with checkpoints off so the
/// WAL only grows: its growth over a `SEQ_STEPS`-step run ÷ (page size + frame header).
pub(crate) async fn wal_frames_per_step(dir: &Path) -> Result<f64> {
    let config = SqliteConfig {
        wal_autocheckpoint: 0,
        ..SqliteConfig::default()
    };
    let bed = Bed::open_with(dir, bench_registry(), config).await?;
    let settled = Settled::open(bed.store.path())?;
    let page_size: u64 = settled
        .conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))?;
    let wal = bed.store.path().with_extension("db-wal");
    let wal_len = || std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    // A first run, so that the tables' first pages exist and the figure is a step's own.
    for (i, n) in [100, SEQ_STEPS].into_iter().enumerate() {
        let before = wal_len();
        bed.engine
            .start_run("seq", json!({ "n": n }), StartOptions::default())
            .await?;
        settled.until(i + 1).await?;
        if n == SEQ_STEPS {
            let frames = (wal_len() - before) as f64 / (page_size + 24) as f64;
            bed.close().await;
            return Ok(frames / SEQ_STEPS as f64);
        }
    }
    bail!("no measured run")
}

/// One run of the one-step function, started and waited for.
async fn one_step_run(bed: &Bed) -> Result<()> {
    let id = bed
        .engine
        .start_run("one", Value::Null, StartOptions::default())
        .await?;
    settle(&bed.engine, id).await.map(|_| ())
}

/// WAL commits per one-step run, start to settled (checkpoints off; a commit is a WAL frame
/// whose header records the database size).
pub(crate) async fn one_step_run_commits(dir: &Path) -> Result<f64> {
    let config = SqliteConfig {
        wal_autocheckpoint: 0,
        ..SqliteConfig::default()
    };
    let bed = Bed::open_with(dir, bench_registry(), config).await?;
    let wal = bed.store.path().with_extension("db-wal");
    let once = || one_step_run(&bed);
    for _ in 0..10 {
        once().await?;
    }
    let before = wal_commits(&wal)?;
    const RUNS: usize = 100;
    for _ in 0..RUNS {
        once().await?;
    }
    let commits = wal_commits(&wal)? - before;
    bed.close().await;
    Ok(commits as f64 / RUNS as f64)
}

/// Commit frames in a WAL file (frame header bytes 4..8: the database size after a commit,
/// zero in the other frames of a transaction).
fn wal_commits(wal: &Path) -> Result<usize> {
    let data = std::fs::read(wal)?;
    ensure!(data.len() >= 32, "{} has no WAL header", wal.display());
    let page_size = u32::from_be_bytes([data[8], data[9], data[10], data[11]]) as usize;
    let mut commits = 0;
    let mut at = 32;
    while at + 24 + page_size <= data.len() {
        if data[at + 4..at + 8] != [0, 0, 0, 0] {
            commits += 1;
        }
        at += 24 + page_size;
    }
    Ok(commits)
}

/// µs from `start_run` to `wait_settled` returning, one-step runs one after another.
pub(crate) async fn one_step_run_us(dir: &Path) -> Result<f64> {
    let bed = Bed::open(dir, bench_registry()).await?;
    let once = || one_step_run(&bed);
    // Warm the file up as the other figures do (the WAL wraps once), then a few runs.
    let warm = bed
        .engine
        .start_run(
            "seq",
            json!({ "n": WARMUP_STEPS, "at_most_once": false }),
            StartOptions::default(),
        )
        .await?;
    settle(&bed.engine, warm).await?;
    for _ in 0..10 {
        once().await?;
    }
    let t0 = Instant::now();
    for _ in 0..ONE_STEP_RUNS {
        once().await?;
    }
    let us = t0.elapsed().as_secs_f64() * 1e6 / ONE_STEP_RUNS as f64;
    bed.close().await;
    Ok(us)
}

/// Watches a database for settled runs from its own read connection, polling every 2 ms: it
/// costs the engine next to nothing, unlike a subscriber woken by every committed event.
pub(crate) struct Settled {
    conn: Connection,
}

impl Settled {
    const POLL: Duration = Duration::from_millis(2);

    pub(crate) fn open(db: &Path) -> Result<Settled> {
        let conn = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(Settled { conn })
    }

    /// Settled runs; an error if one of them did not succeed.
    fn count(&self) -> Result<usize> {
        let (settled, bad): (i64, Option<String>) = self
            .conn
            .prepare_cached(
                "SELECT count(*),
                        max(CASE WHEN status != 'succeeded' THEN id || ' ' || status || ' ' || coalesce(error_json, '') END)
                 FROM runs WHERE status IN ('succeeded', 'failed', 'cancelled', 'needs_attention')",
            )?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if let Some(bad) = bad {
            bail!("a run did not succeed: {bad}");
        }
        Ok(settled as usize)
    }

    /// Waits until `n` runs have settled.
    pub(crate) async fn until(&self, n: usize) -> Result<()> {
        let t0 = Instant::now();
        while self.count()? < n {
            ensure!(
                t0.elapsed() < PATIENCE,
                "{n} runs did not settle within {PATIENCE:?}"
            );
            tokio::time::sleep(Self::POLL).await;
        }
        Ok(())
    }
}

/// Steps per second with `c` concurrent runs of `steps` sequential no-op retry_safe steps,
/// from starting all runs to all settled.
pub(crate) async fn steps_per_s(dir: &Path, c: usize, steps: u64) -> Result<f64> {
    let bed = Bed::open(dir, bench_registry()).await?;
    let settled = Settled::open(bed.store.path())?;
    let t0 = Instant::now();
    let mut starts = JoinSet::new();
    for _ in 0..c {
        let engine = bed.engine.clone();
        starts.spawn(async move {
            engine
                .start_run("seq", json!({ "n": steps }), StartOptions::default())
                .await
        });
    }
    while let Some(r) = starts.join_next().await {
        r??;
    }
    settled.until(c).await?;
    let rate = (c as u64 * steps) as f64 / t0.elapsed().as_secs_f64();
    bed.close().await;
    Ok(rate)
}
