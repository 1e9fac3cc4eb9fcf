//! Agent runs end to end on the engine: loopback OpenAI and Anthropic servers in their exact
//! wire formats, the journal on a real SQLite file, errors, limits, repairs, humans, sub-agents.

use crate::support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::agents::*;
use support::{serve_with, Received, Reply, Server};
use waymark_agent::agent_loop::{rebuild_request, AgentRunOutput, ANSWER_EVENT, APPROVAL_EVENT};
use waymark_agent::{AgentSpec, ModelRequest};
use waymark_engine::*;

const KEY: &str = "sk-agent-test-0123456789-secret";

fn spec(provider: &str, base_url: &str, extra: &str) -> AgentSpec {
    let text = format!(
        r#"
name = "helper"
instructions = "You help."
{extra}
[model]
provider = "{provider}"
model = "{model}"
base_url = "{base_url}"
api_key_env = "WAYMARK_TEST_KEY"
timeout_secs = 2

[retry]
initial_interval_ms = 50
max_interval_ms = 200

[[tools]]
kind = "builtin"
name = "remember"

[[tools]]
kind = "builtin"
name = "recall"
"#,
        model = if provider == "anthropic" {
            "claude-sonnet-4-5"
        } else {
            "gpt-4o-mini"
        },
    );
    AgentSpec::from_toml_str(&text).expect("spec")
}

/// Replies per turn from `turns`, in `provider`'s wire format, after `faults` (by request
/// number) have been served.
async fn model_server(provider: &'static str, turns: Vec<Turn>, faults: Vec<Reply>) -> Server {
    serve_with(Arc::new(move |req: &Received, n: usize| {
        if let Some(f) = faults.get(n) {
            return f.clone();
        }
        let turn = &turns[turn_index(req).min(turns.len() - 1)];
        match provider {
            "anthropic" => anthropic_reply(turn),
            _ => openai_reply(turn),
        }
    }))
    .await
}

fn set_key() {
    std::env::set_var("WAYMARK_TEST_KEY", KEY);
}

fn output(run: &RunRecord) -> AgentRunOutput {
    serde_json::from_value(run.output.clone().expect("output")).expect("agent output")
}

fn step<'a>(trace: &'a RunTrace, key: &str) -> &'a StepTrace {
    trace
        .steps
        .iter()
        .find(|s| s.step.key.as_str() == key)
        .unwrap_or_else(|| panic!("no step {key}"))
}

/// Every model call's stored input, rebuilt, is byte for byte what the server received.
fn assert_inputs_rebuild(trace: &RunTrace, server: &Server, provider: &str) {
    let inputs: HashMap<String, Value> = trace
        .steps
        .iter()
        .map(|s| (s.step.key.to_string(), s.step.input.clone()))
        .collect();
    let outputs: HashMap<String, Value> = trace
        .steps
        .iter()
        .filter_map(|s| Some((s.step.key.to_string(), s.step.output.clone()?)))
        .collect();
    let received = server.requests();
    let llm_steps: Vec<&StepTrace> = trace
        .steps
        .iter()
        .filter(|s| s.step.key.as_str().starts_with("llm/"))
        .collect();
    assert!(!llm_steps.is_empty());
    for s in llm_steps {
        let rebuilt: ModelRequest = rebuild_request(&inputs, &outputs, s.step.key.as_str())
            .unwrap_or_else(|e| panic!("rebuild {}: {e}", s.step.key));
        let body = match provider {
            "anthropic" => waymark_agent::anthropic::request_body(&rebuilt),
            _ => waymark_agent::openai::request_body(&rebuilt),
        };
        let bytes = serde_json::to_vec(&body).unwrap();
        assert!(
            received.iter().any(|r| r.raw_body == bytes),
            "no request matched the rebuilt input of {}",
            s.step.key
        );
    }
}

