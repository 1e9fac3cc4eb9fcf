//! `kill -9` of `waymark serve` at random moments around `send_email`, over 20 lead emails:
//! no email reaches the SMTP server twice, every interrupted send waits in needs_attention
//! with its Message-ID, and settling it by looking in Sent (`runs_settle_send`) finishes the
//! run. A real Dovecot and a real SMTP server; a real SIGKILL.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use super::lab::{self, MailLab};
use super::support::{call, start, Server, BIN};
use rand::Rng as _;
use serde_json::{json, Value};

const RUNS: usize = 20;

fn lead_email(n: usize) -> Vec<u8> {
    lab::email(
        "Ann Buyer <ann@acme.test>",
        "lead@example.test",
        "Pricing question",
        &format!("<crash-{n}@acme.test>"),
        "Hello, what does it cost?",
    )
}

async fn ok(base: &str, command: &str, body: Value) -> Value {
    let (status, got) = call(base, command, body.clone()).await;
    assert_eq!(status, 200, "{command} {body}: {got}");
    got
}

/// Polls (the state lives in another process) until `check` holds; its value.
async fn until<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..3000 {
        if let Some(v) = check().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{what} did not happen within a minute");
}

async fn setup(base: &str, lab: &MailLab) {
    ok(
        base,
        "mail_account_save",
        json!({
            "account": {
                "name": "sales", "address": lab.address,
                "imap": {"host": "127.0.0.1", "port": lab.imap_port, "security": "plain", "user": lab.user},
                "smtp": {"host": "127.0.0.1", "port": lab.smtp_port, "security": "plain", "user": lab.user},
                "auth": {"kind": "password", "secret_ref": ""}
            },
            "password": lab.password,
        }),
    )
    .await;
    ok(
        base,
        "mcp_add",
        json!({"name": "demo-tools", "command": BIN, "args": ["demo-tools"]}),
    )
    .await;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/lead-reply");
    let text = std::fs::read_to_string(dir.join("lead-reply.toml")).expect("the example");
    ok(
        base,
        "agents_import",
        json!({"text": text, "format": "toml", "file_name": "lead-reply.toml",
               "base_dir": dir.canonicalize().expect("dir").to_string_lossy()}),
    )
    .await;
}

async fn email_trigger_state(base: &str) -> String {
    let (_, got) = call(base, "triggers_list", json!({})).await;
    got["triggers"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["kind"] == "email"))
        .and_then(|t| t["state"].as_str())
        .unwrap_or_default()
        .to_string()
}

async fn run_of(base: &str, n: usize) -> String {
    let needle = format!("crash-{n}@acme.test");
    until("the email's run", async || {
        let (_, got) = call(base, "runs_list", json!({"search": needle})).await;
        got["runs"][0]["id"].as_str().map(str::to_string)
    })
    .await
}

async fn status(base: &str, run: &str) -> String {
    let (_, got) = call(base, "runs_get", json!({"run_id": run})).await;
    got["run"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_around_the_send_never_sends_twice_and_sent_settles_every_run() {
    let lab = MailLab::start().await;
    let home = tempfile::tempdir().expect("tempdir");
    let home = home.path().join("home");
    let mut server: Server = start(&home);
    setup(&server.base, &lab).await;
    let base = server.base.clone();
    until("the email trigger to connect", async || {
        (email_trigger_state(&base).await == "idle").then_some(())
    })
    .await;
    let mut rng = rand::rng();
    // The kill lands uniformly within this many microseconds of the approval; it follows the
    // machine's speed: shorter after a run the kill missed (it had finished), longer after one
    // killed before it sent anything, so the kills cluster around the SMTP transaction.
    let mut window_us: f64 = 30_000.0;
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    let mut runs = Vec::new();
    for n in 0..RUNS {
        lab.deliver("INBOX", &lead_email(n)).await;
        let base = server.base.clone();
        let run = run_of(&base, n).await;
        until("the approval wait", async || {
            let (code, _) = call(
                &base,
                "runs_get_step",
                json!({"run_id": run, "step": "approval/2.1"}),
            )
            .await;
            (code == 200).then_some(())
        })
        .await;
        ok(
            &base,
            "runs_approve",
            json!({"run_id": run, "step": "approval/2.1"}),
        )
        .await;
        // A random moment around the send: before, during or after the SMTP transaction.
        let delay = rng.random_range(0..window_us as u64);
        tokio::time::sleep(Duration::from_micros(delay)).await;
        let _ = server.child.kill();
        let _ = server.child.wait();
        server = start(&home);
        let base = server.base.clone();
        let settled = until("the run to settle", async || {
            let s = status(&base, &run).await;
            matches!(s.as_str(), "succeeded" | "needs_attention" | "failed").then_some(s)
        })
        .await;
        let outcome = if settled == "needs_attention" {
            let got = ok(
                &base,
                "runs_settle_send",
                json!({"run_id": run, "step": "tool/2.1"}),
            )
            .await;
            let message_id = got["message_id"].as_str().unwrap_or_default().to_string();
            assert!(message_id.starts_with("<waymark."), "{got}");
            let outcome = got["outcome"].as_str().unwrap_or_default().to_string();
            if outcome == "in_doubt" {
                // What a person does: ask the recipient, then mark it done or send it.
                let at_recipient = lab
                    .received()
                    .await
                    .iter()
                    .filter(|m| m.message_id == message_id)
                    .count();
                eprintln!("in doubt: {message_id} received {at_recipient} time(s)");
                let resolution = if at_recipient == 1 {
                    json!({"resolution": "done", "output": {"content": "sent", "is_error": false}})
                } else {
                    json!({"resolution": "retry"})
                };
                ok(
                    &base,
                    "runs_resolve",
                    json!({"run_id": run, "step": "tool/2.1", "resolution": resolution}),
                )
                .await;
            }
            outcome
        } else {
            settled
        };
        window_us = match outcome.as_str() {
            "succeeded" => (window_us * 0.8).max(1_000.0),
            "not_sent" => (window_us * 1.25).min(500_000.0),
            _ => window_us,
        };
        *outcomes.entry(outcome).or_default() += 1;
        until("the run to succeed", async || {
            (status(&base, &run).await == "succeeded").then_some(())
        })
        .await;
        runs.push(run);
    }
    eprintln!("outcomes over {RUNS} runs: {outcomes:?}");
    let received = lab.received().await;
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for m in &received {
        *per_id.entry(m.message_id.as_str()).or_default() += 1;
    }
    let twice: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent twice: {twice:?}");
    assert_eq!(per_id.len(), RUNS, "one email per run: {outcomes:?}");
    assert_eq!(outcomes.get("failed"), None, "{outcomes:?}");
    let interrupted = RUNS - outcomes.get("succeeded").copied().unwrap_or(0);
    assert!(
        interrupted >= RUNS / 4,
        "too few kills landed during a send to test anything: {outcomes:?}"
    );
}
