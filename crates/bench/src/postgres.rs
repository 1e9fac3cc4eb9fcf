//! The team backend's figures (issue 17), all on one private PostgreSQL server with fsync on
//! (as a real server commits), on the same disk as the SQLite figures: the bare commit (the
//! floor), a sequential retry_safe step, steps per second with 1, 2 and 4 worker processes,
//! and DBOS Transact's step on the same server.

#[path = "../../../tests/pg/lab.rs"]
mod pg_lab;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Map, Value};
use tokio::task::JoinSet;
use waymark_engine::{Engine, RunStatus, StartOptions, WorkerConfig};
use waymark_postgres::{PgConfig, PgStore};

use crate::figures::{bench_registry, PATIENCE};

/// Bare commits measured, after as many to warm up.
const FLOOR_COMMITS: usize = 2000;
/// Sequential steps in the measured run (after a warm-up run of as many).
const SEQ_STEPS: u64 = 500;
/// Concurrent runs for the throughput figures, and the steps of each.
const CONCURRENT_RUNS: usize = 64;
const STEPS_PER_RUN: u64 = 50;

/// `waymark-bench postgres`: measures, writes `target/bench/postgres.json`, prints the table.
pub(crate) fn postgres_bench(root: &Path) -> Result<()> {
    let tmp = root.join("target/bench-tmp");
    std::fs::create_dir_all(&tmp)?;
    let lab = pg_lab::PgLab::start_durable_in(&tmp);
    let mut fig: Map<String, Value> = Map::new();

    let floor_db = lab.create_database("floor");
    let floor = floor_commit_us(&floor_db)?;
    fig.insert("pg_floor_commit_us".into(), json!(round(floor)));
    let rtt = round_trip_us(&floor_db)?;
    fig.insert("pg_round_trip_us".into(), json!(round(rtt)));

    let rt = crate::runtime()?;
    let step = rt.block_on(retry_safe_step_us(&lab.create_database("step")))?;
    fig.insert("pg_retry_safe_step_us".into(), json!(round(step)));

    let exe = std::env::current_exe()?;
    let mut rates = Vec::new();
    for workers in [1usize, 2, 4] {
        let url = lab.create_database(&format!("w{workers}"));
        let rate = rt.block_on(steps_per_s(&exe, &url, workers))?;
        fig.insert(format!("pg_steps_per_s_w{workers}"), json!(rate.round()));
        rates.push((workers, rate));
    }

    match dbos_step_us(root, &lab.create_database("dbos"))? {
        Some(us) => {
            fig.insert("pg_dbos_step_us".into(), json!(us));
        }
        None => eprintln!(
            "postgres: DBOS on PostgreSQL not measured (no target/peers-venv: run scripts/bench-peers.sh)"
        ),
    }

    let out = root.join("target/bench/postgres.json");
    std::fs::create_dir_all(out.parent().unwrap_or(root))?;
    std::fs::write(
        &out,
        serde_json::to_string_pretty(&Value::Object(fig.clone()))? + "\n",
    )?;

    println!(
        "PostgreSQL {} (fsync on, same disk), {}:",
        lab_version(&lab),
        out.display()
    );
    println!(
        "  {:<44} {:>10.1} µs",
        "bare INSERT; COMMIT (the floor)", floor
    );
    println!(
        "  {:<44} {:>10.1} µs",
        "a prepared SELECT 1 (one round trip)", rtt
    );
    println!(
        "  {:<44} {:>10.1} µs = {:.2} x floor = floor + {:.1} round trips",
        "retry_safe step, sequential",
        step,
        step / floor,
        (step - floor) / rtt
    );
    let one = rates.first().map(|r| r.1).unwrap_or(1.0);
    for (workers, rate) in &rates {
        println!(
            "  {:<44} {:>10.0} steps/s (per-worker efficiency {:.0} %)",
            format!("{CONCURRENT_RUNS} runs, {workers} worker process(es)"),
            rate,
            100.0 * rate / (one * *workers as f64)
        );
    }
    if let Some(dbos) = fig.get("pg_dbos_step_us").and_then(Value::as_f64) {
        println!(
            "  {:<44} {:>10.1} µs = {:.2} x our step",
            "DBOS Transact step, same server",
            dbos,
            dbos / step
        );
    }
    Ok(())
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn lab_version(lab: &pg_lab::PgLab) -> String {
    lab.psql("postgres", "SHOW server_version")
}

/// A bare autocommitted `INSERT` (one round trip, one commit, its fsync), in µs.
fn floor_commit_us(url: &str) -> Result<f64> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    client.batch_execute(
        "CREATE TABLE floor (id BIGSERIAL PRIMARY KEY, v BIGINT NOT NULL);
         SET synchronous_commit = on;",
    )?;
    let insert = client.prepare("INSERT INTO floor (v) VALUES ($1)")?;
    for i in 0..FLOOR_COMMITS as i64 {
        client.execute(&insert, &[&i])?;
    }
    let t0 = Instant::now();
    for i in 0..FLOOR_COMMITS as i64 {
        client.execute(&insert, &[&i])?;
    }
    Ok(t0.elapsed().as_secs_f64() * 1e6 / FLOOR_COMMITS as f64)
}

