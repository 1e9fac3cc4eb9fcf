//! Where Waymark keeps its files. Every door (CLI, server, desktop app) asks these functions,
//! so they all open the same database.

use std::path::PathBuf;

/// `$WAYMARK_HOME`, else the user's data directory (`~/.local/share/waymark` on Linux).
pub fn data_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("WAYMARK_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home);
    }
    dirs::data_dir()
        .map(|d| d.join("waymark"))
        .unwrap_or_else(|| PathBuf::from(".waymark"))
}

/// `$WAYMARK_DB`, else `waymark.db` in [`data_dir`].
pub fn default_db_path() -> PathBuf {
    if let Some(db) = std::env::var_os("WAYMARK_DB").filter(|v| !v.is_empty()) {
        return PathBuf::from(db);
    }
    data_dir().join("waymark.db")
}

pub fn log_dir() -> PathBuf {
    data_dir().join("logs")
}
