//! `waymark mail account ...` and `waymark triggers ...`, through the API. A password is read
//! from stdin (or named as an environment variable) and goes to the secret store; nothing
//! prints it.

use std::io::Read as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use waymark_api::{
    ImapSettings, MailAccount, MailAccountNameRequest, MailAccountSaveRequest, MailAuth,
    MailRequest, Security, SmtpSettings, TriggerView,
};

use super::{api_error, open_api};
use crate::cli::{MailAccountAddArgs, MailAccountCommand, TriggersCommand};
use crate::output::{emit, json};

fn security(flag: &str, text: &str) -> anyhow::Result<Security> {
    Ok(match text {
        "tls" => Security::Tls,
        "starttls" => Security::StartTls,
        "plain" => Security::Plain,
        other => bail!("{flag} must be tls, starttls or plain (got {other:?})"),
    })
}

fn account_of(a: &MailAccountAddArgs) -> anyhow::Result<MailAccount> {
    let imap_security = security("--imap-security", &a.imap_security)?;
    let smtp_security = security("--smtp-security", &a.smtp_security)?;
    let user = a.user.clone().unwrap_or_else(|| a.address.clone());
    Ok(MailAccount {
        name: a.name.clone(),
        address: a.address.clone(),
        display_name: a.display_name.clone(),
        imap: ImapSettings {
            host: a.imap_host.clone(),
            port: a.imap_port.unwrap_or(match imap_security {
                Security::Tls => 993,
                _ => 143,
            }),
            security: imap_security,
            user: user.clone(),
        },
        smtp: SmtpSettings {
            host: a.smtp_host.clone(),
            port: a.smtp_port.unwrap_or(match smtp_security {
                Security::Tls => 465,
                Security::StartTls => 587,
                Security::Plain => 25,
            }),
            security: smtp_security,
            user: a.smtp_user.clone().unwrap_or(user),
        },
        auth: match &a.xoauth2_command {
            Some(command) => MailAuth::Xoauth2 {
                token_command: command.clone(),
            },
            None => MailAuth::Password {
                secret_ref: String::new(),
            },
        },
    })
}

pub async fn account(db: &Path, c: MailAccountCommand) -> anyhow::Result<ExitCode> {
    let api = open_api(db).await?;
    match c {
        MailAccountCommand::Add(a) => {
            let account = account_of(&a)?;
            let password = if a.xoauth2_command.is_some()
                || a.password_env.is_some()
                || a.keep_password
            {
                None
            } else {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("reading the password from stdin")?;
                let password = text.trim_end_matches(['\r', '\n']).to_string();
                if password.is_empty() {
                    bail!("no password on stdin: pipe it in (e.g. `secret-tool lookup mail sales | waymark mail account add ...`), or give --password-env VAR, --xoauth2-command CMD or --keep-password");
                }
                Some(password)
            };
            api.mail_account_save(MailAccountSaveRequest {
                account,
                password,
                password_env: a.password_env.clone(),
            })
            .await
            .map_err(api_error)?;
            emit(&format!(
                "saved mail account {} (test it: waymark mail account test {})",
                a.name, a.name
            ))?;
        }
        MailAccountCommand::List(a) => {
            let accounts = api
                .mail_accounts_list(MailRequest {})
                .await
                .map_err(api_error)?
                .accounts;
            if a.json {
                emit(&json(&accounts)?)?;
            } else if accounts.is_empty() {
                emit("no mail accounts (add one: waymark mail account add NAME --address ... --imap-host ... --smtp-host ...)")?;
            } else {
                let lines: Vec<String> = accounts
                    .iter()
                    .map(|v| {
                        let a = &v.account;
                        format!(
                            "{}  {}  imap {}:{} ({:?})  smtp {}:{} ({:?})  password: {}{}",
                            a.name,
                            a.address,
                            a.imap.host,
                            a.imap.port,
                            a.imap.security,
                            a.smtp.host,
                            a.smtp.port,
                            a.smtp.security,
                            v.password,
                            v.password_env
                                .as_deref()
                                .map(|e| format!(" ({e})"))
                                .unwrap_or_default()
                        )
                    })
                    .collect();
                emit(&lines.join("\n"))?;
            }
        }
        MailAccountCommand::Test(a) => {
            let checked = api
                .mail_account_test(MailAccountNameRequest {
                    name: a.name.clone(),
                })
                .await
                .map_err(api_error)?;
            if a.json {
                emit(&json(&checked)?)?;
            } else {
                let line = |server: &str, c: &waymark_api::ConnectionCheck| match (&c.error, c.idle)
                {
                    (Some(e), _) => format!("{server}: failed: {e}"),
                    (None, Some(true)) => format!(
                        "{server}: ok (IDLE: new mail is seen at once; {} folders)",
                        c.folders.len()
                    ),
                    (None, Some(false)) => format!(
                        "{server}: ok (no IDLE: folders are polled; {} folders)",
                        c.folders.len()
                    ),
                    (None, None) => format!("{server}: ok"),
                };
                emit(&format!(
                    "{}\n{}",
                    line("imap", &checked.imap),
                    line("smtp", &checked.smtp)
                ))?;
            }
            if !(checked.imap.ok && checked.smtp.ok) {
                return Ok(ExitCode::FAILURE);
            }
        }
        MailAccountCommand::Rm(a) => {
            let deleted = api
                .mail_account_delete(MailAccountNameRequest {
                    name: a.name.clone(),
                })
                .await
                .map_err(api_error)?
                .deleted;
            if !deleted {
                bail!("no mail account is named {:?}", a.name);
            }
            emit(&format!("removed mail account {}", a.name))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn triggers(db: &Path, c: TriggersCommand) -> anyhow::Result<ExitCode> {
    let api = open_api(db).await?;
    let (a, with_state) = match c {
        TriggersCommand::List(a) => (a, false),
        TriggersCommand::Status(a) => (a, true),
    };
    let triggers = api
        .triggers_list(MailRequest {})
        .await
        .map_err(api_error)?
        .triggers;
    if a.json {
        emit(&json(&triggers)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if triggers.is_empty() {
        emit("no triggers")?;
        return Ok(ExitCode::SUCCESS);
    }
    let lines: Vec<String> = triggers.iter().map(|t| line(t, with_state)).collect();
    emit(&lines.join("\n"))?;
    Ok(ExitCode::SUCCESS)
}

fn line(t: &TriggerView, with_state: bool) -> String {
    let mut out = format!("{}  {}  {}", t.agent, t.kind, t.summary);
    if with_state {
        out.push_str(&format!("  {}", t.state));
        if let Some(e) = &t.email {
            if let Some(at) = e.last_checked_ms {
                out.push_str(&format!("  checked {}", crate::output::time(at)));
            }
            if let Some(err) = &e.last_error {
                out.push_str(&format!("  last error: {err}"));
            }
        }
        if let Some(d) = &t.last_delivery {
            out.push_str(&format!("  last delivery: {}", d.status));
        }
    }
    out
}
