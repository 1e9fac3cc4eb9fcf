//! MCP servers' questions during tool calls (elicitation), through `waymark serve` and the
//! CLI as a user would meet them: the demo tool server over Streamable HTTP asks
//! `confirm_refund`'s form, the run waits at `elicit/...`, a person answers, the call goes on.
//! Under 2026-07-28 the question is journaled between two rounds of the call, so it survives a
//! `kill -9` of the server process; under 2025-11-25 it lives inside the open request, so a
//! `kill -9` loses it and the call is settled by its safety class.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use support::{call, start, Server, BIN};

/// `waymark-demo-tools --http` answering one protocol revision; killed when dropped.
struct ToolsServer {
    child: Child,
    url: String,
}

impl Drop for ToolsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ToolsServer {
    fn start(protocol: &str, dir: &Path) -> Self {
        let bin = Path::new(BIN).with_file_name("waymark-demo-tools");
        assert!(bin.exists(), "{} is missing", bin.display());
        let mut child = Command::new(bin)
            .args(["--http", "127.0.0.1:0", "--protocol", protocol, "--outbox"])
            .arg(dir.join("outbox.jsonl"))
            .env_remove("DEMO_TOOLS_FAULTS")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn waymark-demo-tools");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = lines.next().and_then(Result::ok).expect("the URL line");
        std::thread::spawn(move || for _ in lines {});
        ToolsServer { child, url }
    }

    /// The `tools/call` requests of `tool` the server received, in order.
    async fn calls(&self, tool: &str) -> Vec<Value> {
        let origin = self.url.trim_end_matches("/mcp");
        let got: Value = support::client()
            .get(format!("{origin}/admin/calls"))
            .send()
            .await
            .expect("admin/calls")
            .json()
            .await
            .expect("JSON");
        got["calls"]
            .as_array()
            .expect("calls")
            .iter()
            .filter(|c| c["tool"] == tool)
            .cloned()
            .collect()
    }
}

async fn ok(base: &str, command: &str, body: Value) -> Value {
    let (status, got) = call(base, command, body.clone()).await;
    assert_eq!(status, 200, "{command} {body}: {got}");
    got
}

/// Polls (the state lives in another process) until `check` holds; its value.
async fn until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..3000 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what} did not happen within a minute");
}

async fn step(base: &str, run: &Value, key: &str) -> Option<Value> {
    let (_, got) = call(base, "runs_get", json!({"run_id": run})).await;
    got["steps"]
        .as_array()?
        .iter()
        .find(|s| s["key"] == key)
        .cloned()
}

