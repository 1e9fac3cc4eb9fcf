//! Secrets stay in: an imported MCP config's `${env:NAME}` stays a reference (named in the
//! preview with where it would be sent, never stored, resolved only when connecting), and an
//! API key from the environment goes only to a host the user allowed for it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// The agent tests' helper: the demo-tools binary that `make test`'s build already made.
#[path = "../../agent/tests/it/support/mcp_servers.rs"]
mod mcp_servers;

use mcp_servers::demo_tools_bin;
use serde_json::{json, Value};
use waymark_agent::app::AgentApp;
use waymark_api::{Api, ErrorCode};
use waymark_engine::Registry;

fn api(dir: &Path) -> Api {
    std::env::set_var("WAYMARK_SECRET_BACKEND", "file");
    let app = AgentApp::open(&dir.join("waymark.db"), dir, Registry::new()).expect("open");
    Api::new(app)
}

/// Whether `value` is anywhere in the database file or its write-ahead log.
fn in_database(dir: &Path, value: &str) -> bool {
    assert!(dir.join("waymark.db").is_file(), "no database to search");
    ["waymark.db", "waymark.db-wal"].iter().any(|f| {
        let bytes = std::fs::read(dir.join(f)).unwrap_or_default();
        bytes.windows(value.len()).any(|w| w == value.as_bytes())
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn imported_env_references_are_named_never_stored_and_resolved_when_connecting() {
    let dir = tempfile::tempdir().unwrap();
    let api = api(dir.path());
    // Distinctive values: the outbox paths the demo server writes to, told by argument and
    // by environment.
    let by_arg = dir.path().join("outbox-arg-wmk-7f3a9c51.jsonl");
    let by_env = dir.path().join("outbox-env-wmk-2b8e4d07.jsonl");
    let (arg_value, env_value) = (by_arg.display().to_string(), by_env.display().to_string());
    std::env::set_var("WAYMARK_SECRET_IN_ARG", &arg_value);
    std::env::set_var("WAYMARK_SECRET_IN_ENV", &env_value);
    let bin = demo_tools_bin().display().to_string();
    let config = json!({"mcpServers": {
        "by-arg": {"command": bin, "args": ["--outbox", "${env:WAYMARK_SECRET_IN_ARG}"]},
        "by-env": {"command": bin, "env": {"DEMO_TOOLS_OUTBOX": "${env:WAYMARK_SECRET_IN_ENV}"}},
        "remote": {"url": "https://stranger.example/mcp?k=${env:WAYMARK_SECRET_IN_ARG}",
                   "headers": {"Authorization": "Bearer ${env:WAYMARK_SECRET_IN_ENV}"}},
        "unset": {"command": bin, "args": ["--outbox", "${env:WAYMARK_SECRET_IN_UNSET}"]}
    }})
    .to_string();

    // The preview names every variable, the field and where its value would go.
    let preview = api
        .call(
            "mcp_import",
            json!({"text": config, "file_name": "claude.json"}),
        )
        .await
        .expect("preview");
    let uses: Vec<(String, String, String, String, bool)> = preview["env_uses"]
        .as_array()
        .expect("env_uses")
        .iter()
        .map(|u| {
            let s = |k: &str| u[k].as_str().unwrap_or_default().to_string();
            let set = u["is_set"].as_bool().unwrap_or_default();
            (
                s("server"),
                s("field"),
                s("variable"),
                s("destination"),
                set,
            )
        })
        .collect();
    let stranger = "https://stranger.example/mcp?k=${env:WAYMARK_SECRET_IN_ARG}".to_string();
    let expected = [
        ("by-arg", "args[1]", "WAYMARK_SECRET_IN_ARG", true),
        (
            "by-env",
            "env.DEMO_TOOLS_OUTBOX",
            "WAYMARK_SECRET_IN_ENV",
            true,
        ),
        ("remote", "url", "WAYMARK_SECRET_IN_ARG", true),
        (
            "remote",
            "headers.Authorization",
            "WAYMARK_SECRET_IN_ENV",
            true,
        ),
        ("unset", "args[1]", "WAYMARK_SECRET_IN_UNSET", false),
    ];
    assert_eq!(uses.len(), expected.len(), "{uses:#?}");
    for ((server, field, var, dest, set), (s, f, v, is_set)) in uses.iter().zip(expected) {
        assert_eq!(
            (server.as_str(), field.as_str(), var.as_str(), *set),
            (s, f, v, is_set)
        );
        if s == "remote" {
            assert_eq!(dest, &stranger);
        } else {
            assert!(dest.starts_with(&bin), "{dest}");
        }
    }
    let shown = preview.to_string();
    assert!(
        shown.contains("Authorization=Bearer ${env:WAYMARK_SECRET_IN_ENV}"),
        "{shown}"
    );
    for value in [&arg_value, &env_value] {
        assert!(!shown.contains(value.as_str()), "{value} in the preview");
    }

    api.call("mcp_import", json!({"text": config, "save": true}))
        .await
        .expect("saved");
    let listed = api.call("mcp_list", Value::Null).await.unwrap().to_string();
    assert!(listed.contains("${env:WAYMARK_SECRET_IN_ARG}"), "{listed}");

    // Connecting resolves them: each server writes to the outbox its reference names.
    let email = json!({"to": "a@example.com", "subject": "hi", "body": "b"});
    for (server, outbox) in [("by-arg", &by_arg), ("by-env", &by_env)] {
        let out = api
            .call(
                "mcp_call",
                json!({"server": server, "tool": "send_email", "arguments": email}),
            )
            .await
            .unwrap_or_else(|e| panic!("{server}: {e:?}"));
        assert_eq!(out["is_error"], false, "{out}");
        let written = std::fs::read_to_string(outbox).unwrap_or_default();
        assert!(written.contains("a@example.com"), "{server}: {written:?}");
    }
    // An unset variable fails the connection, naming it.
    let e = api
        .call("mcp_tools", json!({"server": "unset"}))
        .await
        .expect_err("unset variable");
    assert!(
        e.message.contains("WAYMARK_SECRET_IN_UNSET") && e.message.contains("not set"),
        "{e:?}"
    );

    for value in [&arg_value, &env_value] {
        assert!(!in_database(dir.path(), value), "{value} in the database");
    }
}

/// A loopback OpenAI-compatible server: answers every chat completion with "done" and keeps
/// each request's `Authorization` header.
fn model_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}/v1", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let keep = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let (mut length, mut auth) = (0usize, String::new());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("authorization:") {
                    auth = line["authorization:".len()..].trim().to_string();
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            keep.lock().unwrap().push(auth);
            let answer = json!({"id": "c1", "object": "chat.completion", "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "done"},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1}})
            .to_string();
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (base, seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn env_keys_go_only_to_hosts_the_user_allowed() {
    const KEY: &str = "sk-wmk-allowlist-5d1e0b93";
    std::env::set_var("WAYMARK_SECRET_IN_KEY", KEY);
    let dir = tempfile::tempdir().unwrap();
    let (base, seen) = model_server();
    let spec = json!({"name": "keyed", "instructions": "Answer.",
        "model": {"provider": "openai", "model": "gpt-4o-mini", "base_url": base,
                  "api_key_env": "WAYMARK_SECRET_IN_KEY"},
        "retry": {"max_attempts": 1}});
    {
        let api = api(dir.path());
        // The built-in pairs are listed.
        let settings = api.call("settings_get", Value::Null).await.unwrap();
        let pairs = settings["env_key_hosts"].to_string();
        for p in ["api.openai.com", "api.anthropic.com", "openrouter.ai"] {
            assert!(pairs.contains(p), "{pairs}");
        }

        // Not allowed: refused when saved, naming the variable, the host and the way out.
        let e = api
            .call("agents_save", json!({"spec": spec}))
            .await
            .expect_err("not allowed yet");
        assert_eq!(e.code, ErrorCode::InvalidInput);
        assert_eq!(e.field.as_deref(), Some("spec.model.api_key_env"));
        for needle in [
            "WAYMARK_SECRET_IN_KEY",
            "127.0.0.1",
            "settings_allow_env_key",
        ] {
            assert!(e.message.contains(needle), "{needle}: {}", e.message);
        }
        assert!(!e.message.contains(KEY));

        // A key pasted as the variable is refused without being echoed.
        let e = api
            .call(
                "settings_allow_env_key",
                json!({"variable": "sk-pasted-key-1", "host": "127.0.0.1"}),
            )
            .await
            .expect_err("not a variable");
        assert_eq!(e.field.as_deref(), Some("variable"));
        assert!(!e.message.contains("sk-pasted-key-1"), "{}", e.message);

        let allowed = api
            .call(
                "settings_allow_env_key",
                json!({"variable": "WAYMARK_SECRET_IN_KEY", "host": "127.0.0.1"}),
            )
            .await
            .expect("allowed");
        assert_eq!(allowed["host"], "127.0.0.1");
        api.call("agents_save", json!({"spec": spec}))
            .await
            .expect("saved once allowed");
    }

    // Reopened: the pair is still allowed, and the run sends the key to the server.
    let api = api(dir.path());
    let pairs = api.call("settings_get", Value::Null).await.unwrap()["env_key_hosts"].clone();
    assert!(
        pairs
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["variable"] == "WAYMARK_SECRET_IN_KEY"
                && p["host"] == "127.0.0.1"
                && p["builtin"] == false),
        "{pairs}"
    );
    let worker = api.app().engine.start_worker().await.expect("worker");
    let started = api
        .call("runs_start", json!({"agent": "keyed", "input": "hi"}))
        .await
        .expect("started");
    let run_id: waymark_engine::RunId =
        serde_json::from_value(started["run_id"].clone()).expect("run id");
    let run = tokio::time::timeout(
        Duration::from_secs(30),
        api.app().engine.wait_settled(run_id),
    )
    .await
    .expect("settles")
    .expect("run");
    assert_eq!(run.status, waymark_engine::RunStatus::Succeeded, "{run:?}");
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|a| a == &format!("Bearer {KEY}")),
        "the server got no key"
    );

    // Withdrawn: the saved agent's next run is refused before anything is sent.
    let n = seen.lock().unwrap().len();
    let gone = api
        .call(
            "settings_disallow_env_key",
            json!({"variable": "WAYMARK_SECRET_IN_KEY", "host": "127.0.0.1"}),
        )
        .await
        .unwrap();
    assert_eq!(gone["deleted"], true);
    let e = api
        .call("runs_start", json!({"agent": "keyed", "input": "hi"}))
        .await
        .expect_err("refused");
    assert!(
        e.message.contains("WAYMARK_SECRET_IN_KEY") && e.message.contains("127.0.0.1"),
        "{e:?}"
    );
    assert_eq!(seen.lock().unwrap().len(), n);
    worker.shutdown().await;

    assert!(!in_database(dir.path(), KEY), "the key is in the database");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mail_password_goes_to_the_secret_store_never_the_database_or_an_answer() {
    const PASSWORD: &str = "mail-pw-7c41d2e9-never-stored";
    let dir = tempfile::tempdir().unwrap();
    let api = api(dir.path());
    let account = |port: u16| {
        json!({
            "name": "sales", "address": "sales@example.test",
            "imap": {"host": "127.0.0.1", "port": port, "security": "plain", "user": "sales"},
            "smtp": {"host": "127.0.0.1", "port": port, "security": "plain", "user": "sales"},
            "auth": {"kind": "password", "secret_ref": "smuggled-value"}
        })
    };
    api.call(
        "mail_account_save",
        json!({"account": account(9), "password": PASSWORD}),
    )
    .await
    .unwrap();
    // The reference the caller sent is not taken: the server sets it.
    let listed = api.call("mail_accounts_list", json!({})).await.unwrap();
    assert!(!listed.to_string().contains(PASSWORD), "{listed}");
    assert!(!listed.to_string().contains("smuggled-value"), "{listed}");
    // A change without a password keeps it; the answer of a failed test names no password.
    api.call("mail_account_save", json!({"account": account(10)}))
        .await
        .unwrap();
    let tested = api
        .call("mail_account_test", json!({"name": "sales"}))
        .await
        .unwrap();
    assert!(!tested.to_string().contains(PASSWORD), "{tested}");
    assert_eq!(tested["imap"]["ok"], false);
    // Plain is refused to anything but loopback, with the reason.
    let mut remote = account(143);
    remote["imap"]["host"] = json!("mail.example.com");
    let e = api
        .call(
            "mail_account_save",
            json!({"account": remote, "password": PASSWORD}),
        )
        .await
        .expect_err("plain to a remote host");
    assert!(e.message.contains("loopback"), "{e:?}");
    assert!(
        !in_database(dir.path(), PASSWORD),
        "the password is in the database"
    );
    let secrets = std::fs::read_to_string(dir.path().join("secrets.json")).unwrap_or_default();
    assert!(
        secrets.contains(PASSWORD),
        "the password is in the secret store"
    );
}
