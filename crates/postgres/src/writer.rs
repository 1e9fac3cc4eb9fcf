//! This process's one writer: it drains queued transitions into one transaction (group commit
//! per worker process), numbers their events from the counter row, and publishes them.
//!
//! Every batch first locks the counter row (`FOR UPDATE`). Writers on every machine therefore
//! commit one at a time, as SQLite's do, which buys three things: event numbers become visible
//! in order (a reader that has seen N has seen everything below it); a transition's reads
//! cannot go stale before its commit; and two batches never deadlock on each other's rows.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::SimpleQueryMessage;
use tokio::sync::{broadcast, oneshot};
use waymark_engine::store::journal::{self, apply, Cell, Row, Tx};
use waymark_engine::store::{Applied, Durability, Transition};
use waymark_engine::{Event, SharedClock, StoreError};

use crate::db::PgConn;
use crate::errors::db_err;
use crate::Connector;

pub(crate) struct Job {
    pub transition: Transition,
    pub durability: Durability,
    pub reply: oneshot::Sender<Result<Applied, StoreError>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Queue {
    jobs: VecDeque<Job>,
    closed: bool,
}

/// What the store and its writer thread share.
pub(crate) struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
}

impl Shared {
    pub fn new() -> Arc<Shared> {
        Arc::new(Shared {
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                closed: false,
            }),
            wake: Condvar::new(),
        })
    }

    /// Queues a transition; false once the store is closed.
    pub fn submit(&self, job: Job) -> bool {
        let mut q = lock(&self.queue);
        if q.closed {
            return false;
        }
        q.jobs.push_back(job);
        drop(q);
        self.wake.notify_one();
        true
    }

    pub fn close(&self) {
        lock(&self.queue).closed = true;
        self.wake.notify_all();
    }

    /// The next batch, waiting for one; `None` once closed and drained.
    fn next_batch(&self, max: usize) -> Option<Vec<Job>> {
        let mut q = lock(&self.queue);
        while q.jobs.is_empty() {
            if q.closed {
                return None;
            }
            q = self.wake.wait(q).unwrap_or_else(|e| e.into_inner());
        }
        let n = q.jobs.len().min(max);
        Some(q.jobs.drain(..n).collect())
    }
}

/// The events published to this process's subscribers so far, shared by the writer and the
/// listener (whoever publishes holds it, so events go out once and in order).
pub(crate) type Published = Arc<Mutex<i64>>;

pub(crate) struct Writer {
    pub connector: Arc<Connector>,
    pub conn: Option<PgConn>,
    pub live: broadcast::Sender<Arc<Event>>,
    pub published: Published,
    /// A clock to use instead of the database's (tests with a manual clock); `None` in use.
    pub clock: Option<SharedClock>,
    pub blob_threshold: usize,
    pub max_batch: usize,
    /// This store's name in its NOTIFY payloads, so its own listener ignores them.
    pub notify_id: String,
}

/// Why a batch failed as a whole.
enum BatchFailure {
    /// The transaction could not begin: nothing was sent, the batch may go again.
    AtStart(StoreError),
    /// Nothing was saved; every transition gets this error.
    Whole(StoreError),
    /// The connection dropped as COMMIT was sent: whether it landed is not known here.
    AtCommit {
        error: StoreError,
        first_event: Option<i64>,
        results: Vec<Result<Applied, StoreError>>,
        events: Vec<Event>,
    },
}

type BatchResults = (Vec<Result<Applied, StoreError>>, Vec<Event>);

/// A fence row read by the simple protocol (text) as the journal's cells.
fn fence_row(row: &postgres::SimpleQueryRow) -> Row {
    let text = |i: usize| row.get(i).map_or(Cell::Null, |v| Cell::Text(v.to_string()));
    let epoch = row
        .get(1)
        .and_then(|v| v.parse::<i64>().ok())
        .map_or(Cell::Null, Cell::Int);
    Row(vec![text(0), epoch, text(2)])
}

