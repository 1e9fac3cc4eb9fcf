//! Timers, events and child runs: they are steps too, and survive restarts.

use crate::common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use waymark_engine::*;

const T0: i64 = 1_700_000_000_000;
const HOUR: Duration = Duration::from_secs(3600);

fn napper() -> DurableFunction {
    DurableFunction::new("napper", 1, |ctx: RunContext, _| async move {
        ctx.sleep("nap", HOUR).await?;
        let after: i64 = ctx
            .step(StepSpec::retry_safe("after"), |_| async { Ok(1) })
            .await?;
        Ok(json!({ "after": after }))
    })
}

fn waiter() -> DurableFunction {
    DurableFunction::new("waiter", 1, |ctx: RunContext, input: Value| async move {
        let got = ctx
            .wait_for_event(
                "approval",
                "approved",
                json!({ "order": input["order"] }),
                HOUR,
            )
            .await?;
        Ok(json!({ "event": got }))
    })
}

fn registry() -> Registry {
    let mut reg = Registry::new();
    reg.register(napper()).register(waiter());
    reg
}

#[tokio::test]
async fn a_timer_survives_a_restart_mid_wait() {
    let clock = ManualClock::new(T0);
    let h = Harness::with_clock(registry(), clock.clone()).await;
    let run = h.start("napper", json!({})).await;
    h.until(run, step_waiting("nap")).await;
    let dir = h.crash().await;

    let h = Harness::open(dir, registry(), clock.clone()).await;
    // The replayed timer keeps its recorded wake time: it does not start over.
    assert_eq!(
        clock.advance_to_next_sleep().await - T0,
        HOUR.as_millis() as i64
    );
    let done = h.settled(run).await;
    assert_eq!(done.status, RunStatus::Succeeded);
    let trace = h.trace(run).await;
    assert_eq!(trace.steps[0].step.kind, StepKind::Sleep);
    assert_eq!(trace.steps[0].step.status, StepStatus::Succeeded);
}

#[tokio::test]
async fn an_event_sent_before_the_wait_counts() {
    let h = Harness::new(registry()).await;
    h.engine
        .send_event("approved", json!({ "order": 7, "by": "ann" }), HOUR)
        .await
        .expect("send");
    let run = h.start("waiter", json!({ "order": 7 })).await;
    let done = h.settled(run).await;
    assert_eq!(
        done.output,
        Some(json!({ "event": { "order": 7, "by": "ann" } }))
    );
}

#[tokio::test]
async fn a_wait_takes_only_the_event_that_matches() {
    let h = Harness::new(registry()).await;
    let run = h.start("waiter", json!({ "order": 8 })).await;
    h.until(run, step_waiting("approval")).await;
    h.engine
        .send_event("approved", json!({ "order": 9 }), HOUR)
        .await
        .expect("send");
    h.engine
        .send_event("approved", json!({ "order": 8, "by": "bo" }), HOUR)
        .await
        .expect("send");
    let done = h.settled(run).await;
    assert_eq!(
        done.output,
        Some(json!({ "event": { "order": 8, "by": "bo" } }))
    );
    // The other event is still there for whoever waits for order 9.
    let other = h.start("waiter", json!({ "order": 9 })).await;
    assert_eq!(
        h.settled(other).await.output,
        Some(json!({ "event": { "order": 9 } }))
    );
}

#[tokio::test]
async fn an_event_wait_survives_a_restart() {
    let h = Harness::new(registry()).await;
    let run = h.start("waiter", json!({ "order": 1 })).await;
    h.until(run, step_waiting("approval")).await;
    let dir = h.crash().await;
    let h = Harness::open(dir, registry(), Arc::new(SystemClock)).await;
    h.engine
        .send_event("approved", json!({ "order": 1 }), HOUR)
        .await
        .expect("send");
    assert_eq!(
        h.settled(run).await.output,
        Some(json!({ "event": { "order": 1 } }))
    );
}

