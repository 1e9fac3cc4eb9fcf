//! The memory tools on a real catalog file: a locked database is retried by the step's policy
//! and never reaches the model, while a request the catalog refuses is the model's to fix.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::agents::{openai_reply, turn_index, Turn};
use support::{serve_with, Received, Server};
use waymark_agent::mcp::McpHub;
use waymark_agent::runtime::AgentRuntime;
use waymark_agent::{AgentSpec, Catalog, SecretStore};
use waymark_engine::*;

const KEY: &str = "sk-memory-test-0123456789";

/// An engine on `waymark.db` whose agent runs keep memory in a catalog on `memory.db`: a
/// separate file, so locking the memory leaves the journal free.
struct Setup {
    engine: Engine,
    catalog: Catalog,
    runtime: AgentRuntime,
    memory_db: std::path::PathBuf,
    _worker: Worker,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    std::env::set_var("WAYMARK_MEMORY_TEST_KEY", KEY);
    let dir = tempfile::tempdir().expect("temp dir");
    let memory_db = dir.path().join("memory.db");
    let secrets = SecretStore::file(dir.path().join("secrets").join("secrets.json"));
    let catalog = Catalog::open(&memory_db, secrets).expect("open catalog");
    let runtime = AgentRuntime::builder(McpHub::new())
        .directory(Arc::new(catalog.clone()))
        .allow_env_key("WAYMARK_MEMORY_TEST_KEY", "127.0.0.1")
        .build();
    let mut registry = Registry::new();
    runtime.register(&mut registry);
    let clock: SharedClock = Arc::new(SystemClock);
    let store = SqliteStore::open_with(
        dir.path().join("waymark.db"),
        SqliteConfig::default(),
        clock.clone(),
    )
    .expect("open store");
    let engine = Engine::new(store, registry)
        .with_clock(clock)
        .with_worker_config(WorkerConfig {
            claim_interval: Duration::from_millis(100),
            ..WorkerConfig::default()
        });
    let worker = engine.start_worker().await.expect("worker");
    Setup {
        engine,
        catalog,
        runtime,
        memory_db,
        _worker: worker,
        _dir: dir,
    }
}

fn spec(base_url: &str) -> AgentSpec {
    AgentSpec::from_toml_str(&format!(
        r#"
name = "keeper"
instructions = "You remember."
[model]
provider = "openai"
model = "gpt-4o-mini"
base_url = "{base_url}"
api_key_env = "WAYMARK_MEMORY_TEST_KEY"
[[tools]]
kind = "builtin"
name = "remember"
"#
    ))
    .expect("spec")
}

async fn model(turns: Vec<Turn>) -> Server {
    serve_with(Arc::new(move |req: &Received, _| {
        openai_reply(&turns[turn_index(req).min(turns.len() - 1)])
    }))
    .await
}

async fn settled(engine: &Engine, run: RunId) -> RunRecord {
    tokio::time::timeout(Duration::from_secs(60), engine.wait_settled(run))
        .await
        .expect("settles within 60 s")
        .expect("read")
}

/// The message the model's second request ends with: what it was told about its tool call.
fn tool_message(server: &Server) -> Value {
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "two model calls");
    requests[1].body["messages"]
        .as_array()
        .and_then(|m| m.last())
        .cloned()
        .expect("a last message")
}

#[tokio::test]
async fn a_locked_memory_database_retries_the_step_and_the_model_never_sees_it() {
    let s = setup().await;
    let server = model(vec![
        Turn::call("c1", "remember", json!({"key": "city", "value": "Lyon"})),
        Turn::answer("Stored."),
    ])
    .await;
    // Another connection holds the memory file's write lock, as another process would.
    let other = rusqlite::Connection::open(&s.memory_db).expect("second connection");
    other
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the lock");

    let run = s
        .runtime
        .start_run(&s.engine, &spec(&server.base_url), "remember Lyon", None)
        .await
        .expect("start");
    // The first attempt waits out the catalog's busy timeout, then fails retryably.
    let mut events = s.engine.subscribe(run, 0);
    let first_error = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let e = events.next().await.expect("event");
            if let EventKind::AttemptFinished {
                key,
                error: Some(error),
                ..
            } = e.kind
            {
                if key.as_str() == "tool/1.1" {
                    return error;
                }
            }
        }
    })
    .await
    .expect("the locked attempt fails within 30 s");
    assert_eq!(first_error.kind, "memory");
    assert!(first_error.retryable, "{first_error:?}");
    assert!(
        first_error.message.contains("locked"),
        "{}",
        first_error.message
    );
    // The lock goes away; the engine's retry of the step now writes the note.
    other.execute_batch("COMMIT").expect("release the lock");

    let rec = settled(&s.engine, run).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    let trace = s.engine.trace(run).await.expect("trace").expect("run");
    let step = trace
        .steps
        .iter()
        .find(|t| t.step.key.as_str() == "tool/1.1")
        .expect("tool step");
    assert!(step.attempt_list.len() >= 2, "{:?}", step.attempt_list);
    assert!(matches!(
        &step.attempt_list[0].outcome,
        AttemptOutcome::Error { error } if error.retryable && error.kind == "memory"
    ));
    assert_eq!(
        step.step.output,
        Some(json!({"content": "remembered \"city\"", "is_error": false}))
    );
    // The model was told the note was saved, never about the lock.
    let told = tool_message(&server);
    assert_eq!(told["role"], "tool");
    assert_eq!(told["content"], "remembered \"city\"");
    let notes = s.catalog.memory("keeper").expect("memory");
    assert_eq!(notes.len(), 1);
    assert_eq!(
        (notes[0].key.as_str(), notes[0].value.as_str()),
        ("city", "Lyon")
    );
}

#[tokio::test]
async fn a_memory_request_the_catalog_refuses_goes_to_the_model_once() {
    let s = setup().await;
    // A blank key passes the tool's schema but not the catalog.
    let server = model(vec![
        Turn::call("c1", "remember", json!({"key": "   ", "value": "Lyon"})),
        Turn::answer("I could not store that."),
    ])
    .await;
    let run = s
        .runtime
        .start_run(&s.engine, &spec(&server.base_url), "remember Lyon", None)
        .await
        .expect("start");
    let rec = settled(&s.engine, run).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    let trace = s.engine.trace(run).await.expect("trace").expect("run");
    let step = trace
        .steps
        .iter()
        .find(|t| t.step.key.as_str() == "tool/1.1")
        .expect("tool step");
    // Not retried: asking again would be refused the same way.
    assert_eq!(step.attempt_list.len(), 1, "{:?}", step.attempt_list);
    let told = tool_message(&server);
    assert_eq!(told["role"], "tool");
    let content = told["content"].as_str().expect("text");
    assert!(content.contains("non-empty key"), "{content}");
    assert!(s.catalog.memory("keeper").expect("memory").is_empty());
}
