//! Numbered migrations. `PRAGMA user_version` holds the number of the last one applied;
//! a database from a newer build is refused rather than guessed at.

use rusqlite::{Connection, Transaction};

use crate::error::StoreError;

/// One numbered step: SQL, or code for what SQL cannot say.
enum Migration {
    Sql(&'static str),
    Code(fn(&Transaction) -> Result<(), StoreError>),
}

const MIGRATIONS: &[Migration] = &[
    // 1: the journal.
    Migration::Sql(
        r#"
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        function TEXT NOT NULL,
        function_version INTEGER NOT NULL,
        status TEXT NOT NULL,
        input_json TEXT, input_blob TEXT,
        output_json TEXT, output_blob TEXT,
        error_json TEXT,
        parent_run_id TEXT, parent_step_key TEXT,
        idempotency_key TEXT,
        forked_from TEXT, forked_at_step TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        finished_at INTEGER,
        deadline_at INTEGER,
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        lease_owner TEXT,
        lease_expires_at INTEGER NOT NULL DEFAULT 0,
        lease_epoch INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX runs_by_status ON runs(status, created_at);
    CREATE INDEX runs_claimable ON runs(lease_expires_at)
        WHERE status IN ('queued', 'running', 'waiting');
    CREATE INDEX runs_by_parent ON runs(parent_run_id) WHERE parent_run_id IS NOT NULL;
    -- Partial: a run without a key costs no index entry.
    CREATE UNIQUE INDEX runs_by_idempotency_key ON runs(idempotency_key)
        WHERE idempotency_key IS NOT NULL;

    CREATE TABLE steps (
        run_id TEXT NOT NULL,
        key TEXT NOT NULL,
        ordinal INTEGER NOT NULL,
        kind TEXT NOT NULL,
        safety TEXT NOT NULL,
        status TEXT NOT NULL,
        name TEXT,
        input_json TEXT, input_blob TEXT,
        output_json TEXT, output_blob TEXT,
        error_json TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        finished_at INTEGER,
        wake_at INTEGER,
        deadline_at INTEGER,
        progress_json TEXT,
        meta_json TEXT NOT NULL DEFAULT 'null',
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;

    CREATE TABLE attempts (
        run_id TEXT NOT NULL,
        step_key TEXT NOT NULL,
        number INTEGER NOT NULL,
        lease_epoch INTEGER NOT NULL,
        outcome_json TEXT NOT NULL,
        started_at INTEGER NOT NULL,
        finished_at INTEGER,
        PRIMARY KEY (run_id, step_key, number)
    ) WITHOUT ROWID;

    CREATE TABLE events (
        -- Not AUTOINCREMENT: events are appended and never deleted one by one, so rowids only grow.
        global_seq INTEGER PRIMARY KEY,
        run_id TEXT,
        run_seq INTEGER,
        at INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    CREATE UNIQUE INDEX events_by_run ON events(run_id, run_seq) WHERE run_id IS NOT NULL;

    CREATE TABLE external_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        payload_json TEXT, payload_blob TEXT,
        sent_at INTEGER NOT NULL,
        expires_at INTEGER,
        consumed_run_id TEXT,
        consumed_step_key TEXT,
        consumed_at INTEGER
    );
    CREATE INDEX external_events_pending ON external_events(name, id)
        WHERE consumed_run_id IS NULL;

    -- Content-addressed payloads: the same large value is stored once.
    CREATE TABLE blobs (
        hash TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        data BLOB NOT NULL
    );

    CREATE TABLE workers (
        id TEXT PRIMARY KEY,
        pid INTEGER NOT NULL,
        lock_path TEXT NOT NULL,
        started_at INTEGER NOT NULL
    );
    "#,
    ),
    // 2: runs a user keeps: retention never deletes them, nor does delete_run without force.
    Migration::Sql(
        r#"
    ALTER TABLE runs ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
    "#,
    ),
    // 3: user data that looked like a blob marker is escaped, as the writer now does.
    Migration::Code(super::legacy::escape_forged_markers),
    // 4: lists filter, search and page in SQL. Runs written before are described once by
    // the engine (search_text NULL until then).
    Migration::Sql(
        r#"
    ALTER TABLE runs ADD COLUMN label TEXT;
    ALTER TABLE runs ADD COLUMN search_text TEXT;
    CREATE INDEX runs_newest ON runs(created_at DESC, id DESC);
    CREATE INDEX runs_by_label ON runs(label, created_at DESC, id DESC) WHERE label IS NOT NULL;
    "#,
    ),
    // 5: payload blobs compressed (zstd), and whether a blob holds markers recorded when it is
    // written (a scan of compressed data cannot find them). `size` stays the JSON's length.
    Migration::Sql(
        r#"
    ALTER TABLE blobs ADD COLUMN codec INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE blobs ADD COLUMN nested INTEGER NOT NULL DEFAULT 0;
    UPDATE blobs SET nested = 1 WHERE instr(data, CAST('$waymark_blob' AS BLOB)) > 0;
    "#,
    ),
    // 6: a step's first attempt lives on the step's row (its lease epoch here) while it is
    // running or has succeeded: the common step writes no attempt row, one page fewer per
    // commit. Any other outcome, or a second attempt, moves it to `attempts` (see tx.rs).
    Migration::Sql(
        r#"
    ALTER TABLE steps ADD COLUMN inline_attempt INTEGER;
    "#,
    ),
    // 7: a run only a worker with this label may execute (NULL: any worker).
    Migration::Sql(
        r#"
    ALTER TABLE runs ADD COLUMN worker_label TEXT;
    "#,
    ),
    // 8: which Waymark applied each migration from here on, so that an older build refusing
    // a newer file can name the version to install.
    Migration::Sql(
        r#"
    CREATE TABLE schema_history (
        version INTEGER PRIMARY KEY,
        app_version TEXT NOT NULL,
        applied_at_ms INTEGER NOT NULL
    );
    "#,
    ),
];

/// The first version with `schema_history`.
const HISTORY_SINCE: i64 = 8;

pub const LATEST_VERSION: i64 = MIGRATIONS.len() as i64;

pub fn migrate(conn: &mut Connection, path: &str) -> Result<(), StoreError> {
    // A failure here means the file is not a Waymark database, unless its code says it was
    // only locked or the disk is full (then the file is fine and the error says so).
    let corrupt = |e: rusqlite::Error| StoreError::from_sqlite_or_corrupt(e, 0, path);
    let found: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(corrupt)?;
    StoreError::check_schema_version(found, LATEST_VERSION, path, || written_by(conn, found))?;
    for (i, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let version = i as i64 + 1;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| StoreError::from_sqlite(e, 0))?;
        // Another process may have applied it while this one waited for the write lock.
        let now_at: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(corrupt)?;
        if now_at >= version {
            continue;
        }
        match migration {
            Migration::Sql(sql) => tx.execute_batch(sql).map_err(corrupt)?,
            Migration::Code(step) => step(&tx)?,
        }
        if version >= HISTORY_SINCE {
            tx.execute(
                "INSERT OR REPLACE INTO schema_history (version, app_version, applied_at_ms)
                 VALUES (?1, ?2, ?3)",
                rusqlite::params![version, crate::APP_VERSION, crate::clock::system_now_ms()],
            )
            .map_err(corrupt)?;
        }
        tx.pragma_update(None, "user_version", version)
            .map_err(corrupt)?;
        tx.commit().map_err(|e| StoreError::from_sqlite(e, 0))?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}

/// The Waymark version that brought the database to `version`, if it recorded it (a file
/// from before [`HISTORY_SINCE`] did not). Only read to word a refusal: any failure is `None`.
fn written_by(conn: &Connection, version: i64) -> Option<String> {
    conn.query_row(
        "SELECT app_version FROM schema_history WHERE version = ?1",
        [version],
        |r| r.get(0),
    )
    .ok()
}

/// The schema version of the database file at `path` without opening it for writing: `None`
/// when there is no file or it is empty (a new database), else its `user_version`.
pub fn version_of_file(path: &std::path::Path) -> Result<Option<i64>, StoreError> {
    let shown = path.display().to_string();
    match std::fs::metadata(path) {
        Ok(m) if m.len() == 0 => return Ok(None),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(StoreError::Open {
                path: shown,
                detail: e.to_string(),
            })
        }
    }
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::from_sqlite_or_corrupt(e, 0, &shown))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| StoreError::from_sqlite_or_corrupt(e, 0, &shown))?;
    Ok(Some(version))
}
