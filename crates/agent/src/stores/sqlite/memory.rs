//! [`MemoryStore`] on SQLite: `agent_memory`, where `seq` orders an agent's writes (newest
//! last) even within one millisecond.

use rusqlite::{params, OptionalExtension, Row};

use super::{sql_limit, SqliteAgentStore, ICONTAINS};
use crate::catalog::CatalogError;
use crate::stores::{MemoryEntry, MemoryStore};

fn entry(row: &Row<'_>) -> rusqlite::Result<MemoryEntry> {
    Ok(MemoryEntry {
        key: row.get(0)?,
        value: row.get(1)?,
        updated_at_ms: row.get(2)?,
    })
}

impl MemoryStore for SqliteAgentStore {
    fn remember(
        &self,
        agent: &str,
        key: &str,
        value: &str,
        now_ms: i64,
    ) -> Result<MemoryEntry, CatalogError> {
        self.write(|tx| {
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
                params![agent, key, value, now_ms, seq],
            )?;
            Ok::<_, CatalogError>(())
        })?;
        Ok(MemoryEntry {
            key: key.to_string(),
            value: value.to_string(),
            updated_at_ms: now_ms,
        })
    }

    fn recall(
        &self,
        agent: &str,
        query: &str,
        limit: usize,
    ) -> Result<Vec<MemoryEntry>, CatalogError> {
        let needle = query.to_lowercase();
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT key, value, updated_at_ms FROM agent_memory
                 WHERE agent = ?1 AND (?2 = '' OR {ICONTAINS}(key, ?2) OR {ICONTAINS}(value, ?2))
                 ORDER BY seq DESC LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![agent, needle, sql_limit(limit)], entry)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn forget(&self, agent: &str, key: &str) -> Result<bool, CatalogError> {
        self.write(|tx| {
            let n = tx.execute(
                "DELETE FROM agent_memory WHERE agent = ?1 AND key = ?2",
                [agent, key],
            )?;
            Ok(n > 0)
        })
    }

    fn memory(&self, agent: &str) -> Result<Vec<MemoryEntry>, CatalogError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT key, value, updated_at_ms FROM agent_memory WHERE agent = ?1 ORDER BY key",
            )?;
            let rows = stmt.query_map([agent], entry)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn memory_entry(&self, agent: &str, key: &str) -> Result<Option<MemoryEntry>, CatalogError> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT key, value, updated_at_ms FROM agent_memory WHERE agent = ?1 AND key = ?2",
            )?
            .query_row([agent, key], entry)
            .optional()?)
        })
    }
}
