//! What the email tests share: a host on a temporary database with triggers and a worker,
//! the lab's account, the lead-reply example, and waits on the watcher's events.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use waymark_agent::triggers::EmailEvent;
use waymark_api::{Api, EventFilter, RunId};
use waymark_host::{Host, HostOptions};

use super::lab::{self, MailLab};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .expect("the workspace root")
}

/// The demo tool server of this build (`cargo test --workspace` builds it first).
pub fn demo_tools_bin() -> PathBuf {
    let bin = workspace_root().join("target/debug/waymark-demo-tools");
    if !bin.exists() || std::env::var_os("WAYMARK_DEMO_TOOLS_BUILT").is_none() {
        let status = std::process::Command::new(env!("CARGO"))
            .args([
                "build",
                "-q",
                "-p",
                "waymark-demo-tools",
                "--bin",
                "waymark-demo-tools",
            ])
            .current_dir(workspace_root())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building waymark-demo-tools failed");
    }
    bin
}

pub struct Setup {
    _dir: tempfile::TempDir,
    pub db: PathBuf,
    pub data: PathBuf,
}

pub fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("waymark.db");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    Setup {
        _dir: dir,
        db,
        data,
    }
}

pub async fn start_host(s: &Setup) -> Host {
    let mut options = HostOptions::new(&s.db);
    options.data_dir = s.data.clone();
    options.worker = Some(Default::default());
    options.cron = true;
    // The file secret store: no keychain in tests.
    std::env::set_var("WAYMARK_SECRET_BACKEND", "file");
    Host::start(options).await.expect("host starts")
}

pub async fn call(api: &Api, command: &str, request: Value) -> Value {
    match api.call(command, request.clone()).await {
        Ok(v) => v,
        Err(e) => panic!("{command} {request}: {}", e.message),
    }
}

/// A host running triggers, with the lab's account (signing in with `password`) and the
/// lead-reply agent; its email events subscribed before the watcher looks at the folder.
pub struct LeadHost {
    pub setup: Setup,
    pub host: Host,
    pub api: Api,
    pub events: tokio::sync::broadcast::Receiver<EmailEvent>,
}

pub async fn lead_host(lab: &MailLab, password: &str) -> LeadHost {
    let setup = setup();
    let host = start_host(&setup).await;
    let api = host.api().clone();
    add_account(&api, lab, password).await;
    let events = host
        .email()
        .expect("the host runs email triggers")
        .subscribe();
    add_lead_agent(&api, "").await;
    host.email().expect("the host runs email triggers").reload();
    LeadHost {
        setup,
        host,
        api,
        events,
    }
}

/// [`lead_host`] once its watcher has read the inbox (so a delivery from now on is new mail).
pub async fn watching_lead_host(lab: &MailLab) -> LeadHost {
    let mut lead = lead_host(lab, &lab.password).await;
    checked(&mut lead.events).await;
    lead
}

/// Delivers lead email `n` and waits until its run asks for approval of the drafted email:
/// the run and the draft's arguments.
pub async fn lead_draft(
    api: &Api,
    lab: &MailLab,
    events: &mut tokio::sync::broadcast::Receiver<EmailEvent>,
    n: usize,
) -> (RunId, Value) {
    lab.deliver("INBOX", &lead_email(n)).await;
    let run = started(events, 1).await[0];
    wait_for_step(api, run, "approval/2.1").await;
    let step = call(
        api,
        "runs_get_step",
        json!({"run_id": run, "step": "approval/2.1"}),
    )
    .await;
    assert_eq!(step["call"]["tool"], "send_email", "{step}");
    (run, step["call"]["arguments"].clone())
}

pub async fn add_account(api: &Api, lab: &MailLab, password: &str) {
    call(
        api,
        "mail_account_save",
        json!({
            "account": {
                "name": "sales",
                "address": lab.address,
                "display_name": "Sales",
                "imap": {"host": "127.0.0.1", "port": lab.imap_port, "security": "plain", "user": lab.user},
                "smtp": {"host": "127.0.0.1", "port": lab.smtp_port, "security": "plain", "user": lab.user},
                "auth": {"kind": "password", "secret_ref": ""}
            },
            "password": password,
        }),
    )
    .await;
}

