//! What starts a run of an agent.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// Started by hand: from the app, the CLI or the API.
    Manual,
    /// Started by an HTTP POST whose body becomes the run's input.
    Webhook {
        /// The *name* of the secret that signs the requests (kept in the secret store or the
        /// environment), never its value.
        secret_ref: String,
    },
    /// Started on a schedule.
    Cron {
        /// A cron expression of 5 fields (minute hour day-of-month month day-of-week) or 6
        /// (with seconds first).
        schedule: String,
        /// An IANA time zone name (`Europe/Paris`); UTC when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timezone: Option<String>,
    },
}

impl Trigger {
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Manual => "manual",
            Trigger::Webhook { .. } => "webhook",
            Trigger::Cron { .. } => "cron",
        }
    }
}
