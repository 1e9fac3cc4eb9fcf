//! Applying one transition inside the writer's transaction. Each runs in its own savepoint,
//! so a rejected transition (a stale lease, a bad request) leaves its batch-mates intact.

use serde_json::{json, Value};

use super::args;
use super::delete::{delete_runs, pin_run};
use super::fork::fork;
use super::rows;
use super::tx::Tx;
use super::Dialect;
use crate::clock::Millis;
use crate::error::{StepError, StoreError};
use crate::ids::{RunId, WorkerId};
use crate::model::{EventKind, Resolution, RunEnd, RunStatus, StepStatus};
use crate::store::{Applied, Claim, Fence, NewStep, Transition};

/// Applies one transition on the writer's transaction (its savepoint is the writer's).
pub fn apply(tx: &mut Tx<'_>, t: &Transition) -> Result<Applied, StoreError> {
    match t {
        Transition::CreateRun(r) => tx.insert_run(r),

        Transition::DescribeRuns(labels) => {
            for (run, label, text) in labels {
                tx.db.execute(
                    "UPDATE runs SET label = ?2, search_text = ?3 WHERE id = ?1",
                    args![run.to_string(), label, text],
                )?;
            }
            Ok(Applied::Described)
        }

        Transition::ClaimRuns {
            worker,
            lease_ms,
            limit,
            dead_workers,
            held,
            labels,
        } => {
            renew_leases(tx, worker, held, *lease_ms)?;
            for dead in dead_workers {
                tx.db.execute(
                    "UPDATE runs SET lease_expires_at = 0 WHERE status IN ('queued', 'running', 'waiting') AND lease_owner = ?1",
                    args![dead],
                )?;
                tx.db
                    .execute("DELETE FROM workers WHERE id = ?1", args![dead])?;
            }
            // Rows another worker is claiming right now are passed over, not waited for.
            let claim_sql = format!(
                "SELECT id, status FROM runs
                 WHERE status IN ('queued', 'running', 'waiting') AND lease_expires_at <= ?1
                   AND {}
                 ORDER BY lease_expires_at, created_at LIMIT ?2{}",
                rows::label_filter(tx.db.dialect(), "?3"),
                tx.db.dialect().skip_locked()
            );
            let limit = i64::try_from(*limit).unwrap_or(i64::MAX);
            let candidates = tx
                .db
                .query(&claim_sql, args![tx.now, limit, rows::label_list(labels)])?;
            let mut claimed = Vec::new();
            for row in candidates {
                let (id, status): (String, String) = (row.get(0)?, row.get(1)?);
                let run = RunId::parse(&id).map_err(StoreError::Sqlite)?;
                let epoch: i64 = tx
                    .db
                    .query_one(
                        "UPDATE runs SET lease_owner = ?2, lease_expires_at = ?3, lease_epoch = lease_epoch + 1
                         WHERE id = ?1 RETURNING lease_epoch",
                        args![&id, worker.0.as_str(), tx.now.saturating_add(*lease_ms)],
                    )?
                    .get(0)?;
                tx.emit(
                    Some(run),
                    EventKind::RunClaimed {
                        worker: worker.0.clone(),
                        epoch,
                    },
                )?;
                if status == RunStatus::Queued.as_str() {
                    tx.set_run_status(run, RunStatus::Running, None)?;
                }
                claimed.push(Claim { run, epoch });
            }
            Ok(Applied::Claimed(claimed))
        }

        Transition::RenewLeases {
            worker,
            runs,
            lease_ms,
        } => {
            if tx.db.dialect() == Dialect::Postgres {
                heartbeat(tx, worker, *lease_ms)?;
            }
            Ok(Applied::Renewed {
                lost: renew_leases(tx, worker, runs, *lease_ms)?,
            })
        }

        Transition::ReleaseRun { fence, status } => {
            tx.fence(fence)?;
            tx.db.execute(
                "UPDATE runs SET lease_owner = NULL, lease_expires_at = 0 WHERE id = ?1",
                args![fence.run.to_string()],
            )?;
            if let Some(status) = status {
                tx.set_run_status(fence.run, *status, None)?;
            }
            Ok(Applied::Done)
        }

        Transition::StartAttempt {
            fence,
            step,
            attempt,
        } => {
            let run_status = tx.fence(fence)?;
            tx.start_attempt(fence, run_status, step, attempt)?;
            Ok(Applied::Done)
        }

        Transition::FinishAttempt {
            fence,
            key,
            attempt,
            outcome,
            update,
            run_waiting,
        } => {
            tx.fence(fence)?;
            tx.finish_attempt(fence, key, attempt, outcome, update, run_waiting, None)?;
            Ok(Applied::Done)
        }

        // A step whose work finished before its marker was queued: both in one go.
        Transition::RecordAttempt {
            fence,
            step,
            attempt,
            outcome,
            update,
            run_waiting,
        } => {
            let run_status = tx.fence(fence)?;
            let inline = tx.start_attempt(fence, run_status, step, attempt)?;
            tx.finish_attempt(
                fence,
                &step.key,
                attempt,
                outcome,
                update,
                run_waiting,
                Some(inline),
            )?;
            Ok(Applied::Done)
        }

        Transition::OpenWait {
            fence,
            step,
            run_waiting,
        } => {
            open_wait(tx, fence, step, *run_waiting)?;
            Ok(Applied::Done)
        }

        Transition::CompleteStep { fence, key, result } => {
            tx.fence(fence)?;
            let status = tx.finish_step(fence.run, key, result)?;
            tx.emit(
                Some(fence.run),
                EventKind::StepFinished {
                    key: key.clone(),
                    status,
                    error: result.clone().err(),
                },
            )?;
            Ok(Applied::Done)
        }

        Transition::ConsumeEvent {
            fence,
            key,
            name,
            matcher,
        } => {
            tx.fence(fence)?;
            // Two runs waiting for the same name must not both take one event.
            let pending_sql = format!(
                "SELECT id, payload_json, payload_blob FROM external_events
                 WHERE name = ?1 AND consumed_run_id IS NULL AND (expires_at IS NULL OR expires_at > ?2)
                 ORDER BY id{}",
                tx.db.dialect().skip_locked()
            );
            let candidates = tx.db.query(&pending_sql, args![name.as_str(), tx.now])?;
            for row in candidates {
                let (id, pj, pb): (i64, Option<String>, Option<String>) =
                    (row.get(0)?, row.get(1)?, row.get(2)?);
                let payload = rows::get_payload(tx.db, pj, pb)?.unwrap_or(Value::Null);
                if !crate::matcher::json_contains(&payload, matcher) {
                    continue;
                }
                tx.db.execute(
                    "UPDATE external_events SET consumed_run_id = ?2, consumed_step_key = ?3, consumed_at = ?4 WHERE id = ?1",
                    args![id, fence.run.to_string(), key.as_str(), tx.now],
                )?;
                let output = json!({ "event_id": id, "payload": payload });
                let status = tx.finish_step(fence.run, key, &Ok(output))?;
                tx.emit(
                    Some(fence.run),
                    EventKind::EventConsumed {
                        id,
                        name: name.clone(),
                        key: key.clone(),
                    },
                )?;
                tx.emit(
                    Some(fence.run),
                    EventKind::StepFinished {
                        key: key.clone(),
                        status,
                        error: None,
                    },
                )?;
                return Ok(Applied::Consumed(Some((id, payload))));
            }
            Ok(Applied::Consumed(None))
        }

        // The child's own step in the parent is a wait like a timer's, until the child ends.
        Transition::StartChild {
            fence,
            step,
            child,
            run_waiting,
        } => {
            open_wait(tx, fence, step, *run_waiting)?;
            tx.insert_run(child)
        }

        Transition::SetRunStatus { fence, status } => {
            tx.fence(fence)?;
            tx.set_run_status(fence.run, *status, None)?;
            Ok(Applied::Done)
        }

        Transition::FinishRun { fence, run, end } => {
            if let Some(f) = fence {
                tx.fence(f)?;
            }
            tx.end_run(*run, end)?;
            Ok(Applied::Done)
        }

        Transition::RequestCancel { run, by } => {
            let tree = tx.descendants(*run)?;
            if tree.is_empty() {
                return Err(StoreError::RunNotFound(*run));
            }
            let (mut cancelled_now, mut requested) = (Vec::new(), Vec::new());
            // Children first, so that a parent ending now sees its children ended.
            for (id, status, owner, expires, already) in tree.into_iter().rev() {
                if RunStatus::parse(&status).is_some_and(|s| s.is_terminal()) {
                    continue;
                }
                let leased = owner.is_some() && expires > tx.now;
                if leased {
                    if !already {
                        tx.db.execute(
                            "UPDATE runs SET cancel_requested = 1 WHERE id = ?1",
                            args![id.to_string()],
                        )?;
                        tx.emit(Some(id), EventKind::RunCancelRequested { by: by.clone() })?;
                    }
                    requested.push(id);
                } else {
                    tx.db.execute(
                        "UPDATE runs SET cancel_requested = 1 WHERE id = ?1",
                        args![id.to_string()],
                    )?;
                    // Recorded here too, so the journal says who cancelled a run that ends now.
                    tx.emit(Some(id), EventKind::RunCancelRequested { by: by.clone() })?;
                    tx.end_run(id, &RunEnd::Cancelled)?;
                    cancelled_now.push(id);
                }
            }
            Ok(Applied::Cancel {
                cancelled_now,
                requested,
            })
        }

        Transition::Resolve {
            run,
            key,
            resolution,
            by,
        } => {
            let status = tx
                .step_status(*run, key)?
                .ok_or_else(|| StoreError::StepNotFound {
                    run: *run,
                    key: key.clone(),
                })?;
            if status != StepStatus::NeedsAttention {
                return Err(StoreError::Conflict(format!(
                    "step {key} of run {run} does not need attention (its status is {status})"
                )));
            }
            match resolution {
                Resolution::Retry => {
                    tx.db.execute(
                        "UPDATE steps SET status = 'pending', updated_at = ?3 WHERE run_id = ?1 AND key = ?2",
                        args![run.to_string(), key.as_str(), tx.now],
                    )?;
                }
                Resolution::Done { output } => {
                    tx.finish_step(*run, key, &Ok(output.clone()))?;
                }
                Resolution::Fail { message } => {
                    tx.finish_step(
                        *run,
                        key,
                        &Err(StepError::fatal("resolved_as_failed", message.clone())),
                    )?;
                }
            }
            tx.emit(
                Some(*run),
                EventKind::StepResolved {
                    key: key.clone(),
                    resolution: resolution.label().to_string(),
                    by: by.clone(),
                },
            )?;
            let remaining: i64 = tx
                .db
                .query_one(
                    "SELECT count(*) FROM steps WHERE run_id = ?1 AND status = 'needs_attention'",
                    args![run.to_string()],
                )?
                .get(0)?;
            let run_status: String = tx
                .db
                .query_one(
                    "SELECT status FROM runs WHERE id = ?1",
                    args![run.to_string()],
                )?
                .get(0)?;
            if remaining == 0 && run_status == RunStatus::NeedsAttention.as_str() {
                tx.db.execute(
                    "UPDATE runs SET lease_owner = NULL, lease_expires_at = 0 WHERE id = ?1",
                    args![run.to_string()],
                )?;
                tx.set_run_status(
                    *run,
                    RunStatus::Queued,
                    Some(format!("step {key} resolved")),
                )?;
            }
            Ok(Applied::Done)
        }

        Transition::SendEvent {
            name,
            payload,
            ttl_ms,
        } => {
            let (pj, pb) = tx.payload(payload)?;
            let id: i64 = tx
                .db
                .query_one(
                    "INSERT INTO external_events(name, payload_json, payload_blob, sent_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                    args![name.as_str(), pj, pb, tx.now, tx.now.saturating_add(*ttl_ms)],
                )?
                .get(0)?;
            tx.emit(
                None,
                EventKind::EventSent {
                    id,
                    name: name.clone(),
                },
            )?;
            Ok(Applied::EventSent(id))
        }

        Transition::Fork {
            run,
            at,
            output,
            new_id,
            by,
        } => fork(tx, *run, at, output.as_ref(), *new_id, by.as_deref()),

        Transition::Progress {
            fence,
            key,
            progress,
        } => {
            tx.fence(fence)?;
            tx.db.execute(
                "UPDATE steps SET progress_json = ?3, updated_at = ?4 WHERE run_id = ?1 AND key = ?2",
                args![fence.run.to_string(), key.as_str(), progress.to_string(), tx.now],
            )?;
            tx.emit(
                Some(fence.run),
                EventKind::StepProgress {
                    key: key.clone(),
                    progress: progress.clone(),
                },
            )?;
            Ok(Applied::Done)
        }

        Transition::RegisterWorker {
            worker,
            pid,
            lock_path,
        } => {
            tx.db.execute(
                "INSERT INTO workers(id, pid, lock_path, started_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, lock_path = excluded.lock_path,
                    started_at = excluded.started_at",
                args![worker.0.as_str(), pid, lock_path.as_str(), tx.now],
            )?;
            Ok(Applied::Done)
        }

        Transition::DeleteRuns {
            runs,
            force,
            skip_refused,
        } => delete_runs(tx, runs, *force, *skip_refused).map(Applied::Deleted),

        Transition::PinRun { run, pinned } => {
            pin_run(tx, *run, *pinned)?;
            Ok(Applied::Done)
        }

        Transition::UnregisterWorker { worker } => {
            tx.db.execute(
                "DELETE FROM workers WHERE id = ?1",
                args![worker.0.as_str()],
            )?;
            Ok(Applied::Done)
        }
    }
}

