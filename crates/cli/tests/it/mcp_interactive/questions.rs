//! Questions (elicitation) in agent runs: each revision across kill -9, each policy.

use std::path::Path;

use serde_json::{json, Value};

use super::harness::*;
use crate::support::{call, start, Server};

/// Saves server `shop` at `url` and agent `refunder`, which calls confirm_refund then answers;
/// `elicitation` is the spec's `[elicitation]` table (JSON), if any. Starts a run.
async fn refund_run(base: &str, dir: &Path, url: &str, elicitation: Option<Value>) -> Value {
    ok(base, "mcp_add", json!({"name": "shop", "url": url})).await;
    let script = dir.join("refunder.json");
    let turns = json!([
        {"tool_calls": [{"id": "c1", "name": "confirm_refund",
                         "arguments": {"order_id": "A-1001", "amount_cents": 1250}}]},
        {"text": "Done."}
    ]);
    std::fs::write(&script, json!({ "turns": turns }).to_string()).expect("script");
    let mut spec = json!({"name": "refunder", "instructions": "Refund.",
        "model": {"provider": "scripted", "script": script},
        "tools": [{"kind": "mcp", "server": "shop", "tools": ["confirm_refund"]}]});
    if let Some(e) = elicitation {
        spec["elicitation"] = e;
    }
    ok(base, "agents_save", json!({ "spec": spec })).await;
    ok(
        base,
        "runs_start",
        json!({"agent": "refunder", "input": "Refund A-1001"}),
    )
    .await["run_id"]
        .clone()
}

#[tokio::test]
async fn a_2026_07_28_question_survives_kill_9_and_the_call_goes_on_with_its_answer() {
    let home = tempfile::tempdir().expect("home");
    let tools = ToolsServer::start("2026-07-28", home.path());
    let mut server: Server = start(home.path());
    let run = refund_run(&server.base, home.path(), &tools.url, None).await;
    let key = "elicit/1.1/r1.1";
    let question = until("the question", async || {
        step(&server.base, &run, key)
            .await
            .filter(|s| s["status"] == "waiting")
    })
    .await;
    assert_eq!(question["kind"], "elicitation", "{question}");
    let about = &question["input"]["about"];
    assert_eq!(about["server"], "shop", "{question}");
    assert_eq!(about["tool"], "confirm_refund", "{question}");
    assert_eq!(about["mode"], "form", "{question}");
    assert_eq!(about["survives_restart"], true, "{question}");
    assert!(
        about["message"]
            .as_str()
            .unwrap_or_default()
            .contains("12.50"),
        "{question}"
    );
    assert!(about["requested_schema"]["properties"]["channel"].is_object());

    // The process holding the run dies while the question waits.
    let _ = server.child.kill();
    let _ = server.child.wait();
    server = start(home.path());

    let id = run.as_str().expect("run id");
    let out = answer(
        home.path(),
        &[
            id,
            key,
            "--accept",
            r#"{"approve": true, "channel": "fax"}"#,
        ],
    );
    assert!(!out.status.success(), "a value off the form is refused");
    assert!(
        text(&out).contains("does not fit the form"),
        "{}",
        text(&out)
    );
    let out = answer(
        home.path(),
        &[
            id,
            key,
            "--accept",
            r#"{"approve": true, "channel": "phone"}"#,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("accepted the question"),
        "{}",
        text(&out)
    );

    until_status(&server.base, &run, "succeeded").await;
    let first = step(&server.base, &run, "tool/1.1").await.expect("round 1");
    assert!(
        first["output"]["input_required"]["requests"].is_object(),
        "{first}"
    );
    let second = step(&server.base, &run, "tool/1.1/round-2")
        .await
        .expect("round 2");
    let said = second["output"]["content"].as_str().unwrap_or_default();
    assert!(
        said.contains("approved") && said.contains("phone"),
        "the server read the answer: {second}"
    );
    let answered = step(&server.base, &run, key).await.expect("question");
    assert_eq!(
        answered["output"]["payload"]["action"], "accept",
        "{answered}"
    );
    assert_eq!(answered["output"]["payload"]["by"], "cli", "{answered}");

    // The server saw the call once, and once more with the answer: never a repeat.
    let calls = tools.calls("confirm_refund").await;
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0]["input_responses"], false, "{calls:?}");
    assert_eq!(calls[1]["input_responses"], true, "{calls:?}");
    assert_eq!(calls[1]["request_state"], true, "{calls:?}");
}

#[tokio::test]
async fn a_2025_11_25_question_dies_with_its_process_and_the_call_is_settled_by_its_safety_class() {
    let home = tempfile::tempdir().expect("home");
    let tools = ToolsServer::start("2025-06-18", home.path());
    let mut server: Server = start(home.path());
    let run = refund_run(&server.base, home.path(), &tools.url, None).await;
    let key = "elicit/1.1/a1.1.1";
    let question = until("the question", async || {
        step(&server.base, &run, key)
            .await
            .filter(|s| s["status"] == "waiting")
    })
    .await;
    assert_eq!(
        question["input"]["about"]["survives_restart"], false,
        "{question}"
    );
    // The call is open while its question waits: the run is still running.
    assert_eq!(status_of(&server.base, &run).await, "running");

    let _ = server.child.kill();
    let _ = server.child.wait();
    server = start(home.path());

    // confirm_refund is not read-only nor idempotent: at_most_once, so a person decides.
    until_status(&server.base, &run, "needs_attention").await;
    let lost = step(&server.base, &run, key).await.expect("question");
    assert_eq!(lost["status"], "succeeded", "{lost}");
    assert_eq!(lost["output"]["lost"], true, "{lost}");
    assert!(
        lost["output"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("2025-11-25"),
        "{lost}"
    );
    let out = answer(
        home.path(),
        &[
            run.as_str().expect("id"),
            key,
            "--accept",
            r#"{"approve": true, "channel": "email"}"#,
        ],
    );
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains("already settled") && said.contains("lost"),
        "{said}"
    );
    assert_eq!(
        tools.calls("confirm_refund").await.len(),
        1,
        "never repeated"
    );
}

