//! The MCP hub against our own demo tool server (`waymark-demo-tools`), over stdio and
//! Streamable HTTP, with its fault switches: no mocks.

use crate::mcp_servers;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_servers::{
    demo_tools_bin, guarded, http_def, live_processes_with, start_demo_tools_http, stdio_def,
    wait_until,
};
use serde_json::{json, Value};
use waymark_agent::mcp::{CallOptions, McpError, McpHub, ServerStatus, ToolProgress};
use waymark_engine::SafetyClass;

const SERVER: &str = "demo";

/// A hub with one stdio demo server, its outbox in a temp dir of its own.
struct Demo {
    hub: McpHub,
    dir: tempfile::TempDir,
}

impl Demo {
    fn start(faults: Option<&str>) -> Self {
        Self::with_hub(McpHub::new(), faults)
    }

    fn with_hub(hub: McpHub, faults: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let outbox = dir.path().join("outbox.jsonl");
        let outbox = outbox.to_string_lossy().into_owned();
        let mut env = vec![("RUST_LOG", "info,rmcp=warn")];
        if let Some(faults) = faults {
            env.push(("DEMO_TOOLS_FAULTS", faults));
        }
        hub.set_server(stdio_def(
            SERVER,
            &demo_tools_bin(),
            &["--outbox", &outbox],
            &env,
        ));
        Self { hub, dir }
    }

    fn outbox(&self) -> PathBuf {
        self.dir.path().join("outbox.jsonl")
    }

    async fn call(
        &self,
        tool: &str,
        args: Value,
    ) -> Result<waymark_agent::mcp::ToolCallOutput, McpError> {
        let call = self
            .hub
            .call_tool(SERVER, tool, args, CallOptions::default());
        guarded(tool, call).await
    }

    fn stderr(&self) -> String {
        self.hub.stderr_tail(SERVER).unwrap_or_default()
    }
}

fn with_timeout(ms: u64) -> CallOptions {
    CallOptions {
        timeout: Some(Duration::from_millis(ms)),
        progress: None,
        ..CallOptions::default()
    }
}

