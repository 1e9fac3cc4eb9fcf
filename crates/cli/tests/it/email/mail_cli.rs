//! `waymark mail account add|list|test|rm` and `waymark triggers list|status` through the whole
//! binary, against the real mail lab: the password goes in on stdin and never comes out.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use super::lab;

const BIN: &str = env!("CARGO_BIN_EXE_waymark");

fn waymark(home: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env("WAYMARK_HOME", home)
        .env("WAYMARK_SECRET_BACKEND", "file")
        .env_remove("WAYMARK_DB")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("waymark runs");
    if let Some(mut input) = child.stdin.take() {
        let _ = input.write_all(stdin.as_bytes());
    }
    child.wait_with_output().expect("waymark ends")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_accounts_and_triggers_from_the_command_line() {
    let lab = lab::MailLab::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path();
    let (imap_port, smtp_port) = (lab.imap_port.to_string(), lab.smtp_port.to_string());
    let add = |password: &str| {
        waymark(
            home,
            &[
                "mail",
                "account",
                "add",
                "sales",
                "--address",
                &lab.address,
                "--imap-host",
                "127.0.0.1",
                "--imap-port",
                &imap_port,
                "--imap-security",
                "plain",
                "--smtp-host",
                "127.0.0.1",
                "--smtp-port",
                &smtp_port,
                "--smtp-security",
                "plain",
                "--user",
                &lab.user,
            ],
            password,
        )
    };
    // No password: refused with what to do.
    let out = add("");
    assert!(!out.status.success());
    assert!(text(&out).contains("--password-env"), "{}", text(&out));
    let out = add(&format!("{}\n", lab.password));
    assert!(out.status.success(), "{}", text(&out));

    let out = waymark(home, &["mail", "account", "list"], "");
    let listed = text(&out);
    assert!(
        listed.contains("sales") && listed.contains("password: stored"),
        "{listed}"
    );
    assert!(!listed.contains(&lab.password));

    let out = waymark(home, &["mail", "account", "test", "sales"], "");
    let tested = text(&out);
    assert!(out.status.success(), "{tested}");
    assert!(tested.contains("imap: ok (IDLE"), "{tested}");
    assert!(tested.contains("smtp: ok"), "{tested}");

    // A wrong password: the test fails, saying so, and prints no password.
    let out = waymark(
        home,
        &[
            "mail",
            "account",
            "add",
            "sales",
            "--address",
            &lab.address,
            "--imap-host",
            "127.0.0.1",
            "--imap-port",
            &imap_port,
            "--imap-security",
            "plain",
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            &smtp_port,
            "--smtp-security",
            "plain",
            "--user",
            &lab.user,
        ],
        "wrong-password-123\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = waymark(home, &["mail", "account", "test", "sales"], "");
    assert!(!out.status.success());
    let failed = text(&out);
    assert!(failed.contains("imap: failed"), "{failed}");
    assert!(!failed.contains("wrong-password-123"), "{failed}");

    // An agent with an email trigger is listed; `status` says no trigger runs in this process
    // and nothing else has reported on it.
    let spec = home.join("inbox.toml");
    std::fs::write(
        &spec,
        "name = \"inbox\"\ninstructions = \"Read.\"\n[model]\nprovider = \"scripted\"\nscript = \"s.json\"\n\n[[triggers]]\nkind = \"email\"\naccount = \"sales\"\n",
    )
    .expect("spec");
    std::fs::write(home.join("s.json"), r#"{"turns": [{"text": "ok"}]}"#).expect("script");
    let out = waymark(
        home,
        &["agents", "add", spec.to_str().unwrap_or_default()],
        "",
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = waymark(home, &["triggers", "list"], "");
    assert!(
        text(&out).contains("inbox  email  sales/INBOX"),
        "{}",
        text(&out)
    );
    let out = waymark(home, &["triggers", "status"], "");
    assert!(text(&out).contains("not_running"), "{}", text(&out));

    let out = waymark(home, &["mail", "account", "rm", "sales"], "");
    assert!(out.status.success(), "{}", text(&out));
    let out = waymark(home, &["mail", "account", "rm", "sales"], "");
    assert!(!out.status.success());
    assert!(text(&out).contains("no mail account"), "{}", text(&out));
}
