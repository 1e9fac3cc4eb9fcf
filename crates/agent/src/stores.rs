//! The agent side's storage boundary: one trait per kind of record the agent crate keeps
//! ([`AgentStore`], [`ServerStore`], [`SettingsStore`], [`MemoryStore`],
//! [`TriggerStateStore`]), next to the engine's own [`waymark_engine::Store`]. A backend
//! implements these five and the engine's trait, nothing else: [`sqlite`] is the default (the
//! data directory's file, shared with the engine's journal); PostgreSQL is to be a sibling.
//!
//! The traits store records as they are; what is policy stays above them, the same for every
//! backend: validation, content hashes, the secret store (values never reach a trait: rows
//! hold [`SecretRef`]s, and the caller deletes a replaced reference's value after the row is
//! committed), and the in-process change counter (`Catalog::generation`).
//!
//! Orders are part of the contract: names and keys sort byte-wise (SQLite's BINARY collation;
//! PostgreSQL needs `COLLATE "C"`), so every backend lists the same way.

mod agents;
mod memory;
mod servers;
mod settings;
pub mod sql;
pub mod sqlite;
mod triggers;

use std::sync::Arc;

pub use agents::{AgentStore, AgentSummary, AgentVersion, NewAgentVersion};
pub use memory::{MemoryEntry, MemoryStore};
pub use servers::{ServerRecord, ServerStore, ServerTransport, StoredOAuthClient};
pub use settings::SettingsStore;
pub use sql::{SqlAgentStore, SqlConnections, SqlWork};
pub use sqlite::SqliteAgentStore;
pub use triggers::TriggerStateStore;

use crate::secrets::{SecretRef, SecretStore};

/// Every agent-side store of one backend, as trait objects. Cheap to clone.
#[derive(Clone)]
pub struct AgentStores {
    pub agents: Arc<dyn AgentStore>,
    pub servers: Arc<dyn ServerStore>,
    pub settings: Arc<dyn SettingsStore>,
    pub memory: Arc<dyn MemoryStore>,
    pub triggers: Arc<dyn TriggerStateStore>,
}

impl AgentStores {
    /// All five from one value that implements them all (a backend's usual shape).
    pub fn from_one<T>(backend: Arc<T>) -> Self
    where
        T: AgentStore + ServerStore + SettingsStore + MemoryStore + TriggerStateStore + 'static,
    {
        AgentStores {
            agents: backend.clone(),
            servers: backend.clone(),
            settings: backend.clone(),
            memory: backend.clone(),
            triggers: backend,
        }
    }
}

impl std::fmt::Debug for AgentStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentStores").finish_non_exhaustive()
    }
}

/// What a removal (or a replacement) took away: whether a row was there, and the secret
/// references it held, for the caller to delete from the secret store once the change stands.
/// A reference the row no longer reads as is left out (a value left behind is harmless).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    pub existed: bool,
    pub secrets: Vec<SecretRef>,
}

impl Removed {
    /// Deletes the removed references' values from `secrets`. Best effort, after the change
    /// stands: a value left behind is harmless.
    pub(crate) fn delete_values(&self, secrets: &SecretStore) {
        for r in &self.secrets {
            let _ = secrets.delete(r);
        }
    }
}

/// Why a backend's database failed, by cause, so callers decide without the backend's types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DbErrorKind {
    /// Busy or locked by another connection: the same call may succeed shortly.
    Busy,
    /// A value or row larger than the database accepts: the request must change.
    TooBig,
    /// The disk (or the database's quota) is full.
    Full,
    /// The file or its schema is damaged.
    Corrupt,
    /// A constraint refused the write.
    Constraint,
    Other,
}

/// A database failure: the backend's own message (shown as it is) and its [`DbErrorKind`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DbError {
    kind: DbErrorKind,
    message: String,
}

impl DbError {
    pub fn new(kind: DbErrorKind, message: impl Into<String>) -> Self {
        DbError {
            kind,
            message: message.into(),
        }
    }

    pub fn kind(&self) -> DbErrorKind {
        self.kind
    }

    /// Whether the database was only busy or locked: the same call may succeed shortly.
    pub fn is_transient(&self) -> bool {
        self.kind == DbErrorKind::Busy
    }
}
