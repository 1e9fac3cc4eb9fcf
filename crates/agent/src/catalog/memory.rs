//! Per-agent notes an agent keeps across runs: keys and values, upserted.

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::{now_ms, Catalog, CatalogError};

/// One note.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct MemoryEntry {
    pub key: String,
    pub value: String,
    pub updated_at_ms: i64,
}

fn entry(row: &Row<'_>) -> rusqlite::Result<MemoryEntry> {
    Ok(MemoryEntry {
        key: row.get(0)?,
        value: row.get(1)?,
        updated_at_ms: row.get(2)?,
    })
}

impl Catalog {
    /// Writes (or overwrites) the note `key` of `agent`.
    pub fn remember(
        &self,
        agent: &str,
        key: &str,
        value: &str,
    ) -> Result<MemoryEntry, CatalogError> {
        if agent.is_empty() || key.trim().is_empty() {
            return Err(CatalogError::Invalid {
                what: "a memory entry needs an agent and a non-empty key".into(),
            });
        }
        let now = now_ms();
        self.with_tx(|tx| {
            let seq: i64 = tx.query_row(
                "SELECT coalesce(max(seq), 0) + 1 FROM agent_memory WHERE agent = ?1",
                [agent],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO agent_memory (agent, key, value, created_at_ms, updated_at_ms, seq)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5)
                 ON CONFLICT(agent, key) DO UPDATE SET
                    value = excluded.value, updated_at_ms = excluded.updated_at_ms, seq = excluded.seq",
                params![agent, key, value, now, seq],
            )?;
            Ok(())
        })?;
        Ok(MemoryEntry {
            key: key.to_string(),
            value: value.to_string(),
            updated_at_ms: now,
        })
    }

    /// Up to `limit` notes whose key or value contains `query`, ignoring case (`""` matches
    /// all), newest first.
    pub fn recall(
        &self,
        agent: &str,
        query: &str,
        limit: usize,
    ) -> Result<Vec<MemoryEntry>, CatalogError> {
        // Filtered here rather than in SQL: SQLite's lower() folds ASCII only.
        let needle = query.to_lowercase();
        let all = self.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT key, value, updated_at_ms FROM agent_memory WHERE agent = ?1 ORDER BY seq DESC",
            )?;
            let rows = stmt.query_map([agent], entry)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        Ok(all
            .into_iter()
            .filter(|e| {
                needle.is_empty()
                    || e.key.to_lowercase().contains(&needle)
                    || e.value.to_lowercase().contains(&needle)
            })
            .take(limit)
            .collect())
    }

    /// Removes a note; whether it existed.
    pub fn forget(&self, agent: &str, key: &str) -> Result<bool, CatalogError> {
        let n = self.with_conn(|c| {
            c.execute(
                "DELETE FROM agent_memory WHERE agent = ?1 AND key = ?2",
                [agent, key],
            )
        })?;
        Ok(n > 0)
    }

    /// Every note of `agent`, sorted by key.
    pub fn memory(&self, agent: &str) -> Result<Vec<MemoryEntry>, CatalogError> {
        self.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT key, value, updated_at_ms FROM agent_memory WHERE agent = ?1 ORDER BY key",
            )?;
            let rows = stmt.query_map([agent], entry)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
    }

    /// One note, if there is one.
    pub fn memory_entry(
        &self,
        agent: &str,
        key: &str,
    ) -> Result<Option<MemoryEntry>, CatalogError> {
        self.with_conn(|c| {
            c.query_row(
                "SELECT key, value, updated_at_ms FROM agent_memory WHERE agent = ?1 AND key = ?2",
                [agent, key],
                entry,
            )
            .optional()
        })
    }
}
