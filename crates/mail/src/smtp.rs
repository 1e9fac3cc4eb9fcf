//! SMTP with lettre: building the RFC 5322 bytes of a reply, and sending them step by step so a
//! failure says whether the message may already have left.

use std::time::{Duration, SystemTime};

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use serde::{Deserialize, Serialize};

use crate::account::{check_email, Credential, Security, SmtpSettings};
use crate::error::{one_line, MailError};
use crate::message::{clean_header, Address};

const REPLY_CHARS: usize = 500;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingEmail {
    pub from: Address,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub subject: String,
    pub body: String,
    /// "<...>": chosen by the caller so a retry can find an earlier attempt in Sent.
    pub message_id: String,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
}

impl OutgoingEmail {
    /// The message as sent and as appended to Sent: the same bytes for both.
    pub fn to_bytes(&self, date: chrono::DateTime<chrono::Utc>) -> Result<Vec<u8>, MailError> {
        let mut builder = lettre::Message::builder()
            .from(mailbox(&self.from)?)
            // lettre encodes non-ASCII; line breaks would still fold into a new header line.
            .subject(clean_header(&self.subject))
            .message_id(Some(checked_id(&self.message_id)?))
            .date(SystemTime::from(date))
            .header(ContentType::TEXT_PLAIN);
        if self.to.is_empty() && self.cc.is_empty() {
            return Err(MailError::invalid("email: no recipient in To or Cc"));
        }
        for to in &self.to {
            builder = builder.to(mailbox(to)?);
        }
        for cc in &self.cc {
            builder = builder.cc(mailbox(cc)?);
        }
        if let Some(parent) = &self.in_reply_to {
            builder = builder.in_reply_to(checked_id(parent)?);
        }
        if !self.references.is_empty() {
            let ids = self
                .references
                .iter()
                .map(|id| checked_id(id))
                .collect::<Result<Vec<_>, _>>()?;
            builder = builder.references(ids.join(" "));
        }
        let message = builder
            .body(self.body.clone())
            .map_err(|e| MailError::invalid(format!("email: {e}")))?;
        Ok(message.formatted())
    }

    /// Every envelope recipient: To then Cc.
    pub fn recipients(&self) -> Vec<String> {
        self.to
            .iter()
            .chain(&self.cc)
            .map(|a| a.email.clone())
            .collect()
    }
}

fn mailbox(address: &Address) -> Result<Mailbox, MailError> {
    check_email(&address.email)?;
    let email = address
        .email
        .parse::<lettre::Address>()
        .map_err(|e| MailError::invalid(format!("email address {:?}: {e}", address.email)))?;
    let name = address
        .name
        .as_deref()
        .map(clean_header)
        .filter(|n| !n.is_empty());
    Ok(Mailbox::new(name, email))
}

/// A message id as it goes into a header: "<left@right>", printable ASCII, no spaces.
fn checked_id(id: &str) -> Result<String, MailError> {
    let inner = id.strip_prefix('<').and_then(|i| i.strip_suffix('>'));
    match inner {
        Some(inner)
            if !inner.is_empty()
                && inner.len() <= 250
                && inner
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | '\\')) =>
        {
            Ok(id.to_string())
        }
        _ => Err(MailError::invalid(format!(
            "message id {:?}: \"<...>\" of printable ASCII",
            one_line(id, 100)
        ))),
    }
}

/// Why a send failed, and so whether it may be tried again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// Could not connect, greet or get as far as the message: nothing was sent.
    #[error("SMTP server unreachable: {message}")]
    Unreachable { message: String },
    #[error("SMTP TLS failed: {message}")]
    Tls { message: String },
    #[error("SMTP authentication failed: {message}")]
    Auth { message: String },
    #[error("recipient {recipient} refused: {reply}")]
    RecipientRefused { recipient: String, reply: String },
    #[error("SMTP server rejected the message ({}): {reply}", if *permanent { "permanent" } else { "temporary" })]
    Rejected { permanent: bool, reply: String },
    /// The connection failed while or after the message was transferred: it may have been
    /// accepted. Retrying could deliver it twice.
    #[error("unknown whether the message was accepted: {message}")]
    InDoubt { message: String },
    /// Our input (an address, the settings) was not usable.
    #[error("invalid {what}")]
    Invalid { what: String },
}