#[tokio::test]
async fn lists_tools_with_annotations_and_safety_classes() {
    let demo = Demo::start(None);
    assert_eq!(demo.hub.status(SERVER), Some(ServerStatus::Idle));
    let tools = guarded("tools", demo.hub.tools(SERVER))
        .await
        .expect("tools");
    let tool = |name: &str| {
        tools
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert_eq!(tool("lookup_order").annotations.read_only, Some(true));
    assert_eq!(
        tool("lookup_order").title.as_deref(),
        Some("Look up an order")
    );
    assert!(!tool("lookup_order").description.is_empty());
    assert_eq!(tool("lookup_order").input_schema["type"], "object");
    assert_eq!(tool("set_order_note").annotations.idempotent, Some(true));
    assert_eq!(tool("send_email").annotations.destructive, Some(true));
    assert_eq!(tool("lookup_order").safety_class(), SafetyClass::RetrySafe);
    assert_eq!(
        tool("set_order_note").safety_class(),
        SafetyClass::RetrySafe
    );
    assert_eq!(tool("send_email").safety_class(), SafetyClass::AtMostOnce);
    match demo.hub.status(SERVER) {
        Some(ServerStatus::Connected {
            protocol_version,
            tool_count,
            server_name,
            ..
        }) => {
            // demo-tools speaks both revisions: the client's first offer, 2026-07-28, wins.
            assert_eq!(protocol_version, "2026-07-28");
            assert_eq!(tool_count, tools.len());
            assert_eq!(server_name.as_deref(), Some("waymark-demo-tools"));
        }
        other => panic!("expected Connected, got {other:?}"),
    }
    assert_eq!(demo.hub.servers(), vec![SERVER.to_string()]);
}

#[tokio::test]
async fn calls_a_tool_and_rejects_unknown_names_before_calling() {
    let demo = Demo::start(None);
    let out = demo
        .call("lookup_order", json!({"order_id": "A-1001"}))
        .await
        .expect("lookup_order");
    assert!(!out.is_error);
    let structured = out.structured_content.clone().expect("structured content");
    assert_eq!(structured["order_id"], "A-1001");
    assert!(out.text().contains("A-1001"), "{}", out.text());

    let err = demo.call("no_such_tool", json!({})).await.unwrap_err();
    assert!(matches!(err, McpError::UnknownTool { .. }), "{err:?}");
    assert!(!err.to_step_error().retryable, "{err}");

    let err = guarded("unknown server", demo.hub.tools("nope"))
        .await
        .unwrap_err();
    assert!(matches!(err, McpError::UnknownServer(_)), "{err:?}");

    let err = demo.call("lookup_order", json!([1, 2])).await.unwrap_err();
    assert!(matches!(err, McpError::InvalidArguments { .. }), "{err:?}");
}

#[tokio::test]
async fn a_tool_error_is_an_answer_not_a_failure() {
    let demo = Demo::start(Some(r#"{"lookup_order": {"fail_next": 1}}"#));
    let out = demo
        .call("lookup_order", json!({"order_id": "A-1001"}))
        .await
        .expect("a tool error is Ok");
    assert!(out.is_error);
    assert!(out.text().contains("injected fault"), "{}", out.text());
    let out = demo
        .call("lookup_order", json!({"order_id": "A-1001"}))
        .await
        .expect("second call");
    assert!(!out.is_error);
}

#[tokio::test]
async fn a_json_rpc_error_keeps_its_code_and_message() {
    let demo = Demo::start(Some(r#"{"lookup_order": {"error_next": 1}}"#));
    let err = demo
        .call("lookup_order", json!({"order_id": "A-1001"}))
        .await
        .unwrap_err();
    let McpError::Rpc { code, message, .. } = &err else {
        panic!("expected Rpc, got {err:?}");
    };
    assert_eq!(*code, -32603);
    assert!(message.contains("error_next"), "{message}");
    assert_eq!(err.to_step_error().kind, "mcp_rpc_error");
    // The connection is unharmed.
    let out = demo
        .call("lookup_order", json!({"order_id": "A-1001"}))
        .await
        .expect("the next call");
    assert!(!out.is_error);
}

#[tokio::test]
async fn a_timeout_cancels_the_call_on_the_wire() {
    let demo = Demo::start(Some(r#"{"lookup_order": {"hang": true}}"#));
    let call = demo.hub.call_tool(
        SERVER,
        "lookup_order",
        json!({"order_id": "A-1001"}),
        with_timeout(1500),
    );
    let err = guarded("hanging call", call).await.unwrap_err();
    assert!(
        matches!(err, McpError::Timeout { after_ms: 1500, .. }),
        "{err:?}"
    );
    let step = err.to_step_error();
    assert!(step.retryable);
    // The server logs when the client's notifications/cancelled reaches the hanging call.
    wait_until("the server to see the cancellation", || {
        demo.stderr()
            .contains("hanging call cancelled by the client")
    })
    .await;
    // The connection is still good.
    let out = demo
        .call("set_order_note", json!({"order_id": "A-1001", "note": "n"}))
        .await
        .expect("a call after the timeout");
    assert!(!out.is_error);
}

#[tokio::test]
async fn a_crash_mid_call_fails_the_call_and_the_next_use_restarts_the_server() {
    let demo = Demo::start(Some(r#"{"send_email": {"exit_mid_call": true}}"#));
    let email = json!({"to": "a@example.com", "subject": "s", "body": "b"});
    let err = demo.call("send_email", email).await.unwrap_err();
    let McpError::Closed { stderr_tail, .. } = &err else {
        panic!("expected Closed, got {err:?}");
    };
    let tail = stderr_tail.clone().unwrap_or_default();
    assert!(tail.contains("exit_mid_call"), "stderr tail: {tail}");
    assert!(err.to_string().contains("exit_mid_call"), "{err}");
    assert!(err.to_step_error().retryable);
    match demo.hub.status(SERVER) {
        Some(ServerStatus::Failed { stderr_tail, .. }) => {
            assert!(stderr_tail.unwrap_or_default().contains("exit_mid_call"))
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    // The next call waits out the backoff and runs on a new process.
    let out = demo
        .call("lookup_order", json!({"order_id": "A-1002"}))
        .await
        .expect("a call after the restart");
    assert!(!out.is_error);
    assert!(matches!(
        demo.hub.status(SERVER),
        Some(ServerStatus::Connected { .. })
    ));
    assert!(
        !demo.outbox().exists()
            || std::fs::read_to_string(demo.outbox())
                .unwrap_or_default()
                .is_empty(),
        "the crashed call never took effect"
    );
}

#[tokio::test]
async fn an_answer_that_breaks_the_output_schema_is_an_invalid_response() {
    let demo = Demo::start(None);
    demo.call(
        "configure_faults",
        json!({"tool": "lookup_order", "invalid_data": true}),
    )
    .await
    .expect("configure_faults");
    let err = demo
        .call("lookup_order", json!({"order_id": "A-1001"}))
        .await
        .unwrap_err();
    let McpError::InvalidResponse { message, .. } = &err else {
        panic!("expected InvalidResponse, got {err:?}");
    };
    assert!(message.contains("output schema"), "{message}");
    assert!(!err.to_step_error().retryable);
}

#[tokio::test]
async fn progress_is_forwarded_to_the_callback() {
    let demo = Demo::start(None);
    let seen: Arc<Mutex<Vec<ToolProgress>>> = Arc::default();
    let sink = seen.clone();
    let options = CallOptions {
        timeout: Some(Duration::from_secs(60)),
        progress: Some(Arc::new(move |p| sink.lock().unwrap().push(p))),
        ..CallOptions::default()
    };
    let call = demo.hub.call_tool(
        SERVER,
        "slow_report",
        json!({"steps": 4, "step_ms": 50}),
        options,
    );
    let out = guarded("slow_report", call).await.expect("slow_report");
    assert_eq!(out.structured_content.expect("structured")["steps_done"], 4);
    wait_until("progress", || !seen.lock().unwrap().is_empty()).await;
    let seen = seen.lock().unwrap().clone();
    for p in &seen {
        assert_eq!(p.total, Some(4.0), "{p:?}");
        assert!(p.progress >= 1.0 && p.progress <= 4.0, "{p:?}");
        assert!(
            p.message.as_deref().unwrap_or("").starts_with("step "),
            "{p:?}"
        );
    }
}

#[tokio::test]
async fn concurrent_calls_stay_within_the_limit() {
    let demo = Demo::with_hub(
        McpHub::with_max_concurrent_calls(2),
        Some(r#"{"lookup_order": {"slow_ms": 300}}"#),
    );
    let calls = (0..4).map(|_| demo.call("lookup_order", json!({"order_id": "A-1003"})));
    for out in futures::future::join_all(calls).await {
        assert!(!out.expect("lookup_order").is_error);
    }
    // The server logs `in_flight=N` as each call starts: what it saw, not what we timed.
    let started = |text: &str| -> Vec<usize> {
        text.lines()
            .filter(|l| l.contains("call started"))
            .filter_map(|l| l.split("in_flight=").nth(1))
            .filter_map(|n| n.split_whitespace().next()?.parse().ok())
            .collect()
    };
    wait_until("four call starts in the server's log", || {
        started(&demo.stderr()).len() == 4
    })
    .await;
    let seen = started(&demo.stderr());
    assert!(
        seen.iter().all(|n| *n <= 2),
        "in flight at each start: {seen:?}"
    );
    assert_eq!(demo.hub.calls_in_flight(SERVER), Some(0));
}

#[tokio::test]
async fn concurrent_first_uses_share_one_connection() {
    let demo = Demo::start(None);
    let lists = (0..4).map(|_| demo.hub.tools(SERVER));
    for tools in guarded("tools", futures::future::join_all(lists)).await {
        assert!(!tools.expect("tools").is_empty());
    }
    let starts = demo.stderr().matches("serving MCP on stdio").count();
    assert_eq!(starts, 1, "{}", demo.stderr());
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_child_process() {
    let demo = Demo::start(None);
    let marker = demo.dir.path().to_string_lossy().into_owned();
    guarded("tools", demo.hub.tools(SERVER))
        .await
        .expect("tools");
    assert_eq!(live_processes_with(&marker), 1);
    guarded("shutdown", demo.hub.shutdown()).await;
    assert_eq!(live_processes_with(&marker), 0);
    assert_eq!(demo.hub.status(SERVER), Some(ServerStatus::Idle));

    // Used again, it starts again; dropping the last hub clone kills it.
    guarded("tools", demo.hub.tools(SERVER))
        .await
        .expect("tools again");
    assert_eq!(live_processes_with(&marker), 1);
    let Demo { hub, dir } = demo;
    drop(hub);
    wait_until("the child to be killed on drop", || {
        live_processes_with(&marker) == 0
    })
    .await;
    drop(dir);
}

#[tokio::test]
async fn streamable_http_transport() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, url) = start_demo_tools_http(
        &dir.path().join("outbox.jsonl"),
        Some(r#"{"send_email": {"hang": true}}"#),
    )
    .await;
    let hub = McpHub::new();
    hub.set_server(http_def(SERVER, &url));
    let tools = guarded("tools", hub.tools(SERVER))
        .await
        .expect("tools over HTTP");
    assert!(tools.iter().any(|t| t.name == "lookup_order"));

    let out = guarded(
        "lookup_order",
        hub.call_tool(
            SERVER,
            "lookup_order",
            json!({"order_id": "A-1001"}),
            CallOptions::default(),
        ),
    )
    .await
    .expect("lookup_order over HTTP");
    assert_eq!(
        out.structured_content.expect("structured")["order_id"],
        "A-1001"
    );

    let seen: Arc<Mutex<Vec<ToolProgress>>> = Arc::default();
    let sink = seen.clone();
    let options = CallOptions {
        timeout: None,
        progress: Some(Arc::new(move |p| sink.lock().unwrap().push(p))),
        ..CallOptions::default()
    };
    let call = hub.call_tool(
        SERVER,
        "slow_report",
        json!({"steps": 3, "step_ms": 50}),
        options,
    );
    guarded("slow_report", call)
        .await
        .expect("slow_report over HTTP");
    wait_until("progress over HTTP", || !seen.lock().unwrap().is_empty()).await;

    let email = json!({"to": "a@example.com", "subject": "s", "body": "b"});
    let call = hub.call_tool(SERVER, "send_email", email, with_timeout(1500));
    let err = guarded("hanging call", call).await.unwrap_err();
    assert!(matches!(err, McpError::Timeout { .. }), "{err:?}");
    wait_until("the server to see the cancellation", || {
        server
            .stderr_text()
            .contains("hanging call cancelled by the client")
    })
    .await;
    guarded("shutdown", hub.shutdown()).await;
}

#[tokio::test]
async fn a_server_that_cannot_start_fails_to_connect_and_backs_off() {
    let hub = McpHub::new();
    let missing = std::path::Path::new("/nonexistent/waymark-no-such-server");
    hub.set_server(stdio_def("broken", missing, &[], &[]));
    let err = guarded("tools", hub.tools("broken")).await.unwrap_err();
    let McpError::Connect { message, .. } = &err else {
        panic!("expected Connect, got {err:?}");
    };
    assert!(message.contains("cannot start"), "{message}");
    assert!(err.to_step_error().retryable);
    let Some(ServerStatus::Failed { retry_in_ms, .. }) = hub.status("broken") else {
        panic!("expected Failed, got {:?}", hub.status("broken"));
    };
    assert!(retry_in_ms <= 200, "{retry_in_ms}");

    // A call whose timeout ends before the next attempt fails at once, with the reason.
    let err = guarded(
        "call",
        hub.call_tool("broken", "x", json!({}), with_timeout(1)),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, McpError::Connect { .. } | McpError::Timeout { .. }),
        "{err:?}"
    );
    // A call that can wait, waits out the backoff and tries again (the second failure
    // doubles the wait: at most 400 ms left now; a lower bound would be a timing assertion).
    let err = guarded("tools", hub.tools("broken")).await.unwrap_err();
    assert!(matches!(err, McpError::Connect { .. }), "{err:?}");
    let Some(ServerStatus::Failed { retry_in_ms, .. }) = hub.status("broken") else {
        panic!("expected Failed");
    };
    assert!(retry_in_ms <= 400, "{retry_in_ms}");
}
