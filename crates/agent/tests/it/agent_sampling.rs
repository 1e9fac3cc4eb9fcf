//! A server's request for a completion during a tool call (MCP sampling), answered by the
//! agent's model on a loopback OpenAI server as a journaled model step nested in the call:
//! approved or refused by a person, in the run's token totals, stopped by a cost limit. The
//! demo server asks through `input_required` (2026-07-28) or a request inside the call
//! (2025-06-18).

use crate::support;

use crate::mcp_servers;

use std::sync::Arc;
use std::time::Duration;

use mcp_servers::{demo_tools_bin, stdio_def};
use serde_json::json;
use support::agents::*;
use support::{serve_with, Received, Reply, Server};
use waymark_agent::agent_loop::{AgentRunOutput, APPROVAL_EVENT};
use waymark_agent::mcp::McpHub;
use waymark_agent::AgentSpec;
use waymark_engine::*;

const SUMMARY: &str = "A-1001 ships on Monday.";

/// Answers the agent's turns (call summarize_order, then finish) and, for the server's
/// sampling request (its system prompt), a summary costing `sampling_tokens` input tokens.
async fn model_server(sampling_tokens: u64) -> Server {
    serve_with(Arc::new(move |req: &Received, _| {
        let system = req.body["messages"][0]["content"].as_str().unwrap_or("");
        if system.contains("one-sentence order summaries") {
            return Reply::json(
                200,
                &json!({"id": "s1", "object": "chat.completion", "model": "gpt-4o-mini",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": SUMMARY}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": sampling_tokens, "completion_tokens": 10, "total_tokens": sampling_tokens + 10}}),
            );
        }
        let turns = [
            Turn::call("c1", "summarize_order", json!({"order_id": "A-1001"})),
            Turn::answer("finished"),
        ];
        openai_reply(&turns[turn_index(req).min(1)])
    }))
    .await
}

struct Setup {
    h: AgentHarness,
    run: RunId,
    _model: Server,
    _tmp: tempfile::TempDir,
}

async fn setup(protocol: &str, sampling: &str, sampling_tokens: u64) -> Setup {
    let tmp = tempfile::tempdir().expect("temp dir");
    let outbox = tmp.path().join("outbox.jsonl").display().to_string();
    let hub = McpHub::new();
    hub.set_server(stdio_def(
        "shop",
        &demo_tools_bin(),
        &["--outbox", &outbox, "--protocol", protocol],
        &[("RUST_LOG", "info,rmcp=warn")],
    ));
    let model = model_server(sampling_tokens).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let h = AgentHarness::open(dir, Arc::new(TestDirectory::default()), hub).await;
    let spec = AgentSpec::from_toml_str(&format!(
        r#"
name = "summarizer"
instructions = "You summarize orders."
[model]
provider = "openai"
model = "gpt-4o-mini"
base_url = "{}"
[[tools]]
kind = "mcp"
server = "shop"
tools = ["summarize_order"]
{sampling}
"#,
        model.base_url
    ))
    .expect("spec");
    let run = h.start(&spec, "Summarize A-1001").await;
    Setup {
        h,
        run,
        _model: model,
        _tmp: tmp,
    }
}

fn step<'a>(trace: &'a RunTrace, key: &str) -> &'a StepTrace {
    trace
        .steps
        .iter()
        .find(|s| s.step.key.as_str() == key)
        .unwrap_or_else(|| {
            let keys: Vec<&str> = trace.steps.iter().map(|s| s.step.key.as_str()).collect();
            panic!("no step {key} in {keys:?}")
        })
}

async fn decide(s: &Setup, key: &str, approved: bool) {
    s.h.engine
        .send_event(
            APPROVAL_EVENT,
            json!({"run": s.run, "step": key, "approved": approved, "reason": "not now"}),
            Duration::from_secs(60),
        )
        .await
        .expect("event");
}