async fn full_run(provider: &'static str) {
    set_key();
    let turns = vec![
        Turn::call("c1", "remember", json!({"key": "city", "value": "Lyon"})),
        Turn::call("c2", "recall", json!({"query": "city"})),
        Turn::answer("You live in Lyon."),
    ];
    let server = model_server(provider, turns, vec![]).await;
    let h = AgentHarness::new().await;
    let run = h
        .start(
            &spec(provider, &server.base_url, ""),
            "Remember I live in Lyon.",
        )
        .await;
    let rec = h.settled(run).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    let out = output(&rec);
    assert_eq!(out.answer, "You live in Lyon.");
    assert_eq!((out.model_calls, out.tool_calls), (3, 2));
    assert_eq!(out.usage.input_tokens, 300);
    let trace = h.trace(run).await;
    let keys: Vec<&str> = trace.steps.iter().map(|s| s.step.key.as_str()).collect();
    assert_eq!(
        keys,
        ["tools", "llm/1", "tool/1.1", "llm/2", "tool/2.1", "llm/3"]
    );
    // Usage and cost are on the model step; the recall saw what remember stored.
    let llm1 = step(&trace, "llm/1").step.output.clone().unwrap();
    assert_eq!(llm1["usage"]["input_tokens"], 100);
    assert!(llm1["cost_usd"].as_f64().unwrap() > 0.0, "{llm1}");
    let recall = step(&trace, "tool/2.1").step.output.clone().unwrap();
    assert!(
        recall["content"].as_str().unwrap().contains("Lyon"),
        "{recall}"
    );
    // The request carried the key; the journal did not.
    let req = &server.requests()[0];
    let auth = req
        .header("authorization")
        .or(req.header("x-api-key"))
        .unwrap_or("");
    assert!(auth.contains(KEY));
    assert!(
        !contains(&h.database_bytes(), KEY),
        "the API key is in the database"
    );
    assert_inputs_rebuild(&trace, &server, provider);
}

#[tokio::test]
async fn a_full_run_against_openai() {
    full_run("openai").await;
}

#[tokio::test]
async fn a_full_run_against_anthropic() {
    full_run("anthropic").await;
}

fn attempts(trace: &RunTrace, key: &str) -> Vec<AttemptRecord> {
    step(trace, key).attempt_list.clone()
}

fn error_of(a: &AttemptRecord) -> StepError {
    match &a.outcome {
        AttemptOutcome::Error { error } => error.clone(),
        other => panic!("attempt {} ended {other:?}, not with an error", a.number),
    }
}

