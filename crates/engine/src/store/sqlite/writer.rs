//! The one writer: drains queued transitions into one transaction (group commit), then
//! publishes their events. While idle it polls `PRAGMA data_version`, so commits by other
//! processes on the same file reach this process's subscribers within a poll interval.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{broadcast, oneshot};

use super::apply::apply;
use super::rows;
use super::tx::Tx;
use crate::clock::SharedClock;
use crate::error::StoreError;
use crate::model::Event;
use crate::store::{Applied, Durability, Transition};

/// How long an idle writer looks for the next job before it sleeps.
const SPIN: Duration = Duration::from_micros(50);

/// How long a batch that creates a locally leased run waits for that run's first write.
const LINGER: Duration = Duration::from_micros(100);

fn batch_awaits_follow_up(batch: &[Job]) -> bool {
    batch.len() == 1
        && matches!(
            &batch[0].transition,
            Transition::CreateRun(crate::store::NewRun {
                lease_to: Some(_),
                idempotency_key: None,
                ..
            })
        )
}

/// Work that needs the writer's connection to itself, outside any transaction (VACUUM,
/// blob collection): run between batches, so no transition is half applied meanwhile.
pub(crate) type Exclusive = Box<dyn FnOnce(&mut Connection) + Send>;

// Not boxed: every transition is an `Apply`; an allocation each would pay for the rare one.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Queued {
    Apply(Job),
    Exclusive(Exclusive),
}

pub(crate) struct Job {
    pub transition: Transition,
    pub durability: Durability,
    pub reply: oneshot::Sender<Result<Applied, StoreError>>,
}

pub(crate) struct Writer {
    pub conn: Connection,
    pub jobs: Receiver<Queued>,
    pub live: broadcast::Sender<Arc<Event>>,
    pub clock: SharedClock,
    pub full_sync: bool,
    pub busy_timeout_ms: u64,
    pub poll: Duration,
    pub max_batch: usize,
    pub blob_threshold: usize,
    pub path: String,
}

