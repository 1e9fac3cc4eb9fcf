//! Mail accounts, defined once and used by email triggers and `send_email`. The settings
//! store keeps each account's servers and user names; a password is in the secret store (the
//! account keeps its reference) or in an environment variable (`env:NAME`), never in the
//! database.

use std::time::Duration;

use waymark_mail::{Credential, MailAccount, MailAuth};

use super::{now_ms, Catalog, CatalogError};
use crate::secret::Secret;
use crate::secrets::SecretRef;

/// The app setting that holds the accounts (a JSON list, without secrets).
const ACCOUNTS_SETTING: &str = "mail_accounts";
/// A password kept in the environment: `env:NAME`.
pub const ENV_PREFIX: &str = "env:";
/// How long an XOAUTH2 token command may take.
const TOKEN_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_ACCOUNTS: usize = 100;

/// Where a new account's password comes from.
#[derive(Clone, Debug)]
pub enum PasswordSource {
    /// Kept in the secret store (the OS keychain when there is one).
    Value(Secret),
    /// Read from this environment variable when connecting.
    Env(String),
    /// The account signs in with XOAUTH2 (its token command), or keeps its current password.
    Unchanged,
}

/// Why a mail account's credential could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    #[error("no mail account is named {0:?}")]
    UnknownAccount(String),
    #[error("the password of mail account {account:?} is not set: {why}")]
    Missing { account: String, why: String },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Mail(#[from] waymark_mail::MailError),
}

impl CredentialError {
    /// Whether asking again shortly may work (a locked database, a token command's hiccup).
    pub fn is_transient(&self) -> bool {
        match self {
            CredentialError::Catalog(e) => e.is_transient(),
            CredentialError::Mail(e) => e.is_retryable(),
            _ => false,
        }
    }
}

impl Catalog {
    /// Every mail account, by name.
    pub fn mail_accounts(&self) -> Result<Vec<MailAccount>, CatalogError> {
        let Some(text) = self.stores.settings.app_setting(ACCOUNTS_SETTING)? else {
            return Ok(Vec::new());
        };
        let mut accounts: Vec<MailAccount> =
            serde_json::from_str(&text).map_err(|e| CatalogError::Corrupt {
                what: format!("the saved mail accounts do not read: {e}"),
            })?;
        accounts.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(accounts)
    }

    pub fn mail_account(&self, name: &str) -> Result<Option<MailAccount>, CatalogError> {
        Ok(self.mail_accounts()?.into_iter().find(|a| a.name == name))
    }

    /// Adds or replaces the account `account.name`. With a password value, the value goes to
    /// the secret store and the account keeps its reference; the one it replaces is deleted.
    pub fn save_mail_account(
        &self,
        mut account: MailAccount,
        password: PasswordSource,
    ) -> Result<(), CatalogError> {
        let invalid = |what: String| CatalogError::Invalid { what };
        let mut accounts = self.mail_accounts()?;
        let old = accounts.iter().position(|a| a.name == account.name);
        if old.is_none() && accounts.len() >= MAX_ACCOUNTS {
            return Err(invalid(format!("at most {MAX_ACCOUNTS} mail accounts")));
        }
        let old_ref = old.and_then(|i| stored_ref(&accounts[i]));
        let mut new_ref = None;
        match (&mut account.auth, password) {
            (MailAuth::Password { secret_ref }, PasswordSource::Value(value)) => {
                if value.expose().is_empty() {
                    return Err(invalid(format!(
                        "the password of mail account {} is empty",
                        account.name
                    )));
                }
                let r = self
                    .secrets()
                    .put(&format!("mail-{}", account.name), &value)?;
                *secret_ref = r.to_string();
                new_ref = Some(r);
            }
            (MailAuth::Password { secret_ref }, PasswordSource::Env(var)) => {
                if !crate::spec::is_env_name(&var) {
                    return Err(invalid(format!(
                        "{var:?} is not an environment variable name"
                    )));
                }
                *secret_ref = format!("{ENV_PREFIX}{var}");
            }
            (MailAuth::Password { secret_ref }, PasswordSource::Unchanged) => {
                // Keeps what the account had; a new account must say where its password is.
                let before = old.map(|i| &accounts[i].auth);
                match before {
                    Some(MailAuth::Password { secret_ref: kept }) => *secret_ref = kept.clone(),
                    _ => {
                        return Err(invalid(format!(
                            "mail account {} needs a password (or an environment variable that holds it)",
                            account.name
                        )))
                    }
                }
            }
            (MailAuth::Xoauth2 { .. }, _) => {}
        }
        if let Err(e) = account.validate() {
            if let Some(r) = new_ref {
                let _ = self.secrets().delete(&r);
            }
            return Err(invalid(e.to_string()));
        }
        let keep_old_ref = stored_ref(&account) == old_ref;
        match old {
            Some(i) => accounts[i] = account,
            None => accounts.push(account),
        }
        let text = serde_json::to_string(&accounts).map_err(|e| invalid(e.to_string()))?;
        if let Err(e) =
            self.stores
                .settings
                .set_app_setting(ACCOUNTS_SETTING, Some(&text), now_ms())
        {
            if let Some(r) = new_ref {
                let _ = self.secrets().delete(&r);
            }
            return Err(e);
        }
        if let (Some(r), false) = (old_ref, keep_old_ref) {
            let _ = self.secrets().delete(&r);
        }
        self.touch();
        Ok(())
    }