fn simple_rows(messages: &[SimpleQueryMessage]) -> Vec<&postgres::SimpleQueryRow> {
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .collect()
}

impl Writer {
    pub fn run(mut self, shared: Arc<Shared>) {
        while let Some(batch) = shared.next_batch(self.max_batch) {
            self.commit_batch(batch);
        }
        tracing::debug!(location = %self.connector.location, "PostgreSQL store writer stopped");
    }

    /// The connection, made again after it was lost.
    fn connection(&mut self) -> Result<&mut PgConn, StoreError> {
        if self.conn.as_ref().is_some_and(|c| c.client.is_closed()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            self.conn = Some(self.connector.connect()?);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| StoreError::Sqlite("no connection".into()))
    }

    fn commit_batch(&mut self, batch: Vec<Job>) {
        let mut outcome = self.try_batch(&batch);
        if let Err(BatchFailure::AtStart(StoreError::Unavailable { .. })) = &outcome {
            // A connection the server closed meanwhile (a restart) says so at its next use:
            // nothing was sent, so the batch goes once more on a new connection.
            self.conn = None;
            outcome = self.try_batch(&batch);
        }
        let (results, events) = match outcome {
            Ok(done) => done,
            Err(BatchFailure::AtStart(error) | BatchFailure::Whole(error)) => {
                let error = self.located(error);
                tracing::warn!(%error, "journal commit failed; the batch was rolled back");
                for job in batch {
                    let _ = job.reply.send(Err(error.clone()));
                }
                return;
            }
            Err(BatchFailure::AtCommit {
                error,
                first_event,
                results,
                events,
            }) => {
                // Settled by reading back: the batch's first event is there or it is not.
                let landed = first_event.map(|seq| self.event_exists(seq));
                match landed {
                    Some(Ok(true)) => (results, events),
                    other => {
                        let error = match other {
                            Some(Ok(false)) => self.located(error),
                            _ => StoreError::Unavailable {
                                location: self.connector.location.clone(),
                                detail: format!(
                                    "the connection dropped at COMMIT and whether it landed cannot be read back: {error}"
                                ),
                            },
                        };
                        for job in batch {
                            let _ = job.reply.send(Err(error.clone()));
                        }
                        return;
                    }
                }
            }
        };
        self.publish(events);
        for (job, result) in batch.into_iter().zip(results) {
            let _ = job.reply.send(result);
        }
    }

    /// Names the database in a connection error (the driver's errors cannot).
    fn located(&self, error: StoreError) -> StoreError {
        match error {
            StoreError::Unavailable { detail, .. } => StoreError::Unavailable {
                location: self.connector.location.clone(),
                detail,
            },
            other => other,
        }
    }

    fn event_exists(&mut self, seq: i64) -> Result<bool, StoreError> {
        self.conn = None;
        let conn = self.connection()?;
        let row = conn
            .client
            .query_opt("SELECT 1 FROM events WHERE global_seq = $1", &[&seq])
            .map_err(db_err)?;
        Ok(row.is_some())
    }

