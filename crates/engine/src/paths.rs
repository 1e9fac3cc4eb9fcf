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

/// Creates `dir` (and missing parents) readable by the owner only: the data directory holds
/// the database, logs and the API token.
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates `path` empty and owner-only if it does not exist (an existing file is left as it
/// is). SQLite gives its WAL and journal files the permissions of the database file.
pub fn create_private_file(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    match options.open(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other.map(drop),
    }
}
