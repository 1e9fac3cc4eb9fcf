//! Applying one transition inside the writer's transaction. Each runs in its own savepoint,
//! so a rejected transition (a stale lease, a bad request) leaves its batch-mates intact.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::rows::{self, put_payload, sql_err};
use crate::clock::Millis;
use crate::error::{StepError, StoreError};
use crate::ids::{RunId, StepKey};
use crate::model::{
    AttemptOutcome, Event, EventKind, Resolution, RunEnd, RunStatus, StepKind, StepStatus,
};
use crate::store::{Applied, Claim, Fence, NewRun, NewStep, StepUpdate, Transition};

/// A run in a cancel tree: id, status, lease owner, lease expiry, cancel already requested.
type TreeRow = (RunId, String, Option<String>, i64, bool);

pub(crate) struct Tx<'a> {
    pub conn: &'a Connection,
    pub now: Millis,
    pub blob_threshold: usize,
    pub events: Vec<Event>,
}

impl Tx<'_> {
    fn emit(&mut self, run: Option<RunId>, kind: EventKind) -> Result<(), StoreError> {
        let run_seq = match run {
            Some(run) => Some(
                self.conn
                    .prepare_cached(
                        "UPDATE runs SET last_seq = last_seq + 1, updated_at = ?2 WHERE id = ?1 RETURNING last_seq",
                    )
                    .and_then(|mut s| s.query_row(params![run.to_string(), self.now], |r| r.get::<_, i64>(0)))
                    .map_err(sql_err)?,
            ),
            None => None,
        };
        let data = serde_json::to_string(&kind).map_err(|e| StoreError::Sqlite(e.to_string()))?;
        self.conn
            .prepare_cached("INSERT INTO events(run_id, run_seq, at, data) VALUES (?1, ?2, ?3, ?4)")
            .and_then(|mut s| {
                s.execute(params![run.map(|r| r.to_string()), run_seq, self.now, data])
            })
            .map_err(sql_err)?;
        self.events.push(Event {
            global_seq: self.conn.last_insert_rowid(),
            run_id: run,
            run_seq,
            at: self.now,
            kind,
        });
        Ok(())
    }

    fn payload(&self, v: &Value) -> Result<(Option<String>, Option<String>), StoreError> {
        put_payload(self.conn, v, self.blob_threshold)
    }

    fn fence(&self, f: &Fence) -> Result<RunStatus, StoreError> {
        let row: Option<(Option<String>, i64, String)> = self
            .conn
            .prepare_cached("SELECT lease_owner, lease_epoch, status FROM runs WHERE id = ?1")
            .and_then(|mut s| {
                s.query_row([f.run.to_string()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
            })
            .map_err(sql_err)?;
        match row {
            None => Err(StoreError::RunNotFound(f.run)),
            Some((owner, epoch, status)) => {
                if owner.as_deref() != Some(f.worker.0.as_str()) || epoch != f.epoch {
                    return Err(StoreError::LeaseLost(f.run));
                }
                Ok(RunStatus::parse(&status).unwrap_or(RunStatus::Running))
            }
        }
    }

    fn set_run_status(
        &mut self,
        run: RunId,
        status: RunStatus,
        reason: Option<String>,
    ) -> Result<(), StoreError> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE runs SET status = ?2, updated_at = ?3 WHERE id = ?1 AND status != ?2",
            )
            .and_then(|mut s| s.execute(params![run.to_string(), status.as_str(), self.now]))
            .map_err(sql_err)?;
        if changed > 0 {
            self.emit(Some(run), EventKind::RunStatusChanged { status, reason })?;
        }
        Ok(())
    }

    fn insert_run(&mut self, r: &NewRun) -> Result<Applied, StoreError> {
        if let Some(key) = &r.idempotency_key {
            let existing: Option<String> = self
                .conn
                .prepare_cached("SELECT id FROM runs WHERE idempotency_key = ?1")
                .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
                .map_err(sql_err)?;
            if let Some(id) = existing {
                let id = RunId::parse(&id).map_err(StoreError::Sqlite)?;
                return Ok(Applied::Run { id, created: false });
            }
        }
        let (input_json, input_blob) = self.payload(&r.input)?;
        let (status, owner, expires, epoch) = match &r.lease_to {
            Some((w, lease_ms)) => (
                RunStatus::Running,
                Some(w.0.clone()),
                self.now + lease_ms,
                1,
            ),
            None => (RunStatus::Queued, None, 0, 0),
        };
        self.conn
            .prepare_cached(
                "INSERT INTO runs(id, function, function_version, status, input_json, input_blob,
                    parent_run_id, parent_step_key, idempotency_key, created_at, updated_at,
                    deadline_at, lease_owner, lease_expires_at, lease_epoch)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?14)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    r.id.to_string(),
                    r.function,
                    r.function_version,
                    status.as_str(),
                    input_json,
                    input_blob,
                    r.parent.as_ref().map(|p| p.0.to_string()),
                    r.parent.as_ref().map(|p| p.1.as_str().to_string()),
                    r.idempotency_key,
                    self.now,
                    r.deadline_at,
                    owner,
                    expires,
                    epoch
                ])
            })
            .map_err(sql_err)?;
        self.emit(
            Some(r.id),
            EventKind::RunCreated {
                function: r.function.clone(),
                parent_run_id: r.parent.as_ref().map(|p| p.0),
                forked_from: None,
            },
        )?;
        if let Some((w, _)) = &r.lease_to {
            self.emit(
                Some(r.id),
                EventKind::RunClaimed {
                    worker: w.0.clone(),
                    epoch: 1,
                },
            )?;
        }
        Ok(Applied::Run {
            id: r.id,
            created: true,
        })
    }

    /// Inserts the step if it is new; returns whether it was.
    fn insert_step(
        &mut self,
        run: RunId,
        s: &NewStep,
        status: StepStatus,
        attempts: u32,
    ) -> Result<bool, StoreError> {
        let exists: bool = self
            .conn
            .prepare_cached("SELECT 1 FROM steps WHERE run_id = ?1 AND key = ?2")
            .and_then(|mut st| {
                st.query_row(params![run.to_string(), s.key.as_str()], |_| Ok(()))
                    .optional()
            })
            .map_err(sql_err)?
            .is_some();
        if exists {
            self.conn
                .prepare_cached(
                    "UPDATE steps SET status = ?3, attempts = ?4, updated_at = ?5, wake_at = NULL
                     WHERE run_id = ?1 AND key = ?2",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        run.to_string(),
                        s.key.as_str(),
                        status.as_str(),
                        attempts,
                        self.now
                    ])
                })
                .map_err(sql_err)?;
            return Ok(false);
        }
        let ordinal: i64 = self
            .conn
            .prepare_cached(
                "UPDATE runs SET step_count = step_count + 1 WHERE id = ?1 RETURNING step_count",
            )
            .and_then(|mut st| st.query_row([run.to_string()], |r| r.get(0)))
            .map_err(sql_err)?;
        let (input_json, input_blob) = self.payload(&s.input)?;
        self.conn
            .prepare_cached(
                "INSERT INTO steps(run_id, key, ordinal, kind, safety, status, name, input_json, input_blob,
                    attempts, created_at, updated_at, wake_at, deadline_at, meta_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, ?13, ?14)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    run.to_string(),
                    s.key.as_str(),
                    ordinal,
                    s.kind.as_str(),
                    s.safety.as_str(),
                    status.as_str(),
                    s.name,
                    input_json,
                    input_blob,
                    attempts,
                    self.now,
                    s.wake_at,
                    s.deadline_at,
                    s.meta.to_string()
                ])
            })
            .map_err(sql_err)?;
        Ok(true)
    }

    fn finish_step(
        &mut self,
        run: RunId,
        key: &StepKey,
        result: &Result<Value, StepError>,
    ) -> Result<StepStatus, StoreError> {
        let (status, out, err) = match result {
            Ok(v) => (StepStatus::Succeeded, Some(self.payload(v)?), None),
            Err(e) => (StepStatus::Failed, None, Some(json!(e).to_string())),
        };
        let (oj, ob) = out.unwrap_or((None, None));
        let n = self
            .conn
            .prepare_cached(
                "UPDATE steps SET status = ?3, output_json = ?4, output_blob = ?5, error_json = ?6,
                    finished_at = ?7, updated_at = ?7, wake_at = NULL
                 WHERE run_id = ?1 AND key = ?2",
            )
            .and_then(|mut s| {
                s.execute(params![
                    run.to_string(),
                    key.as_str(),
                    status.as_str(),
                    oj,
                    ob,
                    err,
                    self.now
                ])
            })
            .map_err(sql_err)?;
        if n == 0 {
            return Err(StoreError::StepNotFound {
                run,
                key: key.clone(),
            });
        }
        Ok(status)
    }

    fn step_status(&self, run: RunId, key: &StepKey) -> Result<Option<StepStatus>, StoreError> {
        let s: Option<String> = self
            .conn
            .prepare_cached("SELECT status FROM steps WHERE run_id = ?1 AND key = ?2")
            .and_then(|mut st| {
                st.query_row(params![run.to_string(), key.as_str()], |r| r.get(0))
                    .optional()
            })
            .map_err(sql_err)?;
        Ok(s.and_then(|s| StepStatus::parse(&s)))
    }

    /// Ends a run, closes whatever was in flight, and reports to the parent's child step.
    fn end_run(&mut self, run: RunId, end: &RunEnd) -> Result<(), StoreError> {
        let row: Option<(String, Option<String>, Option<String>)> = self
            .conn
            .prepare_cached("SELECT status, parent_run_id, parent_step_key FROM runs WHERE id = ?1")
            .and_then(|mut s| {
                s.query_row([run.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .optional()
            })
            .map_err(sql_err)?;
        let Some((status, parent, parent_key)) = row else {
            return Err(StoreError::RunNotFound(run));
        };
        if RunStatus::parse(&status).is_some_and(|s| s.is_terminal()) {
            return Ok(());
        }
        let (status, output, error, reason) = match end {
            RunEnd::Succeeded(v) => (RunStatus::Succeeded, Some(self.payload(v)?), None, None),
            RunEnd::Failed(e) => (
                RunStatus::Failed,
                None,
                Some(e.clone()),
                Some(e.message.clone()),
            ),
            RunEnd::Cancelled => (RunStatus::Cancelled, None, None, None),
        };
        let (oj, ob) = output.unwrap_or((None, None));
        self.conn
            .prepare_cached(
                "UPDATE runs SET status = ?2, output_json = ?3, output_blob = ?4, error_json = ?5,
                    finished_at = ?6, updated_at = ?6, lease_owner = NULL, lease_expires_at = 0
                 WHERE id = ?1",
            )
            .and_then(|mut s| {
                s.execute(params![
                    run.to_string(),
                    status.as_str(),
                    oj,
                    ob,
                    error.as_ref().map(|e| json!(e).to_string()),
                    self.now
                ])
            })
            .map_err(sql_err)?;
        let cancelled = serde_json::to_string(&AttemptOutcome::Cancelled)
            .map_err(|e| StoreError::Sqlite(e.to_string()))?;
        self.conn
            .prepare_cached("UPDATE attempts SET outcome_json = ?2, finished_at = ?3 WHERE run_id = ?1 AND finished_at IS NULL")
            .and_then(|mut s| s.execute(params![run.to_string(), cancelled, self.now]))
            .map_err(sql_err)?;
        self.conn
            .prepare_cached(
                "UPDATE steps SET status = 'cancelled', finished_at = ?2, updated_at = ?2, wake_at = NULL
                 WHERE run_id = ?1 AND status IN ('running', 'retrying', 'waiting', 'pending')",
            )
            .and_then(|mut s| s.execute(params![run.to_string(), self.now]))
            .map_err(sql_err)?;
        self.emit(Some(run), EventKind::RunStatusChanged { status, reason })?;

        if let (Some(parent), Some(key)) = (parent, parent_key) {
            let parent = RunId::parse(&parent).map_err(StoreError::Sqlite)?;
            let key = StepKey::new(key);
            if self.step_status(parent, &key)? == Some(StepStatus::Waiting) {
                let result = match end {
                    RunEnd::Succeeded(v) => Ok(v.clone()),
                    RunEnd::Failed(e) => Err(StepError::fatal(
                        "child_failed",
                        format!("child run {run} failed: {}", e.message),
                    )),
                    RunEnd::Cancelled => Err(StepError::fatal(
                        "child_cancelled",
                        format!("child run {run} was cancelled"),
                    )),
                };
                let status = self.finish_step(parent, &key, &result)?;
                self.emit(
                    Some(parent),
                    EventKind::StepFinished {
                        key,
                        status,
                        error: result.err(),
                    },
                )?;
            }
        }
        Ok(())
    }

    fn start_attempt(
        &mut self,
        fence: &Fence,
        run_status: RunStatus,
        step: &NewStep,
        attempt: &u32,
    ) -> Result<(), StoreError> {
        self.insert_step(fence.run, step, StepStatus::Running, *attempt)?;
        let started = serde_json::to_string(&AttemptOutcome::Started)
            .map_err(|e| StoreError::Sqlite(e.to_string()))?;
        self.conn
            .prepare_cached(
                "INSERT INTO attempts(run_id, step_key, number, lease_epoch, outcome_json, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .and_then(|mut s| s.execute(params![fence.run.to_string(), step.key.as_str(), attempt, fence.epoch, started, self.now]))
            .map_err(sql_err)?;
        self.emit(
            Some(fence.run),
            EventKind::AttemptStarted {
                key: step.key.clone(),
                kind: step.kind,
                attempt: *attempt,
            },
        )?;
        if run_status != RunStatus::Running {
            self.set_run_status(fence.run, RunStatus::Running, None)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn finish_attempt(
        &mut self,
        fence: &Fence,
        key: &StepKey,
        attempt: &u32,
        outcome: &AttemptOutcome,
        update: &StepUpdate,
        run_waiting: &bool,
    ) -> Result<(), StoreError> {
        let outcome_json =
            serde_json::to_string(outcome).map_err(|e| StoreError::Sqlite(e.to_string()))?;
        let n = self
            .conn
            .prepare_cached(
                "UPDATE attempts SET outcome_json = ?4, finished_at = ?5
                 WHERE run_id = ?1 AND step_key = ?2 AND number = ?3",
            )
            .and_then(|mut s| {
                s.execute(params![
                    fence.run.to_string(),
                    key.as_str(),
                    attempt,
                    outcome_json,
                    self.now
                ])
            })
            .map_err(sql_err)?;
        if n == 0 {
            return Err(StoreError::StepNotFound {
                run: fence.run,
                key: key.clone(),
            });
        }
        let error = match outcome {
            AttemptOutcome::Error { error } => Some(error.clone()),
            AttemptOutcome::Timeout { after_ms } => Some(StepError::retryable(
                "timeout",
                format!("attempt timed out after {after_ms} ms"),
            )),
            _ => None,
        };
        let (step_status, retry_at) = match update {
            StepUpdate::Succeeded(v) => (self.finish_step(fence.run, key, &Ok(v.clone()))?, None),
            StepUpdate::Failed(e) => (self.finish_step(fence.run, key, &Err(e.clone()))?, None),
            other => {
                let (status, wake) = match other {
                    StepUpdate::Retrying { at } => (StepStatus::Retrying, Some(*at)),
                    StepUpdate::Cancelled => (StepStatus::Cancelled, None),
                    StepUpdate::NeedsAttention => (StepStatus::NeedsAttention, None),
                    _ => (StepStatus::Running, None),
                };
                self.conn
                    .prepare_cached(
                        "UPDATE steps SET status = ?3, wake_at = ?4, updated_at = ?5,
                            error_json = COALESCE(?6, error_json)
                         WHERE run_id = ?1 AND key = ?2",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            fence.run.to_string(),
                            key.as_str(),
                            status.as_str(),
                            wake,
                            self.now,
                            error.as_ref().map(|e| json!(e).to_string())
                        ])
                    })
                    .map_err(sql_err)?;
                (status, wake)
            }
        };
        self.emit(
            Some(fence.run),
            EventKind::AttemptFinished {
                key: key.clone(),
                attempt: *attempt,
                outcome: outcome.label().to_string(),
                step_status,
                error,
                retry_at,
            },
        )?;
        if step_status == StepStatus::NeedsAttention {
            self.emit(
                Some(fence.run),
                EventKind::StepNeedsAttention {
                    key: key.clone(),
                    attempt: *attempt,
                },
            )?;
        }
        if *run_waiting {
            self.set_run_status(fence.run, RunStatus::Waiting, None)?;
        }
        Ok(())
    }

    fn descendants(&self, run: RunId) -> Result<Vec<TreeRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "WITH RECURSIVE tree(id) AS (SELECT ?1 UNION ALL SELECT r.id FROM runs r JOIN tree t ON r.parent_run_id = t.id)
                 SELECT r.id, r.status, r.lease_owner, r.lease_expires_at, r.cancel_requested FROM runs r JOIN tree t ON r.id = t.id",
            )
            .map_err(sql_err)?;
        let rows = stmt
            .query_map([run.to_string()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ))
            })
            .map_err(sql_err)?;
        let mut out = Vec::new();
        for r in rows {
            let (id, status, owner, expires, requested) = r.map_err(sql_err)?;
            out.push((
                RunId::parse(&id).map_err(StoreError::Sqlite)?,
                status,
                owner,
                expires,
                requested,
            ));
        }
        Ok(out)
    }
}