    fn try_batch(&mut self, batch: &[Job]) -> Result<BatchResults, BatchFailure> {
        let clock = self.clock.clone();
        let blob_threshold = self.blob_threshold;
        let notify_id = self.notify_id.clone();
        // A batch of relaxed transitions only (a retry_safe step's marker: losing it costs the
        // step one more attempt) does not wait for the disk, as SQLite's relaxed commits do not.
        let relaxed = batch.iter().all(|j| j.durability == Durability::Relaxed);
        let savepoints = batch.len() > 1;
        // One round trip opens the batch: the transaction, the counter row every writer locks
        // first (with the database's clock), the first transition's fence row (it would be
        // that transition's first statement), and the first savepoint.
        let first_fence = batch
            .first()
            .and_then(|j| j.transition.fence())
            .map(|f| f.run.to_string());
        let mut begin = String::from("BEGIN; ");
        if relaxed {
            begin.push_str("SET LOCAL synchronous_commit TO off; ");
        }
        begin.push_str(
            "SELECT value, (extract(epoch from clock_timestamp()) * 1000)::bigint
             FROM counters WHERE name = 'events' FOR UPDATE",
        );
        if let Some(run) = &first_fence {
            // A run id is a UUID this process formatted: safe as a literal.
            begin.push_str(&format!(
                "; SELECT lease_owner, lease_epoch, status FROM runs WHERE id = '{run}' FOR UPDATE"
            ));
        }
        if savepoints {
            begin.push_str("; SAVEPOINT transition");
        }
        let conn = self.connection().map_err(BatchFailure::AtStart)?;
        let started = conn
            .client
            .simple_query(&begin)
            .map_err(|e| BatchFailure::AtStart(db_err(e)))?;
        let rows = simple_rows(&started);
        let parse = |i: usize| -> Option<i64> { rows.first()?.get(i)?.parse().ok() };
        let (Some(counter), Some(db_now)) = (parse(0), parse(1)) else {
            let _ = conn.client.batch_execute("ROLLBACK");
            return Err(BatchFailure::Whole(StoreError::Corrupt {
                path: String::new(),
                detail: "the event counter row is missing".into(),
            }));
        };
        conn.fence_prefetch = first_fence.map(|run| (run, rows.get(1).map(|r| fence_row(r))));
        let now = clock.map_or(db_now, |c| c.now_ms());
        conn.next_seq = Some(counter + 1);
        let mut results = Vec::with_capacity(batch.len());
        let mut events: Vec<Event> = Vec::new();
        for (i, job) in batch.iter().enumerate() {
            let more = i + 1 < batch.len();
            let seq_before = conn.next_seq;
            let mut t = Tx {
                db: conn,
                now,
                blob_threshold,
                events: Vec::new(),
            };
            // A bug in one transition fails that transition; the writer lives on.
            let r = catch_unwind(AssertUnwindSafe(|| apply(&mut t, &job.transition)))
                .unwrap_or_else(|panic| {
                    Err(StoreError::Sqlite(format!(
                        "the {} transition failed unexpectedly: {}",
                        job.transition.kind(),
                        waymark_engine::error::panic_text(&panic)
                    )))
                });
            let emitted = std::mem::take(&mut t.events);
            conn.fence_prefetch = None;
            match r {
                Ok(applied) => {
                    // The next transition's savepoint replaces this one in the same round
                    // trip; the last one's is released by COMMIT.
                    if more {
                        if let Err(e) = conn
                            .client
                            .batch_execute("RELEASE SAVEPOINT transition; SAVEPOINT transition")
                        {
                            return Err(BatchFailure::Whole(db_err(e)));
                        }
                    }
                    events.extend(emitted);
                    results.push(Ok(applied));
                }
                Err(e) => {
                    if conn.client.is_closed() || !savepoints {
                        // A lost connection loses the batch; a batch of one is rolled back
                        // whole (it has no savepoint), and its error is the transition's.
                        let _ = conn.client.batch_execute("ROLLBACK");
                        return Err(BatchFailure::Whole(e));
                    }
                    // Undone; the savepoint stays, ready for the next transition.
                    if let Err(e) = conn
                        .client
                        .batch_execute("ROLLBACK TO SAVEPOINT transition")
                    {
                        return Err(BatchFailure::Whole(db_err(e)));
                    }
                    conn.next_seq = seq_before;
                    results.push(Err(e));
                }
            }
        }
        let last = conn.next_seq.unwrap_or(counter + 1) - 1;
        conn.next_seq = None;
        let finish = if last > counter {
            format!(
                "UPDATE counters SET value = {last} WHERE name = 'events'; NOTIFY waymark_events, '{}'; COMMIT",
                notify_id
            )
        } else {
            "COMMIT".to_string()
        };
        let kinds = waymark_engine::crashpoint::installed().then(|| {
            let mut k: Vec<&str> = batch.iter().map(|j| j.transition.kind()).collect();
            k.dedup();
            k
        });
        for k in kinds.iter().flatten() {
            waymark_engine::crashpoint::reach(&format!("before_commit:{k}"));
        }
        if let Err(e) = conn.client.batch_execute(&finish) {
            if conn.client.is_closed() || e.as_db_error().is_none() {
                return Err(BatchFailure::AtCommit {
                    error: db_err(e),
                    first_event: events.first().map(|e| e.global_seq),
                    results,
                    events,
                });
            }
            let _ = conn.client.batch_execute("ROLLBACK");
            return Err(BatchFailure::Whole(db_err(e)));
        }
        for k in kinds.iter().flatten() {
            waymark_engine::crashpoint::reach(&format!("after_commit:{k}"));
        }
        Ok((results, events))
    }

