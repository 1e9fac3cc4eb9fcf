//! Waymark's team backend: the engine's journal on PostgreSQL, so workers on several machines
//! share runs through the same lease/epoch protocol as on SQLite (see ../shared/DESIGN.md,
//! "Backends").
//!
//! The journal's transitions and reads are the engine's own (`waymark_engine::store::journal`),
//! run on PostgreSQL connections: one writer per process with group commit, a few readers, and
//! a listener for other processes' commits (LISTEN/NOTIFY, with a bounded poll behind it).

mod agent;
mod copy;
mod db;
mod errors;
mod passfile;
mod password;
mod schema;
mod store;
mod tls;
mod writer;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use waymark_engine::{SharedClock, StoreError};

pub use agent::{open_app, PgAgentConnections};
pub use copy::{copy_sqlite_to_postgres, CopyReport, SecretUse, TableCopy};
pub use password::{forget_password, remember_password};
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
    /// A password given for this connection (a person typing it into Settings), tried before
    /// any other source.
    pub password: Option<String>,
    /// This machine's secret store, where `waymark db password` keeps the password (looked
    /// in after `$PGPASSWORD`, before the password file).
    pub secrets: Option<waymark_agent::SecretStore>,
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
            password: None,
            secrets: None,
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

/// `url` with the password of its user part (if any) replaced by `***`.
pub fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        _ => url.to_string(),
    }
}

/// Whether `url` is a usable team database URL: it parses (its `sslmode` too) and holds no
/// password. The error says what is wrong, never showing a password.
pub fn check_url(url: &str) -> Result<(), String> {
    if !is_postgres_url(url) {
        return Err(format!(
            "{:?} is not a team database: give a postgres://user@host:port/database URL",
            without_password(url)
        ));
    }
    Connector::new(
        url,
        &PgConfig {
            password_from_env: false,
            passfile: None,
            ..PgConfig::default()
        },
    )
    .map(drop)
    .map_err(|e| e.to_string())
}

/// Whether this machine reaches the database `url` names (its password found as every door
/// finds it) and can use it: its schema version, 0 for a database Waymark has not used yet.
/// A database written by a newer Waymark is refused with both versions. Blocking.
pub fn probe(url: &str, config: &PgConfig) -> Result<i64, StoreError> {
    let (connector, mut conn) = Connector::first_connection(url, config)?;
    let version = schema::current_version(&mut conn.client)?;
    StoreError::check_schema_version(version, LATEST_VERSION, &connector.location, || {
        schema::written_by(&mut conn.client, version)
    })?;
    Ok(version)
}

/// Makes connections to one database: its settings (with the password, when there is one)
/// and its URL as errors show it.
pub(crate) struct Connector {
    config: postgres::Config,
    tls: tls::RustlsConnect,
    pub location: String,
}

impl Connector {
    /// Reads `url` and finds its password. The password never comes from the URL (it would
    /// land in shell history, process lists and logs): it comes from `$PGPASSWORD`, else the
    /// password file, or the server needs none. Returns why the password file was not used,
    /// for the error if the server then refuses us.
    fn new(url: &str, config: &PgConfig) -> Result<(Connector, Option<String>), StoreError> {
        // Errors show where the database is, never a secret: a password in the URL is refused
        // below, and hidden from every error before that.
        let location = without_password(url);
        let open_err = |detail: String| StoreError::Open {
            path: location.clone(),
            detail,
        };
        let (url_rest, tls_settings) =
            tls::split_url(url).map_err(|e| open_err(format!("not a PostgreSQL URL: {e}")))?;
        let tls = tls::RustlsConnect::new(&tls_settings).map_err(open_err)?;
        let mut pg = tokio_postgres::Config::from_str(&url_rest)
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
        if let Some(password) = &config.password {
            pg.password(password);
        }
        if config.password_from_env && pg.get_password().is_none() {
            if let Some(password) = std::env::var_os("PGPASSWORD").filter(|p| !p.is_empty()) {
                pg.password(password.as_encoded_bytes());
            }
        }
        if let (None, Some(secrets)) = (pg.get_password(), &config.secrets) {
            match password::stored(secrets, &passfile_target(&pg)) {
                Ok(Some(password)) => {
                    pg.password(password);
                }
                Ok(None) => {}
                Err(why) => tracing::warn!("{why}"),
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
                tls,
                location,
            },
            passfile_problem,
        ))
    }

    /// The secret store's key for the password of the database `url` names.
    fn password_key(url: &str) -> Result<String, StoreError> {
        let open_err = |detail: String| StoreError::Open {
            path: without_password(url),
            detail: format!("not a PostgreSQL URL: {detail}"),
        };
        let (rest, _) = tls::split_url(url).map_err(open_err)?;
        let pg = tokio_postgres::Config::from_str(&rest).map_err(|e| open_err(e.to_string()))?;
        Ok(password::key_for(&passfile_target(&pg)))
    }

    /// The connector for `url` and a first connection: a failure is an open error that says
    /// why the password file was not used, when it was not.
    pub(crate) fn first_connection(
        url: &str,
        config: &PgConfig,
    ) -> Result<(Connector, db::PgConn), StoreError> {
        let (connector, passfile_problem) = Connector::new(url, config)?;
        match connector.connect() {
            Ok(conn) => Ok((connector, conn)),
            Err(StoreError::Unavailable { location, detail }) => {
                let detail = match passfile_problem {
                    Some(why) => format!("{detail}; {why}"),
                    None => detail,
                };
                Err(StoreError::Open {
                    path: location,
                    detail,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// A new connection (blocking: call it off the async threads).
    pub(crate) fn connect(&self) -> Result<db::PgConn, StoreError> {
        self.config
            .connect(self.tls.clone())
            .map(db::PgConn::new)
            .map_err(|e| errors::connect_err(&self.location, e))
    }
}
