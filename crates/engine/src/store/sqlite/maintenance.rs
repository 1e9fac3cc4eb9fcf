//! SQLite upkeep: blob collection and VACUUM run on the writer's thread between batches;
//! backup, statistics and retention candidates read on a pooled connection.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::future::BoxFuture;
use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::oneshot;

use super::db::{sql_err, SqliteDb};
use super::{check_connection, writer, SqliteStore};
use crate::error::StoreError;
use crate::ids::RunId;
use crate::maintenance::{
    BackupReport, DbStats, GcReport, Maintenance, RetentionCandidate, RunSize, VacuumReport,
};
use crate::store::journal::rows::{blob_data, BLOB_MARKER};

/// Columns that hold a blob's hash directly.
const BLOB_COLUMNS: &[(&str, &str)] = &[
    ("runs", "input_blob"),
    ("runs", "output_blob"),
    ("steps", "input_blob"),
    ("steps", "output_blob"),
    ("external_events", "payload_blob"),
];

/// JSON columns that may hold blob markers nested in a value. More than those written
/// through `put_payload`: keeping a blob too many is harmless, collecting a used one is not.
const JSON_COLUMNS: &[(&str, &str)] = &[
    ("runs", "input_json"),
    ("runs", "output_json"),
    ("runs", "error_json"),
    ("steps", "input_json"),
    ("steps", "output_json"),
    ("steps", "error_json"),
    ("steps", "progress_json"),
    ("steps", "meta_json"),
    ("attempts", "outcome_json"),
    ("external_events", "payload_json"),
];

/// The hashes of the blob markers in a JSON text. A plain text scan: a marker is always
/// written by serde_json as `{"$waymark_blob":"<sha-256 hex>"}`, and a user string that
/// merely contains the words has its quotes escaped, so it does not match.
fn markers(text: &str) -> impl Iterator<Item = &str> + '_ {
    let needle = format!("\"{BLOB_MARKER}\":\"");
    let starts: Vec<usize> = text
        .match_indices(needle.as_str())
        .map(|(i, _)| i + needle.len())
        .collect();
    starts.into_iter().filter_map(move |start| {
        let hash = text.get(start..start + 64)?;
        let closed = text.get(start + 64..start + 65) == Some("\"");
        (closed && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hash)
    })
}

/// The hashes of blobs whose data itself holds markers (a large value with large parts).
fn nesting_blobs(conn: &Connection) -> Result<HashSet<String>, StoreError> {
    let mut stmt = conn
        .prepare("SELECT hash FROM blobs WHERE nested != 0")
        .map_err(sql_err)?;
    let rows = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(sql_err)?;
    rows.collect::<Result<_, _>>().map_err(sql_err)
}

fn blob_text(conn: &Connection, hash: &str) -> Result<String, StoreError> {
    let data = blob_data(&mut SqliteDb(conn), hash)?;
    Ok(String::from_utf8_lossy(&data).into_owned())
}

/// Every blob some row refers to, directly or through other blobs.
fn live_blobs(conn: &Connection) -> Result<HashSet<String>, StoreError> {
    let mut live = HashSet::new();
    let mut todo = Vec::new();
    let found = |hash: &str, live: &mut HashSet<String>, todo: &mut Vec<String>| {
        if live.insert(hash.to_string()) {
            todo.push(hash.to_string());
        }
    };
    for (table, column) in BLOB_COLUMNS {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL"
            ))
            .map_err(sql_err)?;
        let mut rows = stmt.query([]).map_err(sql_err)?;
        while let Some(row) = rows.next().map_err(sql_err)? {
            let hash: String = row.get(0).map_err(sql_err)?;
            found(&hash, &mut live, &mut todo);
        }
    }
    for (table, column) in JSON_COLUMNS {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {column} FROM {table} WHERE instr({column}, ?1) > 0"
            ))
            .map_err(sql_err)?;
        let mut rows = stmt.query([BLOB_MARKER]).map_err(sql_err)?;
        while let Some(row) = rows.next().map_err(sql_err)? {
            let text: String = row.get(0).map_err(sql_err)?;
            for hash in markers(&text) {
                found(hash, &mut live, &mut todo);
            }
        }
    }
    let nesting = nesting_blobs(conn)?;
    while let Some(hash) = todo.pop() {
        if nesting.contains(&hash) {
            let text = blob_text(conn, &hash)?;
            for inner in markers(&text) {
                found(inner, &mut live, &mut todo);
            }
        }
    }
    Ok(live)
}

