//! `make bench`: what the durable engine costs, measured against a bare SQLite commit loop in
//! the same invocation, on real files (a temp dir under `target/bench-tmp/`).
//!
//! Modes:
//! - `waymark-bench`: measures, prints tables and JSON lines, writes `target/bench/engine.json`
//!   and `target/bench/agent.json` (MCP and model calls direct and journaled, a 200-step agent
//!   run's storage; see `agent.rs`).
//! - `waymark-bench agent`: the floor commit and the agent figures only (writes `agent.json`).
//! - `waymark-bench merge`: merges every `target/bench/*.json` into `target/bench.json`; fails
//!   when one of the engine's or the agent's figures is missing.
//! - `waymark-bench --serve-demo-tools OUTBOX`, `--serve-bench-tools` (internal): the MCP
//!   servers the agent figures start as stdio children of this binary.
//! - `waymark-bench --hold-runs DB N` (internal): starts N runs whose step blocks, prints
//!   `ready` once every attempt is journaled, and waits to be killed (the recovery figure).
//! - `waymark-bench --probe WHAT DIR`: one measurement alone, on files in DIR, for a profiler:
//!   `floor`, `retry_safe`, `at_most_once`, `one_step`, `one_step_breakdown`, `c1`, `c8`, `c64`,
//!   `recovery`, and bare-SQL experiments `sql-K` (a FULL commit dirtying K pages) and
//!   `sql-split-K` (a NORMAL commit of K pages, then a FULL one).
//!
//! Paths are relative to the workspace root: `$WAYMARK_BENCH_DIR` if set, else
//! `CARGO_MANIFEST_DIR/../..`.

mod agent;
mod bench_tools;
mod calls;
mod email;
mod figures;
mod floor;
mod listing;
mod merge;
mod model_server;
mod postgres;
mod probe;
mod recovery;
mod storage;
mod targets;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use serde_json::{json, Map, Value};
use tokio::runtime::Runtime;

use crate::figures::{
    one_step_run_commits, one_step_run_us, seq_step_unsynced_us, seq_step_us, steps_per_s,
    wal_frames_per_step,
};
use crate::floor::{floor_commit_us, sql_pages_us};
use crate::merge::merge;
use crate::probe::probe;
use crate::recovery::{hold_runs, recovery_ms, RECOVERY_RUNS};

/// Repetitions of every figure; the median is reported.
const REPS: usize = 5;
/// Concurrency levels of the throughput figures.
const LEVELS: [usize; 3] = [1, 8, 64];
/// Wall time each throughput repetition is sized for (from a short pilot).
const LEVEL_TARGET: Duration = Duration::from_millis(1500);

