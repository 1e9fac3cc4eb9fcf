//! Mail accounts (defined once, used by email triggers and `send_email`), the triggers
//! overview, and settling an interrupted send by looking it up in Sent.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use waymark_agent::catalog::mail::PasswordSource;
use waymark_agent::email::SendSettlement;
use waymark_agent::triggers::FolderStatus;
use waymark_agent::Secret;
use waymark_mail::{MailAccount, MailAuth};

use crate::commands::{DeletedResponse, OkResponse};
use crate::hooks::WebhookDelivery;
use crate::ids::{RunId, StepKey};
use crate::{Api, ApiError};

/// How long "Test connection" waits for each server.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);

/// What the host watching mail folders knows; an API without one (a CLI command that starts
/// no triggers) shows accounts without live status.
pub trait MailStatus: Send + Sync + 'static {
    fn folders(&self) -> Vec<FolderStatus>;
    /// Accounts or agents changed: look again now.
    fn reload(&self);
}

#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct MailRequest {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct MailAccountsResponse {
    pub accounts: Vec<MailAccountView>,
}

/// One account as Settings shows it: never its password.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct MailAccountView {
    pub account: MailAccount,
    /// Where the password is: `stored` (the secret store), `env` (`password_env` names the
    /// variable) or `xoauth2` (a token command).
    pub password: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub password_env: Option<String>,
    /// The folders email triggers watch on this account, live (empty when none, or when this
    /// process runs no triggers).
    pub folders: Vec<FolderStatus>,
}

/// Add an account, or change one (by name). For password sign-in give `password` (kept in
/// the secret store) or `password_env` (an environment variable read when connecting); give
/// neither to keep the current one. The `secret_ref` in `account.auth` is set by the server.
#[derive(Clone, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MailAccountSaveRequest {
    pub account: MailAccount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub password_env: Option<String>,
}

// Never prints the password.
impl std::fmt::Debug for MailAccountSaveRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailAccountSaveRequest")
            .field("account", &self.account)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("password_env", &self.password_env)
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MailAccountNameRequest {
    pub name: String,
}

/// "Test connection": each server signed in to, or why not.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct MailAccountTestResponse {
    pub imap: ConnectionCheck,
    pub smtp: ConnectionCheck,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct ConnectionCheck {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub error: Option<String>,
    /// IMAP: whether the server says when mail arrives (IDLE); without it, folders are polled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub idle: Option<bool>,
    /// IMAP: the account's folders.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folders: Vec<String>,
}

impl ConnectionCheck {
    fn failed(error: String) -> Self {
        ConnectionCheck {
            ok: false,
            error: Some(error),
            idle: None,
            folders: Vec::new(),
        }
    }
}

/// Every trigger of every agent, with its live state where the host has one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct TriggersResponse {
    pub triggers: Vec<TriggerView>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct TriggerView {
    pub agent: String,
    /// `manual`, `webhook`, `cron` or `email`.
    pub kind: String,
    /// What it is in a few words (`sales/INBOX`, `0 9 * * 1-5 Europe/Paris`, `standard_webhooks`).
    pub summary: String,
    /// `active` (cron, webhook), `connecting`, `idle`, `polling`, `error` (email), or
    /// `not_running` when this process runs no triggers.
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub email: Option<FolderStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub last_delivery: Option<WebhookDelivery>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsSettleSendRequest {
    pub run_id: RunId,
    /// The `send_email` step that needs attention (`tool/N.i`).
    pub step: StepKey,
}

/// What looking the Message-ID up in Sent found: `sent` (the step is done), `not_sent` (it
/// never went out; it is sent now) or `in_doubt` (the copy is still marked pending: ask the
/// recipient, then mark the step done or retry it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct RunsSettleSendResponse {
    pub outcome: String,
    pub message_id: String,
}

