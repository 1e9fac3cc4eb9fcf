//! A team database: two `waymark serve` processes (two machines' worth, each with a data
//! directory of its own) on one PostgreSQL database share their runs, and each streams live
//! what the other's worker commits.

use serde_json::{json, Value};

use crate::pg_lab::PgLab;
use crate::serve_events::{read_events, sse};
use crate::support::{call, start_with_env};

/// Polls a server until the run has ended.
async fn finished(base: &str, run: &str) -> Value {
    for _ in 0..1500 {
        let (_, got) = call(base, "runs_get", json!({"run_id": run})).await;
        if ["succeeded", "failed", "cancelled"]
            .contains(&got["run"]["status"].as_str().unwrap_or(""))
        {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("run {run} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_team_database_share_runs_and_stream_them_live() {
    let url = PgLab::shared().fresh_database();
    let homes = tempfile::tempdir().expect("temp dir");
    let env = [("WAYMARK_DB", url.as_str())];
    let a = start_with_env(&homes.path().join("a"), &env);
    let b = start_with_env(&homes.path().join("b"), &env);

    // Started through the first server: it waits for an approval.
    let (status, started) = call(
        &a.base,
        "runs_start_function",
        json!({"function": "example.approval", "input": {"item": "laptop"}}),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let run = started["run_id"].as_str().expect("run id").to_string();
    // Both stream it from its start.
    let stream_a = sse(&a.base, &run, None).await;
    let stream_b = sse(&b.base, &run, None).await;

    // The second server lists it, and the approval comes through it.
    let (_, listed) = call(&b.base, "runs_list", json!({})).await;
    assert!(
        listed["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .any(|r| r["id"] == run.as_str()),
        "the other server lists the run: {listed}"
    );
    let (status, sent) = call(
        &b.base,
        "events_send",
        json!({"name": "approval", "payload": {"run": run, "approved": true, "by": "b"}}),
    )
    .await;
    assert_eq!(status, 200, "{sent}");

    let done_a = finished(&a.base, &run).await;
    let done_b = finished(&b.base, &run).await;
    assert_eq!(done_a["run"]["status"], "succeeded", "{done_a}");
    assert_eq!(done_a["run"]["output"], done_b["run"]["output"]);
    assert_eq!(done_b["run"]["output"]["decision"]["by"], "b");

    // Every event of the run reached both streams live, in the same order, each once.
    let last = done_a["run"]["seq"]
        .as_i64()
        .expect("the run's last sequence number");
    let from_a = read_events(stream_a, last as usize).await;
    let from_b = read_events(stream_b, last as usize).await;
    let ids = |events: &[(i64, Value)]| events.iter().map(|(id, _)| *id).collect::<Vec<_>>();
    assert_eq!(ids(&from_a), (1..=last).collect::<Vec<_>>());
    assert_eq!(ids(&from_a), ids(&from_b));
    let kinds = |events: &[(i64, Value)]| {
        events
            .iter()
            .map(|(_, e)| e["kind"]["type"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds(&from_a), kinds(&from_b));

    // The team database checks out from either server.
    let (status, check) = call(&b.base, "db_check", json!({})).await;
    assert_eq!(status, 200, "{check}");
    assert_eq!(check["ok"], true, "{check}");
    assert!(check["problems"].as_array().is_some_and(|p| p.is_empty()));
}
