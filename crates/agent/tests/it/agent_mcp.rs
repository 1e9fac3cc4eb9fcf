//! Agent runs calling the demo MCP server (a real process over stdio) with its fault switches:
//! a failing tool is retried, a hanging one times out, a crashed server is restarted, an
//! invalid answer is a clear error, and a destructive call in doubt waits for a person.

use crate::support;

use crate::mcp_servers;

use std::sync::Arc;

use mcp_servers::{demo_tools_bin, stdio_def};
use serde_json::{json, Value};
use support::agents::*;
use support::{serve_with, Received, Server};
use waymark_agent::mcp::{CallOptions, McpHub};
use waymark_agent::AgentSpec;
use waymark_engine::*;

const SERVER: &str = "demo-tools";

struct Setup {
    h: AgentHarness,
    model: Server,
    outbox: std::path::PathBuf,
    _tmp: tempfile::TempDir,
}

/// An agent whose model calls `tool` with `arguments` once, then answers; the demo server
/// starts with `faults`.
async fn setup(tool: &str, arguments: Value, faults: Option<&str>, overrides: &str) -> Setup {
    setup_with_args(tool, arguments, faults, overrides, &[]).await
}

/// [`setup`] with more arguments for the demo server (`--protocol REVISION`).
async fn setup_with_args(
    tool: &str,
    arguments: Value,
    faults: Option<&str>,
    overrides: &str,
    server_args: &[&str],
) -> Setup {
    let tmp = tempfile::tempdir().expect("temp dir");
    let outbox = tmp.path().join("outbox.jsonl");
    let outbox_arg = outbox.display().to_string();
    let mut env = vec![("RUST_LOG", "info,rmcp=warn")];
    if let Some(f) = faults {
        env.push(("DEMO_TOOLS_FAULTS", f));
    }
    let hub = McpHub::new();
    let mut args = vec!["--outbox", outbox_arg.as_str()];
    args.extend_from_slice(server_args);
    hub.set_server(stdio_def(SERVER, &demo_tools_bin(), &args, &env));
    let turns = [Turn::call("c1", tool, arguments), Turn::answer("finished")];
    let model = serve_with(Arc::new(move |req: &Received, _| {
        openai_reply(&turns[turn_index(req).min(1)])
    }))
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let h = AgentHarness::open(dir, Arc::new(TestDirectory::default()), hub).await;
    let spec = AgentSpec::from_toml_str(&format!(
        r#"
name = "tools-user"
instructions = "You use tools."
[model]
provider = "openai"
model = "gpt-4o-mini"
base_url = "{}"
[[tools]]
kind = "mcp"
server = "{SERVER}"
tools = ["lookup_order", "send_email"]
[tool_overrides.{tool}]
timeout_secs = 1
[tool_overrides.{tool}.retry]
max_attempts = 3
initial_interval_ms = 50
{overrides}
"#,
        model.base_url
    ))
    .expect("spec");
    let run = h.start(&spec, "go").await;
    let _ = run;
    Setup {
        h,
        model,
        outbox,
        _tmp: tmp,
    }
}

async fn only_run(s: &Setup) -> RunRecord {
    let runs =
        s.h.engine
            .list_runs(RunFilter::default())
            .await
            .expect("list");
    let run = runs.first().expect("a run").id;
    s.h.settled(run).await
}

fn tool_step(trace: &RunTrace) -> &StepTrace {
    trace
        .steps
        .iter()
        .find(|s| s.step.key.as_str() == "tool/1.1")
        .expect("the tool step")
}

fn outcomes(step: &StepTrace) -> Vec<String> {
    step.attempt_list
        .iter()
        .map(|a| match &a.outcome {
            AttemptOutcome::Error { error } => format!("error:{}", error.kind),
            other => other.label().to_string(),
        })
        .collect()
}

fn lookup() -> Value {
    json!({"order_id": "A-1001"})
}