/// The lead-reply example, with its script and the demo tools of this build.
pub async fn add_lead_agent(api: &Api, extra: &str) {
    call(
        api,
        "mcp_add",
        json!({"name": "demo-tools", "command": demo_tools_bin().to_string_lossy()}),
    )
    .await;
    let dir = workspace_root().join("examples/lead-reply");
    let text = std::fs::read_to_string(dir.join("lead-reply.toml")).expect("the example");
    call(
        api,
        "agents_import",
        json!({
            "text": format!("{text}\n{extra}"),
            "format": "toml",
            "file_name": "lead-reply.toml",
            "base_dir": dir.to_string_lossy(),
        }),
    )
    .await;
}

pub fn lead_email(n: usize) -> Vec<u8> {
    lab::email(
        "Ann Buyer <ann@acme.test>",
        "lead@example.test",
        "Pricing question",
        &format!("<lead-{n}@acme.test>"),
        "Hello, what does the Scheduler cost for 50 people?",
    )
}

/// Waits for `n` runs started by the email trigger; their ids.
pub async fn started(
    events: &mut tokio::sync::broadcast::Receiver<EmailEvent>,
    n: usize,
) -> Vec<RunId> {
    let mut runs = Vec::new();
    while runs.len() < n {
        match tokio::time::timeout(Duration::from_secs(60), events.recv()).await {
            Ok(Ok(EmailEvent::Started { run, .. })) => runs.push(run.into()),
            Ok(Ok(EmailEvent::Failed { error, .. })) => eprintln!("email trigger: {error}"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("email events: {e}"),
            Err(_) => panic!("only {} of {n} runs started within a minute", runs.len()),
        }
    }
    runs
}

/// Waits for the next time the watcher has read the folder to its end.
pub async fn checked(events: &mut tokio::sync::broadcast::Receiver<EmailEvent>) {
    loop {
        match tokio::time::timeout(Duration::from_secs(60), events.recv()).await {
            Ok(Ok(EmailEvent::Checked { .. })) => return,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("email events: {e}"),
            Err(_) => panic!("the folder was not read within a minute"),
        }
    }
}

/// Waits until `run` has a step `key` waiting (an approval).
pub async fn wait_for_step(api: &Api, run: RunId, key: &str) {
    let mut stream = api
        .subscribe(EventFilter::of(Some(run)), 0)
        .await
        .expect("subscribe");
    loop {
        let event = tokio::time::timeout(Duration::from_secs(60), stream.next())
            .await
            .unwrap_or_else(|_| panic!("run {run} never reached {key}"))
            .expect("event");
        if event.step.as_ref().is_some_and(|s| s.key.as_str() == key) {
            return;
        }
    }
}

/// The flags of each copy of `message_id` in the lab's Sent folder.
pub async fn sent_copies(lab: &MailLab, message_id: &str) -> Vec<Vec<String>> {
    copies_in(lab, "Sent", message_id).await
}

/// The flags of each copy of `message_id` in the lab's `folder`.
pub async fn copies_in(lab: &MailLab, folder: &str, message_id: &str) -> Vec<Vec<String>> {
    let settings = waymark_mail::ImapSettings {
        host: "127.0.0.1".into(),
        port: lab.imap_port,
        security: waymark_mail::Security::Plain,
        user: lab.user.clone(),
    };
    let credential = waymark_mail::Credential::Password(lab.password.clone());
    let mut imap =
        waymark_mail::ImapSession::connect(&settings, &credential, Duration::from_secs(20))
            .await
            .expect("IMAP");
    let found = imap
        .find_message_id(folder, message_id)
        .await
        .expect("search the folder");
    imap.logout().await;
    found.into_iter().map(|f| f.flags).collect()
}

pub async fn runs_of(api: &Api) -> Vec<Value> {
    call(api, "runs_list", json!({"agent": "lead-reply"})).await["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}
