use super::*;

fn limits() -> MessageLimits {
    MessageLimits::default()
}

fn parse(raw: &str) -> IncomingEmail {
    parse_message(raw.as_bytes(), &limits()).expect("parses")
}

const HEAD: &str = "From: Ann Example <Ann@Example.com>\r\n\
To: lead@example.test, Bob <bob@example.org>\r\n\
Cc: carol@example.net\r\n\
Reply-To: replies@example.com\r\n\
Subject: Quarterly numbers\r\n\
Date: Tue, 1 Jul 2025 10:52:37 +0200\r\n\
Message-ID: <m1@example.com>\r\n\
In-Reply-To: <m0@example.com>\r\n\
References: <root@example.com> <m0@example.com>\r\n\
MIME-Version: 1.0\r\n";

#[test]
fn text_wins_over_html_in_an_alternative() {
    let raw = format!(
        "{HEAD}Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n\
--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain words.\r\n\
--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>HTML <b>words</b></p>\r\n\
--alt--\r\n"
    );
    let m = parse(&raw);
    assert_eq!(m.text.trim(), "Plain words.");
    assert!(!m.text_from_html);
    assert!(!m.text_truncated);
    assert!(m.attachments.is_empty());
    assert_eq!(m.subject, "Quarterly numbers");
    assert_eq!(m.message_id.as_deref(), Some("<m1@example.com>"));
    assert_eq!(m.in_reply_to, vec!["<m0@example.com>"]);
    assert_eq!(m.references, vec!["<root@example.com>", "<m0@example.com>"]);
    assert_eq!(m.date.as_deref(), Some("2025-07-01T10:52:37+02:00"));
    assert_eq!(
        m.from,
        vec![Address {
            name: Some("Ann Example".into()),
            email: "Ann@Example.com".into()
        }]
    );
    assert_eq!(m.to.len(), 2);
    assert_eq!(
        m.participants(),
        vec![
            "ann@example.com",
            "lead@example.test",
            "bob@example.org",
            "carol@example.net",
            "replies@example.com"
        ]
    );
}

#[test]
fn html_only_is_converted_to_text() {
    let raw = format!(
        "{HEAD}Content-Type: text/html; charset=utf-8\r\n\r\n\
<html><body><h1>Hello</h1><p>See <a href=\"https://x.test\">this</a>.</p></body></html>\r\n"
    );
    let m = parse(&raw);
    assert!(m.text_from_html);
    assert!(m.text.contains("Hello"), "{}", m.text);
    assert!(m.text.contains("this"), "{}", m.text);
    assert!(!m.text.contains("<p>"), "{}", m.text);
}

#[test]
fn attachments_are_listed_with_name_type_and_size() {
    let raw = format!(
        "{HEAD}Content-Type: multipart/mixed; boundary=\"mix\"\r\n\r\n\
--mix\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
--mix\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\n\
Content-Disposition: attachment; filename=\"report.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n\
--mix\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=data.csv\r\n\r\n\
a,b\r\n1,2\r\n\
--mix--\r\n"
    );
    let m = parse(&raw);
    assert_eq!(m.text.trim(), "See attached.");
    assert_eq!(m.attachments.len(), 2, "{:?}", m.attachments);
    assert_eq!(m.attachments[0].name.as_deref(), Some("report.pdf"));
    assert_eq!(m.attachments[0].content_type, "application/pdf");
    assert_eq!(m.attachments[0].size, 9); // "%PDF-1.4\n"
    assert_eq!(m.attachments[1].name.as_deref(), Some("data.csv"));
    assert_eq!(m.attachments[1].content_type, "text/csv");
}

fn nested_multiparts(levels: usize) -> String {
    let mut raw = String::from("From: a@example.com\r\nSubject: deep\r\nMIME-Version: 1.0\r\n");
    for n in 0..levels {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{n}\"\r\n\r\n--b{n}\r\n"
        ));
    }
    raw.push_str("Content-Type: text/plain\r\n\r\ndeep inside\r\n");
    for n in (0..levels).rev() {
        raw.push_str(&format!("--b{n}--\r\n"));
    }
    raw
}