impl SendError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SendError::Unreachable { .. }
                | SendError::Rejected {
                    permanent: false,
                    ..
                }
        )
    }

    pub fn kind(&self) -> &'static str {
        match self {
            SendError::Unreachable { .. } => "unreachable",
            SendError::Tls { .. } => "tls",
            SendError::Auth { .. } => "auth",
            SendError::RecipientRefused { .. } => "recipient_refused",
            SendError::Rejected { .. } => "rejected",
            SendError::InDoubt { .. } => "in_doubt",
            SendError::Invalid { .. } => "invalid",
        }
    }
}

impl From<MailError> for SendError {
    fn from(e: MailError) -> Self {
        match e {
            MailError::Invalid { what } => SendError::Invalid { what },
            MailError::Tls { message } => SendError::Tls { message },
            MailError::Auth { message } => SendError::Auth { message },
            MailError::Connect { .. } | MailError::Timeout { .. } => SendError::Unreachable {
                message: e.to_string(),
            },
            other => SendError::Invalid {
                what: other.to_string(),
            },
        }
    }
}

/// Sends `raw` (from [`OutgoingEmail::to_bytes`]) to `recipients` with `from` as envelope
/// sender. Every recipient must be accepted, or nothing is sent.
pub async fn smtp_send(
    settings: &SmtpSettings,
    credential: &Credential,
    from: &str,
    recipients: &[String],
    raw: &[u8],
    timeout: Duration,
) -> Result<(), SendError> {
    SmtpTransaction::begin(settings, credential, from, recipients, timeout)
        .await?
        .send(raw)
        .await
}

/// An SMTP transaction up to the point of no return: connected, signed in, sender and every
/// recipient accepted, and the server waiting for the message (354). Whatever a caller must
/// record before the message can go out (a pending copy in Sent) fits between
/// [`SmtpTransaction::begin`] and [`SmtpTransaction::send`], so the window in which a crash
/// leaves the outcome unknown is only the message itself.
pub struct SmtpTransaction {
    conn: AsyncSmtpConnection,
    timeout: Duration,
}

impl SmtpTransaction {
    /// Everything before the message. An error here means nothing was sent.
    pub async fn begin(
        settings: &SmtpSettings,
        credential: &Credential,
        from: &str,
        recipients: &[String],
        timeout: Duration,
    ) -> Result<SmtpTransaction, SendError> {
        let sender = envelope_address(from)?;
        if recipients.is_empty() {
            return Err(SendError::Invalid {
                what: "envelope: no recipients".into(),
            });
        }
        let rcpts = recipients
            .iter()
            .map(|r| envelope_address(r))
            .collect::<Result<Vec<_>, _>>()?;
        let mut conn = open(settings, credential, timeout).await?;
        match envelope(&mut conn, sender, &rcpts, recipients, timeout).await {
            Ok(()) => Ok(SmtpTransaction { conn, timeout }),
            Err(e) => {
                let _ = tokio::time::timeout(timeout, conn.abort()).await;
                Err(e)
            }
        }
    }

    /// Sends the message: `Ok` once the server has taken it; [`SendError::InDoubt`] when the
    /// connection was lost before its answer.
    pub async fn send(mut self, raw: &[u8]) -> Result<(), SendError> {
        let result = message(&mut self.conn, raw, self.timeout).await;
        match &result {
            // Accepted: QUIT politely; its failure changes nothing.
            Ok(()) => {
                let _ = tokio::time::timeout(self.timeout, self.conn.quit()).await;
            }
            Err(_) => {
                let _ = tokio::time::timeout(self.timeout, self.conn.abort()).await;
            }
        }
        result
    }

    /// Gives up before the message: the server discards the transaction.
    pub async fn abort(mut self) {
        let _ = tokio::time::timeout(self.timeout, self.conn.abort()).await;
    }
}

fn envelope_address(address: &str) -> Result<lettre::Address, SendError> {
    check_email(address)?;
    address.parse().map_err(|e| SendError::Invalid {
        what: format!("envelope address {address:?}: {e}"),
    })
}

