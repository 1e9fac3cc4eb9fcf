//! Leases with fencing, across processes: a frozen worker's late result is rejected.

mod common;
#[path = "pg/lab.rs"]
mod pg_lab;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use serde_json::json;
use waymark_engine::*;

/// The database a scenario runs on: a SQLite file, or a PostgreSQL database of the lab.
enum Db {
    File(PathBuf),
    Team(String),
}

impl Db {
    fn sqlite(dir: &Path) -> Db {
        Db::File(dir.join("waymark.db"))
    }

    fn postgres() -> Db {
        Db::Team(pg_lab::PgLab::shared().fresh_database())
    }

    /// What a worker process gets as `--db`.
    fn arg(&self) -> &Path {
        match self {
            Db::File(p) => p,
            Db::Team(url) => Path::new(url),
        }
    }

    async fn engine(&self) -> Engine {
        let store: SharedStore = match self {
            Db::File(p) => SqliteStore::open(p).expect("open"),
            Db::Team(url) => {
                waymark_postgres::PgStore::open(url, waymark_postgres::PgConfig::default())
                    .await
                    .expect("open")
            }
        };
        Engine::new(store, Registry::new())
    }

    /// Whether another process could commit now (nobody holds the write lock).
    fn writable(&self) -> bool {
        match self {
            Db::File(p) => {
                let probe = rusqlite::Connection::open(p).expect("probe connection");
                probe
                    .busy_timeout(Duration::from_millis(300))
                    .expect("busy timeout");
                probe.execute_batch("BEGIN IMMEDIATE; ROLLBACK").is_ok()
            }
            // Every commit locks the event counter's row first.
            Db::Team(url) => pg_lab::PgLab::shared()
                .try_psql(
                    pg_lab::PgLab::database_of(url),
                    "BEGIN; SET LOCAL lock_timeout = '300ms';
                     SELECT value FROM counters WHERE name = 'events' FOR UPDATE; ROLLBACK;",
                )
                .is_ok(),
        }
    }
}

