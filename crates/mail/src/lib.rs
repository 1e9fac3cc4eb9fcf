//! Email for Waymark: account settings, IMAP (watch, fetch, file away), message parsing and
//! SMTP sending. It knows nothing of the engine, agents or where secrets are kept: callers pass
//! a resolved [`Credential`].

pub mod account;
pub mod error;
pub mod imap;
mod imap_args;
mod imap_net;
pub mod message;
pub mod smtp;

pub use account::{
    is_loopback, xoauth2_token, Credential, ImapSettings, MailAccount, MailAuth, Security,
    SmtpSettings,
};
pub use error::MailError;
pub use imap::{
    test_imap, FetchedMessage, FolderState, FoundMessage, IdleOutcome, ImapProbe, ImapSession,
};
pub use message::{parse_message, Address, Attachment, IncomingEmail, MessageError, MessageLimits};
pub use smtp::{smtp_send, test_smtp, OutgoingEmail, SendError, SmtpTransaction};
