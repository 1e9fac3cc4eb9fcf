//! Crash chaos for agents: worker processes running agent runs (a loopback OpenAI server for
//! the model, the demo MCP server for `send_email`) are `kill -9`ed at random moments. After
//! restarts: no finished model call is sent again, no email is sent twice, in-doubt sends wait
//! in needs_attention, and every run can be finished.

mod common;
#[path = "pg/lab.rs"]
mod pg_lab;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use rand::Rng;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use waymark_agent::app::AgentApp;
use waymark_agent::mcp_import::{McpServerDef, McpTransport};
use waymark_agent::AgentSpec;
use waymark_engine::*;

const RUNS: usize = 20;
const KILLS: usize = 24;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A request the model server received: which case (the run's input), which turn, when.
#[derive(Clone, Debug)]
struct ModelRequest {
    case: String,
    turn: usize,
    at_ms: i64,
}

/// An OpenAI-compatible server: turn 0 asks for `send_email`, turn 1 answers. Each answer
/// takes a little while, so kills land inside model calls too.
async fn model_server(log: Arc<Mutex<Vec<ModelRequest>>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let log = log.clone();
            tokio::spawn(async move {
                let Some(body) = read_body(&mut socket).await else {
                    return;
                };
                let messages = body["messages"].as_array().cloned().unwrap_or_default();
                let case = messages
                    .iter()
                    .find(|m| m["role"] == "user")
                    .and_then(|m| m["content"].as_str())
                    .unwrap_or("")
                    .to_string();
                let turn = messages.iter().filter(|m| m["role"] == "assistant").count();
                log.lock().unwrap().push(ModelRequest {
                    case: case.clone(),
                    turn,
                    at_ms: now_ms(),
                });
                tokio::time::sleep(Duration::from_millis(20)).await;
                let message = if turn == 0 {
                    let args =
                        json!({"to": "customer@example.com", "subject": case, "body": "Hello"});
                    json!({"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                        "function": {"name": "send_email", "arguments": args.to_string()}}]})
                } else {
                    json!({"role": "assistant", "content": format!("done: {case}")})
                };
                let finish = if turn == 0 { "tool_calls" } else { "stop" };
                let reply = json!({"id": "x", "object": "chat.completion", "model": "m",
                    "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5}})
                .to_string();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    reply.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(reply.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    format!("http://{addr}/v1")
}

async fn read_body(socket: &mut tokio::net::TcpStream) -> Option<Value> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if buf.len() >= end + 4 + length {
            return serde_json::from_slice(&buf[end + 4..end + 4 + length]).ok();
        }
    }
}

fn outbox_subjects(path: &std::path::Path) -> Vec<String> {
    ledger_lines(path)
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["subject"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_runs_survive_kill_9_without_resending_model_calls_or_emails() {
    std::env::set_var("WAYMARK_SECRET_BACKEND", "file");
    let (dir, db, ledger) = temp_paths();
    let app = AgentApp::open(&db, dir.path(), Registry::new()).expect("open app");
    agent_chaos(&db, app, &dir, &ledger).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_agent_runs_survive_kill_9_without_resending_model_calls_or_emails() {
    std::env::set_var("WAYMARK_SECRET_BACKEND", "file");
    let (dir, _, ledger) = temp_paths();
    let url = pg_lab::PgLab::shared().fresh_database();
    let app = waymark_postgres::open_app(&url, dir.path(), Registry::new(), Arc::new(SystemClock))
        .await
        .expect("open app");
    agent_chaos(Path::new(&url), app, &dir, &ledger).await;
}

/// Agent runs on `app` (its database is `db`, as worker processes get it), workers killed at
/// random, then every run finished; nothing sent twice.
async fn agent_chaos(db: &Path, app: AgentApp, dir: &tempfile::TempDir, ledger: &Path) {
    let outbox = dir.path().join("outbox.jsonl");
    let log = Arc::new(Mutex::new(Vec::new()));
    let base_url = model_server(log.clone()).await;
    app.catalog
        .put_server(&McpServerDef {
            name: "demo-tools".into(),
            transport: McpTransport::Stdio {
                command: env!("CARGO_BIN_EXE_waymark-test-worker").into(),
                args: vec![
                    "demo-tools".into(),
                    "--outbox".into(),
                    outbox.display().to_string(),
                ],
                // A slow send widens the window in which a kill leaves it in doubt.
                env: [(
                    "DEMO_TOOLS_FAULTS".to_string(),
                    waymark_agent::Secret::new(r#"{"send_email": {"slow_ms": 80}}"#),
                )]
                .into(),
                cwd: None,
            },
        })
        .expect("save server");
    let spec = AgentSpec::from_toml_str(&format!(
        r#"
name = "mailer"
instructions = "You send emails."
[model]
provider = "openai"
model = "gpt-4o-mini"
base_url = "{base_url}"
[retry]
initial_interval_ms = 50
[[tools]]
kind = "mcp"
server = "demo-tools"
tools = ["send_email"]
"#
    ))
    .expect("spec");
    app.catalog.put_agent(&spec).expect("save agent");
    let mut runs = Vec::new();
    for i in 0..RUNS {
        let run = app
            .start_agent("mailer", &format!("case {i}"), None)
            .await
            .expect("start");
        runs.push(run);
    }

    let data_dir = dir.path().display().to_string();
    let worker_args = ["--agents", data_dir.as_str(), "--lease-ms", "2000"];
    let mut rng = rand::rng();
    for _ in 0..KILLS {
        let w = WorkerProcess::spawn(db, ledger, &worker_args, &[]);
        w.wait_line("READY", Duration::from_secs(30))
            .expect("worker starts");
        // A random moment: this sleep is the point of the test, not a wait for an event.
        std::thread::sleep(Duration::from_millis(rng.random_range(5..250)));
        w.kill9();
    }

    // A last worker finishes what it can; in-doubt sends stop in needs_attention.
    let w = WorkerProcess::spawn(db, ledger, &worker_args, &[]);
    w.wait_line("READY", Duration::from_secs(30))
        .expect("worker starts");
    let mut in_doubt = 0;
    for run in &runs {
        let r = tokio::time::timeout(Duration::from_secs(90), app.engine.wait_settled(*run))
            .await
            .expect("settles")
            .expect("read");
        if r.status == RunStatus::NeedsAttention {
            in_doubt += 1;
            let trace = app.engine.trace(*run).await.expect("trace").expect("run");
            let step = trace
                .steps
                .iter()
                .find(|s| s.step.status == StepStatus::NeedsAttention)
                .expect("a step needs attention");
            // Only a send whose attempt was cut short may be in doubt.
            assert_eq!(step.step.name.as_deref(), Some("demo-tools/send_email"));
            assert_eq!(step.step.safety, SafetyClass::AtMostOnce);
            let last = step.attempt_list.last().expect("attempt");
            assert!(
                matches!(last.outcome, AttemptOutcome::Interrupted),
                "{:?}",
                last.outcome
            );
            // The person checks the outbox: sent → done, not sent → retry.
            let case = trace.run.input["input"].as_str().unwrap_or("").to_string();
            let sent = outbox_subjects(&outbox).contains(&case);
            let resolution = if sent {
                Resolution::Done {
                    output: json!({"content": "sent (checked by hand)", "is_error": false}),
                }
            } else {
                Resolution::Retry
            };
            app.engine
                .resolve(*run, step.step.key.clone(), resolution)
                .await
                .expect("resolve");
        } else {
            assert_eq!(r.status, RunStatus::Succeeded, "run {run}: {:?}", r.error);
        }
    }
    for run in &runs {
        let r = tokio::time::timeout(Duration::from_secs(90), app.engine.wait_settled(*run))
            .await
            .expect("settles")
            .expect("read");
        assert_eq!(r.status, RunStatus::Succeeded, "run {run}: {:?}", r.error);
    }
    drop(w);

    // No email twice, and every run's email went out once.
    let subjects = outbox_subjects(&outbox);
    for i in 0..RUNS {
        let n = subjects
            .iter()
            .filter(|s| **s == format!("case {i}"))
            .count();
        assert_eq!(n, 1, "case {i} was emailed {n} times");
    }
    // No model call was sent again once its step had finished.
    let requests = log.lock().unwrap().clone();
    let mut per_step: HashMap<(String, usize), usize> = HashMap::new();
    for run in &runs {
        let trace = app.engine.trace(*run).await.expect("trace").expect("run");
        let case = trace.run.input["input"].as_str().unwrap_or("").to_string();
        for turn in 0..2 {
            let key = format!("llm/{}", turn + 1);
            let s = trace
                .steps
                .iter()
                .find(|s| s.step.key.as_str() == key)
                .expect("model step");
            let finished = s.step.finished_at.expect("finished");
            let after: Vec<&ModelRequest> = requests
                .iter()
                .filter(|r| r.case == case && r.turn == turn && r.at_ms > finished)
                .collect();
            assert!(
                after.is_empty(),
                "{case} {key} was sent again after it finished: {after:?}"
            );
            let sent = requests
                .iter()
                .filter(|r| r.case == case && r.turn == turn)
                .count();
            per_step.insert((case.clone(), turn), sent);
        }
    }
    let resent = per_step.values().filter(|n| **n > 1).count();
    println!(
        "agent runs: {RUNS}, kills: {KILLS}, in-doubt sends resolved: {in_doubt}, model calls sent more than once (cut short by a kill): {resent}"
    );
}