#[tokio::test]
async fn each_policy_answers_without_a_person_or_asks_one() {
    let home = tempfile::tempdir().expect("home");
    let tools = ToolsServer::start("2026-07-28", home.path());
    let server: Server = start(home.path());
    // accept_defaults fills the form from its defaults (approve: true, channel: email).
    let run = refund_run(
        &server.base,
        home.path(),
        &tools.url,
        Some(json!({"servers": {"shop": "accept_defaults"}})),
    )
    .await;
    until_status(&server.base, &run, "succeeded").await;
    let done = step(&server.base, &run, "tool/1.1/round-2")
        .await
        .expect("round 2");
    let said = done["output"]["content"].as_str().unwrap_or_default();
    assert!(
        said.contains("approved") && said.contains("email"),
        "{done}"
    );
    assert!(step(&server.base, &run, "elicit/1.1/r1.1").await.is_none());

    // decline: the server is told no, and says the refund was declined.
    let run = refund_run(
        &server.base,
        home.path(),
        &tools.url,
        Some(json!({"policy": "decline"})),
    )
    .await;
    until_status(&server.base, &run, "succeeded").await;
    let done = step(&server.base, &run, "tool/1.1/round-2")
        .await
        .expect("round 2");
    assert!(
        done["output"]["content"]
            .as_str()
            .unwrap_or_default()
            .contains("declined"),
        "{done}"
    );

    // ask, answered with decline through the API.
    let run = refund_run(&server.base, home.path(), &tools.url, None).await;
    let key = "elicit/1.1/r1.1";
    until("the question", async || {
        step(&server.base, &run, key)
            .await
            .filter(|s| s["status"] == "waiting")
    })
    .await;
    let (status, got) = call(
        &server.base,
        "runs_elicitation_answer",
        json!({"run_id": run, "step": key, "action": "decline", "content": {"approve": true}}),
    )
    .await;
    assert_eq!(status, 400, "a decline has no content: {got}");
    ok(
        &server.base,
        "runs_elicitation_answer",
        json!({"run_id": run, "step": key, "action": "decline"}),
    )
    .await;
    until_status(&server.base, &run, "succeeded").await;
    let (status, got) = call(
        &server.base,
        "runs_elicitation_answer",
        json!({"run_id": run, "step": key, "action": "cancel"}),
    )
    .await;
    assert_eq!(status, 400, "{got}");
    assert!(got.to_string().contains("no longer waits"), "{got}");
}

#[tokio::test]
async fn run_wait_tells_where_to_answer_a_question_inside_an_open_call() {
    let home = tempfile::tempdir().expect("home");
    let tools = ToolsServer::start("2025-06-18", home.path());
    {
        // Set up through the API, then let the CLI run the agent itself.
        let server: Server = start(home.path());
        ok(
            &server.base,
            "mcp_add",
            json!({"name": "shop", "url": tools.url}),
        )
        .await;
        let script = home.path().join("refunder.json");
        let turns = json!([
            {"tool_calls": [{"id": "c1", "name": "confirm_refund",
                             "arguments": {"order_id": "A-1001", "amount_cents": 500}}]},
            {"text": "Done."}
        ]);
        std::fs::write(&script, json!({ "turns": turns }).to_string()).expect("script");
        let spec = json!({"name": "refunder", "instructions": "Refund.",
            "model": {"provider": "scripted", "script": script},
            "tools": [{"kind": "mcp", "server": "shop", "tools": ["confirm_refund"]}]});
        ok(&server.base, "agents_save", json!({ "spec": spec })).await;
    }
    let mut run = std::process::Command::new(crate::support::BIN)
        .args(["run", "refunder", "--input", "Refund A-1001", "--wait"])
        .env("WAYMARK_HOME", home.path())
        .env("WAYMARK_SECRET_BACKEND", "file")
        .env_remove("WAYMARK_DB")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("waymark run");
    let stderr = run.stderr.take().expect("stderr");
    let (run_id, key) = tokio::task::spawn_blocking(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(stderr).lines();
        while let Some(Ok(line)) = lines.next() {
            if let Some(rest) = line.trim().strip_prefix("waymark answer ") {
                let mut words = rest.split_whitespace();
                let run = words.next().unwrap_or_default().to_string();
                let key = words.next().unwrap_or_default().to_string();
                return (run, key);
            }
        }
        panic!("waymark run never said where to answer");
    })
    .await
    .expect("reader");
    assert!(key.starts_with("elicit/1.1/a"), "{key}");
    let out = answer(
        home.path(),
        &[
            &run_id,
            &key,
            "--accept",
            r#"{"approve": false, "channel": "email"}"#,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let done = tokio::task::spawn_blocking(move || run.wait_with_output())
        .await
        .expect("join")
        .expect("run output");
    assert!(done.status.success(), "{done:?}");
    assert!(
        String::from_utf8_lossy(&done.stdout).contains("Done."),
        "{done:?}"
    );
    assert_eq!(tools.calls("confirm_refund").await.len(), 1);
}
