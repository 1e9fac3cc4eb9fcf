//! Durable tasks in agent runs: kill -9 while one runs, a cancelled run, an expired task.

use serde_json::json;

use super::harness::*;
use crate::support::{self, start, Server};

#[tokio::test]
async fn after_kill_9_the_run_polls_the_same_task_and_the_tool_is_called_once() {
    let home = tempfile::tempdir().expect("home");
    let tools = ToolsServer::start("both", home.path());
    let mut server: Server = start(home.path());
    let run = report_run(
        &server.base,
        home.path(),
        &tools.url,
        json!({"steps": 30, "step_ms": 100}),
        json!({}),
    )
    .await;
    let task = polling(&server.base, &run, &tools).await;
    let _ = server.child.kill();
    let _ = server.child.wait();
    server = start(home.path());
    until_status(&server.base, &run, "succeeded").await;
    assert_eq!(
        tools.calls("build_report").await.len(),
        1,
        "never called again"
    );
    let known = tasks_of(&tools).await;
    assert_eq!(known.len(), 1, "{known:?}");
    assert_eq!(known[0]["id"], task.as_str());
    assert_eq!(known[0]["status"], "completed", "{known:?}");
    let polled = step(&server.base, &run, "tool/1.1/task")
        .await
        .expect("poll");
    assert_eq!(polled["status"], "succeeded", "{polled}");
    assert_eq!(
        polled["attempt_list"][0]["outcome"], "interrupted",
        "the kill cut the first poll: {polled}"
    );
    assert_eq!(
        polled["attempt_list"][1]["outcome"], "ok",
        "polled again: {polled}"
    );
    assert_eq!(polled["input"]["task_id"], task.as_str());
}

#[tokio::test]
async fn cancelling_a_run_cancels_its_task() {
    let home = tempfile::tempdir().expect("home");
    let tools = ToolsServer::start("both", home.path());
    let server: Server = start(home.path());
    let run = report_run(
        &server.base,
        home.path(),
        &tools.url,
        json!({"steps": 1000, "step_ms": 100}),
        json!({}),
    )
    .await;
    let task = polling(&server.base, &run, &tools).await;
    ok(&server.base, "runs_cancel", json!({"run_id": run})).await;
    until("the task to be cancelled", async || {
        let known = tasks_of(&tools).await;
        known
            .iter()
            .any(|t| t["id"] == task.as_str() && t["cancelled"] == true)
            .then_some(())
    })
    .await;
    assert_eq!(status_of(&server.base, &run).await, "cancelled");
}

#[tokio::test]
async fn a_task_the_server_expired_is_settled_by_the_safety_class() {
    let home = tempfile::tempdir().expect("home");
    let tools = ToolsServer::start("both", home.path());
    let origin = tools.url.trim_end_matches("/mcp").to_string();
    let server: Server = start(home.path());
    // build_report is read-only: safe to repeat, so it is called again.
    let run = report_run(
        &server.base,
        home.path(),
        &tools.url,
        json!({"steps": 40, "step_ms": 100}),
        json!({}),
    )
    .await;
    polling(&server.base, &run, &tools).await;
    let expired = support::client()
        .post(format!("{origin}/admin/expire-tasks"))
        .send()
        .await
        .expect("expire");
    assert!(expired.status().is_success());
    until_status(&server.base, &run, "succeeded").await;
    assert_eq!(tools.calls("build_report").await.len(), 2, "called again");
    let lost = step(&server.base, &run, "tool/1.1/task")
        .await
        .expect("poll");
    assert_eq!(lost["status"], "failed", "{lost}");
    assert!(step(&server.base, &run, "tool/1.1/again-1/task")
        .await
        .is_some());

    // The same call marked at_most_once waits for a person instead.
    let run = report_run(
        &server.base,
        home.path(),
        &tools.url,
        json!({"steps": 40, "step_ms": 100}),
        json!({"tool_overrides": {"build_report": {"safety": "at_most_once"}}}),
    )
    .await;
    polling(&server.base, &run, &tools).await;
    support::client()
        .post(format!("{origin}/admin/expire-tasks"))
        .send()
        .await
        .expect("expire");
    until_status(&server.base, &run, "needs_attention").await;
    let lost = step(&server.base, &run, "tool/1.1/task-lost")
        .await
        .expect("the lost task's step");
    assert!(
        lost["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no longer knows the task"),
        "{lost}"
    );
    assert_eq!(
        tools.calls("build_report").await.len(),
        3,
        "not called again"
    );
    // "Retry anyway" makes the call again, and the run goes on.
    ok(
        &server.base,
        "runs_resolve",
        json!({"run_id": run, "step": "tool/1.1/task-lost", "resolution": {"resolution": "retry"}}),
    )
    .await;
    until_status(&server.base, &run, "succeeded").await;
    assert_eq!(
        tools.calls("build_report").await.len(),
        4,
        "called again once"
    );
    assert!(step(&server.base, &run, "tool/1.1/again-1/task")
        .await
        .is_some());
}

#[tokio::test]
async fn a_task_that_asks_for_input_waits_for_a_person_across_kill_9_and_goes_on() {
    let home = tempfile::tempdir().expect("home");
    let tools = ToolsServer::start("both", home.path());
    let mut server: Server = start(home.path());
    let arguments = json!({"steps": 3, "step_ms": 100, "ask_title": true});
    let run = report_run(&server.base, home.path(), &tools.url, arguments, json!({})).await;
    let key = "elicit/1.1/t1.1";
    let question = until("the task's question", async || {
        step(&server.base, &run, key)
            .await
            .filter(|s| s["status"] == "waiting")
    })
    .await;
    assert_eq!(
        question["input"]["about"]["survives_restart"], true,
        "{question}"
    );
    assert_eq!(status_of(&server.base, &run).await, "waiting");
    let _ = server.child.kill();
    let _ = server.child.wait();
    server = start(home.path());
    let out = answer(
        home.path(),
        &[
            run.as_str().expect("id"),
            key,
            "--accept",
            r#"{"title": "Q4 numbers"}"#,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    until_status(&server.base, &run, "succeeded").await;
    let last = step(&server.base, &run, "tool/1.1/task-2")
        .await
        .expect("second poll");
    assert!(
        last["output"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("Q4 numbers: report complete after 3 steps"),
        "{last}"
    );
    assert_eq!(
        last["input"]["input_responses"]["title"]["action"], "accept",
        "{last}"
    );
    assert_eq!(tools.calls("build_report").await.len(), 1, "one tools/call");
}
