//! [`TriggerStateStore`] on SQLite: `trigger_state`, `webhook_secrets` (references), and the
//! engine's `runs` for the run of an idempotency key (read only).

use std::collections::HashSet;

use waymark_engine::journal_args as args;
use waymark_engine::store::journal::Db;
use waymark_engine::{Millis, RunId, StoreError};

use super::settings::{one_text, removed_ref};
use super::SqlAgentStore;
use crate::secrets::SecretRef;
use crate::stores::{Removed, TriggerStateStore};
use crate::triggers::TriggerError;

fn webhook_ref(db: &mut dyn Db, name: &str) -> Result<Option<String>, StoreError> {
    one_text(
        db,
        "SELECT secret_ref FROM webhook_secrets WHERE name = ?1",
        name,
    )
}

impl TriggerStateStore for SqlAgentStore {
    fn last_fire(&self, agent: &str, key: &str, now: Millis) -> Result<Millis, TriggerError> {
        self.write(|db| {
            db.execute(
                "INSERT INTO trigger_state (agent, trigger_key, last_fire_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?3) ON CONFLICT(agent, trigger_key) DO NOTHING",
                args![agent, key, now],
            )?;
            Ok(db
                .query_one(
                    "SELECT last_fire_ms FROM trigger_state WHERE agent = ?1 AND trigger_key = ?2",
                    args![agent, key],
                )?
                .get(0)?)
        })
    }

    fn record_fire(
        &self,
        agent: &str,
        key: &str,
        at: Millis,
        now: Millis,
    ) -> Result<(), TriggerError> {
        self.write(|db| {
            db.execute(
                "INSERT INTO trigger_state (agent, trigger_key, last_fire_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT(agent, trigger_key) DO UPDATE SET
                    last_fire_ms = CASE WHEN excluded.last_fire_ms > trigger_state.last_fire_ms
                        THEN excluded.last_fire_ms ELSE trigger_state.last_fire_ms END,
                    updated_at_ms = excluded.updated_at_ms",
                args![agent, key, at, now],
            )?;
            Ok(())
        })
    }

    fn retain(&self, keep: &HashSet<(String, String)>) -> Result<(), TriggerError> {
        self.write(|db| {
            let rows = db.query("SELECT agent, trigger_key FROM trigger_state", &[])?;
            for r in rows {
                let (agent, key): (String, String) = (r.get(0)?, r.get(1)?);
                if !keep.contains(&(agent.clone(), key.clone())) {
                    db.execute(
                        "DELETE FROM trigger_state WHERE agent = ?1 AND trigger_key = ?2",
                        args![&agent, &key],
                    )?;
                }
            }
            Ok(())
        })
    }

    fn run_with_key(&self, idempotency_key: &str) -> Result<Option<RunId>, TriggerError> {
        let id: Option<String> = self.read(|db| {
            Ok::<_, TriggerError>(one_text(
                db,
                "SELECT id FROM runs WHERE idempotency_key = ?1",
                idempotency_key,
            )?)
        })?;
        id.map(|id| RunId::parse(&id).map_err(|what| TriggerError::Corrupt { what }))
            .transpose()
    }

    fn set_webhook_secret_ref(
        &self,
        name: &str,
        secret: &SecretRef,
        now_ms: i64,
    ) -> Result<Removed, TriggerError> {
        self.write(|db| {
            let old = webhook_ref(db, name)?;
            db.execute(
                "INSERT INTO webhook_secrets (name, secret_ref, updated_at_ms)
                 VALUES (?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET
                    secret_ref = excluded.secret_ref, updated_at_ms = excluded.updated_at_ms",
                args![name, secret.as_str(), now_ms],
            )?;
            Ok(removed_ref(old))
        })
    }

    fn webhook_secret_ref(&self, name: &str) -> Result<Option<SecretRef>, TriggerError> {
        let stored = self.read(|db| Ok::<_, TriggerError>(webhook_ref(db, name)?))?;
        stored
            .map(|s| {
                s.parse().map_err(|_| TriggerError::Corrupt {
                    what: format!("webhook_secrets row {name}: not a secret reference"),
                })
            })
            .transpose()
    }

    fn delete_webhook_secret_ref(&self, name: &str) -> Result<Removed, TriggerError> {
        self.write(|db| {
            let old = webhook_ref(db, name)?;
            db.execute("DELETE FROM webhook_secrets WHERE name = ?1", args![name])?;
            Ok(removed_ref(old))
        })
    }
}