    /// Removes the account and its stored password; `false` when there was none.
    pub fn delete_mail_account(&self, name: &str) -> Result<bool, CatalogError> {
        let mut accounts = self.mail_accounts()?;
        let Some(i) = accounts.iter().position(|a| a.name == name) else {
            return Ok(false);
        };
        let gone = accounts.remove(i);
        let text = serde_json::to_string(&accounts).map_err(|e| CatalogError::Invalid {
            what: e.to_string(),
        })?;
        self.stores
            .settings
            .set_app_setting(ACCOUNTS_SETTING, Some(&text), now_ms())?;
        if let Some(r) = stored_ref(&gone) {
            let _ = self.secrets().delete(&r);
        }
        self.touch();
        Ok(true)
    }

    /// The account `name` and what it signs in with: its password (from the secret store or
    /// the environment) or a fresh XOAUTH2 token from its command. Blocks on the keychain:
    /// call it from a blocking thread or through [`Catalog::mail_login`].
    fn mail_password(&self, account: &MailAccount) -> Result<Option<Secret>, CredentialError> {
        let MailAuth::Password { secret_ref } = &account.auth else {
            return Ok(None);
        };
        let missing = |why: String| CredentialError::Missing {
            account: account.name.clone(),
            why,
        };
        if let Some(var) = secret_ref.strip_prefix(ENV_PREFIX) {
            crate::redact::register_env(var);
            return Secret::from_env(var).map(Some).ok_or_else(|| {
                missing(format!("the environment variable {var} is empty or unset"))
            });
        }
        let r: SecretRef = secret_ref
            .parse()
            .map_err(|_| missing(format!("{secret_ref:?} is not a secret reference")))?;
        let value = self.secrets().get(&r).map_err(|e| missing(e.to_string()))?;
        crate::redact::register(value.expose());
        Ok(Some(value))
    }

    /// The account `name` and its credential, ready to connect with.
    pub async fn mail_login(
        &self,
        name: &str,
    ) -> Result<(MailAccount, Credential), CredentialError> {
        let catalog = self.clone();
        let owned = name.to_string();
        let (account, password) = tokio::task::spawn_blocking(move || {
            let account = catalog
                .mail_account(&owned)?
                .ok_or_else(|| CredentialError::UnknownAccount(owned.clone()))?;
            let password = catalog.mail_password(&account)?;
            Ok::<_, CredentialError>((account, password))
        })
        .await
        .map_err(|e| CredentialError::Missing {
            account: name.to_string(),
            why: format!("the secret store did not answer: {e}"),
        })??;
        let credential = match (&account.auth, password) {
            (MailAuth::Xoauth2 { token_command }, _) => {
                let token =
                    waymark_mail::xoauth2_token(token_command, TOKEN_COMMAND_TIMEOUT).await?;
                if let Credential::Xoauth2Token(t) = &token {
                    crate::redact::register(t);
                }
                token
            }
            (_, Some(password)) => Credential::Password(password.expose().to_string()),
            (_, None) => {
                return Err(CredentialError::Missing {
                    account: account.name.clone(),
                    why: "no password is set".into(),
                })
            }
        };
        Ok((account, credential))
    }
}

/// The secret-store reference an account's password is kept under, if it is kept there.
fn stored_ref(account: &MailAccount) -> Option<SecretRef> {
    match &account.auth {
        MailAuth::Password { secret_ref } if !secret_ref.starts_with(ENV_PREFIX) => {
            secret_ref.parse().ok()
        }
        _ => None,
    }
}
