//! Durable steps: running a `StepSpec`'s work with its attempts, timeouts and retries, and
//! committing each attempt's marker and result.

use std::future::Future;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use std::sync::Arc;

use super::pause::PauseClock;
use super::{Attempt, ProgressGate, RunContext};
use crate::error::{Interrupt, RunError, StepError};
use crate::model::{AttemptOutcome, StepKind, StepStatus};
use crate::policy::{SafetyClass, StepSpec};
use crate::store::{Durability, NewStep, StepUpdate, Transition};

/// Where a retry_safe attempt's `started` marker is: not yet queued, queued, or committed.
enum MarkerState {
    /// With the gate that holds the attempt's progress until the marker carries it.
    Unsent(Box<Transition>, Arc<ProgressGate>),
    Sent(crate::store::Pending),
    Done,
}

enum AttemptResult {
    Finished(Result<Value, StepError>),
    TimedOut { after_ms: u64, step_deadline: bool },
    Stopped(Interrupt),
}

impl RunContext {
    /// Runs `work` as a durable step: at most once per success, retried per the spec's policy.
    pub async fn step<T, F, Fut>(&self, spec: StepSpec, mut work: F) -> Result<T, RunError>
    where
        T: Serialize + DeserializeOwned,
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<T, StepError>>,
    {
        let value = self
            .step_value(spec, move |a| {
                let fut = work(a);
                async move {
                    let t = fut.await?;
                    serde_json::to_value(t)
                        .map_err(|e| StepError::fatal("serialization", e.to_string()))
                }
            })
            .await?;
        Ok(serde_json::from_value(value)?)
    }

