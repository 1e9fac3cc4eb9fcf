//! Retry policy and timeouts, driven by a manual clock.

use crate::common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{json, Value};
use waymark_engine::*;

const T0: i64 = 1_700_000_000_000;

fn policy(max_attempts: u32, initial_ms: u64, coefficient: f64) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        initial_interval_ms: initial_ms,
        backoff_coefficient: coefficient,
        max_interval_ms: 60_000,
        jitter: 0.0,
        non_retryable_kinds: vec!["bad_request".into()],
    }
}

fn flaky(fail_times: u32, error: StepError, retry: RetryPolicy) -> DurableFunction {
    DurableFunction::new("flaky", 1, move |ctx: RunContext, _input: Value| {
        let (error, retry) = (error.clone(), retry.clone());
        async move {
            let v: u32 = ctx
                .step(StepSpec::retry_safe("call").with_retry(retry), |a| {
                    let error = error.clone();
                    async move {
                        if a.number <= fail_times {
                            Err(error)
                        } else {
                            Ok(a.number)
                        }
                    }
                })
                .await?;
            Ok(json!({ "succeeded_on": v }))
        }
    })
}

async fn manual(reg: Registry) -> (Harness, Arc<ManualClock>) {
    let clock = ManualClock::new(T0);
    let h = Harness::with_clock(reg, clock.clone()).await;
    (h, clock)
}

#[tokio::test]
async fn retries_follow_exponential_backoff() {
    let mut reg = Registry::new();
    reg.register(flaky(
        3,
        StepError::retryable("busy", "try later"),
        policy(5, 1000, 2.0),
    ));
    let (h, clock) = manual(reg).await;
    let run = h.start("flaky", json!({})).await;
    for _ in 0..3 {
        clock.advance_to_next_sleep().await;
    }
    let done = h.settled(run).await;
    assert_eq!(done.output, Some(json!({ "succeeded_on": 4 })));
    let trace = h.trace(run).await;
    let starts: Vec<i64> = trace.steps[0]
        .attempt_list
        .iter()
        .map(|a| a.started_at - T0)
        .collect();
    assert_eq!(starts, vec![0, 1000, 3000, 7000]);
    let outcomes: Vec<&str> = trace.steps[0]
        .attempt_list
        .iter()
        .map(|a| a.outcome.label())
        .collect();
    assert_eq!(outcomes, vec!["error", "error", "error", "ok"]);
}

#[tokio::test]
async fn a_retry_after_from_the_error_wins_over_backoff() {
    let mut reg = Registry::new();
    let err =
        StepError::retryable("http_429", "rate limited").with_retry_after(Duration::from_secs(30));
    reg.register(flaky(1, err, policy(3, 1000, 2.0)));
    let (h, clock) = manual(reg).await;
    let run = h.start("flaky", json!({})).await;
    let at = clock.advance_to_next_sleep().await;
    assert_eq!(at - T0, 30_000);
    assert_eq!(h.settled(run).await.status, RunStatus::Succeeded);
}

#[tokio::test]
async fn non_retryable_errors_stop_at_once() {
    for error in [
        StepError::fatal("unauthorized", "401 from the provider"),
        // Retryable by itself, but its kind is listed as non-retryable in the policy.
        StepError::retryable("bad_request", "400 from the provider"),
    ] {
        let mut reg = Registry::new();
        reg.register(flaky(10, error.clone(), policy(5, 1000, 2.0)));
        let (h, _clock) = manual(reg).await;
        let run = h.start("flaky", json!({})).await;
        let done = h.settled(run).await;
        assert_eq!(done.status, RunStatus::Failed);
        assert_eq!(
            done.error.as_ref().map(|e| e.kind.as_str()),
            Some(error.kind.as_str())
        );
        assert_eq!(h.trace(run).await.steps[0].attempt_list.len(), 1);
    }
}

#[tokio::test]
async fn exhausted_retries_fail_the_step_with_the_last_error() {
    let mut reg = Registry::new();
    reg.register(flaky(
        10,
        StepError::retryable("busy", "still busy"),
        policy(3, 10, 1.0),
    ));
    let (h, clock) = manual(reg).await;
    let run = h.start("flaky", json!({})).await;
    clock.advance_to_next_sleep().await;
    clock.advance_to_next_sleep().await;
    let done = h.settled(run).await;
    assert_eq!(done.status, RunStatus::Failed);
    assert_eq!(done.error.map(|e| e.message), Some("still busy".into()));
    let trace = h.trace(run).await;
    assert_eq!(trace.steps[0].attempt_list.len(), 3);
    assert_eq!(trace.steps[0].step.status, StepStatus::Failed);
}

