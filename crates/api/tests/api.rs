//! The API by command name, as both doors call it: requests parsed with the field at fault
//! named, unknown ids as not_found, and the OpenAPI document listing every command.

use serde_json::{json, Value};
use waymark_agent::app::AgentApp;
use waymark_api::{Api, ErrorCode, COMMANDS};
use waymark_engine::Registry;

fn api(dir: &tempfile::TempDir) -> Api {
    std::env::set_var("WAYMARK_SECRET_BACKEND", "file");
    let app =
        AgentApp::open(&dir.path().join("waymark.db"), dir.path(), Registry::new()).expect("open");
    Api::new(app)
}

const SPEC: &str = r#"{"name": "helper", "instructions": "Help.",
    "model": {"provider": "scripted", "script": "/nonexistent.json"}}"#;

#[tokio::test]
async fn agents_round_trip_by_command_name() {
    let dir = tempfile::tempdir().unwrap();
    let api = api(&dir);
    let spec: Value = serde_json::from_str(SPEC).unwrap();
    let saved = api
        .call("agents_save", json!({"spec": spec}))
        .await
        .unwrap();
    assert_eq!(saved["agent"]["name"], "helper");
    let list = api.call("agents_list", Value::Null).await.unwrap();
    assert_eq!(list["agents"][0]["name"], "helper");
    let got = api
        .call("agents_get", json!({"name": "helper"}))
        .await
        .unwrap();
    assert_eq!(got["spec"]["instructions"], "Help.");
    let toml = api
        .call("agents_export", json!({"name": "helper", "format": "toml"}))
        .await
        .unwrap();
    assert!(toml["text"].as_str().unwrap().contains("name = \"helper\""));
    let deleted = api
        .call("agents_delete", json!({"name": "helper"}))
        .await
        .unwrap();
    assert_eq!(deleted["deleted"], true);
}

#[tokio::test]
async fn bad_requests_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let api = api(&dir);
    let e = api
        .call("runs_get", json!({"run_id": "nope"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidInput);
    assert_eq!(e.field.as_deref(), Some("run_id"));
    let e = api
        .call(
            "agents_save",
            json!({"spec": {"name": "x", "instructions": "y", "model": {"provider": "nope"}}}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidInput);
    assert!(
        e.field.as_deref().unwrap_or("").starts_with("spec.model"),
        "{e:?}"
    );
    let e = api
        .call("agents_list", json!({"surprise": 1}))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidInput);
    let e = api.call("no_such_command", Value::Null).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::UnknownCommand);
}

#[tokio::test]
async fn unknown_ids_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let api = api(&dir);
    let id = "01900000-0000-7000-8000-000000000000";
    let e = api
        .call("runs_get", json!({"run_id": id}))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    let e = api
        .call("agents_get", json!({"name": "ghost"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    let e = api
        .call("runs_start", json!({"agent": "ghost", "input": "x"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
    let e = api
        .call("mcp_tools", json!({"server": "ghost"}))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::NotFound);
}

#[test]
fn the_openapi_document_lists_every_command_with_its_schemas() {
    let doc = waymark_api::openapi::document("test");
    assert_eq!(doc["openapi"], "3.1.0");
    for c in COMMANDS {
        let op = &doc["paths"][format!("/api/v1/{}", c.name)]["post"];
        assert_eq!(op["operationId"], c.name);
        let req = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{} has no request schema", c.name));
        let name = req.trim_start_matches("#/components/schemas/");
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{name} missing"
        );
    }
}

#[tokio::test]
async fn settings_never_return_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let api = api(&dir);
    api.call(
        "settings_set_key",
        json!({"provider": "openai", "key": "sk-settings-secret-1"}),
    )
    .await
    .unwrap();
    let s = api.call("settings_get", Value::Null).await.unwrap();
    assert_eq!(s["providers_with_keys"], json!(["openai"]));
    assert!(!s.to_string().contains("sk-settings-secret-1"));
}

/// An OpenAI-compatible server on 127.0.0.1 that records each request's Authorization.
fn loopback_model(auth: std::sync::Arc<std::sync::Mutex<Vec<String>>>) -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for socket in listener.incoming().flatten() {
            let mut reader = BufReader::new(socket.try_clone().unwrap());
            let (mut length, mut key) = (0usize, String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("authorization:") {
                    key = line["authorization:".len()..].trim().to_string();
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            auth.lock().unwrap().push(key);
            let reply = json!({"id": "x", "object": "chat.completion", "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi."}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1}})
            .to_string();
            let mut out = socket;
            let _ = write!(out, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}", reply.len());
        }
    });
    format!("http://{addr}/v1")
}