/// The text the tool answered (its last round's output).
fn tool_answer(trace: &RunTrace) -> String {
    trace
        .steps
        .iter()
        .filter(|s| s.step.key.as_str().starts_with("tool/1.1"))
        .filter_map(|s| s.step.output.as_ref())
        .filter_map(|o| o["content"].as_str().map(str::to_string))
        .rfind(|c| !c.is_empty())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_approved_request_is_a_model_step_in_the_call_and_in_the_runs_totals() {
    for (protocol, sample) in [
        ("2026-07-28", "sample/1.1/r1.1"),
        ("2025-06-18", "sample/1.1/a1.1.1"),
    ] {
        let s = setup(protocol, "", 5_000).await;
        let approval = format!("{sample}/approval");
        let key: &'static str = Box::leak(approval.clone().into_boxed_str());
        s.h.until(s.run, step_waiting(key)).await;
        let trace = s.h.trace(s.run).await;
        let asked = &step(&trace, &approval).step.input["about"];
        assert_eq!(asked["kind"], "sampling", "{asked}");
        assert_eq!(asked["server"], "shop");
        assert!(asked["messages"].to_string().contains("A-1001"), "{asked}");
        decide(&s, &approval, true).await;
        let done = s.h.settled(s.run).await;
        assert_eq!(
            done.status,
            RunStatus::Succeeded,
            "{protocol}: {:?}",
            done.error
        );
        let trace = s.h.trace(s.run).await;
        assert!(
            tool_answer(&trace).contains(SUMMARY),
            "{protocol}: the server got the model's answer: {}",
            tool_answer(&trace)
        );
        let sampled = step(&trace, sample);
        assert_eq!(
            sampled.step.output.as_ref().unwrap()["usage"]["input_tokens"],
            5_000
        );
        let out: AgentRunOutput =
            serde_json::from_value(done.output.clone().expect("output")).expect("agent output");
        // Two loop calls of 100 input tokens each, and the sampling call's 5 000.
        assert_eq!(out.usage.input_tokens, 5_200, "{protocol}: {out:?}");
        assert_eq!(
            out.model_calls, 2,
            "sampling is not one of the loop's model calls"
        );
    }
}

#[tokio::test]
async fn a_refused_request_is_an_error_the_server_reads() {
    let s = setup("2026-07-28", "", 10).await;
    let approval = "sample/1.1/r1.1/approval";
    s.h.until(s.run, step_waiting(approval)).await;
    decide(&s, approval, false).await;
    let done = s.h.settled(s.run).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    let trace = s.h.trace(s.run).await;
    let said = tool_answer(&trace);
    assert!(
        said.contains("a person refused the request: not now"),
        "{said}"
    );
    assert!(
        !trace
            .steps
            .iter()
            .any(|s| s.step.key.as_str() == "sample/1.1/r1.1"),
        "the model was never asked"
    );
}

#[tokio::test]
async fn a_cost_limit_reached_inside_sampling_ends_the_run_naming_the_limit() {
    let sampling = "[sampling]\npolicy = \"allow\"\n[limits]\nmax_cost_usd = 0.01";
    for protocol in ["2026-07-28", "2025-06-18"] {
        // A million input tokens of gpt-4o-mini cost $0.15.
        let s = setup(protocol, sampling, 1_000_000).await;
        let done = s.h.settled(s.run).await;
        assert_eq!(done.status, RunStatus::Failed, "{protocol}");
        let error = done.error.expect("error");
        assert_eq!(error.kind, "limit_reached", "{protocol}: {error:?}");
        assert!(
            error.message.contains("max_cost_usd"),
            "{protocol}: {error:?}"
        );
    }
}

#[tokio::test]
async fn a_denying_policy_never_asks_the_model() {
    let s = setup(
        "2026-07-28",
        "[sampling]\nservers = { shop = \"deny\" }",
        10,
    )
    .await;
    let done = s.h.settled(s.run).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    let trace = s.h.trace(s.run).await;
    assert!(
        tool_answer(&trace).contains("refuses requests from shop"),
        "{}",
        tool_answer(&trace)
    );
}
