//! `waymark serve` as a real process: every command's route with and without auth, bad
//! input named, unknown ids, rebinding and cross-site requests refused, no cookie session,
//! the SSE stream resumed with Last-Event-ID (also across a server restart), and a
//! property-based run over `/openapi.json` that never gets a 5xx.

use std::path::Path;
use std::time::Duration;

use futures::StreamExt as _;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

mod support;

use support::{client, start_with_token, Server, BIN};

const TOKEN: &str = "test-token-0123456789abcdef";

fn start(home: &Path) -> Server {
    start_with_env(home, &[])
}

fn start_with_env(home: &Path, env: &[(&str, &str)]) -> Server {
    start_with_token(home, TOKEN, env)
}

async fn call(base: &str, command: &str, body: Value) -> (u16, Value) {
    let r = client()
        .post(format!("{base}/api/v1/{command}"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn write_agent(dir: &Path) -> Value {
    let script = dir.join("script.json");
    std::fs::write(
        &script,
        r#"{"turns": [{"tool_calls": [{"id": "c1", "name": "ask_human", "arguments": {"question": "Which city?"}}]}, {"text": "Done."}]}"#,
    )
    .unwrap();
    json!({"name": "asker", "instructions": "Ask, then answer.",
        "model": {"provider": "scripted", "script": script},
        "tools": [{"kind": "builtin", "name": "ask_human"}]})
}

#[tokio::test]
async fn every_command_needs_auth_and_names_bad_fields() {
    let home = tempfile::tempdir().unwrap();
    let s = start(&home.path().join("home"));
    let doc: Value = support::openapi(&s.base).await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() > 20, "{}", paths.len());
    for path in paths.keys().filter(|p| *p != "/api/v1/events") {
        let url = format!("{}{path}", s.base);
        let no_token = client().post(&url).json(&json!({})).send().await.unwrap();
        assert_eq!(no_token.status().as_u16(), 401, "{path} without a token");
        let wrong = client()
            .post(&url)
            .bearer_auth("wrong-token-wrong-token")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status().as_u16(), 401, "{path} with a wrong token");
        let r = client()
            .post(&url)
            .bearer_auth(TOKEN)
            .json(&json!({"surprise_field": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{path} with an unknown field");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["field"], "surprise_field", "{path}: {e}");
        let get = client().get(&url).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(get.status().as_u16(), 405, "GET {path}");
    }
    let (status, e) = call(&s.base, "runs_get", json!({"run_id": 5})).await;
    assert_eq!((status, e["field"].as_str()), (400, Some("run_id")));
    let id = "01900000-0000-7000-8000-000000000000";
    assert_eq!(
        call(&s.base, "runs_get", json!({"run_id": id})).await.0,
        404
    );
    assert_eq!(
        call(&s.base, "agents_get", json!({"name": "nobody"}))
            .await
            .0,
        404
    );
    assert_eq!(call(&s.base, "no_such_command", json!({})).await.0, 404);
    let r = client()
        .post(format!("{}/api/v1/agents_list", s.base))
        .bearer_auth(TOKEN)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn rebinding_hosts_and_foreign_origins_are_refused_and_no_cookie_is_set() {
    let home = tempfile::tempdir().unwrap();
    let s = start(&home.path().join("home"));
    let url = format!("{}/api/v1/agents_list", s.base);
    let rebound = client()
        .post(&url)
        .header("host", "evil.example")
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status().as_u16(), 403);
    let foreign = client()
        .post(&url)
        .header("origin", "http://evil.example")
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status().as_u16(), 403);
    let same = client()
        .post(&url)
        .header("origin", s.base.clone())
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(same.status().as_u16(), 200);

    // No cookie session: the web app sends the token itself (a cookie would reach every port).
    let gone = client()
        .post(format!("{}/api/v1/session", s.base))
        .json(&json!({"token": TOKEN}))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status().as_u16(), 401);
    assert!(gone.headers().get("set-cookie").is_none());
    let sse = client()
        .get(format!("{}/api/v1/events", s.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status().as_u16(), 200);
    assert!(sse.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let docs = client()
        .get(format!("{}/api/docs", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status().as_u16(), 200);
    assert!(
        !docs.text().await.unwrap().contains("https://"),
        "the docs page loads nothing remote"
    );
}

/// Reads SSE events (id, data) until `n` arrive.
async fn read_events(resp: reqwest::Response, n: usize) -> Vec<(i64, Value)> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut stream = resp.bytes_stream();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("an event within 30 s")
            .expect("stream open")
            .expect("bytes");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut id = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if let (Some(id), Ok(v)) = (id, serde_json::from_str(&data)) {
                out.push((id, v));
            }
        }
    }
    out.truncate(n);
    out
}

async fn sse(base: &str, run: &str, last: Option<i64>) -> reqwest::Response {
    let mut req = client()
        .get(format!("{base}/api/v1/events?run={run}"))
        .bearer_auth(TOKEN);
    if let Some(last) = last {
        req = req.header("last-event-id", last.to_string());
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r
}

#[tokio::test]
async fn sse_resumes_from_last_event_id_even_after_a_restart() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("home");
    let s = start(&data);
    let spec = write_agent(home.path());
    assert_eq!(
        call(&s.base, "agents_save", json!({"spec": spec})).await.0,
        200
    );
    let (status, started) = call(
        &s.base,
        "runs_start",
        json!({"agent": "asker", "input": "hi"}),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let run = started["run_id"].as_str().unwrap().to_string();

    // Read a few events, then disconnect.
    let first = read_events(sse(&s.base, &run, None).await, 3).await;
    let ids: Vec<i64> = first.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [1, 2, 3]);
    // Wait until the run waits for the person (the events go on meanwhile).
    let all = read_events(sse(&s.base, &run, None).await, 1).await;
    assert_eq!(all[0].0, 1);
    let trace = loop {
        let (_, got) = call(&s.base, "runs_get", json!({"run_id": run})).await;
        if got["run"]["status"] == "waiting" {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let last_seq = trace["run"]["seq"].as_i64().unwrap();
    // Reconnect after event 3: exactly 4..=last, no gap, no repeat.
    let resumed = read_events(sse(&s.base, &run, Some(3)).await, (last_seq - 3) as usize).await;
    let ids: Vec<i64> = resumed.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, (4..=last_seq).collect::<Vec<_>>());

    // The server restarts; the person answers; a reconnect after the last seen event gets
    // what happened since, in order.
    drop(s);
    let s = start(&data);
    let (status, e) = call(
        &s.base,
        "runs_answer",
        json!({"run_id": run, "step": "tool/1.1", "text": "Paris"}),
    )
    .await;
    assert_eq!(status, 200, "{e}");
    let after = read_events(sse(&s.base, &run, Some(last_seq)).await, 2).await;
    assert_eq!(after[0].0, last_seq + 1);
    assert_eq!(after[1].0, last_seq + 2);
    // The answer's record names the door it came through.
    let done = settled(&s.base, &run).await;
    let steps = done["steps"].as_array().unwrap();
    let asked = steps.iter().find(|st| st["key"] == "tool/1.1").unwrap();
    assert_eq!(asked["output"]["payload"]["by"], "api", "{asked}");
}

/// Values for a JSON Schema: well-formed ones, and with probability `bad` something else.
fn value_for(
    doc: &Value,
    schema: &Value,
    rng: &mut rand::rngs::StdRng,
    bad: f64,
    depth: usize,
) -> Value {
    let schema = match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => schema,
    };
    if rng.random_bool(bad) || depth > 4 {
        return match rng.random_range(0..6) {
            0 => Value::Null,
            1 => json!(rng.random_range(-5..1_000_000)),
            2 => json!("fuzz-\u{0}\u{202e}'\"<>"),
            3 => json!([1, "x", null]),
            4 => json!({"fuzz": true}),
            _ => json!(true),
        };
    }
    if let Some(options) = schema
        .get("oneOf")
        .or(schema.get("anyOf"))
        .and_then(Value::as_array)
    {
        let pick = &options[rng.random_range(0..options.len())];
        return value_for(doc, pick, rng, bad, depth + 1);
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values[rng.random_range(0..values.len())].clone();
    }
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    let ty = match &schema["type"] {
        Value::Array(types) => types[rng.random_range(0..types.len())]
            .as_str()
            .unwrap_or("null")
            .to_string(),
        Value::String(t) => t.clone(),
        _ => "object".into(),
    };
    match ty.as_str() {
        "null" => Value::Null,
        "boolean" => json!(rng.random_bool(0.5)),
        "integer" => json!(rng.random_range(0..100)),
        "number" => json!(rng.random_range(0.0..100.0)),
        "string" => match schema.get("format").and_then(Value::as_str) {
            Some("uuid") => json!("01900000-0000-7000-8000-000000000000"),
            _ => json!(format!("fuzz-{}", rng.random_range(0..1000))),
        },
        "array" => {
            let items = schema.get("items").cloned().unwrap_or(json!({}));
            (0..rng.random_range(0..3))
                .map(|_| value_for(doc, &items, rng, bad, depth + 1))
                .collect()
        }
        _ => {
            let mut obj = serde_json::Map::new();
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, prop) in props {
                    let required = required.contains(&name.as_str());
                    // Required fields are sometimes left out on purpose when `bad` is set.
                    let include = (required || rng.random_bool(0.5))
                        && !(required && rng.random_bool(bad / 2.0));
                    if include {
                        obj.insert(name.clone(), value_for(doc, prop, rng, bad, depth + 1));
                    }
                }
            }
            Value::Object(obj)
        }
    }
}

