use super::*;
use crate::message::{parse_message, MessageLimits};

fn outgoing() -> OutgoingEmail {
    OutgoingEmail {
        from: Address {
            name: Some("Waymark Agent".into()),
            email: "agent@example.com".into(),
        },
        to: vec![Address {
            name: None,
            email: "ann@example.com".into(),
        }],
        cc: vec![Address {
            name: Some("Bob Émile".into()),
            email: "bob@example.org".into(),
        }],
        subject: "Re: Quarterly numbers".into(),
        body: "Thanks, here they are.\nLine two.\n".into(),
        message_id: "<r1.waymark@example.com>".into(),
        in_reply_to: Some("<m1@example.com>".into()),
        references: vec!["<root@example.com>".into(), "<m1@example.com>".into()],
    }
}

fn date() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2025-12-01T10:00:00Z")
        .expect("date")
        .with_timezone(&chrono::Utc)
}

#[test]
fn bytes_carry_our_ids_and_parse_back() {
    let raw = outgoing().to_bytes(date()).expect("bytes");
    let text = String::from_utf8(raw.clone()).expect("ascii");
    assert!(
        text.contains("Message-ID: <r1.waymark@example.com>\r\n"),
        "{text}"
    );
    assert!(text.contains("In-Reply-To: <m1@example.com>\r\n"), "{text}");
    assert!(
        text.contains("Date: Mon, 01 Dec 2025 10:00:00 +0000\r\n"),
        "{text}"
    );
    let back = parse_message(&raw, &MessageLimits::default()).expect("parses");
    assert_eq!(back.message_id.as_deref(), Some("<r1.waymark@example.com>"));
    assert_eq!(back.in_reply_to, vec!["<m1@example.com>"]);
    assert_eq!(
        back.references,
        vec!["<root@example.com>", "<m1@example.com>"]
    );
    assert_eq!(back.subject, "Re: Quarterly numbers");
    assert_eq!(back.cc[0].name.as_deref(), Some("Bob Émile"));
    assert_eq!(
        back.text.replace("\r\n", "\n"),
        "Thanks, here they are.\nLine two.\n"
    );
    assert_eq!(
        outgoing().recipients(),
        vec!["ann@example.com", "bob@example.org"]
    );
    // Same input, same bytes: what is sent is what goes to Sent.
    assert_eq!(raw, outgoing().to_bytes(date()).expect("again"));
}

#[test]
fn a_subject_cannot_add_headers() {
    let mut email = outgoing();
    email.subject = "hi\r\nBcc: victim@example.com".into();
    let raw = email.to_bytes(date()).expect("bytes");
    let text = String::from_utf8(raw).expect("ascii");
    assert!(!text.contains("\r\nBcc:"), "{text}");
}

#[test]
fn bad_ids_and_addresses_are_refused() {
    let cases: Vec<fn(&mut OutgoingEmail)> = vec![
        |e| e.message_id = "no-brackets@x".into(),
        |e| e.message_id = "<a\r\nBcc: x@y>".into(),
        |e| e.in_reply_to = Some("<a b>".into()),
        |e| e.references = vec!["<ok@x>".into(), "<>".into()],
        |e| e.to[0].email = "not an address".into(),
        |e| e.from.email = "a@b\r\nBcc: c@d".into(),
        |e| {
            e.to.clear();
            e.cc.clear();
        },
    ];
    for (n, change) in cases.iter().enumerate() {
        let mut email = outgoing();
        change(&mut email);
        let err = email.to_bytes(date()).expect_err(&format!("case {n}"));
        assert_eq!(err.kind(), "invalid", "case {n}: {err}");
    }
}

#[test]
fn send_errors_say_whether_to_retry() {
    let retry = [
        SendError::Unreachable {
            message: "x".into(),
        },
        SendError::Rejected {
            permanent: false,
            reply: "451".into(),
        },
    ];
    for e in retry {
        assert!(e.is_retryable(), "{e}");
    }
    let final_ = [
        SendError::Auth {
            message: "535".into(),
        },
        SendError::RecipientRefused {
            recipient: "a@b".into(),
            reply: "550".into(),
        },
        SendError::Rejected {
            permanent: true,
            reply: "554".into(),
        },
        SendError::InDoubt {
            message: "reset".into(),
        },
    ];
    for e in final_ {
        assert!(!e.is_retryable(), "{e}");
    }
    assert_eq!(
        SendError::RecipientRefused {
            recipient: "a@b".into(),
            reply: String::new()
        }
        .kind(),
        "recipient_refused"
    );
    assert_eq!(
        SendError::InDoubt {
            message: String::new()
        }
        .kind(),
        "in_doubt"
    );
}
