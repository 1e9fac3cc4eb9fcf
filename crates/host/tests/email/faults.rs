//! Email under faults, each a clear error and nothing lost: the IMAP server down at start, a
//! wrong password, hostile messages (oversized, nested too deep, garbage), an SMTP server that
//! refuses the recipient, and one that is down for a while.

use std::time::Duration;

use super::email_support::*;
use super::lab;
use serde_json::{json, Value};
use waymark_agent::triggers::EmailEvent;

/// The next `Failed` event of the watcher: its error.
async fn next_failure(events: &mut tokio::sync::broadcast::Receiver<EmailEvent>) -> String {
    loop {
        match tokio::time::timeout(Duration::from_secs(60), events.recv()).await {
            Ok(Ok(EmailEvent::Failed { error, .. })) => return error,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("email events: {e}"),
            Err(_) => panic!("no failure within a minute"),
        }
    }
}

async fn folder_state(api: &waymark_api::Api) -> Value {
    call(api, "mail_accounts_list", json!({})).await["accounts"][0]["folders"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imap_server_down_at_start_is_shown_and_reconnected_when_it_returns() {
    let lab = lab::MailLab::start().await;
    lab.imap_stop().await;
    let LeadHost {
        setup: _setup,
        host,
        api,
        mut events,
    } = lead_host(&lab, &lab.password).await;
    let error = next_failure(&mut events).await;
    assert!(
        error.contains("127.0.0.1"),
        "the error names the server: {error}"
    );
    let folder = folder_state(&api).await;
    assert_eq!(folder["state"], "error", "{folder}");
    assert!(folder["last_error"].as_str().is_some_and(|e| !e.is_empty()));
    let triggers = call(&api, "triggers_list", json!({})).await;
    assert!(
        triggers.to_string().contains("\"state\":\"error\""),
        "{triggers}"
    );

    lab.imap_start().await;
    checked(&mut events).await;
    assert_eq!(folder_state(&api).await["state"], "idle");
    lab.deliver("INBOX", &lead_email(1)).await;
    assert_eq!(started(&mut events, 1).await.len(), 1);
    host.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_a_clear_error_without_a_retry_storm() {
    let lab = lab::MailLab::start().await;
    let LeadHost {
        setup: _setup,
        host,
        api,
        mut events,
    } = lead_host(&lab, "not-the-password").await;
    let error = next_failure(&mut events).await;
    assert!(
        error.to_lowercase().contains("auth") || error.to_lowercase().contains("sign"),
        "the error says the sign-in was refused: {error}"
    );
    assert!(!error.contains("not-the-password"), "no password in errors");
    // Testing absence needs a window: a watcher retrying at its connection backoff (1 s, then
    // 2 s) would fail again within it.
    let again = tokio::time::timeout(Duration::from_millis(2500), next_failure(&mut events)).await;
    assert!(
        again.is_err(),
        "a refused sign-in was retried at once: {again:?}"
    );
    let test = call(&api, "mail_account_test", json!({"name": "sales"})).await;
    assert_eq!(test["imap"]["ok"], false);
    assert!(test.to_string().to_lowercase().contains("auth"), "{test}");
    // A new password wakes the watcher at once.
    add_account(&api, &lab, &lab.password).await;
    host.email().expect("watcher").reload();
    checked(&mut events).await;
    assert_eq!(folder_state(&api).await["state"], "idle");
    host.shutdown(Duration::from_secs(10)).await;
}

/// A message nested `depth` levels deep in message/rfc822 parts.
fn nested(depth: usize) -> Vec<u8> {
    let mut inner = String::from("Subject: innermost\r\n\r\nhello\r\n");
    for i in 0..depth {
        inner = format!(
            "Subject: level {i}\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n{inner}"
        );
    }
    format!(
        "From: Ann Buyer <ann@acme.test>\r\nTo: lead@example.test\r\nMessage-ID: <deep@acme.test>\r\n{inner}"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_messages_fail_on_the_trigger_or_start_what_could_be_read() {
    let lab = lab::MailLab::start().await;
    let LeadHost {
        setup: _setup,
        host,
        api,
        mut events,
    } = watching_lead_host(&lab).await;

    // Over the 10 MiB cap: an error on the trigger naming the limit, no run.
    let mut huge = lead_email(1);
    huge.extend(std::iter::repeat_n(b'x', 11 * 1024 * 1024));
    lab.deliver("INBOX", &huge).await;
    let error = next_failure(&mut events).await;
    assert!(error.contains("limit"), "{error}");
    // Nested too deep: an error on the trigger, no run.
    lab.deliver("INBOX", &nested(20)).await;
    let error = next_failure(&mut events).await;
    assert!(
        error.to_lowercase().contains("deep") || error.to_lowercase().contains("nest"),
        "{error}"
    );
    // Garbage: a run with what could be parsed.
    lab.deliver("INBOX", b"\x00\x01\xff not an email at all \r\n\r\n\x7f")
        .await;
    let runs = started(&mut events, 1).await;
    let got = call(&api, "runs_get", json!({"run_id": runs[0]})).await;
    assert!(
        got["run"]["input"]
            .to_string()
            .contains("\\\"trigger\\\": \\\"email\\\""),
        "{got}"
    );
    // And the trigger goes on.
    lab.deliver("INBOX", &lead_email(2)).await;
    assert_eq!(started(&mut events, 1).await.len(), 1);
    let folder = folder_state(&api).await;
    assert_eq!(folder["state"], "idle", "{folder}");
    host.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_refusing_the_recipient_is_a_clear_error_that_is_not_retried() {
    let lab = lab::MailLab::start().await;
    let LeadHost {
        setup: _setup,
        host,
        api,
        mut events,
    } = watching_lead_host(&lab).await;
    lab.smtp_refuse(Some("ann@")).await;
    let (run, _) = lead_draft(&api, &lab, &mut events, 1).await;
    call(
        &api,
        "runs_approve",
        json!({"run_id": run, "step": "approval/2.1"}),
    )
    .await;
    api.wait_settled(run).await.expect("settles");
    let step = call(
        &api,
        "runs_get_step",
        json!({"run_id": run, "step": "tool/2.1"}),
    )
    .await;
    assert_eq!(step["status"], "failed", "{step}");
    assert_eq!(step["attempts"], 1, "not retried: {step}");
    let error = step["error"].to_string();
    assert!(
        error.contains("ann@acme.test") && error.contains("550"),
        "{error}"
    );
    assert!(lab.received().await.is_empty());
    let sent = sent_copies(&lab, step["input"]["message_id"].as_str().unwrap_or("?")).await;
    assert!(
        sent.is_empty(),
        "no copy is left in Sent for a message that never went: {sent:?}"
    );
    host.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_is_retried_by_the_policy_and_still_sends_once() {
    let lab = lab::MailLab::start().await;
    let LeadHost {
        setup: _setup,
        host,
        api,
        mut events,
    } = watching_lead_host(&lab).await;
    lab.smtp_stop().await;
    let (run, _) = lead_draft(&api, &lab, &mut events, 1).await;
    // Two failed attempts, awaited on the run's events, then the server comes back.
    let mut stream = api
        .subscribe(waymark_api::EventFilter::of(Some(run)), 0)
        .await
        .expect("subscribe");
    call(
        &api,
        "runs_approve",
        json!({"run_id": run, "step": "approval/2.1"}),
    )
    .await;
    loop {
        let event = tokio::time::timeout(Duration::from_secs(60), stream.next())
            .await
            .expect("an event")
            .expect("event");
        let attempts = event
            .step
            .as_ref()
            .filter(|s| s.key.as_str() == "tool/2.1" && s.error.is_some())
            .map_or(0, |s| s.attempts);
        if attempts >= 2 {
            break;
        }
    }
    lab.smtp_start().await;
    let view = api.wait_settled(run).await.expect("settles");
    assert_eq!(view.status.to_string(), "succeeded");
    let received = lab.received().await;
    assert_eq!(received.len(), 1, "sent once");
    let sent = sent_copies(&lab, &received[0].message_id).await;
    assert_eq!(sent.len(), 1, "one copy in Sent: {sent:?}");
    host.shutdown(Duration::from_secs(10)).await;
}
