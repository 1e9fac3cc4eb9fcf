//! Which database this computer's Waymark uses: its own file, or a team database (Settings:
//! "this computer / team database"). The choice is kept outside the database it chooses, by
//! the host ([`DatabaseChoice`]); it takes effect at the next start, since every part of a
//! running Waymark (worker, triggers, streams) is on the database it started with.

use serde::{Deserialize, Serialize};

use crate::{Api, ApiError, ErrorCode};

/// Where a database is.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseKind {
    /// A SQLite file on this computer.
    ThisComputer,
    /// A PostgreSQL database shared with other machines.
    Team,
}

/// What chose the database in use.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseChosenBy {
    /// `--db` or `$WAYMARK_DB`: it wins over the setting.
    Environment,
    /// The setting below.
    Setting,
    /// Nothing: this computer's file.
    Default,
}

/// The database in use, and the one the next start will use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct DatabaseSetting {
    pub in_use: DatabaseKind,
    /// Its file, or its URL (never with a password).
    pub location: String,
    pub chosen_by: DatabaseChosenBy,
    /// The team database the setting names; absent: this computer's file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub team_database: Option<String>,
    /// The next start will use another database than this one: restart Waymark to switch.
    pub restart_needed: bool,
}

/// Choose the database for the next start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsSetDatabaseRequest {
    /// `postgres://user@host:port/database[?sslmode=verify-full&sslrootcert=…]`, without a
    /// password; absent or empty: this computer's file.
    #[serde(default)]
    #[ts(optional)]
    pub team_database: Option<String>,
    /// The team database's password, kept in this computer's keychain (write-only); absent:
    /// keep the one stored, or use `$PGPASSWORD` or the password file.
    #[serde(default)]
    #[ts(optional)]
    pub password: Option<String>,
}

/// What a host knows of its database, and how it keeps the choice.
pub trait DatabaseChoice: Send + Sync + 'static {
    /// The database in use and the saved choice.
    fn current(&self) -> Result<DatabaseSetting, String>;
    /// Keeps `password` (when given), checks that the team database can be reached and used,
    /// and saves the choice; `None` chooses this computer's file. Blocking: it connects.
    fn choose(
        &self,
        team_database: Option<&str>,
        password: Option<&str>,
    ) -> Result<(), ChoiceError>;
}

/// Why a choice was not saved.
#[derive(Debug, thiserror::Error)]
pub enum ChoiceError {
    /// The URL is not one (or holds a password).
    #[error("{0}")]
    Invalid(String),
    /// The database cannot be reached or refuses us (wrong password, newer schema, TLS).
    #[error("{0}")]
    Unreachable(String),
    /// The choice could not be written.
    #[error("{0}")]
    Storage(String),
}

impl Api {
    fn database_choice(&self) -> Result<std::sync::Arc<dyn DatabaseChoice>, ApiError> {
        self.database.clone().ok_or_else(|| {
            ApiError::new(
                ErrorCode::Conflict,
                "this door does not choose its database: use --db or $WAYMARK_DB",
            )
        })
    }

    /// The database in use and the saved choice, where the door keeps one.
    pub(crate) fn database_setting(&self) -> Option<DatabaseSetting> {
        let choice = self.database.as_ref()?;
        match choice.current() {
            Ok(setting) => Some(setting),
            Err(why) => {
                tracing::warn!("the database setting cannot be read: {why}");
                None
            }
        }
    }

    pub async fn settings_set_database(
        &self,
        req: SettingsSetDatabaseRequest,
    ) -> Result<DatabaseSetting, ApiError> {
        let choice = self.database_choice()?;
        let url = req
            .team_database
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty());
        let password = req.password.filter(|p| !p.is_empty());
        if url.is_none() && password.is_some() {
            return Err(ApiError::invalid(
                "password",
                "password: a password goes with a team database",
            ));
        }
        let chooser = choice.clone();
        tokio::task::spawn_blocking(move || chooser.choose(url.as_deref(), password.as_deref()))
            .await
            .map_err(|e| ApiError::internal(format!("choosing the database: {e}")))?
            .map_err(|e| match e {
                ChoiceError::Invalid(m) => ApiError::invalid("team_database", m),
                ChoiceError::Unreachable(m) => ApiError::new(ErrorCode::Upstream, m),
                ChoiceError::Storage(m) => ApiError::new(ErrorCode::Unavailable, m),
            })?;
        choice.current().map_err(ApiError::internal)
    }
}