/// One round trip to the server: a prepared `SELECT 1`, in µs (what each statement of a
/// transition costs at least).
fn round_trip_us(url: &str) -> Result<f64> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    let select = client.prepare("SELECT 1")?;
    for _ in 0..FLOOR_COMMITS {
        client.query_one(&select, &[])?;
    }
    let t0 = Instant::now();
    for _ in 0..FLOOR_COMMITS {
        client.query_one(&select, &[])?;
    }
    Ok(t0.elapsed().as_secs_f64() * 1e6 / FLOOR_COMMITS as f64)
}

/// A sequential no-op retry_safe step of one run, on an engine and worker in this process.
async fn retry_safe_step_us(url: &str) -> Result<f64> {
    let store = PgStore::open(url, PgConfig::default()).await?;
    let engine = Engine::new(store, bench_registry());
    let worker = engine.start_worker().await?;
    let mut us = 0.0;
    for n in [SEQ_STEPS, SEQ_STEPS] {
        let id = engine
            .start_run("seq", json!({ "n": n }), StartOptions::default())
            .await?;
        let run = tokio::time::timeout(PATIENCE, engine.wait_settled(id)).await??;
        if run.status != RunStatus::Succeeded {
            bail!("the bench run ended {:?}: {:?}", run.status, run.error);
        }
        us = run
            .output
            .as_ref()
            .and_then(|o| o["us"].as_f64())
            .ok_or_else(|| anyhow!("run {id} returned no timing"))?;
    }
    worker.shutdown().await;
    Ok(us / SEQ_STEPS as f64)
}

/// A worker process (`waymark-bench --pg-worker URL`), killed when dropped.
struct WorkerProcess(Child);

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_worker(exe: &Path, url: &str) -> Result<WorkerProcess> {
    let mut child = Command::new(exe)
        .args(["--pg-worker", url])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child.stdout.take().context("worker stdout")?;
    let worker = WorkerProcess(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    if !line.starts_with("READY") {
        bail!("the worker process did not start: {line:?}");
    }
    Ok(worker)
}

/// Steps per second of `CONCURRENT_RUNS` runs executed by `workers` processes, from the
/// first start to the last run settled.
async fn steps_per_s(exe: &Path, url: &str, workers: usize) -> Result<f64> {
    // The schema first, so that the workers do not all migrate at once.
    let store = PgStore::open(url, PgConfig::default()).await?;
    let engine = Engine::new(store, bench_registry());
    let mut procs = Vec::new();
    for _ in 0..workers {
        procs.push(spawn_worker(exe, url)?);
    }
    let t0 = Instant::now();
    let mut starts = JoinSet::new();
    for _ in 0..CONCURRENT_RUNS {
        let engine = engine.clone();
        starts.spawn(async move {
            engine
                .start_run(
                    "seq",
                    json!({ "n": STEPS_PER_RUN }),
                    StartOptions::default(),
                )
                .await
        });
    }
    let mut ids = Vec::new();
    while let Some(r) = starts.join_next().await {
        ids.push(r??);
    }
    for id in ids {
        let run = tokio::time::timeout(PATIENCE, engine.wait_settled(id)).await??;
        if run.status != RunStatus::Succeeded {
            bail!("a throughput run ended {:?}: {:?}", run.status, run.error);
        }
    }
    let rate = (CONCURRENT_RUNS as u64 * STEPS_PER_RUN) as f64 / t0.elapsed().as_secs_f64();
    drop(procs);
    Ok(rate)
}

/// `waymark-bench --pg-worker URL`: a worker process for the throughput figures.
pub(crate) fn pg_worker(url: &str) -> Result<()> {
    let rt = crate::runtime()?;
    rt.block_on(async {
        let store = PgStore::open(url, PgConfig::default()).await?;
        let engine = Engine::new(store, bench_registry()).with_worker_config(WorkerConfig {
            claim_interval: Duration::from_millis(50),
            ..WorkerConfig::default()
        });
        let _worker = engine.start_worker().await?;
        println!("READY");
        std::io::stdout().flush()?;
        // Runs until the bench kills it.
        std::future::pending::<()>().await;
        Ok(())
    })
}

/// DBOS Transact's no-op step on the same server (its script in the peers' venv), in µs.
fn dbos_step_us(root: &Path, url: &str) -> Result<Option<f64>> {
    let python = root.join("target/peers-venv/bin/python");
    if !python.exists() {
        return Ok(None);
    }
    let out = Command::new(python)
        .arg(root.join("crates/bench/peers/dbos_bench.py"))
        .arg("--postgres")
        .arg(url.replacen("postgres://", "postgresql://", 1))
        .current_dir(root.join("crates/bench/peers"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        bail!("the DBOS PostgreSQL bench failed");
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or("");
    let v: Value = serde_json::from_str(last).with_context(|| format!("DBOS said {last:?}"))?;
    Ok(v["pg_dbos_step_us"].as_f64())
}
