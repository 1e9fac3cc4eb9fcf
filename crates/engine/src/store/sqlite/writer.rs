//! The one writer: drains queued transitions into one transaction (group commit), then
//! publishes their events. A transition queued while the writer is idle is committed by the
//! thread that queued it (no thread hop each way); otherwise the writer thread takes it with the
//! next batch. While idle the thread polls `PRAGMA data_version`, so commits by other processes
//! on the same file reach this process's subscribers within a poll interval.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use tokio::sync::{broadcast, oneshot};

use super::db::SqliteDb;
use crate::clock::SharedClock;
use crate::error::StoreError;
use crate::model::Event;
use crate::store::journal::{self, apply, Tx};
use crate::store::{Applied, Durability, Transition};

/// How long a batch that creates a locally leased run waits for that run's first write.
const LINGER: Duration = Duration::from_micros(100);

fn awaits_follow_up(transition: &Transition) -> bool {
    matches!(
        transition,
        Transition::CreateRun(crate::store::NewRun {
            lease_to: Some(_),
            idempotency_key: None,
            ..
        })
    )
}

fn batch_awaits_follow_up(batch: &[Job]) -> bool {
    batch.len() == 1 && awaits_follow_up(&batch[0].transition)
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Queue {
    jobs: VecDeque<Queued>,
    closed: bool,
}

/// What the store and the writer thread share: the queue, and the writer's connection with
/// its state (whoever holds `core` commits).
pub(crate) struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    core: Mutex<Writer>,
    poll: Duration,
}

impl Shared {
    pub fn new(writer: Writer, poll: Duration) -> Arc<Shared> {
        Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                closed: false,
            }),
            wake: Condvar::new(),
            core: Mutex::new(writer),
            poll,
        })
    }

    /// Queues a transition; false once the store is closed. When nothing else is queued and
    /// no batch is being committed, it is committed here and now: its reply is ready when
    /// this returns. A run's creation is left to the writer thread, which waits a moment for
    /// the run's first step so that both share one commit.
    pub fn submit(&self, job: Job) -> bool {
        let here = !awaits_follow_up(&job.transition);
        {
            let mut q = lock(&self.queue);
            if q.closed {
                return false;
            }
            let idle = q.jobs.is_empty();
            q.jobs.push_back(Queued::Apply(job));
            if !(here && idle) {
                drop(q);
                self.wake.notify_one();
                return true;
            }
        }
        match self.core.try_lock() {
            Ok(mut core) => core.drain(self, true),
            Err(TryLockError::Poisoned(p)) => p.into_inner().drain(self, true),
            Err(TryLockError::WouldBlock) => {}
        }
        // Whatever is left (queued meanwhile, or the batch in progress kept this one out)
        // is the thread's.
        if !lock(&self.queue).jobs.is_empty() {
            self.wake.notify_one();
        }
        true
    }

    /// Queues upkeep work for the writer thread; false once the store is closed.
    pub fn exclusive(&self, work: Exclusive) -> bool {
        let mut q = lock(&self.queue);
        if q.closed {
            return false;
        }
        q.jobs.push_back(Queued::Exclusive(work));
        drop(q);
        self.wake.notify_one();
        true
    }

    /// No more jobs; the thread commits what is queued, then stops.
    pub fn close(&self) {
        lock(&self.queue).closed = true;
        self.wake.notify_all();
    }

    /// The writer thread: commits what the submitting threads left, runs upkeep, and polls
    /// for other processes' commits while idle.
    pub fn run(self: Arc<Self>) {
        loop {
            {
                let mut q = lock(&self.queue);
                while q.jobs.is_empty() {
                    if q.closed {
                        // The file is closed as it was when the thread owned the connection
                        // (the last connection to close checkpoints and removes the WAL).
                        let mut core = lock(&self.core);
                        match Connection::open_in_memory() {
                            Ok(placeholder) => drop(std::mem::replace(&mut core.conn, placeholder)),
                            Err(e) => tracing::warn!(error = %e, "could not close the journal"),
                        }
                        tracing::debug!(path = %core.path, "store writer stopped");
                        return;
                    }
                    let (next, waited) = self
                        .wake
                        .wait_timeout(q, self.poll)
                        .unwrap_or_else(|e| e.into_inner());
                    q = next;
                    if waited.timed_out() && q.jobs.is_empty() {
                        drop(q);
                        self.poll_other_processes();
                        q = lock(&self.queue);
                    }
                }
            }
            lock(&self.core).drain(&self, false);
        }
    }

    /// While idle: events committed by other processes reach this process's subscribers.
    fn poll_other_processes(&self) {
        // A batch in progress publishes them itself.
        let Ok(mut core) = self.core.try_lock() else {
            return;
        };
        let v = core.read_data_version();
        if v != core.data_version {
            core.data_version = v;
            core.publish_from_db(i64::MAX);
        }
    }
}

pub(crate) struct Writer {
    conn: Connection,
    live: broadcast::Sender<Arc<Event>>,
    clock: SharedClock,
    full_sync: bool,
    busy_timeout_ms: u64,
    max_batch: usize,
    blob_threshold: usize,
    path: String,
    /// The last event sent to subscribers.
    published: i64,
    /// `PRAGMA data_version` when last looked at (changes with other processes' commits).
    data_version: i64,
    /// The connection's current `synchronous` setting.
    synchronous_full: bool,
}

