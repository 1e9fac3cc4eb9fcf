//! Test harness: a real SQLite file in a temp dir, an engine, and waits on committed events.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use waymark_engine::*;

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub engine: Engine,
    pub store: Arc<SqliteStore>,
    pub worker: Option<Worker>,
    pub clock: SharedClock,
}

pub fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("waymark.db")
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
        let store = SqliteStore::open_with(db_path(&dir), SqliteConfig::default(), clock.clone())
            .expect("open store");
        let engine = Engine::new(store.clone(), registry)
            .with_clock(clock.clone())
            .with_worker_config(WorkerConfig {
                claim_interval: Duration::from_millis(100),
                ..WorkerConfig::default()
            });
        let worker = engine.start_worker().await.expect("worker");
        Harness {
            dir,
            engine,
            store,
            worker: Some(worker),
            clock,
        }
    }

    /// Simulates a crash: the worker's tasks are dropped mid-flight, nothing is released.
    pub async fn crash(mut self) -> tempfile::TempDir {
        drop(self.worker.take());
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
        self.store.close();
        let dir = self.dir;
        drop(self.engine);
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
