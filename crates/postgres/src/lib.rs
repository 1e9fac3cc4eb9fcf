//! Waymark's team backend: the engine's journal on PostgreSQL, so workers on several machines
//! share runs through the same lease/epoch protocol as on SQLite (see ../shared/DESIGN.md,
//! "Backends").
//!
//! This crate is being built up: today it connects (the password from `$PGPASSWORD` or a
//! password file, never the URL) and migrates the schema (under an advisory lock, refusing a
//! newer one); the store traits follow.

mod errors;
mod passfile;
mod schema;

use std::path::PathBuf;
use std::str::FromStr;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;
use waymark_engine::StoreError;

pub use schema::LATEST_VERSION;

/// Whether `db` (a `--db` value or `$WAYMARK_DB`) names a PostgreSQL database rather than a
/// SQLite file.
pub fn is_postgres_url(db: &str) -> bool {
    let lower = db.get(..13).unwrap_or(db).to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// How to reach the database.
#[derive(Clone, Debug)]
pub struct PgConfig {
    /// Connections the pool keeps at most.
    pub pool_size: usize,
    /// Take the password from `$PGPASSWORD` when it is set.
    pub password_from_env: bool,
    /// The password file to look in otherwise (libpq's format and rules): `$PGPASSFILE`, else
    /// `~/.pgpass`.
    pub passfile: Option<PathBuf>,
}

impl Default for PgConfig {
    fn default() -> Self {
        let passfile = std::env::var_os("PGPASSFILE")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass")));
        PgConfig {
            pool_size: 16,
            password_from_env: true,
            passfile,
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

/// The journal on one PostgreSQL database.
pub struct PgStore {
    pool: Pool,
    location: String,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`) and migrates its schema. The password
    /// never comes from the URL (it would land in shell history, process lists and logs): it
    /// comes from `$PGPASSWORD`, else the password file, or the server needs none.
    pub async fn open(url: &str, config: PgConfig) -> Result<PgStore, StoreError> {
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
        // Why the password file was not used, for the error if the server then refuses us.
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
        let manager = Manager::from_config(
            pg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size.max(1))
            .build()
            .map_err(|e| open_err(e.to_string()))?;
        let store = PgStore { pool, location };
        let mut client = match (store.client().await, passfile_problem) {
            (Ok(client), _) => client,
            (Err(StoreError::Open { path, detail }), Some(why)) => {
                return Err(StoreError::Open {
                    path,
                    detail: format!("{detail}; {why}"),
                })
            }
            (Err(e), _) => return Err(e),
        };
        schema::migrate(&mut client, &store.location).await?;
        Ok(store)
    }

    /// The URL this store was opened with (it holds no password).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The schema version the database is at.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT version FROM waymark_schema", &[])
            .await
            .map_err(errors::db_err)?;
        Ok(row.get(0))
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| errors::pool_err(&self.location, e))
    }
}
