//! Which database a door opens when `--db` and `$WAYMARK_DB` name none: the team database the
//! Settings chose (kept in `<data dir>/database.json`, outside the database it chooses), else
//! this computer's file. The API's settings read and change the choice through
//! [`HostDatabaseChoice`]; it takes effect at the next start.

use std::path::{Path, PathBuf};

use waymark_api::{ChoiceError, DatabaseChoice, DatabaseChosenBy, DatabaseKind, DatabaseSetting};

use crate::HostError;

/// The file that keeps the choice, in the data directory.
pub const CHOICE_FILE: &str = "database.json";

/// The database to open, and what chose it: `$WAYMARK_DB`, else the saved choice, else
/// `waymark.db` in `data_dir`. A choice file that cannot be read is an error naming it (a
/// silent fall back to this computer's file would hide the team's runs).
pub fn chosen_db(data_dir: &Path) -> Result<(PathBuf, DatabaseChosenBy), HostError> {
    if let Some(db) = std::env::var_os("WAYMARK_DB").filter(|v| !v.is_empty()) {
        return Ok((PathBuf::from(db), DatabaseChosenBy::Environment));
    }
    Ok(match read_choice(data_dir).map_err(HostError::Choice)? {
        Some(url) => (PathBuf::from(url), DatabaseChosenBy::Setting),
        None => (local_db(data_dir), DatabaseChosenBy::Default),
    })
}

fn local_db(data_dir: &Path) -> PathBuf {
    data_dir.join("waymark.db")
}

/// The team database the choice file names; `None` without one.
pub fn read_choice(data_dir: &Path) -> Result<Option<String>, String> {
    let path = data_dir.join(CHOICE_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let broken = |why: String| {
        format!(
            "{} is not a database choice ({why}): fix it, or delete it to use this computer's database",
            path.display()
        )
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| broken(e.to_string()))?;
    let url = value
        .get("team_database")
        .and_then(|v| v.as_str())
        .ok_or_else(|| broken("no \"team_database\" text".into()))?;
    waymark_postgres::check_url(url).map_err(broken)?;
    Ok(Some(url.to_string()))
}

/// Saves the choice (`None`: this computer's file), replacing the file whole.
fn write_choice(data_dir: &Path, team_database: Option<&str>) -> Result<(), String> {
    let path = data_dir.join(CHOICE_FILE);
    let Some(url) = team_database else {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(format!("cannot remove {}: {e}", path.display()))
            }
            _ => Ok(()),
        };
    };
    crate::paths::create_private_dir(data_dir)
        .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    let text = serde_json::json!({ "team_database": url }).to_string();
    let partial = data_dir.join(format!("{CHOICE_FILE}.partial"));
    let write = || -> std::io::Result<()> {
        use std::io::Write as _;
        let _ = std::fs::remove_file(&partial);
        crate::paths::create_private_file(&partial)?;
        let mut file = std::fs::OpenOptions::new().write(true).open(&partial)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&partial, &path)
    };
    write().map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The API's view of the choice, for the host started on `in_use`.
pub(crate) struct HostDatabaseChoice {
    pub data_dir: PathBuf,
    pub in_use: PathBuf,
    pub chosen_by: DatabaseChosenBy,
}

fn kind_of(db: &Path) -> DatabaseKind {
    match db.to_str() {
        Some(d) if waymark_postgres::is_postgres_url(d) => DatabaseKind::Team,
        _ => DatabaseKind::ThisComputer,
    }
}

impl DatabaseChoice for HostDatabaseChoice {
    fn current(&self) -> Result<DatabaseSetting, String> {
        let saved = read_choice(&self.data_dir)?;
        let next = match (self.chosen_by, &saved) {
            // `--db` and `$WAYMARK_DB` win over the setting at the next start too.
            (DatabaseChosenBy::Environment, _) => self.in_use.clone(),
            (_, Some(url)) => PathBuf::from(url),
            (_, None) => local_db(&self.data_dir),
        };
        Ok(DatabaseSetting {
            in_use: kind_of(&self.in_use),
            location: self.in_use.display().to_string(),
            chosen_by: self.chosen_by,
            team_database: saved,
            restart_needed: next != self.in_use,
        })
    }

    fn choose(
        &self,
        team_database: Option<&str>,
        password: Option<&str>,
    ) -> Result<(), ChoiceError> {
        let Some(url) = team_database else {
            return write_choice(&self.data_dir, None).map_err(ChoiceError::Storage);
        };
        waymark_postgres::check_url(url).map_err(ChoiceError::Invalid)?;
        let secrets = waymark_agent::SecretStore::open(&self.data_dir)
            .map_err(|e| ChoiceError::Storage(e.to_string()))?;
        // The password is tried first and kept only once the database took it.
        let config = waymark_postgres::PgConfig {
            password: password.map(str::to_string),
            secrets: Some(secrets.clone()),
            ..waymark_postgres::PgConfig::default()
        };
        waymark_postgres::probe(url, &config)
            .map_err(|e| ChoiceError::Unreachable(e.to_string()))?;
        if let Some(password) = password {
            let secret = waymark_agent::Secret::new(password);
            waymark_postgres::remember_password(&secrets, url, &secret)
                .map_err(|e| ChoiceError::Storage(e.to_string()))?;
        }
        write_choice(&self.data_dir, Some(url)).map_err(ChoiceError::Storage)
    }
}
