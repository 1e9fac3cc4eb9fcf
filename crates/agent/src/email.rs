//! Email for agents: the run input of an email trigger, the thread a reply belongs to, the
//! `send_email` step (at most once: a copy in Sent marks the attempt before the SMTP
//! transaction), and settling an interrupted send by looking it up in Sent.

mod send;
mod settle;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use waymark_mail::{Credential, IncomingEmail, MailAccount};

pub use send::{check_recipients, message_id_for, send_email_schema, send_email_step};
pub use settle::{settle_send, SendSettlement, SettleError};

use crate::catalog::mail::CredentialError;

/// Signs in to mail accounts by name (the catalog does, from the settings and secret stores).
pub trait MailAccess: Send + Sync {
    /// The account's settings (no secret).
    fn account(&self, name: &str) -> BoxFuture<'_, Result<Option<MailAccount>, CredentialError>>;
    /// The account and its credential, ready to connect with.
    fn login(
        &self,
        account: &str,
    ) -> BoxFuture<'_, Result<(MailAccount, Credential), CredentialError>>;
}

impl MailAccess for crate::Catalog {
    fn account(&self, name: &str) -> BoxFuture<'_, Result<Option<MailAccount>, CredentialError>> {
        let (catalog, name) = (self.clone(), name.to_string());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || catalog.mail_account(&name))
                .await
                .map_err(|e| CredentialError::Missing {
                    account: String::new(),
                    why: format!("the settings store did not answer: {e}"),
                })?
                .map_err(CredentialError::from)
        })
    }

    fn login(
        &self,
        account: &str,
    ) -> BoxFuture<'_, Result<(MailAccount, Credential), CredentialError>> {
        let account = account.to_string();
        Box::pin(async move { self.mail_login(&account).await })
    }
}

/// An email-triggered run's input: the message, and where it was found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmailRunInput {
    /// Always `"email"`.
    pub trigger: String,
    pub account: String,
    pub folder: String,
    pub email: IncomingEmail,
    /// Set when the message could not be read whole (a part over a limit): what was wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl EmailRunInput {
    pub fn new(account: &str, folder: &str, email: IncomingEmail) -> Self {
        EmailRunInput {
            trigger: "email".into(),
            account: account.into(),
            folder: folder.into(),
            email,
            warning: None,
        }
    }

    /// The text a run starts with (pretty JSON, which the model reads well).
    pub fn to_input(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The email a run was started by, if its input is an email trigger's.
    pub fn of_input(input: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(input).ok()?;
        if value.get("trigger").and_then(Value::as_str) != Some("email") {
            return None;
        }
        serde_json::from_value(value).ok()
    }
}