fn password_kind(account: &MailAccount) -> (String, Option<String>) {
    match &account.auth {
        MailAuth::Xoauth2 { .. } => ("xoauth2".into(), None),
        MailAuth::Password { secret_ref } => {
            match secret_ref.strip_prefix(waymark_agent::catalog::mail::ENV_PREFIX) {
                Some(var) => ("env".into(), Some(var.to_string())),
                None => ("stored".into(), None),
            }
        }
    }
}

impl Api {
    pub async fn mail_accounts_list(
        &self,
        _: MailRequest,
    ) -> Result<MailAccountsResponse, ApiError> {
        let catalog = self.app().catalog.clone();
        let accounts = tokio::task::spawn_blocking(move || catalog.mail_accounts())
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??;
        let folders = self.mail_status().map(|m| m.folders()).unwrap_or_default();
        Ok(MailAccountsResponse {
            accounts: accounts
                .into_iter()
                .map(|account| {
                    let (password, password_env) = password_kind(&account);
                    MailAccountView {
                        folders: folders
                            .iter()
                            .filter(|f| f.account == account.name)
                            .cloned()
                            .collect(),
                        account,
                        password,
                        password_env,
                    }
                })
                .collect(),
        })
    }

    pub async fn mail_account_save(
        &self,
        req: MailAccountSaveRequest,
    ) -> Result<OkResponse, ApiError> {
        let source = match (req.password, req.password_env) {
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "password",
                    "give a password or an environment variable, not both",
                ))
            }
            (Some(p), None) => PasswordSource::Value(Secret::new(p)),
            (None, Some(var)) => PasswordSource::Env(var),
            (None, None) => PasswordSource::Unchanged,
        };
        let catalog = self.app().catalog.clone();
        let account = req.account;
        tokio::task::spawn_blocking(move || catalog.save_mail_account(account, source))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??;
        if let Some(m) = self.mail_status() {
            m.reload();
        }
        Ok(OkResponse::ok())
    }

    pub async fn mail_account_delete(
        &self,
        req: MailAccountNameRequest,
    ) -> Result<DeletedResponse, ApiError> {
        let catalog = self.app().catalog.clone();
        let deleted = tokio::task::spawn_blocking(move || catalog.delete_mail_account(&req.name))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??;
        if let Some(m) = self.mail_status() {
            m.reload();
        }
        Ok(DeletedResponse { deleted })
    }

    pub async fn mail_account_test(
        &self,
        req: MailAccountNameRequest,
    ) -> Result<MailAccountTestResponse, ApiError> {
        let (account, credential) = match self.app().catalog.mail_login(&req.name).await {
            Ok(login) => login,
            Err(waymark_agent::catalog::mail::CredentialError::UnknownAccount(name)) => {
                return Err(ApiError::not_found(format!(
                    "no mail account is named {name:?}"
                )))
            }
            Err(e) => {
                let why = waymark_agent::redact::scrub(&e.to_string());
                return Ok(MailAccountTestResponse {
                    imap: ConnectionCheck::failed(why.clone()),
                    smtp: ConnectionCheck::failed(why),
                });
            }
        };
        let (imap, smtp) = tokio::join!(
            waymark_mail::test_imap(&account.imap, &credential, TEST_TIMEOUT),
            waymark_mail::test_smtp(&account.smtp, &credential, TEST_TIMEOUT),
        );
        let scrub = |e: &dyn std::fmt::Display| waymark_agent::redact::scrub(&e.to_string());
        Ok(MailAccountTestResponse {
            imap: match imap {
                Ok(probe) => ConnectionCheck {
                    ok: true,
                    error: None,
                    idle: Some(probe.idle),
                    folders: probe.folders,
                },
                Err(e) => ConnectionCheck::failed(scrub(&e)),
            },
            smtp: match smtp {
                Ok(()) => ConnectionCheck {
                    ok: true,
                    error: None,
                    idle: None,
                    folders: Vec::new(),
                },
                Err(e) => ConnectionCheck::failed(scrub(&e)),
            },
        })
    }

    pub async fn triggers_list(&self, _: MailRequest) -> Result<TriggersResponse, ApiError> {
        let catalog = self.app().catalog.clone();
        let agents = tokio::task::spawn_blocking(move || catalog.current_agents())
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??;
        let folders = self.mail_status().map(|m| m.folders());
        let running = folders.is_some();
        let folders = folders.unwrap_or_default();
        let mut triggers = Vec::new();
        for (name, spec) in agents {
            // One agent that does not read leaves the others' triggers listed.
            let Ok(spec) = spec else { continue };
            for t in &spec.triggers {
                use waymark_agent::spec::Trigger;
                let (summary, state, email) = match t {
                    Trigger::Manual => ("started by hand".to_string(), "active".to_string(), None),
                    Trigger::Cron { schedule, timezone } => (
                        format!("{schedule} {}", timezone.as_deref().unwrap_or("UTC")),
                        if running { "active" } else { "not_running" }.to_string(),
                        None,
                    ),
                    Trigger::Email(e) => {
                        let live = folders
                            .iter()
                            .find(|f| f.account == e.account && f.folder == e.folder)
                            .cloned();
                        // Another process's watcher (`waymark serve`, the desktop app) writes
                        // what it sees; shown when it looked within the last half hour.
                        let stored = if running {
                            None
                        } else {
                            waymark_agent::triggers::stored_folder_status(
                                &*self.app().catalog.stores().settings,
                                &e.account,
                                &e.folder,
                            )
                            .filter(|s| {
                                let seen = s.last_checked_ms.max(s.last_error_ms).unwrap_or(0);
                                waymark_agent::catalog::now_ms().saturating_sub(seen) < 30 * 60_000
                            })
                        };
                        let status = live.or(stored);
                        let state = match &status {
                            Some(s) => serde_json::to_value(s.state)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_string))
                                .unwrap_or_default(),
                            None if running => "connecting".into(),
                            None => "not_running".into(),
                        };
                        (format!("{}/{}", e.account, e.folder), state, status)
                    }
                    other => (
                        other
                            .webhook()
                            .map(|(_, auth)| auth.as_str().to_string())
                            .unwrap_or_default(),
                        "active".to_string(),
                        None,
                    ),
                };
                let last_delivery = if t.kind() == "webhook" {
                    self.hooks_status().and_then(|h| h.last_delivery(&name))
                } else {
                    None
                };
                triggers.push(TriggerView {
                    agent: name.clone(),
                    kind: t.kind().to_string(),
                    summary,
                    state,
                    email,
                    last_delivery,
                });
            }
        }
        Ok(TriggersResponse { triggers })
    }

    pub async fn runs_settle_send(
        &self,
        req: RunsSettleSendRequest,
    ) -> Result<RunsSettleSendResponse, ApiError> {
        self.require_run(req.run_id).await?;
        use waymark_agent::email::SettleError;
        let (outcome, message_id) = waymark_agent::email::settle_send(
            self.app(),
            req.run_id.into(),
            req.step.as_str(),
            Some(self.actor()),
        )
        .await
        .map_err(|e| match e {
            SettleError::NoStep { .. } => ApiError::not_found(e.to_string()),
            SettleError::NotASend { .. } => ApiError::invalid("step", e.to_string()),
            SettleError::NotInDoubt { .. } => ApiError::conflict(e.to_string()),
            SettleError::Engine(e) => e.into(),
            other => ApiError::new(
                crate::ErrorCode::Upstream,
                waymark_agent::redact::scrub(&other.to_string()),
            ),
        })?;
        Ok(RunsSettleSendResponse {
            outcome: match outcome {
                SendSettlement::Sent => "sent",
                SendSettlement::NotSent => "not_sent",
                SendSettlement::InDoubt => "in_doubt",
            }
            .into(),
            message_id,
        })
    }
}
