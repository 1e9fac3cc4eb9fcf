//! The crate's error for accounts, IMAP and SMTP probes. Sending has its own [`crate::SendError`]:
//! its caller must know whether a message may already have left.

/// What went wrong talking to a mail server or checking an account.
///
/// Messages never carry a password or token: only server replies, host names and our own text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    #[error("invalid {what}")]
    Invalid { what: String },
    #[error("could not connect to {host}:{port}: {message}")]
    Connect {
        host: String,
        port: u16,
        message: String,
    },
    #[error("TLS failed: {message}")]
    Tls { message: String },
    #[error("authentication failed: {message}")]
    Auth { message: String },
    #[error("mail server protocol error: {message}")]
    Protocol { message: String },
    #[error("no such folder: {folder}")]
    NoSuchFolder { folder: String },
    #[error("timed out: {what}")]
    Timeout { what: String },
    #[error("token command failed: {message}")]
    TokenCommand { message: String },
}

impl MailError {
    /// Whether trying again later may succeed without anyone changing the account.
    pub fn is_retryable(&self) -> bool {
        matches!(self, MailError::Connect { .. } | MailError::Timeout { .. })
    }

    /// A stable snake_case name for logs, metrics and the UI.
    pub fn kind(&self) -> &'static str {
        match self {
            MailError::Invalid { .. } => "invalid",
            MailError::Connect { .. } => "connect",
            MailError::Tls { .. } => "tls",
            MailError::Auth { .. } => "auth",
            MailError::Protocol { .. } => "protocol",
            MailError::NoSuchFolder { .. } => "no_such_folder",
            MailError::Timeout { .. } => "timeout",
            MailError::TokenCommand { .. } => "token_command",
        }
    }

    pub(crate) fn invalid(what: impl Into<String>) -> Self {
        MailError::Invalid { what: what.into() }
    }
}

/// Server text can be long or hold control characters: keep error messages one bounded line.
pub(crate) fn one_line(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n >= max_chars {
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out.trim().to_string()
}