/// The figures `engine.json` holds; `merge` insists on every one.
const KEYS: [&str; 12] = [
    "floor_commit_us",
    "commit_step_pages_us",
    "retry_safe_step_unsynced_us",
    "wal_frames_per_step",
    "one_step_run_commits",
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
        Some("agent") if args.len() == 1 => agent_only(),
        Some("email") if args.len() == 1 => scratch_dir("email-").and_then(|tmp| {
            email::email_bench(tmp.path(), &workspace_root().join("target/bench"))
                .map(|()| ExitCode::SUCCESS)
        }),
        Some("--serve-demo-tools") if args.len() == 2 => {
            bench_tools::serve_demo_tools(PathBuf::from(&args[1])).map(|()| ExitCode::SUCCESS)
        }
        Some("--serve-bench-tools") if args.len() == 1 => {
            bench_tools::serve_bench_tools().map(|()| ExitCode::SUCCESS)
        }
        Some("--hold-runs") if args.len() == 3 => args[2]
            .parse::<usize>()
            .map_err(|e| anyhow!("--hold-runs DB N: bad N '{}': {e}", args[2]))
            .and_then(|n| hold_runs(Path::new(&args[1]), n))
            .map(|()| ExitCode::SUCCESS),
        Some("--probe") if args.len() == 3 => probe(&args[1], Path::new(&args[2])),
        Some("postgres") if args.len() == 1 => {
            postgres::postgres_bench(&workspace_root()).map(|()| ExitCode::SUCCESS)
        }
        Some("--pg-worker") if args.len() == 2 => {
            postgres::pg_worker(&args[1]).map(|()| ExitCode::SUCCESS)
        }
        Some("-h" | "--help") => {
            println!(
                "usage: waymark-bench            measure; write target/bench/{{engine,agent}}.json"
            );
            println!("       waymark-bench agent      the floor and the agent figures only");
            println!(
                "       waymark-bench postgres   the PostgreSQL figures: write target/bench/postgres.json"
            );
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
// The bench itself.

fn level_key(c: usize) -> &'static str {
    match c {
        1 => "steps_per_s_c1",
        8 => "steps_per_s_c8",
        64 => "steps_per_s_c64",
        _ => unreachable!("no figure for concurrency {c}"),
    }
}

/// A temp dir under `target/bench-tmp/`, removed when dropped.
fn scratch_dir(prefix: &str) -> Result<tempfile::TempDir> {
    let tmp_parent = workspace_root().join("target/bench-tmp");
    std::fs::create_dir_all(&tmp_parent)
        .with_context(|| format!("cannot create {}", tmp_parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&tmp_parent)?;
    println!("waymark-bench: scratch files in {}", tmp.path().display());
    Ok(tmp)
}

/// `waymark-bench agent`: the agent figures against a floor measured here.
fn agent_only() -> Result<ExitCode> {
    let tmp = scratch_dir("agent-")?;
    agent::agent_bench(tmp.path(), None, &workspace_root().join("target/bench"))?;
    Ok(ExitCode::SUCCESS)
}

fn bench() -> Result<ExitCode> {
    let root = workspace_root();
    let tmp = scratch_dir("engine-")?;
    let scratch = tmp.path().to_path_buf();
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
        let frames = rt.block_on(wal_frames_per_step(&d.join("wal_frames")))?;
        add("wal_frames_per_step", frames);
        // Where a step's time goes: a bare commit of as many pages as the step writes, and
        // the step without its fsync.
        add(
            "commit_step_pages_us",
            sql_pages_us(&d.join("pages"), (frames.round() as usize).max(1), false)?,
        );
        add(
            "retry_safe_step_unsynced_us",
            rt.block_on(seq_step_unsynced_us(&d.join("unsynced")))?,
        );
        add(
            "one_step_run_commits",
            rt.block_on(one_step_run_commits(&d.join("one_step_commits")))?,
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
            ">= 8",
            fig["steps_per_s_c64"] >= 8.0 * c1,
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
        "(steps_per_s_c8 / steps_per_s_c1 = {:.2}; wal_frames_per_step = {:.1}, target <= 3)",
        fig["steps_per_s_c8"] / c1,
        fig["wal_frames_per_step"]
    );
    let step = fig["retry_safe_step_us"];
    let pages = fig["commit_step_pages_us"];
    let unsynced = fig["retry_safe_step_unsynced_us"];
    println!();
    println!("where a sequential retry_safe step's time goes (us):");
    println!("  the floor: a bare commit of one 256 B row          {floor:>8.1}");
    println!(
        "  + the step's {:.1} pages in a bare commit instead   {:>8.1}",
        fig["wal_frames_per_step"],
        pages - floor
    );
    println!("  the step without fsync (CPU, statements, threads) {unsynced:>8.1}");
    println!(
        "  the step's fsync and disk wait (step - unsynced)  {:>8.1}",
        step - unsynced
    );
    println!("  the step                                          {step:>8.1}");
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

    println!("listing: the run list's pages at 100 and at 100,000 runs");
    let listing = runtime()?.block_on(listing::listing_figures(&scratch.join("listing")))?;
    let out = out_dir.join("listing.json");
    std::fs::write(&out, format!("{}\n", Value::Object(listing)))
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!("wrote {}", out.display());

    agent::agent_bench(&scratch.join("agent"), Some(floor), &out_dir)?;
    println!("email: delivery to run through the email trigger (Dovecot, IDLE)");
    email::email_bench(&scratch.join("email"), &out_dir)?;
    Ok(ExitCode::SUCCESS)
}
