//! Executing one claimed run: loading it and its journal, running its function's code, and
//! recording how it ended (or why it stopped).

use std::sync::Arc;

use tokio::sync::watch;

use super::{FreshRun, WorkerShared};
use crate::context::RunContext;
use crate::error::{Interrupt, RunError, StepError, StoreError};
use crate::ids::RunId;
use crate::model::{RunEnd, RunStatus};
use crate::store::{Applied, Durability, Transition};

pub(super) async fn execute(
    shared: Arc<WorkerShared>,
    id: RunId,
    epoch: i64,
    fresh: Option<FreshRun>,
    stop: watch::Receiver<Option<Interrupt>>,
    wake: watch::Receiver<u64>,
) {
    let fresh_start = fresh.is_some();
    let fence = shared.fence(id, epoch);
    let finish = |end: RunEnd| {
        let t = Transition::FinishRun {
            fence: Some(fence.clone()),
            run: id,
            end,
        };
        shared.store.submit(t, Durability::Durable)
    };
    let run = match fresh {
        Some(run) => run,
        None => {
            let run = match shared.store.run(id).await {
                Ok(Some(r)) => r,
                Ok(None) => return,
                // Claiming it again would fail the same way every lease period: end it.
                Err(e @ StoreError::Corrupt { .. }) => {
                    tracing::error!(%id, error = %e, "the run's data cannot be read; failing it");
                    log_end(id, finish(RunEnd::Failed(unreadable(&e))).await);
                    return;
                }
                Err(e) => {
                    tracing::error!(%id, error = %e, "cannot load run");
                    return;
                }
            };
            if run.status.is_terminal() {
                return;
            }
            if run.cancel_requested {
                log_end(id, finish(RunEnd::Cancelled).await);
                return;
            }
            FreshRun {
                function: run.function,
                version: run.function_version,
                input: run.input,
                deadline_at: run.deadline_at,
            }
        }
    };
    let Some(function) = shared.registry.get(&run.function) else {
        let known = shared.registry.names().join(", ");
        let err = StepError::fatal(
            "unknown_function",
            format!(
                "function '{}' is not registered in this worker (it has: {known})",
                run.function
            ),
        );
        log_end(id, finish(RunEnd::Failed(err)).await);
        return;
    };
    if !function.can_resume(run.version) {
        let err = StepError::fatal(
            "incompatible_version",
            format!(
                "run was started by version {} of function '{}', and this build has version {}, which does not declare that it resumes version {}; finish it with the old build, or fork it",
                run.version, run.function, function.version, run.version
            ),
        );
        log_end(id, finish(RunEnd::Failed(err)).await);
        return;
    }
    // A run this process has just created has an empty journal: no need to read it.
    let steps = if fresh_start {
        Vec::new()
    } else {
        match shared.store.steps(id).await {
            Ok(s) => s,
            Err(e @ StoreError::Corrupt { .. }) => {
                tracing::error!(%id, error = %e, "the run's journal cannot be read; failing it");
                log_end(id, finish(RunEnd::Failed(unreadable(&e))).await);
                return;
            }
            Err(e) => {
                tracing::error!(%id, error = %e, "cannot load the run's journal");
                return;
            }
        }
    };
    let deadline_timer = run.deadline_at.map(|at| {
        let clock = shared.clock.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            clock.sleep_until(at).await;
            shared.stop_run(id, Interrupt::RunDeadline);
        })
    });
    let ctx = RunContext::new(
        id,
        run.function.clone(),
        fence.clone(),
        shared.clone(),
        steps,
        stop,
        wake,
    );
    // A panic outside any step (in the function's own code) fails the run, never the worker.
    let result = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
        (function.handler)(ctx.clone(), run.input),
    ))
    .await
    .unwrap_or_else(|panic| {
        Err(RunError::Step(StepError::fatal(
            "panic",
            format!(
                "the run's code panicked: {}",
                crate::error::panic_text(&panic)
            ),
        )))
    });
    if let Some(t) = deadline_timer {
        t.abort();
    }
    let interrupt = ctx.interrupt().or(match &result {
        Err(RunError::Interrupted(i)) => Some(i.clone()),
        _ => None,
    });
    match interrupt {
        Some(Interrupt::NeedsAttention(key)) => {
            tracing::warn!(%id, step = %key, "run needs attention");
            let t = Transition::ReleaseRun {
                fence: fence.clone(),
                status: Some(RunStatus::NeedsAttention),
            };
            log_end(id, shared.store.submit(t, Durability::Durable).await);
        }
        Some(Interrupt::LeaseLost) => {
            tracing::warn!(%id, "dropped the run: its lease was taken over")
        }
        Some(Interrupt::WorkerStopping) => {}
        Some(Interrupt::Store(e)) => {
            tracing::error!(%id, error = %e, "journal write failed; the run will be retried when its lease expires")
        }
        Some(Interrupt::Cancelled) => log_end(id, finish(RunEnd::Cancelled).await),
        Some(Interrupt::NonDeterministic(m)) => log_end(
            id,
            finish(RunEnd::Failed(StepError::fatal(
                "non_deterministic",
                format!("non-deterministic replay: {m}"),
            )))
            .await,
        ),
        Some(Interrupt::RunDeadline) => log_end(
            id,
            finish(RunEnd::Failed(StepError::fatal(
                "run_deadline",
                "the run did not finish before its deadline",
            )))
            .await,
        ),
        None => {
            let unclaimed = ctx.unclaimed();
            if !unclaimed.is_empty() {
                tracing::warn!(%id, steps = ?unclaimed, "the run finished without asking for some recorded steps");
            }
            let end = match result {
                Ok(v) => RunEnd::Succeeded(v),
                Err(RunError::Step(e)) => RunEnd::Failed(e),
                Err(RunError::Interrupted(_)) => return,
            };
            log_end(id, finish(end).await);
        }
    }
}

fn unreadable(e: &StoreError) -> StepError {
    StepError::fatal(
        "unreadable",
        format!("the run's stored data cannot be read: {e}"),
    )
}

fn log_end(id: RunId, r: Result<Applied, StoreError>) {
    if let Err(e) = r {
        tracing::warn!(%id, error = %e, "could not record the run's end");
    }
}
