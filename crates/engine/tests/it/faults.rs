//! Bad input and faults: each a clear error, and nothing lost.

use crate::common;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use rand::Rng;
use serde_json::{json, Value};
use waymark_engine::*;

fn random_text(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| rng.random_range(b'a'..=b'z') as char)
        .collect()
}

#[tokio::test]
async fn a_corrupt_database_file_is_reported_not_panicked_on() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("waymark.db");
    let mut f = std::fs::File::create(&path).expect("create");
    f.write_all(random_text(64 * 1024).as_bytes())
        .expect("write");
    drop(f);
    let err = SqliteStore::open(&path).err().expect("refused");
    let msg = err.to_string();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(
        msg.contains("corrupt") && msg.contains("waymark.db"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_database_from_a_newer_schema_is_refused_with_both_versions() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("waymark.db");
    SqliteStore::open(&path).expect("create").close();
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.pragma_update(None, "user_version", 99).expect("bump");
    drop(conn);
    let msg = SqliteStore::open(&path).err().expect("refused").to_string();
    assert!(
        msg.contains("schema version 99")
            && msg.contains(&format!(
                "newer than Waymark {} reads (schema {})",
                waymark_engine::APP_VERSION,
                waymark_engine::store::sqlite::SCHEMA_VERSION
            ))
            && msg.contains("nothing was written"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_database_from_a_newer_build_names_the_version_that_wrote_it() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("waymark.db");
    SqliteStore::open(&path).expect("create").close();
    let conn = rusqlite::Connection::open(&path).expect("open");
    // Every migration from schema_history's own on records the build that applied it.
    let recorded: String = conn
        .query_row(
            "SELECT app_version FROM schema_history WHERE version = ?1",
            [waymark_engine::store::sqlite::SCHEMA_VERSION],
            |r| r.get(0),
        )
        .expect("this build's row");
    assert_eq!(recorded, waymark_engine::APP_VERSION);
    conn.execute_batch(
        "INSERT INTO schema_history VALUES (42, '7.1.0', 0); PRAGMA user_version = 42;",
    )
    .expect("bump");
    drop(conn);
    let err = SqliteStore::open(&path).err().expect("refused");
    assert!(
        matches!(&err, StoreError::NewerSchema(n) if n.found == 42 && n.written_by.as_deref() == Some("7.1.0")),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("schema version 42 (written by Waymark 7.1.0)")
            && msg.ends_with("open it with Waymark 7.1.0 or newer"),
        "{msg}"
    );
    // The file the refusal left: still schema 42, readable as it was.
    assert_eq!(
        waymark_engine::store::sqlite::version_of_file(&path).expect("read"),
        Some(42)
    );
}

fn echo() -> Registry {
    let mut reg = Registry::new();
    reg.register(DurableFunction::new(
        "echo",
        1,
        |ctx: RunContext, input: Value| async move {
            let out: Value = ctx
                .step(
                    StepSpec::retry_safe("echo").with_input(input.clone()),
                    |_| {
                        let input = input.clone();
                        async move { Ok(input) }
                    },
                )
                .await?;
            Ok(out)
        },
    ));
    reg
}

#[tokio::test]
async fn a_full_disk_fails_the_transition_clearly_and_keeps_the_journal_consistent() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("waymark.db");
    let pages = {
        let store = SqliteStore::open(&path).expect("open");
        let engine = Engine::new(store.clone(), echo());
        let _worker = engine.start_worker().await.expect("worker");
        let ok = engine
            .start_run("echo", json!({ "n": 1 }), StartOptions::default())
            .await
            .expect("start");
        assert_eq!(
            engine.wait_settled(ok).await.expect("settled").status,
            RunStatus::Succeeded
        );
        _worker.shutdown().await;
        store
            .with_connection(|c| c.query_row("PRAGMA page_count", [], |r| r.get::<_, u64>(0)))
            .expect("pages")
    };
    let config = SqliteConfig {
        max_page_count: Some(pages + 2),
        ..SqliteConfig::default()
    };
    let store = SqliteStore::open_with(&path, config, Arc::new(SystemClock)).expect("open capped");
    let engine = Engine::new(store.clone(), echo());
    let big = json!({ "text": random_text(256 * 1024) });
    let err = engine
        .start_run("echo", big, StartOptions::default())
        .await
        .expect_err("disk full");
    let msg = err.to_string();
    assert!(msg.contains("full") && msg.contains("not saved"), "{msg}");
    assert!(
        matches!(&err, EngineError::Store(e @ StoreError::Full(_)) if !e.is_transient()),
        "{err:?}"
    );
    // The journal is intact: the earlier run is readable, the integrity check passes, and a
    // small run still fits.
    assert!(store.check().await.expect("check").is_empty());
    let runs = engine.list_runs(RunFilter::default()).await.expect("list");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Succeeded);
    let _worker = engine.start_worker().await.expect("worker");
    let small = engine
        .start_run("echo", json!({ "n": 2 }), StartOptions::default())
        .await
        .expect("small run fits");
    assert_eq!(
        engine.wait_settled(small).await.expect("settled").output,
        Some(json!({ "n": 2 }))
    );
}

#[tokio::test]
async fn a_locked_database_waits_for_the_busy_timeout_then_says_so() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("waymark.db");
    let config = SqliteConfig {
        busy_timeout: Duration::from_millis(300),
        ..SqliteConfig::default()
    };
    let store = SqliteStore::open_with(&path, config, Arc::new(SystemClock)).expect("open");
    let engine = Engine::new(store.clone(), echo());
    let other = rusqlite::Connection::open(&path).expect("second connection");
    other.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    let err = engine
        .start_run("echo", json!({}), StartOptions::default())
        .await
        .expect_err("locked");
    let msg = err.to_string();
    assert!(
        msg.contains("locked by another process") && msg.contains("300 ms"),
        "{msg}"
    );
    // The batch's failure is typed from SQLite's code, so callers branch without the text.
    match &err {
        EngineError::Store(e @ StoreError::Locked { waited_ms, .. }) => {
            assert_eq!(*waited_ms, 300);
            assert!(e.is_transient(), "{e:?}");
        }
        other => panic!("expected StoreError::Locked, got {other:?}"),
    }
    // Said once, not wrapped in itself.
    assert_eq!(msg.matches("locked by another process").count(), 1, "{msg}");
    other.execute_batch("COMMIT").expect("unlock");
    engine
        .start_run("echo", json!({}), StartOptions::default())
        .await
        .expect("works once the lock is gone");
}