/// SIGSTOPs the worker at a moment it holds no write lock: a process frozen inside a commit
/// would block every other writer (SQLite's file lock, PostgreSQL's event counter), which is
/// not what these tests are about.
fn freeze_outside_a_write(w: &WorkerProcess, db: &Db) {
    for _ in 0..20 {
        w.signal(libc::SIGSTOP);
        if db.writable() {
            return;
        }
        w.signal(libc::SIGCONT);
        std::thread::sleep(Duration::from_millis(7));
    }
    panic!("could not freeze the worker outside a write");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_workers_late_result_is_rejected_and_the_second_workers_result_stands() {
    let (dir, _, ledger) = temp_paths();
    late_result_is_rejected(Db::sqlite(dir.path()), &ledger).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_frozen_workers_late_result_is_rejected() {
    let (_dir, _, ledger) = temp_paths();
    late_result_is_rejected(Db::postgres(), &ledger).await;
}

async fn late_result_is_rejected(db: Db, ledger: &Path) {
    let engine = db.engine().await;
    let lease = ["--lease-ms", "1000"];

    let first = WorkerProcess::spawn(db.arg(), ledger, &lease, &[]);
    first
        .wait_line("READY", Duration::from_secs(30))
        .expect("first worker starts");
    let run = engine
        .start_run("fenced", json!({}), StartOptions::default())
        .await
        .expect("start");
    first
        .wait_line("WORKING", Duration::from_secs(30))
        .expect("first worker is in the step");
    // A retry_safe attempt's marker is committed without being waited for: freeze only once
    // it is on disk, so the journal knows the first attempt began.
    let mut events = engine.subscribe(run, 0);
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let e = events.next().await.expect("event");
            if matches!(&e.kind, EventKind::AttemptStarted { key, .. } if key.as_str() == "work") {
                return;
            }
        }
    })
    .await
    .expect("the first attempt's marker is committed");
    freeze_outside_a_write(&first, &db);

    // The second worker cannot tell the frozen one is stuck (its lock is still held), so it
    // waits for the lease to expire, then takes the run over.
    let second = WorkerProcess::spawn(db.arg(), ledger, &lease, &[]);
    second
        .wait_line("READY", Duration::from_secs(30))
        .expect("second worker starts");
    let done = tokio::time::timeout(Duration::from_secs(30), engine.wait_settled(run))
        .await
        .expect("settles")
        .expect("read");
    assert_eq!(done.status, RunStatus::Succeeded);
    assert_eq!(done.output, Some(json!({ "by": second.pid })));

    // Wake the first worker: its attempt finishes and its result must not land.
    first.signal(libc::SIGCONT);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !first.stderr_contains("lease") {
        assert!(
            std::time::Instant::now() < deadline,
            "the first worker never noticed it lost the lease"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = engine.run(run).await.expect("read").expect("run");
    assert_eq!(
        after.output,
        Some(json!({ "by": second.pid })),
        "the late result was rejected"
    );
    let trace = engine.trace(run).await.expect("trace").expect("run");
    let attempts = &trace.steps[0].attempt_list;
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].outcome, AttemptOutcome::Interrupted);
    assert_eq!(attempts[1].outcome, AttemptOutcome::Ok);
    assert!(attempts[1].lease_epoch > attempts[0].lease_epoch);
    println!(
        "first worker's log: {}",
        first.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_suspended_past_its_lease_keeps_its_own_runs_and_finishes_its_attempt() {
    let (dir, _, ledger) = temp_paths();
    suspended_worker_keeps_its_runs(Db::sqlite(dir.path()), &ledger).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_worker_suspended_past_its_lease_keeps_its_own_runs() {
    let (_dir, _, ledger) = temp_paths();
    suspended_worker_keeps_its_runs(Db::postgres(), &ledger).await;
}

async fn suspended_worker_keeps_its_runs(db: Db, ledger: &Path) {
    let engine = db.engine().await;
    // Renewed every 100 ms; the suspension below lasts many lease periods.
    let worker = WorkerProcess::spawn(db.arg(), ledger, &["--lease-ms", "300"], &[]);
    worker
        .wait_line("READY", Duration::from_secs(30))
        .expect("worker starts");
    let run = engine
        .start_run("suspended", json!({}), StartOptions::default())
        .await
        .expect("start");
    worker
        .wait_line("SIDE_EFFECT", Duration::from_secs(30))
        .expect("the side effect is under way");
    // The lid closes: nothing of the process runs, its lease lapses, no other worker exists.
    freeze_outside_a_write(&worker, &db);
    let lapsed_at = std::time::Instant::now();
    loop {
        let r = engine.run(run).await.expect("read").expect("run");
        let now = waymark_engine::clock::system_now_ms();
        if r.lease_expires_at.is_some_and(|at| at + 600 < now) {
            break;
        }
        assert!(
            lapsed_at.elapsed() < Duration::from_secs(30),
            "the lease never lapsed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The lid opens.
    worker.signal(libc::SIGCONT);
    let done = tokio::time::timeout(Duration::from_secs(30), engine.wait_settled(run))
        .await
        .expect("settles")
        .expect("read");
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    assert_eq!(done.output, Some(json!({ "sent": true })));
    let trace = engine.trace(run).await.expect("trace").expect("run");
    let attempts = &trace.steps[0].attempt_list;
    assert_eq!(
        attempts.len(),
        1,
        "the attempt was not interrupted: {attempts:?}"
    );
    assert_eq!(attempts[0].outcome, AttemptOutcome::Ok);
    assert_eq!(ledger_lines(ledger), vec!["send attempt 1".to_string()]);
    assert!(
        !worker.stderr_contains("lease lost"),
        "the worker did not take its own run from itself"
    );
}
