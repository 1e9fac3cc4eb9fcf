//! The built binary as a stdio child process, driven by rmcp's child-process client with the
//! `initialize` handshake (as waymark talks to published servers).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use common::{
    call, call_with_timeout, configure_faults, is_error, structured, text, Client, RecordingClient,
};
use rmcp::service::ServiceError;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::ServiceExt;
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use waymark_demo_tools::outbox::read_entries;

struct Child {
    client: Client,
    outbox: PathBuf,
    /// Everything the child wrote to stderr, once it has exited.
    stderr: tokio::task::JoinHandle<String>,
    _dir: tempfile::TempDir,
}

async fn spawn(faults_env: Option<&str>) -> Child {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    let command = Command::new(env!("CARGO_BIN_EXE_waymark-demo-tools")).configure(|cmd| {
        cmd.arg("--outbox").arg(&outbox);
        cmd.env_remove("DEMO_TOOLS_FAULTS");
        if let Some(faults) = faults_env {
            cmd.env("DEMO_TOOLS_FAULTS", faults);
        }
    });
    let (transport, stderr) = TokioChildProcess::builder(command)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Drain stderr so the child never blocks on a full pipe.
    let mut stderr = stderr.expect("stderr is piped");
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        text
    });
    let client = RecordingClient::with_initialize()
        .serve(transport)
        .await
        .unwrap();
    Child {
        client,
        outbox,
        stderr,
        _dir: dir,
    }
}

fn outbox_lines(path: &Path) -> usize {
    read_entries(path).unwrap().len()
}

fn email() -> serde_json::Value {
    json!({"to": "grace@example.com", "subject": "Delay", "body": "Your order is late."})
}

#[tokio::test]
async fn lists_tools_with_annotations() {
    let child = spawn(None).await;
    let tools = child.client.list_all_tools().await.unwrap();
    let hints = |name: &str| {
        tools
            .iter()
            .find(|t| t.name == name)
            .and_then(|t| t.annotations.clone())
            .unwrap_or_else(|| panic!("{name} has no annotations"))
    };
    assert_eq!(hints("lookup_order").read_only_hint, Some(true));
    assert_eq!(hints("set_order_note").idempotent_hint, Some(true));
    assert_eq!(hints("send_email").destructive_hint, Some(true));
    assert_eq!(hints("lookup_company").read_only_hint, Some(true));
    assert_eq!(tools.len(), 10);
}

#[tokio::test]
async fn lookup_order_and_send_email_append_exactly_one_line() {
    let child = spawn(None).await;
    let order =
        structured(&call(&child.client, "lookup_order", json!({"order_id": "A-1001"})).await);
    assert_eq!(order["customer"], "Ada Lovelace");

    assert_eq!(outbox_lines(&child.outbox), 0);
    let sent = structured(&call(&child.client, "send_email", email()).await);
    let entries = read_entries(&child.outbox).unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(json!(entries[0].message_id), sent["message_id"]);
    assert_eq!(entries[0].to, "grace@example.com");
}

#[tokio::test]
async fn fail_next_from_the_environment_then_success() {
    let child = spawn(Some(r#"{"send_email": {"fail_next": 2}}"#)).await;
    for _ in 0..2 {
        let failed = call(&child.client, "send_email", email()).await;
        assert!(is_error(&failed), "expected an injected failure");
        assert!(
            text(&failed).contains("injected fault"),
            "{}",
            text(&failed)
        );
    }
    assert_eq!(outbox_lines(&child.outbox), 0);
    structured(&call(&child.client, "send_email", email()).await);
    assert_eq!(outbox_lines(&child.outbox), 1);
}

#[tokio::test]
async fn exit_mid_call_kills_the_process_before_the_outbox_line() {
    let child = spawn(None).await;
    configure_faults(
        &child.client,
        json!({"tool": "send_email", "exit_mid_call": true}),
    )
    .await;
    let outcome = child
        .client
        .call_tool(common::params("send_email", email()))
        .await;
    assert!(
        matches!(outcome, Err(ServiceError::TransportClosed)),
        "{outcome:?}"
    );
    assert_eq!(
        outbox_lines(&child.outbox),
        0,
        "exit happens before the append"
    );
    let stderr = tokio::time::timeout(Duration::from_secs(10), child.stderr)
        .await
        .expect("the child exited")
        .unwrap();
    assert!(stderr.contains("exit_mid_call"), "{stderr}");
}

#[tokio::test]
async fn hang_times_out_on_the_client_and_the_server_stays_usable() {
    let child = spawn(Some(r#"{"lookup_order": {"hang": true}}"#)).await;
    let args = json!({"order_id": "A-1002"});
    let outcome = call_with_timeout(
        &child.client,
        "lookup_order",
        args.clone(),
        Duration::from_millis(500),
    )
    .await;
    assert!(
        matches!(outcome, Err(ServiceError::Timeout { .. })),
        "{outcome:?}"
    );

    configure_faults(
        &child.client,
        json!({"tool": "lookup_order", "clear": true}),
    )
    .await;
    structured(&call(&child.client, "lookup_order", args).await);

    // The server saw the client's notifications/cancelled and ended the hanging call.
    let _ = child.client.cancel().await;
    let stderr = tokio::time::timeout(Duration::from_secs(10), child.stderr)
        .await
        .expect("the child exited")
        .unwrap();
    assert!(stderr.contains("hanging call cancelled"), "{stderr}");
}
