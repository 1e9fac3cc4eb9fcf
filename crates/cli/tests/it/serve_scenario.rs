//! Every command of `/openapi.json` succeeds once on a real scenario (agents, MCP servers,
//! runs asked, answered, exported, replayed and forked, settings, the database); a command
//! the list gains without a case here fails the test.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support;

use support::{call, start, BIN};

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
    // A server used without saving it: its tools under the name it is given.
    let tried = run!(
        "mcp_try",
        json!({"target": {"command": BIN, "args": ["demo-tools", "--outbox", dir.join("t.jsonl")]}})
    );
    let tried = tried["server"].as_str().unwrap_or_default().to_string();
    let tools = run!("mcp_tools", json!({"server": tried}));
    assert_eq!(tools["protocol_version"], "2026-07-28", "{tools}");
    // Resources and prompts, read and got by hand.
    let listed = run!("mcp_resources", json!({"server": "demo-tools"}));
    assert!(
        listed["resources"]
            .to_string()
            .contains("demo://orders/A-1001"),
        "{listed}"
    );
    let read = run!(
        "mcp_read_resource",
        json!({"server": "demo-tools", "uri": "demo://orders/A-1001"})
    );
    assert_eq!(
        read["contents"][0]["mime_type"], "application/json",
        "{read}"
    );
    let prompts = run!("mcp_prompts", json!({"server": "demo-tools"}));
    assert_eq!(prompts["prompts"][0]["name"], "order_reply", "{prompts}");
    let got = run!(
        "mcp_get_prompt",
        json!({"server": "demo-tools", "prompt": "order_reply", "arguments": {"order_id": "A-1001"}})
    );
    assert!(
        got["text"].as_str().unwrap_or_default().contains("A-1001"),
        "{got}"
    );
    let signed = run!("mcp_sign_out", json!({"server": "demo-tools"}));
    assert_eq!(signed["sign_in"]["state"], "not_needed", "{signed}");

    // Runs: a question answered, exported, replayed, forked.
    let run = run!("runs_start", json!({"agent": "asker", "input": "hi"}))["run_id"].clone();
    until_status(&s.base, &run, &["waiting"]).await;
    run!("runs_list", json!({}));
    let got = run!("runs_get", json!({"run_id": run}));
    // The question's view carries the model's call it is about.
    let asked = got["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|st| st["key"] == "tool/1.1"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(asked["kind"], "question", "{asked}");
    assert_eq!(asked["call"]["tool"], "ask_human", "{asked}");
    assert_eq!(
        asked["call"]["arguments"], ask[0]["tool_calls"][0]["arguments"],
        "{asked}"
    );
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
    // A resource attached to the input is read when the run starts and journaled with it.
    let r = run!(
        "runs_start",
        json!({"agent": "asker", "input": "bye", "attach": [{"server": "demo-tools", "uri": "demo://orders/A-1002"}]})
    )["run_id"]
        .clone();
    until_status(&s.base, &r, &["waiting"]).await;
    let got = run!("runs_get", json!({"run_id": r}));
    assert!(
        got.to_string()
            .contains("--- resource demo://orders/A-1002 from demo-tools ---"),
        "the attachment is in the run's input: {got}"
    );
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
    // This computer's database for the next start (a team database: serve_team.rs).
    let chosen = run!("settings_set_database", json!({}));
    assert_eq!(chosen["in_use"], "this_computer", "{chosen}");
    // Mail: an account nobody answers on (the tests against real servers are in the host's
    // email tests); its test is a success that reports both servers unreachable.
    let account = json!({
        "name": "sales", "address": "sales@example.test",
        "imap": {"host": "127.0.0.1", "port": 9, "security": "plain", "user": "sales"},
        "smtp": {"host": "127.0.0.1", "port": 9, "security": "plain", "user": "sales"},
        "auth": {"kind": "password", "secret_ref": ""}
    });
    run!(
        "mail_account_save",
        json!({"account": account, "password": "mail-password-123"})
    );
    let accounts = run!("mail_accounts_list", json!({}));
    assert_eq!(accounts["accounts"][0]["password"], "stored", "{accounts}");
    assert!(!accounts.to_string().contains("mail-password-123"));
    let tested = run!("mail_account_test", json!({"name": "sales"}));
    assert_eq!(tested["imap"]["ok"], false, "{tested}");
    let triggers = run!("triggers_list", json!({}));
    assert!(triggers["triggers"].is_array(), "{triggers}");
    run!("mail_account_delete", json!({"name": "sales"}));
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
    run!(
        "settings_set_client_metadata_url",
        json!({"url": "https://waymark.example/client.json"})
    );
    let settings = run!("settings_get", json!({}));
    assert_eq!(
        settings["client_metadata_url"], "https://waymark.example/client.json",
        "{settings}"
    );
    run!("settings_set_client_metadata_url", json!({"url": null}));
    run!("settings_delete_key", json!({"provider": "anthropic"}));
    run!("db_check", json!({}));
    let about = run!("about", json!({}));
    assert_eq!(about["version"], env!("CARGO_PKG_VERSION"), "{about}");
    assert_eq!(about["database"], "this_computer", "{about}");
    assert!(
        about["schema_version"].as_i64().is_some_and(|v| v >= 8),
        "{about}"
    );
    assert!(
        about.get("upgrade").is_none(),
        "a new database needs no upgrade: {about}"
    );
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
    // runs_settle_send needs a send that a kill -9 interrupted: email/kill_9.rs.
    done.insert("runs_settle_send".to_string());
    // A sign-in needs an authorization server in front of a protected server: mcp_oauth.rs
    // signs in through this door.
    done.insert("mcp_sign_in_start".to_string());
    done.insert("mcp_sign_in_finish".to_string());
    // A server's question needs a server that asks one: mcp_interactive.rs answers them.
    done.insert("runs_elicitation_answer".to_string());
    // Calls by hand with progress, a question and a cancel: mcp_interactive.rs again.
    for command in [
        "mcp_call_start",
        "mcp_call_status",
        "mcp_call_answer",
        "mcp_call_cancel",
    ] {
        done.insert(command.to_string());
    }
    let missing: Vec<&String> = all.difference(&done).collect();
    assert!(
        missing.is_empty(),
        "commands without a success case here: {missing:?}"
    );
}
