//! `waymark serve` as a real process: every command's route with and without auth, bad
//! input named, unknown ids, rebinding and cross-site requests refused, no cookie session,
//! a property-based run over `/openapi.json` that never gets a 5xx, keys that stay out of
//! every file, and the web app's CSP. The event stream is in serve_events.rs, a success case
//! of every command in serve_scenario.rs.

use std::path::Path;

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::support;

use support::{call, client, settled, start, start_with_env, TOKEN};

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
