//! The MCP hub against published MCP servers (npm and PyPI), installed by
//! `scripts/setup-test-deps.sh`: the shapes real servers answer in, not ours.

use crate::mcp_servers;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_servers::{
    free_port, guarded, http_def, stdio_def, wait_for_port, wait_until, workspace_root,
    ServerProcess,
};
use serde_json::{json, Value};
use waymark_agent::mcp::{CallOptions, McpError, McpHub, ToolCallOutput, ToolProgress};
use waymark_engine::SafetyClass;

const SETUP_HINT: &str = "run scripts/setup-test-deps.sh (make test does)";

fn installed(path: PathBuf) -> PathBuf {
    assert!(path.exists(), "{} is missing: {SETUP_HINT}", path.display());
    path
}

fn npm_server(package: &str) -> PathBuf {
    installed(
        workspace_root()
            .join("tests/mcp-servers/node_modules/@modelcontextprotocol")
            .join(package)
            .join("dist/index.js"),
    )
}

fn node() -> PathBuf {
    PathBuf::from("node")
}

fn everything_stdio(hub: &McpHub, name: &str) {
    let script = npm_server("server-everything");
    hub.set_server(stdio_def(
        name,
        &node(),
        &[&script.to_string_lossy(), "stdio"],
        &[],
    ));
}

async fn call(
    hub: &McpHub,
    server: &str,
    tool: &str,
    args: Value,
) -> Result<ToolCallOutput, McpError> {
    guarded(
        tool,
        hub.call_tool(server, tool, args, CallOptions::default()),
    )
    .await
}

fn progress_sink() -> (Arc<Mutex<Vec<ToolProgress>>>, CallOptions) {
    let seen: Arc<Mutex<Vec<ToolProgress>>> = Arc::default();
    let sink = seen.clone();
    let options = CallOptions {
        timeout: Some(Duration::from_secs(60)),
        progress: Some(Arc::new(move |p| sink.lock().unwrap().push(p))),
        ..CallOptions::default()
    };
    (seen, options)
}

/// What every transport of server-everything must do for us.
async fn everything_basics(hub: &McpHub, server: &str) {
    let tools = guarded("tools", hub.tools(server)).await.expect("tools");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    for expected in ["get-sum", "echo", "trigger-long-running-operation"] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let sum = tools.iter().find(|t| t.name == "get-sum").expect("get-sum");
    assert_eq!(sum.safety_class(), SafetyClass::RetrySafe);

    let out = call(hub, server, "get-sum", json!({"a": 2, "b": 3}))
        .await
        .expect("get-sum");
    assert!(!out.is_error);
    assert!(out.text().contains('5'), "{}", out.text());

    // Arguments that break the schema: this SDK (TypeScript 1.32) answers a tool error
    // (`isError: true`) for the model to repair, not a JSON-RPC error.
    let out = call(hub, server, "get-sum", json!({"a": "two", "b": "three"}))
        .await
        .expect("a schema violation is a tool error, not a failure");
    assert!(out.is_error, "{out:?}");
    assert!(out.text().contains("validation"), "{}", out.text());

    let (seen, options) = progress_sink();
    let pending = hub.call_tool(
        server,
        "trigger-long-running-operation",
        json!({"duration": 0.6, "steps": 3}),
        options,
    );
    let out = guarded("long-running operation", pending)
        .await
        .expect("long-running");
    assert!(!out.is_error, "{out:?}");
    wait_until("progress", || !seen.lock().unwrap().is_empty()).await;
    for p in seen.lock().unwrap().iter() {
        assert_eq!(p.total, Some(3.0), "{p:?}");
    }
}

#[tokio::test]
async fn server_everything_over_stdio() {
    let hub = McpHub::new();
    everything_stdio(&hub, "everything");
    everything_basics(&hub, "everything").await;
    guarded("shutdown", hub.shutdown()).await;
}

