//! Hostile values from outside: forged blob markers, overflowing durations, lists of any
//! size. Each fails (or succeeds) on its own; the store and every list keep working.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use waymark_engine::*;

fn echo() -> Registry {
    let mut reg = Registry::new();
    reg.register(DurableFunction::new(
        "echo",
        1,
        |ctx: RunContext, input: Value| async move {
            ctx.step(
                StepSpec::retry_safe("echo").with_input(input.clone()),
                |_| {
                    let input = input.clone();
                    async move { Ok(input) }
                },
            )
            .await
        },
    ));
    reg
}

/// Values that look like the store's own payload references, small and large.
fn forged_values() -> Vec<Value> {
    let big = "x".repeat(64 * 1024);
    vec![
        json!({"$waymark_blob": "00"}),
        json!({"$waymark_blob": "0000000000000000000000000000000000000000000000000000000000000000"}),
        json!({"$$waymark_blob": "00"}),
        json!({"$$$waymark_blob": {"$waymark_blob": 7}}),
        json!({"nested": [{"$waymark_blob": "00"}, {"$waymark_blob": null}]}),
        json!({"big": big, "forged": {"$waymark_blob": "00"}, "also": [{"$$waymark_blob": "ff"}]}),
        json!([{"$waymark_blob": big}]),
    ]
}

#[tokio::test]
async fn forged_blob_markers_round_trip_byte_for_byte_and_lists_still_load() {
    let h = Harness::new(echo()).await;
    for value in forged_values() {
        let run = h.start("echo", value.clone()).await;
        let done = h.settled(run).await;
        assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
        assert_eq!(done.input, value, "the input comes back as it was given");
        assert_eq!(done.output.as_ref(), Some(&value), "and so does the output");
        let trace = h.trace(run).await;
        assert_eq!(trace.steps[0].step.output.as_ref(), Some(&value));
    }
    let listed = h
        .engine
        .list_runs(RunFilter::default())
        .await
        .expect("the list loads");
    assert_eq!(listed.len(), forged_values().len());
    assert!(listed.iter().all(|r| r.error.is_none()), "{listed:?}");
}

