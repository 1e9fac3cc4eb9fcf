//! A mail account's settings (never its secret) and the resolved credential used to log in.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::error::{one_line, MailError};

/// Longest secret reference or token command accepted: they are names and command lines.
pub const MAX_REF_LEN: usize = 4096;
/// A token command's output beyond this is not a token.
const MAX_TOKEN_BYTES: u64 = 64 * 1024;
/// How much of a failed token command's stderr the error keeps.
const STDERR_TAIL_CHARS: usize = 500;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct MailAccount {
    pub name: String,
    /// The From address of what the account sends.
    pub address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    pub imap: ImapSettings,
    pub smtp: SmtpSettings,
    pub auth: MailAuth,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub user: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// Empty: send without AUTH (a relay that trusts the network).
    pub user: String,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
    /// Plain connection upgraded by STARTTLS; refused if the server does not offer it.
    StartTls,
    /// No encryption: only to a loopback host (a local bridge or test server).
    Plain,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MailAuth {
    /// The name of a secret kept elsewhere (the secrets store), never the password itself.
    Password { secret_ref: String },
    /// A command that prints an OAuth2 access token (e.g. a helper that refreshes it).
    Xoauth2 { token_command: String },
}

impl MailAccount {
    pub fn validate(&self) -> Result<(), MailError> {
        check_name("account name", &self.name)?;
        check_email(&self.address)?;
        if let Some(display) = &self.display_name {
            if display.chars().count() > 200 || display.chars().any(char::is_control) {
                return Err(MailError::invalid(
                    "display name: at most 200 characters, no control characters",
                ));
            }
        }
        self.imap.validate()?;
        self.smtp.validate()?;
        match &self.auth {
            MailAuth::Password { secret_ref } => check_ref("secret_ref", secret_ref),
            MailAuth::Xoauth2 { token_command } => check_ref("token_command", token_command),
        }
    }
}

impl ImapSettings {
    pub fn validate(&self) -> Result<(), MailError> {
        check_server("IMAP", &self.host, self.port, self.security)?;
        check_user("IMAP user", &self.user, false)
    }
}

impl SmtpSettings {
    pub fn validate(&self) -> Result<(), MailError> {
        check_server("SMTP", &self.host, self.port, self.security)?;
        check_user("SMTP user", &self.user, true)
    }
}

fn check_name(what: &str, name: &str) -> Result<(), MailError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    if name.is_empty() || name.len() > 64 || !name.chars().all(ok_char) {
        return Err(MailError::invalid(format!(
            "{what} {name:?}: 1 to 64 characters from A-Z a-z 0-9 _ . -"
        )));
    }
    Ok(())
}

fn check_user(what: &str, user: &str, may_be_empty: bool) -> Result<(), MailError> {
    if (!may_be_empty && user.is_empty()) || user.len() > 320 || user.chars().any(char::is_control)
    {
        return Err(MailError::invalid(format!(
            "{what}: {}at most 320 characters, no control characters",
            if may_be_empty { "" } else { "required, " }
        )));
    }
    Ok(())
}

fn check_ref(what: &str, value: &str) -> Result<(), MailError> {
    if value.trim().is_empty() || value.len() > MAX_REF_LEN || value.contains('\0') {
        return Err(MailError::invalid(format!(
            "{what}: required, at most {MAX_REF_LEN} bytes, no NUL"
        )));
    }
    Ok(())
}

fn check_server(proto: &str, host: &str, port: u16, security: Security) -> Result<(), MailError> {
    if host.is_empty()
        || host.len() > 253
        || host.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(MailError::invalid(format!(
            "{proto} host {host:?}: required, no spaces or control characters"
        )));
    }
    if port == 0 {
        return Err(MailError::invalid(format!("{proto} port: must not be 0")));
    }
    if security == Security::Plain && !is_loopback(host) {
        return Err(MailError::invalid(format!(
            "{proto} security \"plain\" for {host}: unencrypted mail is allowed only to a loopback \
             host (localhost, 127.0.0.0/8, ::1); use \"tls\" or \"starttls\""
        )));
    }
    Ok(())
}