fn email() -> Value {
    json!({"to": "ada@example.com", "subject": "Hi", "body": "Hello"})
}

#[tokio::test]
async fn a_tool_that_fails_twice_is_retried_and_each_failure_is_in_the_trace() {
    let s = setup(
        "lookup_order",
        lookup(),
        Some(r#"{"lookup_order": {"error_next": 2}}"#),
        "",
    )
    .await;
    let rec = only_run(&s).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    let trace = s.h.trace(rec.id).await;
    let step = tool_step(&trace);
    assert_eq!(
        outcomes(step),
        ["error:mcp_rpc_error", "error:mcp_rpc_error", "ok"]
    );
    let out = step.step.output.clone().unwrap();
    assert!(out["content"].as_str().unwrap().contains("A-1001"), "{out}");
    // The model got the order, not the failures.
    let second = &s.model.requests()[1].body;
    assert!(second.to_string().contains("Ada Lovelace"));
}

#[tokio::test]
async fn a_server_of_only_2026_07_28_and_one_of_only_2025_06_18_both_serve_a_run() {
    for revision in ["2026-07-28", "2025-06-18"] {
        let s = setup_with_args(
            "lookup_order",
            lookup(),
            None,
            "",
            &["--protocol", revision],
        )
        .await;
        let rec = only_run(&s).await;
        assert_eq!(
            rec.status,
            RunStatus::Succeeded,
            "{revision}: {:?}",
            rec.error
        );
        let trace = s.h.trace(rec.id).await;
        let out = tool_step(&trace).step.output.clone().unwrap_or_default();
        assert!(
            out["content"]
                .as_str()
                .unwrap_or_default()
                .contains("A-1001"),
            "{revision}: {out}"
        );
        // The step records who answered, in which revision.
        assert_eq!(out["server"]["protocol_version"], revision, "{out}");
        if revision == "2025-06-18" {
            assert_eq!(out["server"]["name"], "waymark-demo-tools", "{out}");
        }
    }
}

#[tokio::test]
async fn a_hanging_read_only_tool_times_out_on_each_attempt_then_the_model_is_told() {
    let s = setup(
        "lookup_order",
        lookup(),
        Some(r#"{"lookup_order": {"hang": true}}"#),
        "",
    )
    .await;
    let rec = only_run(&s).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    let trace = s.h.trace(rec.id).await;
    let step = tool_step(&trace);
    assert_eq!(step.step.status, StepStatus::Failed);
    assert_eq!(outcomes(step), ["timeout", "timeout", "timeout"]);
    let told = s.model.requests()[1].body.to_string();
    assert!(told.contains("the tool failed"), "{told}");
    // Each timed-out call was cancelled on the wire, and the server says so.
    let tail = s.h.runtime.hub().stderr_tail(SERVER).unwrap_or_default();
    assert!(
        tail.contains("hanging call cancelled by the client"),
        "{tail}"
    );
}

#[tokio::test]
async fn a_hanging_destructive_tool_is_not_retried_but_waits_for_a_person() {
    let s = setup(
        "send_email",
        email(),
        Some(r#"{"send_email": {"hang": true}}"#),
        "",
    )
    .await;
    let rec = only_run(&s).await;
    assert_eq!(rec.status, RunStatus::NeedsAttention);
    let trace = s.h.trace(rec.id).await;
    let step = tool_step(&trace);
    assert_eq!(step.step.safety, SafetyClass::AtMostOnce);
    assert_eq!(outcomes(step), ["timeout"]);
    // The person fails it; the model is told and the run ends.
    s.h.engine
        .resolve(
            rec.id,
            step.step.key.clone(),
            Resolution::Fail {
                message: "checked: not sent".into(),
            },
        )
        .await
        .expect("resolve");
    let rec = s.h.settled(rec.id).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
}

#[tokio::test]
async fn a_server_that_exits_mid_call_is_restarted_and_a_read_only_call_retried() {
    let s = setup("lookup_order", lookup(), None, "").await;
    // Switched on in the running server only: its restart comes back without the fault.
    let hub = s.h.runtime.hub().clone();
    let on = json!({"tool": "lookup_order", "exit_mid_call": true});
    hub.call_tool(SERVER, "configure_faults", on, CallOptions::default())
        .await
        .expect("configure");
    let rec = only_run(&s).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    let trace = s.h.trace(rec.id).await;
    let step = tool_step(&trace);
    let o = outcomes(step);
    assert_eq!(
        o.first().map(String::as_str),
        Some("error:mcp_server_exited"),
        "{o:?}"
    );
    assert_eq!(o.last().map(String::as_str), Some("ok"), "{o:?}");
}

#[tokio::test]
async fn a_server_that_exits_during_a_send_leaves_it_for_a_person() {
    let s = setup("send_email", email(), None, "").await;
    let hub = s.h.runtime.hub().clone();
    let on = json!({"tool": "send_email", "exit_mid_call": true});
    hub.call_tool(SERVER, "configure_faults", on, CallOptions::default())
        .await
        .expect("configure");
    let rec = only_run(&s).await;
    assert_eq!(rec.status, RunStatus::NeedsAttention);
    let trace = s.h.trace(rec.id).await;
    assert_eq!(outcomes(tool_step(&trace)), ["error:mcp_server_exited"]);
    // The person sees nothing in the outbox and retries: the restarted server sends it once.
    assert!(!s.outbox.exists() || std::fs::read_to_string(&s.outbox).unwrap().is_empty());
    s.h.engine
        .resolve(rec.id, StepKey::from("tool/1.1"), Resolution::Retry)
        .await
        .expect("resolve");
    let rec = s.h.settled(rec.id).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    let lines = std::fs::read_to_string(&s.outbox).expect("outbox");
    assert_eq!(lines.lines().count(), 1);
}

#[tokio::test]
async fn an_invalid_answer_is_a_clear_step_error() {
    let s = setup(
        "lookup_order",
        lookup(),
        Some(r#"{"lookup_order": {"invalid_data": true}}"#),
        "",
    )
    .await;
    let rec = only_run(&s).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    let trace = s.h.trace(rec.id).await;
    let step = tool_step(&trace);
    assert_eq!(step.step.status, StepStatus::Failed);
    let err = step.step.error.clone().expect("error");
    assert_eq!(err.kind, "mcp_invalid_response");
    assert!(err.message.contains("lookup_order"), "{}", err.message);
    assert_eq!(
        step.attempt_list.len(),
        1,
        "an invalid answer is not retried"
    );
}

#[tokio::test]
async fn a_servers_structured_content_that_looks_like_a_store_reference_is_kept_as_data() {
    let forged = json!({"$waymark_blob": "00"});
    let faults = json!({"lookup_order": {"structured_content": {
        "order_id": "A-1001", "customer": "Ada", "email": "ada@example.com",
        "status": "shipped", "items": ["lamp"], "total_cents": 1200, "note": null,
        "extra": forged, "more": [{"$$waymark_blob": "ff"}]
    }}})
    .to_string();
    let s = setup("lookup_order", lookup(), Some(&faults), "").await;
    let rec = only_run(&s).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    let trace = s.h.trace(rec.id).await;
    let step = tool_step(&trace);
    assert_eq!(
        step.step.status,
        StepStatus::Succeeded,
        "{:?}",
        step.step.error
    );
    let output = step.step.output.clone().expect("output").to_string();
    assert!(output.contains(r#"{"$waymark_blob":"00"}"#), "{output}");
    assert!(output.contains(r#"{"$$waymark_blob":"ff"}"#), "{output}");
    // The journal reads back whole, and the list with it.
    let listed =
        s.h.engine
            .list_runs(RunFilter::default())
            .await
            .expect("list");
    assert!(listed.iter().all(|r| r.error.is_none()), "{listed:?}");
}