    /// Sends committed events to subscribers, after any committed by other processes that
    /// came before them.
    fn publish(&mut self, events: Vec<Event>) {
        let Some(first) = events.first().map(|e| e.global_seq) else {
            return;
        };
        let published = self.published.clone();
        let mut cursor = lock(&published);
        if first > *cursor + 1 {
            if let Some(conn) = self.conn.as_mut() {
                publish_from_db(conn, &self.live, &mut cursor, first);
            }
        }
        for e in events {
            if e.global_seq > *cursor {
                *cursor = e.global_seq;
                let _ = self.live.send(Arc::new(e));
            }
        }
    }
}

/// Publishes committed events after `cursor` and before `before`, read from the database.
pub(crate) fn publish_from_db(
    conn: &mut PgConn,
    live: &broadcast::Sender<Arc<Event>>,
    cursor: &mut i64,
    before: i64,
) {
    loop {
        let batch = match journal::events_after(conn, None, *cursor, 1000) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "could not read events committed by other processes");
                return;
            }
        };
        let n = batch.len();
        for e in batch {
            if e.global_seq >= before {
                return;
            }
            *cursor = e.global_seq;
            let _ = live.send(Arc::new(e));
        }
        if n < 1000 {
            return;
        }
    }
}

/// The listener: a connection of its own, outside the writer and the readers, that waits for
/// other processes' NOTIFY and publishes what they committed. After a lost connection it
/// connects again, LISTENs again, then catches up; a bounded poll covers a lost notification.
pub(crate) fn listen(
    connector: Arc<Connector>,
    live: broadcast::Sender<Arc<Event>>,
    published: Published,
    notify_id: String,
    poll: Duration,
    shared: Arc<Shared>,
) {
    let mut conn: Option<PgConn> = None;
    let mut backoff = Duration::from_millis(50);
    loop {
        if lock(&shared.queue).closed {
            return;
        }
        if conn.as_ref().is_none_or(|c| c.client.is_closed()) {
            match connector.connect().and_then(|mut c| {
                c.client
                    .batch_execute("LISTEN waymark_events")
                    .map(|_| c)
                    .map_err(db_err)
            }) {
                Ok(c) => {
                    conn = Some(c);
                    backoff = Duration::from_millis(50);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for other processes' events; trying again");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        // Catch up (after a (re)connect, a notification, or a quiet poll interval).
        {
            let mut cursor = lock(&published);
            publish_from_db(c, &live, &mut cursor, i64::MAX);
        }
        // Wait for a notification from another process (our own are published by the writer),
        // at most one poll interval.
        let deadline = std::time::Instant::now() + poll;
        let mut notifications = c.client.notifications();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            match notifications.timeout_iter(left).next() {
                Ok(Some(n)) if n.payload() == notify_id => continue,
                Ok(Some(_)) | Ok(None) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "lost the listening connection; connecting again");
                    break;
                }
            }
        }
    }
}
