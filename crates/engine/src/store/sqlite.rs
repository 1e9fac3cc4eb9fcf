//! The SQLite store: WAL, `synchronous=FULL` by default, one writer thread with group commit,
//! a small pool of read connections.

mod db;
pub use db::SqliteDb;
mod legacy;
mod maintenance;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{broadcast, oneshot};

pub use maintenance::backup_file;
pub use schema::{version_of_file, LATEST_VERSION as SCHEMA_VERSION};

use super::journal;
use super::{Durability, Pending, RunFilter, Store, Transition, WorkerRow};
use crate::clock::{SharedClock, SystemClock};
use crate::error::StoreError;
use crate::ids::{RunId, StepKey};
use crate::model::{AttemptRecord, Event, RunRecord, RunTrace, StepRecord, StepTrace};
use db::sql_err;

#[derive(Clone, Debug)]
pub struct SqliteConfig {
    /// `synchronous=FULL` for durable commits (survive power loss). Off: NORMAL everywhere.
    pub full_sync: bool,
    pub busy_timeout: Duration,
    /// How often an idle writer looks for commits by other processes.
    pub poll_interval: Duration,
    pub max_batch: usize,
    /// Payloads larger than this (bytes of JSON) go to the content-addressed blob table,
    /// compressed. Below about 1 KB a step's row stays within its b-tree page (the `steps`
    /// table is WITHOUT ROWID: a longer row spills into an overflow page of its own).
    pub blob_threshold: usize,
    /// A cap on the file's size in pages (`PRAGMA max_page_count`), to test a full disk.
    pub max_page_count: Option<u64>,
    /// WAL pages after which a commit checkpoints (`PRAGMA wal_autocheckpoint`); 0: never
    /// (the benchmark counts a step's WAL frames that way).
    pub wal_autocheckpoint: u32,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        SqliteConfig {
            full_sync: true,
            busy_timeout: Duration::from_secs(5),
            poll_interval: Duration::from_millis(50),
            max_batch: 512,
            blob_threshold: 768,
            max_page_count: None,
            // Less often than SQLite's 1000 pages: many runs' steps rewrite the same pages, and
            // a longer interval copies each of them to the main file once instead of many times.
            wal_autocheckpoint: 4000,
        }
    }
}

pub struct SqliteStore {
    path: PathBuf,
    writer_shared: Arc<writer::Shared>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    live: broadcast::Sender<Arc<Event>>,
    config: SqliteConfig,
}

fn open_connection(path: &Path, config: &SqliteConfig) -> Result<Connection, StoreError> {
    let shown = path.display().to_string();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Open {
        path: shown.clone(),
        detail: e.to_string(),
    })?;
    conn.busy_timeout(config.busy_timeout)
        .map_err(|e| StoreError::from_sqlite(e, 0))?;
    let classify = |e: rusqlite::Error| match StoreError::from_sqlite(
        e,
        config.busy_timeout.as_millis() as u64,
    ) {
        StoreError::Corrupt { detail, .. } => StoreError::Corrupt {
            path: shown.clone(),
            detail,
        },
        other => other,
    };
    // Switching to WAL needs a moment alone with the file, and SQLite answers "busy" at once
    // rather than waiting: retry until the busy timeout.
    let started = std::time::Instant::now();
    let mode: String = loop {
        match conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)) {
            Ok(mode) => break mode,
            Err(e) if is_busy(&e) && started.elapsed() < config.busy_timeout => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(classify(e)),
        }
    };
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Open {
            path: shown,
            detail: format!("could not switch to WAL mode (got {mode})"),
        });
    }
    conn.pragma_update(
        None,
        "synchronous",
        if config.full_sync { "FULL" } else { "NORMAL" },
    )
    .map_err(classify)?;
    conn.pragma_update(None, "wal_autocheckpoint", config.wal_autocheckpoint)
        .map_err(classify)?;
    // Reading the schema catches a file that is not a database before anything else does.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(classify)?;
    Ok(conn)
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

impl SqliteStore {
    pub fn open(path: impl AsRef<Path>) -> Result<Arc<Self>, StoreError> {
        Self::open_with(path, SqliteConfig::default(), Arc::new(SystemClock))
    }