/// Loopback by name or address: the only hosts where a password may travel unencrypted.
pub fn is_loopback(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A single @ between a non-empty local part and a domain, nothing that could break a header.
pub(crate) fn check_email(address: &str) -> Result<(), MailError> {
    let bad = || MailError::invalid(format!("email address {address:?}"));
    if address.len() > 254
        || address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | ','))
    {
        return Err(bad());
    }
    let (local, domain) = address.rsplit_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || local.contains('@')
        || domain.is_empty()
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Err(bad());
    }
    Ok(())
}

/// The resolved secret: kept in memory only, printed redacted, never serialized.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Password(String),
    Xoauth2Token(String),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Password(_) => f.write_str("Password(<redacted>)"),
            Credential::Xoauth2Token(_) => f.write_str("Xoauth2Token(<redacted>)"),
        }
    }
}

/// Runs `sh -c command` and takes its trimmed stdout as an OAuth2 access token.
pub async fn xoauth2_token(command: &str, timeout: Duration) -> Result<Credential, MailError> {
    check_ref("token_command", command)?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        // Its own process group, so a timeout also ends whatever the shell started.
        .process_group(0)
        .spawn()
        .map_err(|e| MailError::TokenCommand {
            message: format!("could not start sh: {e}"),
        })?;
    let pid = child.id();
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(MailError::TokenCommand {
            message: "no pipes to the command".into(),
        });
    };
    let run = async {
        let mut out = Vec::new();
        let mut limited = stdout.take(MAX_TOKEN_BYTES + 1);
        // stdout is bounded: a runaway command fills the pipe, blocks, and meets the timeout.
        // stderr is drained to the end (a chatty helper must not block) keeping its tail.
        let (r_out, r_err) = tokio::join!(limited.read_to_end(&mut out), stderr_tail(stderr));
        r_out?;
        let err = r_err?;
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, out, err))
    };
    let (status, out, err) = match tokio::time::timeout(timeout, run).await {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => {
            return Err(MailError::TokenCommand {
                message: format!("reading its output: {e}"),
            })
        }
        Err(_) => {
            kill_group(pid);
            return Err(MailError::Timeout {
                what: format!("token command after {} s", timeout.as_secs_f32()),
            });
        }
    };
    let stderr_tail = tail(&String::from_utf8_lossy(&err), STDERR_TAIL_CHARS);
    if !status.success() {
        return Err(MailError::TokenCommand {
            message: format!("exited with {status}: {stderr_tail}"),
        });
    }
    if out.len() as u64 > MAX_TOKEN_BYTES {
        return Err(MailError::TokenCommand {
            message: format!("printed more than {MAX_TOKEN_BYTES} bytes"),
        });
    }
    let token = String::from_utf8(out)
        .map_err(|_| MailError::TokenCommand {
            message: "printed something that is not UTF-8".into(),
        })?
        .trim()
        .to_string();
    if token.is_empty() {
        return Err(MailError::TokenCommand {
            message: format!("printed no token: {stderr_tail}"),
        });
    }
    if token.chars().any(char::is_control) {
        return Err(MailError::TokenCommand {
            message: "the token holds control characters (one line expected)".into(),
        });
    }
    Ok(Credential::Xoauth2Token(token))
}

async fn stderr_tail(mut stderr: tokio::process::ChildStderr) -> std::io::Result<Vec<u8>> {
    const KEEP: usize = 8 * 1024;
    let mut tail = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stderr.read(&mut buf).await?;
        if n == 0 {
            return Ok(tail);
        }
        tail.extend_from_slice(&buf[..n]);
        if tail.len() > 2 * KEEP {
            tail.drain(..tail.len() - KEEP);
        }
    }
}

fn kill_group(pid: Option<u32>) {
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    // SAFETY: kill(2) with a negative pid signals the process group we created for this child;
    // it touches no memory of ours.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
}

