//! [`MemoryStore`]: `agent_memory`, where `seq` orders an agent's writes (newest last) even
//! within one millisecond.

use waymark_engine::journal_args as args;
use waymark_engine::store::journal::Row;
use waymark_engine::StoreError;

use super::{sql_limit, SqlAgentStore};
use crate::catalog::CatalogError;
use crate::stores::{MemoryEntry, MemoryStore};

fn entry(row: &Row) -> Result<MemoryEntry, StoreError> {
    Ok(MemoryEntry {
        key: row.get(0)?,
        value: row.get(1)?,
        updated_at_ms: row.get(2)?,
    })
}

impl MemoryStore for SqlAgentStore {
    fn remember(
        &self,
        agent: &str,
        key: &str,
        value: &str,
        now_ms: i64,
    ) -> Result<MemoryEntry, CatalogError> {
        self.write(|db| {
            let seq: i64 = db
                .query_one(
                    "SELECT coalesce(max(seq), 0) + 1 FROM agent_memory WHERE agent = ?1",
                    args![agent],
                )?
                .get(0)?;
            db.execute(
                "INSERT INTO agent_memory (agent, key, value, created_at_ms, updated_at_ms, seq)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5)
                 ON CONFLICT(agent, key) DO UPDATE SET
                    value = excluded.value, updated_at_ms = excluded.updated_at_ms, seq = excluded.seq",
                args![agent, key, value, now_ms, seq],
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
        if query.is_empty() {
            return self.read(|db| {
                db.query(
                    "SELECT key, value, updated_at_ms FROM agent_memory
                     WHERE agent = ?1 ORDER BY seq DESC LIMIT ?2",
                    args![agent, sql_limit(limit)],
                )?
                .iter()
                .map(|r| Ok(entry(r)?))
                .collect()
            });
        }
        // Matched here, not in SQL: Unicode lowercase the same on every backend (SQLite's
        // lower() folds ASCII only, PostgreSQL's follows the server's locale).
        let needle = query.to_lowercase();
        let rows = self.read(|db| {
            Ok::<_, CatalogError>(db.query(
                "SELECT key, value, updated_at_ms FROM agent_memory WHERE agent = ?1 ORDER BY seq DESC",
                args![agent],
            )?)
        })?;
        let mut out = Vec::new();
        for r in &rows {
            if out.len() >= limit {
                break;
            }
            let e = entry(r)?;
            if e.key.to_lowercase().contains(&needle) || e.value.to_lowercase().contains(&needle) {
                out.push(e);
            }
        }
        Ok(out)
    }

    fn forget(&self, agent: &str, key: &str) -> Result<bool, CatalogError> {
        self.write(|db| {
            let n = db.execute(
                "DELETE FROM agent_memory WHERE agent = ?1 AND key = ?2",
                args![agent, key],
            )?;
            Ok(n > 0)
        })
    }

    fn memory(&self, agent: &str) -> Result<Vec<MemoryEntry>, CatalogError> {
        self.read(|db| {
            db.query(
                "SELECT key, value, updated_at_ms FROM agent_memory WHERE agent = ?1 ORDER BY key",
                args![agent],
            )?
            .iter()
            .map(|r| Ok(entry(r)?))
            .collect()
        })
    }

    fn memory_entry(&self, agent: &str, key: &str) -> Result<Option<MemoryEntry>, CatalogError> {
        self.read(|db| {
            let row = db.query_opt(
                "SELECT key, value, updated_at_ms FROM agent_memory WHERE agent = ?1 AND key = ?2",
                args![agent, key],
            )?;
            Ok(row.map(|r| entry(&r)).transpose()?)
        })
    }
}