    pub fn open_with(
        path: impl AsRef<Path>,
        config: SqliteConfig,
        clock: SharedClock,
    ) -> Result<Arc<Self>, StoreError> {
        let path = path.as_ref().to_path_buf();
        let shown = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::paths::create_private_dir(dir).map_err(|e| StoreError::Open {
                path: shown.clone(),
                detail: format!("cannot create {}: {e}", dir.display()),
            })?;
        }
        // Owner-only before SQLite creates it (its WAL and shm files copy these permissions).
        crate::paths::create_private_file(&path).map_err(|e| StoreError::Open {
            path: shown.clone(),
            detail: e.to_string(),
        })?;
        let mut conn = open_connection(&path, &config)?;
        schema::migrate(&mut conn, &shown)?;
        if let Some(pages) = config.max_page_count {
            conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))
                .map_err(|e| StoreError::from_sqlite(e, 0))?;
        }
        let (live, _) = broadcast::channel(1 << 16);
        let core = writer::Writer::new(conn, live.clone(), clock, &config, shown.clone());
        let shared = writer::Shared::new(core, config.poll_interval);
        let thread_shared = shared.clone();
        let handle = std::thread::Builder::new()
            .name("waymark-store-writer".into())
            .spawn(move || thread_shared.run())
            .map_err(|e| StoreError::Open {
                path: shown,
                detail: format!("cannot start the writer thread: {e}"),
            })?;
        Ok(Arc::new(SqliteStore {
            path,
            writer_shared: shared,
            writer: Mutex::new(Some(handle)),
            readers: Arc::new(Mutex::new(Vec::new())),
            live,
            config,
        }))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops the writer after it has drained what was queued.
    pub fn close(&self) {
        self.writer_shared.close();
        if let Some(h) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
    }

    /// Runs `f` on a pooled read connection, off the async threads.
    fn read<T, F>(&self, f: F) -> BoxFuture<'static, Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteDb<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = self.readers.clone();
        let path = self.path.clone();
        let config = self.config.clone();
        Box::pin(async move {
            let job = move || {
                let conn = readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
                let conn = match conn {
                    Some(c) => c,
                    None => open_connection(&path, &config)?,
                };
                let result = f(&mut SqliteDb(&conn));
                let mut pool = readers.lock().unwrap_or_else(|e| e.into_inner());
                if pool.len() < 8 {
                    pool.push(conn);
                }
                result
            };
            match tokio::runtime::Handle::try_current() {
                Ok(_) => tokio::task::spawn_blocking(job)
                    .await
                    .map_err(|e| StoreError::Sqlite(format!("reader task failed: {e}")))?,
                Err(_) => job(),
            }
        })
    }

    /// Size of the main file plus its WAL, after a checkpoint.
    pub fn checkpoint_and_size(&self) -> Result<u64, StoreError> {
        let conn = open_connection(&self.path, &self.config)?;
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| StoreError::from_sqlite(e, 0))?;
        let size = |p: PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        Ok(size(self.path.clone()) + size(PathBuf::from(wal)))
    }

    /// Runs raw SQL on a separate connection (tests and maintenance).
    pub fn with_connection<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let conn = open_connection(&self.path, &self.config)?;
        f(&conn).map_err(|e| StoreError::from_sqlite(e, 0))
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

/// Integrity problems of the database behind `c`, empty when healthy (`waymark db check`,
/// and a backup's verification of its copy).
pub(crate) fn check_connection(c: &Connection, path: &str) -> Result<Vec<String>, StoreError> {
    let mut problems = Vec::new();
    let mut stmt = c.prepare("PRAGMA integrity_check").map_err(sql_err)?;
    let lines = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(|e| StoreError::from_sqlite_or_corrupt(e, 0, path))?;
    for line in lines {
        let line = line.map_err(|e| StoreError::from_sqlite_or_corrupt(e, 0, path))?;
        if line != "ok" {
            problems.push(line);
        }
    }
    let dangling: i64 = c
        .query_row(
            "SELECT (SELECT count(*) FROM steps s WHERE s.input_blob IS NOT NULL AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = s.input_blob))
                  + (SELECT count(*) FROM steps s WHERE s.output_blob IS NOT NULL AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = s.output_blob))",
            [],
            |r| r.get(0),
        )
        .map_err(sql_err)?;
    if dangling > 0 {
        problems.push(format!("{dangling} step payloads point at missing blobs"));
    }
    let orphans: i64 = c
        .query_row(
            "SELECT count(*) FROM attempts a WHERE NOT EXISTS (SELECT 1 FROM steps s WHERE s.run_id = a.run_id AND s.key = a.step_key)",
            [],
            |r| r.get(0),
        )
        .map_err(sql_err)?;
    if orphans > 0 {
        problems.push(format!("{orphans} attempts belong to no step"));
    }
    Ok(problems)
}

