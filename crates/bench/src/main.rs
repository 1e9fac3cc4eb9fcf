//! `make bench`: what the durable engine costs, measured against a bare SQLite commit loop in
//! the same invocation, on real files (a temp dir under `target/bench-tmp/`).
//!
//! Modes:
//! - `waymark-bench`: measures, prints a table and one JSON line, writes `target/bench/engine.json`.
//! - `waymark-bench merge`: merges every `target/bench/*.json` into `target/bench.json`; fails
//!   when one of the engine's figures is missing.
//! - `waymark-bench --hold-runs DB N` (internal): starts N runs whose step blocks, prints
//!   `ready` once every attempt is journaled, and waits to be killed (the recovery figure).
//! - `waymark-bench --probe WHAT DIR`: one measurement alone, on files in DIR, for a profiler:
//!   `floor`, `retry_safe`, `at_most_once`, `one_step`, `one_step_breakdown`, `c1`, `c8`, `c64`,
//!   `recovery`, and bare-SQL experiments `sql-K` (a FULL commit dirtying K pages) and
//!   `sql-split-K` (a NORMAL commit of K pages, then a FULL one).
//!
//! Paths are relative to the workspace root: `$WAYMARK_BENCH_DIR` if set, else
//! `CARGO_MANIFEST_DIR/../..`.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use rusqlite::Connection;
use serde_json::{json, Map, Value};
use tokio::runtime::Runtime;
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinSet;
use waymark_engine::{
    DurableFunction, Engine, EventKind, Registry, RunContext, RunStatus, SharedStore, SqliteStore,
    StartOptions, StepError, StepSpec, Store, Worker,
};

/// Repetitions of every figure; the median is reported.
const REPS: usize = 5;
/// Commits in one repetition of the bare SQLite loop.
const FLOOR_COMMITS: usize = 500;
/// Sequential steps in one run, for the per-step figures.
const SEQ_STEPS: u64 = 500;
/// Sequential one-step runs, for the start-to-settled figure.
const ONE_STEP_RUNS: usize = 200;
/// Concurrency levels of the throughput figures.
const LEVELS: [usize; 3] = [1, 8, 64];
/// Wall time each throughput repetition is sized for (from a short pilot).
const LEVEL_TARGET: Duration = Duration::from_millis(1500);
/// Interrupted runs the recovery figure brings back.
const RECOVERY_RUNS: usize = 1000;
/// Waits longer than this mean something hangs.
const PATIENCE: Duration = Duration::from_secs(180);

