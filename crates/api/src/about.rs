//! What this Waymark is and where its data lives: the app's About box and `waymark --version`.
//! The host knows what the API cannot see for itself (the data directory, the upgrade it made
//! at this start, where the `waymark` command is) and hands it over as [`HostFacts`].

use serde::{Deserialize, Serialize};

use crate::{Api, ApiError, DatabaseKind};

/// The upgrade a start made to an older database, and the copy it took first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct DatabaseUpgrade {
    /// The journal's schema version before and after.
    pub from_schema: i64,
    pub to_schema: i64,
    /// The agent catalog's schema version before and after (a team database has one
    /// numbering for both: then these repeat the journal's).
    pub from_catalog: i64,
    pub to_catalog: i64,
    /// The checked copy of the database as it was before (`db backup`); absent for a team
    /// database, whose backups are its server's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub backup: Option<String>,
    /// The Waymark version that upgraded it.
    pub app_version: String,
}

impl DatabaseUpgrade {
    /// The one-line notice a door shows.
    pub fn notice(&self) -> String {
        let backup = match &self.backup {
            Some(path) => format!("; the database as it was is kept in {path}"),
            None => String::new(),
        };
        format!(
            "Waymark {} upgraded the database from schema {} to {} (agent catalog {} to {}){backup}",
            self.app_version, self.from_schema, self.to_schema, self.from_catalog, self.to_catalog
        )
    }
}

/// What the host that serves this API knows of itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostFacts {
    pub data_dir: String,
    /// The agent catalog's schema version, where it has its own (SQLite).
    pub catalog_schema_version: Option<i64>,
    pub upgrade: Option<DatabaseUpgrade>,
    /// The `waymark` command found on this computer, if any.
    pub cli_path: Option<String>,
}

#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct AboutRequest {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct AboutResponse {
    /// This build's version.
    pub version: String,
    /// The database's schema version (the journal's).
    pub schema_version: i64,
    /// The agent catalog's, where it is numbered apart (a local database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub catalog_schema_version: Option<i64>,
    pub database: DatabaseKind,
    /// The database's file, or its URL without a password.
    pub database_location: String,
    /// Secrets' file, tokens, logs, backups and the database choice.
    pub data_dir: String,
    /// The upgrade this start made, shown once as a notice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub upgrade: Option<DatabaseUpgrade>,
    /// Where the `waymark` command is on this computer; absent: not found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub cli_path: Option<String>,
}

impl Api {
    pub async fn about(&self, _: AboutRequest) -> Result<AboutResponse, ApiError> {
        let store = &self.app().store;
        let location = store.location();
        let database =
            if location.starts_with("postgres://") || location.starts_with("postgresql://") {
                DatabaseKind::Team
            } else {
                DatabaseKind::ThisComputer
            };
        let facts = self.host_facts.as_deref().cloned().unwrap_or_default();
        Ok(AboutResponse {
            version: waymark_engine::APP_VERSION.to_string(),
            schema_version: store.schema_version(),
            catalog_schema_version: facts.catalog_schema_version,
            database,
            database_location: location,
            data_dir: if facts.data_dir.is_empty() {
                self.app().data_dir.display().to_string()
            } else {
                facts.data_dir
            },
            upgrade: facts.upgrade,
            cli_path: facts.cli_path,
        })
    }
}