async fn status_of(base: &str, run: &Value) -> String {
    let (_, got) = call(base, "runs_get", json!({"run_id": run})).await;
    got["run"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

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

fn answer(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("answer")
        .args(args)
        .env("WAYMARK_HOME", home)
        .env("WAYMARK_SECRET_BACKEND", "file")
        .env_remove("WAYMARK_DB")
        .stdin(Stdio::null())
        .output()
        .expect("run waymark answer")
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
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

    until("the run to finish", async || {
        (status_of(&server.base, &run).await == "succeeded").then_some(())
    })
    .await;
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
    until("needs_attention", async || {
        (status_of(&server.base, &run).await == "needs_attention").then_some(())
    })
    .await;
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
    until("the run to finish", async || {
        (status_of(&server.base, &run).await == "succeeded").then_some(())
    })
    .await;
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
    until("the run to finish", async || {
        (status_of(&server.base, &run).await == "succeeded").then_some(())
    })
    .await;
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
    until("the run to finish", async || {
        (status_of(&server.base, &run).await == "succeeded").then_some(())
    })
    .await;
    let (status, got) = call(
        &server.base,
        "runs_elicitation_answer",
        json!({"run_id": run, "step": key, "action": "cancel"}),
    )
    .await;
    assert_eq!(status, 400, "{got}");
    assert!(got.to_string().contains("no longer waits"), "{got}");
}

/// Long-polls a call by hand until `check` holds on its status.
async fn hand_call_until(base: &str, call_id: &Value, check: impl Fn(&Value) -> bool) -> Value {
    let mut seen = 0;
    for _ in 0..200 {
        let status = ok(
            base,
            "mcp_call_status",
            json!({"call_id": call_id, "seen": seen, "wait_ms": 5000}),
        )
        .await;
        if check(&status) {
            return status;
        }
        seen = status["version"].as_u64().unwrap_or(0);
    }
    panic!("the call by hand never got there");
}

#[tokio::test]
async fn a_call_by_hand_streams_progress_answers_questions_in_place_and_is_cancelled_on_the_wire() {
    let home = tempfile::tempdir().expect("home");
    for protocol in ["2026-07-28", "2025-06-18"] {
        let tools = ToolsServer::start(protocol, home.path());
        let server: Server = start(home.path());
        ok(
            &server.base,
            "mcp_add",
            json!({"name": "shop", "url": tools.url}),
        )
        .await;

        // Progress while it runs, then a cancel the server hears.
        let started = ok(
            &server.base,
            "mcp_call_start",
            json!({"server": "shop", "tool": "slow_report", "arguments": {"steps": 300, "step_ms": 100}}),
        )
        .await;
        let id = started["call_id"].clone();
        let running = hand_call_until(&server.base, &id, |s| {
            s["progress"].as_array().is_some_and(|p| !p.is_empty())
        })
        .await;
        assert_eq!(running["state"], "running", "{running}");
        ok(&server.base, "mcp_call_cancel", json!({"call_id": id})).await;
        let ended = hand_call_until(&server.base, &id, |s| s["state"] != "running").await;
        assert_eq!(ended["state"], "cancelled", "{ended}");
        until("the server to hear the cancellation", async || {
            let calls = tools.calls("slow_report").await;
            (calls.len() == 1 && calls[0]["cancelled"] == true).then_some(())
        })
        .await;
        let (status, _) = call(&server.base, "mcp_call_cancel", json!({"call_id": id})).await;
        assert_eq!(status, 409, "a call that ended cannot be cancelled again");

        // A question answered in place.
        let started = ok(
            &server.base,
            "mcp_call_start",
            json!({"server": "shop", "tool": "confirm_refund", "arguments": {"order_id": "A-1001", "amount_cents": 990}}),
        )
        .await;
        let id = started["call_id"].clone();
        let asking = hand_call_until(&server.base, &id, |s| s["state"] == "asking").await;
        let question = asking["question"].clone();
        assert!(
            question["params"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("9.90"),
            "{protocol}: {asking}"
        );
        let (status, got) = call(
            &server.base,
            "mcp_call_answer",
            json!({"call_id": id, "question_id": question["id"], "action": "accept", "content": {"approve": "yes"}}),
        )
        .await;
        assert_eq!(status, 400, "{got}");
        ok(
            &server.base,
            "mcp_call_answer",
            json!({"call_id": id, "question_id": question["id"], "action": "accept", "content": {"approve": true, "channel": "email"}}),
        )
        .await;
        let done = hand_call_until(&server.base, &id, |s| s["state"] == "succeeded").await;
        assert!(
            done["result"]["text"]
                .as_str()
                .unwrap_or_default()
                .contains("approved"),
            "{protocol}: {done}"
        );

        // Structured content that breaks the output schema is shown, with what is wrong.
        ok(
            &server.base,
            "mcp_call",
            json!({"server": "shop", "tool": "configure_faults", "arguments": {"tool": "lookup_order", "invalid_data": true}}),
        )
        .await;
        let started = ok(
            &server.base,
            "mcp_call_start",
            json!({"server": "shop", "tool": "lookup_order", "arguments": {"order_id": "A-1001"}}),
        )
        .await;
        let done = hand_call_until(&server.base, &started["call_id"], |s| {
            s["state"] == "succeeded" || s["state"] == "failed"
        })
        .await;
        assert_eq!(done["state"], "succeeded", "{done}");
        assert_eq!(done["result"]["output_check"]["valid"], false, "{done}");
        assert!(
            done["result"]["output_check"]["problem"].is_string(),
            "{done}"
        );
    }
}

/// The demo server's tasks, as `GET /admin/tasks` lists them.
async fn tasks_of(tools: &ToolsServer) -> Vec<Value> {
    let origin = tools.url.trim_end_matches("/mcp");
    let got: Value = support::client()
        .get(format!("{origin}/admin/tasks"))
        .send()
        .await
        .expect("admin/tasks")
        .json()
        .await
        .expect("JSON");
    got["tasks"].as_array().cloned().unwrap_or_default()
}

/// Saves server `shop` at `url` and agent `reporter`, which calls build_report (the demo
/// server runs it as a task) then answers; starts a run.
async fn report_run(base: &str, dir: &Path, url: &str, steps: u32, extra: Value) -> Value {
    ok(base, "mcp_add", json!({"name": "shop", "url": url})).await;
    let script = dir.join("reporter.json");
    let turns = json!([
        {"tool_calls": [{"id": "c1", "name": "build_report",
                         "arguments": {"steps": steps, "step_ms": 100}}]},
        {"text": "Reported."}
    ]);
    std::fs::write(&script, json!({ "turns": turns }).to_string()).expect("script");
    let mut spec = json!({"name": "reporter", "instructions": "Report.",
        "model": {"provider": "scripted", "script": script},
        "tools": [{"kind": "mcp", "server": "shop", "tools": ["build_report"]}]});
    if let Some(extra) = extra.as_object() {
        for (k, v) in extra {
            spec[k] = v.clone();
        }
    }
    ok(base, "agents_save", json!({ "spec": spec })).await;
    ok(
        base,
        "runs_start",
        json!({"agent": "reporter", "input": "Report"}),
    )
    .await["run_id"]
        .clone()
}

/// Waits until the run polls its task: the handle is journaled and the server runs it.
async fn polling(base: &str, run: &Value, tools: &ToolsServer) -> String {
    until("the task to be polled", async || {
        let polled = step(base, run, "tool/1.1/task").await?;
        let handle = step(base, run, "tool/1.1").await?["output"]["task"]["task_id"]
            .as_str()?
            .to_string();
        let known = tasks_of(tools).await;
        (polled["status"] == "running" && known.iter().any(|t| t["id"] == handle.as_str()))
            .then_some(handle)
    })
    .await
}

#[tokio::test]
async fn after_kill_9_the_run_polls_the_same_task_and_the_tool_is_called_once() {
    let home = tempfile::tempdir().expect("home");
    let tools = ToolsServer::start("both", home.path());
    let mut server: Server = start(home.path());
    let run = report_run(&server.base, home.path(), &tools.url, 30, json!({})).await;
    let task = polling(&server.base, &run, &tools).await;
    let _ = server.child.kill();
    let _ = server.child.wait();
    server = start(home.path());
    until("the run to finish", async || {
        (status_of(&server.base, &run).await == "succeeded").then_some(())
    })
    .await;
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
    let run = report_run(&server.base, home.path(), &tools.url, 1000, json!({})).await;
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
    let run = report_run(&server.base, home.path(), &tools.url, 40, json!({})).await;
    polling(&server.base, &run, &tools).await;
    let expired = support::client()
        .post(format!("{origin}/admin/expire-tasks"))
        .send()
        .await
        .expect("expire");
    assert!(expired.status().is_success());
    until("the run to finish", async || {
        (status_of(&server.base, &run).await == "succeeded").then_some(())
    })
    .await;
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
        40,
        json!({"tool_overrides": {"build_report": {"safety": "at_most_once"}}}),
    )
    .await;
    polling(&server.base, &run, &tools).await;
    support::client()
        .post(format!("{origin}/admin/expire-tasks"))
        .send()
        .await
        .expect("expire");
    until("needs_attention", async || {
        (status_of(&server.base, &run).await == "needs_attention").then_some(())
    })
    .await;
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
}

#[tokio::test]
async fn a_call_by_hand_that_becomes_a_task_streams_its_status_and_a_cancel_cancels_the_task() {
    let home = tempfile::tempdir().expect("home");
    let tools = ToolsServer::start("both", home.path());
    let server: Server = start(home.path());
    ok(
        &server.base,
        "mcp_add",
        json!({"name": "shop", "url": tools.url}),
    )
    .await;
    let started = ok(
        &server.base,
        "mcp_call_start",
        json!({"server": "shop", "tool": "build_report", "arguments": {"steps": 500, "step_ms": 100}}),
    )
    .await;
    let id = started["call_id"].clone();
    let running = hand_call_until(&server.base, &id, |s| {
        s["progress"]
            .as_array()
            .and_then(|p| p.last())
            .and_then(|p| p["message"].as_str())
            .is_some_and(|m| m.starts_with("step ") && !m.starts_with("step 0 "))
    })
    .await;
    assert_eq!(running["state"], "running", "{running}");
    ok(&server.base, "mcp_call_cancel", json!({"call_id": id})).await;
    until("the task to be cancelled", async || {
        tasks_of(&tools)
            .await
            .iter()
            .any(|t| t["cancelled"] == true)
            .then_some(())
    })
    .await;
}
