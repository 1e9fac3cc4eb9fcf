//! Upgrades through the binary, on the database Waymark 0.1.0 made
//! (`tests/fixtures/upgrade`): `waymark --version` reads it without writing, the first command
//! copies it and then upgrades it (once), a copy that cannot be made stops the upgrade, and a
//! database from a newer build is refused with both versions named and left as it was.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest as _, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_waymark");
const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/upgrade/waymark-0.1.0.db"
);
/// The schema the fixture was made at.
const OLD_SCHEMA: i64 = 7;

/// A data directory holding a copy of the 0.1.0 database as its `waymark.db`.
struct OldHome {
    _dir: tempfile::TempDir,
    home: PathBuf,
}

impl OldHome {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("home");
        std::fs::copy(FIXTURE, home.join("waymark.db")).expect("copy the fixture");
        OldHome { _dir: dir, home }
    }

    fn db(&self) -> PathBuf {
        self.home.join("waymark.db")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .env("WAYMARK_HOME", &self.home)
            .env("WAYMARK_SECRET_BACKEND", "file")
            .env_remove("WAYMARK_DB")
            .env_remove("RUST_LOG")
            .args(args)
            .output()
            .expect("run waymark")
    }

    fn backups(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.home.join("backups")) {
            Ok(dir) => dir.map(|e| e.expect("entry").path()).collect(),
            Err(_) => Vec::new(),
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sha256(path: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(path).expect("read")).to_vec()
}

fn query_i64(db: &Path, sql: &str) -> i64 {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row(sql, [], |r| r.get(0)))
        .unwrap_or_else(|e| panic!("{sql} on {}: {e}", db.display()))
}

fn run_ids(db: &Path) -> Vec<(String, String)> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open");
    let mut stmt = c
        .prepare("SELECT id, status FROM runs ORDER BY id")
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

#[test]
fn version_says_what_is_installed_and_reads_the_database_without_writing_it() {
    let old = OldHome::new();
    let before = sha256(&old.db());
    let out = old.run(&["--version"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert_eq!(lines[0], format!("waymark {}", env!("CARGO_PKG_VERSION")));
    assert!(
        lines[1].starts_with("schema: database ") && lines[1].contains(", agent catalog "),
        "{stdout}"
    );
    assert_eq!(lines[2], format!("data directory: {}", old.home.display()));
    assert_eq!(
        lines[3],
        format!(
            "database: {} (schema {OLD_SCHEMA}: the next command upgrades it, after a backup)",
            old.db().display()
        )
    );
    assert_eq!(sha256(&old.db()), before, "--version wrote to the database");
    assert!(old.backups().is_empty(), "--version took a backup");
    // Where a command names no database: nothing is created.
    let fresh = tempfile::tempdir().expect("dir");
    let out = Command::new(BIN)
        .env("WAYMARK_HOME", fresh.path())
        .env_remove("WAYMARK_DB")
        .arg("-V")
        .output()
        .expect("run");
    assert!(
        text(&out.stdout).contains("(not created yet)"),
        "{}",
        text(&out.stdout)
    );
    assert!(!fresh.path().join("waymark.db").exists());
}

#[test]
fn the_first_command_copies_an_old_database_then_upgrades_it_once() {
    let old = OldHome::new();
    let runs_before = run_ids(&old.db());
    assert!(
        runs_before.len() >= 4,
        "the fixture's runs: {runs_before:?}"
    );
    let out = old.run(&["agents", "list"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "waymark: Waymark {} upgraded the database from schema {OLD_SCHEMA} to ",
            env!("CARGO_PKG_VERSION")
        )) && stderr.contains("the database as it was is kept in "),
        "{stderr}"
    );
    // stdout is the command's own: the agents 0.1.0 saved.
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("demo-support") && stdout.contains("demo-researcher"),
        "{stdout}"
    );

    let backups = old.backups();
    assert_eq!(backups.len(), 1, "{backups:?}");
    let backup = &backups[0];
    let name = backup
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with(&format!("waymark-schema{OLD_SCHEMA}-")) && name.ends_with(".db"),
        "{name}"
    );
    assert!(stderr.contains(&backup.display().to_string()), "{stderr}");
    // The copy is the old database, whole; the file itself is at this build's schema now.
    assert_eq!(query_i64(backup, "PRAGMA user_version"), OLD_SCHEMA);
    assert_eq!(run_ids(backup), runs_before);
    assert!(query_i64(&old.db(), "PRAGMA user_version") > OLD_SCHEMA);
    assert_eq!(
        run_ids(&old.db()),
        runs_before,
        "the upgrade kept every run and status"
    );
    assert_eq!(
        query_i64(
            &old.db(),
            "SELECT count(*) FROM schema_history WHERE app_version = '0.2.0'"
        ),
        1,
        "the upgrade records the version that made it"
    );

    // The waiting run still waits, and can be listed by status.
    let out = old.run(&["runs", "list", "--status", "waiting"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let waiting: Vec<&(String, String)> =
        runs_before.iter().filter(|(_, s)| s == "waiting").collect();
    assert_eq!(waiting.len(), 1);
    assert!(
        text(&out.stdout).contains(&waiting[0].0),
        "{}",
        text(&out.stdout)
    );
    // Once only: no second notice, no second copy.
    assert!(
        !text(&out.stderr).contains("upgraded"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(old.backups().len(), 1);
}

#[test]
fn no_upgrade_without_its_copy() {
    let old = OldHome::new();
    // A file where the backups folder would go: the copy cannot be made.
    std::fs::write(old.home.join("backups"), b"not a folder").expect("write");
    let before = sha256(&old.db());
    let out = old.run(&["runs", "list"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("needs an upgrade from schema {OLD_SCHEMA} to"))
            && stderr.contains("the copy taken first failed")
            && stderr.contains("nothing was changed"),
        "{stderr}"
    );
    assert_eq!(
        sha256(&old.db()),
        before,
        "the database was written without its copy"
    );
    assert_eq!(query_i64(&old.db(), "PRAGMA user_version"), OLD_SCHEMA);
}

#[test]
fn a_database_from_a_newer_waymark_is_refused_and_left_as_it_was() {
    let old = OldHome::new();
    // Upgraded by this build, then "by 9.9.9": what an older build meets after a newer one.
    assert!(old.run(&["runs", "list"]).status.success());
    let conn = rusqlite::Connection::open(old.db()).expect("open");
    conn.execute_batch(
        "INSERT INTO schema_history VALUES (99, '9.9.9', 0); PRAGMA user_version = 99;",
    )
    .expect("bump");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    drop(conn);
    let before = sha256(&old.db());
    for args in [&["runs", "list"][..], &["demo", "--yes"], &["db", "check"]] {
        let out = old.run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "has schema version 99 (written by Waymark 9.9.9), newer than Waymark {} reads (schema ",
                env!("CARGO_PKG_VERSION")
            )) && stderr.contains("nothing was written to it: open it with Waymark 9.9.9 or newer"),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(
        sha256(&old.db()),
        before,
        "a refused database was written to"
    );
    let version = text(&old.run(&["--version"]).stdout);
    assert!(
        version.contains("(schema 99, from a newer Waymark: this one will not open it)"),
        "{version}"
    );
}
