//! Agents saved in the catalog and run through `AgentApp`, as both doors do: a run keeps the
//! spec it started with, memory outlives runs, and `max_concurrent_runs` holds runs back.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use support::agents::{openai_reply, step_waiting, turn_index, Turn};
use support::{serve_with, Received, Server};
use waymark_agent::app::AgentApp;
use waymark_agent::AgentSpec;
use waymark_engine::*;

struct App {
    app: AgentApp,
    _worker: Worker,
    _dir: tempfile::TempDir,
}

async fn app() -> App {
    std::env::set_var("WAYMARK_SECRET_BACKEND", "file");
    let dir = tempfile::tempdir().expect("temp dir");
    let app = AgentApp::open(&dir.path().join("waymark.db"), dir.path(), Registry::new())
        .expect("open app");
    let worker = app.engine.start_worker().await.expect("worker");
    App {
        app,
        _worker: worker,
        _dir: dir,
    }
}

/// Answers by the conversation's system prompt: `turns` per agent instructions prefix.
async fn model(turns: Vec<Turn>) -> Server {
    serve_with(Arc::new(move |req: &Received, _| {
        openai_reply(&turns[turn_index(req).min(turns.len() - 1)])
    }))
    .await
}

fn spec(base_url: &str, instructions: &str, extra: &str) -> AgentSpec {
    AgentSpec::from_toml_str(&format!(
        r#"
name = "keeper"
instructions = "{instructions}"
{extra}
[model]
provider = "openai"
model = "gpt-4o-mini"
base_url = "{base_url}"
[[tools]]
kind = "builtin"
name = "ask_human"
[[tools]]
kind = "builtin"
name = "remember"
[[tools]]
kind = "builtin"
name = "recall"
"#
    ))
    .expect("spec")
}

async fn settled(app: &AgentApp, run: RunId) -> RunRecord {
    tokio::time::timeout(Duration::from_secs(60), app.engine.wait_settled(run))
        .await
        .expect("settles")
        .expect("read")
}

async fn until_waiting(app: &AgentApp, run: RunId, key: &'static str) {
    let mut sub = app.engine.subscribe(run, 0);
    let pred = step_waiting(key);
    tokio::time::timeout(Duration::from_secs(30), async {
        while !pred(&sub.next().await.expect("event")) {}
    })
    .await
    .expect("the step waits");
}