#[test]
fn nesting_over_the_limit_is_too_deep() {
    let ok = parse(&nested_multiparts(5));
    assert_eq!(ok.text.trim(), "deep inside");
    let err = parse_message(nested_multiparts(12).as_bytes(), &limits()).expect_err("too deep");
    assert_eq!(err, MessageError::TooDeep { max: 8 });
    assert!(err.to_string().contains('8'), "{err}");
}

#[test]
fn nested_messages_count_towards_depth() {
    let mut raw = String::from("From: a@example.com\r\nSubject: outer\r\n");
    for n in 0..10 {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"m{n}\"\r\n\r\n--m{n}\r\n\
Content-Type: message/rfc822\r\n\r\nFrom: b@example.com\r\nSubject: level {n}\r\n"
        ));
    }
    raw.push_str("Content-Type: text/plain\r\n\r\nbottom\r\n");
    for n in (0..10).rev() {
        raw.push_str(&format!("--m{n}--\r\n"));
    }
    let err = parse_message(raw.as_bytes(), &limits()).expect_err("too deep");
    assert!(matches!(err, MessageError::TooDeep { .. }), "{err:?}");
}

#[test]
fn too_many_attachments_are_refused() {
    let mut raw = String::from(
        "From: a@example.com\r\nSubject: many\r\n\
Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n",
    );
    for n in 0..101 {
        raw.push_str(&format!(
            "--x\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=f{n}.txt\r\n\r\n{n}\r\n"
        ));
    }
    raw.push_str("--x--\r\n");
    let err = parse_message(raw.as_bytes(), &limits()).expect_err("too many");
    assert_eq!(
        err,
        MessageError::TooManyAttachments {
            count: 101,
            max: 100
        }
    );
    assert!(err.to_string().contains("101") && err.to_string().contains("100"));
}

#[test]
fn oversized_raw_is_refused_before_parsing() {
    let small = MessageLimits {
        max_bytes: 100,
        ..limits()
    };
    let raw = vec![b'a'; 101];
    let err = parse_message(&raw, &small).expect_err("too large");
    assert_eq!(
        err,
        MessageError::TooLarge {
            size: 101,
            max: 100
        }
    );
    assert!(err.to_string().contains("101") && err.to_string().contains("100"));
}

#[test]
fn garbage_never_panics() {
    let inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0u8; 64],
        (0..=255u8).cycle().take(5000).collect(),
        b"\xff\xfe\r\n\r\n\r\n--".to_vec(),
        b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n----\r\n--".to_vec(),
        b"Subject: =?utf-8?B?////?=\r\n\r\n".to_vec(),
    ];
    for raw in inputs {
        match parse_message(&raw, &limits()) {
            Ok(_) | Err(MessageError::Unparseable) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn a_subject_with_encoded_line_breaks_stays_one_line() {
    let raw = "From: a@example.com\r\n\
Subject: =?utf-8?Q?hello=0D=0ABcc:_victim@example.com=0A=07x?=\r\n\
Message-ID: <a\r\n b@example.com>\r\n\r\nbody\r\n";
    let m = parse(raw);
    assert!(
        !m.subject.contains('\r') && !m.subject.contains('\n'),
        "{:?}",
        m.subject
    );
    assert!(!m.subject.chars().any(char::is_control), "{:?}", m.subject);
    assert!(m.subject.starts_with("hello"), "{:?}", m.subject);
    let id = m.message_id.expect("id");
    assert!(
        !id.chars().any(|c| c.is_whitespace() || c.is_control()),
        "{id:?}"
    );
}

#[test]
fn a_long_body_is_cut_at_the_limit() {
    let body = "é".repeat(1_000_000); // 2 MB of two-byte characters
    let raw = format!("From: a@example.com\r\nSubject: long\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n");
    let m = parse(&raw);
    assert!(m.text_truncated);
    assert_eq!(m.text.chars().count(), limits().max_text_chars);
    let short = parse("From: a@example.com\r\nSubject: s\r\n\r\nshort\r\n");
    assert!(!short.text_truncated);
}

#[test]
fn errors_have_kinds() {
    assert_eq!(MessageError::Unparseable.kind(), "unparseable");
    assert_eq!(MessageError::TooDeep { max: 1 }.kind(), "too_deep");
}
