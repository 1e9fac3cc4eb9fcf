//! The writer's transaction and the row-level steps that transitions are made of: events,
//! fences, runs, steps and attempts.

use serde_json::{json, Value};

use super::rows::put_payload;
use super::{args, Db};
use crate::clock::Millis;
use crate::error::{StepError, StoreError};
use crate::ids::{RunId, StepKey};
use crate::model::{AttemptOutcome, Event, EventKind, RunEnd, RunStatus, StepStatus};
use crate::store::{Applied, Fence, NewRun, NewStep, StepUpdate};

/// A run in a cancel tree: id, status, lease owner, lease expiry, cancel already requested.
type TreeRow = (RunId, String, Option<String>, i64, bool);

/// One transition's view of the writer's transaction: the connection, the batch's time, and
/// the events it emitted so far.
pub struct Tx<'a> {
    pub db: &'a mut dyn Db,
    pub now: Millis,
    pub blob_threshold: usize,
    pub events: Vec<Event>,
}

fn json_text<T: serde::Serialize + ?Sized>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Sqlite(e.to_string()))
}

impl Tx<'_> {
    pub(super) fn emit(&mut self, run: Option<RunId>, kind: EventKind) -> Result<(), StoreError> {
        let data = json_text(&kind)?;
        let seq = self.db.allocate_event_seq()?;
        // The same run's previous event in this transition: the next number, unread.
        let known_run_seq = match (run, self.events.last()) {
            (
                Some(run),
                Some(Event {
                    run_id: Some(last),
                    run_seq: Some(prev),
                    ..
                }),
            ) if *last == run => Some(prev + 1),
            _ => None,
        };
        let row = match (run, known_run_seq) {
            (None, _) => self.db.query_one(
                "INSERT INTO events(global_seq, run_id, run_seq, at, data) VALUES (?1, NULL, NULL, ?2, ?3)
                 RETURNING global_seq, run_seq",
                args![seq, self.now, data],
            )?,
            (Some(run), Some(run_seq)) => self.db.query_one(
                "INSERT INTO events(global_seq, run_id, run_seq, at, data) VALUES (?1, ?2, ?3, ?4, ?5)
                 RETURNING global_seq, run_seq",
                args![seq, run.to_string(), run_seq, self.now, data],
            )?,
            // The run's next number is read from its index in the same statement, not kept
            // on the run's row: a step then dirties no page of the runs table (one page fewer
            // per commit), and costs no statement of its own (one round trip fewer).
            (Some(run), None) => self.db.query_one(
                "INSERT INTO events(global_seq, run_id, run_seq, at, data)
                 SELECT CAST(?1 AS BIGINT), CAST(?2 AS TEXT), COALESCE(MAX(run_seq), 0) + 1,
                    CAST(?3 AS BIGINT), CAST(?4 AS TEXT)
                 FROM events WHERE run_id = ?2
                 RETURNING global_seq, run_seq",
                args![seq, run.to_string(), self.now, data],
            )?,
        };
        let global_seq: i64 = row.get(0)?;
        let run_seq: Option<i64> = row.get(1)?;
        self.events.push(Event {
            global_seq,
            run_id: run,
            run_seq,
            at: self.now,
            kind,
        });
        Ok(())
    }

    pub(super) fn payload(
        &mut self,
        v: &Value,
    ) -> Result<(Option<String>, Option<String>), StoreError> {
        put_payload(self.db, v, self.blob_threshold)
    }

    /// Checks that the fence's worker still holds the run, and keeps the run's row locked for
    /// the rest of the transaction where writers run concurrently; returns the run's status.
    pub(super) fn fence(&mut self, f: &Fence) -> Result<RunStatus, StoreError> {
        let sql = format!(
            "SELECT lease_owner, lease_epoch, status FROM runs WHERE id = ?1{}",
            self.db.dialect().lock_rows()
        );
        let run = f.run.to_string();
        let row = match self.db.prefetched_fence(&run) {
            Some(row) => row,
            None => self.db.query_opt(&sql, args![run])?,
        };
        let Some(row) = row else {
            return Err(StoreError::RunNotFound(f.run));
        };
        let (owner, epoch, status): (Option<String>, i64, String) =
            (row.get(0)?, row.get(1)?, row.get(2)?);
        if owner.as_deref() != Some(f.worker.0.as_str()) || epoch != f.epoch {
            return Err(StoreError::LeaseLost(f.run));
        }
        Ok(RunStatus::parse(&status).unwrap_or(RunStatus::Running))
    }

    pub(super) fn set_run_status(
        &mut self,
        run: RunId,
        status: RunStatus,
        reason: Option<String>,
    ) -> Result<(), StoreError> {
        let changed = self.db.execute(
            "UPDATE runs SET status = ?2, updated_at = ?3 WHERE id = ?1 AND status != ?2",
            args![run.to_string(), status.as_str(), self.now],
        )?;
        if changed > 0 {
            self.emit(Some(run), EventKind::RunStatusChanged { status, reason })?;
        }
        Ok(())
    }

    pub(super) fn insert_run(&mut self, r: &NewRun) -> Result<Applied, StoreError> {
        if let Some(key) = &r.idempotency_key {
            let existing = self.db.query_opt(
                "SELECT id FROM runs WHERE idempotency_key = ?1",
                args![key.as_str()],
            )?;
            if let Some(row) = existing {
                let id = RunId::parse(&row.get::<String>(0)?).map_err(StoreError::Sqlite)?;
                return Ok(Applied::Run { id, created: false });
            }
        }
        let (input_json, input_blob) = self.payload(&r.input)?;
        let (status, owner, expires, epoch) = match &r.lease_to {
            Some((w, lease_ms)) => (
                RunStatus::Running,
                Some(w.0.clone()),
                self.now.saturating_add(*lease_ms),
                1,
            ),
            None => (RunStatus::Queued, None, 0, 0),
        };
        // A child run goes only where its parent may go (a labelled worker's tools): without a
        // label of its own it takes its parent's.
        self.db.execute(
            "INSERT INTO runs(id, function, function_version, status, input_json, input_blob,
                parent_run_id, parent_step_key, idempotency_key, created_at, updated_at,
                deadline_at, lease_owner, lease_expires_at, lease_epoch, label, search_text,
                worker_label)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                 COALESCE(?17, (SELECT p.worker_label FROM runs p WHERE p.id = ?7)))",
            args![
                r.id.to_string(),
                r.function.as_str(),
                r.function_version,
                status.as_str(),
                input_json,
                input_blob,
                r.parent.as_ref().map(|p| p.0.to_string()),
                r.parent.as_ref().map(|p| p.1.as_str()),
                &r.idempotency_key,
                self.now,
                &r.deadline_at,
                owner,
                expires,
                epoch as i64,
                &r.label.label,
                r.label.text.as_str(),
                &r.worker_label
            ],
        )?;
        self.emit(
            Some(r.id),
            EventKind::RunCreated {
                function: r.function.clone(),
                parent_run_id: r.parent.as_ref().map(|p| p.0),
                forked_from: None,
                by: None,
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

    /// Inserts the step if it is new; returns whether it was. `inline_attempt`: the lease
    /// epoch of a first attempt kept on the new row (see [`Tx::start_attempt`]).
    pub(super) fn insert_step(
        &mut self,
        run: RunId,
        s: &NewStep,
        status: StepStatus,
        attempts: u32,
        inline_attempt: Option<i64>,
    ) -> Result<bool, StoreError> {
        let run_text = run.to_string();
        let exists = self
            .db
            .query_opt(
                "SELECT 1 FROM steps WHERE run_id = ?1 AND key = ?2",
                args![&run_text, s.key.as_str()],
            )?
            .is_some();
        if exists {
            self.db.execute(
                "UPDATE steps SET status = ?3, attempts = ?4, updated_at = ?5, wake_at = NULL,
                    progress_json = COALESCE(?6, progress_json)
                 WHERE run_id = ?1 AND key = ?2",
                args![
                    &run_text,
                    s.key.as_str(),
                    status.as_str(),
                    attempts,
                    self.now,
                    s.progress.as_ref().map(|p| p.to_string())
                ],
            )?;
            return Ok(false);
        }
        // The global position of the event about to be emitted for this step: increasing in
        // order of first appearance, and forks keep the old, smaller ordinals of what they copy.
        let ordinal = self.db.next_event_seq()?;
        let (input_json, input_blob) = self.payload(&s.input)?;
        self.db.execute(
            "INSERT INTO steps(run_id, key, ordinal, kind, safety, status, name, input_json, input_blob,
                attempts, created_at, updated_at, wake_at, deadline_at, meta_json, progress_json,
                inline_attempt)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12, ?13, ?14, ?15, ?16)",
            args![
                &run_text,
                s.key.as_str(),
                ordinal,
                s.kind.as_str(),
                s.safety.as_str(),
                status.as_str(),
                &s.name,
                input_json,
                input_blob,
                attempts,
                self.now,
                &s.wake_at,
                &s.deadline_at,
                s.meta.to_string(),
                s.progress.as_ref().map(|p| p.to_string()),
                inline_attempt
            ],
        )?;
        Ok(true)
    }

    pub(super) fn finish_step(
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
        let n = self.db.execute(
            "UPDATE steps SET status = ?3, output_json = ?4, output_blob = ?5, error_json = ?6,
                finished_at = ?7, updated_at = ?7, wake_at = NULL
             WHERE run_id = ?1 AND key = ?2",
            args![
                run.to_string(),
                key.as_str(),
                status.as_str(),
                oj,
                ob,
                err,
                self.now
            ],
        )?;
        if n == 0 {
            return Err(StoreError::StepNotFound {
                run,
                key: key.clone(),
            });
        }
        Ok(status)
    }

    pub(super) fn step_status(
        &mut self,
        run: RunId,
        key: &StepKey,
    ) -> Result<Option<StepStatus>, StoreError> {
        let row = self.db.query_opt(
            "SELECT status FROM steps WHERE run_id = ?1 AND key = ?2",
            args![run.to_string(), key.as_str()],
        )?;
        Ok(match row {
            Some(r) => StepStatus::parse(&r.get::<String>(0)?),
            None => None,
        })
    }

    /// Ends a run, closes whatever was in flight, and reports to the parent's child step.
    pub(super) fn end_run(&mut self, run: RunId, end: &RunEnd) -> Result<(), StoreError> {
        let sql = format!(
            "SELECT status, parent_run_id, parent_step_key FROM runs WHERE id = ?1{}",
            self.db.dialect().lock_rows()
        );
        let run_text = run.to_string();
        let Some(row) = self.db.query_opt(&sql, args![&run_text])? else {
            return Err(StoreError::RunNotFound(run));
        };
        let (status, parent, parent_key): (String, Option<String>, Option<String>) =
            (row.get(0)?, row.get(1)?, row.get(2)?);
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
        self.db.execute(
            "UPDATE runs SET status = ?2, output_json = ?3, output_blob = ?4, error_json = ?5,
                finished_at = ?6, updated_at = ?6, lease_owner = NULL, lease_expires_at = 0
             WHERE id = ?1",
            args![
                &run_text,
                status.as_str(),
                oj,
                ob,
                error.as_ref().map(|e| json!(e).to_string()),
                self.now
            ],
        )?;
        let cancelled = json_text(&AttemptOutcome::Cancelled)?;
        self.db.execute(
            "UPDATE attempts SET outcome_json = ?2, finished_at = ?3 WHERE run_id = ?1 AND finished_at IS NULL",
            args![&run_text, cancelled, self.now],
        )?;
        self.db.execute(
            "UPDATE steps SET status = 'cancelled', finished_at = ?2, updated_at = ?2, wake_at = NULL
             WHERE run_id = ?1 AND status IN ('running', 'retrying', 'waiting', 'pending')",
            args![&run_text, self.now],
        )?;
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

    /// Journals an attempt's start. A new step's first attempt is kept on the step's row
    /// (`inline_attempt`, its lease epoch) rather than as a row of `attempts`; returns whether
    /// it was. Readers show it as attempt 1 started when the step was created.
    pub(super) fn start_attempt(
        &mut self,
        fence: &Fence,
        run_status: RunStatus,
        step: &NewStep,
        attempt: &u32,
    ) -> Result<bool, StoreError> {
        let inline = (*attempt == 1).then_some(fence.epoch);
        let new = self.insert_step(fence.run, step, StepStatus::Running, *attempt, inline)?;
        let inlined = new && inline.is_some();
        if !inlined {
            if !new {
                self.materialize_inline_attempt(fence.run, &step.key, None)?;
            }
            let started = json_text(&AttemptOutcome::Started)?;
            self.db.execute(
                "INSERT INTO attempts(run_id, step_key, number, lease_epoch, outcome_json, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                args![
                    fence.run.to_string(),
                    step.key.as_str(),
                    attempt,
                    fence.epoch,
                    started,
                    self.now
                ],
            )?;
        }
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
        Ok(inlined)
    }

    /// Moves a step's inline first attempt to `attempts`, ended with `finished` (outcome and
    /// time) or still started; returns whether the step had one.
    fn materialize_inline_attempt(
        &mut self,
        run: RunId,
        key: &StepKey,
        finished: Option<(&AttemptOutcome, Millis)>,
    ) -> Result<bool, StoreError> {
        let outcome = json_text(finished.map_or(&AttemptOutcome::Started, |f| f.0))?;
        let run_text = run.to_string();
        let moved = self.db.execute(
            "INSERT INTO attempts(run_id, step_key, number, lease_epoch, outcome_json, started_at, finished_at)
             SELECT run_id, key, 1, inline_attempt, ?3, created_at, ?4
             FROM steps WHERE run_id = ?1 AND key = ?2 AND inline_attempt IS NOT NULL",
            args![&run_text, key.as_str(), outcome, finished.map(|f| f.1)],
        )?;
        if moved > 0 {
            self.db.execute(
                "UPDATE steps SET inline_attempt = NULL WHERE run_id = ?1 AND key = ?2",
                args![&run_text, key.as_str()],
            )?;
        }
        Ok(moved > 0)
    }

    /// Journals an attempt's end. `inline`: whether the attempt is known to be kept on the
    /// step's row (just started by the same transition); `None`: look. An inline attempt stays
    /// there only when it succeeded.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn finish_attempt(
        &mut self,
        fence: &Fence,
        key: &StepKey,
        attempt: &u32,
        outcome: &AttemptOutcome,
        update: &StepUpdate,
        run_waiting: &bool,
        inline: Option<bool>,
    ) -> Result<(), StoreError> {
        let inline = match inline {
            Some(known) => known,
            None if *attempt == 1 => self.has_inline_attempt(fence.run, key)?,
            None => false,
        };
        let stays_inline =
            matches!(outcome, AttemptOutcome::Ok) && matches!(update, StepUpdate::Succeeded(_));
        let n = if inline && stays_inline {
            1
        } else if inline {
            u64::from(self.materialize_inline_attempt(fence.run, key, Some((outcome, self.now)))?)
        } else {
            let outcome_json = json_text(outcome)?;
            self.db.execute(
                "UPDATE attempts SET outcome_json = ?4, finished_at = ?5
                 WHERE run_id = ?1 AND step_key = ?2 AND number = ?3",
                args![
                    fence.run.to_string(),
                    key.as_str(),
                    attempt,
                    outcome_json,
                    self.now
                ],
            )?
        };
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
                self.db.execute(
                    "UPDATE steps SET status = ?3, wake_at = ?4, updated_at = ?5,
                        error_json = COALESCE(?6, error_json)
                     WHERE run_id = ?1 AND key = ?2",
                    args![
                        fence.run.to_string(),
                        key.as_str(),
                        status.as_str(),
                        wake,
                        self.now,
                        error.as_ref().map(|e| json!(e).to_string())
                    ],
                )?;
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

    fn has_inline_attempt(&mut self, run: RunId, key: &StepKey) -> Result<bool, StoreError> {
        let row = self.db.query_opt(
            "SELECT inline_attempt FROM steps WHERE run_id = ?1 AND key = ?2",
            args![run.to_string(), key.as_str()],
        )?;
        Ok(match row {
            Some(r) => r.get::<Option<i64>>(0)?.is_some(),
            None => false,
        })
    }

    /// The run and its descendants: (id, status, lease owner, lease expiry, cancel requested).
    pub(super) fn descendants(&mut self, run: RunId) -> Result<Vec<TreeRow>, StoreError> {
        let rows = self.db.query(
            "WITH RECURSIVE tree(id) AS (SELECT CAST(?1 AS TEXT) UNION ALL SELECT r.id FROM runs r JOIN tree t ON r.parent_run_id = t.id)
             SELECT r.id, r.status, r.lease_owner, r.lease_expires_at, r.cancel_requested FROM runs r JOIN tree t ON r.id = t.id",
            args![run.to_string()],
        )?;
        rows.into_iter()
            .map(|r| {
                Ok((
                    RunId::parse(&r.get::<String>(0)?).map_err(StoreError::Sqlite)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ))
            })
            .collect()
    }
}
