//! A finished run exported as a replay file and replayed offline: a loopback OpenAI model,
//! built-in tools, a person's answer and approval, and a sub-agent; the replay runs on a fresh
//! database with nothing listening and must journal the same steps with the same results.

use crate::support;

use crate::mcp_servers;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::agents::*;
use support::{closed_base_url, serve_with, Received, Server};
use waymark_agent::agent_loop::{AgentRunInput, AgentRunOutput, ANSWER_EVENT, APPROVAL_EVENT};
use waymark_agent::mcp::McpHub;
use waymark_agent::replay::{export_run, ReplayError, ReplayFile, REPLAY_FORMAT};
use waymark_agent::spec::{BuiltinTool, ToolOverride, ToolRef};
use waymark_agent::{AgentSpec, ScriptedProvider};
use waymark_engine::*;

fn spec(name: &str, instructions: &str, base_url: &str) -> AgentSpec {
    AgentSpec::from_toml_str(&format!(
        r#"
name = "{name}"
instructions = "{instructions}"
[model]
provider = "openai"
model = "gpt-4o-mini"
base_url = "{base_url}"
timeout_secs = 5
[retry]
initial_interval_ms = 50
max_interval_ms = 200
"#
    ))
    .expect("spec")
}

/// The parent asks a person, then remembers (once approved) while asking its sub-agent, then
/// recalls, then answers; the sub-agent recalls, then answers.
async fn model() -> Server {
    serve_with(Arc::new(|req: &Received, _| {
        let system = req.body["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let n = turn_index(req);
        let turn = if system.contains("researcher") {
            [
                Turn::call("r1", "recall", json!({"query": ""})),
                Turn::answer("The shop is in Lyon."),
            ][n.min(1)]
            .clone()
        } else {
            [
                Turn::call("p1", "ask_human", json!({"question": "Which city?"})),
                Turn::call("p2", "remember", json!({"key": "city", "value": "Lyon"})).and_call(
                    "p3",
                    "researcher",
                    json!({"input": "Find the shop"}),
                ),
                Turn::call("p4", "recall", json!({"query": "city"})),
                Turn::answer("You live in Lyon, and so does the shop."),
            ][n.min(3)]
            .clone()
        };
        openai_reply(&turn)
    }))
    .await
}

fn parent_spec(base_url: &str) -> AgentSpec {
    let mut parent = spec("helper", "You help.", base_url);
    parent.tools = vec![
        ToolRef::Builtin {
            name: BuiltinTool::AskHuman,
        },
        ToolRef::Builtin {
            name: BuiltinTool::Remember,
        },
        ToolRef::Builtin {
            name: BuiltinTool::Recall,
        },
        ToolRef::Agent {
            name: "researcher".into(),
            description: None,
        },
    ];
    parent.tool_overrides.insert(
        "remember".into(),
        ToolOverride {
            needs_approval: true,
            ..Default::default()
        },
    );
    parent
}

fn answer(rec: &RunRecord) -> String {
    let out: AgentRunOutput =
        serde_json::from_value(rec.output.clone().expect("output")).expect("agent output");
    out.answer
}

/// Ids and event numbers differ between a run and its replay; a replayed child's input also
/// carries its record. Everything else must be equal.
fn normalize(v: &Value) -> Value {
    match v {
        Value::String(s) if s.len() == 36 && RunId::parse(s).is_ok() => json!("<id>"),
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "event_id" && k.as_str() != "replay")
                .map(|(k, v)| (k.clone(), normalize(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Per step, by key: what the replay must reproduce.
fn shape(trace: &RunTrace) -> Vec<Value> {
    let mut steps: Vec<&StepTrace> = trace.steps.iter().collect();
    steps.sort_by(|a, b| a.step.key.as_str().cmp(b.step.key.as_str()));
    steps
        .iter()
        .map(|s| {
            json!({
                "key": s.step.key.as_str(),
                "kind": s.step.kind,
                "status": s.step.status,
                "safety": s.step.safety,
                "name": s.step.name,
                "input": normalize(&s.step.input),
                "output": s.step.output.as_ref().map(normalize),
                "error": s.step.error,
            })
        })
        .collect()
}

fn assert_same_steps(original: &RunTrace, replayed: &RunTrace) {
    let (a, b) = (shape(original), shape(replayed));
    let keys = |s: &[Value]| -> Vec<String> { s.iter().map(|v| v["key"].to_string()).collect() };
    assert_eq!(keys(&a), keys(&b), "step keys differ");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "step {} differs", x["key"]);
    }
}

#[tokio::test]
async fn a_finished_run_replays_offline_step_for_step() {
    let server = model().await;
    let h = AgentHarness::new().await;
    let child = spec("researcher", "You are the researcher.", &server.base_url);
    let mut child = child;
    child.tools = vec![ToolRef::Builtin {
        name: BuiltinTool::Recall,
    }];
    h.directory
        .agents
        .lock()
        .unwrap()
        .insert("researcher".into(), child);
    let run = h
        .start(&parent_spec(&server.base_url), "Where do I live?")
        .await;
    h.until(run, step_waiting("tool/1.1")).await;
    h.engine
        .send_event(
            ANSWER_EVENT,
            json!({"run": run, "step": "tool/1.1", "text": "Lyon"}),
            Duration::from_secs(60),
        )
        .await
        .unwrap();
    h.until(run, step_waiting("approval/2.1")).await;
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
    let original = h.trace(run).await;
    let original_child = h.trace(original.children[0]).await;
    let mut replay = export_run(&h.engine, run).await.expect("export");
    assert_eq!(replay.run.turns.len(), 4);
    assert_eq!(replay.run.children["tool/2.2"].turns.len(), 2);
    assert_eq!(replay.run.provider, "openai");

    // Nothing will listen where the model was.
    replay.spec.model.base_url = Some(closed_base_url().await);
    // Through a file, which is also a script of the parent's turns.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.replay.json");
    replay.write(&path).expect("write");
    let back = ReplayFile::read(&path).expect("read");
    assert_eq!(back, replay);
    let script = ScriptedProvider::from_file(&path).expect("the file reads as a script");
    assert_eq!(script.turns(), replay.run.turns.as_slice());

    // A fresh database has no agents and no memory.
    let served = server.requests().len();
    let fresh = AgentHarness::new().await;
    let replayed_run = fresh
        .runtime
        .start_replay(&fresh.engine, &back)
        .await
        .expect("start replay");
    let replayed = fresh.settled(replayed_run).await;
    assert_eq!(
        replayed.status,
        RunStatus::Succeeded,
        "{:?}",
        replayed.error
    );
    assert_eq!(answer(&replayed), answer(&rec));
    assert_eq!(answer(&replayed), "You live in Lyon, and so does the shop.");
    assert_eq!(
        server.requests().len(),
        served,
        "the replay called the model"
    );
    assert!(fresh.directory.memory.lock().unwrap().is_empty());

    let replayed_trace = fresh.trace(replayed_run).await;
    let mut keys: Vec<&str> = original.steps.iter().map(|s| s.step.key.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "approval/2.1",
            "llm/1",
            "llm/2",
            "llm/3",
            "llm/4",
            "tool/1.1",
            "tool/2.1",
            "tool/2.2",
            "tool/3.1",
            "tools"
        ]
    );
    assert_same_steps(&original, &replayed_trace);
    // The recorded recall, not the fresh (empty) memory's.
    let recall = replayed_trace
        .steps
        .iter()
        .find(|s| s.step.key.as_str() == "tool/3.1")
        .and_then(|s| s.step.output.clone())
        .expect("tool/3.1");
    assert!(
        recall["content"].as_str().unwrap_or("").contains("Lyon"),
        "{recall}"
    );
    let tools = |t: &RunTrace| {
        let s = t.steps.iter().find(|s| s.step.key.as_str() == "tools");
        s.map(|s| (s.step.input.clone(), s.step.output.clone()))
    };
    assert_eq!(tools(&original), tools(&replayed_trace));
    assert_eq!(replayed_trace.children.len(), 1);
    let replayed_child = fresh.trace(replayed_trace.children[0]).await;
    assert_same_steps(&original_child, &replayed_child);
    assert_eq!(
        answer(&fresh.settled(replayed_trace.children[0]).await),
        "The shop is in Lyon."
    );
}

#[tokio::test]
async fn unfinished_runs_bad_files_and_old_inputs() {
    // A run still waiting for a person cannot be exported.
    let server = model().await;
    let h = AgentHarness::new().await;
    let mut s = parent_spec(&server.base_url);
    s.tools.truncate(1);
    s.tool_overrides.clear();
    let run = h.start(&s, "x").await;
    h.until(run, step_waiting("tool/1.1")).await;
    let err = export_run(&h.engine, run).await.unwrap_err();
    assert!(matches!(err, ReplayError::NotFinished { .. }), "{err}");

    let bad = ReplayFile::from_json_str(r#"{"format": "something-else"}"#).unwrap_err();
    assert!(bad.to_string().contains(REPLAY_FORMAT), "{bad}");
    let future = ReplayFile::from_json_str(&format!(
        r#"{{"format": "{REPLAY_FORMAT}", "version": 99}}"#
    ))
    .unwrap_err();
    assert!(future.to_string().contains("version 99"), "{future}");
    let dir = tempfile::tempdir().unwrap();
    let missing = ReplayFile::read(&dir.path().join("nope.json")).unwrap_err();
    assert!(missing.to_string().contains("nope.json"), "{missing}");

    // Journals written before replays existed still load, and new ones without a replay do
    // not mention it.
    let old = json!({"spec": serde_json::to_value(&s).unwrap(), "input": "hi"});
    let input: AgentRunInput = serde_json::from_value(old.clone()).expect("old input");
    assert!(input.replay.is_none());
    assert_eq!(serde_json::to_value(&input).unwrap(), old);
}

#[tokio::test]
async fn mcp_results_and_failures_replay_without_a_connection() {
    // lookup_order fails on every attempt; send_email (destructive) succeeds once.
    let tmp = tempfile::tempdir().unwrap();
    let outbox = tmp.path().join("outbox.jsonl");
    let outbox_arg = outbox.display().to_string();
    let hub = McpHub::new();
    hub.set_server(mcp_servers::stdio_def(
        "demo-tools",
        &mcp_servers::demo_tools_bin(),
        &["--outbox", &outbox_arg],
        &[
            ("RUST_LOG", "warn"),
            (
                "DEMO_TOOLS_FAULTS",
                r#"{"lookup_order": {"error_next": 10}}"#,
            ),
        ],
    ));
    let turns = [
        Turn::call("c1", "lookup_order", json!({"order_id": "A-1001"})).and_call(
            "c2",
            "send_email",
            json!({"to": "ada@example.com", "subject": "Hi", "body": "Hello"}),
        ),
        Turn::answer("The lookup failed; the email went out."),
    ];
    let server = serve_with(Arc::new(move |req: &Received, _| {
        openai_reply(&turns[turn_index(req).min(1)])
    }))
    .await;
    let h = AgentHarness::open(
        tempfile::tempdir().unwrap(),
        Arc::new(TestDirectory::default()),
        hub,
    )
    .await;
    let mut s = spec("mailer", "You send mail.", &server.base_url);
    s.tools = vec![ToolRef::Mcp {
        server: "demo-tools".into(),
        tools: waymark_agent::spec::ToolSelection::Named(vec![
            "lookup_order".into(),
            "send_email".into(),
        ]),
    }];
    s.tool_overrides.insert(
        "lookup_order".into(),
        ToolOverride {
            retry: Some(waymark_agent::spec::RetryOverride {
                max_attempts: Some(2),
                initial_interval_ms: Some(20),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    let run = h.start(&s, "look it up and mail Ada").await;
    let rec = h.settled(run).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    let original = h.trace(run).await;
    let replay = export_run(&h.engine, run).await.expect("export");
    h.runtime.hub().shutdown().await;
    let sent = std::fs::read_to_string(&outbox).expect("outbox");
    assert_eq!(sent.lines().count(), 1);

    // No MCP server is configured here at all.
    let fresh = AgentHarness::new().await;
    let replayed_run = fresh
        .runtime
        .start_replay(&fresh.engine, &replay)
        .await
        .expect("start replay");
    let replayed = fresh.settled(replayed_run).await;
    assert_eq!(
        replayed.status,
        RunStatus::Succeeded,
        "{:?}",
        replayed.error
    );
    assert_eq!(answer(&replayed), answer(&rec));
    let replayed_trace = fresh.trace(replayed_run).await;
    assert_same_steps(&original, &replayed_trace);
    let step = |t: &RunTrace, key: &str| {
        t.steps
            .iter()
            .find(|s| s.step.key.as_str() == key)
            .map(|s| (s.step.status, s.step.safety))
    };
    assert_eq!(
        step(&replayed_trace, "tool/1.1"),
        Some((StepStatus::Failed, SafetyClass::RetrySafe))
    );
    assert_eq!(
        step(&replayed_trace, "tool/1.2"),
        Some((StepStatus::Succeeded, SafetyClass::AtMostOnce))
    );
    // The recorded failure was not tried again, and no second email went out.
    let attempts = replayed_trace
        .steps
        .iter()
        .find(|s| s.step.key.as_str() == "tool/1.1")
        .map(|s| s.attempt_list.len());
    assert_eq!(attempts, Some(1));
    assert_eq!(std::fs::read_to_string(&outbox).unwrap(), sent);
}

#[tokio::test]
async fn a_failed_model_call_fails_again_in_the_replay() {
    // llm/2 overflows the context window; the loop compacts and tries once more.
    let turns = [
        Turn::call("c1", "recall", json!({"query": ""})),
        Turn::answer("short now"),
    ];
    let overflow = support::Reply::json(
        400,
        &json!({"error": {"message": "maximum context length exceeded", "code": "context_length_exceeded"}}),
    );
    let server = serve_with(Arc::new(move |req: &Received, n: usize| {
        if n == 1 {
            return overflow.clone();
        }
        openai_reply(&turns[turn_index(req).min(1)])
    }))
    .await;
    let h = AgentHarness::new().await;
    let mut s = spec("helper", "You help.", &server.base_url);
    s.tools = vec![ToolRef::Builtin {
        name: BuiltinTool::Recall,
    }];
    s.model.on_context_overflow = waymark_agent::spec::ContextOverflow::DropOldestToolResults;
    let run = h.start(&s, "x").await;
    let rec = h.settled(run).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    let original = h.trace(run).await;
    let replay = export_run(&h.engine, run).await.expect("export");
    assert!(replay.run.model_failures.contains_key("llm/2"));

    let fresh = AgentHarness::new().await;
    let replayed_run = fresh
        .runtime
        .start_replay(&fresh.engine, &replay)
        .await
        .expect("start replay");
    let replayed = fresh.settled(replayed_run).await;
    assert_eq!(
        replayed.status,
        RunStatus::Succeeded,
        "{:?}",
        replayed.error
    );
    assert_eq!(answer(&replayed), "short now");
    assert_same_steps(&original, &fresh.trace(replayed_run).await);
}
