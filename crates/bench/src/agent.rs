//! The agent figures: what journaling adds to a real MCP tool call and a real model call
//! (against the floor commit measured in the same invocation), and how a 200-step agent
//! run's journal grows against the unique content it saw. Written to `target/bench/agent.json`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};

use crate::calls::call_samples;
use crate::storage::agent_run_storage;
use crate::{median, round1, runtime, REPS};

/// The figures `agent.json` holds; `merge` insists on every one.
pub(crate) const AGENT_KEYS: [&str; 9] = [
    "mcp_call_direct_us",
    "mcp_call_journaled_us",
    "mcp_call_bare_commit_us",
    "model_call_direct_us",
    "model_call_journaled_us",
    "model_call_bare_commit_us",
    "agent_run_200_storage_ratio",
    "agent_run_200_db_growth_bytes",
    "agent_run_200_unique_bytes",
];

/// A journaled call may cost this many floor commits more than the direct call.
const CALL_OVERHEAD_FLOORS: f64 = 1.3;
/// The most database growth per byte of unique content.
const STORAGE_RATIO_LIMIT: f64 = 1.0;

/// Measures the agent figures, prints them with their targets and writes `agent.json` under
/// `out_dir`. `engine_floor_us` is the engine figures' floor commit of this invocation, which
/// the targets use; without it (`waymark-bench agent`), the floor measured between the rounds.
pub(crate) fn agent_bench(
    scratch: &Path,
    engine_floor_us: Option<f64>,
    out_dir: &Path,
) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find this binary to serve MCP from")?;
    let rt = runtime()?;
    println!();
    println!("agent figures: MCP and model calls, direct and as durable steps ({REPS} rounds)");
    let s = rt.block_on(call_samples(&scratch.join("calls"), &exe))?;
    println!("agent run: {} model steps", crate::storage::MODEL_STEPS);
    let storage = rt.block_on(agent_run_storage(&scratch.join("agent-run"), &exe))?;
    drop(rt);

    let floor_samples = s.floor;
    let samples: BTreeMap<&str, Vec<f64>> = BTreeMap::from([
        ("mcp_call_direct_us", s.mcp_direct),
        ("mcp_call_journaled_us", s.mcp_journaled),
        ("mcp_call_bare_commit_us", s.mcp_bare_commit),
        ("model_call_direct_us", s.model_direct),
        ("model_call_journaled_us", s.model_journaled),
        ("model_call_bare_commit_us", s.model_bare_commit),
    ]);
    let mut fig: BTreeMap<&str, f64> = samples
        .iter()
        .map(|(k, v)| (*k, round1(median(v.clone()))))
        .collect();
    let ratio = (storage.ratio() * 1000.0).round() / 1000.0;
    fig.insert("agent_run_200_storage_ratio", ratio);
    fig.insert("agent_run_200_db_growth_bytes", storage.growth_bytes as f64);
    fig.insert("agent_run_200_unique_bytes", storage.unique_bytes as f64);

    println!();
    println!("{:<28} {:>12}   samples", "figure (median of 5)", "value");
    for (k, v) in &samples {
        let all: Vec<String> = v.iter().map(|x| format!("{x:.1}")).collect();
        println!("{k:<28} {:>12.1}   [{}]", fig[k], all.join(", "));
    }
    for k in &AGENT_KEYS[6..] {
        println!("{k:<28} {:>12}", fig[k]);
    }

    let rounds_floor = round1(median(floor_samples));
    let floor_us = engine_floor_us.unwrap_or(rounds_floor);
    let budget = CALL_OVERHEAD_FLOORS * floor_us;
    println!();
    match engine_floor_us {
        Some(f) => println!(
            "floor_commit_us: {f:.1} (engine figures, used below); {rounds_floor:.1} between the agent rounds"
        ),
        None => println!("floor_commit_us: {rounds_floor:.1} (between the agent rounds)"),
    }
    println!("journaling budget: {CALL_OVERHEAD_FLOORS} x floor = {budget:.1} us");
    println!("{:<44} {:>10}  {:<20} result", "target", "value", "limit");
    let verdict = |met: bool| if met { "MET" } else { "MISSED" };
    for what in ["mcp_call", "model_call"] {
        let direct = fig[format!("{what}_direct_us").as_str()];
        let journaled = fig[format!("{what}_journaled_us").as_str()];
        let bare = fig[format!("{what}_bare_commit_us").as_str()];
        let added = journaled - direct;
        println!(
            "{:<44} {added:>10.1}  {:<20} {}",
            format!("{what}: journaled - direct (us)"),
            format!("<= {budget:.1} ({CALL_OVERHEAD_FLOORS} x floor)"),
            verdict(added <= budget)
        );
        println!(
            "{:<44} {:>10.2}  (journaled / direct; added = {:.2} x floor)",
            format!("{what}: journaled / direct"),
            journaled / direct,
            added / floor_us
        );
        // The same call followed by the floor's bare commit, no engine: what any journal adds
        // at least on this machine (the call after a disk wait is slower than in a hot loop).
        println!(
            "{:<44} {:>10.1}  (= {:.2} x floor; the engine's share is the rest: {:.1})",
            format!("{what}: direct + bare commit - direct (us)"),
            bare - direct,
            (bare - direct) / floor_us,
            journaled - bare
        );
    }
    println!(
        "{:<44} {ratio:>10.3}  {:<20} {}",
        "agent_run_200_storage_ratio",
        format!("<= {STORAGE_RATIO_LIMIT}"),
        verdict(ratio <= STORAGE_RATIO_LIMIT)
    );

    let obj: Map<String, Value> = fig.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    let line = serde_json::to_string(&Value::Object(obj))?;
    println!();
    println!("{line}");
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let out = out_dir.join("agent.json");
    std::fs::write(&out, format!("{line}\n"))
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!("wrote {}", out.display());
    Ok(())
}
