//! The built binary serving Streamable HTTP on 127.0.0.1 with an ephemeral port, driven by
//! rmcp's streamable HTTP client (reqwest).

use crate::common;

use std::process::Stdio;
use std::time::Duration;

use common::{call, configure_faults, is_error, structured, Client, RecordingClient};
use rmcp::model::ProtocolVersion;
use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::ServiceExt;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use waymark_demo_tools::outbox::read_entries;

struct HttpServer {
    url: String,
    outbox: std::path::PathBuf,
    _child: Child,
    _dir: tempfile::TempDir,
}

/// Starts the binary on port 0 and reads the endpoint URL it prints on stdout.
async fn start_server() -> HttpServer {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_waymark-demo-tools"))
        .args(["--http", "127.0.0.1:0", "--outbox"])
        .arg(&outbox)
        .env_remove("DEMO_TOOLS_FAULTS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    tokio::spawn(async move {
        let mut sink = Vec::new();
        let _ = stderr.read_to_end(&mut sink).await;
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("the server printed its URL in time")
        .unwrap()
        .expect("a URL line on stdout");
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
        "{url}"
    );
    HttpServer {
        url,
        outbox,
        _child: child,
        _dir: dir,
    }
}

/// A transport to the server that ignores any proxy set in the environment: the server is on
/// loopback, and a proxy from HTTP_PROXY would not reach it.
fn transport(server: &HttpServer) -> StreamableHttpClientTransport<reqwest::Client> {
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let config = StreamableHttpClientTransportConfig::with_uri(server.url.clone());
    StreamableHttpClientTransport::with_client(http, config)
}

async fn connect(server: &HttpServer, recorder: RecordingClient) -> Client {
    recorder.serve(transport(server)).await.unwrap()
}

#[tokio::test]
async fn lists_tools_and_calls_them_with_the_initialize_handshake() {
    let server = start_server().await;
    let client = connect(&server, RecordingClient::with_initialize()).await;
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 10);
    let send = tools.iter().find(|t| t.name == "send_email").unwrap();
    assert_eq!(
        send.annotations.as_ref().unwrap().destructive_hint,
        Some(true)
    );

    let order = structured(&call(&client, "lookup_order", json!({"order_id": "A-1003"})).await);
    assert_eq!(order["customer"], "Alan Turing");

    let email = json!({"to": "alan@example.com", "subject": "Hi", "body": "Tape shipped."});
    structured(&call(&client, "send_email", email).await);
    assert_eq!(read_entries(&server.outbox).unwrap().len(), 1);

    // Progress notifications travel over the SSE response stream.
    let report = call(&client, "slow_report", json!({"steps": 3, "step_ms": 10})).await;
    assert_eq!(structured(&report)["steps_done"], 3);
    assert_eq!(client.service().wait_for_progress(3).await.len(), 3);
}

#[tokio::test]
async fn faults_are_shared_across_connections_with_the_latest_protocol() {
    let server = start_server().await;
    let first = connect(&server, RecordingClient::with_initialize()).await;
    configure_faults(&first, json!({"tool": "lookup_order", "fail_next": 1})).await;

    // A second client, on the newest protocol version (2026-07-28: `server/discover`, no
    // handshake, stateless HTTP requests), sees the same switch.
    let lifecycle = ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::LATEST],
    };
    let second = RecordingClient::plain()
        .serve_with_lifecycle(transport(&server), lifecycle)
        .await
        .unwrap();
    let negotiated = second.peer_info().map(|info| info.protocol_version.clone());
    assert_eq!(negotiated, Some(ProtocolVersion::LATEST));
    let args = json!({"order_id": "A-1001"});
    assert!(is_error(&call(&second, "lookup_order", args.clone()).await));
    structured(&call(&second, "lookup_order", args).await);
}
