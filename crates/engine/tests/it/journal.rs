//! The journal as the source of truth: needs_attention, fork, subscriptions, replay checks,
//! function versions.

use crate::common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use waymark_engine::*;

const HOUR: Duration = Duration::from_secs(3600);

/// A function whose at_most_once step never returns: crashing mid-step interrupts it.
fn sender(calls: Arc<AtomicU32>, began: Arc<tokio::sync::Notify>) -> DurableFunction {
    DurableFunction::new("sender", 1, move |ctx: RunContext, _| {
        let (calls, began) = (calls.clone(), began.clone());
        async move {
            let receipt: String = ctx
                .step(StepSpec::at_most_once("email/send"), |a| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    began.notify_one();
                    async move {
                        if a.number == 1 {
                            futures::future::pending::<()>().await;
                        }
                        Ok(format!("sent-on-attempt-{}", a.number))
                    }
                })
                .await?;
            Ok(json!({ "receipt": receipt }))
        }
    })
}

async fn interrupted_sender(calls: Arc<AtomicU32>) -> (Harness, RunId) {
    let began = Arc::new(tokio::sync::Notify::new());
    let mut reg = Registry::new();
    reg.register(sender(calls.clone(), began.clone()));
    let h = Harness::new(reg).await;
    let run = h.start("sender", json!({})).await;
    began.notified().await; // the effect has begun: now the process dies
    let dir = h.crash().await;
    let mut reg = Registry::new();
    reg.register(sender(calls, began));
    let h = Harness::open(dir, reg, Arc::new(SystemClock)).await;
    (h, run)
}

#[tokio::test]
async fn an_interrupted_at_most_once_step_needs_attention_and_is_not_repeated() {
    let calls = Arc::new(AtomicU32::new(0));
    let (h, run) = interrupted_sender(calls.clone()).await;
    let settled = h.settled(run).await;
    assert_eq!(settled.status, RunStatus::NeedsAttention);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the effect was not attempted again"
    );
    let trace = h.trace(run).await;
    let step = &trace.steps[0];
    assert_eq!(step.step.status, StepStatus::NeedsAttention);
    assert_eq!(step.attempt_list.len(), 1);
    assert_eq!(step.attempt_list[0].outcome, AttemptOutcome::Interrupted);

    h.engine
        .resolve_by(
            run,
            "email/send".into(),
            Resolution::Done {
                output: json!("sent-by-hand"),
            },
            Some("cli".into()),
        )
        .await
        .expect("resolve");
    let done = h.settled(run).await;
    assert_eq!(done.status, RunStatus::Succeeded);
    assert_eq!(done.output, Some(json!({ "receipt": "sent-by-hand" })));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The journal says who settled it; the event's time says when.
    let resolved = h
        .until(run, |e| matches!(e.kind, EventKind::StepResolved { .. }))
        .await;
    assert!(
        matches!(&resolved.kind, EventKind::StepResolved { resolution, by, .. }
            if resolution == "done" && by.as_deref() == Some("cli")),
        "{resolved:?}"
    );
    assert!(resolved.at > 0);
}