impl Writer {
    /// Takes queued jobs and commits them, batch after batch, until the queue is empty or, for
    /// a submitting thread (`leader`), after one batch: it has its own reply to return.
    /// Upkeep work is the thread's: a leader stops in front of it.
    fn drain(&mut self, shared: &Shared, leader: bool) {
        loop {
            let mut batch: Vec<Job> = Vec::new();
            let mut exclusive = None;
            {
                let mut q = lock(&shared.queue);
                take_jobs(&mut q, &mut batch, &mut exclusive, self.max_batch, leader);
            }
            if batch.is_empty() && exclusive.is_none() {
                return;
            }
            // A run created for a worker in this process starts executing at once: give its
            // first transition a moment to arrive, so that both share one fsync.
            if exclusive.is_none() && batch_awaits_follow_up(&batch) {
                let until = Instant::now() + LINGER;
                while Instant::now() < until {
                    std::thread::yield_now();
                    let mut q = lock(&shared.queue);
                    if !q.jobs.is_empty() {
                        take_jobs(&mut q, &mut batch, &mut exclusive, self.max_batch, leader);
                        break;
                    }
                }
            }
            if !batch.is_empty() {
                self.commit_durably(batch);
            }
            if let Some(work) = exclusive {
                self.exclusive(work);
            }
            if leader {
                return;
            }
        }
    }

    /// Sets `synchronous` for the batch, then commits it.
    fn commit_durably(&mut self, batch: Vec<Job>) {
        let want_full = self.full_sync && batch.iter().any(|j| j.durability == Durability::Durable);
        if want_full != self.synchronous_full {
            // Allowed between transactions; in WAL mode a NORMAL commit still survives a process crash.
            let mode = if want_full { "FULL" } else { "NORMAL" };
            match self.conn.pragma_update(None, "synchronous", mode) {
                Ok(()) => self.synchronous_full = want_full,
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
                    return;
                }
                Err(_) => {}
            }
        }
        // data_version is deliberately not re-read here: a foreign commit that landed during
        // this batch must still be noticed by the next idle poll (publishing is idempotent).
        self.commit_batch(batch);
    }

    /// The writer of `conn` (opened with `synchronous=FULL`). Where the journal stands (the
    /// newest event, `data_version`) is read here, before the first commit, whichever thread
    /// makes it, so that only newer events are published.
    pub fn new(
        conn: Connection,
        live: broadcast::Sender<Arc<Event>>,
        clock: SharedClock,
        config: &super::SqliteConfig,
        path: String,
    ) -> Writer {
        let mut writer = Writer {
            conn,
            live,
            clock,
            full_sync: config.full_sync,
            busy_timeout_ms: config.busy_timeout.as_millis() as u64,
            max_batch: config.max_batch,
            blob_threshold: config.blob_threshold,
            path,
            published: 0,
            data_version: 0,
            synchronous_full: true,
        };
        writer.published = writer
            .conn
            .query_row("SELECT COALESCE(MAX(global_seq), 0) FROM events", [], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap_or(0);
        writer.data_version = writer.read_data_version();
        writer
    }

    fn read_data_version(&self) -> i64 {
        self.conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .unwrap_or(0)
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

    fn commit_batch(&mut self, mut batch: Vec<Job>) {
        loop {
            match self.try_batch(&batch) {
                Ok((results, events)) => {
                    if let Some(first) = events.first() {
                        if first.global_seq != self.published + 1 {
                            // Another process committed in between: publish its events first, in order.
                            self.publish_from_db(first.global_seq);
                        }
                    }
                    for e in events {
                        self.published = self.published.max(e.global_seq);
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
            let mut lite = SqliteDb(&self.conn);
            let mut t = Tx {
                db: &mut lite,
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

    /// Publishes committed events after the last published one and before `before`, read
    /// from the file.
    fn publish_from_db(&mut self, before: i64) {
        loop {
            let batch = match journal::events_after(
                &mut SqliteDb(&self.conn),
                None,
                self.published,
                1000,
            ) {
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
                self.published = e.global_seq;
                let _ = self.live.send(Arc::new(e));
            }
            if n < 1000 {
                return;
            }
        }
    }
}

/// Moves queued jobs into `batch` (up to `max`), stopping at upkeep work: taken into
/// `exclusive` when nothing is batched yet, unless a `leader` is taking (it leaves upkeep to
/// the thread).
fn take_jobs(
    q: &mut Queue,
    batch: &mut Vec<Job>,
    exclusive: &mut Option<Exclusive>,
    max: usize,
    leader: bool,
) {
    while batch.len() < max {
        match q.jobs.front() {
            Some(Queued::Apply(_)) => {
                if let Some(Queued::Apply(job)) = q.jobs.pop_front() {
                    batch.push(job);
                }
            }
            // Queued after the batch's jobs: it runs once they are committed.
            Some(Queued::Exclusive(_)) if !leader && exclusive.is_none() => {
                if let Some(Queued::Exclusive(work)) = q.jobs.pop_front() {
                    *exclusive = Some(work);
                }
                return;
            }
            _ => return,
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
