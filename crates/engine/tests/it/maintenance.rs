//! Keeping the database healthy: deleting runs, retention, pinning, blob collection,
//! VACUUM, backup, statistics and the v1 → v2 migration, on real files.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use waymark_engine::*;

const T0: Millis = 1_700_000_000_000;
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

fn registry(stop: Arc<AtomicBool>) -> Registry {
    let mut reg = Registry::new();
    reg.register(DurableFunction::new(
        "parent",
        1,
        |ctx: RunContext, _| async move {
            let child = ctx.child("child/1", "child", json!({ "n": 5 })).await?;
            Ok(json!({ "from_child": child }))
        },
    ));
    reg.register(DurableFunction::new(
        "child",
        1,
        |ctx: RunContext, input: Value| async move {
            let n = input["n"].as_i64().unwrap_or(0);
            let squared: i64 = ctx
                .step(StepSpec::retry_safe("square"), |_| async move { Ok(n * n) })
                .await?;
            Ok(json!(squared))
        },
    ));
    reg.register(DurableFunction::new(
        "quick",
        1,
        |ctx: RunContext, _| async move {
            ctx.step(StepSpec::retry_safe("one"), |_| async { Ok(1) })
                .await?;
            Ok(json!("done"))
        },
    ));
    // Echoes a large document from a step: its input and the step's output share one blob.
    reg.register(DurableFunction::new(
        "big",
        1,
        |ctx: RunContext, input: Value| async move {
            let doc = input["doc"].clone();
            let echoed: Value = ctx
                .step(StepSpec::retry_safe("echo"), |_| {
                    let doc = doc.clone();
                    async move { Ok(doc) }
                })
                .await?;
            Ok(json!({ "len": echoed.as_str().map(str::len) }))
        },
    ));
    reg.register(DurableFunction::new(
        "waits",
        1,
        |ctx: RunContext, _| async move {
            ctx.wait_for_event("approval/1", "never_sent", json!({}), DAY)
                .await?;
            Ok(Value::Null)
        },
    ));
    // Takes steps until told to stop: a run that is executing while a backup is taken.
    reg.register(DurableFunction::new(
        "busy",
        1,
        move |ctx: RunContext, _| {
            let stop = stop.clone();
            async move {
                let mut i = 0u32;
                while !stop.load(Ordering::SeqCst) && i < 100_000 {
                    i += 1;
                    ctx.step(
                        StepSpec::retry_safe(format!("s/{i}")),
                        |_| async move { Ok(i) },
                    )
                    .await?;
                }
                Ok(json!(i))
            }
        },
    ));
    reg
}

fn reg() -> Registry {
    registry(Arc::new(AtomicBool::new(false)))
}

async fn finished(h: &Harness, function: &str, input: Value) -> RunId {
    let run = h.start(function, input).await;
    let done = h.settled(run).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    run
}

fn count(h: &Harness, sql: &str, run: RunId) -> i64 {
    h.count(sql, run)
}

fn store_error(e: EngineError) -> StoreError {
    match e {
        EngineError::Store(s) => s,
        other => panic!("expected a store error, got {other}"),
    }
}

