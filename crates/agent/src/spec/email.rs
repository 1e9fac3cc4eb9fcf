//! Email in a spec: the trigger that starts a run per incoming message, and the terms of the
//! `send_email` built-in (which account sends, who may receive, whether a person approves).

use serde::{Deserialize, Serialize};

use super::error::Problem;

/// The folder watched when a trigger names none.
pub const DEFAULT_FOLDER: &str = "INBOX";
/// How often a folder is read when its server has no IDLE (or between IDLE renewals).
pub const DEFAULT_POLL_SECS: u64 = 60;
pub const MIN_POLL_SECS: u64 = 5;
pub const MAX_POLL_SECS: u64 = 24 * 3600;
/// A mail account's name: what specs and the CLI call it.
pub const MAX_ACCOUNT_NAME: usize = 64;
const MAX_FILTER: usize = 256;
const MAX_FOLDER: usize = 255;
const MAX_ALLOWED_RECIPIENTS: usize = 200;

/// Starts one run per new message in a mail folder (`kind = "email"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct EmailTrigger {
    /// The mail account's name (Settings → Mail, `waymark mail account add`).
    pub account: String,
    /// `INBOX` when absent.
    #[serde(default = "default_folder")]
    pub folder: String,
    /// Only messages whose sender's address contains this text (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub from: Option<String>,
    /// Only messages whose subject contains this text (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub subject_contains: Option<String>,
    /// Only messages not yet marked as read when they arrive.
    #[serde(default, skip_serializing_if = "is_false")]
    pub unseen_only: bool,
    /// Mark a handled message as read.
    #[serde(default, skip_serializing_if = "is_false")]
    pub mark_seen: bool,
    /// Move a handled message to this folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub move_to: Option<String>,
    /// How often to look when the server cannot tell (no IDLE); 60 s when absent. A server
    /// with IDLE says at once, whatever this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub poll_secs: Option<u64>,
}

fn default_folder() -> String {
    DEFAULT_FOLDER.to_string()
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl EmailTrigger {
    pub fn poll_secs(&self) -> u64 {
        self.poll_secs
            .unwrap_or(DEFAULT_POLL_SECS)
            .clamp(MIN_POLL_SECS, MAX_POLL_SECS)
    }

    /// Whether a message with this sender and subject is this trigger's (`seen`: it was
    /// already read when it arrived).
    pub fn matches(&self, sender: &str, subject: &str, seen: bool) -> bool {
        let contains = |hay: &str, needle: &Option<String>| {
            needle
                .as_deref()
                .is_none_or(|n| hay.to_lowercase().contains(&n.to_lowercase()))
        };
        !(self.unseen_only && seen)
            && contains(sender, &self.from)
            && contains(subject, &self.subject_contains)
    }

    pub(super) fn check(&self, field: &str, out: &mut Vec<Problem>) {
        if !is_account_name(&self.account) {
            out.push(Problem::new(
                format!("{field}.account"),
                ACCOUNT_NAME_RULE.to_string(),
            ));
        }
        check_folder(&format!("{field}.folder"), &self.folder, out);
        if let Some(to) = &self.move_to {
            check_folder(&format!("{field}.move_to"), to, out);
            if to == &self.folder {
                out.push(Problem::new(
                    format!("{field}.move_to"),
                    "must differ from the folder being watched",
                ));
            }
        }
        for (name, value) in [
            ("from", &self.from),
            ("subject_contains", &self.subject_contains),
        ] {
            if let Some(v) = value {
                if v.is_empty() || v.chars().count() > MAX_FILTER || v.chars().any(char::is_control)
                {
                    out.push(Problem::new(
                        format!("{field}.{name}"),
                        format!("must be 1 to {MAX_FILTER} characters of text"),
                    ));
                }
            }
        }
        if let Some(p) = self.poll_secs {
            if !(MIN_POLL_SECS..=MAX_POLL_SECS).contains(&p) {
                out.push(Problem::new(
                    format!("{field}.poll_secs"),
                    format!("must be {MIN_POLL_SECS} to {MAX_POLL_SECS} seconds (got {p})"),
                ));
            }
        }
    }
}

/// The terms of the `send_email` tool (`[email]` in the spec).
#[derive(
    Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct EmailSettings {
    /// The account that sends; when absent, the account of the agent's email trigger.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub account: Option<String>,
    /// Who may receive mail besides the participants of the message that started the run:
    /// addresses (`ann@example.com`) or whole domains (`@example.com`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_recipients: Vec<String>,
    /// Send without a person's approval. Off by default: each email waits for review.
    #[serde(default, skip_serializing_if = "is_false")]
    pub send_without_approval: bool,
}

impl EmailSettings {
    /// Whether the allowlist lets `address` (lowercased) receive mail.
    pub fn allows(&self, address: &str) -> bool {
        let address = address.to_lowercase();
        self.allow_recipients.iter().any(|a| {
            let a = a.to_lowercase();
            if a.starts_with('@') {
                address.ends_with(&a)
            } else {
                address == a
            }
        })
    }

    pub(super) fn check(&self, out: &mut Vec<Problem>) {
        if let Some(account) = &self.account {
            if !is_account_name(account) {
                out.push(Problem::new("email.account", ACCOUNT_NAME_RULE.to_string()));
            }
        }
        if self.allow_recipients.len() > MAX_ALLOWED_RECIPIENTS {
            out.push(Problem::new(
                "email.allow_recipients",
                format!("may list at most {MAX_ALLOWED_RECIPIENTS} addresses or domains"),
            ));
        }
        for (i, a) in self.allow_recipients.iter().enumerate() {
            let (local, domain) = a.split_once('@').unwrap_or_default();
            let ok = a.len() <= 254
                && !domain.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !local.contains(char::is_whitespace)
                && !a
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c));
            if !ok {
                out.push(Problem::new(
                    format!("email.allow_recipients[{i}]"),
                    format!("must be an address (ann@example.com) or a domain (@example.com), got {a:?}"),
                ));
            }
        }
    }
}

