//! The engine's [`Store`] on PostgreSQL.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use tokio::sync::{broadcast, oneshot};
use waymark_engine::maintenance::RetentionCandidate;
use waymark_engine::store::journal::{self, Db};
use waymark_engine::store::{Durability, Pending, RunFilter, Store, Transition, WorkerRow};
use waymark_engine::{
    AttemptRecord, Event, RunId, RunRecord, RunTrace, StepKey, StepRecord, StepTrace, StoreError,
};
use waymark_engine::{BackupReport, DbStats, GcReport, Maintenance, VacuumReport};

use crate::db::PgConn;
use crate::errors::db_err;
use crate::writer::{self, Published};
use crate::{schema, Connector, PgConfig};

/// The journal on one PostgreSQL database, shared by workers on every machine.
pub struct PgStore {
    connector: Arc<Connector>,
    writer_shared: Arc<writer::Shared>,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    readers: Arc<Mutex<Vec<PgConn>>>,
    live: broadcast::Sender<Arc<Event>>,
    config: PgConfig,
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`), migrates its schema, and starts
    /// this process's writer and listener.
    pub async fn open(url: &str, config: PgConfig) -> Result<Arc<PgStore>, StoreError> {
        let url = url.to_string();
        tokio::task::spawn_blocking(move || PgStore::open_blocking(&url, config))
            .await
            .map_err(|e| StoreError::Sqlite(format!("opening the database failed: {e}")))?
    }

    /// [`PgStore::open`] for a thread that may block (not an async task's).
    pub fn open_blocking(url: &str, config: PgConfig) -> Result<Arc<PgStore>, StoreError> {
        let (connector, mut conn) = Connector::first_connection(url, &config)?;
        schema::migrate(&mut conn.client, &connector.location)?;
        let published: Published = Arc::new(Mutex::new(journal::latest_global_seq(&mut conn)?));
        let connector = Arc::new(connector);
        let (live, _) = broadcast::channel(1 << 16);
        let shared = writer::Shared::new();
        let notify_id = waymark_engine::WorkerId::new().0;
        let core = writer::Writer {
            connector: connector.clone(),
            conn: Some(conn),
            live: live.clone(),
            published: published.clone(),
            clock: config.clock.clone(),
            blob_threshold: config.blob_threshold,
            max_batch: config.max_batch.max(1),
            notify_id: notify_id.clone(),
        };
        let spawn_err = |e: std::io::Error| StoreError::Open {
            path: connector.location.clone(),
            detail: format!("cannot start the store's threads: {e}"),
        };
        let writer_shared = shared.clone();
        let writer_thread = std::thread::Builder::new()
            .name("waymark-pg-writer".into())
            .spawn(move || core.run(writer_shared))
            .map_err(spawn_err)?;
        let (l_connector, l_live, l_shared, poll) = (
            connector.clone(),
            live.clone(),
            shared.clone(),
            config.poll_interval,
        );
        let listener = std::thread::Builder::new()
            .name("waymark-pg-listener".into())
            .spawn(move || {
                writer::listen(l_connector, l_live, published, notify_id, poll, l_shared)
            })
            .map_err(spawn_err)?;
        Ok(Arc::new(PgStore {
            connector,
            writer_shared: shared,
            threads: Mutex::new(vec![writer_thread, listener]),
            readers: Arc::new(Mutex::new(Vec::new())),
            live,
            config,
        }))
    }

    /// The URL this store was opened with (it holds no password).
    pub fn url(&self) -> &str {
        &self.connector.location
    }

    /// The schema version the database is at.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        self.read(|c| {
            c.query_one("SELECT version FROM waymark_schema", &[])?
                .get(0)
        })
        .await
    }

    /// Stops the writer after it has committed what was queued, and the listener.
    pub fn close(&self) {
        self.writer_shared.close();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }

    /// Runs `f` on a pooled read connection, off the async threads.
    fn read<T, F>(&self, f: F) -> BoxFuture<'static, Result<T, StoreError>>
    where
        T: Send + 'static,
        F: Fn(&mut PgConn) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = self.readers.clone();
        let connector = self.connector.clone();
        let keep = self.config.pool_size.max(1);
        Box::pin(async move {
            let job = move || {
                let pooled = readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
                let (mut conn, reused) = match pooled {
                    Some(c) if !c.client.is_closed() => (c, true),
                    _ => (connector.connect()?, false),
                };
                let mut result = f(&mut conn);
                if reused && matches!(result, Err(StoreError::Unavailable { .. })) {
                    // A pooled connection the server closed meanwhile (a restart) says so at
                    // its next use: a read may go again on a new one.
                    conn = connector.connect()?;
                    result = f(&mut conn);
                }
                if !conn.client.is_closed() {
                    let mut pool = readers.lock().unwrap_or_else(|e| e.into_inner());
                    if pool.len() < keep {
                        pool.push(conn);
                    }
                }
                result.map_err(|e| match e {
                    StoreError::Unavailable { detail, .. } => StoreError::Unavailable {
                        location: connector.location.clone(),
                        detail,
                    },
                    other => other,
                })
            };
            tokio::task::spawn_blocking(job)
                .await
                .map_err(|e| StoreError::Sqlite(format!("reader task failed: {e}")))?
        })
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.close();
        // A blocking client says goodbye to its server on its own small runtime, which cannot
        // run on an async thread: the pooled connections are closed on a thread of their own.
        let readers = std::mem::take(&mut *self.readers.lock().unwrap_or_else(|e| e.into_inner()));
        if !readers.is_empty() {
            let _ = std::thread::Builder::new()
                .name("waymark-pg-close".into())
                .spawn(move || drop(readers));
        }
    }
}

/// Integrity problems: payloads pointing at missing blobs, attempts of no step.
fn check(c: &mut PgConn) -> Result<Vec<String>, StoreError> {
    let mut problems = Vec::new();
    let dangling: i64 = c
        .query_one(
            "SELECT (SELECT count(*) FROM steps s WHERE s.input_blob IS NOT NULL AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = s.input_blob))
                  + (SELECT count(*) FROM steps s WHERE s.output_blob IS NOT NULL AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.hash = s.output_blob))",
            &[],
        )?
        .get(0)?;
    if dangling > 0 {
        problems.push(format!("{dangling} step payloads point at missing blobs"));
    }
    let orphans: i64 = c
        .query_one(
            "SELECT count(*) FROM attempts a WHERE NOT EXISTS (SELECT 1 FROM steps s WHERE s.run_id = a.run_id AND s.key = a.step_key)",
            &[],
        )?
        .get(0)?;
    if orphans > 0 {
        problems.push(format!("{orphans} attempts belong to no step"));
    }
    Ok(problems)
}

impl Store for PgStore {
    fn submit(&self, transition: Transition, durability: Durability) -> Pending {
        // Durable commits wait for the server's disk (`synchronous_commit` as configured);
        // a batch of relaxed ones does not.
        let (reply, rx) = oneshot::channel();
        let sent = self.writer_shared.submit(writer::Job {
            transition,
            durability,
            reply,
        });
        Box::pin(async move {
            if !sent {
                return Err(StoreError::WriterGone);
            }
            rx.await.map_err(|_| StoreError::WriterGone)?
        })
    }

    fn has_claimable(
        &self,
        now: waymark_engine::Millis,
        labels: Vec<String>,
    ) -> BoxFuture<'static, Result<bool, StoreError>> {
        if self.config.clock.is_some() {
            return self.read(move |c| journal::has_claimable(c, now, &labels));
        }
        // Leases are judged by the database's clock, as claims judge them.
        self.read(move |c| {
            let now: i64 = c
                .query_one(
                    "SELECT (extract(epoch from clock_timestamp()) * 1000)::bigint",
                    &[],
                )?
                .get(0)?;
            journal::has_claimable(c, now, &labels)
        })
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

    fn step_trace(
        &self,
        id: RunId,
        key: StepKey,
    ) -> BoxFuture<'static, Result<Option<StepTrace>, StoreError>> {
        self.read(move |c| journal::step_trace(c, id, &key))
    }

    fn trace(&self, id: RunId) -> BoxFuture<'static, Result<Option<RunTrace>, StoreError>> {
        self.read(move |c| journal::trace_page(c, id, 0, i64::MAX))
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
        self.read(check)
    }

    fn live(&self) -> broadcast::Receiver<Arc<Event>> {
        self.live.subscribe()
    }

    fn location(&self) -> String {
        self.connector.location.clone()
    }

    fn maintenance(&self) -> Option<&dyn Maintenance> {
        Some(self)
    }

    fn schema_version(&self) -> i64 {
        crate::LATEST_VERSION
    }
}

/// What a PostgreSQL database leaves to the server's own tools.
fn server_tool(what: &str, tool: &str) -> StoreError {
    StoreError::Conflict(format!(
        "{what} is not done by Waymark on a PostgreSQL database: use {tool} on the server"
    ))
}

impl Maintenance for PgStore {
    fn collect_garbage(&self) -> BoxFuture<'static, Result<GcReport, StoreError>> {
        self.read(|c| {
            // The counter row every writer locks first: no batch commits while blobs are swept,
            // on this machine or another.
            c.client
                .batch_execute("BEGIN; SELECT value FROM counters WHERE name = 'events' FOR UPDATE")
                .map_err(db_err)?;
            match journal::upkeep::collect_garbage(c) {
                Ok(report) => {
                    c.client.batch_execute("COMMIT").map_err(db_err)?;
                    Ok(report)
                }
                Err(e) => {
                    let _ = c.client.batch_execute("ROLLBACK");
                    Err(e)
                }
            }
        })
    }

    fn vacuum(&self) -> BoxFuture<'static, Result<VacuumReport, StoreError>> {
        Box::pin(async {
            Err(server_tool(
                "compacting the database",
                "VACUUM (autovacuum does it)",
            ))
        })
    }

    fn backup(&self, _to: PathBuf) -> BoxFuture<'static, Result<BackupReport, StoreError>> {
        Box::pin(async { Err(server_tool("a backup", "pg_dump")) })
    }

    fn database_stats(&self) -> BoxFuture<'static, Result<DbStats, StoreError>> {
        self.read(|c| {
            c.begin_read()?;
            let read = |c: &mut PgConn| -> Result<DbStats, StoreError> {
                let counted = journal::upkeep::journal_stats(c)?;
                let size: i64 = c
                    .query_one("SELECT pg_database_size(current_database())", &[])?
                    .get(0)?;
                // Pages and the write-ahead log are the server's: only the total is shown.
                Ok(DbStats {
                    file_bytes: size.max(0) as u64,
                    ..counted
                })
            };
            let stats = read(c);
            c.end_read()?;
            stats
        })
    }

    fn retention_candidates(
        &self,
        pointer: Option<String>,
    ) -> BoxFuture<'static, Result<Vec<RetentionCandidate>, StoreError>> {
        self.read(move |c| journal::retention_candidates(c, pointer.as_deref()))
    }
}
