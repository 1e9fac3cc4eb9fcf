//! Opening a local database that this build will upgrade: a checked copy of it first (the
//! same copy as `waymark db backup`), then the migration, then a one-line notice every door
//! shows. A file from a newer build is left alone: opening it refuses before any write.

use std::path::{Path, PathBuf};

use waymark_agent::stores::sqlite::{catalog_version_of_file, CATALOG_SCHEMA_VERSION};
use waymark_api::DatabaseUpgrade;
use waymark_engine::store::sqlite::{backup_file, version_of_file, SCHEMA_VERSION};

use crate::HostError;

/// The folder beside the database where the copies taken before upgrades go.
pub const BACKUP_DIR: &str = "backups";

/// The file's schema versions before opening, when this build will upgrade it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Pending {
    schema: i64,
    catalog: i64,
}

/// What this build will do to the file at `db`: `Some` when it holds a database older than
/// this build's (a new or empty file, or a newer one, is `None`).
pub(crate) fn pending(db: &Path) -> Result<Option<Pending>, HostError> {
    let upgrade_err = |e: String| HostError::Upgrade(format!("cannot read {}: {e}", db.display()));
    let Some(schema) = version_of_file(db).map_err(|e| upgrade_err(e.to_string()))? else {
        return Ok(None);
    };
    // A database no build has written yet, or one from a newer build (refused at open).
    if schema == 0 || schema > SCHEMA_VERSION {
        return Ok(None);
    }
    let catalog = catalog_version_of_file(db).map_err(|e| upgrade_err(e.to_string()))?;
    if schema == SCHEMA_VERSION && catalog >= CATALOG_SCHEMA_VERSION {
        return Ok(None);
    }
    Ok(Some(Pending { schema, catalog }))
}

/// Takes the copy of `db` before its upgrade, into [`BACKUP_DIR`] beside it. A failed copy
/// stops the start: the file is not upgraded without one.
pub(crate) fn back_up(db: &Path, pending: Pending) -> Result<DatabaseUpgrade, HostError> {
    let to = backup_path(db, pending.schema)?;
    backup_file(db, &to).map_err(|e| {
        HostError::Upgrade(format!(
            "{} needs an upgrade from schema {} to {}, and the copy taken first failed: {e}; nothing was changed",
            db.display(),
            pending.schema,
            SCHEMA_VERSION
        ))
    })?;
    tracing::info!(backup = %to.display(), "copied the database before upgrading it");
    Ok(DatabaseUpgrade {
        from_schema: pending.schema,
        to_schema: SCHEMA_VERSION,
        from_catalog: pending.catalog,
        to_catalog: CATALOG_SCHEMA_VERSION,
        backup: Some(to.display().to_string()),
        app_version: waymark_engine::APP_VERSION.to_string(),
    })
}

/// `<dir>/backups/<name>-schema<N>-<UTC time>.db`, with a counter if two starts race.
fn backup_path(db: &Path, schema: i64) -> Result<PathBuf, HostError> {
    let dir = db
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(BACKUP_DIR);
    let stem = db
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "waymark".into());
    let now = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    for n in 0..1000 {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        let path = dir.join(format!("{stem}-schema{schema}-{now}{suffix}.db"));
        if !path.exists() {
            return Ok(path);
        }
    }
    Err(HostError::Upgrade(format!(
        "no free backup name in {}",
        dir.display()
    )))
}

/// Where the `waymark` command is: this executable when it is the CLI, else the one beside it
/// (an installed package puts both doors in one folder), else the first on `PATH`.
pub fn find_cli() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok();
    if let Some(exe) = &exe {
        if exe.file_name().is_some_and(|n| n == "waymark") {
            return Some(exe.clone());
        }
        if let Some(beside) = exe.parent().map(|d| d.join("waymark")) {
            if is_executable(&beside) {
                return Some(beside);
            }
        }
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("waymark"))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}
