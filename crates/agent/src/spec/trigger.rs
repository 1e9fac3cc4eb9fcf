//! What starts a run of an agent.

use serde::{Deserialize, Serialize};

use super::email::EmailTrigger;
use crate::triggers::WebhookAuth;

/// A trigger as the spec file writes it. `Trigger` keeps a variant per webhook scheme (so code
/// that builds `Trigger::Webhook { secret_ref }` keeps compiling), while the file says
/// `kind = "webhook"` with an optional `auth`.
// Its TypeScript and JSON Schema are `Trigger`'s: they describe the file's shape.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum TriggerFile {
    /// Started by hand: from the app, the CLI or the API.
    Manual,
    /// Started by an HTTP POST whose body becomes the run's input; `auth` says how the sender
    /// proves it knows the secret (`hmac_sha256` when absent).
    Webhook {
        /// The *name* of the secret (kept in the secret store or the environment), never its
        /// value.
        secret_ref: String,
        // Left out when default, so specs written before `auth` existed keep their hash.
        #[serde(default, skip_serializing_if = "WebhookAuth::is_default")]
        auth: WebhookAuth,
    },
    /// Started on a schedule.
    Cron {
        /// A cron expression of 5 fields (minute hour day-of-month month day-of-week) or 6
        /// (with seconds first).
        schedule: String,
        /// An IANA time zone name (`Europe/Paris`); UTC when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        timezone: Option<String>,
    },
    /// Started by each new message in a mail folder; the message is the run's input.
    Email(EmailTrigger),
}

/// What starts a run of an agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(from = "TriggerFile", into = "TriggerFile")]
// On the wire a trigger is its file form (schemars follows `from`/`into` by itself).
#[ts(as = "TriggerFile")]
pub enum Trigger {
    /// Started by hand: from the app, the CLI or the API.
    Manual,
    /// Started by an HTTP POST whose body becomes the run's input, signed with HMAC-SHA256
    /// (`auth = "hmac_sha256"`, the default).
    Webhook {
        /// The *name* of the secret that signs the requests (kept in the secret store or the
        /// environment), never its value.
        secret_ref: String,
    },
    /// Started by an HTTP POST carrying the secret as a bearer token (`auth = "bearer"`).
    WebhookBearer {
        /// The *name* of the secret, as for [`Trigger::Webhook`].
        secret_ref: String,
    },
    /// Started by a Standard Webhooks delivery (`auth = "standard_webhooks"`): signed id,
    /// timestamp and body; a repeated id starts nothing.
    StandardWebhook {
        /// The *name* of the `whsec_…` secret, as for [`Trigger::Webhook`].
        secret_ref: String,
    },
    /// Started by a GitHub webhook delivery (`auth = "github"`).
    GithubWebhook {
        /// The *name* of the secret, as for [`Trigger::Webhook`].
        secret_ref: String,
    },
    /// Started on a schedule.
    Cron {
        /// A cron expression of 5 fields (minute hour day-of-month month day-of-week) or 6
        /// (with seconds first).
        schedule: String,
        /// An IANA time zone name (`Europe/Paris`); UTC when absent.
        timezone: Option<String>,
    },
    /// Started by each new message in a mail folder (`kind = "email"`).
    Email(EmailTrigger),
}

impl Trigger {
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Webhook { .. }
            | Trigger::WebhookBearer { .. }
            | Trigger::StandardWebhook { .. }
            | Trigger::GithubWebhook { .. } => "webhook",
            Trigger::Cron { .. } => "cron",
            Trigger::Email(_) => "email",
        }
    }

    /// The secret's name and how requests prove they know it, for a webhook trigger.
    pub fn webhook(&self) -> Option<(&str, WebhookAuth)> {
        match self {
            Trigger::Webhook { secret_ref } => Some((secret_ref, WebhookAuth::HmacSha256)),
            Trigger::WebhookBearer { secret_ref } => Some((secret_ref, WebhookAuth::Bearer)),
            Trigger::StandardWebhook { secret_ref } => {
                Some((secret_ref, WebhookAuth::StandardWebhooks))
            }
            Trigger::GithubWebhook { secret_ref } => Some((secret_ref, WebhookAuth::Github)),
            Trigger::Manual | Trigger::Cron { .. } | Trigger::Email(_) => None,
        }
    }

    /// The email trigger's terms, for an email trigger.
    pub fn email(&self) -> Option<&EmailTrigger> {
        match self {
            Trigger::Email(t) => Some(t),
            _ => None,
        }
    }
}