#[tokio::test]
async fn large_payloads_shared_by_many_steps_are_stored_once() {
    if sqlite_only("large payloads shared by many steps are stored once") {
        return;
    }
    let text = random_text(50 * 1024);
    let mut reg = Registry::new();
    reg.register(DurableFunction::new(
        "many",
        1,
        |ctx: RunContext, input: Value| async move {
            for i in 0..200 {
                let spec = StepSpec::retry_safe(format!("llm/{i}"))
                    .with_input(json!({ "instructions": input["text"], "turn": i }));
                ctx.step(spec, |_| async move { Ok(i) }).await?;
            }
            Ok(Value::Null)
        },
    ));
    let h = Harness::new(reg).await;
    let before = h
        .sqlite()
        .expect("the SQLite store")
        .checkpoint_and_size()
        .expect("size");
    let run = h.start("many", json!({ "text": text })).await;
    assert_eq!(h.settled(run).await.status, RunStatus::Succeeded);
    let after = h
        .sqlite()
        .expect("the SQLite store")
        .checkpoint_and_size()
        .expect("size");
    let growth = after.saturating_sub(before);
    println!("200 steps sharing a 50 KB text grew the database by {growth} bytes");
    assert!(growth < 1024 * 1024, "grew by {growth} bytes");
    // And every step still reads back whole.
    let trace = h.trace(run).await;
    assert_eq!(trace.steps.len(), 200);
    assert!(trace
        .steps
        .iter()
        .all(|s| s.step.input["instructions"].as_str() == Some(text.as_str())));
}