#[tokio::test]
async fn an_attempt_timeout_aborts_the_attempts_future() {
    let dropped = Arc::new(AtomicU32::new(0));
    let d = dropped.clone();
    let mut reg = Registry::new();
    reg.register(DurableFunction::new(
        "hangs",
        1,
        move |ctx: RunContext, _| {
            let d = d.clone();
            async move {
                let spec = StepSpec::retry_safe("hang")
                    .with_retry(policy(2, 1000, 1.0))
                    .attempt_timeout(Duration::from_secs(5));
                ctx.step(spec, |_| hang_until_dropped(&d)).await?;
                Ok(Value::Null)
            }
        },
    ));
    let (h, clock) = manual(reg).await;
    let run = h.start("hangs", json!({})).await;
    assert_eq!(clock.advance_to_next_sleep().await - T0, 5_000); // attempt 1 times out
    assert_eq!(clock.advance_to_next_sleep().await - T0, 6_000); // backoff
    assert_eq!(clock.advance_to_next_sleep().await - T0, 11_000); // attempt 2 times out
    let done = h.settled(run).await;
    assert_eq!(done.status, RunStatus::Failed);
    assert_eq!(done.error.map(|e| e.kind), Some("timeout".into()));
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        2,
        "both attempts' futures were dropped"
    );
    let trace = h.trace(run).await;
    assert!(trace.steps[0]
        .attempt_list
        .iter()
        .all(|a| matches!(a.outcome, AttemptOutcome::Timeout { after_ms: 5000 })));
}

#[tokio::test]
async fn a_step_timeout_ends_the_retries() {
    let mut reg = Registry::new();
    reg.register(DurableFunction::new(
        "slow_to_succeed",
        1,
        |ctx: RunContext, _| async move {
            let spec = StepSpec::retry_safe("call")
                .with_retry(policy(100, 4000, 1.0))
                .step_timeout(Duration::from_secs(10));
            ctx.step(spec, |_| async {
                Err::<(), _>(StepError::retryable("busy", "busy"))
            })
            .await?;
            Ok(Value::Null)
        },
    ));
    let (h, clock) = manual(reg).await;
    let run = h.start("slow_to_succeed", json!({})).await;
    clock.advance_to_next_sleep().await; // 4 s
    clock.advance_to_next_sleep().await; // 8 s; the next retry would be at 12 s, past the 10 s step timeout
    let done = h.settled(run).await;
    assert_eq!(done.status, RunStatus::Failed);
    assert_eq!(done.error.map(|e| e.kind), Some("step_timeout".into()));
    assert_eq!(h.trace(run).await.steps[0].attempt_list.len(), 3);
}

#[tokio::test]
async fn a_run_deadline_fails_the_run() {
    let dropped = Arc::new(AtomicU32::new(0));
    let d = dropped.clone();
    let mut reg = Registry::new();
    reg.register(DurableFunction::new(
        "too_long",
        1,
        move |ctx: RunContext, _| {
            let d = d.clone();
            async move {
                ctx.step(StepSpec::retry_safe("quick"), |_| async { Ok(1) })
                    .await?;
                ctx.step(StepSpec::at_most_once("forever"), |_| {
                    hang_until_dropped(&d)
                })
                .await?;
                Ok(Value::Null)
            }
        },
    ));
    let (h, clock) = manual(reg).await;
    let opts = StartOptions {
        deadline: Some(Duration::from_secs(60)),
        ..Default::default()
    };
    let run = h
        .engine
        .start_run("too_long", json!({}), opts)
        .await
        .expect("start");
    h.until(run, attempt_started("forever", 1)).await;
    assert_eq!(clock.advance_to_next_sleep().await - T0, 60_000);
    let done = h.settled(run).await;
    assert_eq!(done.status, RunStatus::Failed);
    assert_eq!(done.error.map(|e| e.kind), Some("run_deadline".into()));
    assert_eq!(dropped.load(Ordering::SeqCst), 1);
    let trace = h.trace(run).await;
    assert_eq!(trace.steps[1].step.status, StepStatus::Failed);
    assert!(matches!(
        trace.steps[1].attempt_list[0].outcome,
        AttemptOutcome::Timeout { .. }
    ));
}

