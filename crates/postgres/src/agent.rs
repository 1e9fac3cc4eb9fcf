//! The agent stores' connections on PostgreSQL ([`SqlConnections`]): the stores themselves are
//! the agent crate's, the same SQL as on SQLite.
//!
//! The agent stores are called from async code and block until they have an answer, as on
//! SQLite; the blocking PostgreSQL client cannot run on an async thread (it drives its own
//! small runtime), so there a call runs on a short-lived thread of its own.

use std::sync::{Arc, Mutex};

use waymark_agent::stores::{SqlAgentStore, SqlConnections, SqlWork};
use waymark_agent::AgentStores;
use waymark_engine::store::journal::Dialect;
use waymark_engine::StoreError;

use crate::db::PgConn;
use crate::errors::db_err;
use crate::{Connector, PgConfig};

/// Serializes the agent stores' writers on every machine, as SQLite's write lock does (an
/// arbitrary constant: "wmagent" in ASCII).
const AGENT_WRITE_LOCK: i64 = 0x0077_6d61_6765_6e74;

/// How long a pooled connection may take to show it still works.
const VALID_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Connections for the agent stores on one database.
pub struct PgAgentConnections {
    connector: Arc<Connector>,
    idle: Mutex<Vec<PgConn>>,
    keep: usize,
}

impl PgAgentConnections {
    /// The agent stores on the database at `url` (its schema is the journal's: open the
    /// engine's [`crate::PgStore`] first, which migrates it).
    pub fn open(url: &str, config: &PgConfig) -> Result<AgentStores, StoreError> {
        let (connector, _) = Connector::new(url, config)?;
        let conns = Arc::new(PgAgentConnections {
            connector: Arc::new(connector),
            idle: Mutex::new(Vec::new()),
            keep: config.pool_size.max(1),
        });
        Ok(SqlAgentStore::new(conns).stores())
    }

    /// `f` on an idle connection (made when none is), off the async threads.
    fn with_connection(
        &self,
        f: &mut (dyn FnMut(&mut PgConn) -> Result<(), StoreError> + Send),
    ) -> Result<(), StoreError> {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut run = move |idle: Option<PgConn>| -> (Option<PgConn>, Result<(), StoreError>) {
            // A connection the server closed meanwhile (a restart) is found out here, not by
            // the call: the agent stores' work runs once.
            let idle = idle.filter(|c| !c.client.is_closed());
            let idle = idle.and_then(|mut c| c.client.is_valid(VALID_WITHIN).is_ok().then_some(c));
            let mut conn = match idle {
                Some(c) => c,
                _ => match self.connector.connect() {
                    Ok(c) => c,
                    Err(e) => return (None, Err(e)),
                },
            };
            let result = f(&mut conn);
            (Some(conn), result)
        };
        let (conn, result) = if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|s| {
                s.spawn(move || run(idle)).join().unwrap_or_else(|_| {
                    (
                        None,
                        Err(StoreError::Sqlite("an agent store call panicked".into())),
                    )
                })
            })
        } else {
            run(idle)
        };
        if let Some(conn) = conn.filter(|c| !c.client.is_closed()) {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            if idle.len() < self.keep {
                idle.push(conn);
            } else {
                drop(idle);
                close_off_async(conn);
            }
        }
        result.map_err(|e| match e {
            StoreError::Unavailable { detail, .. } => StoreError::Unavailable {
                location: self.connector.location.clone(),
                detail,
            },
            other => other,
        })
    }
}

/// A blocking client says goodbye on its own runtime: never on an async thread.
fn close_off_async(conn: PgConn) {
    if tokio::runtime::Handle::try_current().is_ok() {
        let _ = std::thread::Builder::new()
            .name("waymark-pg-close".into())
            .spawn(move || drop(conn));
    } else {
        drop(conn);
    }
}

impl Drop for PgAgentConnections {
    fn drop(&mut self) {
        for conn in std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner())) {
            close_off_async(conn);
        }
    }
}

impl SqlConnections for PgAgentConnections {
    fn read(&self, work: &mut SqlWork<'_>) -> Result<(), StoreError> {
        self.with_connection(&mut |conn| work(conn))
    }

    fn write(&self, work: &mut SqlWork<'_>) -> Result<(), StoreError> {
        self.with_connection(&mut |conn| {
            conn.client
                .batch_execute(&format!(
                    "BEGIN; SELECT pg_advisory_xact_lock({AGENT_WRITE_LOCK})"
                ))
                .map_err(db_err)?;
            match work(conn) {
                Ok(()) => conn.client.batch_execute("COMMIT").map_err(db_err),
                Err(e) => {
                    let _ = conn.client.batch_execute("ROLLBACK");
                    Err(e)
                }
            }
        })
    }

    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }
}

/// The agent app on a PostgreSQL database shared by several machines: the engine's journal and
/// the agent stores there; secrets stay in this machine's keychain (or `data_dir`), with the
/// logs and tokens.
pub async fn open_app(
    url: &str,
    data_dir: &std::path::Path,
    registry: waymark_engine::Registry,
    clock: waymark_engine::SharedClock,
) -> Result<waymark_agent::app::AgentApp, waymark_agent::app::AppError> {
    let dir = data_dir.to_path_buf();
    // The secret store answers first: it may hold the database's password.
    let secrets = tokio::task::spawn_blocking(move || waymark_agent::SecretStore::open(&dir))
        .await
        .map_err(|e| {
            waymark_agent::app::AppError::Invalid(format!(
                "opening the secret store was interrupted: {e}"
            ))
        })??;
    let config = PgConfig {
        secrets: Some(secrets.clone()),
        ..PgConfig::default()
    };
    let engine = crate::PgStore::open(url, config.clone()).await?;
    let (url, data_dir) = (url.to_string(), data_dir.to_path_buf());
    tokio::task::spawn_blocking(move || {
        let agent = PgAgentConnections::open(&url, &config)?;
        let stores = waymark_agent::app::AppStores {
            engine,
            agent,
            secrets,
        };
        waymark_agent::app::AgentApp::with_stores(stores, &data_dir, registry, clock)
    })
    .await
    .map_err(|e| {
        waymark_agent::app::AppError::Invalid(format!("opening the database was interrupted: {e}"))
    })?
}