impl From<TriggerFile> for Trigger {
    fn from(t: TriggerFile) -> Self {
        match t {
            TriggerFile::Manual => Trigger::Manual,
            TriggerFile::Webhook {
                secret_ref,
                auth: WebhookAuth::HmacSha256,
            } => Trigger::Webhook { secret_ref },
            TriggerFile::Webhook {
                secret_ref,
                auth: WebhookAuth::Bearer,
            } => Trigger::WebhookBearer { secret_ref },
            TriggerFile::Webhook {
                secret_ref,
                auth: WebhookAuth::StandardWebhooks,
            } => Trigger::StandardWebhook { secret_ref },
            TriggerFile::Webhook {
                secret_ref,
                auth: WebhookAuth::Github,
            } => Trigger::GithubWebhook { secret_ref },
            TriggerFile::Cron { schedule, timezone } => Trigger::Cron { schedule, timezone },
            TriggerFile::Email(t) => Trigger::Email(t),
        }
    }
}

impl From<Trigger> for TriggerFile {
    fn from(t: Trigger) -> Self {
        match t {
            Trigger::Manual => TriggerFile::Manual,
            Trigger::Webhook { secret_ref } => TriggerFile::Webhook {
                secret_ref,
                auth: WebhookAuth::HmacSha256,
            },
            Trigger::WebhookBearer { secret_ref } => TriggerFile::Webhook {
                secret_ref,
                auth: WebhookAuth::Bearer,
            },
            Trigger::StandardWebhook { secret_ref } => TriggerFile::Webhook {
                secret_ref,
                auth: WebhookAuth::StandardWebhooks,
            },
            Trigger::GithubWebhook { secret_ref } => TriggerFile::Webhook {
                secret_ref,
                auth: WebhookAuth::Github,
            },
            Trigger::Cron { schedule, timezone } => TriggerFile::Cron { schedule, timezone },
            Trigger::Email(t) => TriggerFile::Email(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_email_trigger_reads_from_toml_with_defaults() {
        let t: Trigger =
            toml::from_str("kind = \"email\"\naccount = \"sales\"\nmark_seen = true\n")
                .expect("parses");
        let email = t.email().expect("an email trigger");
        assert_eq!(email.folder, "INBOX");
        assert!(email.mark_seen && !email.unseen_only);
        assert_eq!(email.poll_secs(), super::super::email::DEFAULT_POLL_SECS);
        assert_eq!(t.kind(), "email");
        let json = serde_json::to_string(&t).expect("json");
        assert_eq!(
            json,
            r#"{"kind":"email","account":"sales","folder":"INBOX","mark_seen":true}"#
        );
        assert!(
            toml::from_str::<Trigger>("kind = \"email\"\naccount = \"a\"\nfolderr = \"x\"\n")
                .is_err()
        );
    }

    #[test]
    fn webhook_auth_round_trips_and_defaults_to_hmac() {
        let hmac: Trigger =
            serde_json::from_str(r#"{"kind":"webhook","secret_ref":"S"}"#).expect("parses");
        assert_eq!(
            hmac,
            Trigger::Webhook {
                secret_ref: "S".into()
            }
        );
        assert_eq!(
            serde_json::to_string(&hmac).ok().as_deref(),
            Some(r#"{"kind":"webhook","secret_ref":"S"}"#)
        );
        let bearer: Trigger =
            serde_json::from_str(r#"{"kind":"webhook","secret_ref":"S","auth":"bearer"}"#)
                .expect("parses");
        assert_eq!(bearer.webhook(), Some(("S", WebhookAuth::Bearer)));
        assert_eq!(
            serde_json::to_string(&bearer).ok().as_deref(),
            Some(r#"{"kind":"webhook","secret_ref":"S","auth":"bearer"}"#)
        );
        for (auth, variant) in [
            (
                "standard_webhooks",
                Trigger::StandardWebhook {
                    secret_ref: "S".into(),
                },
            ),
            (
                "github",
                Trigger::GithubWebhook {
                    secret_ref: "S".into(),
                },
            ),
        ] {
            let text = format!(r#"{{"kind":"webhook","secret_ref":"S","auth":"{auth}"}}"#);
            let parsed: Trigger = serde_json::from_str(&text).expect("parses");
            assert_eq!(parsed, variant);
            assert_eq!(serde_json::to_string(&parsed).ok(), Some(text));
        }
        // A spec file written before the new modes (TOML, no `auth`) keeps its meaning.
        let old: toml::Value =
            toml::from_str("kind = \"webhook\"\nsecret_ref = \"S\"\n").expect("toml");
        assert_eq!(
            old.try_into::<Trigger>()
                .ok()
                .and_then(|t| t.webhook().map(|(_, a)| a)),
            Some(WebhookAuth::HmacSha256)
        );
        assert!(serde_json::from_str::<Trigger>(
            r#"{"kind":"webhook","secret_ref":"S","auth":"basic"}"#
        )
        .is_err());
    }
}
