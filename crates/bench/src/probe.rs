//! Probes: one measurement alone, on files in a given directory, for a profiler.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};
use serde_json::Value;
use tokio::sync::mpsc;
use waymark_engine::{
    DurableFunction, EventKind, Registry, RunContext, StartOptions, StepError, StepSpec,
};

use crate::figures::{
    one_step_run_commits, one_step_run_us, seq_step_unsynced_us, seq_step_us, settle, steps_per_s,
    wal_frames_per_step, Bed,
};
use crate::floor::{floor_commit_us, sql_pages_us};
use crate::recovery::recovery_ms;
use crate::runtime;

/// Where a one-step run's time goes: µs since `start_run` was called, averaged.
async fn one_step_breakdown(dir: &Path) -> Result<f64> {
    let (tx, mut rx) = mpsc::unbounded_channel::<(&'static str, Instant)>();
    let tx_events = tx.clone();
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
    // When the run's commits reach subscribers: its creation, and its end.
    let mut events = bed
        .engine
        .subscribe_all(bed.engine.current_global_seq().await?);
    let marks = tx_events;
    let listener = tokio::spawn(async move {
        while let Ok(e) = events.next().await {
            let mark = match e.kind {
                EventKind::RunCreated { .. } => "creation published",
                EventKind::RunStatusChanged { status, .. } if status.is_terminal() => {
                    "end published"
                }
                _ => continue,
            };
            let _ = marks.send((mark, Instant::now()));
        }
    });
    // By name: a run's marks, µs after its `start_run` was called, summed over the runs.
    let mut sums: BTreeMap<&'static str, f64> = BTreeMap::new();
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
        let mut marks = vec![("start_run returned", t1), ("wait_settled returned", t2)];
        // Every mark of this run, the listener's last one included, before the next starts.
        while !marks.iter().any(|m| m.0 == "end published") {
            let m = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .map_err(|_| anyhow!("the run's end was not published"))?
                .ok_or_else(|| anyhow!("the listener stopped"))?;
            marks.push(m);
        }
        if i >= 10 {
            for (name, t) in marks {
                *sums.entry(name).or_default() += (t - t0).as_secs_f64() * 1e6;
            }
        }
    }
    let mut avg: Vec<(&str, f64)> = sums.iter().map(|(k, v)| (*k, v / runs as f64)).collect();
    avg.sort_by(|a, b| a.1.total_cmp(&b.1));
    for (name, us) in &avg {
        println!("  {name:<24} {us:>8.1} µs");
    }
    listener.abort();
    bed.close().await;
    Ok(avg.last().map(|s| s.1).unwrap_or(0.0))
}

/// One measurement alone, on files in `dir` (for strace, perf, or a quick look).
pub(crate) fn probe(what: &str, dir: &Path) -> Result<ExitCode> {
    let rt = runtime()?;
    let v = match what {
        "floor" => floor_commit_us(dir)?,
        "retry_safe" => rt.block_on(seq_step_us(dir, false))?,
        "at_most_once" => rt.block_on(seq_step_us(dir, true))?,
        "one_step" => rt.block_on(one_step_run_us(dir))?,
        "wal_frames" => rt.block_on(wal_frames_per_step(dir))?,
        "retry_safe_unsynced" => rt.block_on(seq_step_unsynced_us(dir))?,
        "one_step_commits" => rt.block_on(one_step_run_commits(dir))?,
        "c1" => rt.block_on(steps_per_s(dir, 1, 2000))?,
        "c8" => rt.block_on(steps_per_s(dir, 8, 500))?,
        "c64" => rt.block_on(steps_per_s(dir, 64, 100))?,
        "recovery" => recovery_ms(&rt, dir)?,
        "one_step_breakdown" => rt.block_on(one_step_breakdown(dir))?,
        "calls" => {
            let exe = std::env::current_exe()?;
            rt.block_on(crate::calls::calls_breakdown(dir, &exe))?
        }
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
