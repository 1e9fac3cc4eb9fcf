//! The targets of `make bench` (issue 16), judged on the merged figures of one run: each
//! printed MET or MISSED, and every Waymark figure beside the same figure of each peer.

use std::collections::BTreeMap;

use serde_json::Value;

/// Figures the peers' script writes (`scripts/bench-peers.sh`, `target/bench/peers.json`).
pub(crate) const PEER_KEYS: [&str; 5] = [
    "peer_langgraph_step_us",
    "peer_langgraph_run_us",
    "peer_dbos_step_us",
    "peer_dbos_run_us",
    "peer_langgraph_200_storage_ratio",
];

/// Figures the desktop app's bench writes (`scripts/desktop.sh bench`).
pub(crate) const APP_KEYS: [&str; 2] = ["app_idle_pss_mb", "app_floor_pss_mb"];

struct Target {
    name: &'static str,
    value: f64,
    limit: String,
    met: bool,
}

/// Prints the targets table and the comparison with the peers; figures that are missing are
/// skipped (merge reports them).
pub(crate) fn print_targets(fig: &BTreeMap<String, Value>) {
    let get = |k: &str| fig.get(k).and_then(Value::as_f64);
    let mut targets: Vec<Target> = Vec::new();
    let mut at_most = |name: &'static str, value: Option<f64>, limit: Option<f64>, label: &str| {
        if let (Some(value), Some(limit)) = (value, limit) {
            targets.push(Target {
                name,
                value,
                limit: format!("<= {limit:.1} ({label})"),
                met: value <= limit,
            });
        }
    };
    let floor = get("floor_commit_us");
    let times = |k: f64| floor.map(|f| f * k);
    at_most(
        "retry_safe_step_us",
        get("retry_safe_step_us"),
        times(1.3),
        "1.3 x floor",
    );
    at_most(
        "at_most_once_step_us",
        get("at_most_once_step_us"),
        times(2.3),
        "2.3 x floor",
    );
    at_most(
        "one_step_run_us",
        get("one_step_run_us"),
        times(4.0),
        "4 x floor",
    );
    at_most(
        "one_step_run_commits",
        get("one_step_run_commits"),
        Some(2.0),
        "commits",
    );
    at_most(
        "wal_frames_per_step",
        get("wal_frames_per_step"),
        Some(3.0),
        "pages",
    );
    let added = |call: &str| {
        Some(get(&format!("{call}_journaled_us"))? - get(&format!("{call}_direct_us"))?)
    };
    at_most(
        "mcp_call journaled - direct (us)",
        added("mcp_call"),
        times(1.3),
        "1.3 x floor",
    );
    at_most(
        "model_call journaled - direct (us)",
        added("model_call"),
        times(1.3),
        "1.3 x floor",
    );
    at_most(
        "agent_run_200_storage_ratio",
        get("agent_run_200_storage_ratio"),
        Some(1.0),
        "unique bytes",
    );
    at_most(
        "app_idle_pss_mb",
        get("app_idle_pss_mb"),
        get("app_floor_pss_mb").map(|f| f * 1.25),
        "1.25 x app_floor_pss_mb",
    );
    // The team backend (issue 17), against its own floor.
    at_most(
        "pg_retry_safe_step_us",
        get("pg_retry_safe_step_us"),
        get("pg_floor_commit_us").map(|f| f * 1.5),
        "1.5 x pg_floor_commit_us",
    );
    if let (Some(c1), Some(c64)) = (get("steps_per_s_c1"), get("steps_per_s_c64")) {
        targets.push(Target {
            name: "steps_per_s_c64 / steps_per_s_c1",
            value: c64 / c1,
            limit: ">= 8.0".into(),
            met: c64 >= 8.0 * c1,
        });
    }
    let step = get("retry_safe_step_us");
    for (peer, factor) in [("langgraph", 4.0), ("dbos", 8.0)] {
        let key = format!("peer_{peer}_step_us");
        if let (Some(ours), Some(theirs)) = (step, get(&key)) {
            targets.push(Target {
                name: if peer == "langgraph" {
                    "peer_langgraph_step_us / retry_safe_step_us"
                } else {
                    "peer_dbos_step_us / retry_safe_step_us"
                },
                value: theirs / ours,
                limit: format!(">= {factor:.1}"),
                met: theirs >= factor * ours,
            });
        }
    }
    // The team backend (issue 17), against DBOS on the same server.
    if let (Some(ours), Some(dbos)) = (get("pg_retry_safe_step_us"), get("pg_dbos_step_us")) {
        targets.push(Target {
            name: "pg_dbos_step_us / pg_retry_safe_step_us",
            value: dbos / ours,
            limit: ">= 5.0".into(),
            met: dbos >= 5.0 * ours,
        });
    }
    if let (Some(w1), Some(w2), Some(w4)) = (
        get("pg_steps_per_s_w1"),
        get("pg_steps_per_s_w2"),
        get("pg_steps_per_s_w4"),
    ) {
        // Grows with workers until the machine's cores are busy (2 here): w2 above w1, and
        // w4 not below w2.
        targets.push(Target {
            name: "pg_steps_per_s w2 / w1 (w4 / w2 >= 1)",
            value: w2 / w1,
            limit: format!("> 1.0 (w4 / w2 = {:.2})", w4 / w2),
            met: w2 > w1 && w4 >= 0.95 * w2,
        });
    }
    println!();
    println!(
        "{:<46} {:>10}  {:<28} result",
        "target (issues 16, 17)", "value", "limit"
    );
    for t in &targets {
        let verdict = if t.met { "MET" } else { "MISSED" };
        println!(
            "{:<46} {:>10.2}  {:<28} {verdict}",
            t.name, t.value, t.limit
        );
    }

    println!();
    println!(
        "{:<34} {:>10} {:>12} {:>9} {:>12} {:>9}",
        "Waymark figure", "value", "LangGraph", "x faster", "DBOS", "x faster"
    );
    let rows = [
        (
            "retry_safe_step_us",
            "peer_langgraph_step_us",
            "peer_dbos_step_us",
        ),
        (
            "at_most_once_step_us",
            "peer_langgraph_step_us",
            "peer_dbos_step_us",
        ),
        (
            "one_step_run_us",
            "peer_langgraph_run_us",
            "peer_dbos_run_us",
        ),
        (
            "agent_run_200_storage_ratio",
            "peer_langgraph_200_storage_ratio",
            "",
        ),
    ];
    for (ours, lg, dbos) in rows {
        let Some(v) = get(ours) else { continue };
        let cell = |k: &str| match get(k) {
            Some(p) => (format!("{p:.1}"), format!("{:.1}", p / v)),
            None => ("-".into(), "-".into()),
        };
        let (lg_v, lg_x) = cell(lg);
        let (db_v, db_x) = cell(dbos);
        println!("{ours:<34} {v:>10.1} {lg_v:>12} {lg_x:>9} {db_v:>12} {db_x:>9}");
    }
}