async fn envelope(
    conn: &mut AsyncSmtpConnection,
    sender: lettre::Address,
    rcpts: &[lettre::Address],
    names: &[String],
    timeout: Duration,
) -> Result<(), SendError> {
    let info = conn.server_info();
    let mut params = Vec::new();
    if rcpts
        .iter()
        .chain([&sender])
        .any(|a| !a.to_string().is_ascii())
    {
        if !info.supports_feature(Extension::SmtpUtfEight) {
            return Err(SendError::Rejected {
                permanent: true,
                reply: "an address is not ASCII and the server does not offer SMTPUTF8".into(),
            });
        }
        params.push(MailParameter::SmtpUtfEight);
    }
    // Declared whenever offered (the message is not known yet): harmless for 7-bit content.
    if info.supports_feature(Extension::EightBitMime) {
        params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    step(timeout, conn.command(Mail::new(Some(sender), params)))
        .await
        .map_err(|e| before_data(e, None))?;
    for (rcpt, name) in rcpts.iter().zip(names) {
        step(timeout, conn.command(Rcpt::new(rcpt.clone(), Vec::new())))
            .await
            .map_err(|e| before_data(e, Some(name)))?;
    }
    step(timeout, conn.command(Data))
        .await
        .map_err(|e| before_data(e, None))?;
    Ok(())
}

async fn message(
    conn: &mut AsyncSmtpConnection,
    raw: &[u8],
    timeout: Duration,
) -> Result<(), SendError> {
    // From here a lost connection leaves the outcome unknown; a reply is definite.
    match step(timeout, conn.message(raw)).await {
        Ok(_) => Ok(()),
        Err(Step::Smtp(e)) if e.is_permanent() || e.is_transient() => Err(SendError::Rejected {
            permanent: e.is_permanent(),
            reply: reply_text(&e),
        }),
        Err(Step::Smtp(e)) => Err(SendError::InDoubt {
            message: reply_text(&e),
        }),
        Err(Step::Timeout) => Err(SendError::InDoubt {
            message: format!(
                "no answer to the message within {} s",
                timeout.as_secs_f32()
            ),
        }),
    }
}

enum Step {
    Smtp(lettre::transport::smtp::Error),
    Timeout,
}

async fn step<T>(
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T, lettre::transport::smtp::Error>>,
) -> Result<T, Step> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Step::Smtp(e)),
        Err(_) => Err(Step::Timeout),
    }
}

/// A failure before the message content was sent: nothing can have been delivered.
fn before_data(failure: Step, recipient: Option<&String>) -> SendError {
    match failure {
        Step::Timeout => SendError::Unreachable {
            message: "the server stopped answering before the message was sent".into(),
        },
        Step::Smtp(e) if e.is_permanent() => match recipient {
            Some(recipient) => SendError::RecipientRefused {
                recipient: recipient.clone(),
                reply: reply_text(&e),
            },
            None => SendError::Rejected {
                permanent: true,
                reply: reply_text(&e),
            },
        },
        Step::Smtp(e) if e.is_transient() => SendError::Rejected {
            permanent: false,
            reply: reply_text(&e),
        },
        Step::Smtp(e) => SendError::Unreachable {
            message: reply_text(&e),
        },
    }
}

fn reply_text(e: &lettre::transport::smtp::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    one_line(&text, REPLY_CHARS)
}