#[tokio::test]
async fn deleting_a_run_removes_its_children_and_journals_and_sequence_numbers_stay_increasing() {
    let h = Harness::new(reg()).await;
    let keep = finished(&h, "quick", json!({})).await;
    let parent = finished(&h, "parent", json!({})).await;
    let child = h.trace(parent).await.children[0];
    let before = h.engine.current_global_seq().await.expect("seq");

    let deleted = h.engine.delete_run(parent, false).await.expect("delete");
    assert_eq!(deleted.runs.len(), 2);
    assert!(deleted.runs.contains(&parent) && deleted.runs.contains(&child));
    assert_eq!(
        deleted.steps, 2,
        "the parent's child step and the child's step"
    );
    assert!(deleted.attempts >= 1 && deleted.events >= 6, "{deleted:?}");
    assert!(deleted.skipped.is_empty());
    for run in [parent, child] {
        assert!(h.engine.run(run).await.expect("read").is_none());
        for table in ["steps", "attempts", "events"] {
            let sql = format!("SELECT count(*) FROM {table} WHERE run_id = ?1");
            assert_eq!(count(&h, &sql, run), 0, "{table} of {run}");
        }
    }
    assert!(h.engine.run(keep).await.expect("read").is_some());

    // The deleted runs held the newest events: the next ones must still be numbered above.
    let after = finished(&h, "quick", json!({})).await;
    let mut sub = h.engine.subscribe_all(0);
    let mut last = 0;
    let mut saw_deletion = false;
    loop {
        let e = tokio::time::timeout(Duration::from_secs(30), sub.next())
            .await
            .expect("event arrives")
            .expect("event");
        assert!(e.global_seq > last, "{} after {last}", e.global_seq);
        last = e.global_seq;
        assert!(e.run_id != Some(parent) && e.run_id != Some(child));
        if let EventKind::RunsDeleted { runs } = &e.kind {
            assert!(e.global_seq > before);
            assert_eq!(runs.len(), 2);
            saw_deletion = true;
        }
        if e.run_id == Some(after) {
            assert!(saw_deletion, "the deletion comes before the later run");
            assert!(e.global_seq > before + 1);
        }
        if e.run_id == Some(after)
            && matches!(&e.kind, EventKind::RunStatusChanged { status, .. } if status.is_terminal())
        {
            break;
        }
    }
}

#[tokio::test]
async fn an_unfinished_run_or_its_child_alone_is_not_deleted() {
    let h = Harness::new(reg()).await;
    let run = h.start("waits", json!({})).await;
    h.until(run, step_waiting("approval/1")).await;
    let err = store_error(h.engine.delete_run(run, true).await.expect_err("refused"));
    assert!(
        matches!(err, StoreError::RunNotFinished { run: r, status: RunStatus::Waiting } if r == run),
        "{err}"
    );
    assert!(err.to_string().contains("is waiting"), "{err}");
    assert!(h.engine.run(run).await.expect("read").is_some());

    let parent = finished(&h, "parent", json!({})).await;
    let child = h.trace(parent).await.children[0];
    let err = store_error(
        h.engine
            .delete_run(child, false)
            .await
            .expect_err("refused"),
    );
    assert!(err.to_string().contains("child of run"), "{err}");

    let missing = RunId::new();
    let err = store_error(h.engine.delete_run(missing, false).await.expect_err("gone"));
    assert!(matches!(err, StoreError::RunNotFound(r) if r == missing));
}

#[tokio::test]
async fn retention_deletes_by_age_and_by_count_and_keeps_pinned_runs() {
    let clock = ManualClock::new(T0);
    let h = Harness::with_clock(reg(), clock.clone()).await;
    let old_pinned = finished(&h, "quick", json!({})).await;
    let old_listed = finished(&h, "quick", json!({})).await;
    let old = finished(&h, "parent", json!({})).await;
    let old_child = h.trace(old).await.children[0];
    clock.advance(DAY * 10);
    let recent: Vec<RunId> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(finished(&h, "quick", json!({})).await);
            clock.advance(Duration::from_secs(1));
        }
        v
    };
    h.engine.pin_run(old_pinned, true).await.expect("pin");
    assert!(
        h.engine
            .run(old_pinned)
            .await
            .expect("read")
            .expect("run")
            .pinned
    );
    let err = store_error(
        h.engine
            .delete_run(old_pinned, false)
            .await
            .expect_err("pinned"),
    );
    assert!(
        matches!(err, StoreError::RunPinned(r) if r == old_pinned),
        "{err}"
    );

    let by_age = RetentionPolicy {
        keep_days: Some(5),
        pinned: [old_listed].into_iter().collect(),
        ..Default::default()
    };
    let deleted = h.engine.apply_retention(&by_age).await.expect("retention");
    let mut gone = deleted.runs.clone();
    gone.sort();
    let mut expected = vec![old, old_child];
    expected.sort();
    assert_eq!(gone, expected, "only the old unpinned run, with its child");

    let by_count = RetentionPolicy {
        keep_last: Some(2),
        ..Default::default()
    };
    let deleted = h
        .engine
        .apply_retention(&by_count)
        .await
        .expect("retention");
    // Of "quick": old_listed (not listed this time) and the oldest recent run go.
    let mut gone = deleted.runs.clone();
    gone.sort();
    let mut expected = vec![old_listed, recent[0]];
    expected.sort();
    assert_eq!(gone, expected);
    for run in [old_pinned, recent[1], recent[2]] {
        assert!(h.engine.run(run).await.expect("read").is_some());
    }

    // Forced, a pinned run goes too.
    let deleted = h.engine.delete_run(old_pinned, true).await.expect("forced");
    assert_eq!(deleted.runs, vec![old_pinned]);
}

