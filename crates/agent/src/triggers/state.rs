//! What triggers keep in the database file: each cron trigger's last fire, and webhook secrets
//! by name (the reference; the value is in the secret store). The catalog's migrations create
//! the tables; this is a connection of its own so the catalog's API stays as it is.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use waymark_engine::{Millis, RunId};

use super::TriggerError;
use crate::secret::Secret;
use crate::secrets::{SecretRef, SecretStore};

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Trigger bookkeeping in the app's SQLite file. Cheap to clone.
#[derive(Clone)]
pub struct TriggerStore {
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for TriggerStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TriggerStore").finish_non_exhaustive()
    }
}

impl TriggerStore {
    /// Opens the database at `db`, whose catalog tables are already migrated (by
    /// [`crate::catalog::Catalog::open`], which `AgentApp::open` runs first).
    pub fn open(db: &Path) -> Result<Self, TriggerError> {
        let conn = Connection::open(db)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(TriggerStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic mid-statement leaves no open transaction here (each call is one statement
        // or rolls back on drop), so the connection is still good.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The last fire of `agent`'s trigger `key`. A trigger seen for the first time starts at
    /// `now`: ticks before it was added are not "missed".
    pub fn last_fire(&self, agent: &str, key: &str, now: Millis) -> Result<Millis, TriggerError> {
        let conn = self.lock();
        conn.execute(
            "INSERT INTO trigger_state (agent, trigger_key, last_fire_ms, updated_at_ms)
             VALUES (?1, ?2, ?3, ?3) ON CONFLICT(agent, trigger_key) DO NOTHING",
            params![agent, key, now],
        )?;
        Ok(conn.query_row(
            "SELECT last_fire_ms FROM trigger_state WHERE agent = ?1 AND trigger_key = ?2",
            params![agent, key],
            |r| r.get(0),
        )?)
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
        self.lock().execute(
            "INSERT INTO trigger_state (agent, trigger_key, last_fire_ms, updated_at_ms)
             VALUES (?1, ?2, ?3, ?4) ON CONFLICT(agent, trigger_key) DO UPDATE SET
                last_fire_ms = max(last_fire_ms, excluded.last_fire_ms),
                updated_at_ms = excluded.updated_at_ms",
            params![agent, key, at, now],
        )?;
        Ok(())
    }

    /// Forgets the state of triggers not in `keep` (agents removed, schedules changed), so a
    /// trigger that comes back starts afresh.
    pub fn retain(&self, keep: &HashSet<(String, String)>) -> Result<(), TriggerError> {
        let conn = self.lock();
        let rows: Vec<(String, String)> = {
            let mut stmt = conn.prepare("SELECT agent, trigger_key FROM trigger_state")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for (agent, key) in rows {
            if !keep.contains(&(agent.clone(), key.clone())) {
                conn.execute(
                    "DELETE FROM trigger_state WHERE agent = ?1 AND trigger_key = ?2",
                    params![agent, key],
                )?;
            }
        }
        Ok(())
    }

    /// The run already started with `idempotency_key`, if any.
    pub fn run_with_key(&self, idempotency_key: &str) -> Result<Option<RunId>, TriggerError> {
        let id: Option<String> = self
            .lock()
            .query_row(
                "SELECT id FROM runs WHERE idempotency_key = ?1",
                [idempotency_key],
                |r| r.get(0),
            )
            .optional()?;
        id.map(|id| RunId::parse(&id).map_err(|what| TriggerError::Corrupt { what }))
            .transpose()
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
        let old = {
            let conn = self.lock();
            let old: Option<String> = conn
                .query_row(
                    "SELECT secret_ref FROM webhook_secrets WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()?;
            let stored = conn.execute(
                "INSERT INTO webhook_secrets (name, secret_ref, updated_at_ms)
                 VALUES (?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET
                    secret_ref = excluded.secret_ref, updated_at_ms = excluded.updated_at_ms",
                params![name, new.as_str(), waymark_engine::clock::system_now_ms()],
            );
            if let Err(e) = stored {
                // Do not leave an unreferenced value behind.
                let _ = secrets.delete(&new);
                return Err(e.into());
            }
            old
        };
        if let Some(r) = old.and_then(|o| o.parse::<SecretRef>().ok()) {
            let _ = secrets.delete(&r);
        }
        Ok(())
    }

    /// The webhook secret stored as `name`, if any.
    pub fn webhook_secret(
        &self,
        secrets: &SecretStore,
        name: &str,
    ) -> Result<Option<Secret>, TriggerError> {
        let stored: Option<String> = self
            .lock()
            .query_row(
                "SELECT secret_ref FROM webhook_secrets WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let r: SecretRef = stored.parse().map_err(|_| TriggerError::Corrupt {
            what: format!("webhook_secrets row {name}: not a secret reference"),
        })?;
        Ok(Some(secrets.get(&r)?))
    }

    /// Forgets the webhook secret `name`; `false` when none was stored.
    pub fn delete_webhook_secret(
        &self,
        secrets: &SecretStore,
        name: &str,
    ) -> Result<bool, TriggerError> {
        let old: Option<String> = {
            let conn = self.lock();
            let old = conn
                .query_row(
                    "SELECT secret_ref FROM webhook_secrets WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()?;
            conn.execute("DELETE FROM webhook_secrets WHERE name = ?1", [name])?;
            old
        };
        if let Some(r) = old.as_deref().and_then(|o| o.parse::<SecretRef>().ok()) {
            let _ = secrets.delete(&r);
        }
        Ok(old.is_some())
    }
}
