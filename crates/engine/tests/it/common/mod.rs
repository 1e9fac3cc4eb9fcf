//! Test harness: a real database (a SQLite file in a temp dir, or with
//! `WAYMARK_TEST_BACKEND=postgres` a database of its own on a private PostgreSQL server), an
//! engine, and waits on committed events. The scenarios are the same on both backends.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use waymark_engine::*;
use waymark_postgres::{PgConfig, PgStore};

#[path = "../../../../../tests/pg/lab.rs"]
mod pg_lab;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backend the scenarios run on: `WAYMARK_TEST_BACKEND` (`sqlite`, the default, or
/// `postgres`).
pub fn backend() -> Backend {
    match std::env::var("WAYMARK_TEST_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

/// For a test of what only the SQLite file has (its bytes, its disk, its upkeep): true on
/// PostgreSQL, after saying so.
pub fn sqlite_only(what: &str) -> bool {
    if backend() == Backend::Postgres {
        eprintln!("SQLite only: {what}");
        return true;
    }
    false
}

/// How long a lease lasts on PostgreSQL, where a dead worker is found out by its leases
/// expiring (there are no lock files across machines).
pub const PG_LEASE: Duration = Duration::from_secs(2);

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub engine: Engine,
    pub store: SharedStore,
    sqlite: Option<Arc<SqliteStore>>,
    pub worker: Option<Worker>,
    pub clock: SharedClock,
}

pub fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("waymark.db")
}

/// The PostgreSQL database a test's temp dir stands for (made on first use, kept across
/// the test's simulated restarts).
fn pg_url(dir: &tempfile::TempDir) -> String {
    let file = dir.path().join("postgres_url");
    if let Ok(url) = std::fs::read_to_string(&file) {
        return url;
    }
    let url = pg_lab::PgLab::shared().fresh_database();
    std::fs::write(&file, &url).expect("remember the test's database");
    url
}

/// Opens the store a test's temp dir stands for, on the backend under test.
pub async fn open_store(
    dir: &tempfile::TempDir,
    clock: SharedClock,
) -> (SharedStore, Option<Arc<SqliteStore>>) {
    match backend() {
        Backend::Sqlite => {
            let store = SqliteStore::open_with(db_path(dir), SqliteConfig::default(), clock)
                .expect("open store");
            (store.clone(), Some(store))
        }
        Backend::Postgres => {
            let config = PgConfig {
                clock: Some(clock),
                poll_interval: Duration::from_millis(100),
                ..PgConfig::default()
            };
            let store = PgStore::open(&pg_url(dir), config)
                .await
                .expect("open store");
            (store, None)
        }
    }
}

impl Harness {
    pub async fn new(registry: Registry) -> Harness {
        let clock: SharedClock = Arc::new(SystemClock);
        Self::with_clock(registry, clock).await
    }

    pub async fn with_clock(registry: Registry, clock: SharedClock) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::open(dir, registry, clock).await
    }

    /// Opens (or reopens, after a simulated restart) the database in `dir` with a fresh worker.
    pub async fn open(dir: tempfile::TempDir, registry: Registry, clock: SharedClock) -> Harness {
        let (store, sqlite) = open_store(&dir, clock.clone()).await;
        let mut config = WorkerConfig {
            claim_interval: Duration::from_millis(100),
            ..WorkerConfig::default()
        };
        if sqlite.is_none() {
            config.lease = PG_LEASE;
        }
        let engine = Engine::new(store.clone(), registry)
            .with_clock(clock.clone())
            .with_worker_config(config);
        let worker = engine.start_worker().await.expect("worker");
        Harness {
            dir,
            engine,
            store,
            sqlite,
            worker: Some(worker),
            clock,
        }
    }

    /// A number the test reads straight from the database: `sql` with `?1` standing for `run`.
    pub fn count(&self, sql: &str, run: RunId) -> i64 {
        match &self.sqlite {
            Some(db) => db
                .with_connection(|c| c.query_row(sql, [run.to_string()], |r| r.get(0)))
                .expect("count"),
            None => {
                let url = pg_url(&self.dir);
                let database = url.rsplit('/').next().expect("a database in the URL");
                let sql = sql.replace("?1", &format!("'{run}'"));
                pg_lab::PgLab::shared()
                    .psql(database, &sql)
                    .parse()
                    .expect("a number")
            }
        }
    }

    /// The SQLite store, on that backend.
    pub fn sqlite(&self) -> Option<&Arc<SqliteStore>> {
        self.sqlite.as_ref()
    }

    /// Simulates a crash: the worker's tasks are dropped mid-flight, nothing is released.
    pub async fn crash(mut self) -> tempfile::TempDir {
        let crashed = self.worker.as_ref().map(|w| w.id().clone());
        drop(self.worker.take());
        if let (None, Some(crashed)) = (&self.sqlite, crashed) {
            // On PostgreSQL no lock file says the worker died; a later worker would take its
            // runs when their leases expire. Tests that move time by hand cannot wait for
            // that: the death is reported as a free lock file reports it on SQLite.
            self.store
                .submit(
                    store::Transition::ClaimRuns {
                        worker: WorkerId("test-harness".into()),
                        lease_ms: 0,
                        limit: 0,
                        dead_workers: vec![crashed.0],
                        held: Vec::new(),
                        labels: Vec::new(),
                    },
                    store::Durability::Durable,
                )
                .await
                .expect("report the crashed worker");
        }
        if let Some(sqlite) = &self.sqlite {
            // The aborted tasks unwind on the runtime; the worker counts as dead once its lock
            // file is free, as it would be at once after a real process died.
            let locks = PathBuf::from(format!("{}.workers", db_path(&self.dir).display()));
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while !all_lock_files_free(&locks) {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the crashed worker's lock file stayed held"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            sqlite.close();
        }
        let dir = self.dir;
        drop(self.engine);
        drop(self.store);
        dir
    }

    pub async fn start(&self, function: &str, input: serde_json::Value) -> RunId {
        self.engine
            .start_run(function, input, StartOptions::default())
            .await
            .expect("start run")
    }

    pub async fn settled(&self, run: RunId) -> RunRecord {
        tokio::time::timeout(Duration::from_secs(30), self.engine.wait_settled(run))
            .await
            .expect("run settles within 30 s")
            .expect("wait")
    }

    /// Waits for the first event of `run` that satisfies `pred`, from the run's start.
    pub async fn until(&self, run: RunId, pred: impl Fn(&Event) -> bool) -> Event {
        let mut sub = self.engine.subscribe(run, 0);
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                let e = sub.next().await.expect("event");
                if pred(&e) {
                    return e;
                }
            }
        })
        .await
        .expect("event arrives within 30 s")
    }

    pub async fn trace(&self, run: RunId) -> RunTrace {
        self.engine
            .trace(run)
            .await
            .expect("trace")
            .expect("run exists")
    }
}

fn all_lock_files_free(dir: &std::path::Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return true;
    };
    entries
        .flatten()
        .all(|e| match std::fs::File::open(e.path()) {
            Ok(f) => f.try_lock().is_ok(),
            Err(_) => true,
        })
}

pub fn step_waiting(key: &'static str) -> impl Fn(&Event) -> bool {
    move |e| matches!(&e.kind, EventKind::StepWaiting { key: k, .. } if k.as_str() == key)
}

pub fn attempt_started(key: &'static str, n: u32) -> impl Fn(&Event) -> bool {
    move |e| matches!(&e.kind, EventKind::AttemptStarted { key: k, attempt, .. } if k.as_str() == key && *attempt == n)
}

/// Work that never finishes and counts in `dropped` when its future is dropped: proves that a
/// timed-out or cancelled attempt was really aborted.
pub fn hang_until_dropped(
    dropped: &std::sync::Arc<std::sync::atomic::AtomicU32>,
) -> impl std::future::Future<Output = Result<(), StepError>> {
    struct CountDrop(std::sync::Arc<std::sync::atomic::AtomicU32>);
    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let guard = CountDrop(dropped.clone());
    async move {
        let _guard = guard;
        futures::future::pending::<Result<(), StepError>>().await
    }
}