    async fn step_value<F, Fut>(&self, spec: StepSpec, mut work: F) -> Result<Value, RunError>
    where
        F: FnMut(Attempt) -> Fut,
        Fut: Future<Output = Result<Value, StepError>>,
    {
        let key = spec.key.clone();
        let recorded = self.lookup(&key, StepKind::Task).await?;
        let mut done_attempts = 0u32;
        // Interruptions are the infrastructure's failures, not the step's: they do not use up attempts.
        let mut interruptions = 0u32;
        let mut step_deadline = spec
            .timeouts
            .step
            .map(|d| crate::clock::after(self.now(), d));
        let mut resume_at = None;
        if let Some(rec) = recorded {
            done_attempts = rec.attempts;
            interruptions = rec.interrupted_attempts;
            step_deadline = rec.deadline_at.or(step_deadline);
            match rec.status {
                StepStatus::Succeeded => return Ok(rec.output.unwrap_or(Value::Null)),
                StepStatus::Failed => {
                    return Err(RunError::Step(
                        rec.error
                            .unwrap_or_else(|| StepError::fatal("failed", "step failed")),
                    ))
                }
                StepStatus::NeedsAttention => {
                    return Err(self.interrupted(Interrupt::NeedsAttention(key)))
                }
                StepStatus::Running => {
                    interruptions += 1;
                    let needs_human = spec.safety == SafetyClass::AtMostOnce;
                    let t = Transition::FinishAttempt {
                        fence: self.inner.fence.clone(),
                        key: key.clone(),
                        attempt: rec.attempts,
                        outcome: AttemptOutcome::Interrupted,
                        update: if needs_human {
                            StepUpdate::NeedsAttention
                        } else {
                            StepUpdate::Continue
                        },
                        run_waiting: false,
                    };
                    self.submit(t, Durability::Durable).await?;
                    if needs_human {
                        return Err(self.interrupted(Interrupt::NeedsAttention(key)));
                    }
                }
                StepStatus::Retrying => resume_at = rec.wake_at,
                StepStatus::Pending | StepStatus::Waiting | StepStatus::Cancelled => {}
            }
        }
        if let Some(at) = resume_at {
            self.wait_until(at).await?;
        }
        // Kept small: every byte of a step's row is written at each of its commits.
        let step_meta = match spec.timeouts.attempt {
            Some(d) => {
                json!({ "max_attempts": spec.retry.max_attempts, "attempt_timeout_ms": u64::try_from(d.as_millis()).unwrap_or(u64::MAX) })
            }
            None => json!({ "max_attempts": spec.retry.max_attempts }),
        };
        loop {
            self.check()?;
            let number = done_attempts + 1;
            let start = Transition::StartAttempt {
                fence: self.inner.fence.clone(),
                step: NewStep {
                    key: key.clone(),
                    kind: StepKind::Task,
                    safety: spec.safety,
                    name: spec.name.clone(),
                    input: spec.input.clone(),
                    deadline_at: step_deadline,
                    wake_at: None,
                    meta: step_meta.clone(),
                    progress: None,
                },
                attempt: number,
            };
            let gate = Arc::new(ProgressGate::default());
            // An at_most_once effect may begin only once its marker is on disk. A retry_safe
            // marker need not be waited for: it goes with the result when the work is quick.
            let mut marker = MarkerState::Unsent(Box::new(start), gate.clone());
            if spec.safety == SafetyClass::AtMostOnce {
                if let MarkerState::Unsent(t, _) = std::mem::replace(&mut marker, MarkerState::Done)
                {
                    // The work has not started: nothing is held, and progress goes straight out.
                    gate.open(|_| ());
                    self.submit(*t, Durability::Durable).await?;
                }
            }
            let pause = PauseClock::new(self.shared().clock.clone());
            let attempt = Attempt {
                number,
                run_id: self.inner.run_id,
                key: key.clone(),
                ctx: self.clone(),
                progress: gate.clone(),
                pause: pause.clone(),
            };
            let started = self.now();
            let attempt_deadline = spec
                .timeouts
                .attempt
                .map(|d| crate::clock::after(started, d));
            self.inner
                .in_flight
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let result = {
                // A panic in the step's code fails this attempt; the run, its slot and its
                // lease are not taken down with it.
                let mut work = std::pin::pin!(futures::FutureExt::map(
                    futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(work(attempt))),
                    |r| {
                        r.unwrap_or_else(|panic| {
                            Err(StepError::fatal(
                                "panic",
                                format!(
                                    "the step's code panicked: {}",
                                    crate::error::panic_text(&panic)
                                ),
                            ))
                        })
                    }
                ));
                match futures::poll!(work.as_mut()) {
                    std::task::Poll::Ready(r) => AttemptResult::Finished(r),
                    std::task::Poll::Pending => {
                        if let MarkerState::Unsent(t, _) =
                            std::mem::replace(&mut marker, MarkerState::Done)
                        {
                            marker = MarkerState::Sent(gate.open(|held| {
                                self.shared()
                                    .store
                                    .submit(with_progress(*t, held), Durability::Relaxed)
                            }));
                        }
                        // The attempt's own deadline moves back while its work waits for a
                        // person; the step's deadline does not.
                        let attempt_timeout = async {
                            match attempt_deadline {
                                Some(at) => pause.sleep_past(at).await,
                                None => futures::future::pending().await,
                            }
                        };
                        let step_timeout = async {
                            match step_deadline {
                                Some(at) => self.shared().clock.sleep_until(at).await,
                                None => futures::future::pending().await,
                            }
                        };
                        tokio::select! {
                            biased;
                            r = work => AttemptResult::Finished(r),
                            _ = step_timeout => AttemptResult::TimedOut {
                                after_ms: (self.now() - started).max(0) as u64,
                                step_deadline: true,
                            },
                            _ = attempt_timeout => AttemptResult::TimedOut {
                                after_ms: (self.now() - started).max(0) as u64,
                                step_deadline: false,
                            },
                            why = self.stopped(true) => AttemptResult::Stopped(why),
                        }
                    }
                }
            };
            let others_in_flight = self
                .inner
                .in_flight
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst)
                > 1;
            let finish = |outcome, update, run_waiting| Transition::FinishAttempt {
                fence: self.inner.fence.clone(),
                key: key.clone(),
                attempt: number,
                outcome,
                update,
                run_waiting,
            };
            let (outcome, error) = match result {
                AttemptResult::Finished(Ok(v)) => {
                    self.commit_attempt(
                        marker,
                        finish(AttemptOutcome::Ok, StepUpdate::Succeeded(v.clone()), false),
                    )
                    .await?;
                    return Ok(v);
                }
                AttemptResult::Finished(Err(e)) => (AttemptOutcome::Error { error: e.clone() }, e),
                AttemptResult::TimedOut {
                    after_ms,
                    step_deadline: true,
                } => (
                    AttemptOutcome::Timeout { after_ms },
                    StepError::fatal(
                        "step_timeout",
                        format!("step {key} did not finish within its step timeout"),
                    ),
                ),
                AttemptResult::TimedOut {
                    after_ms,
                    step_deadline: false,
                } => (
                    AttemptOutcome::Timeout { after_ms },
                    StepError::retryable(
                        "timeout",
                        format!("attempt {number} timed out after {after_ms} ms"),
                    ),
                ),
                AttemptResult::Stopped(why) => {
                    let (outcome, update) = match why {
                        Interrupt::RunDeadline => (
                            AttemptOutcome::Timeout {
                                after_ms: (self.now() - started).max(0) as u64,
                            },
                            StepUpdate::Failed(StepError::fatal(
                                "run_deadline",
                                "the run's deadline passed during this attempt",
                            )),
                        ),
                        _ => (AttemptOutcome::Cancelled, StepUpdate::Cancelled),
                    };
                    // A stale lease's writes would be refused anyway; the others record why the attempt ended.
                    if why != Interrupt::LeaseLost {
                        let _ = self
                            .commit_attempt(marker, finish(outcome, update, false))
                            .await;
                    }
                    return Err(self.interrupted(why));
                }
            };
            done_attempts = number;
            // An at_most_once effect that may have happened is for a person to judge: its
            // attempt timed out, or failed in a way that leaves the effect in doubt.
            let in_doubt = matches!(outcome, AttemptOutcome::Timeout { .. }) || error.in_doubt;
            if in_doubt && spec.safety == SafetyClass::AtMostOnce {
                self.commit_attempt(marker, finish(outcome, StepUpdate::NeedsAttention, false))
                    .await?;
                return Err(self.interrupted(Interrupt::NeedsAttention(key)));
            }
            let attempts_used = number.saturating_sub(interruptions);
            let mut retry = error.retryable
                && !spec.retry.is_non_retryable(&error.kind)
                && attempts_used < spec.retry.max_attempts;
            let mut error = error;
            // A server's Retry-After is taken up to a cap: a hostile one could park the run forever.
            let delay = error
                .retry_after_ms
                .map(|ms| {
                    Duration::from_millis(ms)
                        .min(Duration::from_secs(crate::limits::MAX_RETRY_AFTER_SECS))
                })
                .unwrap_or_else(|| spec.retry.delay(attempts_used + 1));
            let at = crate::clock::after(self.now(), delay);
            if retry && step_deadline.is_some_and(|d| at >= d) {
                retry = false;
                error = StepError::fatal(
                    "step_timeout",
                    format!(
                        "step {key} would retry after its step timeout; last error: {}",
                        error.message
                    ),
                );
            }
            let update = if retry {
                StepUpdate::Retrying { at }
            } else {
                StepUpdate::Failed(error.clone())
            };
            self.commit_attempt(marker, finish(outcome, update, retry && !others_in_flight))
                .await?;
            if !retry {
                return Err(RunError::Step(error));
            }
            self.wait_until(at).await?;
        }
    }

    /// Commits an attempt's end; a marker not sent yet goes in the same transition.
    async fn commit_attempt(
        &self,
        marker: MarkerState,
        finish: Transition,
    ) -> Result<(), RunError> {
        let store = &self.shared().store;
        let (marker, finish) = match marker {
            MarkerState::Unsent(start, gate) => {
                match (gate.open(|held| with_progress(*start, held)), finish) {
                    (
                        Transition::StartAttempt {
                            fence,
                            step,
                            attempt,
                        },
                        Transition::FinishAttempt {
                            outcome,
                            update,
                            run_waiting,
                            ..
                        },
                    ) => {
                        let both = Transition::RecordAttempt {
                            fence,
                            step,
                            attempt,
                            outcome,
                            update,
                            run_waiting,
                        };
                        (None, store.submit(both, Durability::Durable))
                    }
                    (start, finish) => (
                        Some(store.submit(start, Durability::Relaxed)),
                        store.submit(finish, Durability::Durable),
                    ),
                }
            }
            MarkerState::Sent(p) => (Some(p), store.submit(finish, Durability::Durable)),
            MarkerState::Done => (None, store.submit(finish, Durability::Durable)),
        };
        if let Some(m) = marker {
            m.await.map_err(|e| self.store_failed(e))?;
        }
        finish.await.map_err(|e| self.store_failed(e))?;
        Ok(())
    }
}

/// The marker with the progress reported before it was sent.
fn with_progress(marker: Transition, held: Option<Value>) -> Transition {
    match marker {
        Transition::StartAttempt {
            fence,
            mut step,
            attempt,
        } => {
            step.progress = held.or(step.progress);
            Transition::StartAttempt {
                fence,
                step,
                attempt,
            }
        }
        other => other,
    }
}
