//! What the interactive-MCP tests share: the demo tool server over HTTP and polling the API.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::{self, call, BIN};

/// `waymark-demo-tools --http` answering one protocol revision; killed when dropped.
pub struct ToolsServer {
    child: Child,
    pub url: String,
}

impl Drop for ToolsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ToolsServer {
    pub fn start(protocol: &str, dir: &Path) -> Self {
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
    pub async fn calls(&self, tool: &str) -> Vec<Value> {
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

pub async fn ok(base: &str, command: &str, body: Value) -> Value {
    let (status, got) = call(base, command, body.clone()).await;
    assert_eq!(status, 200, "{command} {body}: {got}");
    got
}

/// Polls (the state lives in another process) until `check` holds; its value.
pub async fn until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..3000 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what} did not happen within a minute");
}

pub async fn step(base: &str, run: &Value, key: &str) -> Option<Value> {
    let (_, got) = call(base, "runs_get", json!({"run_id": run})).await;
    got["steps"]
        .as_array()?
        .iter()
        .find(|s| s["key"] == key)
        .cloned()
}

/// Polls until the run's status is `want`.
pub async fn until_status(base: &str, run: &Value, want: &str) {
    until(&format!("the run to be {want}"), async || {
        (status_of(base, run).await == want).then_some(())
    })
    .await;
}

pub async fn status_of(base: &str, run: &Value) -> String {
    let (_, got) = call(base, "runs_get", json!({"run_id": run})).await;
    got["run"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Long-polls a call by hand until `check` holds on its status.
pub async fn hand_call_until(base: &str, call_id: &Value, check: impl Fn(&Value) -> bool) -> Value {
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

/// The demo server's tasks, as `GET /admin/tasks` lists them.
pub async fn tasks_of(tools: &ToolsServer) -> Vec<Value> {
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
pub async fn report_run(
    base: &str,
    dir: &Path,
    url: &str,
    arguments: Value,
    extra: Value,
) -> Value {
    ok(base, "mcp_add", json!({"name": "shop", "url": url})).await;
    let script = dir.join("reporter.json");
    let turns = json!([
        {"tool_calls": [{"id": "c1", "name": "build_report", "arguments": arguments}]},
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
pub async fn polling(base: &str, run: &Value, tools: &ToolsServer) -> String {
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

/// `waymark answer ARGS` on the data in `home`.
pub fn answer(home: &Path, args: &[&str]) -> std::process::Output {
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

pub fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