#[tokio::test]
async fn a_provider_set_in_the_settings_gets_the_stored_key() {
    let dir = tempfile::tempdir().unwrap();
    let api = api(&dir);
    let worker = api.app().engine.start_worker().await.unwrap();
    let auth = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let base = loopback_model(auth.clone());
    std::env::remove_var("OPENAI_API_KEY");
    api.call(
        "settings_set_provider",
        json!({"provider": "openai", "base_url": base}),
    )
    .await
    .unwrap();
    api.call(
        "settings_set_key",
        json!({"provider": "openai", "key": "sk-from-settings-42"}),
    )
    .await
    .unwrap();
    let e = api
        .call(
            "settings_set_provider",
            json!({"provider": "openai", "base_url": "ftp://x"}),
        )
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("base_url"));
    let s = api.call("settings_get", Value::Null).await.unwrap();
    assert_eq!(s["providers"][0]["base_url"], json!(base));
    assert_eq!(s["providers"][0]["has_key"], true);
    // A spec with no base_url: the settings say where, the keychain says with which key.
    let spec = json!({"name": "plain", "instructions": "Hi.", "model": {"provider": "openai", "model": "gpt-4o-mini"}});
    api.call("agents_save", json!({"spec": spec}))
        .await
        .unwrap();
    let r = api
        .call("runs_start", json!({"agent": "plain", "input": "hello"}))
        .await
        .unwrap();
    let run = waymark_engine::RunId::parse(r["run_id"].as_str().unwrap()).unwrap();
    let done = api.app().engine.wait_settled(run).await.unwrap();
    assert_eq!(
        done.status,
        waymark_engine::RunStatus::Succeeded,
        "{:?}",
        done.error
    );
    assert_eq!(
        auth.lock().unwrap().as_slice(),
        ["Bearer sk-from-settings-42"]
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn a_draft_goes_to_the_settings_base_url_without_asking_for_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let api = api(&dir);
    std::env::remove_var("ANTHROPIC_API_KEY");
    let request = json!({"description": "Summarise my inbox.", "model": {"provider": "anthropic", "model": "claude-x"}});
    // The provider's own server with no key: refused before any call, naming what is missing.
    let e = api.call("agents_draft", request.clone()).await.unwrap_err();
    assert!(e.message.contains("no API key for anthropic"), "{e:?}");
    // A base URL in the settings may be a local server that takes no key: the draft is sent.
    let auth = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let base = loopback_model(auth.clone());
    api.call(
        "settings_set_provider",
        json!({"provider": "openai", "base_url": base}),
    )
    .await
    .unwrap();
    let openai = json!({"description": "Summarise my inbox.", "model": {"provider": "openai", "model": "local"}});
    std::env::remove_var("OPENAI_API_KEY");
    let e = api.call("agents_draft", openai).await.unwrap_err();
    assert!(!e.message.contains("no API key"), "{e:?}");
    assert!(
        !auth.lock().unwrap().is_empty(),
        "the model was never asked"
    );
}

#[tokio::test]
async fn engine_commands_and_who_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let api = api(&dir).with_actor("desktop");
    let check = api.call("db_check", Value::Null).await.unwrap();
    assert_eq!(check["ok"], true, "{check}");
    let sent = api
        .call("events_send", json!({"name": "ping", "payload": {"x": 1}}))
        .await
        .unwrap();
    assert!(sent["id"].as_i64().unwrap() > 0);
    let memory = api
        .call("memory_list", json!({"agent": "nobody"}))
        .await
        .unwrap();
    assert_eq!(memory["entries"], json!([]));
    // A function no worker here knows stays queued; cancelling it ends it at once, and the
    // journal says who did.
    let started = api
        .call(
            "runs_start_function",
            json!({"function": "elsewhere.only", "input": {"a": 1}}),
        )
        .await
        .unwrap();
    let run = started["run_id"].clone();
    let cancelled = api
        .call("runs_cancel", json!({"run_id": run}))
        .await
        .unwrap();
    assert_eq!(cancelled["cancelled_now"], json!([run]));
    let id = waymark_engine::RunId::parse(run.as_str().unwrap()).unwrap();
    let mut sub = api.app().engine.subscribe(id, 0);
    let by = loop {
        let e = sub.next().await.unwrap();
        if let waymark_engine::EventKind::RunCancelRequested { by } = e.kind {
            break by;
        }
    };
    assert_eq!(by.as_deref(), Some("desktop"));
}

/// A database from another machine (a team database, a copied file) names secret values this
/// machine does not hold: the list still shows every server, that one failed with the reason.
#[tokio::test]
async fn a_server_whose_secrets_live_elsewhere_is_listed_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let api = api(&dir);
    for (name, env) in [
        ("here", json!({})),
        ("elsewhere", json!({"TOKEN": "s3cret"})),
    ] {
        api.call(
            "mcp_add",
            json!({"name": name, "command": "true", "args": [], "env": env, "headers": {}}),
        )
        .await
        .unwrap();
    }
    // This machine's secret store forgets every value (the file backend's one file).
    let secrets: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("secrets"))
        })
        .collect();
    assert!(
        !secrets.is_empty(),
        "no secrets file in {}",
        dir.path().display()
    );
    for file in secrets {
        std::fs::remove_file(file).unwrap();
    }
    let listed = api.call("mcp_list", json!({})).await.unwrap();
    let servers = listed["servers"].as_array().unwrap();
    assert_eq!(servers.len(), 2, "{listed}");
    let here = servers.iter().find(|s| s["name"] == "here").unwrap();
    assert_ne!(here["status"]["state"], "failed", "{here}");
    let elsewhere = servers.iter().find(|s| s["name"] == "elsewhere").unwrap();
    assert_eq!(elsewhere["secret_names"], json!(["TOKEN"]));
    let error = elsewhere["status"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("on this machine") && error.contains("add the server again here"),
        "{elsewhere}"
    );
    assert!(!listed.to_string().contains("s3cret"));
}
