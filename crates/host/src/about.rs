//! `waymark --version`: this build, the schema versions it writes, where the data lives, and
//! the database a command would open, read without opening it for writing.

use std::fmt::Write as _;
use std::path::Path;

use waymark_agent::stores::sqlite::CATALOG_SCHEMA_VERSION;
use waymark_engine::store::sqlite::{version_of_file, SCHEMA_VERSION};

/// The lines `waymark --version` prints, for the data directory `data_dir` and the database
/// `db` (`--db`, `$WAYMARK_DB`, or [`crate::chosen_db`]'s).
pub fn version_text(data_dir: &Path, db: Result<&Path, String>) -> String {
    let mut text = format!("waymark {}\n", waymark_engine::APP_VERSION);
    let _ = writeln!(
        text,
        "schema: database {SCHEMA_VERSION}, agent catalog {CATALOG_SCHEMA_VERSION}"
    );
    let _ = writeln!(text, "data directory: {}", data_dir.display());
    let database = match db {
        Err(e) => format!("unknown ({e})"),
        Ok(db) => match db.to_str().filter(|d| waymark_postgres::is_postgres_url(d)) {
            Some(url) => format!(
                "{} (team database)",
                waymark_postgres::without_password(url)
            ),
            None => format!("{} ({})", db.display(), file_state(db)),
        },
    };
    let _ = writeln!(text, "database: {database}");
    text
}

fn file_state(db: &Path) -> String {
    match version_of_file(db) {
        Err(e) => format!("cannot be read: {e}"),
        Ok(None) | Ok(Some(0)) => "not created yet".into(),
        Ok(Some(v)) if v == SCHEMA_VERSION => format!("schema {v}"),
        Ok(Some(v)) if v < SCHEMA_VERSION => {
            format!("schema {v}: the next command upgrades it, after a backup")
        }
        Ok(Some(v)) => format!("schema {v}, from a newer Waymark: this one will not open it"),
    }
}
