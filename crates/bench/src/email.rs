//! The email trigger's delivery-to-run latency against the real mail lab (Dovecot with IDLE):
//! from the moment a message is appended to the watched folder until its run is started.
//! Written to `target/bench/email.json`.

#[path = "../../../tests/mail/lab.rs"]
mod lab;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::json;
use waymark_agent::app::AgentApp;
use waymark_agent::catalog::mail::PasswordSource;
use waymark_agent::triggers::{EmailEvent, EmailWatchOptions, EmailWatcher};
use waymark_agent::{AgentSpec, Secret};
use waymark_engine::Registry;
use waymark_mail::{
    Credential, ImapSession, ImapSettings, MailAccount, MailAuth, Security, SmtpSettings,
};

use crate::{median, round1, runtime};

const DELIVERIES: usize = 21;

/// Measures and writes `email.json`.
pub(crate) fn email_bench(scratch: &Path, out_dir: &Path) -> Result<()> {
    let rt = runtime()?;
    let (latency, baseline) = rt.block_on(latency_ms(scratch))?;
    println!("email_trigger_latency_ms {latency:>8.1}   (median of {DELIVERIES} deliveries, IDLE)");
    println!(
        "email_idle_baseline_ms   {baseline:>8.1}   (a bare IDLE session told of the same APPENDs: the server's own delay)"
    );
    println!(
        "email trigger / bare IDLE: {:.2}x (+{:.1} ms for the watcher, the parse and the run's start)",
        latency / baseline.max(0.1),
        latency - baseline
    );
    let out = out_dir.join("email.json");
    let figures = json!({"email_trigger_latency_ms": latency, "email_idle_baseline_ms": baseline});
    std::fs::write(&out, format!("{figures}\n"))
        .with_context(|| format!("cannot write {}", out.display()))?;
    println!("wrote {}", out.display());
    Ok(())
}

/// The trigger's latency, and a bare IDLE client's on the same server (the baseline).
async fn latency_ms(scratch: &Path) -> Result<(f64, f64)> {
    std::fs::create_dir_all(scratch)?;
    let lab = lab::MailLab::start().await;
    std::env::set_var("WAYMARK_SECRET_BACKEND", "file");
    let app = AgentApp::open(&scratch.join("waymark.db"), scratch, Registry::new())?;
    let imap = ImapSettings {
        host: "127.0.0.1".into(),
        port: lab.imap_port,
        security: Security::Plain,
        user: lab.user.clone(),
    };
    app.catalog.save_mail_account(
        MailAccount {
            name: "bench".into(),
            address: lab.address.clone(),
            display_name: None,
            imap: imap.clone(),
            smtp: SmtpSettings {
                host: "127.0.0.1".into(),
                port: lab.smtp_port,
                security: Security::Plain,
                user: lab.user.clone(),
            },
            auth: MailAuth::Password {
                secret_ref: String::new(),
            },
        },
        PasswordSource::Value(Secret::new(lab.password.clone())),
    )?;
    let script = scratch.join("script.json");
    std::fs::write(&script, r#"{"turns": [{"text": "Noted."}]}"#)?;
    let spec = AgentSpec::from_json_str(
        &json!({
            "name": "inbox", "instructions": "Note each email.",
            "model": {"provider": "scripted", "script": script},
            "triggers": [{"kind": "email", "account": "bench", "poll_secs": 3600}]
        })
        .to_string(),
    )?;
    app.catalog.put_agent(&spec)?;
    let credential = Credential::Password(lab.password.clone());
    let mut sender = ImapSession::connect(&imap, &credential, Duration::from_secs(20)).await?;
    let baseline = idle_baseline_ms(&imap, &credential, &mut sender).await?;
    let watcher = EmailWatcher::spawn(app.clone(), EmailWatchOptions::default());
    let mut events = watcher.subscribe();
    // Ready when the folder has been read once and the watcher sits in IDLE.
    wait(&mut events, |e| matches!(e, EmailEvent::Checked { .. })).await?;
    // The deliveries go over one session of our own, so each costs one APPEND.
    let mut samples = Vec::new();
    for n in 0..DELIVERIES {
        let raw = lab::email(
            "Ann <ann@acme.test>",
            "lead@example.test",
            "Latency",
            &format!("<bench-{n}@acme.test>"),
            "hello",
        );
        let t0 = Instant::now();
        sender.append("INBOX", &[], &raw).await?;
        wait(&mut events, |e| matches!(e, EmailEvent::Started { .. })).await?;
        samples.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    sender.logout().await;
    watcher.stop().await;
    if samples.is_empty() {
        bail!("no deliveries measured");
    }
    Ok((round1(median(samples)), baseline))
}

/// The same deliveries told to a plain IDLE session: what the server itself takes.
async fn idle_baseline_ms(
    imap: &ImapSettings,
    credential: &Credential,
    sender: &mut ImapSession,
) -> Result<f64> {
    let mut watcher = ImapSession::connect(imap, credential, Duration::from_secs(20)).await?;
    watcher.select("INBOX").await?;
    let mut samples = Vec::new();
    for n in 0..DELIVERIES {
        let raw = lab::email(
            "Ann <ann@acme.test>",
            "lead@example.test",
            "Baseline",
            &format!("<baseline-{n}@acme.test>"),
            "hello",
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let idle = tokio::spawn(async move {
            let out = watcher
                .idle(Duration::from_secs(60), async {
                    let _ = rx.await;
                })
                .await;
            out
        });
        // IDLE is entered before the APPEND: the first EXISTS after it is this message's.
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t0 = Instant::now();
        sender.append("INBOX", &[], &raw).await?;
        let (session, outcome) = idle.await??;
        samples.push(t0.elapsed().as_secs_f64() * 1000.0);
        drop(tx);
        if outcome != waymark_mail::IdleOutcome::NewData {
            bail!("the bare IDLE session was not told of the delivery ({outcome:?})");
        }
        watcher = session;
    }
    watcher.logout().await;
    Ok(round1(median(samples)))
}

async fn wait(
    events: &mut tokio::sync::broadcast::Receiver<EmailEvent>,
    want: impl Fn(&EmailEvent) -> bool,
) -> Result<()> {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(60), events.recv())
            .await
            .map_err(|_| anyhow!("the email trigger did not answer within a minute"))??;
        if let EmailEvent::Failed { error, .. } = &event {
            println!("email trigger: {error}");
        }
        if want(&event) {
            return Ok(());
        }
    }
}