const ACCOUNT_NAME_RULE: &str =
    "must name a mail account: 1 to 64 letters, digits, `_`, `-` or `.`";

/// A mail account's name: `[A-Za-z0-9_.-]{1,64}`.
pub fn is_account_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ACCOUNT_NAME
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn check_folder(field: &str, folder: &str, out: &mut Vec<Problem>) {
    if folder.is_empty() || folder.len() > MAX_FOLDER || folder.chars().any(char::is_control) {
        out.push(Problem::new(
            field,
            format!("must be a folder name of 1 to {MAX_FOLDER} bytes without control characters"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger() -> EmailTrigger {
        EmailTrigger {
            account: "sales".into(),
            folder: DEFAULT_FOLDER.into(),
            from: Some("Acme.test".into()),
            subject_contains: None,
            unseen_only: true,
            mark_seen: true,
            move_to: None,
            poll_secs: None,
        }
    }

    #[test]
    fn filters_are_case_insensitive_and_unseen_only_skips_read_mail() {
        let t = trigger();
        assert!(t.matches("ann@ACME.test", "Pricing", false));
        assert!(!t.matches("ann@acme.test", "Pricing", true));
        assert!(!t.matches("bob@other.test", "Pricing", false));
        let t = EmailTrigger {
            subject_contains: Some("pricing".into()),
            ..trigger()
        };
        assert!(t.matches("ann@acme.test", "Re: PRICING question", false));
        assert!(!t.matches("ann@acme.test", "Hello", false));
    }

    #[test]
    fn bad_values_are_named() {
        let mut out = Vec::new();
        EmailTrigger {
            account: "no spaces".into(),
            folder: String::new(),
            move_to: Some(String::new()),
            poll_secs: Some(1),
            from: Some("x\u{0}".into()),
            ..trigger()
        }
        .check("triggers[0]", &mut out);
        let fields: Vec<&str> = out.iter().map(|p| p.field.as_str()).collect();
        for f in [
            "triggers[0].account",
            "triggers[0].folder",
            "triggers[0].move_to",
            "triggers[0].poll_secs",
            "triggers[0].from",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn the_allowlist_takes_addresses_and_domains() {
        let s = EmailSettings {
            allow_recipients: vec!["Boss@Example.com".into(), "@partner.test".into()],
            ..Default::default()
        };
        assert!(s.allows("boss@example.com"));
        assert!(s.allows("anyone@PARTNER.test"));
        assert!(!s.allows("anyone@notpartner.test.evil"));
        assert!(!s.allows("other@example.com"));
        let mut out = Vec::new();
        EmailSettings {
            allow_recipients: vec!["nobody".into(), "a@b".into(), "x@y.test, z@w.test".into()],
            ..Default::default()
        }
        .check(&mut out);
        assert_eq!(out.len(), 3, "{out:?}");
    }
}
