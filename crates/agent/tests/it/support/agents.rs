//! Agent runs on a real engine: a SQLite file in a temp dir, a worker, the agent loop
//! registered, a directory of agents and memory held in the test, and wire-format replies.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use waymark_agent::mcp::McpHub;
use waymark_agent::runtime::{AgentDirectory, AgentRuntime, DirectoryError};
use waymark_agent::AgentSpec;
use waymark_engine::*;

use super::{Received, Reply};

#[derive(Default)]
pub struct TestDirectory {
    pub agents: Mutex<HashMap<String, AgentSpec>>,
    pub memory: Mutex<BTreeMap<(String, String), String>>,
}

impl AgentDirectory for TestDirectory {
    fn agent(&self, name: &str) -> Result<Option<AgentSpec>, DirectoryError> {
        Ok(self.agents.lock().unwrap().get(name).cloned())
    }
    fn remember(&self, agent: &str, key: &str, value: &str) -> Result<Value, DirectoryError> {
        self.memory
            .lock()
            .unwrap()
            .insert((agent.into(), key.into()), value.into());
        Ok(json!({"key": key}))
    }
    fn recall(&self, agent: &str, query: &str, _limit: usize) -> Result<Value, DirectoryError> {
        let m = self.memory.lock().unwrap();
        Ok(m.iter()
            .filter(|((a, k), v)| a == agent && (k.contains(query) || v.contains(query)))
            .map(|((_, k), v)| json!({"key": k, "value": v}))
            .collect())
    }
    fn forget(&self, agent: &str, key: &str) -> Result<bool, DirectoryError> {
        Ok(self
            .memory
            .lock()
            .unwrap()
            .remove(&(agent.into(), key.into()))
            .is_some())
    }
}

pub struct AgentHarness {
    pub dir: tempfile::TempDir,
    pub engine: Engine,
    pub store: Arc<SqliteStore>,
    pub worker: Option<Worker>,
    pub runtime: AgentRuntime,
    pub directory: Arc<TestDirectory>,
}

pub fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("waymark.db")
}

impl AgentHarness {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::open(dir, Arc::new(TestDirectory::default()), McpHub::new()).await
    }

    pub async fn open(dir: tempfile::TempDir, directory: Arc<TestDirectory>, hub: McpHub) -> Self {
        // The loopback model servers of these tests get the test key (a spec's
        // `api_key_env = "WAYMARK_TEST_KEY"`), as a user would allow it.
        let runtime = AgentRuntime::builder(hub)
            .directory(directory.clone())
            .allow_env_key("WAYMARK_TEST_KEY", "127.0.0.1")
            .build();
        let mut registry = Registry::new();
        runtime.register(&mut registry);
        let clock: SharedClock = Arc::new(SystemClock);
        let store = SqliteStore::open_with(db_path(&dir), SqliteConfig::default(), clock.clone())
            .expect("open store");
        let engine = Engine::new(store.clone(), registry)
            .with_clock(clock)
            .with_worker_config(WorkerConfig {
                claim_interval: Duration::from_millis(100),
                ..WorkerConfig::default()
            });
        let worker = engine.start_worker().await.expect("worker");
        AgentHarness {
            dir,
            engine,
            store,
            worker: Some(worker),
            runtime,
            directory,
        }
    }

    /// Drops the worker mid-flight as a crash would, then opens the same file again.
    pub async fn restart(mut self) -> Self {
        drop(self.worker.take());
        let locks = PathBuf::from(format!("{}.workers", db_path(&self.dir).display()));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !all_lock_files_free(&locks) {
            assert!(
                std::time::Instant::now() < deadline,
                "lock file stayed held"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        self.store.close();
        let (dir, directory, hub) = (self.dir, self.directory, self.runtime.hub().clone());
        drop(self.engine);
        Self::open(dir, directory, hub).await
    }

    pub async fn start(&self, spec: &AgentSpec, input: &str) -> RunId {
        self.runtime
            .start_run(&self.engine, spec, input, None)
            .await
            .expect("start agent run")
    }

    pub async fn settled(&self, run: RunId) -> RunRecord {
        tokio::time::timeout(Duration::from_secs(60), self.engine.wait_settled(run))
            .await
            .expect("run settles within 60 s")
            .expect("wait")
    }

    pub async fn until(&self, run: RunId, pred: impl Fn(&Event) -> bool) -> Event {
        let mut sub = self.engine.subscribe(run, 0);
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let e = sub.next().await.expect("event");
                if pred(&e) {
                    return e;
                }
            }
        })
        .await
        .expect("event arrives within 30 s")
    }

    pub async fn trace(&self, run: RunId) -> RunTrace {
        self.engine
            .trace(run)
            .await
            .expect("trace")
            .expect("run exists")
    }

    /// Every file of the database (main, -wal) as bytes, to search for secrets.
    pub fn database_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let p = format!("{}{suffix}", db_path(&self.dir).display());
            if let Ok(b) = std::fs::read(p) {
                all.extend(b);
            }
        }
        all
    }
}

fn all_lock_files_free(dir: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return true;
    };
    entries
        .flatten()
        .all(|e| match std::fs::File::open(e.path()) {
            Ok(f) => f.try_lock().is_ok(),
            Err(_) => true,
        })
}

pub fn step_waiting(key: &'static str) -> impl Fn(&Event) -> bool {
    move |e| matches!(&e.kind, EventKind::StepWaiting { key: k, .. } if k.as_str() == key)
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// A model turn in the provider-neutral shape the wire helpers take.
#[derive(Clone, Debug)]
pub struct Turn {
    pub text: String,
    /// (id, name, arguments)
    pub calls: Vec<(String, String, Value)>,
}

impl Turn {
    pub fn answer(text: &str) -> Self {
        Turn {
            text: text.into(),
            calls: vec![],
        }
    }
    pub fn call(id: &str, name: &str, arguments: Value) -> Self {
        Turn {
            text: String::new(),
            calls: vec![(id.into(), name.into(), arguments)],
        }
    }
    pub fn and_call(mut self, id: &str, name: &str, arguments: Value) -> Self {
        self.calls.push((id.into(), name.into(), arguments));
        self
    }
}

/// Which turn a request asks for: the number of assistant messages it already holds.
pub fn turn_index(request: &Received) -> usize {
    request.body["messages"]
        .as_array()
        .map(|m| m.iter().filter(|m| m["role"] == "assistant").count())
        .unwrap_or(0)
}

/// An OpenAI chat completion (whole, not streamed).
pub fn openai_reply(turn: &Turn) -> Reply {
    let tool_calls: Vec<Value> = turn
        .calls
        .iter()
        .map(|(id, name, args)| {
            json!({"id": id, "type": "function", "function": {"name": name, "arguments": args.to_string()}})
        })
        .collect();
    let mut message = json!({"role": "assistant", "content": if turn.text.is_empty() { Value::Null } else { json!(turn.text) }});
    if !tool_calls.is_empty() {
        message["tool_calls"] = json!(tool_calls);
    }
    let finish = if turn.calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    Reply::json(
        200,
        &json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}),
    )
}

/// An Anthropic message (whole, not streamed).
pub fn anthropic_reply(turn: &Turn) -> Reply {
    let mut content = Vec::new();
    if !turn.text.is_empty() {
        content.push(json!({"type": "text", "text": turn.text}));
    }
    for (id, name, args) in &turn.calls {
        content.push(json!({"type": "tool_use", "id": id, "name": name, "input": args}));
    }
    let stop = if turn.calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    Reply::json(
        200,
        &json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": content, "stop_reason": stop,
            "usage": {"input_tokens": 100, "output_tokens": 20}}),
    )
}
