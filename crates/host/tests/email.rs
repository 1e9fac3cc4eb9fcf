//! Email in and out on a real host, against a real IMAP server (Dovecot) and a real SMTP
//! server (aiosmtpd) on loopback: the trigger starts one run per message (never two), the
//! lead-reply workflow drafts, waits for approval (with an edit), sends exactly once with the
//! thread's headers, and keeps a copy in Sent.

#[path = "../../../tests/mail/lab.rs"]
mod lab;

mod email_support;
// The fault tests, in this binary too (one link).
#[path = "email/faults.rs"]
mod faults;

use std::time::Duration;

use email_support::*;
use lab::MailLab;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_email_starts_one_run_and_a_redelivery_or_a_restart_starts_none() {
    let lab = MailLab::start().await;
    let LeadHost {
        setup: s,
        host,
        api,
        mut events,
    } = lead_host(&lab, &lab.password).await;
    // The first read sets where the folder starts: old mail starts nothing.
    checked(&mut events).await;
    for n in 1..=3 {
        lab.deliver("INBOX", &lead_email(n)).await;
    }
    let runs = started(&mut events, 3).await;
    assert_eq!(
        runs.iter().collect::<std::collections::HashSet<_>>().len(),
        3
    );
    // The run's input is the message, parsed.
    let got = call(&api, "runs_get", json!({"run_id": runs[0]})).await;
    let input: Value = serde_json::from_str(
        got["run"]["input"]["input"]
            .as_str()
            .expect("the agent's input text"),
    )
    .expect("JSON");
    assert_eq!(input["trigger"], "email");
    assert_eq!(input["email"]["subject"], "Pricing question");
    assert_eq!(input["email"]["from"][0]["email"], "ann@acme.test");
    assert_eq!(input["email"]["message_id"], "<lead-1@acme.test>");
    // The example's trigger marks a handled message as read.
    let inbox = copies_in(&lab, "INBOX", "<lead-1@acme.test>").await;
    assert!(inbox[0].iter().any(|f| f == "\\Seen"), "{inbox:?}");

    // The runs list shows it as a message.
    let listed = runs_of(&api).await;
    assert_eq!(
        listed[0]["input_preview"],
        "Email from Ann Buyer <ann@acme.test>: Pricing question"
    );
    // The same message again (a redelivery: same Message-ID, new UID) starts nothing.
    lab.deliver("INBOX", &lead_email(2)).await;
    checked(&mut events).await;
    assert_eq!(runs_of(&api).await.len(), 3);

    // Mail that arrives while the host is stopped starts its runs when it starts again.
    host.shutdown(Duration::from_secs(10)).await;
    lab.deliver("INBOX", &lead_email(4)).await;
    lab.deliver("INBOX", &lead_email(5)).await;
    let host = start_host(&s).await;
    let mut events = host.email().expect("watcher").subscribe();
    let later = started(&mut events, 2).await;
    assert_eq!(later.len(), 2);
    checked(&mut events).await;
    assert_eq!(
        runs_of(host.api()).await.len(),
        5,
        "no message started a second run"
    );
    host.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_delivery_starts_its_run_though_polling_is_set_to_an_hour() {
    let lab = MailLab::start().await;
    let LeadHost {
        setup: _setup,
        host,
        api,
        mut events,
    } = lead_host(&lab, &lab.password).await;
    // Polling every hour (and moving what it handled): only IDLE can bring the message in time.
    let mut spec = call(&api, "agents_get", json!({"name": "lead-reply"})).await["spec"].clone();
    spec["triggers"][0]["poll_secs"] = json!(3600);
    spec["triggers"][0]["move_to"] = json!("Handled");
    call(&api, "agents_save", json!({"spec": spec})).await;
    host.email().expect("watcher").reload();
    checked(&mut events).await;
    let folders =
        call(&api, "mail_accounts_list", json!({})).await["accounts"][0]["folders"].clone();
    assert_eq!(folders[0]["state"], "idle", "{folders}");
    lab.deliver("INBOX", &lead_email(1)).await;
    let runs = started(&mut events, 1).await;
    assert_eq!(runs.len(), 1);
    // Handled, it moved out of the inbox into the trigger's `move_to` folder.
    checked(&mut events).await;
    assert!(copies_in(&lab, "INBOX", "<lead-1@acme.test>")
        .await
        .is_empty());
    assert_eq!(
        copies_in(&lab, "Handled", "<lead-1@acme.test>").await.len(),
        1
    );
    host.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lead_workflow_sends_the_approved_edit_once_threaded_with_a_copy_in_sent() {
    let lab = MailLab::start().await;
    let LeadHost {
        setup: _setup,
        host,
        api,
        mut events,
    } = watching_lead_host(&lab).await;
    // The reviewer sees the draft as the model wrote it.
    let (run, mut arguments) = lead_draft(&api, &lab, &mut events, 1).await;
    assert_eq!(arguments["to"][0], "ann@acme.test");
    // A bad edit is refused before the run sees it.
    let bad = api
        .call(
            "runs_approve",
            json!({"run_id": run, "step": "approval/2.1", "arguments": {"to": "ann@acme.test"}}),
        )
        .await;
    assert!(bad.is_err(), "an edit the schema refuses must be refused");
    arguments["subject"] = json!("Re: Pricing question (Scheduler for 50)");
    call(
        &api,
        "runs_approve",
        json!({"run_id": run, "step": "approval/2.1", "arguments": arguments}),
    )
    .await;
    let view = api.wait_settled(run).await.expect("settles");
    assert_eq!(view.status.to_string(), "succeeded");

    let received = lab.received().await;
    assert_eq!(received.len(), 1, "exactly one email");
    let mail = &received[0];
    assert_eq!(mail.rcpt_tos, vec!["ann@acme.test".to_string()]);
    let text = String::from_utf8_lossy(&mail.raw);
    assert!(
        text.contains("Subject: Re: Pricing question (Scheduler for 50)"),
        "{text}"
    );
    assert!(text.contains("In-Reply-To: <lead-1@acme.test>"), "{text}");
    assert!(text.contains("References: <lead-1@acme.test>"), "{text}");
    assert!(
        mail.message_id.starts_with("<waymark."),
        "{}",
        mail.message_id
    );

    // The step records who changed what; the model was told.
    let tool = call(
        &api,
        "runs_get_step",
        json!({"run_id": run, "step": "tool/2.1"}),
    )
    .await;
    assert_eq!(
        tool["input"]["edit"]["changes"]["subject"]["to"],
        "Re: Pricing question (Scheduler for 50)"
    );
    assert_eq!(tool["input"]["message_id"], mail.message_id.as_str());
    let llm3 = call(
        &api,
        "runs_get_step",
        json!({"run_id": run, "step": "llm/3"}),
    )
    .await;
    assert!(
        llm3.to_string().contains("a person changed its arguments"),
        "the model is told about the edit"
    );
    // A copy in Sent, no longer marked pending.
    let sent = sent_copies(&lab, &mail.message_id).await;
    assert_eq!(sent.len(), 1, "one copy in Sent");
    assert!(!sent[0].iter().any(|f| f == "\\Draft"), "{sent:?}");
    host.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_outside_the_thread_is_refused_unless_the_spec_allows_it() {
    let lab = MailLab::start().await;
    let LeadHost {
        setup: _setup,
        host,
        api,
        mut events,
    } = watching_lead_host(&lab).await;
    // The reviewer sees the draft as the model wrote it.
    let (run, mut arguments) = lead_draft(&api, &lab, &mut events, 1).await;
    arguments["to"] = json!(["boss@elsewhere.test"]);
    // A reviewer's edit to someone outside the thread is refused at once, naming them; the
    // run still waits for a decision.
    let refused = api
        .call(
            "runs_approve",
            json!({"run_id": run, "step": "approval/2.1", "arguments": arguments}),
        )
        .await
        .expect_err("an edit outside the thread");
    assert!(
        refused.message.contains("boss@elsewhere.test")
            && refused.message.contains("ann@acme.test"),
        "{}",
        refused.message
    );
    call(
        &api,
        "runs_reject",
        json!({"run_id": run, "step": "approval/2.1", "reason": "not now"}),
    )
    .await;
    api.wait_settled(run).await.expect("settles");

    // A model that writes outside the thread by itself (no approval here) is refused at the
    // send, and told why.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = call(&api, "agents_get", json!({"name": "lead-reply"})).await["spec"].clone();
    let script_path = spec["model"]["script"]
        .as_str()
        .expect("a script")
        .to_string();
    let script = std::fs::read_to_string(&script_path).expect("the script");
    let outside = dir.path().join("outside.json");
    std::fs::write(
        &outside,
        script.replace("\"ann@acme.test\"", "\"boss@elsewhere.test\""),
    )
    .expect("script");
    spec["model"]["script"] = json!(outside);
    spec["email"]["send_without_approval"] = json!(true);
    call(&api, "agents_save", json!({"spec": spec})).await;
    lab.deliver("INBOX", &lead_email(3)).await;
    let run = started(&mut events, 1).await[0];
    api.wait_settled(run).await.expect("settles");
    let tool = call(
        &api,
        "runs_get_step",
        json!({"run_id": run, "step": "tool/2.1"}),
    )
    .await;
    let out = tool["output"].to_string();
    assert!(
        out.contains("boss@elsewhere.test") && out.contains("Nothing was sent"),
        "{out}"
    );
    assert!(lab.received().await.is_empty(), "nothing left");
    spec["model"]["script"] = json!(script_path);
    spec["email"]["send_without_approval"] = json!(false);
    call(&api, "agents_save", json!({"spec": spec})).await;

    // With the address on the spec's allowlist, the same edit goes out.
    let mut spec = call(&api, "agents_get", json!({"name": "lead-reply"})).await["spec"].clone();
    spec["email"]["allow_recipients"] = json!(["@elsewhere.test"]);
    call(&api, "agents_save", json!({"spec": spec})).await;
    lab.deliver("INBOX", &lead_email(2)).await;
    let run = started(&mut events, 1).await[0];
    wait_for_step(&api, run, "approval/2.1").await;
    call(
        &api,
        "runs_approve",
        json!({"run_id": run, "step": "approval/2.1", "arguments": arguments}),
    )
    .await;
    api.wait_settled(run).await.expect("settles");
    let received = lab.received().await;
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].rcpt_tos,
        vec!["boss@elsewhere.test".to_string()]
    );
    host.shutdown(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_idle_is_polled_at_the_triggers_interval() {
    let lab = MailLab::start_without_idle().await;
    let LeadHost {
        setup: _setup,
        host,
        api,
        mut events,
    } = lead_host(&lab, &lab.password).await;
    let mut spec = call(&api, "agents_get", json!({"name": "lead-reply"})).await["spec"].clone();
    spec["triggers"][0]["poll_secs"] = json!(5);
    call(&api, "agents_save", json!({"spec": spec})).await;
    host.email().expect("watcher").reload();
    checked(&mut events).await;
    let folder =
        call(&api, "mail_accounts_list", json!({})).await["accounts"][0]["folders"][0].clone();
    assert_eq!(folder["state"], "polling", "{folder}");
    lab.deliver("INBOX", &lead_email(1)).await;
    // Found at the next look, within the 5 s interval.
    assert_eq!(started(&mut events, 1).await.len(), 1);
    host.shutdown(Duration::from_secs(10)).await;
}
