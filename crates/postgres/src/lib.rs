//! Waymark's team backend: the engine's journal on PostgreSQL, so workers on several machines
//! share runs through the same lease/epoch protocol as on SQLite (see ../shared/DESIGN.md,
//! "Backends").
//!
//! This crate is being built up: today it connects, refuses a password in the URL, and
//! migrates the schema (under an advisory lock, refusing a newer one); the store traits follow.

mod errors;
mod schema;

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
}

impl Default for PgConfig {
    fn default() -> Self {
        PgConfig { pool_size: 16 }
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
    /// comes from `$PGPASSWORD`, or the server needs none.
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
                         in $PGPASSWORD instead"
                        .into(),
            });
        }
        if let Some(password) = std::env::var_os("PGPASSWORD").filter(|p| !p.is_empty()) {
            pg.password(password.as_encoded_bytes());
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
        let mut client = store.client().await?;
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
