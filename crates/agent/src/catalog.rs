//! The catalog: agents (every version kept by content hash), MCP server definitions (their
//! secret values in the [`SecretStore`], only references here) and agent memory, in the same
//! SQLite file as the engine's journal. Its tables have their own schema version, in
//! `agent_schema`; the engine's `PRAGMA user_version` is left alone.

mod keys;
mod memory;
mod schema;
mod servers;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::secrets::{SecretError, SecretStore};
use crate::spec::{AgentSpec, SpecError};

pub use memory::MemoryEntry;

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    #[error("catalog database: {0}")]
    Sqlite(#[from] rusqlite::Error),
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
    /// Whether the database was only busy or locked by another connection (by SQLite's result
    /// code): the same call may succeed shortly.
    pub fn is_transient(&self) -> bool {
        matches!(self, CatalogError::Sqlite(e) if is_busy(e))
    }
}

/// One agent as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentSummary {
    pub name: String,
    pub description: String,
    /// The current version's [`AgentSpec::content_hash`].
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

/// Agents, MCP servers and memory. Cheap to clone; one connection shared behind a mutex (these
/// are small, rare writes next to the engine's journal).
#[derive(Clone)]
pub struct Catalog {
    conn: Arc<Mutex<Connection>>,
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
    /// Opens (creating if needed) the catalog tables in the database at `db_path`.
    pub fn open(db_path: &Path, secrets: SecretStore) -> Result<Self, CatalogError> {
        if let Some(dir) = db_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| CatalogError::Corrupt {
                what: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        let mut conn = Connection::open(db_path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // Switching to WAL needs the file to itself for a moment and SQLite reports busy at
        // once instead of waiting (the engine may be opening it too): retry for a while.
        let started = std::time::Instant::now();
        let mode: String = loop {
            match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)) {
                Ok(mode) => break mode,
                Err(e) if is_busy(&e) && started.elapsed() < BUSY_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(e.into()),
            }
        };
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(CatalogError::Corrupt {
                what: format!(
                    "{}: could not switch to WAL mode (got {mode})",
                    db_path.display()
                ),
            });
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut conn)?;
        Ok(Catalog {
            conn: Arc::new(Mutex::new(conn)),
            secrets,
            generation: Arc::new(AtomicU64::new(0)),
        })
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
        let now = now_ms();
        let updated_at_ms = self.with_tx(|tx| {
            tx.execute(
                "INSERT INTO agent_spec_versions (hash, name, spec_json, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT(hash) DO NOTHING",
                params![hash, spec.name, json, now],
            )?;
            tx.execute(
                "INSERT INTO agent_specs (name, description, hash, created_at_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT(name) DO UPDATE SET
                    description = excluded.description,
                    updated_at_ms = CASE WHEN agent_specs.hash = excluded.hash
                        THEN agent_specs.updated_at_ms ELSE excluded.updated_at_ms END,
                    hash = excluded.hash",
                params![spec.name, spec.description, hash, now],
            )?;
            tx.query_row(
                "SELECT updated_at_ms FROM agent_specs WHERE name = ?1",
                [&spec.name],
                |r| r.get(0),
            )
        })?;
        self.touch();
        Ok(AgentSummary {
            name: spec.name.clone(),
            description: spec.description.clone(),
            hash,
            updated_at_ms,
        })
    }

    /// The current version of the agent `name`.
    pub fn agent(&self, name: &str) -> Result<Option<AgentSpec>, CatalogError> {
        let json: Option<String> = self.with_conn(|c| {
            c.query_row(
                "SELECT v.spec_json FROM agent_specs a
                 JOIN agent_spec_versions v ON v.hash = a.hash WHERE a.name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()
        })?;
        json.map(|j| parse_spec(&j)).transpose()
    }

    /// Any version ever saved, by its content hash (`sha256:…`).
    pub fn agent_version(&self, hash: &str) -> Result<Option<AgentSpec>, CatalogError> {
        let json: Option<String> = self.with_conn(|c| {
            c.query_row(
                "SELECT spec_json FROM agent_spec_versions WHERE hash = ?1",
                [hash],
                |r| r.get(0),
            )
            .optional()
        })?;
        json.map(|j| parse_spec(&j)).transpose()
    }

    /// Every version saved under `name`, oldest first (including ones no longer current).
    pub fn agent_versions(&self, name: &str) -> Result<Vec<AgentVersion>, CatalogError> {
        self.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT hash, created_at_ms FROM agent_spec_versions
                 WHERE name = ?1 ORDER BY created_at_ms, rowid",
            )?;
            let rows = stmt.query_map([name], |r| {
                Ok(AgentVersion {
                    hash: r.get(0)?,
                    created_at_ms: r.get(1)?,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
    }

    /// Every agent, sorted by name.
    pub fn agents(&self) -> Result<Vec<AgentSummary>, CatalogError> {
        self.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT name, description, hash, updated_at_ms FROM agent_specs ORDER BY name",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(AgentSummary {
                    name: r.get(0)?,
                    description: r.get(1)?,
                    hash: r.get(2)?,
                    updated_at_ms: r.get(3)?,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
    }

    /// Removes the agent from the list; whether it existed. Its saved versions stay (runs name
    /// the version they started with) and so does its memory, should it come back.
    pub fn delete_agent(&self, name: &str) -> Result<bool, CatalogError> {
        let n = self.with_conn(|c| c.execute("DELETE FROM agent_specs WHERE name = ?1", [name]))?;
        self.touch();
        Ok(n > 0)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half-done transaction behind (it rolls back
        // on drop), so the connection is still good.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, CatalogError> {
        Ok(f(&self.lock())?)
    }

    /// `f` in one IMMEDIATE transaction (the write lock is taken up front, so reads inside it
    /// see what the write will replace).
    fn with_tx<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, CatalogError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

fn parse_spec(json: &str) -> Result<AgentSpec, CatalogError> {
    Ok(AgentSpec::from_json_str(json)?)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
