//! The five agent stores written once, for every SQL backend: statements with `?N`
//! placeholders on the engine's journal seam ([`Db`]), run on the connections a backend gives
//! ([`SqlConnections`]). Each backend keeps only its connections and its schema.

mod agents;
mod memory;
mod servers;
mod settings;
mod triggers;

use std::sync::Arc;

use waymark_engine::store::journal::{Db, Dialect};
use waymark_engine::StoreError;

use super::{AgentStores, DbError, DbErrorKind};
use crate::catalog::CatalogError;
use crate::triggers::TriggerError;

/// A closure run on a connection (see [`SqlConnections`]). `Send`: a backend whose driver
/// cannot block an async thread runs it on a thread of its own.
pub type SqlWork<'a> = dyn FnMut(&mut dyn Db) -> Result<(), StoreError> + Send + 'a;

/// A backend's connections for the agent stores.
pub trait SqlConnections: Send + Sync + 'static {
    /// Runs `work` on a connection for reading.
    fn read(&self, work: &mut SqlWork<'_>) -> Result<(), StoreError>;
    /// Runs `work` in one transaction, committed when it returns `Ok`, rolled back otherwise.
    /// Writers are serialized (the write lock is taken up front), so reads inside see what the
    /// write replaces.
    fn write(&self, work: &mut SqlWork<'_>) -> Result<(), StoreError>;
    fn dialect(&self) -> Dialect;
}

/// Every agent-side store on one backend's connections. Cheap to share (`Arc`).
pub struct SqlAgentStore {
    conns: Arc<dyn SqlConnections>,
}

impl std::fmt::Debug for SqlAgentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlAgentStore")
            .field("dialect", &self.conns.dialect())
            .finish_non_exhaustive()
    }
}

/// Marks a closure's own error, so the transaction rolls back and the error is returned as is.
const CLOSURE_FAILED: &str = "the agent store's work failed";

impl SqlAgentStore {
    pub fn new(conns: Arc<dyn SqlConnections>) -> Arc<SqlAgentStore> {
        Arc::new(SqlAgentStore { conns })
    }

    /// The five stores, all this one.
    pub fn stores(self: &Arc<Self>) -> AgentStores {
        AgentStores::from_one(self.clone())
    }

    fn run<T, E>(
        &self,
        write: bool,
        f: impl FnOnce(&mut dyn Db) -> Result<T, E> + Send,
    ) -> Result<T, E>
    where
        T: Send,
        E: From<StoreError> + Send,
    {
        let mut f = Some(f);
        let mut out: Option<Result<T, E>> = None;
        let mut work = |db: &mut dyn Db| -> Result<(), StoreError> {
            let Some(f) = f.take() else {
                return Ok(());
            };
            let result = f(db);
            let failed = result.is_err();
            out = Some(result);
            if failed {
                return Err(StoreError::Conflict(CLOSURE_FAILED.into()));
            }
            Ok(())
        };
        let done = if write {
            self.conns.write(&mut work)
        } else {
            self.conns.read(&mut work)
        };
        match (done, out) {
            (_, Some(Err(e))) => Err(e),
            (Ok(()), Some(Ok(v))) => Ok(v),
            (Err(e), _) => Err(e.into()),
            (Ok(()), None) => Err(StoreError::Sqlite("the agent store ran nothing".into()).into()),
        }
    }

    /// `f` on a connection for reading.
    fn read<T, E>(&self, f: impl FnOnce(&mut dyn Db) -> Result<T, E> + Send) -> Result<T, E>
    where
        T: Send,
        E: From<StoreError> + Send,
    {
        self.run(false, f)
    }

    /// `f` in one serialized write transaction.
    fn write<T, E>(&self, f: impl FnOnce(&mut dyn Db) -> Result<T, E> + Send) -> Result<T, E>
    where
        T: Send,
        E: From<StoreError> + Send,
    {
        self.run(true, f)
    }
}

impl From<StoreError> for DbError {
    fn from(e: StoreError) -> Self {
        let kind = match &e {
            StoreError::Locked { .. } | StoreError::Unavailable { .. } => DbErrorKind::Busy,
            StoreError::Full(_) => DbErrorKind::Full,
            StoreError::TooBig(_) => DbErrorKind::TooBig,
            StoreError::Corrupt { .. } => DbErrorKind::Corrupt,
            _ => DbErrorKind::Other,
        };
        DbError::new(kind, e.to_string())
    }
}

impl From<StoreError> for CatalogError {
    fn from(e: StoreError) -> Self {
        CatalogError::Database(e.into())
    }
}

impl From<StoreError> for TriggerError {
    fn from(e: StoreError) -> Self {
        TriggerError::Database(e.into())
    }
}

/// `usize` as a SQL `LIMIT` (which is signed).
fn sql_limit(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