/// server-everything over stdio with everything the hub sends it recorded by `tee` on its
/// way in, one JSON message a line: what the server really received.
fn everything_recorded(hub: &McpHub, wire: &Path) {
    let script = npm_server("server-everything");
    hub.set_server(stdio_def(
        "everything",
        Path::new("sh"),
        &[
            "-c",
            r#"tee -a "$0" | exec node "$1" stdio"#,
            &wire.to_string_lossy(),
            &script.to_string_lossy(),
        ],
        &[],
    ));
}

fn received(wire: &Path) -> Vec<Value> {
    std::fs::read_to_string(wire)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

/// server-everything registers a tool once the client is initialized and sends
/// `notifications/tools/list_changed`: the hub lists again on its next use, and only then.
#[tokio::test]
async fn tools_list_changed_refreshes_the_cache() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wire = dir.path().join("stdin.jsonl");
    let hub = McpHub::new();
    everything_recorded(&hub, &wire);
    let lists = || {
        received(&wire)
            .iter()
            .filter(|m| m["method"] == "tools/list")
            .count()
    };
    let deadline = tokio::time::Instant::now() + mcp_servers::GUARD;
    loop {
        let tools = guarded("tools", hub.tools("everything"))
            .await
            .expect("tools");
        if lists() >= 2 {
            assert!(tools.iter().any(|t| t.name == "simulate-research-query"));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hub never listed the tools again after tools/list_changed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // No further change, no further listing: calls use the cache.
    let before = lists();
    call_ok(&hub, "everything", "get-sum", json!({"a": 1, "b": 2})).await;
    guarded("tools", hub.tools("everything"))
        .await
        .expect("tools");
    assert_eq!(lists(), before);
    guarded("shutdown", hub.shutdown()).await;
}

/// The timeout's `notifications/cancelled` as the server receives it.
#[tokio::test]
async fn a_timeout_cancels_on_the_wire_over_stdio() {
    let dir = tempfile::tempdir().expect("temp dir");
    let wire = dir.path().join("stdin.jsonl");
    let hub = McpHub::new();
    everything_recorded(&hub, &wire);
    let options = CallOptions {
        timeout: Some(Duration::from_millis(1500)),
        progress: None,
        ..CallOptions::default()
    };
    let pending = hub.call_tool(
        "everything",
        "trigger-long-running-operation",
        json!({"duration": 60, "steps": 2}),
        options,
    );
    let err = guarded("a call that outlives its timeout", pending)
        .await
        .unwrap_err();
    assert!(
        matches!(err, McpError::Timeout { after_ms: 1500, .. }),
        "{err:?}"
    );
    let message = |method: &str| received(&wire).into_iter().find(|m| m["method"] == method);
    wait_until("notifications/cancelled on the server's stdin", || {
        message("notifications/cancelled").is_some()
    })
    .await;
    // It names the request that timed out.
    let call_id = message("tools/call").expect("the tools/call request")["id"].clone();
    let cancelled = message("notifications/cancelled").expect("the cancellation");
    assert_eq!(cancelled["params"]["requestId"], call_id);
    // The connection still serves calls.
    let out = call(&hub, "everything", "get-sum", json!({"a": 1, "b": 1}))
        .await
        .expect("get-sum");
    assert!(out.text().contains('2'));
    guarded("shutdown", hub.shutdown()).await;
}

#[tokio::test]
async fn server_everything_over_streamable_http() {
    let script = npm_server("server-everything");
    let port = free_port();
    let mut cmd = tokio::process::Command::new(node());
    cmd.arg(&script)
        .arg("streamableHttp")
        .env("PORT", port.to_string());
    let (mut server, _stdout) = ServerProcess::spawn(cmd);
    wait_for_port(port, &mut server).await;

    let hub = McpHub::new();
    hub.set_server(http_def(
        "everything",
        &format!("http://127.0.0.1:{port}/mcp"),
    ));
    everything_basics(&hub, "everything").await;

    let options = CallOptions {
        timeout: Some(Duration::from_millis(1500)),
        progress: None,
        ..CallOptions::default()
    };
    let pending = hub.call_tool(
        "everything",
        "trigger-long-running-operation",
        json!({"duration": 60, "steps": 2}),
        options,
    );
    let err = guarded("a call that outlives its timeout", pending)
        .await
        .unwrap_err();
    assert!(matches!(err, McpError::Timeout { .. }), "{err:?}");
    let out = call_ok(&hub, "everything", "get-sum", json!({"a": 1, "b": 1})).await;
    assert!(out.text().contains('2'));
    guarded("shutdown", hub.shutdown()).await;
}

async fn call_ok(hub: &McpHub, server: &str, tool: &str, args: Value) -> ToolCallOutput {
    let out = call(hub, server, tool, args)
        .await
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(!out.is_error, "{tool}: {}", out.text());
    out
}

#[tokio::test]
async fn server_filesystem_annotations_and_a_real_move() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().canonicalize().expect("canonical temp dir");
    let script = npm_server("server-filesystem");
    let hub = McpHub::new();
    hub.set_server(stdio_def(
        "fs",
        &node(),
        &[&script.to_string_lossy(), &root.to_string_lossy()],
        &[],
    ));
    let tools = guarded("tools", hub.tools("fs")).await.expect("tools");
    let tool = |name: &str| {
        tools
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert_eq!(tool("write_file").annotations.idempotent, Some(true));
    assert_eq!(tool("write_file").safety_class(), SafetyClass::RetrySafe);
    assert_eq!(tool("move_file").safety_class(), SafetyClass::AtMostOnce);
    assert_eq!(
        tool("read_text_file").safety_class(),
        SafetyClass::RetrySafe
    );

    let from = root.join("a.txt");
    let to = root.join("b.txt");
    call_ok(
        &hub,
        "fs",
        "write_file",
        json!({"path": from.to_string_lossy(), "content": "hello"}),
    )
    .await;
    call_ok(
        &hub,
        "fs",
        "move_file",
        json!({"source": from.to_string_lossy(), "destination": to.to_string_lossy()}),
    )
    .await;
    assert!(!from.exists());
    assert_eq!(std::fs::read_to_string(&to).expect("moved file"), "hello");

    // Bad arguments: this server (TypeScript SDK) answers a tool error quoting -32602.
    let out = call(&hub, "fs", "read_text_file", json!({"path": 5}))
        .await
        .expect("a tool error, not a JSON-RPC error");
    assert!(out.is_error && out.text().contains("-32602"), "{out:?}");
    // Outside the allowed directory: refused.
    let outside = call(
        &hub,
        "fs",
        "read_text_file",
        json!({"path": "/etc/hostname"}),
    )
    .await;
    match outside {
        Ok(out) => assert!(out.is_error, "{out:?}"),
        Err(e) => panic!("expected a tool error, got {e:?}"),
    }
    guarded("shutdown", hub.shutdown()).await;
}

#[tokio::test]
async fn server_memory_creates_then_reads_entities() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("memory.jsonl");
    let script = npm_server("server-memory");
    let hub = McpHub::new();
    hub.set_server(stdio_def(
        "memory",
        &node(),
        &[&script.to_string_lossy()],
        &[("MEMORY_FILE_PATH", &file.to_string_lossy())],
    ));
    let entities = json!({"entities": [
        {"name": "Ada", "entityType": "person", "observations": ["wrote the first program"]},
        {"name": "Engine", "entityType": "machine", "observations": ["analytical"]}
    ]});
    call_ok(&hub, "memory", "create_entities", entities).await;
    let graph = call_ok(&hub, "memory", "read_graph", json!({})).await;
    let text = graph.text();
    assert!(
        text.contains("Ada") && text.contains("wrote the first program"),
        "{text}"
    );
    assert!(text.contains("Engine"), "{text}");
    assert!(file.exists(), "the graph is written to MEMORY_FILE_PATH");
    guarded("shutdown", hub.shutdown()).await;
}

#[tokio::test]
async fn mcp_server_time_from_pypi() {
    let python = installed(workspace_root().join("target/test-deps/py/bin/python"));
    let hub = McpHub::new();
    hub.set_server(stdio_def(
        "time",
        &python,
        &["-m", "mcp_server_time", "--local-timezone", "UTC"],
        &[],
    ));
    let out = call_ok(
        &hub,
        "time",
        "get_current_time",
        json!({"timezone": "Europe/Paris"}),
    )
    .await;
    assert!(out.text().contains("Europe/Paris"), "{}", out.text());

    let bad = call(
        &hub,
        "time",
        "get_current_time",
        json!({"timezone": "Mars/Olympus_Mons"}),
    )
    .await;
    eprintln!("time bad timezone: {bad:?}");

    let unknown = call(&hub, "time", "no_such_tool", json!({})).await;
    assert!(
        matches!(unknown, Err(McpError::UnknownTool { .. })),
        "{unknown:?}"
    );
    guarded("shutdown", hub.shutdown()).await;
}

#[tokio::test]
async fn server_everything_resources_templates_and_prompts() {
    let hub = McpHub::new();
    everything_stdio(&hub, "ev");
    let (resources, templates) = guarded("resources", hub.resources("ev"))
        .await
        .expect("resources listed");
    let text = resources
        .iter()
        .find(|r| r.mime_type.as_deref() == Some("text/markdown"))
        .expect("a markdown resource");
    assert!(
        templates
            .iter()
            .any(|t| t.uri_template.contains("{resourceId}")),
        "{templates:?}"
    );
    let read = guarded("read", hub.read_resource("ev", &text.uri))
        .await
        .expect("read");
    assert!(
        read[0].text.as_deref().is_some_and(|t| !t.is_empty()),
        "{read:?}"
    );
    // A binary resource from a template comes back as base64 with its type.
    let blob_uri = templates
        .iter()
        .find(|t| t.uri_template.contains("/blob/"))
        .map(|t| t.uri_template.replace("{resourceId}", "1"))
        .expect("the blob template");
    let blob = guarded("read blob", hub.read_resource("ev", &blob_uri))
        .await
        .expect("read blob");
    assert!(
        blob[0].blob.as_deref().is_some_and(|b| !b.is_empty()) && blob[0].text.is_none(),
        "{blob:?}"
    );
    // An unknown URI is the server's answer, named as the request that failed.
    let unknown = guarded("unknown", hub.read_resource("ev", "demo://no/such"))
        .await
        .expect_err("an unknown resource is refused")
        .to_string();
    assert!(unknown.contains("resources/read"), "{unknown}");

    let prompts = guarded("prompts", hub.prompts("ev"))
        .await
        .expect("prompts");
    let args_prompt = prompts
        .iter()
        .find(|p| p.name == "args-prompt")
        .expect("args-prompt");
    assert!(
        args_prompt
            .arguments
            .iter()
            .any(|a| a.name == "city" && a.required),
        "{args_prompt:?}"
    );
    let mut arguments = serde_json::Map::new();
    arguments.insert("city".into(), json!("Paris"));
    let got = guarded("get", hub.get_prompt("ev", "args-prompt", arguments))
        .await
        .expect("got the prompt");
    assert!(got.text().contains("Paris"), "{got:?}");
    assert_eq!(got.messages[0].role, "user", "{got:?}");
    // A required argument left out is refused by the server, not sent as empty.
    let missing = guarded(
        "missing",
        hub.get_prompt("ev", "args-prompt", serde_json::Map::new()),
    )
    .await;
    assert!(missing.is_err(), "{missing:?}");
    hub.shutdown().await;
}
