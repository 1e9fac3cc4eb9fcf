//! Tool behaviours and fault switches, with the server in this process over an in-memory
//! duplex pipe and a real rmcp client. (`exit_mid_call` would end the test process: it is
//! tested on the binary, in stdio_child.rs.)

use crate::common;

use std::time::Duration;

use common::{
    call, call_with_options, call_with_timeout, configure_faults, is_error, structured, text,
    Client, RecordingClient,
};
use rmcp::service::{PeerRequestOptions, ServiceError};
use rmcp::ServiceExt;
use serde_json::json;
use tempfile::TempDir;
use waymark_demo_tools::outbox::read_entries;
use waymark_demo_tools::{DemoTools, DemoToolsConfig, FaultTable};

struct Harness {
    client: Client,
    recorder: RecordingClient,
    dir: TempDir,
}

impl Harness {
    async fn start(faults: FaultTable) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = DemoToolsConfig::new(dir.path().join("outbox.jsonl")).with_faults(faults);
        let server = DemoTools::new(config.into_state());
        let (server_io, client_io) = tokio::io::duplex(64 * 1024);
        tokio::spawn(async move {
            if let Ok(running) = server.serve(server_io).await {
                let _ = running.waiting().await;
            }
        });
        let recorder = RecordingClient::plain();
        let client = recorder.clone().serve(client_io).await.unwrap();
        Self {
            client,
            recorder,
            dir,
        }
    }

    async fn healthy() -> Self {
        Self::start(FaultTable::default()).await
    }

    fn outbox_lines(&self) -> usize {
        read_entries(&self.dir.path().join("outbox.jsonl"))
            .unwrap()
            .len()
    }
}