#[tokio::test]
async fn editing_an_agent_changes_only_new_runs() {
    let a = app().await;
    let server = model(vec![
        Turn::call("c1", "ask_human", json!({"question": "ok?"})),
        Turn::answer("done"),
    ])
    .await;
    a.app
        .catalog
        .put_agent(&spec(&server.base_url, "Version one.", ""))
        .unwrap();
    let run = a.app.start_agent("keeper", "hi", None).await.unwrap();
    until_waiting(&a.app, run, "tool/1.1").await;
    a.app
        .catalog
        .put_agent(&spec(&server.base_url, "Version two.", ""))
        .unwrap();
    a.app.answer(run, "tool/1.1", "yes").await.unwrap();
    assert_eq!(settled(&a.app, run).await.status, RunStatus::Succeeded);
    let systems: Vec<String> = server
        .requests()
        .iter()
        .map(|r| {
            r.body["messages"][0]["content"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(systems, ["Version one.", "Version one."]);
    // A new run gets the new version.
    let run2 = a.app.start_agent("keeper", "hi", None).await.unwrap();
    until_waiting(&a.app, run2, "tool/1.1").await;
    let last = server.requests().last().unwrap().body.clone();
    assert_eq!(last["messages"][0]["content"], "Version two.");
}

#[tokio::test]
async fn memory_outlives_a_run() {
    let a = app().await;
    let first = model(vec![
        Turn::call(
            "c1",
            "remember",
            json!({"key": "favourite", "value": "green tea"}),
        ),
        Turn::answer("noted"),
    ])
    .await;
    a.app
        .catalog
        .put_agent(&spec(&first.base_url, "You remember.", ""))
        .unwrap();
    let run = a
        .app
        .start_agent("keeper", "I like green tea", None)
        .await
        .unwrap();
    assert_eq!(settled(&a.app, run).await.status, RunStatus::Succeeded);
    let notes = a.app.catalog.memory("keeper").unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].value, "green tea");

    let second = model(vec![
        Turn::call("c1", "recall", json!({"query": "favourite"})),
        Turn::answer("you like green tea"),
    ])
    .await;
    a.app
        .catalog
        .put_agent(&spec(&second.base_url, "You remember.", ""))
        .unwrap();
    let run = a
        .app
        .start_agent("keeper", "what do I like?", None)
        .await
        .unwrap();
    assert_eq!(settled(&a.app, run).await.status, RunStatus::Succeeded);
    let told = second.requests()[1].body.to_string();
    assert!(told.contains("green tea"), "{told}");
}

#[tokio::test]
async fn max_concurrent_runs_holds_a_second_run_back_until_the_first_ends() {
    let a = app().await;
    let server = model(vec![
        Turn::call("c1", "ask_human", json!({"question": "ok?"})),
        Turn::answer("done"),
    ])
    .await;
    let s = spec(
        &server.base_url,
        "One at a time.",
        "[limits]\nmax_concurrent_runs = 1\n",
    );
    a.app.catalog.put_agent(&s).unwrap();
    let first = a.app.start_agent("keeper", "first", None).await.unwrap();
    until_waiting(&a.app, first, "tool/1.1").await;
    let second = a.app.start_agent("keeper", "second", None).await.unwrap();
    a.app.answer(first, "tool/1.1", "yes").await.unwrap();
    let done = settled(&a.app, first).await;
    assert_eq!(done.status, RunStatus::Succeeded);
    until_waiting(&a.app, second, "tool/1.1").await;
    // The second run's first model call came after the first run had finished.
    let trace = a.app.engine.trace(second).await.unwrap().unwrap();
    let llm1 = trace
        .steps
        .iter()
        .find(|s| s.step.key.as_str() == "llm/1")
        .expect("llm/1");
    assert!(
        llm1.step.created_at >= done.finished_at.expect("finished"),
        "the second run started its model call while the first was running"
    );
}

#[tokio::test]
async fn an_agent_with_a_worker_label_runs_only_on_a_worker_with_that_label() {
    // The app's own worker has no label: the agent's run waits for one that has "gpu-box".
    let a = app().await;
    let server = model(vec![Turn::answer("done")]).await;
    a.app
        .catalog
        .put_agent(&spec(
            &server.base_url,
            "Placed.",
            r#"worker_label = "gpu-box""#,
        ))
        .unwrap();
    let run = a.app.start_agent("keeper", "hi", None).await.unwrap();
    let queued = a.app.engine.run(run).await.unwrap().expect("run");
    assert_eq!(queued.worker_label.as_deref(), Some("gpu-box"));
    assert_eq!(
        queued.lease_owner, None,
        "the unlabelled worker did not take it"
    );
    assert!(server.requests().is_empty(), "no model call was made");

    let labelled = a.app.engine.clone().with_worker_config(WorkerConfig {
        labels: vec!["gpu-box".into()],
        claim_interval: Duration::from_millis(50),
        ..WorkerConfig::default()
    });
    let worker = labelled.start_worker().await.expect("labelled worker");
    let done = settled(&a.app, run).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    assert_eq!(done.lease_owner, None);
    let mut sub = a.app.engine.subscribe(run, 0);
    let claimed = loop {
        if let EventKind::RunClaimed { worker, .. } = sub.next().await.expect("event").kind {
            break worker;
        }
    };
    assert_eq!(claimed, worker.id().0);
    worker.shutdown().await;
}

#[test]
fn a_worker_label_that_could_not_name_a_worker_is_refused() {
    let bad = AgentSpec::from_toml_str(
        r#"
name = "placed"
instructions = "x"
worker_label = "two words"
[model]
provider = "openai"
model = "gpt-4o-mini"
"#,
    );
    let text = match bad {
        Ok(spec) => spec.validate().expect_err("refused").to_string(),
        Err(e) => e.to_string(),
    };
    assert!(text.contains("worker_label"), "{text}");
}
