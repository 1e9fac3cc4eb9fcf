//! What triggers keep: each cron trigger's last fire, webhook secrets by name (references),
//! and the delivery bookkeeping webhooks read (which run an idempotency key started).

use std::collections::HashSet;

use waymark_engine::{Millis, RunId};

use super::Removed;
use crate::secrets::SecretRef;
use crate::triggers::TriggerError;

/// Trigger state.
pub trait TriggerStateStore: Send + Sync {
    /// The last fire of `agent`'s trigger `key`; a trigger seen for the first time is
    /// recorded as having fired at `now` (ticks before it existed are not "missed").
    fn last_fire(&self, agent: &str, key: &str, now: Millis) -> Result<Millis, TriggerError>;

    /// Records that the tick `at` fired. Never moves backwards: another process may have
    /// recorded a later one.
    fn record_fire(
        &self,
        agent: &str,
        key: &str,
        at: Millis,
        now: Millis,
    ) -> Result<(), TriggerError>;

    /// Forgets every trigger not in `keep` (agent, key), in one write.
    fn retain(&self, keep: &HashSet<(String, String)>) -> Result<(), TriggerError>;

    /// The run started with `idempotency_key` (the engine's runs: a webhook delivery id is
    /// its run's key), if any.
    fn run_with_key(&self, idempotency_key: &str) -> Result<Option<RunId>, TriggerError>;

    /// Makes `secret` the webhook secret `name`; what it replaced.
    fn set_webhook_secret_ref(
        &self,
        name: &str,
        secret: &SecretRef,
        now_ms: i64,
    ) -> Result<Removed, TriggerError>;

    /// The webhook secret `name`'s reference ([`TriggerError::Corrupt`] when the row does not
    /// hold one).
    fn webhook_secret_ref(&self, name: &str) -> Result<Option<SecretRef>, TriggerError>;

    fn delete_webhook_secret_ref(&self, name: &str) -> Result<Removed, TriggerError>;
}
