//! Agent runs on published MCP servers (installed by scripts/setup-test-deps.sh): a schema
//! mismatch repaired against server-everything's real schema, its progress kept on the step,
//! and server-filesystem's annotations deciding that an interrupted move waits for a person.

use crate::support;

use crate::mcp_servers;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mcp_servers::{stdio_def, workspace_root};
use serde_json::{json, Value};
use support::agents::*;
use support::{serve_with, Received, Server};
use waymark_agent::agent_loop::ToolSet;
use waymark_agent::mcp::McpHub;
use waymark_agent::AgentSpec;
use waymark_engine::*;

fn npm_server(package: &str) -> PathBuf {
    let path = workspace_root()
        .join("tests/mcp-servers/node_modules/@modelcontextprotocol")
        .join(package)
        .join("dist/index.js");
    assert!(
        path.exists(),
        "{} is missing: run scripts/setup-test-deps.sh (make test does)",
        path.display()
    );
    path
}

async fn model(turns: Vec<Turn>) -> Server {
    serve_with(Arc::new(move |req: &Received, _| {
        openai_reply(&turns[turn_index(req).min(turns.len() - 1)])
    }))
    .await
}

fn spec(base_url: &str, server: &str, tools: &str) -> AgentSpec {
    AgentSpec::from_toml_str(&format!(
        r#"
name = "published"
instructions = "You use tools."
[model]
provider = "openai"
model = "gpt-4o-mini"
base_url = "{base_url}"
[[tools]]
kind = "mcp"
server = "{server}"
tools = {tools}
"#
    ))
    .expect("spec")
}

fn step<'a>(trace: &'a RunTrace, key: &str) -> &'a StepTrace {
    trace
        .steps
        .iter()
        .find(|s| s.step.key.as_str() == key)
        .unwrap_or_else(|| panic!("no step {key}"))
}

#[tokio::test]
async fn server_everything_a_schema_mismatch_is_repaired_and_progress_is_kept() {
    let hub = McpHub::new();
    let script = npm_server("server-everything");
    hub.set_server(stdio_def(
        "everything",
        Path::new("node"),
        &[&script.to_string_lossy(), "stdio"],
        &[],
    ));
    let server = model(vec![
        Turn::call("c1", "get-sum", json!({"a": "1", "b": "2"})),
        Turn::call("c2", "get-sum", json!({"a": 1, "b": 2})).and_call(
            "c3",
            "trigger-long-running-operation",
            json!({"duration": 1, "steps": 3}),
        ),
        Turn::answer("The sum is 3."),
    ])
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let h = AgentHarness::open(dir, Arc::new(TestDirectory::default()), hub).await;
    let s = spec(
        &server.base_url,
        "everything",
        r#"["get-sum", "trigger-long-running-operation"]"#,
    );
    let run = h.start(&s, "add 1 and 2").await;
    let rec = h.settled(run).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    let trace = h.trace(run).await;
    // The bad call never reached the server: the model was told what to fix.
    let repair = step(&trace, "tool/1.1").step.output.clone().unwrap();
    assert_eq!(repair["is_error"], true);
    let told = repair["content"].as_str().unwrap();
    assert!(told.contains("/a") && told.contains("number"), "{told}");
    let sum = step(&trace, "tool/2.1").step.output.clone().unwrap();
    assert!(sum["content"].as_str().unwrap().contains('3'), "{sum}");
    // The long-running call reported progress, which the step keeps.
    let long = step(&trace, "tool/2.2");
    assert_eq!(long.step.status, StepStatus::Succeeded);
    let progress = long.step.progress.clone().expect("progress on the step");
    assert!(progress["progress"].as_f64().is_some(), "{progress}");
}

/// server-filesystem behind a relay that holds back `move_file` requests while `hold` exists:
/// the call is then in flight and has not happened.
fn filesystem_with_hold(hub: &McpHub, root: &Path, hold: &Path) {
    let script = npm_server("server-filesystem");
    let relay = r#"while IFS= read -r line; do
  case "$line" in *'"move_file"'*) [ -e "$0" ] && continue;; esac
  printf '%s\n' "$line"
done | exec node "$1" "$2""#;
    hub.set_server(stdio_def(
        "fs",
        Path::new("bash"),
        &[
            "-c",
            relay,
            &hold.to_string_lossy(),
            &script.to_string_lossy(),
            &root.to_string_lossy(),
        ],
        &[],
    ));
}

#[tokio::test]
async fn server_filesystem_annotations_decide_and_an_interrupted_move_waits_for_a_person() {
    let files = tempfile::tempdir().expect("temp dir");
    let root = files.path().canonicalize().expect("canonical");
    let (from, to) = (root.join("draft.txt"), root.join("final.txt"));
    std::fs::write(&from, "hello").expect("write");
    let hold = root.join(".hold-moves");
    std::fs::write(&hold, "").expect("hold");
    let hub = McpHub::new();
    filesystem_with_hold(&hub, &root, &hold);
    let server = model(vec![
        Turn::call(
            "c1",
            "move_file",
            json!({"source": from.to_string_lossy(), "destination": to.to_string_lossy()}),
        ),
        Turn::answer("Moved."),
    ])
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let h = AgentHarness::open(dir, Arc::new(TestDirectory::default()), hub).await;
    let s = spec(&server.base_url, "fs", r#"["write_file", "move_file"]"#);
    let run = h.start(&s, "publish the draft").await;
    // The annotations decided the classes: write_file is idempotent, move_file is not.
    h.until(
        run,
        |e| matches!(&e.kind, EventKind::AttemptStarted { key, .. } if key.as_str() == "tool/1.1"),
    )
    .await;
    let trace = h.trace(run).await;
    let tools: ToolSet =
        serde_json::from_value(step(&trace, "tools").step.output.clone().unwrap()).unwrap();
    let class = |n: &str| tools.get(n).map(|t| t.safety);
    assert_eq!(class("write_file"), Some(SafetyClass::RetrySafe));
    assert_eq!(class("move_file"), Some(SafetyClass::AtMostOnce));

    // The worker dies with the move in flight; after the restart it is in doubt.
    let h = h.restart().await;
    let rec = h.settled(run).await;
    assert_eq!(rec.status, RunStatus::NeedsAttention);
    let trace = h.trace(run).await;
    let moving = step(&trace, "tool/1.1");
    assert_eq!(moving.step.status, StepStatus::NeedsAttention);
    assert!(matches!(
        moving.attempt_list[0].outcome,
        AttemptOutcome::Interrupted
    ));
    // The person sees the file has not moved and retries: it moves, once.
    assert!(from.exists() && !to.exists());
    std::fs::remove_file(&hold).expect("release");
    h.engine
        .resolve(run, StepKey::from("tool/1.1"), Resolution::Retry)
        .await
        .expect("resolve");
    let rec = h.settled(run).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    assert!(!from.exists());
    assert_eq!(std::fs::read_to_string(&to).expect("moved"), "hello");
    let out: Value = step(&h.trace(run).await, "tool/1.1")
        .step
        .output
        .clone()
        .unwrap();
    assert_eq!(out["is_error"], false, "{out}");
}