impl Store for SqliteStore {
    fn submit(&self, transition: Transition, durability: Durability) -> Pending {
        let (reply, rx) = oneshot::channel();
        let job = writer::Job {
            transition,
            durability,
            reply,
        };
        let sent = self.writer_shared.submit(job);
        Box::pin(async move {
            if !sent {
                return Err(StoreError::WriterGone);
            }
            rx.await.map_err(|_| StoreError::WriterGone)?
        })
    }

    fn has_claimable(
        &self,
        now: crate::clock::Millis,
        labels: Vec<String>,
    ) -> BoxFuture<'static, Result<bool, StoreError>> {
        self.read(move |c| journal::has_claimable(c, now, &labels))
    }

    fn run(&self, id: RunId) -> BoxFuture<'static, Result<Option<RunRecord>, StoreError>> {
        self.read(move |c| journal::load_run(c, id))
    }

    fn steps(&self, id: RunId) -> BoxFuture<'static, Result<Vec<StepRecord>, StoreError>> {
        self.read(move |c| journal::load_steps(c, id))
    }

    fn step(
        &self,
        id: RunId,
        key: StepKey,
    ) -> BoxFuture<'static, Result<Option<StepRecord>, StoreError>> {
        self.read(move |c| journal::load_step(c, id, &key))
    }

    fn attempts(&self, id: RunId) -> BoxFuture<'static, Result<Vec<AttemptRecord>, StoreError>> {
        self.read(move |c| journal::load_attempts(c, id))
    }

    fn trace(&self, id: RunId) -> BoxFuture<'static, Result<Option<RunTrace>, StoreError>> {
        self.read(move |c| journal::trace_page(c, id, 0, i64::MAX))
    }

    fn step_trace(
        &self,
        id: RunId,
        key: StepKey,
    ) -> BoxFuture<'static, Result<Option<StepTrace>, StoreError>> {
        self.read(move |c| journal::step_trace(c, id, &key))
    }

    fn trace_page(
        &self,
        id: RunId,
        offset: usize,
        limit: usize,
    ) -> BoxFuture<'static, Result<Option<RunTrace>, StoreError>> {
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| journal::trace_page(c, id, offset, limit))
    }

    fn list_runs(
        &self,
        filter: RunFilter,
    ) -> BoxFuture<'static, Result<Vec<RunRecord>, StoreError>> {
        self.read(move |c| journal::list_runs(c, &filter))
    }

    fn events_after(
        &self,
        run: Option<RunId>,
        after: i64,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<Event>, StoreError>> {
        self.read(move |c| journal::events_after(c, run, after, limit))
    }

    fn latest_global_seq(&self) -> BoxFuture<'static, Result<i64, StoreError>> {
        self.read(|c| journal::latest_global_seq(c))
    }

    fn workers(&self) -> BoxFuture<'static, Result<Vec<WorkerRow>, StoreError>> {
        self.read(|c| journal::workers(c))
    }

    fn check(&self) -> BoxFuture<'static, Result<Vec<String>, StoreError>> {
        let path = self.path.display().to_string();
        self.read(move |c| check_connection(c.0, &path))
    }

    fn live(&self) -> broadcast::Receiver<Arc<Event>> {
        self.live.subscribe()
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn schema_version(&self) -> i64 {
        SCHEMA_VERSION
    }

    fn worker_lock_dir(&self) -> Option<PathBuf> {
        Some(PathBuf::from(format!("{}.workers", self.path.display())))
    }

    fn maintenance(&self) -> Option<&dyn crate::maintenance::Maintenance> {
        Some(self)
    }
}