fn tail(text: &str, max_chars: usize) -> String {
    let text = text.trim();
    let count = text.chars().count();
    let start = count.saturating_sub(max_chars);
    let cut: String = text.chars().skip(start).collect();
    one_line(&cut, max_chars)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> MailAccount {
        MailAccount {
            name: "work".into(),
            address: "me@example.com".into(),
            display_name: Some("Me".into()),
            imap: ImapSettings {
                host: "imap.example.com".into(),
                port: 993,
                security: Security::Tls,
                user: "me@example.com".into(),
            },
            smtp: SmtpSettings {
                host: "smtp.example.com".into(),
                port: 587,
                security: Security::StartTls,
                user: "me@example.com".into(),
            },
            auth: MailAuth::Password {
                secret_ref: "mail-work".into(),
            },
        }
    }

    #[test]
    fn a_good_account_validates() {
        account().validate().expect("valid");
    }

    #[test]
    fn plain_is_allowed_only_to_loopback() {
        for host in [
            "localhost",
            "127.0.0.1",
            "127.8.9.10",
            "::1",
            "[::1]",
            "LOCALHOST",
        ] {
            let mut a = account();
            a.imap.host = host.into();
            a.imap.security = Security::Plain;
            a.validate().unwrap_or_else(|e| panic!("{host}: {e}"));
        }
        for host in [
            "imap.example.com",
            "10.0.0.1",
            "128.0.0.1",
            "localhost.evil.com",
            "::2",
        ] {
            let mut a = account();
            a.smtp.host = host.into();
            a.smtp.security = Security::Plain;
            let err = a.validate().expect_err(host).to_string();
            assert!(err.contains("loopback"), "{host}: {err}");
            assert!(err.contains("SMTP"), "{err}");
        }
    }

    #[test]
    fn bad_fields_are_refused() {
        type Change = Box<dyn Fn(&mut MailAccount)>;
        let cases: Vec<Change> = vec![
            Box::new(|a| a.name = String::new()),
            Box::new(|a| a.name = "a".repeat(65)),
            Box::new(|a| a.name = "has space".into()),
            Box::new(|a| a.name = "slash/".into()),
            Box::new(|a| a.address = "nobody".into()),
            Box::new(|a| a.address = "a@b@c".into()),
            Box::new(|a| a.address = "me@example.com\r\nBcc: x@y".into()),
            Box::new(|a| a.address = "@example.com".into()),
            Box::new(|a| a.imap.host = String::new()),
            Box::new(|a| a.imap.host = "imap example.com".into()),
            Box::new(|a| a.imap.host = "imap\u{7}.com".into()),
            Box::new(|a| a.imap.port = 0),
            Box::new(|a| a.smtp.port = 0),
            Box::new(|a| a.imap.user = String::new()),
            Box::new(|a| {
                a.auth = MailAuth::Password {
                    secret_ref: String::new(),
                }
            }),
            Box::new(|a| {
                a.auth = MailAuth::Xoauth2 {
                    token_command: "x".repeat(MAX_REF_LEN + 1),
                }
            }),
        ];
        for (n, change) in cases.iter().enumerate() {
            let mut a = account();
            change(&mut a);
            let err = a.validate().expect_err(&format!("case {n}"));
            assert_eq!(err.kind(), "invalid", "case {n}");
            assert!(!err.is_retryable());
        }
    }

    #[test]
    fn serde_shape() {
        let json = serde_json::to_value(account()).expect("json");
        assert_eq!(json["imap"]["security"], "tls");
        assert_eq!(json["smtp"]["security"], "starttls");
        assert_eq!(json["auth"]["kind"], "password");
        assert_eq!(json["auth"]["secret_ref"], "mail-work");
        let back: MailAccount = serde_json::from_value(json).expect("back");
        assert_eq!(back, account());
        let plain: Security = serde_json::from_str("\"plain\"").expect("plain");
        assert_eq!(plain, Security::Plain);
    }

    #[test]
    fn credentials_print_redacted() {
        let c = Credential::Password("hunter2".into());
        assert!(!format!("{c:?}").contains("hunter2"));
        let t = Credential::Xoauth2Token("ya29.secret".into());
        assert!(!format!("{t:?}").contains("ya29"));
    }

    #[tokio::test]
    async fn token_command_outcomes() {
        let t = Duration::from_secs(10);
        let ok = xoauth2_token("printf '  tok-123 \\n'", t)
            .await
            .expect("token");
        assert_eq!(ok, Credential::Xoauth2Token("tok-123".into()));

        let err = xoauth2_token("echo nope >&2; exit 3", t)
            .await
            .expect_err("exit 3");
        let text = err.to_string();
        assert!(text.contains("nope") && text.contains('3'), "{text}");
        assert_eq!(err.kind(), "token_command");

        let err = xoauth2_token("true", t).await.expect_err("empty");
        assert!(err.to_string().contains("no token"), "{err}");

        let started = std::time::Instant::now();
        let err = xoauth2_token("sleep 30", Duration::from_millis(300))
            .await
            .expect_err("timeout");
        assert_eq!(err.kind(), "timeout");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
