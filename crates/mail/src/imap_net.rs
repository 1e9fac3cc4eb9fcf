//! The IMAP byte stream: plain TCP or TLS (rustls, aws-lc-rs, the platform's certificate
//! verifier, as reqwest uses elsewhere in Waymark), behind one type for async-imap; connecting
//! and logging in; async-imap's errors as ours.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;

use async_imap::error::Error as ImapError;
use async_imap::{Client, Session};

use crate::account::{Credential, ImapSettings, Security};
use crate::error::{one_line, MailError};

/// Longest server text kept in an error.
pub(crate) const ERROR_CHARS: usize = 300;

#[derive(Debug)]
pub(crate) enum ImapStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for ImapStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ImapStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

fn tls_error(message: impl std::fmt::Display) -> MailError {
    MailError::Tls {
        message: message.to_string(),
    }
}

/// A client config checking certificates with the OS's verifier (and its trust store).
fn tls_config() -> Result<Arc<rustls::ClientConfig>, MailError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone()).map_err(tls_error)?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_error)?
        .dangerous()
        // Not dangerous: the platform verifier is the full certificate check.
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

pub(crate) async fn tls_connect(
    tcp: TcpStream,
    host: &str,
) -> Result<TlsStream<TcpStream>, MailError> {
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| tls_error(format!("{host} as a TLS server name: {e}")))?;
    let connector = tokio_rustls::TlsConnector::from(tls_config()?);
    connector
        .connect(name, tcp)
        .await
        .map_err(|e| tls_error(format!("handshake with {host}: {e}")))
}

pub(crate) async fn open(
    settings: &ImapSettings,
    credential: &Credential,
) -> Result<Session<ImapStream>, MailError> {
    let (host, port) = (settings.host.as_str(), settings.port);
    let connect_error = |message: String| MailError::Connect {
        host: host.to_string(),
        port,
        message,
    };
    let tcp = TcpStream::connect((host, port))
        .await
        .map_err(|e| connect_error(e.to_string()))?;
    let stream = match settings.security {
        Security::Tls => ImapStream::Tls(Box::new(tls_connect(tcp, host).await?)),
        Security::StartTls | Security::Plain => ImapStream::Plain(tcp),
    };
    let mut client = Client::new(stream);
    greeting(&mut client, host, port).await?;
    if settings.security == Security::StartTls {
        client
            .run_command_and_check_ok("STARTTLS", None)
            .await
            .map_err(|e| MailError::Tls {
                message: format!(
                    "STARTTLS refused: {}",
                    one_line(&e.to_string(), ERROR_CHARS)
                ),
            })?;
        let ImapStream::Plain(tcp) = client.into_inner() else {
            return Err(MailError::Tls {
                message: "STARTTLS on a connection that is already TLS".into(),
            });
        };
        client = Client::new(ImapStream::Tls(Box::new(tls_connect(tcp, host).await?)));
    }
    let result = match credential {
        Credential::Password(password) => client.login(&settings.user, password).await,
        Credential::Xoauth2Token(token) => {
            let auth = Xoauth2 {
                response: Some(xoauth2_response(&settings.user, token)),
            };
            client.authenticate("XOAUTH2", auth).await
        }
    };
    result.map_err(|(e, _client)| login_error(e, host, port))
}

async fn greeting(client: &mut Client<ImapStream>, host: &str, port: u16) -> Result<(), MailError> {
    let closed = |message: String| MailError::Connect {
        host: host.to_string(),
        port,
        message,
    };
    match client.read_response().await {
        Ok(Some(response)) => {
            if let async_imap::imap_proto::Response::Data {
                status: async_imap::imap_proto::Status::Bye,
                outcome,
                ..
            } = response.parsed()
            {
                let text = outcome.information.as_deref().unwrap_or("");
                return Err(closed(format!(
                    "server said BYE: {}",
                    one_line(text, ERROR_CHARS)
                )));
            }
            Ok(())
        }
        Ok(None) => Err(closed("closed before its greeting".into())),
        Err(e) => Err(closed(e.to_string())),
    }
}

fn login_error(e: ImapError, host: &str, port: u16) -> MailError {
    match e {
        ImapError::No(text) | ImapError::Bad(text) => {
            let text = one_line(&text, ERROR_CHARS);
            // [UNAVAILABLE]: the server cannot check passwords right now; worth another try.
            if text.to_ascii_lowercase().contains("unavailable") {
                MailError::Connect {
                    host: host.to_string(),
                    port,
                    message: format!("login temporarily unavailable: {text}"),
                }
            } else {
                MailError::Auth { message: text }
            }
        }
        ImapError::Validate(_) => MailError::Auth {
            message: "the user name or password holds a line break".into(),
        },
        other => map_error(other, host, port).0,
    }
}

/// Our error for async-imap's, and whether the stream can no longer be trusted.
pub(crate) fn map_error(e: ImapError, host: &str, port: u16) -> (MailError, bool) {
    let connect = |message: String| MailError::Connect {
        host: host.to_string(),
        port,
        message,
    };
    match e {
        ImapError::Io(io) => (connect(io.to_string()), true),
        ImapError::ConnectionLost => (connect("connection lost".into()), true),
        ImapError::No(text) => (
            MailError::Protocol {
                message: format!("server said NO: {}", one_line(&text, ERROR_CHARS)),
            },
            false,
        ),
        ImapError::Bad(text) => (
            MailError::Protocol {
                message: format!("server said BAD: {}", one_line(&text, ERROR_CHARS)),
            },
            false,
        ),
        ImapError::Validate(v) => (MailError::invalid(format!("IMAP argument: {v}")), false),
        ImapError::Append => (
            MailError::Protocol {
                message: "the server refused the APPEND".into(),
            },
            false,
        ),
        other => (
            MailError::Protocol {
                message: one_line(&other.to_string(), ERROR_CHARS),
            },
            true,
        ),
    }
}

struct Xoauth2 {
    response: Option<String>,
}

impl async_imap::Authenticator for Xoauth2 {
    type Response = String;

    /// The first challenge gets the token; a later one carries the server's error (JSON), to
    /// which the answer must be empty so the server ends the exchange with its NO.
    fn process(&mut self, _challenge: &[u8]) -> String {
        self.response.take().unwrap_or_default()
    }
}

pub(crate) fn xoauth2_response(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}
