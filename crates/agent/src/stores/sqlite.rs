//! The agent stores' connections on SQLite: the catalog's and triggers' tables in the engine's
//! database file, over one connection set: one writer (writes queue behind its mutex, each in
//! an IMMEDIATE transaction) and a few readers (WAL lets them read while the writer or the
//! engine writes). The engine's store keeps its own writer thread; nothing else here opens
//! the file. The stores themselves are [`super::sql`]'s, the same on every backend.

mod schema;
pub use schema::{version_of_file as catalog_version_of_file, LATEST as CATALOG_SCHEMA_VERSION};

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, TransactionBehavior};
use waymark_engine::store::journal::Dialect;
use waymark_engine::store::sqlite::SqliteDb;
use waymark_engine::StoreError;

use super::sql::{SqlAgentStore, SqlConnections, SqlWork};
use super::{AgentStores, DbError, DbErrorKind};
use crate::catalog::CatalogError;

const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Readers kept open between reads; more are opened while more read at once.
const IDLE_READERS: usize = 4;

/// Every agent-side store on one SQLite file. Cheap to share (`Arc`).
pub struct SqliteAgentStore {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for SqliteAgentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteAgentStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteAgentStore {
    /// Opens (creating if needed) the agent tables in the database at `path`, migrating them.
    pub fn open(path: &Path) -> Result<Arc<Self>, CatalogError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| CatalogError::Corrupt {
                what: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        let mut conn = connection(path)?;
        // Switching to WAL needs the file to itself for a moment and SQLite reports busy at
        // once instead of waiting (the engine may be opening it too): retry for a while.
        let started = Instant::now();
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
                    path.display()
                ),
            });
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut conn)?;
        Ok(Arc::new(SqliteAgentStore {
            path: path.to_path_buf(),
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
        }))
    }

    /// The five stores, on this file's connections.
    pub fn stores(self: &Arc<Self>) -> AgentStores {
        SqlAgentStore::new(self.clone()).stores()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl SqlConnections for SqliteAgentStore {
    fn read(&self, work: &mut SqlWork<'_>) -> Result<(), StoreError> {
        let idle = lock(&self.readers).pop();
        let conn = match idle {
            Some(c) => c,
            None => {
                let c = connection(&self.path).map_err(|e| StoreError::from_sqlite(e, 0))?;
                // A reader never writes: a mistake here fails instead of taking the lock.
                c.pragma_update(None, "query_only", "ON")
                    .map_err(|e| StoreError::from_sqlite(e, 0))?;
                c
            }
        };
        let out = work(&mut SqliteDb(&conn));
        let mut idle = lock(&self.readers);
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        out
    }

    /// One IMMEDIATE transaction on the writer (the write lock is taken up front, so reads
    /// inside it see what the write will replace).
    fn write(&self, work: &mut SqlWork<'_>) -> Result<(), StoreError> {
        let busy_ms = BUSY_TIMEOUT.as_millis() as u64;
        let mut conn = lock(&self.writer);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| StoreError::from_sqlite(e, busy_ms))?;
        work(&mut SqliteDb(&tx))?;
        tx.commit().map_err(|e| StoreError::from_sqlite(e, busy_ms))
    }

    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a connection leaves no half-done transaction behind (it rolls
    // back on drop), so the connection is still good.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connection to `path` with the busy timeout.
fn connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(db_kind(e), DbErrorKind::Busy)
}

/// The cause of a SQLite failure, by its result code (never by its text).
fn db_kind(e: &rusqlite::Error) -> DbErrorKind {
    let rusqlite::Error::SqliteFailure(f, _) = e else {
        return DbErrorKind::Other;
    };
    match f.code {
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => DbErrorKind::Busy,
        ErrorCode::TooBig => DbErrorKind::TooBig,
        ErrorCode::DiskFull => DbErrorKind::Full,
        ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => DbErrorKind::Corrupt,
        ErrorCode::ConstraintViolation => DbErrorKind::Constraint,
        _ => DbErrorKind::Other,
    }
}

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        // The message as rusqlite shows it, so what users read is unchanged.
        DbError::new(db_kind(&e), e.to_string())
    }
}

impl From<rusqlite::Error> for CatalogError {
    fn from(e: rusqlite::Error) -> Self {
        CatalogError::Database(e.into())
    }
}
