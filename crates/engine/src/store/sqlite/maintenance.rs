//! SQLite upkeep: blob collection and VACUUM run on the writer's thread between batches;
//! backup, statistics and retention candidates read on a pooled connection.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::future::BoxFuture;
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use super::db::{sql_err, SqliteDb};
use super::{check_connection, writer, SqliteStore};
use crate::error::StoreError;
use crate::maintenance::{
    BackupReport, DbStats, GcReport, Maintenance, RetentionCandidate, VacuumReport,
};
use crate::store::journal::upkeep;

/// Mark and sweep in one IMMEDIATE transaction: it sees every committed row, and no
/// transition (of this process or another) commits in between.
fn collect_garbage(conn: &mut Connection) -> Result<GcReport, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_err)?;
    let report = upkeep::collect_garbage(&mut SqliteDb(&tx))?;
    tx.commit().map_err(sql_err)?;
    Ok(report)
}

fn wal_path(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn vacuum(conn: &mut Connection, path: &Path) -> Result<VacuumReport, StoreError> {
    let bytes_before = file_size(path) + file_size(&wal_path(path));
    conn.execute_batch("VACUUM").map_err(sql_err)?;
    // In WAL mode VACUUM writes the new pages to the log; the file shrinks when they are
    // checkpointed back into it.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .map_err(sql_err)?;
    Ok(VacuumReport {
        bytes_before,
        bytes_after: file_size(path) + file_size(&wal_path(path)),
    })
}

/// How many times a backup step that found a lock is tried again, 10 ms apart.
const BACKUP_WAITS: u64 = 500;

fn backup(source: &Connection, to: &Path) -> Result<BackupReport, StoreError> {
    let shown = to.display().to_string();
    let open_err = |detail: String| StoreError::Open {
        path: shown.clone(),
        detail,
    };
    if to.exists() {
        return Err(open_err(
            "the file exists already; a backup goes to a new file".into(),
        ));
    }
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| open_err(format!("cannot create {}: {e}", dir.display())))?;
    }
    // Written under a temporary name, so a failed backup never looks like a good one.
    let mut partial = to.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_file(&partial);
    let result = (|| {
        let mut dest = Connection::open(&partial).map_err(sql_err)?;
        {
            // All pages in one step: one read transaction, hence a consistent snapshot, and
            // in WAL mode the writer goes on meanwhile.
            use rusqlite::backup::{Backup, StepResult};
            let b = Backup::new(source, &mut dest).map_err(sql_err)?;
            let mut waits = 0;
            loop {
                match b.step(-1).map_err(sql_err)? {
                    StepResult::Done => break,
                    StepResult::More => {}
                    // Only the new file can be locked (by someone opening it meanwhile).
                    StepResult::Busy | StepResult::Locked if waits < BACKUP_WAITS => {
                        waits += 1;
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    _ => {
                        return Err(StoreError::Locked {
                            waited_ms: BACKUP_WAITS * 10,
                            detail: "the backup's new file stayed locked".into(),
                        })
                    }
                }
            }
        }
        // The copy inherits WAL mode; a rollback journal makes it one self-contained file
        // (the store switches it back to WAL when it opens it).
        dest.query_row("PRAGMA journal_mode=DELETE", [], |_| Ok(()))
            .map_err(sql_err)?;
        let problems = check_connection(&dest, &partial.display().to_string())?;
        drop(dest);
        if !problems.is_empty() {
            return Err(StoreError::Corrupt {
                path: shown.clone(),
                detail: format!("the copy failed its check: {}", problems.join("; ")),
            });
        }
        std::fs::rename(&partial, to)
            .map_err(|e| open_err(format!("cannot rename the finished copy: {e}")))
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    Ok(BackupReport {
        path: shown,
        bytes: file_size(to),
    })
}

/// A checked copy of the database file `from` at `to`, read on a read-only connection of its
/// own (no migration, no journal mode change): the copy a build takes before it upgrades an
/// older file, which must leave that file as it found it if anything fails.
pub fn backup_file(from: &Path, to: &Path) -> Result<BackupReport, StoreError> {
    let shown = from.display().to_string();
    let source = Connection::open_with_flags(
        from,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::from_sqlite_or_corrupt(e, 0, &shown))?;
    source
        .busy_timeout(Duration::from_secs(5))
        .map_err(sql_err)?;
    backup(&source, to)
}

fn stats(conn: &Connection, path: &Path) -> Result<DbStats, StoreError> {
    let tx = conn.unchecked_transaction().map_err(sql_err)?;
    let counted = upkeep::journal_stats(&mut SqliteDb(&tx))?;
    let pragma = |sql: &str| -> Result<u64, StoreError> {
        tx.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n.max(0) as u64)
            .map_err(sql_err)
    };
    let stats = DbStats {
        file_bytes: file_size(path),
        wal_bytes: file_size(&wal_path(path)),
        page_size: pragma("PRAGMA page_size")?,
        page_count: pragma("PRAGMA page_count")?,
        freelist_pages: pragma("PRAGMA freelist_count")?,
        ..counted
    };
    Ok(stats)
}

impl SqliteStore {
    /// Runs `f` on the writer's thread and connection, between two batches.
    fn exclusive<T, F>(&self, f: F) -> BoxFuture<'static, Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let work: writer::Exclusive = Box::new(move |conn| {
            let _ = reply.send(f(conn));
        });
        let sent = self.writer_shared.exclusive(work);
        Box::pin(async move {
            if !sent {
                return Err(StoreError::WriterGone);
            }
            rx.await.map_err(|_| StoreError::WriterGone)?
        })
    }
}

impl Maintenance for SqliteStore {
    fn collect_garbage(&self) -> BoxFuture<'static, Result<GcReport, StoreError>> {
        self.exclusive(collect_garbage)
    }

    fn vacuum(&self) -> BoxFuture<'static, Result<VacuumReport, StoreError>> {
        let path = self.path.clone();
        self.exclusive(move |conn| vacuum(conn, &path))
    }

    fn backup(&self, to: PathBuf) -> BoxFuture<'static, Result<BackupReport, StoreError>> {
        self.read(move |c| backup(c.0, &to))
    }

    fn database_stats(&self) -> BoxFuture<'static, Result<DbStats, StoreError>> {
        let path = self.path.clone();
        self.read(move |c| stats(c.0, &path))
    }

    fn retention_candidates(
        &self,
        pointer: Option<String>,
    ) -> BoxFuture<'static, Result<Vec<RetentionCandidate>, StoreError>> {
        self.read(move |c| crate::store::journal::retention_candidates(c, pointer.as_deref()))
    }
}
