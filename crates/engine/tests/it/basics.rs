//! Steps, replay, idempotency, non-determinism and versions, on a real SQLite file.

use crate::common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use common::*;
use serde_json::{json, Value};
use waymark_engine::*;

fn two_steps(counter: Arc<AtomicU32>) -> DurableFunction {
    DurableFunction::new("two_steps", 1, move |ctx: RunContext, input: Value| {
        let counter = counter.clone();
        async move {
            let a: i64 = ctx
                .step(StepSpec::retry_safe("add"), |_| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let x = input["x"].as_i64().unwrap_or(0);
                    async move { Ok(x + 1) }
                })
                .await?;
            let b: i64 = ctx
                .step(
                    StepSpec::at_most_once("double").with_input(json!({ "a": a })),
                    |_| async move { Ok(a * 2) },
                )
                .await?;
            Ok(json!({ "result": b }))
        }
    })
}

#[tokio::test]
async fn a_run_records_each_step_and_its_attempt() {
    let counter = Arc::new(AtomicU32::new(0));
    let mut reg = Registry::new();
    reg.register(two_steps(counter.clone()));
    let h = Harness::new(reg).await;
    let run = h.start("two_steps", json!({ "x": 20 })).await;
    let done = h.settled(run).await;
    assert_eq!(done.status, RunStatus::Succeeded);
    assert_eq!(done.output, Some(json!({ "result": 42 })));
    let trace = h.trace(run).await;
    let keys: Vec<&str> = trace.steps.iter().map(|s| s.step.key.as_str()).collect();
    assert_eq!(keys, vec!["add", "double"]);
    for s in &trace.steps {
        assert_eq!(s.step.status, StepStatus::Succeeded);
        assert_eq!(s.attempt_list.len(), 1);
        assert_eq!(s.attempt_list[0].outcome, AttemptOutcome::Ok);
    }
    assert_eq!(trace.steps[1].step.input, json!({ "a": 21 }));
    assert_eq!(trace.steps[1].step.safety, SafetyClass::AtMostOnce);
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_run() {
    let mut reg = Registry::new();
    reg.register(two_steps(Arc::new(AtomicU32::new(0))));
    let h = Harness::new(reg).await;
    let opts = StartOptions {
        idempotency_key: Some("order-7".into()),
        ..Default::default()
    };
    let a = h
        .engine
        .start_run("two_steps", json!({ "x": 1 }), opts.clone())
        .await
        .expect("start");
    let b = h
        .engine
        .start_run("two_steps", json!({ "x": 2 }), opts)
        .await
        .expect("start");
    assert_eq!(a, b);
    assert_eq!(h.settled(a).await.output, Some(json!({ "result": 4 })));
}

#[tokio::test]
async fn an_unknown_function_fails_the_run_with_a_clear_error() {
    let h = Harness::new(Registry::new()).await;
    let run = h.start("no_such_function", json!({})).await;
    let done = h.settled(run).await;
    assert_eq!(done.status, RunStatus::Failed);
    let err = done.error.expect("error");
    assert_eq!(err.kind, "unknown_function");
    assert!(
        err.message.contains("'no_such_function' is not registered"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn progress_is_streamed_live_and_the_step_keeps_the_latest() {
    let mut reg = Registry::new();
    reg.register(DurableFunction::new(
        "reporter",
        1,
        |ctx: RunContext, _| async move {
            ctx.step(StepSpec::retry_safe("report"), |a| async move {
                a.progress(json!({ "done": 1, "of": 3 }));
                // The first await sends the step's marker; progress from here on streams live.
                tokio::task::yield_now().await;
                a.progress(json!({ "done": 2, "of": 3 }));
                a.progress(json!({ "done": 3, "of": 3 }));
                Ok(())
            })
            .await?;
            // Work that is done before its marker is even queued keeps its progress too.
            ctx.step(StepSpec::retry_safe("quick"), |a| async move {
                a.progress(json!("all at once"));
                Ok(())
            })
            .await?;
            Ok(Value::Null)
        },
    ));
    let h = Harness::new(reg).await;
    let run = h.start("reporter", json!({})).await;
    assert_eq!(h.settled(run).await.status, RunStatus::Succeeded);
    let events = h
        .store
        .events_after(Some(run), 0, 1000)
        .await
        .expect("events");
    let streamed: Vec<&Value> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StepProgress { progress, .. } => Some(progress),
            _ => None,
        })
        .collect();
    assert_eq!(
        streamed,
        vec![
            &json!({ "done": 2, "of": 3 }),
            &json!({ "done": 3, "of": 3 })
        ]
    );
    let trace = h.trace(run).await;
    assert_eq!(
        trace.steps[0].step.progress,
        Some(json!({ "done": 3, "of": 3 }))
    );
    assert_eq!(trace.steps[1].step.progress, Some(json!("all at once")));
}