#[tokio::test]
async fn retention_can_count_per_value_in_the_input() {
    let h = Harness::new(reg()).await;
    let mut by_name: Vec<(String, RunId)> = Vec::new();
    for name in ["a", "b", "a", "b", "a"] {
        let run = finished(&h, "quick", json!({ "spec": { "name": name } })).await;
        by_name.push((name.to_string(), run));
    }
    let policy = RetentionPolicy {
        keep_last: Some(1),
        group_by: RetentionGroup::InputPointer {
            pointer: "/spec/name".into(),
        },
        ..Default::default()
    };
    let deleted = h.engine.apply_retention(&policy).await.expect("retention");
    assert_eq!(deleted.runs.len(), 3);
    let survivors: Vec<RunId> = h
        .engine
        .list_runs(RunFilter::default())
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(survivors.len(), 2);
    assert!(survivors.contains(&by_name[3].1) && survivors.contains(&by_name[4].1));

    let bad = RetentionPolicy {
        keep_last: Some(1),
        group_by: RetentionGroup::InputPointer {
            pointer: "spec.name".into(),
        },
        ..Default::default()
    };
    assert!(matches!(
        h.engine.apply_retention(&bad).await,
        Err(EngineError::Invalid(_))
    ));
}

#[tokio::test]
async fn a_shared_blob_is_collected_only_when_no_run_refers_to_it_then_vacuum_shrinks_the_file() {
    let h = Harness::new(reg()).await;
    // Blobs are compressed: random letters and digits keep about 60 KB of the 80 KB.
    let doc = noise(80_000, 7);
    let first = finished(&h, "big", json!({ "doc": doc })).await;
    let second = finished(&h, "big", json!({ "doc": doc })).await;
    assert_eq!(
        h.trace(second).await.steps[0].step.output,
        Some(json!(doc)),
        "the payload reads back whole"
    );
    let stats = h.engine.database_stats().await.expect("stats");
    assert_eq!(stats.blobs, 1, "one blob for both runs' inputs and outputs");
    assert!(stats.blob_bytes >= 50_000);
    assert_eq!(stats.runs, 2);
    let top = &stats.largest_runs[0];
    assert!([first, second].contains(&top.run) && top.function == "big");
    assert!(
        top.bytes >= 100_000,
        "input and output count in full: {top:?}"
    );

    let nothing = h.engine.collect_garbage().await.expect("gc");
    assert_eq!(nothing.blobs_deleted, 0);
    h.engine.delete_run(first, false).await.expect("delete");
    let nothing = h.engine.collect_garbage().await.expect("gc");
    assert_eq!((nothing.blobs_deleted, nothing.blobs_kept), (0, 1));
    assert_eq!(
        h.trace(second).await.steps[0].step.output,
        Some(json!(doc)),
        "still readable"
    );

    h.engine.delete_run(second, false).await.expect("delete");
    let freed = h.engine.collect_garbage().await.expect("gc");
    assert_eq!(freed.blobs_deleted, 1);
    assert!(freed.bytes_freed >= 50_000, "{freed:?}");
    assert_eq!(h.engine.database_stats().await.expect("stats").blobs, 0);

    if sqlite_only("VACUUM gives a file's pages back (PostgreSQL's autovacuum does it)") {
        return;
    }
    let before = h
        .sqlite()
        .expect("the SQLite store")
        .checkpoint_and_size()
        .expect("size");
    let free = h
        .engine
        .database_stats()
        .await
        .expect("stats")
        .freelist_pages;
    assert!(free >= 10, "the blob's pages are free: {free}");
    let vacuumed = h.engine.vacuum().await.expect("vacuum");
    let after = std::fs::metadata(db_path(&h.dir)).expect("file").len();
    // The blob took 50 KB of pages, give or take a page.
    assert!(
        after + 40_000 <= before,
        "{after} after vacuum, {before} before"
    );
    let stats = h.engine.database_stats().await.expect("stats");
    assert_eq!(stats.freelist_pages, 0);
    assert!(vacuumed.bytes_after < vacuumed.bytes_before, "{vacuumed:?}");
    assert!(h.store.check().await.expect("check").is_empty());
    // The engine goes on writing after a vacuum.
    finished(&h, "quick", json!({})).await;
}

