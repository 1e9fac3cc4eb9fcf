//! [`TriggerStateStore`] on SQLite: `trigger_state`, `webhook_secrets` (references), and the
//! engine's `runs` for the run of an idempotency key (read only).

use std::collections::HashSet;

use rusqlite::{params, Connection, OptionalExtension};
use waymark_engine::{Millis, RunId};

use super::settings::removed_ref;
use super::SqliteAgentStore;
use crate::secrets::SecretRef;
use crate::stores::{Removed, TriggerStateStore};
use crate::triggers::TriggerError;

fn webhook_ref(conn: &Connection, name: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT secret_ref FROM webhook_secrets WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()
}

impl TriggerStateStore for SqliteAgentStore {
    fn last_fire(&self, agent: &str, key: &str, now: Millis) -> Result<Millis, TriggerError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO trigger_state (agent, trigger_key, last_fire_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?3) ON CONFLICT(agent, trigger_key) DO NOTHING",
                params![agent, key, now],
            )?;
            Ok(tx.query_row(
                "SELECT last_fire_ms FROM trigger_state WHERE agent = ?1 AND trigger_key = ?2",
                params![agent, key],
                |r| r.get(0),
            )?)
        })
    }

    fn record_fire(
        &self,
        agent: &str,
        key: &str,
        at: Millis,
        now: Millis,
    ) -> Result<(), TriggerError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO trigger_state (agent, trigger_key, last_fire_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT(agent, trigger_key) DO UPDATE SET
                    last_fire_ms = max(last_fire_ms, excluded.last_fire_ms),
                    updated_at_ms = excluded.updated_at_ms",
                params![agent, key, at, now],
            )?;
            Ok(())
        })
    }

    fn retain(&self, keep: &HashSet<(String, String)>) -> Result<(), TriggerError> {
        // The pairs to keep as one JSON parameter: one statement, whatever their number.
        let keep: Vec<[&str; 2]> = keep.iter().map(|(a, k)| [a.as_str(), k.as_str()]).collect();
        let keep = serde_json::to_string(&keep).map_err(|e| TriggerError::Invalid {
            what: format!("triggers to keep: {e}"),
        })?;
        self.write(|tx| {
            tx.execute(
                "DELETE FROM trigger_state WHERE NOT EXISTS (
                    SELECT 1 FROM json_each(?1) AS k
                    WHERE k.value ->> 0 = trigger_state.agent
                      AND k.value ->> 1 = trigger_state.trigger_key)",
                [keep],
            )?;
            Ok(())
        })
    }

    fn run_with_key(&self, idempotency_key: &str) -> Result<Option<RunId>, TriggerError> {
        let id: Option<String> = self.read(|c| {
            Ok::<_, TriggerError>(
                c.prepare_cached("SELECT id FROM runs WHERE idempotency_key = ?1")?
                    .query_row([idempotency_key], |r| r.get(0))
                    .optional()?,
            )
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
        self.write(|tx| {
            let old = webhook_ref(tx, name)?;
            tx.execute(
                "INSERT INTO webhook_secrets (name, secret_ref, updated_at_ms)
                 VALUES (?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET
                    secret_ref = excluded.secret_ref, updated_at_ms = excluded.updated_at_ms",
                params![name, secret.as_str(), now_ms],
            )?;
            Ok(removed_ref(old))
        })
    }

    fn webhook_secret_ref(&self, name: &str) -> Result<Option<SecretRef>, TriggerError> {
        let stored = self.read(|c| Ok::<_, TriggerError>(webhook_ref(c, name)?))?;
        stored
            .map(|s| {
                s.parse().map_err(|_| TriggerError::Corrupt {
                    what: format!("webhook_secrets row {name}: not a secret reference"),
                })
            })
            .transpose()
    }

    fn delete_webhook_secret_ref(&self, name: &str) -> Result<Removed, TriggerError> {
        self.write(|tx| {
            let old = webhook_ref(tx, name)?;
            tx.execute("DELETE FROM webhook_secrets WHERE name = ?1", [name])?;
            Ok(removed_ref(old))
        })
    }
}
