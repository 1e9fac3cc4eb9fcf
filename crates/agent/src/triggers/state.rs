//! What triggers keep: each cron trigger's last fire, and webhook secrets by name (the
//! reference in the [`TriggerStateStore`]; the value in the secret store).

use std::collections::HashSet;
use std::sync::Arc;

use waymark_engine::{Millis, RunId};

use super::TriggerError;
use crate::secret::Secret;
use crate::secrets::SecretStore;
use crate::stores::TriggerStateStore;

/// Trigger bookkeeping over the app's [`TriggerStateStore`]. Cheap to clone.
#[derive(Clone)]
pub struct TriggerStore {
    state: Arc<dyn TriggerStateStore>,
}

impl std::fmt::Debug for TriggerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TriggerStore").finish_non_exhaustive()
    }
}

impl TriggerStore {
    pub fn new(state: Arc<dyn TriggerStateStore>) -> Self {
        TriggerStore { state }
    }

    /// The last fire of `agent`'s trigger `key`. A trigger seen for the first time starts at
    /// `now`: ticks before it was added are not "missed".
    pub fn last_fire(&self, agent: &str, key: &str, now: Millis) -> Result<Millis, TriggerError> {
        self.state.last_fire(agent, key, now)
    }

    /// Records that the tick `at` fired (never moving backwards: another process may have
    /// recorded a later one).
    pub fn record_fire(
        &self,
        agent: &str,
        key: &str,
        at: Millis,
        now: Millis,
    ) -> Result<(), TriggerError> {
        self.state.record_fire(agent, key, at, now)
    }

    /// Forgets the state of triggers not in `keep` (agents removed, schedules changed), so a
    /// trigger that comes back starts afresh.
    pub fn retain(&self, keep: &HashSet<(String, String)>) -> Result<(), TriggerError> {
        self.state.retain(keep)
    }

    /// The run already started with `idempotency_key`, if any.
    pub fn run_with_key(&self, idempotency_key: &str) -> Result<Option<RunId>, TriggerError> {
        self.state.run_with_key(idempotency_key)
    }

    /// Stores `value` as the webhook secret `name` (what a spec's `secret_ref` names),
    /// replacing the one before.
    pub fn set_webhook_secret(
        &self,
        secrets: &SecretStore,
        name: &str,
        value: &Secret,
    ) -> Result<(), TriggerError> {
        if value.expose().is_empty() {
            return Err(TriggerError::Invalid {
                what: format!("the webhook secret {name} is empty"),
            });
        }
        let new = secrets.put(&format!("webhook-{name}"), value)?;
        let now = waymark_engine::clock::system_now_ms();
        match self.state.set_webhook_secret_ref(name, &new, now) {
            Ok(old) => {
                old.delete_values(secrets);
                Ok(())
            }
            Err(e) => {
                // Do not leave an unreferenced value behind.
                let _ = secrets.delete(&new);
                Err(e)
            }
        }
    }

    /// The webhook secret stored as `name`, if any.
    pub fn webhook_secret(
        &self,
        secrets: &SecretStore,
        name: &str,
    ) -> Result<Option<Secret>, TriggerError> {
        let Some(r) = self.state.webhook_secret_ref(name)? else {
            return Ok(None);
        };
        Ok(Some(secrets.get(&r)?))
    }

    /// Forgets the webhook secret `name`; `false` when none was stored.
    pub fn delete_webhook_secret(
        &self,
        secrets: &SecretStore,
        name: &str,
    ) -> Result<bool, TriggerError> {
        let old = self.state.delete_webhook_secret_ref(name)?;
        old.delete_values(secrets);
        Ok(old.existed)
    }
}