#[tokio::test]
async fn collecting_garbage_while_runs_write_blobs_keeps_every_referenced_one() {
    let h = Harness::new(reg()).await;
    // 100 parts of 5 KB: each part is a blob, and so is the list of their markers.
    let parts: Vec<String> = (0..100)
        .map(|i| format!("{i:03}{}", "x".repeat(5_000)))
        .collect();
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(h.start("big", json!({ "doc": parts })).await);
        let gc = h.engine.collect_garbage().await.expect("gc");
        assert_eq!(gc.blobs_deleted, 0, "{gc:?}");
    }
    for run in &runs {
        assert_eq!(h.settled(*run).await.status, RunStatus::Succeeded);
    }
    let gc = h.engine.collect_garbage().await.expect("gc");
    assert_eq!(gc.blobs_deleted, 0);
    assert_eq!(
        gc.blobs_kept, 101,
        "the parts and the list that refers to them"
    );
    for run in &runs {
        let trace = h.trace(*run).await;
        assert_eq!(trace.run.input, json!({ "doc": parts }));
        assert_eq!(trace.steps[0].step.output, Some(json!(parts)));
    }
    assert!(h.store.check().await.expect("check").is_empty());
}

/// `len` pseudo-random letters and digits: text that compresses to about 3/4 of its size.
fn noise(len: usize, seed: u64) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ALPHABET[((x >> 33) % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

/// Blobs as they are stored: (hash, codec, logical size, stored bytes, holds markers).
fn blob_rows(h: &Harness) -> Vec<(String, i64, i64, i64, i64)> {
    h.sqlite()
        .expect("the SQLite store")
        .with_connection(|c| {
            let mut stmt = c.prepare(
                "SELECT hash, codec, size, length(data), nested FROM blobs ORDER BY hash",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
            rows.collect::<Result<Vec<_>, _>>()
        })
        .expect("blobs")
}

#[tokio::test]
async fn payload_blobs_are_compressed_and_a_version_4_database_with_plain_blobs_upgrades() {
    if sqlite_only(
        "payload blobs are compressed and a version 4 database with plain blobs upgrades",
    ) {
        return;
    }
    let h = Harness::new(reg()).await;
    // A list of large parts: each part is a blob, and so is the list of their markers.
    // Twelve markers make the list itself larger than the blob threshold.
    let parts: Vec<String> = (0..12)
        .map(|i| "record ".repeat(800) + &i.to_string())
        .collect();
    let old = finished(&h, "big", json!({ "doc": parts })).await;
    let blobs = blob_rows(&h);
    assert_eq!(blobs.len(), 13, "{blobs:?}");
    for (hash, codec, size, stored, nested) in &blobs {
        assert_eq!(*codec, 1, "blob {hash} is compressed");
        // The list of hashes compresses about 2x; the repetitive parts far more.
        let factor = if *nested == 1 { 1 } else { 4 };
        assert!(
            stored * factor < *size,
            "blob {hash}: {stored} bytes stored for {size}"
        );
    }
    assert_eq!(
        blobs.iter().filter(|b| b.4 == 1).count(),
        1,
        "only the list holds markers"
    );
    let dir = h.crash().await;
    {
        // Version 4 wrote every blob as plain JSON and had no codec or marker column.
        let conn = rusqlite::Connection::open(db_path(&dir)).expect("open");
        for (hash, ..) in &blobs {
            let data: Vec<u8> = conn
                .query_row("SELECT data FROM blobs WHERE hash = ?1", [hash], |r| {
                    r.get(0)
                })
                .expect("blob");
            let plain = zstd::bulk::decompress(&data, 1 << 20).expect("zstd");
            conn.execute(
                "UPDATE blobs SET data = ?1 WHERE hash = ?2",
                rusqlite::params![plain, hash],
            )
            .expect("plain");
        }
        // It had every attempt in `attempts`, too (6 keeps a succeeded first one on its step).
        conn.execute_batch(
            "INSERT INTO attempts(run_id, step_key, number, lease_epoch, outcome_json, started_at, finished_at)
                SELECT run_id, key, 1, inline_attempt, '{\"outcome\":\"ok\"}', created_at, finished_at
                FROM steps WHERE inline_attempt IS NOT NULL;
             ALTER TABLE blobs DROP COLUMN codec; ALTER TABLE blobs DROP COLUMN nested;
             ALTER TABLE steps DROP COLUMN inline_attempt;
             ALTER TABLE runs DROP COLUMN worker_label; DROP TABLE schema_history;
             PRAGMA user_version = 4;",
        )
        .expect("downgrade");
    }
    let h = Harness::open(dir, reg(), Arc::new(SystemClock)).await;
    let upgraded = blob_rows(&h);
    assert!(
        upgraded.iter().all(|b| b.1 == 0 && b.2 == b.3),
        "kept plain: {upgraded:?}"
    );
    assert_eq!(
        upgraded.iter().filter(|b| b.4 == 1).count(),
        1,
        "the list found by its markers"
    );
    let trace = h.trace(old).await;
    assert_eq!(trace.run.input, json!({ "doc": parts }));
    assert_eq!(trace.steps[0].step.output, Some(json!(parts)));
    let attempts = &trace.steps[0].attempt_list;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0].outcome, AttemptOutcome::Ok);
    let gc = h.engine.collect_garbage().await.expect("gc");
    assert_eq!(
        (gc.blobs_deleted, gc.blobs_kept),
        (0, 13),
        "the parts stay reachable"
    );

    // New payloads beside the old ones are compressed; a damaged one is named when read.
    let doc = "ledger entry ".repeat(500);
    let new = finished(&h, "big", json!({ "doc": doc })).await;
    let fresh: Vec<_> = blob_rows(&h)
        .into_iter()
        .filter(|b| !upgraded.iter().any(|u| u.0 == b.0))
        .collect();
    assert_eq!(fresh.len(), 1, "{fresh:?}");
    assert_eq!(fresh[0].1, 1);
    let trace = h.trace(new).await;
    assert_eq!(trace.steps[0].step.output, Some(json!(doc)));
    // Its one successful attempt is on the step's row, and reads as any other.
    let attempt = &trace.steps[0].attempt_list;
    assert_eq!(attempt.len(), 1);
    assert_eq!(
        (
            attempt[0].number,
            &attempt[0].outcome,
            attempt[0].lease_epoch
        ),
        (1, &AttemptOutcome::Ok, 1)
    );
    assert_eq!(attempt[0].finished_at, trace.steps[0].step.finished_at);
    let rows: i64 = h
        .sqlite()
        .expect("the SQLite store")
        .with_connection(|c| {
            c.query_row(
                "SELECT count(*) FROM attempts WHERE run_id = ?1",
                [new.to_string()],
                |r| r.get(0),
            )
        })
        .expect("count");
    assert_eq!(rows, 0, "no attempt row for a first attempt that succeeded");
    // Each damage, on the blob's real compressed data unless it replaces it: the run lists as
    // unreadable with the blob named and why, and the other run still reads.
    let (codec, size, data): (i64, i64, Vec<u8>) = h
        .sqlite()
        .expect("the SQLite store")
        .with_connection(|c| {
            c.query_row(
                "SELECT codec, size, data FROM blobs WHERE hash = ?1",
                [&fresh[0].0],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
        })
        .expect("blob");
    let damages: [(i64, i64, Vec<u8>, &str); 5] = [
        (
            codec,
            size,
            b"\x28\xb5\x2f\xfd\x00\x00\xde\xad".to_vec(),
            "decompress",
        ),
        (7, size, data.clone(), "unknown encoding 7"),
        (codec, -1, data.clone(), "impossible size -1"),
        (codec, i64::MAX, data.clone(), "impossible size"),
        (codec, size - 1, data.clone(), "decompress"),
    ];
    for (codec, size, data, why) in damages {
        h.sqlite()
            .expect("the SQLite store")
            .with_connection(|c| {
                c.execute(
                    "UPDATE blobs SET codec = ?2, size = ?3, data = ?4 WHERE hash = ?1",
                    rusqlite::params![&fresh[0].0, codec, size, data],
                )
            })
            .expect("damage");
        let listed = h
            .engine
            .list_runs(RunFilter::default())
            .await
            .expect("list");
        let broken = listed.iter().find(|r| r.id == new).expect("listed");
        let err = broken.error.as_ref().expect("marked unreadable");
        assert!(
            err.message.contains(&fresh[0].0) && err.message.contains(why),
            "{why}: {}",
            err.message
        );
        let fine = listed.iter().find(|r| r.id == old).expect("listed");
        assert!(fine.error.is_none(), "{:?}", fine.error);
    }
}

#[tokio::test]
async fn a_backup_taken_while_a_run_executes_opens_and_passes_the_check() {
    if sqlite_only("a backup is a copy of the file (PostgreSQL's is pg_dump)") {
        return;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let h = Harness::new(registry(stop.clone())).await;
    let done: Vec<RunId> = vec![
        finished(&h, "quick", json!({})).await,
        finished(&h, "parent", json!({})).await,
    ];
    let busy = h.start("busy", json!({})).await;
    h.until(busy, attempt_started("s/20", 1)).await;
    let to = h.dir.path().join("backups").join("copy.db");
    let report = h.engine.backup(&to).await.expect("backup");
    stop.store(true, Ordering::SeqCst);
    assert!(report.bytes > 0 && to.exists());
    assert!(!h.dir.path().join("backups/copy.db.partial").exists());
    let settled = h.settled(busy).await;
    assert_eq!(settled.status, RunStatus::Succeeded);

    let again = h.engine.backup(&to).await.expect_err("exists");
    assert!(again.to_string().contains("exists"), "{again}");

    let copy = SqliteStore::open(&to).expect("the copy opens");
    assert!(copy.check().await.expect("check").is_empty());
    for run in done {
        let r = copy.run(run).await.expect("read").expect("in the copy");
        assert_eq!(r.status, RunStatus::Succeeded);
    }
    let copied = copy.run(busy).await.expect("read").expect("busy run");
    assert!(!copied.status.is_terminal(), "copied mid-run");
    assert!(copied.step_count >= 19);
    copy.close();
}

#[tokio::test]
async fn a_version_1_database_upgrades_to_the_latest_keeping_its_runs() {
    if sqlite_only("a version 1 database upgrades to the latest keeping its runs") {
        return;
    }
    let h = Harness::new(reg()).await;
    let runs = vec![
        finished(&h, "quick", json!({})).await,
        finished(&h, "parent", json!({})).await,
    ];
    let dir = h.crash().await;
    {
        // Version 1: without the pinned column (2), the run labels (4), compressed blobs (5),
        // first attempts on their steps' rows (6), worker labels (7) and schema history (8).
        let conn = rusqlite::Connection::open(db_path(&dir)).expect("open");
        conn.execute_batch(
            "DROP INDEX runs_newest; DROP INDEX runs_by_label;
             ALTER TABLE runs DROP COLUMN label; ALTER TABLE runs DROP COLUMN search_text;
             ALTER TABLE blobs DROP COLUMN codec; ALTER TABLE blobs DROP COLUMN nested;
             ALTER TABLE steps DROP COLUMN inline_attempt;
             ALTER TABLE runs DROP COLUMN worker_label; DROP TABLE schema_history;
             ALTER TABLE runs DROP COLUMN pinned; PRAGMA user_version = 1;",
        )
        .expect("downgrade");
    }
    let h = Harness::open(dir, reg(), Arc::new(SystemClock)).await;
    let version: i64 = h
        .sqlite()
        .expect("the SQLite store")
        .with_connection(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
        .expect("version");
    assert_eq!(version, waymark_engine::store::sqlite::SCHEMA_VERSION);
    assert_eq!(version, 8);
    for run in &runs {
        let r = h.engine.run(*run).await.expect("read").expect("kept");
        assert_eq!(r.status, RunStatus::Succeeded);
        assert!(!r.pinned);
    }
    assert_eq!(h.trace(runs[1]).await.children.len(), 1);
    h.engine.pin_run(runs[0], true).await.expect("pin");
    assert!(
        h.engine
            .run(runs[0])
            .await
            .expect("read")
            .expect("run")
            .pinned
    );
    assert!(h.store.check().await.expect("check").is_empty());
}
