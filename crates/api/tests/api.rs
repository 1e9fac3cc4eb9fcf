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
