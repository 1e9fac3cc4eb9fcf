//! waymark-mail against real servers: the mail lab's Dovecot (IMAP, IDLE) and aiosmtpd.

#[path = "../../../tests/mail/lab.rs"]
mod lab;
// In this binary too: one link for the mail tests.
#[path = "imap_smtp/smtp_script.rs"]
mod smtp_script;

use std::time::{Duration, Instant};

use lab::{email, MailLab};
use waymark_mail::{
    parse_message, smtp_send, test_imap, test_smtp, Address, Credential, IdleOutcome, ImapSession,
    ImapSettings, MailError, MessageLimits, OutgoingEmail, Security, SendError, SmtpSettings,
};

const T: Duration = Duration::from_secs(20);

fn imap(lab: &MailLab) -> ImapSettings {
    ImapSettings {
        host: "127.0.0.1".into(),
        port: lab.imap_port,
        security: Security::Plain,
        user: lab.user.clone(),
    }
}

fn smtp(lab: &MailLab) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port: lab.smtp_port,
        security: Security::Plain,
        user: lab.user.clone(),
    }
}

fn password(lab: &MailLab) -> Credential {
    Credential::Password(lab.password.clone())
}

async fn login(lab: &MailLab) -> ImapSession {
    ImapSession::connect(&imap(lab), &password(lab), T)
        .await
        .expect("login")
}

fn note(n: u32) -> Vec<u8> {
    email(
        "ann@example.com",
        "lead@example.test",
        &format!("note {n}"),
        &format!("<note-{n}@example.com>"),
        &format!("body of note {n}"),
    )
}