#[tokio::test]
async fn retry_anyway_runs_a_new_attempt() {
    let calls = Arc::new(AtomicU32::new(0));
    let (h, run) = interrupted_sender(calls.clone()).await;
    assert_eq!(h.settled(run).await.status, RunStatus::NeedsAttention);
    h.engine
        .resolve(run, "email/send".into(), Resolution::Retry)
        .await
        .expect("resolve");
    let done = h.settled(run).await;
    assert_eq!(done.output, Some(json!({ "receipt": "sent-on-attempt-2" })));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn resolving_as_failed_fails_the_run() {
    let (h, run) = interrupted_sender(Default::default()).await;
    assert_eq!(h.settled(run).await.status, RunStatus::NeedsAttention);
    h.engine
        .resolve(
            run,
            "email/send".into(),
            Resolution::Fail {
                message: "bounced".into(),
            },
        )
        .await
        .expect("resolve");
    let done = h.settled(run).await;
    assert_eq!(done.status, RunStatus::Failed);
    assert_eq!(done.error.map(|e| e.message), Some("bounced".into()));
    // A second resolution is refused with a reason.
    let again = h
        .engine
        .resolve(run, "email/send".into(), Resolution::Retry)
        .await;
    let msg = again.expect_err("refused").to_string();
    assert!(msg.contains("does not need attention"), "{msg}");
}

fn pipeline() -> DurableFunction {
    DurableFunction::new("pipeline", 1, |ctx: RunContext, input: Value| async move {
        let x = input["x"].as_i64().unwrap_or(0);
        let a: i64 = ctx
            .step(StepSpec::retry_safe("fetch"), |_| async move { Ok(x) })
            .await?;
        let b: i64 = ctx
            .step(
                StepSpec::retry_safe("transform"),
                |_| async move { Ok(a * 10) },
            )
            .await?;
        let c: i64 = ctx
            .step(
                StepSpec::at_most_once("publish"),
                |_| async move { Ok(b + 1) },
            )
            .await?;
        Ok(json!(c))
    })
}

#[tokio::test]
async fn fork_with_an_edited_output_reruns_what_follows() {
    let mut reg = Registry::new();
    reg.register(pipeline());
    let h = Harness::new(reg).await;
    let run = h.start("pipeline", json!({ "x": 3 })).await;
    assert_eq!(h.settled(run).await.output, Some(json!(31)));
    let before = h.trace(run).await;

    let fork = h
        .engine
        .fork(run, "fetch".into(), Some(json!(7)))
        .await
        .expect("fork");
    let done = h.settled(fork).await;
    assert_eq!(done.output, Some(json!(71)));
    assert_eq!(done.forked_from, Some(run));
    let trace = h.trace(fork).await;
    assert_eq!(trace.steps[0].step.output, Some(json!(7)));
    assert_eq!(trace.steps[0].step.meta["edited"], json!(true));
    assert_eq!(trace.steps[1].step.output, Some(json!(70)));

    // Fork without an edit: the chosen step runs again, the ones before are kept.
    let again = h
        .engine
        .fork(run, "publish".into(), None)
        .await
        .expect("fork");
    assert_eq!(h.settled(again).await.output, Some(json!(31)));
    let t = h.trace(again).await;
    assert_eq!(
        t.steps[0].attempt_list[0].started_at,
        before.steps[0].attempt_list[0].started_at
    );

    assert_eq!(h.trace(run).await, before, "the original run is untouched");
    let missing = h
        .engine
        .fork(run, "nope".into(), None)
        .await
        .expect_err("unknown step");
    assert!(missing.to_string().contains("step nope"), "{missing}");
}

#[tokio::test]
async fn subscribing_after_a_restart_delivers_exactly_the_missed_events() {
    let mut reg = Registry::new();
    reg.register(pipeline());
    let h = Harness::new(reg.clone()).await;
    let first = h.start("pipeline", json!({ "x": 1 })).await;
    h.settled(first).await;
    let mut sub = h.engine.subscribe_all(0);
    for _ in 0..4 {
        sub.next().await.expect("event");
    }
    let seen_global = sub.position();
    let mut run_sub = h.engine.subscribe(first, 0);
    run_sub.next().await.expect("event");
    run_sub.next().await.expect("event");
    let seen_run = run_sub.position();
    drop((sub, run_sub));
    let dir = h.crash().await;

    let h = Harness::open(dir, reg, Arc::new(SystemClock)).await;
    let second = h.start("pipeline", json!({ "x": 2 })).await;
    h.settled(second).await;
    let all = h
        .store
        .events_after(None, 0, 100_000)
        .await
        .expect("events");
    let expected: Vec<i64> = all
        .iter()
        .map(|e| e.global_seq)
        .filter(|s| *s > seen_global)
        .collect();
    let mut sub = h.engine.subscribe_all(seen_global);
    let mut got = Vec::new();
    while got.len() < expected.len() {
        got.push(sub.next().await.expect("event").global_seq);
    }
    assert_eq!(got, expected, "every missed event, in order, once");
    assert_eq!(expected.first(), Some(&(seen_global + 1)));

    let run_events = h
        .store
        .events_after(Some(first), seen_run, 1000)
        .await
        .expect("events");
    let mut run_sub = h.engine.subscribe(first, seen_run);
    for e in &run_events {
        assert_eq!(&run_sub.next().await.expect("event"), e);
    }
    let seqs: Vec<i64> = run_events.iter().filter_map(|e| e.run_seq).collect();
    assert_eq!(
        seqs,
        ((seen_run + 1)..=(seen_run + seqs.len() as i64)).collect::<Vec<_>>()
    );
}

fn evolving(version: u32, first_key: &'static str, resumes: &[u32]) -> DurableFunction {
    DurableFunction::new("evolving", version, move |ctx: RunContext, _| async move {
        ctx.step(StepSpec::retry_safe(first_key), |_| async { Ok(1) })
            .await?;
        ctx.sleep("pause", HOUR).await?;
        Ok(json!("done"))
    })
    .resumes(resumes)
}

async fn paused_evolving_run() -> (tempfile::TempDir, RunId, Arc<ManualClock>) {
    let clock = ManualClock::new(1_700_000_000_000);
    let mut reg = Registry::new();
    reg.register(evolving(1, "a", &[]));
    let h = Harness::with_clock(reg, clock.clone()).await;
    let run = h.start("evolving", json!({})).await;
    h.until(run, step_waiting("pause")).await;
    (h.crash().await, run, clock)
}

#[tokio::test]
async fn replay_that_asks_for_an_unrecorded_step_fails_as_non_deterministic() {
    let (dir, run, clock) = paused_evolving_run().await;
    let mut reg = Registry::new();
    reg.register(evolving(1, "b", &[]));
    let h = Harness::open(dir, reg, clock).await;
    let done = h.settled(run).await;
    assert_eq!(done.status, RunStatus::Failed);
    let msg = done.error.expect("error").message;
    assert!(msg.contains("non-deterministic replay"), "{msg}");
    assert!(
        msg.contains("'b'") && msg.contains("a, pause"),
        "names both: {msg}"
    );
}

#[tokio::test]
async fn replay_that_asks_for_a_known_key_with_another_kind_fails() {
    let (dir, run, clock) = paused_evolving_run().await;
    let mut reg = Registry::new();
    reg.register(DurableFunction::new(
        "evolving",
        1,
        |ctx: RunContext, _| async move {
            ctx.step(StepSpec::retry_safe("a"), |_| async { Ok(1) })
                .await?;
            ctx.step(StepSpec::retry_safe("pause"), |_| async { Ok(2) })
                .await?;
            Ok(Value::Null)
        },
    ));
    let h = Harness::open(dir, reg, clock).await;
    let done = h.settled(run).await;
    let msg = done.error.expect("error").message;
    assert!(
        msg.contains("'pause' is recorded as a sleep step but the code now asks for a task step"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_newer_version_fails_old_runs_it_cannot_resume_with_a_clear_message() {
    let (dir, run, clock) = paused_evolving_run().await;
    let mut reg = Registry::new();
    reg.register(evolving(2, "a", &[]));
    let h = Harness::open(dir, reg, clock).await;
    let done = h.settled(run).await;
    assert_eq!(done.status, RunStatus::Failed);
    let err = done.error.expect("error");
    assert_eq!(err.kind, "incompatible_version");
    assert!(
        err.message.contains("version 1") && err.message.contains("version 2"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_newer_version_that_declares_it_resumes_old_runs_finishes_them() {
    let (dir, run, clock) = paused_evolving_run().await;
    let mut reg = Registry::new();
    reg.register(evolving(2, "a", &[1]));
    let h = Harness::open(dir, reg, clock.clone()).await;
    clock.advance_to_next_sleep().await;
    let done = h.settled(run).await;
    assert_eq!(done.status, RunStatus::Succeeded);
    assert_eq!(
        done.function_version, 1,
        "the run keeps the version it started with"
    );
}

#[tokio::test]
async fn parallel_steps_replay_by_key_whatever_order_they_finish_in() {
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let mut reg = Registry::new();
    reg.register(DurableFunction::new(
        "fan_out",
        1,
        move |ctx: RunContext, _| {
            let r = r.clone();
            async move {
                let calls = (1..=4).map(|i| {
                    let ctx = ctx.clone();
                    let r = r.clone();
                    async move {
                        ctx.step(StepSpec::retry_safe(format!("tool/1.{i}")), |_| {
                            r.fetch_add(1, Ordering::SeqCst);
                            async move { Ok(i * 100) }
                        })
                        .await
                    }
                });
                let results: Result<Vec<i64>, RunError> =
                    ctx.join(calls).await.into_iter().collect();
                ctx.sleep("pause", HOUR).await?;
                Ok(json!(results?))
            }
        },
    ));
    let clock = ManualClock::new(1_700_000_000_000);
    let h = Harness::with_clock(reg.clone(), clock.clone()).await;
    let run = h.start("fan_out", json!({})).await;
    h.until(run, step_waiting("pause")).await;
    let dir = h.crash().await;
    let h = Harness::open(dir, reg, clock.clone()).await;
    clock.advance_to_next_sleep().await;
    assert_eq!(
        h.settled(run).await.output,
        Some(json!([100, 200, 300, 400]))
    );
    assert_eq!(runs.load(Ordering::SeqCst), 4, "no finished step ran again");
}

#[tokio::test]
async fn a_result_written_under_an_expired_lease_is_rejected() {
    use waymark_engine::store::{Durability, Fence, NewRun, NewStep, StepUpdate, Transition};
    let dir = tempfile::tempdir().expect("dir");
    let store = SqliteStore::open(dir.path().join("waymark.db")).expect("open");
    let (first, second) = (WorkerId::new(), WorkerId::new());
    let run = RunId::new();
    let create = Transition::CreateRun(NewRun {
        id: run,
        function: "f".into(),
        function_version: 1,
        input: json!({}),
        label: Default::default(),
        idempotency_key: None,
        parent: None,
        deadline_at: None,
        // Leased to the first worker, and already expired.
        lease_to: Some((first.clone(), -1)),
        worker_label: None,
    });
    store
        .submit(create, Durability::Durable)
        .await
        .expect("create");
    let stale = Fence {
        run,
        worker: first.clone(),
        epoch: 1,
    };
    let step = NewStep {
        key: "work".into(),
        kind: StepKind::Task,
        safety: SafetyClass::RetrySafe,
        name: None,
        input: json!(null),
        deadline_at: None,
        wake_at: None,
        meta: json!(null),
        progress: None,
    };
    store
        .submit(
            Transition::StartAttempt {
                fence: stale.clone(),
                step,
                attempt: 1,
            },
            Durability::Durable,
        )
        .await
        .expect("the first worker starts while its lease holds");
    let claim = Transition::ClaimRuns {
        held: Vec::new(),
        worker: second.clone(),
        lease_ms: 60_000,
        limit: 10,
        dead_workers: vec![],
        labels: Vec::new(),
    };
    let claimed = store
        .submit(claim, Durability::Durable)
        .await
        .expect("claim");
    assert!(
        matches!(claimed, waymark_engine::store::Applied::Claimed(ref c) if c.len() == 1 && c[0].epoch == 2)
    );
    let late = Transition::FinishAttempt {
        fence: stale,
        key: "work".into(),
        attempt: 1,
        outcome: AttemptOutcome::Ok,
        update: StepUpdate::Succeeded(json!("late")),
        run_waiting: false,
    };
    let err = store
        .submit(late, Durability::Durable)
        .await
        .expect_err("fenced off");
    assert!(
        matches!(err, StoreError::LeaseLost(r) if r == run),
        "{err:?}"
    );
    let step = store
        .step(run, "work".into())
        .await
        .expect("read")
        .expect("step");
    assert_eq!(
        step.status,
        StepStatus::Running,
        "the late result did not land"
    );
    assert_eq!(step.output, None);
}

fn flaky_host(began: Arc<tokio::sync::Notify>) -> Registry {
    let mut reg = Registry::new();
    reg.register(DurableFunction::new(
        "fragile",
        1,
        move |ctx: RunContext, _| {
            let began = began.clone();
            async move {
                let policy = RetryPolicy {
                    max_attempts: 2,
                    initial_interval_ms: 10,
                    jitter: 0.0,
                    ..RetryPolicy::default()
                };
                let spec = StepSpec::retry_safe("fetch").with_retry(policy);
                let n: u32 = ctx
                    .step(spec, |a| {
                        began.notify_one();
                        async move {
                            if a.number <= 2 {
                                futures::future::pending::<()>().await;
                            }
                            if a.number == 3 {
                                return Err(StepError::retryable("busy", "try again"));
                            }
                            Ok(a.number)
                        }
                    })
                    .await?;
                Ok(json!(n))
            }
        },
    ));
    reg
}

#[tokio::test]
async fn interruptions_do_not_use_up_a_steps_attempts() {
    let began = Arc::new(tokio::sync::Notify::new());
    let h = Harness::new(flaky_host(began.clone())).await;
    let run = h.start("fragile", json!({})).await;
    let mut h = Some(h);
    for _ in 0..2 {
        began.notified().await;
        let crashed = h.take().expect("harness").crash().await;
        h = Some(Harness::open(crashed, flaky_host(began.clone()), Arc::new(SystemClock)).await);
    }
    let h = h.expect("harness");
    // Two workers died mid-attempt; the policy's two attempts are still there for real errors.
    let done = h.settled(run).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{:?}", done.error);
    assert_eq!(done.output, Some(json!(4)));
    let trace = h.trace(run).await;
    let outcomes: Vec<&str> = trace.steps[0]
        .attempt_list
        .iter()
        .map(|a| a.outcome.label())
        .collect();
    assert_eq!(outcomes, vec!["interrupted", "interrupted", "error", "ok"]);
}
