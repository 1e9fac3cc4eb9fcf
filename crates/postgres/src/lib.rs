//! Waymark's team backend: the engine's journal on PostgreSQL, so workers on several machines
//! share runs through the same lease/epoch protocol as on SQLite (see ../shared/DESIGN.md,
//! "Backends").
//!
//! The journal's transitions and reads are the engine's own (`waymark_engine::store::journal`),
//! run on PostgreSQL connections: one writer per process with group commit, a few readers, and
//! a listener for other processes' commits (LISTEN/NOTIFY, with a bounded poll behind it).

mod agent;
mod db;
mod errors;
mod passfile;
mod schema;
mod store;
mod writer;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use postgres::NoTls;
use waymark_engine::{SharedClock, StoreError};

pub use agent::{open_app, PgAgentConnections};
pub use schema::LATEST_VERSION;
pub use store::PgStore;

/// Whether `db` (a `--db` value or `$WAYMARK_DB`) names a PostgreSQL database rather than a
/// SQLite file.
pub fn is_postgres_url(db: &str) -> bool {
    let lower = db.get(..13).unwrap_or(db).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// How to reach the database, and how the store uses it.
#[derive(Clone)]
pub struct PgConfig {
    /// Read connections kept open at most.
    pub pool_size: usize,
    /// Take the password from `$PGPASSWORD` when it is set.
    pub password_from_env: bool,
    /// The password file to look in otherwise (libpq's format and rules): `$PGPASSFILE`, else
    /// `~/.pgpass`.
    pub passfile: Option<PathBuf>,
    /// How long the listener waits for a notification before it looks for other processes'
    /// commits anyway (a notification lost with a connection is then caught up).
    pub poll_interval: Duration,
    /// Transitions committed together at most.
    pub max_batch: usize,
    /// Payloads larger than this (bytes of JSON) go to the content-addressed blob table.
    pub blob_threshold: usize,
    /// A clock to use instead of the database's `clock_timestamp()` (tests that move time by
    /// hand). Leases are judged by the database's clock otherwise, never a worker's.
    pub clock: Option<SharedClock>,
}

impl Default for PgConfig {
    fn default() -> Self {
        let passfile = std::env::var_os("PGPASSFILE")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass")));
        PgConfig {
            pool_size: 8,
            password_from_env: true,
            passfile,
            poll_interval: Duration::from_millis(500),
            max_batch: 512,
            blob_threshold: 768,
            clock: None,
        }
    }
}

/// What a password file's lines are matched against: the first host (a socket is
/// `localhost`, as libpq has it), the port, the database (the user's name when unset), the user.
fn passfile_target(pg: &tokio_postgres::Config) -> passfile::Target<'_> {
    use tokio_postgres::config::Host;
    let user = pg.get_user().unwrap_or("");
    passfile::Target {
        host: match pg.get_hosts().first() {
            Some(Host::Tcp(host)) => host.as_str(),
            _ => "localhost",
        },
        port: pg.get_ports().first().copied().unwrap_or(5432),
        database: pg.get_dbname().unwrap_or(user),
        user,
    }
}

/// Makes connections to one database: its settings (with the password, when there is one)
/// and its URL as errors show it.
pub(crate) struct Connector {
    config: postgres::Config,
    pub location: String,
}

impl Connector {
    /// Reads `url` and finds its password. The password never comes from the URL (it would
    /// land in shell history, process lists and logs): it comes from `$PGPASSWORD`, else the
    /// password file, or the server needs none. Returns why the password file was not used,
    /// for the error if the server then refuses us.
    fn new(url: &str, config: &PgConfig) -> Result<(Connector, Option<String>), StoreError> {
        let location = url.to_string();
        let open_err = |detail: String| StoreError::Open {
            path: location.clone(),
            detail,
        };
        let mut pg = tokio_postgres::Config::from_str(url)
            .map_err(|e| open_err(format!("not a PostgreSQL URL: {e}")))?;
        if pg.get_password().is_some() {
            // The URL is shown in errors and lists; never with a secret in it.
            return Err(StoreError::Open {
                path: "a postgres:// URL with a password".into(),
                detail:
                    "the URL holds a password: remove it from --db and $WAYMARK_DB and give it \
                         in $PGPASSWORD or a password file ($PGPASSFILE, ~/.pgpass) instead"
                        .into(),
            });
        }
        if config.password_from_env {
            if let Some(password) = std::env::var_os("PGPASSWORD").filter(|p| !p.is_empty()) {
                pg.password(password.as_encoded_bytes());
            }
        }
        let mut passfile_problem = None;
        if let (None, Some(path)) = (pg.get_password(), &config.passfile) {
            match passfile::read(path, &passfile_target(&pg)) {
                Ok(Some(password)) => {
                    pg.password(password);
                }
                Ok(None) => {}
                Err(why) => {
                    tracing::warn!("{why}");
                    passfile_problem = Some(why);
                }
            }
        }
        if pg.get_application_name().is_none() {
            pg.application_name("waymark");
        }
        Ok((
            Connector {
                config: pg.into(),
                location,
            },
            passfile_problem,
        ))
    }

    /// A new connection (blocking: call it off the async threads).
    pub(crate) fn connect(&self) -> Result<db::PgConn, StoreError> {
        self.config
            .connect(NoTls)
            .map(db::PgConn::new)
            .map_err(|e| errors::connect_err(&self.location, e))
    }
}
