//! The catalog: agents (every version kept by content hash), MCP server definitions (their
//! secret values in the [`SecretStore`], only references in the store), provider settings and
//! agent memory. A facade over the [`crate::stores`] traits: validation, hashing and the secret
//! store are here, the same for every backend; the records are the backend's (by default the
//! engine's SQLite file, see [`crate::stores::sqlite`]).

mod keys;
pub mod mail;
mod memory;
mod servers;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::secrets::{SecretError, SecretStore};
use crate::spec::{AgentSpec, SpecError};
use crate::stores::{AgentStores, DbError, NewAgentVersion, SqliteAgentStore};

pub use crate::stores::{AgentSummary, AgentVersion, MemoryEntry};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    #[error("catalog database: {0}")]
    Database(#[from] DbError),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("catalog database is damaged: {what}")]
    Corrupt { what: String },
    #[error("{what}")]
    Invalid { what: String },
}

impl CatalogError {
    /// Whether the database was only busy or locked by another connection (by the backend's
    /// result code): the same call may succeed shortly.
    pub fn is_transient(&self) -> bool {
        matches!(self, CatalogError::Database(e) if e.is_transient())
    }
}

/// An agent's name and its current spec, or why that does not read.
pub type CurrentAgent = (String, Result<AgentSpec, CatalogError>);

/// Agents, MCP servers, settings and memory. Cheap to clone; clones share the stores.
#[derive(Clone)]
pub struct Catalog {
    stores: AgentStores,
    secrets: SecretStore,
    /// Bumped by every change a cache of agents or webhook secrets must see (see
    /// [`Catalog::generation`]); shared by the clones.
    generation: Arc<AtomicU64>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("secrets", &self.secrets)
            .finish_non_exhaustive()
    }
}

impl Catalog {
    /// Opens (creating if needed) the catalog tables in the SQLite database at `db_path`.
    pub fn open(db_path: &Path, secrets: SecretStore) -> Result<Self, CatalogError> {
        Ok(Catalog::new(
            SqliteAgentStore::open(db_path)?.stores(),
            secrets,
        ))
    }

    /// The catalog over `stores` (any backend's), with secret values in `secrets`.
    pub fn new(stores: AgentStores, secrets: SecretStore) -> Self {
        Catalog {
            stores,
            secrets,
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The stores underneath.
    pub fn stores(&self) -> &AgentStores {
        &self.stores
    }

    /// A number that changes whenever an agent is saved or deleted, or [`Catalog::touch`] is
    /// called, through this process's catalog: a cache keyed by it needs no database read to
    /// know it is current (another process's changes need a time limit on top).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Marks a change caches must see that is not an agent (a webhook secret set).
    pub fn touch(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The secret store the servers' values go to.
    pub fn secrets(&self) -> &SecretStore {
        &self.secrets
    }

    /// Validates and saves `spec` as the agent of its name (adding or replacing it); every
    /// version saved stays readable by its hash.
    pub fn put_agent(&self, spec: &AgentSpec) -> Result<AgentSummary, CatalogError> {
        spec.validate()?;
        let hash = spec.content_hash();
        let json = spec.to_canonical_json();
        let saved = self.stores.agents.put_agent(&NewAgentVersion {
            name: &spec.name,
            description: &spec.description,
            hash: &hash,
            spec_json: &json,
            now_ms: now_ms(),
        })?;
        self.touch();
        Ok(saved)
    }

    /// The current version of the agent `name`.
    pub fn agent(&self, name: &str) -> Result<Option<AgentSpec>, CatalogError> {
        let json = self.stores.agents.agent_json(name)?;
        json.map(|j| parse_spec(&j)).transpose()
    }

    /// Any version ever saved, by its content hash (`sha256:…`).
    pub fn agent_version(&self, hash: &str) -> Result<Option<AgentSpec>, CatalogError> {
        let json = self.stores.agents.version_json(hash)?;
        json.map(|j| parse_spec(&j)).transpose()
    }

    /// Every version saved under `name`, oldest first (including ones no longer current).
    pub fn agent_versions(&self, name: &str) -> Result<Vec<AgentVersion>, CatalogError> {
        self.stores.agents.versions(name)
    }

    /// Every agent, sorted by name.
    pub fn agents(&self) -> Result<Vec<AgentSummary>, CatalogError> {
        self.stores.agents.list_agents()
    }

    /// Every agent's current spec, by name, in one read; a spec that does not parse is its
    /// own error, so one damaged agent does not hide the others.
    pub fn current_agents(&self) -> Result<Vec<CurrentAgent>, CatalogError> {
        Ok(self
            .stores
            .agents
            .current_specs()?
            .into_iter()
            .map(|(name, json)| (name, parse_spec(&json)))
            .collect())
    }

    /// Removes the agent from the list; whether it existed. Its saved versions stay (runs name
    /// the version they started with) and so does its memory, should it come back.
    pub fn delete_agent(&self, name: &str) -> Result<bool, CatalogError> {
        let deleted = self.stores.agents.delete_agent(name)?;
        self.touch();
        Ok(deleted)
    }
}

fn parse_spec(json: &str) -> Result<AgentSpec, CatalogError> {
    Ok(AgentSpec::from_json_str(json)?)
}

/// Milliseconds since the Unix epoch, on the system clock (0 before it).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