#[tokio::test]
async fn wait_for_event_times_out_cleanly() {
    let clock = ManualClock::new(T0);
    let h = Harness::with_clock(registry(), clock.clone()).await;
    let run = h.start("waiter", json!({ "order": 2 })).await;
    h.until(run, step_waiting("approval")).await;
    clock.advance_to_next_sleep().await;
    let done = h.settled(run).await;
    assert_eq!(done.status, RunStatus::Succeeded);
    assert_eq!(done.output, Some(json!({ "event": null })));
    let trace = h.trace(run).await;
    assert_eq!(
        trace.steps[0].step.output,
        Some(json!({ "timed_out": true }))
    );
}

fn family(dropped: Arc<AtomicU32>) -> Registry {
    let mut reg = Registry::new();
    reg.register(DurableFunction::new(
        "parent",
        1,
        |ctx: RunContext, input: Value| async move {
            let child = ctx
                .child(
                    "child/1",
                    input["child"].as_str().unwrap_or("child_ok"),
                    json!({ "n": 5 }),
                )
                .await?;
            Ok(json!({ "from_child": child }))
        },
    ));
    reg.register(DurableFunction::new(
        "child_ok",
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
        "child_fails",
        1,
        |ctx: RunContext, _| async move {
            ctx.step(
                StepSpec::retry_safe("boom").with_retry(RetryPolicy::no_retries()),
                |_| async { Err::<(), _>(StepError::fatal("tool_crashed", "the tool exited")) },
            )
            .await?;
            Ok(Value::Null)
        },
    ));
    reg.register(DurableFunction::new(
        "child_hangs",
        1,
        move |ctx: RunContext, _| {
            let dropped = dropped.clone();
            async move {
                ctx.step(StepSpec::at_most_once("hang"), |_| {
                    hang_until_dropped(&dropped)
                })
                .await?;
                Ok(Value::Null)
            }
        },
    ));
    reg
}

#[tokio::test]
async fn a_parent_waits_for_its_child_and_gets_its_output() {
    let h = Harness::new(family(Default::default())).await;
    let run = h.start("parent", json!({})).await;
    let done = h.settled(run).await;
    assert_eq!(done.output, Some(json!({ "from_child": 25 })));
    let trace = h.trace(run).await;
    assert_eq!(trace.children.len(), 1);
    let child = h
        .engine
        .run(trace.children[0])
        .await
        .expect("read")
        .expect("child");
    assert_eq!(child.parent_run_id, Some(run));
    assert_eq!(child.status, RunStatus::Succeeded);
    assert_eq!(trace.steps[0].step.meta["child_run_id"], json!(child.id));
}

#[tokio::test]
async fn a_childs_failure_reaches_the_parent_as_a_step_error() {
    let h = Harness::new(family(Default::default())).await;
    let run = h.start("parent", json!({ "child": "child_fails" })).await;
    let done = h.settled(run).await;
    assert_eq!(done.status, RunStatus::Failed);
    let err = done.error.expect("error");
    assert_eq!(err.kind, "child_failed");
    assert!(err.message.contains("the tool exited"), "{}", err.message);
    assert_eq!(h.trace(run).await.steps[0].step.status, StepStatus::Failed);
}

#[tokio::test]
async fn cancelling_the_parent_cancels_the_child_and_its_step_in_flight() {
    let dropped = Arc::new(AtomicU32::new(0));
    let h = Harness::new(family(dropped.clone())).await;
    let run = h.start("parent", json!({ "child": "child_hangs" })).await;
    h.until(run, step_waiting("child/1")).await;
    let child_id = h.trace(run).await.children[0];
    h.until(child_id, attempt_started("hang", 1)).await;
    h.engine.cancel(run).await.expect("cancel");
    assert_eq!(h.settled(run).await.status, RunStatus::Cancelled);
    let child = h.settled(child_id).await;
    assert_eq!(child.status, RunStatus::Cancelled);
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the child's attempt future was dropped"
    );
    let trace = h.trace(child_id).await;
    assert_eq!(
        trace.steps[0].attempt_list[0].outcome,
        AttemptOutcome::Cancelled
    );
}