/// The figures `engine.json` holds; `merge` insists on every one.
const KEYS: [&str; 8] = [
    "floor_commit_us",
    "retry_safe_step_us",
    "at_most_once_step_us",
    "one_step_run_us",
    "steps_per_s_c1",
    "steps_per_s_c8",
    "steps_per_s_c64",
    "recovery_1000_runs_ms",
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None => bench(),
        Some("merge") if args.len() == 1 => merge(),
        Some("--hold-runs") if args.len() == 3 => args[2]
            .parse::<usize>()
            .map_err(|e| anyhow!("--hold-runs DB N: bad N '{}': {e}", args[2]))
            .and_then(|n| hold_runs(Path::new(&args[1]), n))
            .map(|()| ExitCode::SUCCESS),
        Some("--probe") if args.len() == 3 => probe(&args[1], Path::new(&args[2])),
        Some("-h" | "--help") => {
            println!("usage: waymark-bench            measure; write target/bench/engine.json");
            println!(
                "       waymark-bench merge      merge target/bench/*.json into target/bench.json"
            );
            println!(
                "       waymark-bench --probe WHAT DIR   one measurement alone (see the source)"
            );
            println!("       waymark-bench --hold-runs DB N   (internal) hold N interrupted runs");
            Ok(ExitCode::SUCCESS)
        }
        Some(_) => Err(anyhow!(
            "unexpected arguments {args:?}; try `waymark-bench --help`"
        )),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("waymark-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("WAYMARK_BENCH_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

fn runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

// ---------------------------------------------------------------------------------------------
// The bare SQLite floor.

/// µs per `BEGIN; INSERT 256 B; COMMIT` in WAL + synchronous=FULL on a fresh file.
fn floor_commit_us(dir: &Path) -> Result<f64> {
    std::fs::create_dir_all(dir)?;
    let conn = Connection::open(dir.join("floor.db"))?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    ensure!(mode.eq_ignore_ascii_case("wal"), "no WAL mode (got {mode})");
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, data BLOB NOT NULL)")?;
    let data = vec![0x5a_u8; 256];
    let mut insert = conn.prepare("INSERT INTO t(data) VALUES (?1)")?;
    let mut commit = || -> Result<()> {
        conn.execute_batch("BEGIN")?;
        insert.execute([&data])?;
        conn.execute_batch("COMMIT")?;
        Ok(())
    };
    for _ in 0..20 {
        commit()?;
    }
    let t0 = Instant::now();
    for _ in 0..FLOOR_COMMITS {
        commit()?;
    }
    Ok(t0.elapsed().as_secs_f64() * 1e6 / FLOOR_COMMITS as f64)
}

/// Bare SQL, µs per step: each commit inserts one 256 B row into each of `k` tables, so it
/// dirties `k` pages; `split` does that twice per step, the first commit with synchronous=NORMAL.
fn sql_pages_us(dir: &Path, k: usize, split: bool) -> Result<f64> {
    std::fs::create_dir_all(dir)?;
    let conn = Connection::open(dir.join("pages.db"))?;
    conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    for t in 0..k {
        conn.execute_batch(&format!(
            "CREATE TABLE t{t}(id INTEGER PRIMARY KEY, data BLOB NOT NULL)"
        ))?;
    }
    let data = vec![0x5a_u8; 256];
    let commit = |sync: &str| -> Result<()> {
        conn.pragma_update(None, "synchronous", sync)?;
        conn.execute_batch("BEGIN")?;
        for t in 0..k {
            conn.prepare_cached(&format!("INSERT INTO t{t}(data) VALUES (?1)"))?
                .execute([&data])?;
        }
        conn.execute_batch("COMMIT")?;
        Ok(())
    };
    let step = || -> Result<()> {
        if split {
            commit("NORMAL")?;
        }
        commit("FULL")
    };
    for _ in 0..20 {
        step()?;
    }
    let t0 = Instant::now();
    for _ in 0..FLOOR_COMMITS {
        step()?;
    }
    Ok(t0.elapsed().as_secs_f64() * 1e6 / FLOOR_COMMITS as f64)
}

// ---------------------------------------------------------------------------------------------
// The engine on a fresh file.

struct Bed {
    engine: Engine,
    store: Arc<SqliteStore>,
    worker: Option<Worker>,
}

impl Bed {
    async fn open(dir: &Path, registry: Registry) -> Result<Bed> {
        std::fs::create_dir_all(dir)?;
        let store = SqliteStore::open(dir.join("waymark.db"))?;
        let engine = Engine::new(store.clone() as SharedStore, registry);
        let worker = engine.start_worker().await?;
        Ok(Bed {
            engine,
            store,
            worker: Some(worker),
        })
    }

    async fn close(mut self) {
        if let Some(w) = self.worker.take() {
            w.shutdown().await;
        }
        self.store.close();
    }
}

/// `seq`: `n` sequential no-op steps (`at_most_once` or retry_safe); returns the µs they took.
/// `one`: a single no-op retry_safe step.
fn bench_registry() -> Registry {
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

async fn settle(engine: &Engine, id: waymark_engine::RunId) -> Result<waymark_engine::RunRecord> {
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
async fn seq_step_us(dir: &Path, at_most_once: bool) -> Result<f64> {
    let bed = Bed::open(dir, bench_registry()).await?;
    let settled = Settled::open(bed.store.path())?;
    let mut us = 0.0;
    for (i, n) in [20, SEQ_STEPS].into_iter().enumerate() {
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

/// µs from `start_run` to `wait_settled` returning, one-step runs one after another.
async fn one_step_run_us(dir: &Path) -> Result<f64> {
    let bed = Bed::open(dir, bench_registry()).await?;
    let once = || async {
        let id = bed
            .engine
            .start_run("one", Value::Null, StartOptions::default())
            .await?;
        settle(&bed.engine, id).await.map(|_| ())
    };
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
struct Settled {
    conn: Connection,
}

impl Settled {
    const POLL: Duration = Duration::from_millis(2);

    fn open(db: &Path) -> Result<Settled> {
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
    async fn until(&self, n: usize) -> Result<()> {
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
async fn steps_per_s(dir: &Path, c: usize, steps: u64) -> Result<f64> {
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

// ---------------------------------------------------------------------------------------------
// Recovery: a child process holds runs mid-step, is killed, and a new worker takes them over.

/// The child's side: N runs whose step blocks forever, `ready` once all attempts are journaled.
fn hold_runs(db: &Path, n: usize) -> Result<()> {
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
                c.query_row("SELECT count(*) FROM attempts", [], |r| r.get::<_, i64>(0))
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
fn recovery_ms(rt: &Runtime, dir: &Path) -> Result<f64> {
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

// ---------------------------------------------------------------------------------------------
// The bench itself.

fn level_key(c: usize) -> &'static str {
    match c {
        1 => "steps_per_s_c1",
        8 => "steps_per_s_c8",
        64 => "steps_per_s_c64",
        _ => unreachable!("no figure for concurrency {c}"),
    }
}

fn bench() -> Result<ExitCode> {
    let root = workspace_root();
    let tmp_parent = root.join("target/bench-tmp");
    std::fs::create_dir_all(&tmp_parent)
        .with_context(|| format!("cannot create {}", tmp_parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix("engine-")
        .tempdir_in(&tmp_parent)?;
    let scratch = tmp.path().to_path_buf();
    println!("waymark-bench: scratch files in {}", scratch.display());
    let rt = runtime()?;
    let mut samples: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let mut add = |key: &'static str, v: f64| {
        println!("  {key:<24} {v:>12.1}");
        samples.entry(key).or_default().push(v);
    };

    // Interleaved, so a drift in the disk's speed hits the floor and the engine alike.
    for rep in 0..REPS {
        println!("repetition {}/{REPS}", rep + 1);
        let d = scratch.join(format!("rep{rep}"));
        add("floor_commit_us", floor_commit_us(&d.join("floor"))?);
        add(
            "retry_safe_step_us",
            rt.block_on(seq_step_us(&d.join("retry_safe"), false))?,
        );
        add(
            "at_most_once_step_us",
            rt.block_on(seq_step_us(&d.join("at_most_once"), true))?,
        );
        add(
            "one_step_run_us",
            rt.block_on(one_step_run_us(&d.join("one_step")))?,
        );
    }

    for c in LEVELS {
        // A short pilot sizes the runs so that each repetition takes about LEVEL_TARGET.
        let pilot = rt.block_on(steps_per_s(
            &scratch.join(format!("pilot-c{c}")),
            c,
            (400 / c as u64).max(10),
        ))?;
        let steps = (pilot * LEVEL_TARGET.as_secs_f64() / c as f64).clamp(20.0, 20_000.0) as u64;
        println!("{}: {c} concurrent run(s) x {steps} steps", level_key(c));
        for rep in 0..REPS {
            let d = scratch.join(format!("c{c}-rep{rep}"));
            add(level_key(c), rt.block_on(steps_per_s(&d, c, steps))?);
        }
    }

    println!("recovery: {RECOVERY_RUNS} runs held by a child process that is then SIGKILLed");
    for rep in 0..REPS {
        let d = scratch.join(format!("recovery-rep{rep}"));
        add("recovery_1000_runs_ms", recovery_ms(&rt, &d)?);
    }
    drop(rt);

    let fig: BTreeMap<&str, f64> = KEYS
        .iter()
        .map(|k| (*k, round1(median(samples[k].clone()))))
        .collect();
    println!();
    println!("{:<24} {:>12}   samples", "figure (median of 5)", "value");
    for k in KEYS {
        let all: Vec<String> = samples[k].iter().map(|v| format!("{v:.1}")).collect();
        println!("{k:<24} {:>12.1}   [{}]", fig[k], all.join(", "));
    }

    let floor = fig["floor_commit_us"];
    let c1 = fig["steps_per_s_c1"];
    let recovery = fig["recovery_1000_runs_ms"];
    let targets = [
        (
            "retry_safe_step_us / floor_commit_us",
            fig["retry_safe_step_us"] / floor,
            "<= 1.3",
            fig["retry_safe_step_us"] <= 1.3 * floor,
        ),
        (
            "at_most_once_step_us / floor_commit_us",
            fig["at_most_once_step_us"] / floor,
            "<= 2.3",
            fig["at_most_once_step_us"] <= 2.3 * floor,
        ),
        (
            "one_step_run_us / floor_commit_us",
            fig["one_step_run_us"] / floor,
            "<= 4",
            fig["one_step_run_us"] <= 4.0 * floor,
        ),
        (
            "steps_per_s_c64 / steps_per_s_c1",
            fig["steps_per_s_c64"] / c1,
            ">= 5 (aim 10)",
            fig["steps_per_s_c64"] >= 5.0 * c1,
        ),
        (
            "recovery_1000_runs_ms",
            recovery,
            "< 2000",
            recovery < 2000.0,
        ),
    ];
    println!();
    println!("{:<40} {:>10}  {:<14} result", "target", "ratio", "limit");
    for (name, ratio, limit, met) in targets {
        let verdict = if met { "MET" } else { "MISSED" };
        println!("{name:<40} {ratio:>10.2}  {limit:<14} {verdict}");
    }
    println!(
        "(steps_per_s_c8 / steps_per_s_c1 = {:.2})",
        fig["steps_per_s_c8"] / c1
    );
    if recovery > 15_000.0 {
        println!(
            "note: recovery took about a lease (30 s): the dead worker was not detected through its lock file"
        );
    }

    let obj: Map<String, Value> = fig.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    let line = serde_json::to_string(&Value::Object(obj))?;
    println!();
    println!("{line}");
    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let out = out_dir.join("engine.json");
    std::fs::write(&out, format!("{line}\n"))
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}

/// Where a one-step run's time goes: µs since `start_run` was called, averaged.
async fn one_step_breakdown(dir: &Path) -> Result<f64> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(&'static str, Instant)>();
    let mut registry = Registry::new();
    registry.register(DurableFunction::new(
        "one",
        1,
        move |ctx: RunContext, _input: Value| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(("function entered", Instant::now()));
                ctx.step(StepSpec::retry_safe("s/0"), |_| async {
                    Ok::<(), StepError>(())
                })
                .await?;
                let _ = tx.send(("step returned", Instant::now()));
                Ok(Value::Null)
            }
        },
    ));
    let bed = Bed::open(dir, registry).await?;
    let mut sums: Vec<(&'static str, f64)> = Vec::new();
    let runs = 200;
    for i in 0..runs + 10 {
        let t0 = Instant::now();
        let id = bed
            .engine
            .start_run("one", Value::Null, StartOptions::default())
            .await?;
        let t1 = Instant::now();
        settle(&bed.engine, id).await?;
        let t2 = Instant::now();
        let mut marks = vec![("start_run returned", t1)];
        while let Ok(m) = rx.try_recv() {
            marks.push(m);
        }
        marks.push(("wait_settled returned", t2));
        marks.sort_by_key(|m| m.1);
        if i >= 10 {
            for (j, (name, t)) in marks.iter().enumerate() {
                if sums.len() <= j {
                    sums.push((name, 0.0));
                }
                sums[j].1 += (*t - t0).as_secs_f64() * 1e6;
            }
        }
    }
    for (name, sum) in &sums {
        println!("  {name:<24} {:>8.1} µs", sum / runs as f64);
    }
    bed.close().await;
    Ok(sums.last().map(|s| s.1 / runs as f64).unwrap_or(0.0))
}

/// One measurement alone, on files in `dir` (for strace, perf, or a quick look).
fn probe(what: &str, dir: &Path) -> Result<ExitCode> {
    let rt = runtime()?;
    let v = match what {
        "floor" => floor_commit_us(dir)?,
        "retry_safe" => rt.block_on(seq_step_us(dir, false))?,
        "at_most_once" => rt.block_on(seq_step_us(dir, true))?,
        "one_step" => rt.block_on(one_step_run_us(dir))?,
        "c1" => rt.block_on(steps_per_s(dir, 1, 2000))?,
        "c8" => rt.block_on(steps_per_s(dir, 8, 500))?,
        "c64" => rt.block_on(steps_per_s(dir, 64, 100))?,
        "recovery" => recovery_ms(&rt, dir)?,
        "one_step_breakdown" => rt.block_on(one_step_breakdown(dir))?,
        _ => {
            // `sql-K`: one FULL commit dirtying K pages; `sql-split-K`: a NORMAL commit of K
            // pages, then a FULL one of K pages (a marker and a result in separate commits).
            let (split, k) = match what.strip_prefix("sql-split-") {
                Some(k) => (true, k),
                None => (false, what.strip_prefix("sql-").unwrap_or(what)),
            };
            let k: usize = k.parse().map_err(|_| anyhow!("no probe '{what}'"))?;
            sql_pages_us(dir, k, split)?
        }
    };
    println!("{what}: {v:.1}");
    Ok(ExitCode::SUCCESS)
}

// ---------------------------------------------------------------------------------------------
// Merge.

fn merge() -> Result<ExitCode> {
    let root = workspace_root();
    let dir = root.join("target/bench");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read {} (run `waymark-bench` first)", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json") && p.is_file())
        .collect();
    files.sort();
    ensure!(!files.is_empty(), "no *.json in {}", dir.display());
    let mut merged: BTreeMap<String, Value> = BTreeMap::new();
    let mut from: BTreeMap<String, PathBuf> = BTreeMap::new();
    for f in &files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
        let obj: Map<String, Value> = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a JSON object", f.display()))?;
        for (k, v) in obj {
            ensure!(
                !v.is_object() && !v.is_array(),
                "{}: '{k}' is not a flat value",
                f.display()
            );
            if let Some(prev) = from.get(&k) {
                if merged.get(&k) != Some(&v) {
                    eprintln!(
                        "warning: '{k}' is in both {} and {}; keeping the latter",
                        prev.display(),
                        f.display()
                    );
                }
            }
            from.insert(k.clone(), f.clone());
            merged.insert(k, v);
        }
    }
    let out = root.join("target/bench.json");
    let obj: Map<String, Value> = merged.clone().into_iter().collect();
    std::fs::write(
        &out,
        serde_json::to_string_pretty(&Value::Object(obj))? + "\n",
    )
    .with_context(|| format!("cannot write {}", out.display()))?;
    println!("merged {} file(s) into {}", files.len(), out.display());
    for (k, v) in &merged {
        println!("  {k:<28} {v}");
    }
    let missing: Vec<&str> = KEYS
        .iter()
        .copied()
        .filter(|k| !merged.get(*k).is_some_and(Value::is_number))
        .collect();
    if !missing.is_empty() {
        eprintln!("missing figures: {}", missing.join(", "));
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
