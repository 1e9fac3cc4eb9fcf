//! Agents: every version ever saved (by content hash) and, per name, the current one.

use serde::{Deserialize, Serialize};

use crate::catalog::CatalogError;

/// One agent as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSummary {
    pub name: String,
    pub description: String,
    /// The current version's [`crate::AgentSpec::content_hash`].
    pub hash: String,
    /// When the current version became current (saving the same spec again does not move it).
    pub updated_at_ms: i64,
}

/// One saved version of an agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentVersion {
    pub hash: String,
    /// When this version was first saved.
    pub created_at_ms: i64,
}

/// A version to save, already validated and hashed by the caller.
#[derive(Clone, Copy, Debug)]
pub struct NewAgentVersion<'a> {
    pub name: &'a str,
    pub description: &'a str,
    /// The spec's content hash (`sha256:…`): a version's identity.
    pub hash: &'a str,
    /// The spec's canonical JSON.
    pub spec_json: &'a str,
    pub now_ms: i64,
}

/// Saved agents. Specs go in and out as canonical JSON; parsing is the caller's, so one
/// unreadable spec fails only what reads it.
pub trait AgentStore: Send + Sync {
    /// In one transaction: keeps the version (a hash already saved stays as first saved) and
    /// makes it `name`'s current one. `updated_at_ms` moves only when the hash changes.
    fn put_agent(&self, version: &NewAgentVersion<'_>) -> Result<AgentSummary, CatalogError>;

    /// The current version's JSON of the agent `name`.
    fn agent_json(&self, name: &str) -> Result<Option<String>, CatalogError>;

    /// Any version ever saved, by hash.
    fn version_json(&self, hash: &str) -> Result<Option<String>, CatalogError>;

    /// Every version saved under `name`, oldest first (saving order breaks ties), current or
    /// not, deleted agent or not.
    fn versions(&self, name: &str) -> Result<Vec<AgentVersion>, CatalogError>;

    /// Every agent, by name.
    fn list_agents(&self) -> Result<Vec<AgentSummary>, CatalogError>;

    /// Every agent's name and current version's JSON, by name: one read for what walks all
    /// specs (cron, webhooks).
    fn current_specs(&self) -> Result<Vec<(String, String)>, CatalogError>;

    /// Removes `name` from the list; whether it was there. Its versions (runs name them) and
    /// its memory stay.
    fn delete_agent(&self, name: &str) -> Result<bool, CatalogError>;
}
