//! Per-agent notes an agent keeps across runs: keys and values, upserted.

use super::{now_ms, Catalog, CatalogError};
use crate::stores::MemoryEntry;

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
        self.stores.memory.remember(agent, key, value, now_ms())
    }

    /// Up to `limit` notes whose key or value contains `query`, ignoring case (`""` matches
    /// all), newest first.
    pub fn recall(
        &self,
        agent: &str,
        query: &str,
        limit: usize,
    ) -> Result<Vec<MemoryEntry>, CatalogError> {
        self.stores.memory.recall(agent, query, limit)
    }

    /// Removes a note; whether it existed.
    pub fn forget(&self, agent: &str, key: &str) -> Result<bool, CatalogError> {
        self.stores.memory.forget(agent, key)
    }

    /// Every note of `agent`, sorted by key.
    pub fn memory(&self, agent: &str) -> Result<Vec<MemoryEntry>, CatalogError> {
        self.stores.memory.memory(agent)
    }

    /// One note, if there is one.
    pub fn memory_entry(
        &self,
        agent: &str,
        key: &str,
    ) -> Result<Option<MemoryEntry>, CatalogError> {
        self.stores.memory.memory_entry(agent, key)
    }
}