/// Mark and sweep in one IMMEDIATE transaction: it sees every committed row, and no
/// transition (of this process or another) commits in between.
fn collect_garbage(conn: &mut Connection) -> Result<GcReport, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_err)?;
    let live = live_blobs(&tx)?;
    let all: Vec<(String, i64)> = {
        let mut stmt = tx
            .prepare("SELECT hash, length(data) FROM blobs")
            .map_err(sql_err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(sql_err)?;
        rows.collect::<Result<_, _>>().map_err(sql_err)?
    };
    let mut report = GcReport::default();
    {
        let mut delete = tx
            .prepare("DELETE FROM blobs WHERE hash = ?1")
            .map_err(sql_err)?;
        for (hash, bytes) in all {
            if live.contains(&hash) {
                report.blobs_kept += 1;
            } else {
                delete.execute([&hash]).map_err(sql_err)?;
                report.blobs_deleted += 1;
                report.bytes_freed += bytes.max(0) as u64;
            }
        }
    }
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

fn count(conn: &Connection, sql: &str) -> Result<u64, StoreError> {
    conn.query_row(sql, [], |r| r.get::<_, i64>(0))
        .map(|n| n.max(0) as u64)
        .map_err(sql_err)
}

/// Payload sizes per run, with blobs expanded (see [`RunSize`]).
fn largest_runs(conn: &Connection, limit: usize) -> Result<Vec<RunSize>, StoreError> {
    let sizes: HashMap<String, u64> = {
        let mut stmt = conn
            .prepare("SELECT hash, size FROM blobs")
            .map_err(sql_err)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)?.max(0) as u64)))
            .map_err(sql_err)?;
        rows.collect::<Result<_, _>>().map_err(sql_err)?
    };
    let mut children: HashMap<String, Vec<String>> = HashMap::new();
    for hash in nesting_blobs(conn)? {
        let text = blob_text(conn, &hash)?;
        children.insert(hash, markers(&text).map(str::to_string).collect());
    }
    let mut expanded: HashMap<String, u64> = HashMap::new();
    let mut per_run: HashMap<String, u64> = HashMap::new();
    for table in ["runs", "steps"] {
        let id = if table == "runs" { "id" } else { "run_id" };
        let extra = if table == "steps" {
            "COALESCE(length(progress_json), 0)"
        } else {
            "0"
        };
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {id}, COALESCE(length(input_json), 0) + COALESCE(length(output_json), 0)
                    + COALESCE(length(error_json), 0) + {extra},
                    input_blob, output_blob,
                    CASE WHEN instr(input_json, ?1) > 0 THEN input_json END,
                    CASE WHEN instr(output_json, ?1) > 0 THEN output_json END
                 FROM {table}"
            ))
            .map_err(sql_err)?;
        let mut rows = stmt.query([BLOB_MARKER]).map_err(sql_err)?;
        while let Some(row) = rows.next().map_err(sql_err)? {
            let run: String = row.get(0).map_err(sql_err)?;
            let mut bytes = row.get::<_, i64>(1).map_err(sql_err)?.max(0) as u64;
            let mut hashes: Vec<String> = Vec::new();
            for col in 2..4 {
                hashes.extend(row.get::<_, Option<String>>(col).map_err(sql_err)?);
            }
            for col in 4..6 {
                if let Some(text) = row.get::<_, Option<String>>(col).map_err(sql_err)? {
                    hashes.extend(markers(&text).map(str::to_string));
                }
            }
            for h in hashes {
                bytes += expand(&h, &sizes, &children, &mut expanded, &mut HashSet::new());
            }
            *per_run.entry(run).or_default() += bytes;
        }
    }
    let mut ranked: Vec<(String, u64)> = per_run.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(limit);
    let mut out = Vec::with_capacity(ranked.len());
    for (id, bytes) in ranked {
        // A step whose run row is gone has no function: it is still shown, by id.
        let function: Option<String> = conn
            .query_row("SELECT function FROM runs WHERE id = ?1", [&id], |r| {
                r.get(0)
            })
            .ok();
        let Ok(run) = RunId::parse(&id) else { continue };
        out.push(RunSize {
            run,
            function: function.unwrap_or_default(),
            bytes,
        });
    }
    Ok(out)
}

/// A blob's size with the blobs it refers to counted in full (memoized).
fn expand(
    hash: &str,
    sizes: &HashMap<String, u64>,
    children: &HashMap<String, Vec<String>>,
    memo: &mut HashMap<String, u64>,
    visiting: &mut HashSet<String>,
) -> u64 {
    if let Some(n) = memo.get(hash) {
        return *n;
    }
    // Content addressing rules out cycles; a damaged file must not hang the statistics.
    if !visiting.insert(hash.to_string()) {
        return 0;
    }
    let mut total = sizes.get(hash).copied().unwrap_or(0);
    for child in children.get(hash).into_iter().flatten() {
        total += expand(child, sizes, children, memo, visiting);
    }
    memo.insert(hash.to_string(), total);
    total
}

fn stats(conn: &Connection, path: &Path) -> Result<DbStats, StoreError> {
    let tx = conn.unchecked_transaction().map_err(sql_err)?;
    let stats = DbStats {
        file_bytes: file_size(path),
        wal_bytes: file_size(&wal_path(path)),
        page_size: count(&tx, "PRAGMA page_size")?,
        page_count: count(&tx, "PRAGMA page_count")?,
        freelist_pages: count(&tx, "PRAGMA freelist_count")?,
        runs: count(&tx, "SELECT count(*) FROM runs")?,
        steps: count(&tx, "SELECT count(*) FROM steps")?,
        attempts: count(
            &tx,
            "SELECT (SELECT count(*) FROM attempts)
                + (SELECT count(*) FROM steps WHERE inline_attempt IS NOT NULL)",
        )?,
        events: count(&tx, "SELECT count(*) FROM events")?,
        blobs: count(&tx, "SELECT count(*) FROM blobs")?,
        blob_bytes: count(&tx, "SELECT COALESCE(SUM(length(data)), 0) FROM blobs")?,
        largest_runs: largest_runs(&tx, 10)?,
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

#[cfg(test)]
mod tests {
    use super::markers;

    #[test]
    fn markers_are_found_nested_and_escaped_text_is_not_one() {
        let h = "ab".repeat(32);
        let text = format!(
            r#"{{"a":[{{"$waymark_blob":"{h}"}}],"b":"\"$waymark_blob\":\"{h}\"","c":{{"$waymark_blob":"short"}}}}"#
        );
        let found: Vec<&str> = markers(&text).collect();
        assert_eq!(found, vec![h.as_str()]);
    }
}