impl Writer {
    pub fn run(mut self) {
        let mut published = self
            .conn
            .query_row("SELECT COALESCE(MAX(global_seq), 0) FROM events", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap_or(0);
        let mut data_version = self.data_version();
        let mut synchronous_full = true;
        loop {
            let first = match self.next_job() {
                Ok(Queued::Apply(job)) => job,
                Ok(Queued::Exclusive(work)) => {
                    self.exclusive(work);
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => {
                    let v = self.data_version();
                    if v != data_version {
                        data_version = v;
                        self.publish_from_db(&mut published, i64::MAX);
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut batch = vec![first];
            // A run created for a worker in this process starts executing at once: give its
            // first transition a moment to arrive, so that both share one fsync.
            let linger_until =
                batch_awaits_follow_up(&batch).then(|| std::time::Instant::now() + LINGER);
            let mut exclusive = None;
            while batch.len() < self.max_batch {
                match self.jobs.try_recv() {
                    Ok(Queued::Apply(job)) => batch.push(job),
                    // Queued after the batch's jobs: it runs once they are committed.
                    Ok(Queued::Exclusive(work)) => {
                        exclusive = Some(work);
                        break;
                    }
                    Err(_) if linger_until.is_some_and(|t| std::time::Instant::now() < t) => {
                        std::thread::yield_now();
                    }
                    Err(_) => break,
                }
            }
            let want_full =
                self.full_sync && batch.iter().any(|j| j.durability == Durability::Durable);
            if want_full != synchronous_full {
                // Allowed between transactions; in WAL mode a NORMAL commit still survives a process crash.
                let mode = if want_full { "FULL" } else { "NORMAL" };
                match self.conn.pragma_update(None, "synchronous", mode) {
                    Ok(()) => synchronous_full = want_full,
                    // A durable commit that could not be made durable is refused, not
                    // silently made at NORMAL.
                    Err(e) if want_full => {
                        let msg = format!("cannot make the commit durable (synchronous=FULL): {e}");
                        tracing::error!(error = %msg, "journal commit refused");
                        // Classified by the code: a lock stays a lock (transient) for callers.
                        let error = match self.sql_error(e) {
                            typed @ (StoreError::Locked { .. } | StoreError::Full(_)) => typed,
                            _ => StoreError::Sqlite(msg),
                        };
                        for job in batch {
                            let _ = job.reply.send(Err(error.clone()));
                        }
                        if let Some(work) = exclusive {
                            self.exclusive(work);
                        }
                        continue;
                    }
                    Err(_) => {}
                }
            }
            // data_version is deliberately not re-read here: a foreign commit that landed during
            // this batch must still be noticed by the next idle poll (publishing is idempotent).
            self.commit_batch(batch, &mut published);
            if let Some(work) = exclusive {
                self.exclusive(work);
            }
        }
        tracing::debug!(path = %self.path, "store writer stopped");
    }

    /// The next queued job. A run's next transition usually follows the reply to its last one
    /// within microseconds: look for it briefly before sleeping, which saves a thread wake-up
    /// on each side of every sequential step.
    fn next_job(&self) -> Result<Queued, RecvTimeoutError> {
        let spin_until = std::time::Instant::now() + SPIN;
        loop {
            match self.jobs.try_recv() {
                Ok(job) => return Ok(job),
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    return Err(RecvTimeoutError::Disconnected)
                }
                Err(std::sync::mpsc::TryRecvError::Empty)
                    if std::time::Instant::now() < spin_until =>
                {
                    std::thread::yield_now();
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {
                    return self.jobs.recv_timeout(self.poll)
                }
            }
        }
    }

    /// Upkeep work; a panic in it is logged and the writer goes on.
    fn exclusive(&mut self, work: Exclusive) {
        let conn = &mut self.conn;
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| work(conn))) {
            tracing::error!(error = %crate::error::panic_text(&panic), "database upkeep panicked");
            if !self.conn.is_autocommit() {
                let _ = self.exec("ROLLBACK");
            }
        }
    }

    fn data_version(&self) -> i64 {
        self.conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .unwrap_or(0)
    }

    fn commit_batch(&mut self, mut batch: Vec<Job>, published: &mut i64) {
        loop {
            match self.try_batch(&batch) {
                Ok((results, events)) => {
                    if let Some(first) = events.first() {
                        if first.global_seq != *published + 1 {
                            // Another process committed in between: publish its events first, in order.
                            self.publish_from_db(published, first.global_seq);
                        }
                    }
                    for e in events {
                        *published = (*published).max(e.global_seq);
                        let _ = self.live.send(Arc::new(e));
                    }
                    for (job, result) in batch.into_iter().zip(results) {
                        let _ = job.reply.send(result);
                    }
                    return;
                }
                Err(BatchFailure::Whole(error)) => {
                    tracing::error!(%error, "journal commit failed; the batch was rolled back");
                    for job in batch {
                        let _ = job.reply.send(Err(error.clone()));
                    }
                    return;
                }
                Err(BatchFailure::RolledBack { index, error }) => {
                    // SQLite rolled the whole transaction back (a full disk does): the culprit
                    // gets its error, its batch-mates are applied again without it.
                    let job = batch.remove(index);
                    let _ = job.reply.send(Err(error));
                    if batch.is_empty() {
                        return;
                    }
                }
            }
        }
    }

    /// A SQLite failure typed by its result code, a damaged file named by its path.
    fn sql_error(&self, e: rusqlite::Error) -> StoreError {
        match StoreError::from_sqlite(e, self.busy_timeout_ms) {
            StoreError::Corrupt { detail, .. } => StoreError::Corrupt {
                path: self.path.clone(),
                detail,
            },
            other => other,
        }
    }

    /// Runs a prepared (cached) statement: the transaction verbs are parsed once, not per batch.
    fn exec(&self, sql: &str) -> Result<(), rusqlite::Error> {
        self.conn.prepare_cached(sql)?.execute([]).map(|_| ())
    }

    fn try_batch(&mut self, batch: &[Job]) -> Result<BatchResults, BatchFailure> {
        self.exec("BEGIN IMMEDIATE")
            .map_err(|e| BatchFailure::Whole(self.sql_error(e)))?;
        let now = self.clock.now_ms();
        let mut results = Vec::with_capacity(batch.len());
        let mut events: Vec<Event> = Vec::new();
        for (index, job) in batch.iter().enumerate() {
            if let Err(e) = self.exec("SAVEPOINT transition") {
                results.push(Err(self.sql_error(e)));
                continue;
            }
            let mut t = Tx {
                conn: &self.conn,
                now,
                blob_threshold: self.blob_threshold,
                events: Vec::new(),
            };
            // A bug in one transition fails that transition; the writer lives on for the rest.
            let r = catch_unwind(AssertUnwindSafe(|| apply(&mut t, &job.transition)))
                .unwrap_or_else(|panic| {
                    let text = crate::error::panic_text(&panic);
                    tracing::error!(error = %text, kind = job.transition.kind(), "a journal transition panicked");
                    Err(StoreError::Sqlite(format!(
                        "the {} transition failed unexpectedly: {text}",
                        job.transition.kind()
                    )))
                });
            let emitted = std::mem::take(&mut t.events);
            let outcome = match r {
                Ok(applied) => match self.exec("RELEASE transition") {
                    Ok(()) => {
                        events.extend(emitted);
                        Ok(applied)
                    }
                    Err(e) => Err(self.sql_error(e)),
                },
                Err(e) => {
                    if self.conn.is_autocommit() {
                        return Err(BatchFailure::RolledBack { index, error: e });
                    }
                    let _ = self.exec("ROLLBACK TO transition");
                    let _ = self.exec("RELEASE transition");
                    Err(e)
                }
            };
            results.push(outcome);
        }
        let kinds = crate::crashpoint::installed().then(|| {
            let mut k: Vec<&str> = batch.iter().map(|j| j.transition.kind()).collect();
            k.dedup();
            k
        });
        for k in kinds.iter().flatten() {
            crate::crashpoint::reach(&format!("before_commit:{k}"));
        }
        if let Err(e) = self.exec("COMMIT") {
            if !self.conn.is_autocommit() {
                let _ = self.exec("ROLLBACK");
            }
            return Err(BatchFailure::Whole(self.sql_error(e)));
        }
        for k in kinds.iter().flatten() {
            crate::crashpoint::reach(&format!("after_commit:{k}"));
        }
        Ok((results, events))
    }

    /// Publishes committed events after `published` and before `before` read from the file.
    fn publish_from_db(&mut self, published: &mut i64, before: i64) {
        loop {
            let batch = match rows::events_after(&self.conn, None, *published, 1000) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "could not read events committed by another process");
                    return;
                }
            };
            let n = batch.len();
            for e in batch {
                if e.global_seq >= before {
                    return;
                }
                *published = e.global_seq;
                let _ = self.live.send(Arc::new(e));
            }
            if n < 1000 {
                return;
            }
        }
    }
}

/// Each transition's result, and the events of those that were applied.
type BatchResults = (Vec<Result<Applied, StoreError>>, Vec<Event>);

enum BatchFailure {
    /// BEGIN or COMMIT failed: nothing in the batch was saved. Every transition in it gets
    /// this error, typed from SQLite's result code.
    Whole(StoreError),
    /// The transition at `index` failed and SQLite rolled back the transaction with it.
    RolledBack { index: usize, error: StoreError },
}