#[tokio::test]
async fn generated_valid_and_invalid_bodies_never_get_a_server_error() {
    let home = tempfile::tempdir().unwrap();
    let s = start(&home.path().join("home"));
    let doc: Value = support::openapi(&s.base).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let mut sent = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(op) = item.get("post") else { continue };
        let schema = op["requestBody"]["content"]["application/json"]["schema"].clone();
        for round in 0..12 {
            let bad = if round % 2 == 0 { 0.0 } else { 0.3 };
            let body = value_for(&doc, &schema, &mut rng, bad, 0);
            let r = client()
                .post(format!("{}{path}", s.base))
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{path} {body}: {e}"));
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            assert!(status < 500, "{path} answered {status} to {body}: {text}");
            assert!(
                serde_json::from_str::<Value>(&text).is_ok(),
                "{path}: not JSON: {text}"
            );
            sent += 1;
        }
    }
    assert!(sent > 200, "{sent}");
    // The server is still up.
    assert_eq!(call(&s.base, "agents_list", json!({})).await.0, 200);
}

async fn settled(base: &str, run: &str) -> Value {
    for _ in 0..1500 {
        let (_, got) = call(base, "runs_get", json!({"run_id": run})).await;
        let status = got["run"]["status"].as_str().unwrap_or("").to_string();
        if [
            "succeeded",
            "failed",
            "cancelled",
            "needs_attention",
            "waiting",
        ]
        .contains(&status.as_str())
        {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("run {run} did not settle");
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[tokio::test]
async fn a_key_set_through_the_api_appears_in_no_file_log_export_or_response() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("home");
    let s = start(&data);
    let key = "sk-api-settings-key-7c1e9d0b2a";
    let mut responses = String::new();
    let (status, r) = call(
        &s.base,
        "settings_set_key",
        json!({"provider": "openai", "key": key}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    responses.push_str(&r.to_string());
    let (_, r) = call(&s.base, "settings_get", json!({})).await;
    assert_eq!(r["providers_with_keys"], json!(["openai"]));
    responses.push_str(&r.to_string());
    // A run that fails (its script runs out) and one that is retried from its failed step.
    let script = home.path().join("short.json");
    std::fs::write(&script, r#"{"turns": [{"tool_calls": [{"id": "c1", "name": "recall", "arguments": {"query": ""}}]}]}"#).unwrap();
    let spec = json!({"name": "short", "instructions": "x", "model": {"provider": "scripted", "script": script},
        "tools": [{"kind": "builtin", "name": "recall"}]});
    let (_, r) = call(&s.base, "agents_save", json!({"spec": spec})).await;
    responses.push_str(&r.to_string());
    let (_, r) = call(
        &s.base,
        "runs_start",
        json!({"agent": "short", "input": "go"}),
    )
    .await;
    let run = r["run_id"].as_str().unwrap().to_string();
    let got = settled(&s.base, &run).await;
    assert_eq!(got["run"]["status"], "failed", "{got}");
    responses.push_str(&got.to_string());
    let (status, r) = call(
        &s.base,
        "runs_retry_step",
        json!({"run_id": run, "step": "tool/1.1"}),
    )
    .await;
    assert_eq!(status, 409, "a succeeded step is not retried: {r}");
    let (status, r) = call(
        &s.base,
        "runs_retry_step",
        json!({"run_id": run, "step": "llm/2"}),
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let retried = settled(&s.base, r["run_id"].as_str().unwrap()).await;
    assert_eq!(retried["run"]["forked_from"], json!(run));
    responses.push_str(&retried.to_string());
    let (status, r) = call(&s.base, "runs_export", json!({"run_id": run})).await;
    assert_eq!(status, 200, "{r}");
    responses.push_str(&r.to_string());
    drop(s);
    assert!(!responses.contains(key), "a response holds the key");
    let mut files = Vec::new();
    files_under(&data, &mut files);
    assert!(
        files.iter().any(|f| f.to_string_lossy().contains("logs")),
        "{files:?}"
    );
    for f in files.iter().filter(|f| !f.ends_with("secrets.json")) {
        let text = String::from_utf8_lossy(&std::fs::read(f).unwrap_or_default()).to_string();
        assert!(!text.contains(key), "the key is in {}", f.display());
    }
}

/// A scripted agent: `turns` as the model's, `tools` and `overrides` as in a spec.
fn scripted(dir: &Path, name: &str, turns: Value, tools: Value, overrides: Value) -> Value {
    let script = dir.join(format!("{name}.json"));
    std::fs::write(&script, json!({ "turns": turns }).to_string()).unwrap();
    json!({"name": name, "instructions": format!("You are {name}."),
        "model": {"provider": "scripted", "script": script},
        "tools": tools, "tool_overrides": overrides})
}

/// Polls until the run's status is one of `want`.
async fn until_status(base: &str, run: &Value, want: &[&str]) -> Value {
    for _ in 0..1500 {
        let (_, got) = call(base, "runs_get", json!({"run_id": run})).await;
        if want.contains(&got["run"]["status"].as_str().unwrap_or("")) {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("run {run} never reached {want:?}");
}

#[tokio::test]
async fn every_command_succeeds_on_a_real_scenario() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path();
    let s = start(&dir.join("home"));
    let mut done = std::collections::BTreeSet::new();
    let mut ok = |command: &str, status: u16, body: &Value| {
        assert_eq!(status, 200, "{command}: {body}");
        done.insert(command.to_string());
    };
    macro_rules! run {
        ($command:expr, $body:expr) => {{
            let (status, body) = call(&s.base, $command, $body).await;
            ok($command, status, &body);
            body
        }};
    }
    let ask = json!([{"tool_calls": [{"id": "c1", "name": "ask_human", "arguments": {"question": "?"}}]}, {"text": "Done."}]);
    let builtin = |n: &str| json!([{"kind": "builtin", "name": n}]);
    run!(
        "agents_save",
        json!({"spec": scripted(dir, "asker", ask.clone(), builtin("ask_human"), json!({}))})
    );
    run!("agents_list", json!({}));
    run!("agents_get", json!({"name": "asker"}));
    let exported = run!("agents_export", json!({"name": "asker", "format": "json"}));
    run!(
        "agents_import",
        json!({"text": exported["text"], "format": "json"})
    );
    let draft = json!([{"text": "{\"name\": \"drafted\", \"instructions\": \"Hi.\", \"model\": {\"provider\": \"openai\", \"model\": \"gpt-4o-mini\"}}"}]);
    let draft_model = scripted(dir, "drafter", draft, json!([]), json!({}))["model"].clone();
    run!(
        "agents_draft",
        json!({"description": "greets", "model": draft_model})
    );
    run!(
        "agents_save",
        json!({"spec": scripted(dir, "tmp", ask.clone(), json!([]), json!({}))})
    );
    run!("agents_delete", json!({"name": "tmp"}));

    // MCP: `serve` installed the demo server; another is added, imported, removed.
    run!("mcp_list", json!({}));
    run!(
        "mcp_add",
        json!({"name": "extra", "command": BIN, "args": ["demo-tools", "--outbox", dir.join("o.jsonl")]})
    );
    run!("mcp_tools", json!({"server": "demo-tools"}));
    run!(
        "mcp_call",
        json!({"server": "demo-tools", "tool": "set_order_note", "arguments": {"order_id": "A-1001", "note": "n"}})
    );
    run!(
        "mcp_import",
        json!({"text": "{\"mcpServers\": {\"x\": {\"command\": \"true\"}}}", "save": false})
    );
    run!("mcp_remove", json!({"server": "extra"}));

    // Runs: a question answered, exported, replayed, forked.
    let run = run!("runs_start", json!({"agent": "asker", "input": "hi"}))["run_id"].clone();
    until_status(&s.base, &run, &["waiting"]).await;
    run!("runs_list", json!({}));
    run!("runs_get", json!({"run_id": run}));
    run!(
        "runs_get_page",
        json!({"run_id": run, "offset": 1, "limit": 2})
    );
    let step = run!("runs_get_step", json!({"run_id": run, "step": "llm/1"}));
    assert_eq!(step["kind"], "model_call", "{step}");
    assert!(
        step["usage"].is_object(),
        "a model call's usage is typed: {step}"
    );
    run!(
        "runs_answer",
        json!({"run_id": run, "step": "tool/1.1", "text": "Lyon"})
    );
    until_status(&s.base, &run, &["succeeded"]).await;
    let replay = run!("runs_export", json!({"run_id": run}))["replay"].clone();
    let replayed = run!("runs_replay", json!({"replay": replay}))["run_id"].clone();
    until_status(&s.base, &replayed, &["succeeded"]).await;
    run!("runs_fork", json!({"run_id": run, "step": "llm/2"}));
    run!("runs_pin", json!({"run_id": run, "pinned": true}));
    run!("runs_delete", json!({"run_id": replayed}));

    // Approvals: one approved, one rejected.
    let remember = json!([{"tool_calls": [{"id": "c1", "name": "remember", "arguments": {"key": "k", "value": "v"}}]}, {"text": "Ok."}]);
    let gated = json!({"remember": {"needs_approval": true}});
    run!(
        "agents_save",
        json!({"spec": scripted(dir, "gated", remember, builtin("remember"), gated)})
    );
    for (command, body) in [
        ("runs_approve", json!({})),
        ("runs_reject", json!({"reason": "no"})),
    ] {
        let r = run!("runs_start", json!({"agent": "gated", "input": "x"}))["run_id"].clone();
        until_status(&s.base, &r, &["waiting"]).await;
        let mut req = json!({"run_id": r, "step": "approval/1.1"});
        if let Some(reason) = body.get("reason") {
            req["reason"] = reason.clone();
        }
        run!(command, req);
        until_status(&s.base, &r, &["succeeded"]).await;
    }
    run!("memory_list", json!({"agent": "gated"}));

    // A send that hangs times out in doubt, and a person settles it.
    run!(
        "mcp_call",
        json!({"server": "demo-tools", "tool": "configure_faults", "arguments": {"tool": "send_email", "hang": true}})
    );
    let send = json!([{"tool_calls": [{"id": "c1", "name": "send_email", "arguments": {"to": "a@example.com", "subject": "s", "body": "b"}}]}, {"text": "Sent."}]);
    let mcp_tools = json!([{"kind": "mcp", "server": "demo-tools", "tools": ["send_email"]}]);
    run!(
        "agents_save",
        json!({"spec": scripted(dir, "sender", send, mcp_tools, json!({"send_email": {"timeout_secs": 1}}))})
    );
    let r = run!("runs_start", json!({"agent": "sender", "input": "x"}))["run_id"].clone();
    until_status(&s.base, &r, &["needs_attention"]).await;
    run!(
        "runs_resolve",
        json!({"run_id": r, "step": "tool/1.1", "resolution": {"resolution": "fail", "message": "not sent"}})
    );
    until_status(&s.base, &r, &["succeeded"]).await;

    // A failed run's step retried; a waiting run cancelled.
    let short =
        json!([{"tool_calls": [{"id": "c1", "name": "recall", "arguments": {"query": ""}}]}]);
    run!(
        "agents_save",
        json!({"spec": scripted(dir, "short", short, builtin("recall"), json!({}))})
    );
    let r = run!("runs_start", json!({"agent": "short", "input": "x"}))["run_id"].clone();
    until_status(&s.base, &r, &["failed"]).await;
    run!("runs_retry_step", json!({"run_id": r, "step": "llm/2"}));
    let r = run!("runs_start", json!({"agent": "asker", "input": "bye"}))["run_id"].clone();
    until_status(&s.base, &r, &["waiting"]).await;
    run!("runs_cancel", json!({"run_id": r}));
    run!(
        "runs_start_function",
        json!({"function": "example.approval", "input": {}})
    );
    run!(
        "events_send",
        json!({"name": "nothing-waits", "payload": {}})
    );

    // Settings and the database.
    run!(
        "settings_set_provider",
        json!({"provider": "anthropic", "base_url": "http://127.0.0.1:9/v1"})
    );
    run!(
        "settings_set_key",
        json!({"provider": "anthropic", "key": "sk-ant-test-key-123"})
    );
    run!(
        "settings_set_webhook_secret",
        json!({"name": "HOOK", "secret": "a-webhook-secret-0123456789"})
    );
    let generated = run!(
        "settings_generate_webhook_secret",
        json!({"name": "NEW_HOOK"})
    );
    assert!(
        generated["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("whsec_")),
        "{generated}"
    );
    run!("settings_set_hooks_port", json!({"port": 0}));
    let hook = run!("agents_webhook", json!({"name": "asker"}));
    assert!(
        hook["url"].is_null(),
        "asker has no webhook trigger: {hook}"
    );
    let demo = run!("demo_get", json!({}));
    assert_eq!(demo["agent"], "demo-support");
    run!(
        "settings_allow_env_key",
        json!({"variable": "LOCAL_LLM_KEY", "host": "127.0.0.1:8080"})
    );
    run!(
        "settings_disallow_env_key",
        json!({"variable": "LOCAL_LLM_KEY", "host": "127.0.0.1:8080"})
    );
    run!("settings_get", json!({}));
    run!("settings_delete_key", json!({"provider": "anthropic"}));
    run!("db_check", json!({}));
    run!("db_stats", json!({}));
    run!("db_retention", json!({"keep_last_per_agent": 100}));
    run!("db_gc", json!({}));
    run!("db_backup", json!({"path": dir.join("backup.db")}));
    run!("db_vacuum", json!({}));

    let doc: Value = support::openapi(&s.base).await;
    let all: std::collections::BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter_map(|p| p.strip_prefix("/api/v1/"))
        .filter(|p| *p != "events")
        .map(str::to_string)
        .collect();
    let missing: Vec<&String> = all.difference(&done).collect();
    assert!(
        missing.is_empty(),
        "commands without a success case here: {missing:?}"
    );
}

#[tokio::test]
async fn every_other_get_serves_the_web_app_with_a_strict_csp() {
    let home = tempfile::tempdir().unwrap();
    let ui = home.path().join("ui");
    std::fs::create_dir_all(ui.join("assets")).unwrap();
    std::fs::write(ui.join("index.html"), "<!doctype html><div id=root></div>").unwrap();
    std::fs::write(ui.join("assets/app-1.js"), "console.log(1)").unwrap();
    std::fs::write(home.path().join("secret.txt"), "not for the web").unwrap();
    let ui_dir = ui.display().to_string();
    let s = start_with_env(&home.path().join("home"), &[("WAYMARK_UI_DIR", &ui_dir)]);
    let get = |path: &str| client().get(format!("{}{path}", s.base)).send();

    // A client-side route gets the app's page, with a CSP that allows only this origin.
    let page = get("/runs/some-run").await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'"));
    assert!(!csp.contains("http"), "no remote origin allowed: {csp}");
    assert!(page.text().await.unwrap().contains("id=root"));

    let asset = get("/assets/app-1.js").await.unwrap();
    assert_eq!(asset.status(), 200);
    assert_eq!(
        asset.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(asset.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    // Nothing outside the UI folder is reachable, however the path is spelled.
    for p in [
        "/../secret.txt",
        "/assets/..%2F..%2Fsecret.txt",
        "/%2e%2e/secret.txt",
    ] {
        let text = get(p).await.unwrap().text().await.unwrap();
        assert!(
            !text.contains("not for the web"),
            "{p} escaped the UI folder"
        );
    }
    // The API still answers as the API.
    let (status, _) = call(&s.base, "agents_list", json!({})).await;
    assert_eq!(status, 200);
}