#[tokio::test]
async fn imap_login_and_wrong_password() {
    let lab = MailLab::start().await;
    let session = login(&lab).await;
    assert!(session.supports_idle(), "{:?}", session.capabilities());
    session.logout().await;

    let probe = test_imap(&imap(&lab), &password(&lab), T)
        .await
        .expect("probe");
    assert!(probe.idle);
    for folder in ["INBOX", "Sent", "Handled"] {
        assert!(probe.folders.iter().any(|f| f == folder), "{probe:?}");
    }

    // Last: Dovecot delays further logins from an address after a failed one.
    let started = Instant::now();
    let err = ImapSession::connect(&imap(&lab), &Credential::Password("wrong".into()), T)
        .await
        .err()
        .expect("wrong password fails");
    assert!(matches!(err, MailError::Auth { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(err.kind(), "auth");
    assert!(!err.to_string().contains("wrong"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn imap_select_fetch_flags_and_move() {
    let lab = MailLab::start().await;
    let mut s = login(&lab).await;
    let first = s.select("INBOX").await.expect("select");
    assert_eq!(first.exists, 0);
    let again = s.select("INBOX").await.expect("select again");
    assert_eq!(first.uid_validity, again.uid_validity);

    let err = s.select("Nope").await.expect_err("unknown folder");
    assert!(
        matches!(err, MailError::NoSuchFolder { ref folder } if folder == "Nope"),
        "{err:?}"
    );

    let mut delivered = Vec::new();
    for n in 1..=3 {
        delivered.push(lab.deliver("INBOX", &note(n)).await);
    }
    s.select("INBOX").await.expect("select");
    let uids = s.uids_after(0).await.expect("uids");
    assert_eq!(uids, delivered);
    assert!(uids.windows(2).all(|w| w[0] < w[1]));
    let last = *uids.last().expect("three");
    assert_eq!(
        s.uids_after(last).await.expect("none after"),
        Vec::<u32>::new()
    );
    assert_eq!(
        s.uids_after(u32::MAX).await.expect("max"),
        Vec::<u32>::new()
    );

    // Fetching reads the message without marking it read.
    let fetched = s
        .fetch(uids[0], 1 << 20)
        .await
        .expect("fetch")
        .expect("exists");
    assert!(!fetched.seen);
    let raw = fetched.raw.expect("within limit");
    let parsed = parse_message(&raw, &MessageLimits::default()).expect("parse");
    assert_eq!(parsed.subject, "note 1");
    let again = s
        .fetch(uids[0], 1 << 20)
        .await
        .expect("fetch")
        .expect("exists");
    assert!(!again.seen, "{:?}", again.flags);

    let big = s.fetch(uids[1], 10).await.expect("fetch").expect("exists");
    assert!(big.raw.is_none());
    assert!(big.size > 10);
    assert!(s.fetch(9999, 1 << 20).await.expect("fetch").is_none());

    s.mark_seen(uids[0]).await.expect("seen");
    let seen = s
        .fetch(uids[0], 1 << 20)
        .await
        .expect("fetch")
        .expect("exists");
    assert!(seen.seen, "{:?}", seen.flags);

    s.set_flags(uids[2], &["\\Flagged", "$Waymark"], &[])
        .await
        .expect("flags");
    s.set_flags(uids[2], &[], &["\\Flagged"])
        .await
        .expect("unflag");
    let flagged = s
        .fetch(uids[2], 1 << 20)
        .await
        .expect("fetch")
        .expect("exists");
    assert!(
        flagged.flags.iter().any(|f| f == "$Waymark"),
        "{:?}",
        flagged.flags
    );
    assert!(
        !flagged.flags.iter().any(|f| f == "\\Flagged"),
        "{:?}",
        flagged.flags
    );
    assert!(s.set_flags(uids[2], &["bad flag"], &[]).await.is_err());

    s.move_to(uids[0], "Handled").await.expect("move");
    assert_eq!(s.uids_after(0).await.expect("uids"), uids[1..].to_vec());
    let err = s.move_to(uids[1], "Missing").await.expect_err("no folder");
    assert!(matches!(err, MailError::NoSuchFolder { .. }), "{err:?}");
    let handled = s.select("Handled").await.expect("handled");
    assert_eq!(handled.exists, 1);

    s.select("INBOX").await.expect("inbox");
    s.delete(uids[1]).await.expect("delete");
    assert_eq!(s.uids_after(0).await.expect("uids"), vec![uids[2]]);
    s.logout().await;
}

#[tokio::test]
async fn imap_append_and_find_by_message_id() {
    let lab = MailLab::start().await;
    let mut s = login(&lab).await;
    let raw = email(
        "lead@example.test",
        "ann@example.com",
        "Re: hello",
        "<sent-1.waymark@example.test>",
        "reply",
    );
    s.append("Sent", &["\\Seen"], &raw).await.expect("append");
    let found = s
        .find_message_id("Sent", "<sent-1.waymark@example.test>")
        .await
        .expect("search");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].flags.iter().any(|f| f == "\\Seen"), "{found:?}");
    let unknown = s
        .find_message_id("Sent", "<nothing-like-it@example.test>")
        .await
        .expect("search");
    assert!(unknown.is_empty());
    let err = s
        .find_message_id("Sent", "x\" OR ALL")
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), "invalid");
    // The session is still fine after a refused argument.
    assert_eq!(
        s.find_message_id("Sent", "sent-1.waymark@example.test")
            .await
            .expect("bare")
            .len(),
        1
    );

    let err = s.append("Missing", &[], &raw).await.expect_err("no folder");
    assert!(matches!(err, MailError::NoSuchFolder { .. }), "{err:?}");
    s.logout().await;
}

#[tokio::test]
async fn imap_idle_sees_a_delivery_and_stops_on_request() {
    let lab = MailLab::start().await;
    let mut s = login(&lab).await;
    s.select("INBOX").await.expect("select");
    assert!(s.uids_after(0).await.expect("uids").is_empty());

    let started = Instant::now();
    let message = note(1);
    let (idled, uid) = tokio::join!(
        s.idle(Duration::from_secs(60), std::future::pending()),
        lab.deliver("INBOX", &message),
    );
    let (mut s, outcome) = idled.expect("idle");
    assert_eq!(outcome, IdleOutcome::NewData);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(s.uids_after(0).await.expect("uids"), vec![uid]);

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let stop = async move {
        let _ = stop_rx.await;
    };
    let (idled, ()) = tokio::join!(s.idle(Duration::from_secs(60), stop), async move {
        let _ = stop_tx.send(());
    });
    let (mut s, outcome) = idled.expect("idle");
    assert_eq!(outcome, IdleOutcome::Stopped);
    // Usable after DONE.
    s.select("INBOX").await.expect("select after idle");

    let (mut s, outcome) = s
        .idle(Duration::from_millis(300), std::future::pending())
        .await
        .expect("idle");
    assert_eq!(outcome, IdleOutcome::Timeout);
    assert_eq!(s.uids_after(uid).await.expect("uids"), Vec::<u32>::new());
    s.logout().await;
}

#[tokio::test]
async fn imap_down_is_a_retryable_connect_error() {
    let lab = MailLab::start().await;
    lab.imap_stop().await;
    let err = ImapSession::connect(&imap(&lab), &password(&lab), T)
        .await
        .err()
        .expect("down");
    assert!(matches!(err, MailError::Connect { .. }), "{err:?}");
    assert!(err.is_retryable());
    lab.imap_start().await;
    login(&lab).await.logout().await;

    // TLS spoken to a plain server fails as TLS, not as a hang.
    let mut tls = imap(&lab);
    tls.security = Security::Tls;
    let err = ImapSession::connect(&tls, &password(&lab), Duration::from_secs(5))
        .await
        .err()
        .expect("tls to plain");
    assert!(matches!(err, MailError::Tls { .. }), "{err:?}");
}

fn reply(lab: &MailLab, to: &str) -> OutgoingEmail {
    OutgoingEmail {
        from: Address {
            name: Some("Waymark".into()),
            email: lab.address.clone(),
        },
        to: vec![Address {
            name: None,
            email: to.into(),
        }],
        cc: Vec::new(),
        subject: "Re: hello".into(),
        body: "Answer.".into(),
        message_id: "<r-1.waymark@example.test>".into(),
        in_reply_to: Some("<q-1@example.com>".into()),
        references: vec!["<q-0@example.com>".into(), "<q-1@example.com>".into()],
    }
}

fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
}

#[tokio::test]
async fn smtp_sends_and_tells_failures_apart() {
    let lab = MailLab::start().await;
    // AUTH over a plain loopback connection: lettre sends it when the server offers it.
    // (A 535 is tested against a scripted server in smtp_script.rs, and against the lab
    // through the CLI's `mail account test`.)
    test_smtp(&smtp(&lab), &password(&lab), T)
        .await
        .expect("test_smtp");

    let email = reply(&lab, "ann@example.com");
    let raw = email.to_bytes(now()).expect("bytes");
    smtp_send(
        &smtp(&lab),
        &password(&lab),
        &lab.address,
        &email.recipients(),
        &raw,
        T,
    )
    .await
    .expect("sent");
    let received = lab.received().await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].mail_from, lab.address);
    assert_eq!(received[0].rcpt_tos, vec!["ann@example.com"]);
    assert_eq!(received[0].message_id, "<r-1.waymark@example.test>");
    let parsed = parse_message(&received[0].raw, &MessageLimits::default()).expect("parse");
    assert_eq!(parsed.in_reply_to, vec!["<q-1@example.com>"]);
    assert_eq!(
        parsed.references,
        vec!["<q-0@example.com>", "<q-1@example.com>"]
    );
    assert_eq!(parsed.text.trim(), "Answer.");

    lab.smtp_refuse(Some("blocked")).await;
    let email = reply(&lab, "blocked@example.com");
    let raw = email.to_bytes(now()).expect("bytes");
    let err = smtp_send(
        &smtp(&lab),
        &password(&lab),
        &lab.address,
        &email.recipients(),
        &raw,
        T,
    )
    .await
    .expect_err("refused");
    match &err {
        SendError::RecipientRefused { recipient, reply } => {
            assert_eq!(recipient, "blocked@example.com");
            assert!(reply.contains("550"), "{reply}");
        }
        other => panic!("expected RecipientRefused, got {other:?}"),
    }
    assert!(!err.is_retryable());
    assert_eq!(lab.received().await.len(), 1, "nothing more was accepted");

    lab.smtp_refuse(None).await;
}

#[tokio::test]
async fn smtp_down_is_unreachable_and_retryable() {
    let lab = MailLab::start().await;
    lab.smtp_stop().await;
    let email = reply(&lab, "ann@example.com");
    let raw = email.to_bytes(now()).expect("bytes");
    let err = smtp_send(
        &smtp(&lab),
        &password(&lab),
        &lab.address,
        &email.recipients(),
        &raw,
        T,
    )
    .await
    .expect_err("down");
    assert!(matches!(err, SendError::Unreachable { .. }), "{err:?}");
    assert!(err.is_retryable());
    let err = test_smtp(&smtp(&lab), &password(&lab), T)
        .await
        .expect_err("down");
    assert!(err.is_retryable(), "{err:?}");
    lab.smtp_start().await;
    smtp_send(
        &smtp(&lab),
        &password(&lab),
        &lab.address,
        &email.recipients(),
        &raw,
        T,
    )
    .await
    .expect("sent after restart");
}
