//! What starts agent runs without a person: cron schedules, webhooks and email.
//!
//! - [`CronScheduler`]: a task that fires each saved agent's cron triggers on the engine's
//!   clock. Each tick starts a run with the idempotency key `cron:<agent>:<scheduled_ms>`, so
//!   two processes (or a restart) never start a tick twice, and records the fire in the
//!   database file, so a restart knows where it was. Ticks missed while no scheduler ran fire
//!   once, as the latest of them.
//! - Webhooks: [`verify_webhook`], [`webhook_run_key`] and [`WebhookReceiver`] (or
//!   [`start_webhook_run`]) for the HTTP server's `POST /hooks/{agent}`; [`WebhookError::kind`]
//!   and [`WebhookError::http_status`] say how to answer. Standard Webhooks and GitHub
//!   deliveries are replay-safe: their signed delivery id is the run's idempotency key.

mod cron;
mod email;
mod schedule;
mod state;
mod webhook;

use serde::{Deserialize, Serialize};

pub use cron::{cron_run_input, cron_run_key, CronEvent, CronScheduler, POLL_INTERVAL};
pub use email::{
    email_run_key, stored_folder_status, EmailEvent, EmailWatchOptions, EmailWatcher, FolderStatus,
    WatchState,
};
pub use schedule::{parse_time_zone, CronSchedule, ScheduleError};
pub use state::TriggerStore;
pub use webhook::verify::{
    generate_webhook_secret, precheck_webhook, verify_webhook, Delivery, AUTHORIZATION_HEADER,
    GITHUB_DELIVERY_HEADER, GITHUB_EVENT_HEADER, GITHUB_SIGNATURE_HEADER, IDEMPOTENCY_HEADER,
    MAX_IDEMPOTENCY_KEY_LEN, SIGNATURE_HEADER, TIMESTAMP_TOLERANCE_SECS, WEBHOOK_ID_HEADER,
    WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER,
};
pub use webhook::{
    start_webhook_run, webhook_input, webhook_run_key, Delivered, WebhookError, WebhookReceiver,
};

use crate::secrets::SecretError;

/// How a webhook request proves it knows the trigger's secret (`auth` in the spec). A spec
/// without `auth` means `hmac_sha256`, as it did before the other modes existed (so saved
/// specs keep their meaning and hash); new triggers are written with `standard_webhooks`.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ts_rs::TS,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WebhookAuth {
    /// `X-Waymark-Signature: sha256=<hex of HMAC-SHA256(secret, body)>`: the secret never
    /// travels, and the body cannot be changed on the way; but a captured request can be
    /// sent again (only an `Idempotency-Key` makes the repeat start nothing).
    #[default]
    HmacSha256,
    /// `Authorization: Bearer <secret>`: for senders that cannot sign. Not replay-safe either.
    Bearer,
    /// Standard Webhooks (standardwebhooks.com): `webhook-id`, `webhook-timestamp` (within
    /// five minutes) and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
    /// with a `whsec_<base64>` secret. A repeated id starts nothing.
    StandardWebhooks,
    /// GitHub: `X-Hub-Signature-256: sha256=<hex of HMAC-SHA256(secret, body)>`; the
    /// `X-GitHub-Delivery` id starts one run at most, and the `ping` event none.
    Github,
}

impl WebhookAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookAuth::HmacSha256 => "hmac_sha256",
            WebhookAuth::Bearer => "bearer",
            WebhookAuth::StandardWebhooks => "standard_webhooks",
            WebhookAuth::Github => "github",
        }
    }

    pub(crate) fn is_default(&self) -> bool {
        *self == WebhookAuth::default()
    }
}

/// Trigger bookkeeping failed (the database or the secret store).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TriggerError {
    #[error("trigger state: {0}")]
    Database(#[from] crate::stores::DbError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("trigger state is damaged: {what}")]
    Corrupt { what: String },
    #[error("{what}")]
    Invalid { what: String },
}

impl TriggerError {
    /// Whether the database was only busy or locked: the same call may succeed shortly.
    pub fn is_transient(&self) -> bool {
        matches!(self, TriggerError::Database(e) if e.is_transient())
    }
}
