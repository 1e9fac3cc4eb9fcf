//! SMTP failures a real server rarely shows on demand (a 535 answer, a connection lost after
//! the message, a temporary refusal), from a scripted loopback server.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use waymark_mail::{
    smtp_send, test_smtp, Credential, MailError, Security, SendError, SmtpSettings,
};

#[derive(Clone, Copy, PartialEq)]
enum Script {
    AuthFails,
    NoAuthOffered,
    TempFailRcpt,
    TempFailData,
    DropAfterData,
}

/// Serves one connection following `script`; returns the port.
async fn serve(script: Script) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let Ok((socket, _)) = listener.accept().await else {
            return;
        };
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read).lines();
        let _ = write.write_all(b"220 script ESMTP\r\n").await;
        while let Ok(Some(line)) = lines.next_line().await {
            let verb = line.to_ascii_uppercase();
            let reply = if verb.starts_with("EHLO") {
                if script == Script::NoAuthOffered {
                    "250-script\r\n250 8BITMIME"
                } else {
                    "250-script\r\n250 AUTH PLAIN LOGIN"
                }
            } else if verb.starts_with("AUTH") {
                if script == Script::AuthFails {
                    "535 5.7.8 Authentication credentials invalid"
                } else {
                    "235 2.7.0 ok"
                }
            } else if verb.starts_with("MAIL") {
                "250 ok"
            } else if verb.starts_with("RCPT") {
                if script == Script::TempFailRcpt {
                    "450 4.2.0 mailbox busy"
                } else {
                    "250 ok"
                }
            } else if verb.starts_with("DATA") {
                let _ = write.write_all(b"354 go ahead\r\n").await;
                while let Ok(Some(data)) = lines.next_line().await {
                    if data == "." {
                        break;
                    }
                }
                match script {
                    // The message is in; the answer never comes.
                    Script::DropAfterData => return,
                    Script::TempFailData => "451 4.3.0 try again later",
                    _ => "250 queued",
                }
            } else if verb.starts_with("QUIT") {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            } else if verb.starts_with("RSET") {
                "250 ok"
            } else {
                "500 unknown command"
            };
            let _ = write.write_all(format!("{reply}\r\n").as_bytes()).await;
        }
    });
    port
}

fn settings(port: u16) -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port,
        security: Security::Plain,
        user: "me@example.test".into(),
    }
}

async fn send(script: Script) -> SendError {
    let port = serve(script).await;
    smtp_send(
        &settings(port),
        &Credential::Password("secret-password".into()),
        "me@example.test",
        &["ann@example.com".to_string()],
        b"Subject: hi\r\nMessage-ID: <a@b>\r\n\r\nhello\r\n",
        Duration::from_secs(10),
    )
    .await
    .expect_err("the script fails the send")
}

#[tokio::test]
async fn a_535_is_an_auth_error_not_worth_retrying() {
    let err = send(Script::AuthFails).await;
    assert!(matches!(err, SendError::Auth { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains("secret-password"), "{err}");

    let port = serve(Script::AuthFails).await;
    let err = test_smtp(
        &settings(port),
        &Credential::Password("secret-password".into()),
        Duration::from_secs(10),
    )
    .await
    .expect_err("auth");
    assert!(matches!(err, MailError::Auth { .. }), "{err:?}");
}

#[tokio::test]
async fn no_auth_offered_says_why() {
    let err = send(Script::NoAuthOffered).await;
    assert!(matches!(err, SendError::Auth { .. }), "{err:?}");
    assert!(err.to_string().contains("only over TLS"), "{err}");
}

#[tokio::test]
async fn temporary_refusals_are_retryable() {
    for script in [Script::TempFailRcpt, Script::TempFailData] {
        let err = send(script).await;
        assert!(
            matches!(
                err,
                SendError::Rejected {
                    permanent: false,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.is_retryable());
    }
}

#[tokio::test]
async fn a_connection_lost_after_the_message_is_in_doubt() {
    let err = send(Script::DropAfterData).await;
    assert!(matches!(err, SendError::InDoubt { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(err.kind(), "in_doubt");
}
