//! `--protocol`: a server that speaks only the stateless revision (2026-07-28) or only an
//! older one (2025-06-18), over Streamable HTTP and stdio, met by rmcp's clients.

use crate::common;

use std::process::Stdio;

use common::spawn::HttpServer;
use common::{call, structured, Client, RecordingClient};
use rmcp::model::{ErrorCode, ProtocolVersion};
use rmcp::service::{ClientInitializeError, ClientLifecycleMode, ClientServiceExt};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::ServiceExt;
use serde_json::json;
use tokio::process::Command;

/// How waymark meets a server whose revision it does not know: discover first, fall back
/// to `initialize` when the server is older.
fn auto() -> ClientLifecycleMode {
    ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: Some(ProtocolVersion::LATEST_WITH_INITIALIZE),
    }
}

fn negotiated(client: &Client) -> Option<ProtocolVersion> {
    client.peer_info().map(|info| info.protocol_version.clone())
}

async fn lookup_works(client: &Client) {
    let order = structured(&call(client, "lookup_order", json!({"order_id": "A-1003"})).await);
    assert_eq!(order["customer"], "Alan Turing");
}

/// The error of a start that had to fail (a running client has no `Debug` for `expect_err`).
fn refused(started: Result<Client, ClientInitializeError>) -> ClientInitializeError {
    match started {
        Ok(_) => panic!("the server accepted a lifecycle it should refuse"),
        Err(error) => error,
    }
}

/// The JSON-RPC error a failed start ended on.
fn rpc_error(error: &ClientInitializeError) -> &rmcp::ErrorData {
    match error {
        ClientInitializeError::JsonRpcError(data) => data,
        ClientInitializeError::LegacyFallbackFailed { fallback, .. } => rpc_error(fallback),
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_stateless_only_server_answers_discover_and_refuses_initialize_over_http() {
    let server = HttpServer::start(&["--protocol", "2026-07-28"]).await;

    let client = RecordingClient::plain()
        .serve_with_lifecycle(server.transport(None), auto())
        .await
        .unwrap();
    assert_eq!(negotiated(&client), Some(ProtocolVersion::V_2026_07_28));
    lookup_works(&client).await;
    assert_eq!(client.list_all_tools().await.unwrap().len(), 10);

    // The handshake is refused whatever version it asks for.
    for initialize in [RecordingClient::with_initialize(), RecordingClient::plain()] {
        let error = refused(initialize.serve(server.transport(None)).await);
        let data = rpc_error(&error);
        assert_eq!(
            data.code,
            ErrorCode::UNSUPPORTED_PROTOCOL_VERSION,
            "{data:?}"
        );
        let supported = data.data.as_ref().map(|d| d["supported"].clone());
        assert_eq!(supported, Some(json!(["2026-07-28"])));
    }
}

#[tokio::test]
async fn a_2025_06_18_server_refuses_discover_and_the_auto_client_falls_back_over_http() {
    let server = HttpServer::start(&["--protocol", "2025-06-18"]).await;

    let client = RecordingClient::plain()
        .serve_with_lifecycle(server.transport(None), auto())
        .await
        .unwrap();
    assert_eq!(negotiated(&client), Some(ProtocolVersion::V_2025_06_18));
    lookup_works(&client).await;

    // `initialize` asking for a newer version gets 2025-06-18 all the same.
    let pinned = RecordingClient::with_initialize()
        .serve(server.transport(None))
        .await
        .unwrap();
    assert_eq!(negotiated(&pinned), Some(ProtocolVersion::V_2025_06_18));

    // A client that only discovers meets "method not found", as from an older server.
    let discover_only = ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
    };
    let error = refused(
        RecordingClient::plain()
            .serve_with_lifecycle(server.transport(None), discover_only)
            .await,
    );
    assert_eq!(rpc_error(&error).code, ErrorCode::METHOD_NOT_FOUND);
}

#[tokio::test]
async fn both_revisions_are_answered_by_default() {
    let server = HttpServer::start(&[]).await;
    let modern = RecordingClient::plain()
        .serve_with_lifecycle(server.transport(None), auto())
        .await
        .unwrap();
    assert_eq!(negotiated(&modern), Some(ProtocolVersion::V_2026_07_28));
    let legacy = RecordingClient::with_initialize()
        .serve(server.transport(None))
        .await
        .unwrap();
    assert_eq!(
        negotiated(&legacy),
        Some(ProtocolVersion::LATEST_WITH_INITIALIZE)
    );
}

/// The binary as a stdio child with `--protocol MODE`, met by the Auto client.
async fn stdio_child(mode: &str) -> Client {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    let command = Command::new(env!("CARGO_BIN_EXE_waymark-demo-tools")).configure(|cmd| {
        cmd.arg("--outbox").arg(&outbox).args(["--protocol", mode]);
        cmd.env_remove("DEMO_TOOLS_FAULTS");
    });
    let (transport, _) = TokioChildProcess::builder(command)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    RecordingClient::plain()
        .serve_with_lifecycle(transport, auto())
        .await
        .unwrap()
}

#[tokio::test]
async fn both_modes_work_over_stdio() {
    let modern = stdio_child("2026-07-28").await;
    assert_eq!(negotiated(&modern), Some(ProtocolVersion::V_2026_07_28));
    lookup_works(&modern).await;

    let legacy = stdio_child("2025-06-18").await;
    assert_eq!(negotiated(&legacy), Some(ProtocolVersion::V_2025_06_18));
    lookup_works(&legacy).await;
}