pub(crate) fn apply(tx: &mut Tx<'_>, t: &Transition) -> Result<Applied, StoreError> {
    match t {
        Transition::CreateRun(r) => tx.insert_run(r),

        Transition::ClaimRuns {
            worker,
            lease_ms,
            limit,
            dead_workers,
        } => {
            for dead in dead_workers {
                tx.conn
                    .prepare_cached("UPDATE runs SET lease_expires_at = 0 WHERE lease_owner = ?1")
                    .and_then(|mut s| s.execute([dead]))
                    .map_err(sql_err)?;
                tx.conn
                    .prepare_cached("DELETE FROM workers WHERE id = ?1")
                    .and_then(|mut s| s.execute([dead]))
                    .map_err(sql_err)?;
            }
            let candidates: Vec<(String, String, bool)> = {
                let mut stmt = tx
                    .conn
                    .prepare_cached(
                        "SELECT id, status, cancel_requested FROM runs
                         WHERE status IN ('queued', 'running', 'waiting') AND lease_expires_at <= ?1
                         ORDER BY lease_expires_at, created_at LIMIT ?2",
                    )
                    .map_err(sql_err)?;
                let rows = stmt
                    .query_map(params![tx.now, *limit as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .map_err(sql_err)?;
                rows.collect::<Result<_, _>>().map_err(sql_err)?
            };
            let mut claimed = Vec::new();
            for (id, status, _) in candidates {
                let run = RunId::parse(&id).map_err(StoreError::Sqlite)?;
                let epoch: i64 = tx
                    .conn
                    .prepare_cached(
                        "UPDATE runs SET lease_owner = ?2, lease_expires_at = ?3, lease_epoch = lease_epoch + 1
                         WHERE id = ?1 RETURNING lease_epoch",
                    )
                    .and_then(|mut s| s.query_row(params![id, worker.0, tx.now + lease_ms], |r| r.get(0)))
                    .map_err(sql_err)?;
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
            let mut lost = Vec::new();
            for (run, epoch) in runs {
                let n = tx
                    .conn
                    .prepare_cached(
                        "UPDATE runs SET lease_expires_at = ?4
                         WHERE id = ?1 AND lease_owner = ?2 AND lease_epoch = ?3",
                    )
                    .and_then(|mut s| {
                        s.execute(params![run.to_string(), worker.0, epoch, tx.now + lease_ms])
                    })
                    .map_err(sql_err)?;
                if n == 0 {
                    lost.push(*run);
                }
            }
            Ok(Applied::Renewed { lost })
        }

        Transition::ReleaseRun { fence, status } => {
            tx.fence(fence)?;
            tx.conn
                .prepare_cached(
                    "UPDATE runs SET lease_owner = NULL, lease_expires_at = 0 WHERE id = ?1",
                )
                .and_then(|mut s| s.execute([fence.run.to_string()]))
                .map_err(sql_err)?;
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
            tx.finish_attempt(fence, key, attempt, outcome, update, run_waiting)?;
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
            tx.start_attempt(fence, run_status, step, attempt)?;
            tx.finish_attempt(fence, &step.key, attempt, outcome, update, run_waiting)?;
            Ok(Applied::Done)
        }

        Transition::OpenWait {
            fence,
            step,
            run_waiting,
        } => {
            tx.fence(fence)?;
            tx.insert_step(fence.run, step, StepStatus::Waiting, 0)?;
            tx.emit(
                Some(fence.run),
                EventKind::StepWaiting {
                    key: step.key.clone(),
                    kind: step.kind,
                    wake_at: step.wake_at,
                },
            )?;
            if *run_waiting {
                tx.set_run_status(fence.run, RunStatus::Waiting, None)?;
            }
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
            let candidates: Vec<(i64, Option<String>, Option<String>)> = {
                let mut stmt = tx
                    .conn
                    .prepare_cached(
                        "SELECT id, payload_json, payload_blob FROM external_events
                         WHERE name = ?1 AND consumed_run_id IS NULL AND (expires_at IS NULL OR expires_at > ?2)
                         ORDER BY id",
                    )
                    .map_err(sql_err)?;
                let rows = stmt
                    .query_map(params![name, tx.now], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .map_err(sql_err)?;
                rows.collect::<Result<_, _>>().map_err(sql_err)?
            };
            for (id, pj, pb) in candidates {
                let payload = rows::get_payload(tx.conn, pj, pb)?.unwrap_or(Value::Null);
                if !crate::matcher::json_contains(&payload, matcher) {
                    continue;
                }
                tx.conn
                    .prepare_cached(
                        "UPDATE external_events SET consumed_run_id = ?2, consumed_step_key = ?3, consumed_at = ?4 WHERE id = ?1",
                    )
                    .and_then(|mut s| s.execute(params![id, fence.run.to_string(), key.as_str(), tx.now]))
                    .map_err(sql_err)?;
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

        Transition::StartChild {
            fence,
            step,
            child,
            run_waiting,
        } => {
            tx.fence(fence)?;
            tx.insert_step(fence.run, step, StepStatus::Waiting, 0)?;
            tx.emit(
                Some(fence.run),
                EventKind::StepWaiting {
                    key: step.key.clone(),
                    kind: StepKind::Child,
                    wake_at: None,
                },
            )?;
            let applied = tx.insert_run(child)?;
            if *run_waiting {
                tx.set_run_status(fence.run, RunStatus::Waiting, None)?;
            }
            Ok(applied)
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

        Transition::RequestCancel { run } => {
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
                        tx.conn
                            .prepare_cached("UPDATE runs SET cancel_requested = 1 WHERE id = ?1")
                            .and_then(|mut s| s.execute([id.to_string()]))
                            .map_err(sql_err)?;
                        tx.emit(Some(id), EventKind::RunCancelRequested)?;
                    }
                    requested.push(id);
                } else {
                    tx.conn
                        .prepare_cached("UPDATE runs SET cancel_requested = 1 WHERE id = ?1")
                        .and_then(|mut s| s.execute([id.to_string()]))
                        .map_err(sql_err)?;
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
                    tx.conn
                        .prepare_cached("UPDATE steps SET status = 'pending', updated_at = ?3 WHERE run_id = ?1 AND key = ?2")
                        .and_then(|mut s| s.execute(params![run.to_string(), key.as_str(), tx.now]))
                        .map_err(sql_err)?;
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
                },
            )?;
            let remaining: i64 = tx
                .conn
                .prepare_cached(
                    "SELECT count(*) FROM steps WHERE run_id = ?1 AND status = 'needs_attention'",
                )
                .and_then(|mut s| s.query_row([run.to_string()], |r| r.get(0)))
                .map_err(sql_err)?;
            let run_status: String = tx
                .conn
                .prepare_cached("SELECT status FROM runs WHERE id = ?1")
                .and_then(|mut s| s.query_row([run.to_string()], |r| r.get(0)))
                .map_err(sql_err)?;
            if remaining == 0 && run_status == RunStatus::NeedsAttention.as_str() {
                tx.conn
                    .prepare_cached(
                        "UPDATE runs SET lease_owner = NULL, lease_expires_at = 0 WHERE id = ?1",
                    )
                    .and_then(|mut s| s.execute([run.to_string()]))
                    .map_err(sql_err)?;
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
            tx.conn
                .prepare_cached(
                    "INSERT INTO external_events(name, payload_json, payload_blob, sent_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut s| s.execute(params![name, pj, pb, tx.now, tx.now + ttl_ms]))
                .map_err(sql_err)?;
            let id = tx.conn.last_insert_rowid();
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
        } => fork(tx, *run, at, output.as_ref(), *new_id),

        Transition::Progress {
            fence,
            key,
            progress,
        } => {
            tx.fence(fence)?;
            tx.conn
                .prepare_cached("UPDATE steps SET progress_json = ?3, updated_at = ?4 WHERE run_id = ?1 AND key = ?2")
                .and_then(|mut s| s.execute(params![fence.run.to_string(), key.as_str(), progress.to_string(), tx.now]))
                .map_err(sql_err)?;
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
            tx.conn
                .prepare_cached("INSERT OR REPLACE INTO workers(id, pid, lock_path, started_at) VALUES (?1, ?2, ?3, ?4)")
                .and_then(|mut s| s.execute(params![worker.0, pid, lock_path, tx.now]))
                .map_err(sql_err)?;
            Ok(Applied::Done)
        }

        Transition::UnregisterWorker { worker } => {
            tx.conn
                .prepare_cached("DELETE FROM workers WHERE id = ?1")
                .and_then(|mut s| s.execute([&worker.0]))
                .map_err(sql_err)?;
            Ok(Applied::Done)
        }
    }
}

/// A new run whose journal is the old one's up to `at`, with `at` itself edited when asked.
fn fork(
    tx: &mut Tx<'_>,
    source: RunId,
    at: &StepKey,
    output: Option<&Value>,
    new_id: RunId,
) -> Result<Applied, StoreError> {
    let old = rows::load_run(tx.conn, source)?.ok_or(StoreError::RunNotFound(source))?;
    let step = rows::load_step(tx.conn, source, at)?.ok_or_else(|| StoreError::StepNotFound {
        run: source,
        key: at.clone(),
    })?;
    let (ij, ib) = tx.payload(&old.input)?;
    tx.conn
        .prepare_cached(
            "INSERT INTO runs(id, function, function_version, status, input_json, input_blob, forked_from, forked_at_step,
                created_at, updated_at, deadline_at)
             VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?7, ?8, ?8, NULL)",
        )
        .and_then(|mut s| {
            s.execute(params![new_id.to_string(), old.function, old.function_version, ij, ib, source.to_string(), at.as_str(), tx.now])
        })
        .map_err(sql_err)?;
    let keep_through = if output.is_some() {
        step.ordinal
    } else {
        step.ordinal - 1
    };
    let (src, dst) = (source.to_string(), new_id.to_string());
    tx.conn
        .prepare_cached(
            "INSERT INTO steps(run_id, key, ordinal, kind, safety, status, name, input_json, input_blob, output_json,
                output_blob, error_json, attempts, created_at, updated_at, finished_at, wake_at, deadline_at, progress_json, meta_json)
             SELECT ?2, key, ordinal, kind, safety, status, name, input_json, input_blob, output_json, output_blob, error_json,
                attempts, created_at, updated_at, finished_at, wake_at, deadline_at, progress_json, meta_json
             FROM steps WHERE run_id = ?1 AND ordinal <= ?3 AND (status IN ('succeeded', 'failed') OR key = ?4)",
        )
        .and_then(|mut s| s.execute(params![src, dst, keep_through, at.as_str()]))
        .map_err(sql_err)?;
    tx.conn
        .prepare_cached(
            "INSERT INTO attempts(run_id, step_key, number, lease_epoch, outcome_json, started_at, finished_at)
             SELECT ?2, a.step_key, a.number, 0, a.outcome_json, a.started_at, a.finished_at
             FROM attempts a JOIN steps s ON s.run_id = ?2 AND s.key = a.step_key
             WHERE a.run_id = ?1 AND a.finished_at IS NOT NULL",
        )
        .and_then(|mut s| s.execute(params![src, dst]))
        .map_err(sql_err)?;
    if let Some(v) = output {
        let (oj, ob) = tx.payload(v)?;
        tx.conn
            .prepare_cached(
                "UPDATE steps SET status = 'succeeded', output_json = ?3, output_blob = ?4, error_json = NULL,
                    finished_at = COALESCE(finished_at, ?5), meta_json = CASE WHEN json_type(meta_json) = 'object' THEN json_set(meta_json, '$.edited', json('true')) ELSE json_object('edited', json('true')) END
                 WHERE run_id = ?1 AND key = ?2",
            )
            .and_then(|mut s| s.execute(params![dst, at.as_str(), oj, ob, tx.now]))
            .map_err(sql_err)?;
    }
    tx.conn
        .prepare_cached("UPDATE runs SET step_count = (SELECT COALESCE(MAX(ordinal), 0) FROM steps WHERE run_id = ?1) WHERE id = ?1")
        .and_then(|mut s| s.execute([&dst]))
        .map_err(sql_err)?;
    tx.emit(
        Some(new_id),
        EventKind::RunCreated {
            function: old.function.clone(),
            parent_run_id: None,
            forked_from: Some(source),
        },
    )?;
    Ok(Applied::Run {
        id: new_id,
        created: true,
    })
}