#[tokio::test]
async fn lists_tools_with_schemas_and_annotations() {
    let h = Harness::healthy().await;
    let tools = h.client.list_all_tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for expected in [
        "lookup_order",
        "lookup_company",
        "set_order_note",
        "send_email",
        "slow_report",
        "configure_faults",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    let tool = |name: &str| tools.iter().find(|t| t.name == name).unwrap();
    let hints = |name: &str| tool(name).annotations.clone().unwrap();

    assert_eq!(hints("lookup_order").read_only_hint, Some(true));
    assert_eq!(hints("lookup_company").read_only_hint, Some(true));
    assert_eq!(hints("lookup_company").idempotent_hint, Some(true));
    assert_eq!(hints("set_order_note").idempotent_hint, Some(true));
    assert_eq!(hints("set_order_note").destructive_hint, Some(false));
    assert_eq!(hints("send_email").destructive_hint, Some(true));
    assert_eq!(hints("send_email").read_only_hint, Some(false));

    let schema = serde_json::Value::Object((*tool("send_email").input_schema).clone());
    assert_eq!(
        schema["required"],
        json!(["to", "subject", "body"]),
        "{schema}"
    );
    assert!(tool("lookup_order").output_schema.is_some());

    let schema = serde_json::Value::Object((*tool("lookup_company").input_schema).clone());
    assert_eq!(schema["required"], json!(["domain"]), "{schema}");
    assert!(tool("lookup_company").output_schema.is_some());
}

#[tokio::test]
async fn lookup_company_answers_domains_and_email_addresses() {
    let h = Harness::healthy().await;
    let found = call(&h.client, "lookup_company", json!({"domain": "acme.test"})).await;
    assert!(!is_error(&found));
    let company = structured(&found);
    assert_eq!(company["name"], "Acme Corp");
    assert_eq!(company["plan_fit"], "Enterprise");
    assert_eq!(company["employees"], 1200);
    // The same data as JSON text, for clients that read only the text.
    let as_text: serde_json::Value = serde_json::from_str(&text(&found)).unwrap();
    assert_eq!(as_text, company);

    let by_email = call(
        &h.client,
        "lookup_company",
        json!({"domain": " Ann@ACME.test "}),
    )
    .await;
    assert_eq!(structured(&by_email), company);
}

#[tokio::test]
async fn lookup_company_answers_a_tool_error_naming_an_unknown_domain() {
    let h = Harness::healthy().await;
    let missing = call(
        &h.client,
        "lookup_company",
        json!({"domain": "bob@nowhere.test"}),
    )
    .await;
    assert!(is_error(&missing));
    assert!(
        text(&missing).contains("\"nowhere.test\""),
        "{}",
        text(&missing)
    );
}

#[tokio::test]
async fn lookup_company_fails_n_times_with_fail_next() {
    let h = Harness::healthy().await;
    configure_faults(&h.client, json!({"tool": "lookup_company", "fail_next": 2})).await;
    let args = json!({"domain": "globex.test"});
    for _ in 0..2 {
        let failed = call(&h.client, "lookup_company", args.clone()).await;
        assert!(is_error(&failed));
        assert!(
            text(&failed).contains("injected fault: lookup_company"),
            "{}",
            text(&failed)
        );
    }
    let company = structured(&call(&h.client, "lookup_company", args).await);
    assert_eq!(company["name"], "Globex Corporation");
}

#[tokio::test]
async fn lookup_order_answers_known_orders_and_errors_on_unknown() {
    let h = Harness::healthy().await;
    let found = call(&h.client, "lookup_order", json!({"order_id": "A-1002"})).await;
    let order = structured(&found);
    assert_eq!(order["customer"], "Grace Hopper");
    assert_eq!(order["status"], "delayed");

    let missing = call(&h.client, "lookup_order", json!({"order_id": "Z-9"})).await;
    assert!(is_error(&missing));
    assert!(text(&missing).contains("no order"), "{}", text(&missing));
}

#[tokio::test]
async fn set_order_note_is_idempotent_and_visible_in_lookup() {
    let h = Harness::healthy().await;
    let args = json!({"order_id": "A-1001", "note": "call before delivery"});
    let first = structured(&call(&h.client, "set_order_note", args.clone()).await);
    let second = structured(&call(&h.client, "set_order_note", args).await);
    assert_eq!(first, second);
    let order = structured(&call(&h.client, "lookup_order", json!({"order_id": "A-1001"})).await);
    assert_eq!(order["note"], "call before delivery");
}

#[tokio::test]
async fn send_email_appends_one_outbox_line_per_call() {
    let h = Harness::healthy().await;
    let args = json!({"to": "ada@example.com", "subject": "Your order", "body": "Shipped."});
    let first = structured(&call(&h.client, "send_email", args.clone()).await);
    assert_eq!(h.outbox_lines(), 1);
    let second = structured(&call(&h.client, "send_email", args).await);
    assert_eq!(h.outbox_lines(), 2);
    assert_ne!(first["message_id"], second["message_id"]);
    let entries = read_entries(&h.dir.path().join("outbox.jsonl")).unwrap();
    assert_eq!(json!(entries[0].message_id), first["message_id"]);
    assert_eq!(entries[0].subject, "Your order");
}

#[tokio::test]
async fn fail_next_fails_that_many_calls_without_side_effects() {
    let h = Harness::healthy().await;
    configure_faults(&h.client, json!({"tool": "send_email", "fail_next": 2})).await;
    let args = json!({"to": "a@example.com", "subject": "s", "body": "b"});
    for _ in 0..2 {
        let failed = call(&h.client, "send_email", args.clone()).await;
        assert!(is_error(&failed));
        assert!(
            text(&failed).contains("injected fault"),
            "{}",
            text(&failed)
        );
    }
    assert_eq!(h.outbox_lines(), 0);
    structured(&call(&h.client, "send_email", args).await);
    assert_eq!(h.outbox_lines(), 1);
}

#[tokio::test]
async fn faults_from_the_start_table_apply_to_the_first_call() {
    let faults = FaultTable::from_json(r#"{"lookup_order": {"fail_next": 1}}"#).unwrap();
    let h = Harness::start(faults).await;
    let args = json!({"order_id": "A-1001"});
    assert!(is_error(
        &call(&h.client, "lookup_order", args.clone()).await
    ));
    structured(&call(&h.client, "lookup_order", args).await);
}

#[tokio::test]
async fn invalid_data_breaks_the_declared_output_but_the_tool_still_acts() {
    let h = Harness::healthy().await;
    configure_faults(
        &h.client,
        json!({"tool": "send_email", "invalid_data": true}),
    )
    .await;
    let args = json!({"to": "a@example.com", "subject": "s", "body": "b"});
    let result = call(&h.client, "send_email", args).await;
    assert!(!is_error(&result));
    assert_eq!(text(&result), "{not json");
    assert!(serde_json::from_str::<serde_json::Value>(&text(&result)).is_err());
    assert_eq!(
        result.structured_content,
        Some(json!({"unexpected": "{not json"}))
    );
    assert_eq!(
        h.outbox_lines(),
        1,
        "invalid_data corrupts the answer, not the action"
    );

    configure_faults(&h.client, json!({"tool": "send_email", "clear": true})).await;
    let args = json!({"to": "a@example.com", "subject": "s", "body": "b"});
    structured(&call(&h.client, "send_email", args).await);
}

#[tokio::test]
async fn hang_never_answers_and_honours_cancellation() {
    let h = Harness::healthy().await;
    configure_faults(&h.client, json!({"tool": "lookup_order", "hang": true})).await;
    let args = json!({"order_id": "A-1001"});
    let outcome = call_with_timeout(
        &h.client,
        "lookup_order",
        args.clone(),
        Duration::from_millis(300),
    )
    .await;
    assert!(
        matches!(outcome, Err(ServiceError::Timeout { .. })),
        "{outcome:?}"
    );

    // The connection is still usable: switch the fault off and call again.
    configure_faults(&h.client, json!({"tool": "lookup_order", "hang": false})).await;
    structured(&call(&h.client, "lookup_order", args).await);
}

#[tokio::test]
async fn slow_ms_delays_the_answer_with_progress() {
    let h = Harness::healthy().await;
    configure_faults(&h.client, json!({"tool": "lookup_order", "slow_ms": 450})).await;
    let started = std::time::Instant::now();
    structured(&call(&h.client, "lookup_order", json!({"order_id": "A-1003"})).await);
    assert!(started.elapsed() >= Duration::from_millis(450));
    let progress = h.recorder.wait_for_progress(3).await;
    assert!(progress.len() >= 3, "{progress:?}");
    assert_eq!(progress.last().and_then(|p| p.total), Some(450.0));
}

#[tokio::test]
async fn slow_ms_progress_keeps_a_resetting_client_timeout_alive() {
    let h = Harness::healthy().await;
    configure_faults(&h.client, json!({"tool": "lookup_order", "slow_ms": 700})).await;
    let args = json!({"order_id": "A-1001"});
    // Progress every 100 ms resets a 300 ms timeout: the slow call completes.
    let options =
        PeerRequestOptions::with_timeout(Duration::from_millis(300)).reset_timeout_on_progress();
    let result = call_with_options(&h.client, "lookup_order", args.clone(), options).await;
    structured(&result.unwrap());
    // Without the reset the same timeout fires.
    let outcome =
        call_with_timeout(&h.client, "lookup_order", args, Duration::from_millis(300)).await;
    assert!(
        matches!(outcome, Err(ServiceError::Timeout { .. })),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn slow_report_sends_one_progress_notification_per_step() {
    let h = Harness::healthy().await;
    let result = call(&h.client, "slow_report", json!({"steps": 4, "step_ms": 20})).await;
    assert_eq!(structured(&result)["steps_done"], 4);
    let progress = h.recorder.wait_for_progress(4).await;
    let steps: Vec<f64> = progress.iter().map(|p| p.progress).collect();
    assert_eq!(steps, [1.0, 2.0, 3.0, 4.0]);
    assert!(
        progress.iter().all(|p| p.total == Some(4.0)),
        "{progress:?}"
    );
}

#[tokio::test]
async fn configure_faults_rejects_unknown_tools() {
    let h = Harness::healthy().await;
    let result = call(
        &h.client,
        "configure_faults",
        json!({"tool": "nope", "hang": true}),
    )
    .await;
    assert!(is_error(&result));
    assert!(text(&result).contains("unknown tool"), "{}", text(&result));
}