#[tokio::test]
async fn rate_limit_waits_for_retry_after_and_server_errors_retry() {
    set_key();
    let faults = vec![
        Reply::json(
            429,
            &json!({"error": {"message": "slow down", "type": "rate_limit"}}),
        )
        .header("retry-after", "1"),
        Reply::json(500, &json!({"error": {"message": "boom"}})),
    ];
    let server = model_server("openai", vec![Turn::answer("done")], faults).await;
    let h = AgentHarness::new().await;
    let run = h.start(&spec("openai", &server.base_url, ""), "hi").await;
    let rec = h.settled(run).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    let trace = h.trace(run).await;
    let a = attempts(&trace, "llm/1");
    assert_eq!(a.len(), 3, "{a:?}");
    let first_error = error_of(&a[0]);
    assert_eq!(first_error.retry_after_ms, Some(1000));
    // Retry-After (1 s) won over the 50 ms backoff. The delay counts from the failure;
    // `finished_at` is the commit's time, a moment later (1 ms was seen under load).
    let waited = a[1].started_at - a[0].finished_at.expect("finished");
    assert!(waited >= 950, "waited {waited} ms");
    assert!(error_of(&a[1]).message.contains("boom"));
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn unauthorized_fails_at_once_and_names_the_problem_without_the_key() {
    set_key();
    let faults = vec![Reply::json(
        401,
        &json!({"error": {"message": format!("Incorrect API key provided: {KEY}"), "type": "invalid_request_error"}}),
    )];
    let server = model_server("openai", vec![Turn::answer("never")], faults).await;
    let h = AgentHarness::new().await;
    let run = h.start(&spec("openai", &server.base_url, ""), "hi").await;
    let rec = h.settled(run).await;
    assert_eq!(rec.status, RunStatus::Failed);
    let err = rec.error.clone().expect("error");
    assert!(
        err.message.contains("401") && err.message.contains("API key"),
        "{}",
        err.message
    );
    assert!(!err.message.contains(KEY));
    assert_eq!(attempts(&h.trace(run).await, "llm/1").len(), 1);
    assert_eq!(server.requests().len(), 1);
    assert!(
        !contains(&h.database_bytes(), KEY),
        "the API key is in the database"
    );
}

#[tokio::test]
async fn garbage_and_a_hung_answer_are_retried() {
    set_key();
    let faults = vec![
        Reply::raw(200, "application/json", "{not json at all"),
        Reply::silent(),
    ];
    let server = model_server("openai", vec![Turn::answer("ok")], faults).await;
    let h = AgentHarness::new().await;
    let run = h.start(&spec("openai", &server.base_url, ""), "hi").await;
    let rec = h.settled(run).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    let a = attempts(&h.trace(run).await, "llm/1");
    assert_eq!(a.len(), 3, "{a:?}");
    assert!(
        error_of(&a[0]).kind.contains("invalid"),
        "{:?}",
        a[0].outcome
    );
    // The HTTP client's timeout or the step's attempt timeout: both end the hung call.
    let timed_out = match &a[1].outcome {
        AttemptOutcome::Timeout { .. } => true,
        AttemptOutcome::Error { error } => error.kind == "timeout",
        _ => false,
    };
    assert!(timed_out, "{:?}", a[1].outcome);
}

#[tokio::test]
async fn the_step_limit_ends_the_run_with_a_clear_reason() {
    set_key();
    let turns = vec![Turn::call("c", "recall", json!({"query": ""}))];
    let server = model_server("openai", turns, vec![]).await;
    let h = AgentHarness::new().await;
    let s = spec("openai", &server.base_url, "[limits]\nmax_steps = 2\n");
    let run = h.start(&s, "loop forever").await;
    let rec = h.settled(run).await;
    assert_eq!(rec.status, RunStatus::Failed);
    let err = rec.error.unwrap();
    assert!(err.message.contains("limits.max_steps"), "{}", err.message);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_schema_violation_goes_back_to_the_model_and_is_repaired() {
    set_key();
    let turns = vec![
        Turn::call("c1", "remember", json!({"key": "city"})),
        Turn::call("c2", "remember", json!({"key": "city", "value": "Lyon"})),
        Turn::answer("Stored."),
    ];
    let server = model_server("openai", turns, vec![]).await;
    let h = AgentHarness::new().await;
    let run = h
        .start(&spec("openai", &server.base_url, ""), "remember")
        .await;
    let rec = h.settled(run).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    let trace = h.trace(run).await;
    let repair = step(&trace, "tool/1.1").step.output.clone().unwrap();
    assert_eq!(repair["is_error"], true);
    assert!(
        repair["content"].as_str().unwrap().contains("value"),
        "{repair}"
    );
    // The model saw the violation as the tool's answer.
    let second = &server.requests()[1].body;
    let tool_msg = second["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(tool_msg["role"], "tool");
    assert!(tool_msg["content"].as_str().unwrap().contains("value"));
    assert_eq!(
        h.directory
            .memory
            .lock()
            .unwrap()
            .get(&("helper".into(), "city".into())),
        Some(&"Lyon".to_string())
    );
}

#[tokio::test]
async fn repairs_are_bounded() {
    set_key();
    let turns = vec![Turn::call("c", "remember", json!({"key": 7}))];
    let server = model_server("openai", turns, vec![]).await;
    let h = AgentHarness::new().await;
    let run = h.start(&spec("openai", &server.base_url, ""), "x").await;
    let rec = h.settled(run).await;
    assert_eq!(rec.status, RunStatus::Failed);
    let err = rec.error.unwrap();
    assert_eq!(err.kind, "invalid_arguments", "{err:?}");
    assert!(
        err.message.contains("gave up after 3 repairs"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn context_overflow_drops_old_tool_results_and_tries_once_more() {
    set_key();
    let turns = vec![
        Turn::call("c1", "recall", json!({"query": ""})),
        Turn::answer("short now"),
    ];
    let overflow = Reply::json(
        400,
        &json!({"error": {"message": "maximum context length exceeded", "code": "context_length_exceeded"}}),
    );
    // Request 0 is llm/1; request 1 (llm/2) overflows; request 2 is the compacted retry.
    let turns2 = turns.clone();
    let server = serve_with(Arc::new(move |req: &Received, n: usize| {
        if n == 1 {
            return overflow.clone();
        }
        openai_reply(&turns2[turn_index(req).min(1)])
    }))
    .await;
    let h = AgentHarness::new().await;
    let s = spec("openai", &server.base_url, "");
    let mut s = s;
    s.model.on_context_overflow = waymark_agent::spec::ContextOverflow::DropOldestToolResults;
    let run = h.start(&s, "x").await;
    let rec = h.settled(run).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    let trace = h.trace(run).await;
    assert_eq!(step(&trace, "llm/2").step.status, StepStatus::Failed);
    assert_eq!(
        step(&trace, "llm/2.compact").step.status,
        StepStatus::Succeeded
    );
    let last = &server.requests()[2].body;
    let tool_msg = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "tool")
        .unwrap()
        .clone();
    assert!(
        tool_msg["content"].as_str().unwrap().contains("removed"),
        "{tool_msg}"
    );
    assert_inputs_rebuild(&trace, &server, "openai");
}

#[tokio::test]
async fn ask_human_and_approval_survive_a_restart() {
    set_key();
    let turns = vec![
        Turn::call("c1", "ask_human", json!({"question": "Which city?"})),
        Turn::call("c2", "remember", json!({"key": "city", "value": "Paris"})),
        Turn::answer("Noted."),
    ];
    let server = model_server("openai", turns, vec![]).await;
    let h = AgentHarness::new().await;
    let mut s = spec("openai", &server.base_url, "");
    s.tools.push(waymark_agent::spec::ToolRef::Builtin {
        name: waymark_agent::spec::BuiltinTool::AskHuman,
    });
    s.tool_overrides.insert(
        "remember".into(),
        waymark_agent::spec::ToolOverride {
            needs_approval: true,
            ..Default::default()
        },
    );
    let run = h.start(&s, "ask me").await;
    h.until(run, step_waiting("tool/1.1")).await;
    let h = h.restart().await;
    h.engine
        .send_event(
            ANSWER_EVENT,
            json!({"run": run, "step": "tool/1.1", "text": "Paris"}),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    h.until(run, step_waiting("approval/2.1")).await;
    assert!(
        h.directory.memory.lock().unwrap().is_empty(),
        "ran before approval"
    );
    let h = h.restart().await;
    h.engine
        .send_event(
            APPROVAL_EVENT,
            json!({"run": run, "step": "tool/2.1", "approved": true}),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let rec = h.settled(run).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    // The model saw the person's answer; the approved call ran once.
    let requests = server.requests();
    let second = &requests.iter().find(|r| turn_index(r) == 1).unwrap().body;
    assert!(second.to_string().contains("Paris"));
    assert_eq!(
        h.directory
            .memory
            .lock()
            .unwrap()
            .get(&("helper".into(), "city".into())),
        Some(&"Paris".to_string())
    );
    assert_inputs_rebuild(&h.trace(run).await, &server, "openai");
}

#[tokio::test]
async fn a_rejected_call_is_not_made_and_the_model_is_told_why() {
    set_key();
    let turns = vec![
        Turn::call("c1", "remember", json!({"key": "k", "value": "v"})),
        Turn::answer("ok"),
    ];
    let server = model_server("openai", turns, vec![]).await;
    let h = AgentHarness::new().await;
    let mut s = spec("openai", &server.base_url, "");
    s.tool_overrides.insert(
        "remember".into(),
        waymark_agent::spec::ToolOverride {
            needs_approval: true,
            ..Default::default()
        },
    );
    let run = h.start(&s, "x").await;
    h.until(run, step_waiting("approval/1.1")).await;
    h.engine
        .send_event(
            APPROVAL_EVENT,
            json!({"run": run, "step": "tool/1.1", "approved": false, "reason": "not today"}),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let rec = h.settled(run).await;
    assert_eq!(rec.status, RunStatus::Succeeded);
    assert!(h.directory.memory.lock().unwrap().is_empty());
    let second = &server.requests()[1].body;
    assert!(second.to_string().contains("not today"));
    assert_inputs_rebuild(&h.trace(run).await, &server, "openai");
}

#[tokio::test]
async fn a_sub_agent_runs_as_a_child_and_survives_a_restart() {
    set_key();
    // The parent calls the sub-agent; the sub-agent asks a human (so it waits), then answers.
    let server = serve_with(Arc::new(|req: &Received, _| {
        let system = req.body["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let n = turn_index(req);
        let turn = if system.contains("researcher") {
            [
                Turn::call("r1", "ask_human", json!({"question": "Where?"})),
                Turn::answer("The shop is in Lyon."),
            ][n.min(1)]
            .clone()
        } else {
            [
                Turn::call("p1", "researcher", json!({"input": "Find the shop"})),
                Turn::answer("Parent says: the shop is in Lyon."),
            ][n.min(1)]
            .clone()
        };
        openai_reply(&turn)
    }))
    .await;
    let h = AgentHarness::new().await;
    let mut child = spec("openai", &server.base_url, "");
    child.name = "researcher".into();
    child.instructions = "You are the researcher.".into();
    child.description = "Finds things".into();
    child.tools = vec![waymark_agent::spec::ToolRef::Builtin {
        name: waymark_agent::spec::BuiltinTool::AskHuman,
    }];
    h.directory
        .agents
        .lock()
        .unwrap()
        .insert("researcher".into(), child);
    let mut parent = spec("openai", &server.base_url, "");
    parent.tools = vec![waymark_agent::spec::ToolRef::Agent {
        name: "researcher".into(),
        description: None,
    }];
    let run = h.start(&parent, "where is the shop?").await;
    h.until(run, step_waiting("tool/1.1")).await;
    let trace = h.trace(run).await;
    let child_run = *trace.children.first().expect("a child run");
    h.until(child_run, step_waiting("tool/1.1")).await;
    let h = h.restart().await;
    h.engine
        .send_event(
            ANSWER_EVENT,
            json!({"run": child_run, "step": "tool/1.1", "text": "Lyon"}),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    let rec = h.settled(run).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    assert_eq!(output(&rec).answer, "Parent says: the shop is in Lyon.");
    let trace = h.trace(run).await;
    let sub = step(&trace, "tool/1.1").step.output.clone().unwrap();
    assert!(sub.to_string().contains("The shop is in Lyon."), "{sub}");
    let child_rec = h.settled(child_run).await;
    assert_eq!(child_rec.parent_run_id, Some(run));
    assert_inputs_rebuild(&trace, &server, "openai");
    assert_inputs_rebuild(&h.trace(child_run).await, &server, "openai");
}

#[tokio::test]
async fn a_streaming_answer_is_visible_live_as_the_steps_progress() {
    set_key();
    let chunk = |delta: Value, finish: Value| {
        let c = json!({"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        (None, c.to_string())
    };
    let words = ["The ", "answer ", "is ", "being ", "written ", "slowly."];
    let mut events: Vec<(Option<&str>, String)> = words
        .iter()
        .map(|w| chunk(json!({"content": w}), Value::Null))
        .collect();
    events.push(chunk(json!({}), json!("stop")));
    events.push((None, "[DONE]".to_string()));
    let mut reply = Reply::sse(&events);
    // Slow enough that the loop reports the partial text before the answer is complete.
    reply.gap = Duration::from_millis(80);
    let server = serve_with(Arc::new(move |_: &Received, _| reply.clone())).await;
    let h = AgentHarness::new().await;
    let run = h.start(&spec("openai", &server.base_url, ""), "hi").await;
    let partial = h
        .until(
            run,
            |e| matches!(&e.kind, EventKind::StepProgress { key, .. } if key.as_str() == "llm/1"),
        )
        .await;
    let EventKind::StepProgress { progress, .. } = partial.kind else {
        unreachable!()
    };
    let text = progress["partial"]
        .as_str()
        .expect("partial text")
        .to_string();
    assert!(
        text.starts_with("The ") && text.len() < words.concat().len(),
        "{text}"
    );
    let rec = h.settled(run).await;
    assert_eq!(output(&rec).answer, words.concat());
}

#[tokio::test]
async fn a_fork_with_an_edited_tool_output_is_what_the_next_model_call_sees() {
    set_key();
    let turns = vec![
        Turn::call("c1", "remember", json!({"key": "city", "value": "Lyon"})),
        Turn::call("c2", "recall", json!({"query": "city"})),
        Turn::answer("Done."),
    ];
    let server = model_server("openai", turns, vec![]).await;
    let h = AgentHarness::new().await;
    let run = h
        .start(&spec("openai", &server.base_url, ""), "where?")
        .await;
    assert_eq!(h.settled(run).await.status, RunStatus::Succeeded);
    let original = h.trace(run).await;
    let before = server.requests().len();

    let edited = json!({"content": "EDITED: the city is Oslo", "is_error": false});
    let fork = h
        .engine
        .fork(run, StepKey::from("tool/2.1"), Some(edited.clone()))
        .await
        .expect("fork");
    let rec = h.settled(fork).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    // Only the model call after the edit was made again, and it carried the edit.
    let new_requests = &server.requests()[before..];
    assert_eq!(new_requests.len(), 1);
    assert!(new_requests[0]
        .body
        .to_string()
        .contains("EDITED: the city is Oslo"));
    let forked = h.trace(fork).await;
    assert_eq!(step(&forked, "tool/2.1").step.output, Some(edited));
    assert_inputs_rebuild(&forked, &server, "openai");
    // The original run is unchanged.
    assert_eq!(h.trace(run).await, original);
}