/// Extends the leases a worker still holds (owner and epoch unchanged, expired or not); the
/// runs it no longer holds are returned.
/// Where workers share no lock files (PostgreSQL, workers on several machines), a worker says
/// it is alive with every renewal (a third of its lease, idle or not), and clears the rows of
/// workers silent for long: their runs were taken over when their leases expired, so the row
/// is only the record of who runs where.
fn heartbeat(tx: &mut Tx<'_>, worker: &WorkerId, lease_ms: Millis) -> Result<(), StoreError> {
    const SILENT_FOR_MS: Millis = 5 * 60 * 1000;
    tx.db.execute(
        "UPDATE workers SET heartbeat_at = ?2 WHERE id = ?1",
        args![worker.0.as_str(), tx.now],
    )?;
    let silent_since = tx
        .now
        .saturating_sub(SILENT_FOR_MS.max(lease_ms.saturating_mul(10)));
    tx.db.execute(
        "DELETE FROM workers WHERE lock_path = '' AND id != ?1
            AND heartbeat_at < ?2 AND started_at < ?2",
        args![worker.0.as_str(), silent_since],
    )?;
    Ok(())
}

fn renew_leases(
    tx: &mut Tx<'_>,
    worker: &WorkerId,
    runs: &[(RunId, i64)],
    lease_ms: Millis,
) -> Result<Vec<RunId>, StoreError> {
    let mut lost = Vec::new();
    for (run, epoch) in runs {
        let n = tx.db.execute(
            "UPDATE runs SET lease_expires_at = ?4
             WHERE id = ?1 AND lease_owner = ?2 AND lease_epoch = ?3",
            args![
                run.to_string(),
                worker.0.as_str(),
                epoch,
                tx.now.saturating_add(lease_ms)
            ],
        )?;
        if n == 0 {
            lost.push(*run);
        }
    }
    Ok(lost)
}

/// A step that waits (a timer, an event, a child run) instead of running an attempt.
fn open_wait(
    tx: &mut Tx<'_>,
    fence: &Fence,
    step: &NewStep,
    run_waiting: bool,
) -> Result<(), StoreError> {
    tx.fence(fence)?;
    tx.insert_step(fence.run, step, StepStatus::Waiting, 0, None)?;
    tx.emit(
        Some(fence.run),
        EventKind::StepWaiting {
            key: step.key.clone(),
            kind: step.kind,
            wake_at: step.wake_at,
        },
    )?;
    if run_waiting {
        tx.set_run_status(fence.run, RunStatus::Waiting, None)?;
    }
    Ok(())
}