#[tokio::test]
async fn markers_forged_under_an_older_version_become_plain_data_when_upgraded() {
    let dir = tempfile::tempdir().expect("dir");
    let path = db_path(&dir);
    SqliteStore::open(&path).expect("create").close();
    // What an older build wrote for `{"$waymark_blob": "00"}` given as input: no escaping.
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.execute_batch(
        "DROP INDEX runs_newest; DROP INDEX runs_by_label;
         ALTER TABLE runs DROP COLUMN label; ALTER TABLE runs DROP COLUMN search_text;
         ALTER TABLE blobs DROP COLUMN codec; ALTER TABLE blobs DROP COLUMN nested;
             ALTER TABLE steps DROP COLUMN inline_attempt;
         ALTER TABLE runs DROP COLUMN worker_label; DROP TABLE schema_history;
         PRAGMA user_version = 2;",
    )
    .expect("downgrade");
    let forged = RunId::new();
    conn.execute(
        "INSERT INTO runs(id, function, function_version, status, input_json, created_at, updated_at)
         VALUES (?1, 'echo', 1, 'succeeded', ?2, 1, 1)",
        rusqlite::params![
            forged.to_string(),
            r#"{"a":{"$waymark_blob":"00"},"b":{"$$waymark_blob":"x"}}"#
        ],
    )
    .expect("insert");
    conn.execute(
        "INSERT INTO steps(run_id, key, ordinal, kind, safety, status, output_json, created_at, updated_at)
         VALUES (?1, 'echo', 0, 'task', 'retry_safe', 'succeeded', ?2, 1, 1)",
        rusqlite::params![forged.to_string(), r#"[{"$waymark_blob":"00"}]"#],
    )
    .expect("insert step");
    drop(conn);
    let store = SqliteStore::open(&path).expect("upgraded");
    let engine = Engine::new(store.clone(), echo());
    let run = engine.run(forged).await.expect("read").expect("exists");
    assert_eq!(
        run.input,
        json!({"a": {"$waymark_blob": "00"}, "b": {"$$waymark_blob": "x"}})
    );
    let steps = engine
        .trace(forged)
        .await
        .expect("trace")
        .expect("run")
        .steps;
    assert_eq!(steps[0].step.output, Some(json!([{"$waymark_blob": "00"}])));
    let listed = engine.list_runs(RunFilter::default()).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert!(listed[0].error.is_none());
    // Described once on the first list: searchable by its input.
    let found = engine
        .list_runs(RunFilter {
            search: Some("waymark_blob".into()),
            ..RunFilter::default()
        })
        .await
        .expect("search");
    assert_eq!(found.len(), 1);
}

#[tokio::test]
async fn a_row_that_cannot_be_decoded_lists_as_unreadable_and_the_rest_still_list() {
    if sqlite_only("a row that cannot be decoded lists as unreadable and the rest still list") {
        return;
    }
    let h = Harness::new(echo()).await;
    let good = h.start("echo", json!("fine")).await;
    let bad = h.start("echo", json!("soon broken")).await;
    h.settled(good).await;
    h.settled(bad).await;
    h.sqlite()
        .expect("the SQLite store")
        .with_connection(|c| {
            c.execute(
                "UPDATE runs SET input_json = NULL, input_blob = 'gone' WHERE id = ?1",
                [bad.to_string()],
            )
        })
        .expect("break one row");
    let listed = h
        .engine
        .list_runs(RunFilter::default())
        .await
        .expect("list");
    assert_eq!(listed.len(), 2);
    let broken = listed.iter().find(|r| r.id == bad).expect("listed");
    let err = broken.error.as_ref().expect("marked");
    assert_eq!(err.kind, "unreadable");
    assert!(err.message.contains("gone"), "{}", err.message);
    let fine = listed.iter().find(|r| r.id == good).expect("listed");
    assert_eq!(fine.input, json!("fine"));
}

#[tokio::test]
async fn an_overflowing_event_ttl_is_saturated_and_the_writer_keeps_writing() {
    let h = Harness::new(echo()).await;
    for secs in [9_223_372_036_854_775, u64::MAX] {
        h.engine
            .send_event("ping", json!({}), Duration::from_secs(secs))
            .await
            .expect("an event that never expires");
    }
    let run = h.start("echo", json!(1)).await;
    assert_eq!(h.settled(run).await.status, RunStatus::Succeeded);
}

#[tokio::test]
async fn an_overflowing_run_deadline_is_saturated() {
    let h = Harness::new(echo()).await;
    let run = h
        .engine
        .start_run(
            "echo",
            json!(1),
            StartOptions {
                deadline: Some(Duration::MAX),
                ..StartOptions::default()
            },
        )
        .await
        .expect("start");
    let done = h.settled(run).await;
    assert_eq!(done.status, RunStatus::Succeeded);
    assert_eq!(done.deadline_at, Some(i64::MAX));
}

#[tokio::test]
async fn a_negative_schema_version_is_refused_not_skipped() {
    let dir = tempfile::tempdir().expect("dir");
    let path = db_path(&dir);
    SqliteStore::open(&path).expect("create").close();
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.pragma_update(None, "user_version", -3).expect("set");
    drop(conn);
    let msg = SqliteStore::open(&path).err().expect("refused").to_string();
    assert!(msg.contains("-3"), "{msg}");
}

#[tokio::test]
async fn a_thousand_and_five_runs_page_by_cursor_to_the_last() {
    let dir = tempfile::tempdir().expect("dir");
    let store = SqliteStore::open(db_path(&dir)).expect("open");
    // No worker: the runs stay queued, which is all a list needs.
    let engine = Engine::new(store.clone() as Arc<dyn Store>, echo());
    let mut started = Vec::new();
    for i in 0..1005 {
        let function = if i % 5 == 0 { "other" } else { "echo" };
        started.push(
            engine
                .start_run(
                    function,
                    json!(format!("input {i}")),
                    StartOptions::default(),
                )
                .await
                .expect("start"),
        );
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = engine
            .list_runs(RunFilter {
                after,
                limit: Some(100),
                ..RunFilter::default()
            })
            .await
            .expect("page");
        let Some(last) = page.last() else { break };
        after = Some((last.created_at, last.id));
        seen.extend(page.iter().map(|r| r.id));
    }
    started.reverse();
    assert_eq!(seen, started, "every run once, newest first");
    let others = engine
        .list_runs(RunFilter {
            label: Some("other".into()),
            limit: Some(5000),
            ..RunFilter::default()
        })
        .await
        .expect("filtered");
    assert_eq!(others.len(), 201);
    let searched = engine
        .list_runs(RunFilter {
            search: Some("input 100".into()),
            ..RunFilter::default()
        })
        .await
        .expect("searched");
    // "input 100", "input 1000" … "input 1004".
    assert_eq!(searched.len(), 6);
}

fn panicking() -> Registry {
    let mut reg = Registry::new();
    reg.register(DurableFunction::new(
        "panics_in_step",
        1,
        |ctx: RunContext, input: Value| async move {
            ctx.step(StepSpec::retry_safe("boom"), |_| {
                let input = input.clone();
                async move {
                    if input == json!("panic") {
                        panic!("the tool blew up");
                    }
                    Ok(input)
                }
            })
            .await
        },
    ));
    reg.register(DurableFunction::new(
        "panics_outside",
        1,
        |_ctx: RunContext, _input: Value| async move {
            if std::hint::black_box(true) {
                panic!("the function itself blew up");
            }
            Ok(Value::Null)
        },
    ));
    reg
}

#[tokio::test]
async fn a_panic_in_a_step_fails_that_attempt_and_the_worker_goes_on() {
    let h = Harness::new(panicking()).await;
    let run = h.start("panics_in_step", json!("panic")).await;
    let done = h.settled(run).await;
    assert_eq!(done.status, RunStatus::Failed);
    let err = done.error.expect("error");
    assert_eq!(err.kind, "panic");
    assert!(err.message.contains("the tool blew up"), "{}", err.message);
    let trace = h.trace(run).await;
    assert_eq!(
        trace.steps[0].attempt_list.len(),
        1,
        "the attempt is recorded"
    );
    assert!(done.lease_owner.is_none(), "the lease is given back");
    // The same worker still runs the next one.
    let next = h.start("panics_in_step", json!("fine")).await;
    assert_eq!(h.settled(next).await.status, RunStatus::Succeeded);
}

#[tokio::test]
async fn a_panic_outside_any_step_fails_the_run() {
    let h = Harness::new(panicking()).await;
    let run = h.start("panics_outside", json!(null)).await;
    let done = h.settled(run).await;
    assert_eq!(done.status, RunStatus::Failed);
    let err = done.error.expect("error");
    assert!(
        err.message.contains("the function itself blew up"),
        "{err:?}"
    );
    let next = h.start("panics_in_step", json!("fine")).await;
    assert_eq!(h.settled(next).await.status, RunStatus::Succeeded);
}

/// A worker whose clock jumps past its own leases (the process was suspended: a laptop lid)
/// claims again before it renews: it must not take its own runs back from itself.
#[tokio::test]
async fn a_worker_whose_leases_lapsed_while_suspended_keeps_its_own_runs() {
    let release = Arc::new(tokio::sync::Notify::new());
    let entered = Arc::new(tokio::sync::Notify::new());
    let mut reg = Registry::new();
    let (r, e) = (release.clone(), entered.clone());
    reg.register(DurableFunction::new(
        "send",
        1,
        move |ctx: RunContext, _input: Value| {
            let (release, entered) = (r.clone(), e.clone());
            async move {
                ctx.step(StepSpec::at_most_once("send"), move |_| {
                    let (release, entered) = (release.clone(), entered.clone());
                    async move {
                        entered.notify_one();
                        release.notified().await;
                        Ok(json!("sent"))
                    }
                })
                .await
            }
        },
    ));
    let clock = ManualClock::new(1_000_000);
    let dir = tempfile::tempdir().expect("dir");
    let store = SqliteStore::open_with(db_path(&dir), SqliteConfig::default(), clock.clone())
        .expect("open");
    // Leases renew every 10 s of real time: never during this test. Claims look every 20 ms.
    let engine = Engine::new(store.clone(), reg)
        .with_clock(clock.clone())
        .with_worker_config(WorkerConfig {
            lease: Duration::from_secs(30),
            claim_interval: Duration::from_millis(20),
            ..WorkerConfig::default()
        });
    let _worker = engine.start_worker().await.expect("worker");
    let run = engine
        .start_run("send", json!({}), StartOptions::default())
        .await
        .expect("start");
    entered.notified().await;
    let before = engine.run(run).await.expect("read").expect("run");
    // The lid was closed for two lease periods.
    clock.advance(Duration::from_secs(60));
    // Wait until a claim pass has seen the lapsed lease (it renews it: the expiry moves on).
    let mut events = engine.subscribe_all(0);
    let renewed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let r = engine.run(run).await.expect("read").expect("run");
            if r.lease_expires_at > before.lease_expires_at || r.lease_epoch != before.lease_epoch {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("a claim pass ran after the jump");
    assert_eq!(
        renewed.lease_epoch, before.lease_epoch,
        "the run was not claimed again"
    );
    assert_eq!(renewed.lease_owner, before.lease_owner);
    release.notify_one();
    let done = tokio::time::timeout(Duration::from_secs(10), engine.wait_settled(run))
        .await
        .expect("settles")
        .expect("read");
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    let trace = engine.trace(run).await.expect("trace").expect("run");
    assert_eq!(trace.steps[0].attempt_list.len(), 1);
    while let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(50), events.next()).await {
        let again =
            matches!(e.kind, EventKind::RunClaimed { epoch, .. } if epoch > before.lease_epoch);
        assert!(
            !(again && e.run_id == Some(run)),
            "the worker claimed its own run: {e:?}"
        );
    }
}

#[tokio::test]
async fn a_trace_page_holds_only_its_steps_and_their_attempts() {
    let mut reg = Registry::new();
    reg.register(DurableFunction::new(
        "ten",
        1,
        |ctx: RunContext, _input: Value| async move {
            for i in 0..10 {
                ctx.step(
                    StepSpec::retry_safe(format!("s/{i}")),
                    move |_| async move { Ok(json!(i)) },
                )
                .await?;
            }
            Ok(Value::Null)
        },
    ));
    let h = Harness::new(reg).await;
    let run = h.start("ten", json!(null)).await;
    h.settled(run).await;
    let page = h
        .engine
        .trace_page(run, 3, 4)
        .await
        .expect("page")
        .expect("run");
    let keys: Vec<&str> = page.steps.iter().map(|s| s.step.key.as_str()).collect();
    assert_eq!(keys, ["s/3", "s/4", "s/5", "s/6"]);
    assert!(page
        .steps
        .iter()
        .all(|s| s.attempt_list.len() == 1 && s.attempt_list[0].step_key == s.step.key));
    assert_eq!(page.run.step_count, 10);
    let past_the_end = h
        .engine
        .trace_page(run, 50, 4)
        .await
        .expect("page")
        .expect("run");
    assert!(past_the_end.steps.is_empty());
}
