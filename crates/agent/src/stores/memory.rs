//! Agent memory: per-agent notes, keys to values, upserted.

use serde::{Deserialize, Serialize};

use crate::catalog::CatalogError;

/// One note.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct MemoryEntry {
    pub key: String,
    pub value: String,
    pub updated_at_ms: i64,
}

/// Agents' notes. The caller validates (a non-empty key); the store keeps what it is given.
pub trait MemoryStore: Send + Sync {
    /// Writes or overwrites `agent`'s note `key`; it becomes the agent's newest note.
    fn remember(
        &self,
        agent: &str,
        key: &str,
        value: &str,
        now_ms: i64,
    ) -> Result<MemoryEntry, CatalogError>;

    /// Up to `limit` notes of `agent` whose key or value contains `query` ignoring case
    /// (Unicode lowercase, not ASCII only; `""` matches all), newest write first.
    fn recall(
        &self,
        agent: &str,
        query: &str,
        limit: usize,
    ) -> Result<Vec<MemoryEntry>, CatalogError>;

    /// Removes a note; whether it existed.
    fn forget(&self, agent: &str, key: &str) -> Result<bool, CatalogError>;

    /// Every note of `agent`, by key.
    fn memory(&self, agent: &str) -> Result<Vec<MemoryEntry>, CatalogError>;

    /// One note.
    fn memory_entry(&self, agent: &str, key: &str) -> Result<Option<MemoryEntry>, CatalogError>;
}