/// One step of `safety` whose first attempt ends in doubt (an error saying so, or a timeout).
fn doubtful(safety: SafetyClass, timeout: bool) -> DurableFunction {
    DurableFunction::new(
        "doubtful",
        1,
        move |ctx: RunContext, _input: Value| async move {
            let spec = StepSpec {
                safety,
                ..StepSpec::retry_safe("send")
            }
            .with_retry(policy(3, 10, 1.0))
            .attempt_timeout(Duration::from_secs(5));
            let v: u32 = ctx
                .step(spec, |a| async move {
                    match (a.number, timeout) {
                        (1, true) => futures::future::pending().await,
                        (1, false) => Err(StepError::in_doubt(
                            "connection_lost",
                            "the answer was lost",
                        )),
                        (n, _) => Ok(n),
                    }
                })
                .await?;
            Ok(json!({ "attempt": v }))
        },
    )
}

#[tokio::test]
async fn an_at_most_once_step_in_doubt_waits_for_a_person_and_a_retry_safe_one_retries() {
    for timeout in [false, true] {
        let mut reg = Registry::new();
        reg.register(doubtful(SafetyClass::AtMostOnce, timeout));
        let (h, clock) = manual(reg).await;
        let run = h.start("doubtful", json!({})).await;
        if timeout {
            clock.advance_to_next_sleep().await;
        }
        let done = h.settled(run).await;
        assert_eq!(done.status, RunStatus::NeedsAttention, "timeout: {timeout}");
        let trace = h.trace(run).await;
        assert_eq!(trace.steps[0].step.status, StepStatus::NeedsAttention);
        assert_eq!(trace.steps[0].attempt_list.len(), 1, "not retried");

        let mut reg = Registry::new();
        reg.register(doubtful(SafetyClass::RetrySafe, timeout));
        let (h, clock) = manual(reg).await;
        let run = h.start("doubtful", json!({})).await;
        clock.advance_to_next_sleep().await;
        if timeout {
            clock.advance_to_next_sleep().await;
        }
        let done = h.settled(run).await;
        assert_eq!(done.status, RunStatus::Succeeded, "timeout: {timeout}");
        assert_eq!(done.output, Some(json!({ "attempt": 2 })));
    }
}

#[tokio::test]
async fn a_question_asked_inside_an_attempt_suspends_its_timeout() {
    let dropped = Arc::new(AtomicU32::new(0));
    let d = dropped.clone();
    let mut reg = Registry::new();
    reg.register(DurableFunction::new(
        "asks_mid_call",
        1,
        move |ctx: RunContext, _| {
            let d = d.clone();
            async move {
                let spec = StepSpec::retry_safe("call")
                    .with_retry(policy(1, 1000, 1.0))
                    .attempt_timeout(Duration::from_secs(5));
                ctx.step(spec, |attempt| {
                    let d = d.clone();
                    async move {
                        {
                            let _paused = attempt.pause_timeout();
                            let answer = attempt
                                .run()
                                .ask(
                                    "question/1",
                                    "answer",
                                    json!({"q": 1}),
                                    Duration::from_secs(100),
                                    json!({"message": "Go on?"}),
                                )
                                .await
                                .map_err(|e| StepError::fatal("ask", e.to_string()))?;
                            assert_eq!(answer, None, "nobody answered");
                        }
                        hang_until_dropped(&d).await
                    }
                })
                .await?;
                Ok(Value::Null)
            }
        },
    ));
    let (h, clock) = manual(reg).await;
    let run = h.start("asks_mid_call", json!({})).await;
    // While the question is open only its own timeout runs, not the attempt's 5 s.
    assert_eq!(clock.advance_to_next_sleep().await - T0, 100_000);
    // The attempt's count resumes where it stopped: 5 s of work time in all.
    assert_eq!(clock.advance_to_next_sleep().await - T0, 105_000);
    let done = h.settled(run).await;
    assert_eq!(done.status, RunStatus::Failed);
    assert_eq!(done.error.map(|e| e.kind), Some("timeout".into()));
    let trace = h.trace(run).await;
    let question = trace
        .steps
        .iter()
        .find(|s| s.step.key.as_str() == "question/1")
        .expect("the question is journaled");
    assert_eq!(question.step.input["about"]["message"], "Go on?");
    assert_eq!(question.step.output, Some(json!({"timed_out": true})));
}