/// Connects (implicit TLS, STARTTLS or plain), greets, and logs in when a user is set.
async fn open(
    settings: &SmtpSettings,
    credential: &Credential,
    timeout: Duration,
) -> Result<AsyncSmtpConnection, SendError> {
    settings.validate()?;
    let host = settings.host.as_str();
    let hello = ClientId::default();
    let tls = || {
        TlsParameters::new(host.to_string()).map_err(|e| SendError::Tls {
            message: reply_text(&e),
        })
    };
    let implicit = match settings.security {
        Security::Tls => Some(tls()?),
        Security::StartTls | Security::Plain => None,
    };
    let connected = match implicit {
        Some(tls) => {
            step(
                timeout,
                AsyncSmtpConnection::connect_tokio1(
                    (host, settings.port),
                    Some(timeout),
                    &hello,
                    Some(tls),
                    None,
                ),
            )
            .await
        }
        None => {
            // Our own socket, without Nagle: lettre writes the message and its final
            // ".\r\n" separately, and Nagle would hold the second until the server's
            // delayed ACK (40 ms) — a send in doubt for that long after a crash.
            let at = format!("{host}:{}", settings.port);
            let tcp = match tokio::time::timeout(
                timeout,
                tokio::net::TcpStream::connect((host, settings.port)),
            )
            .await
            {
                Ok(Ok(tcp)) => tcp,
                Ok(Err(e)) => {
                    return Err(SendError::Unreachable {
                        message: format!("{at}: {e}"),
                    })
                }
                Err(_) => {
                    return Err(SendError::Unreachable {
                        message: format!("{at}: no answer"),
                    })
                }
            };
            let _ = tcp.set_nodelay(true);
            step(
                timeout,
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &hello),
            )
            .await
        }
    };
    let mut conn = connected.map_err(|failure| greeting_error(failure, settings))?;
    if settings.security == Security::StartTls {
        if !conn.can_starttls() {
            let _ = tokio::time::timeout(timeout, conn.abort()).await;
            return Err(SendError::Tls {
                message: format!("{host} does not offer STARTTLS"),
            });
        }
        step(timeout, conn.starttls(tls()?, &hello))
            .await
            .map_err(|failure| greeting_error(failure, settings))?;
    }
    if !settings.user.is_empty() {
        let (secret, mechanisms) = match credential {
            Credential::Password(p) => (p.clone(), vec![Mechanism::Plain, Mechanism::Login]),
            Credential::Xoauth2Token(t) => (t.clone(), vec![Mechanism::Xoauth2]),
        };
        let offered = mechanisms
            .iter()
            .any(|m| conn.server_info().supports_auth_mechanism(*m));
        if !offered {
            let _ = tokio::time::timeout(timeout, conn.abort()).await;
            // lettre itself sends AUTH over a plain connection; servers usually do not offer
            // it there (e.g. Postfix smtpd_tls_auth_only), which is the common cause.
            return Err(SendError::Auth {
                message: format!(
                    "{host} offers none of {} on this connection{}",
                    mechanisms
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                    if conn.is_encrypted() {
                        ""
                    } else {
                        " (many servers offer AUTH only over TLS)"
                    }
                ),
            });
        }
        let credentials = Credentials::new(settings.user.clone(), secret);
        if let Err(failure) = step(timeout, conn.auth(&mechanisms, &credentials)).await {
            let _ = tokio::time::timeout(timeout, conn.abort()).await;
            return Err(match failure {
                Step::Smtp(e) if e.is_permanent() => SendError::Auth {
                    message: reply_text(&e),
                },
                Step::Smtp(e) if e.is_transient() => SendError::Rejected {
                    permanent: false,
                    reply: reply_text(&e),
                },
                other => greeting_error(other, settings),
            });
        }
    }
    Ok(conn)
}

fn greeting_error(failure: Step, settings: &SmtpSettings) -> SendError {
    let at = format!("{}:{}", settings.host, settings.port);
    match failure {
        Step::Timeout => SendError::Unreachable {
            message: format!("{at}: no answer"),
        },
        Step::Smtp(e) if e.is_tls() => SendError::Tls {
            message: format!("{at}: {}", reply_text(&e)),
        },
        Step::Smtp(e) if e.is_permanent() => SendError::Rejected {
            permanent: true,
            reply: format!("{at}: {}", reply_text(&e)),
        },
        Step::Smtp(e) => SendError::Unreachable {
            message: format!("{at}: {}", reply_text(&e)),
        },
    }
}

/// Connects, greets (EHLO), upgrades as configured and logs in; sends nothing.
pub async fn test_smtp(
    settings: &SmtpSettings,
    credential: &Credential,
    timeout: Duration,
) -> Result<(), MailError> {
    let mut conn = open(settings, credential, timeout)
        .await
        .map_err(|e| match e {
            SendError::Invalid { what } => MailError::Invalid { what },
            SendError::Tls { message } => MailError::Tls { message },
            SendError::Auth { message } => MailError::Auth { message },
            SendError::Unreachable { message } => MailError::Connect {
                host: settings.host.clone(),
                port: settings.port,
                message,
            },
            other => MailError::Protocol {
                message: other.to_string(),
            },
        })?;
    let _ = tokio::time::timeout(timeout, conn.quit()).await;
    Ok(())
}

#[cfg(test)]
#[path = "smtp_tests.rs"]
mod tests;
