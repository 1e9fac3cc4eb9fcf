//! The engine's front: start, cancel, resolve, fork, send events, read traces, subscribe.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::broadcast;

use crate::clock::{SharedClock, SystemClock};
use crate::error::{EngineError, StoreError};
use crate::ids::{RunId, StepKey};
use crate::model::{Event, EventKind, Resolution, RunRecord, RunStatus, RunTrace, StepTrace};
use crate::registry::Registry;
use crate::store::{Applied, Durability, NewRun, RunFilter, SharedStore, Transition};
use crate::worker::{FreshRun, Worker, WorkerConfig};

#[derive(Clone, Debug, Default)]
pub struct StartOptions {
    /// A second start with the same key returns the first run.
    pub idempotency_key: Option<String>,
    /// The whole run must finish within this; it fails when it passes.
    pub deadline: Option<Duration>,
    /// Only a worker with this label executes the run (`WorkerConfig::labels`).
    pub worker_label: Option<String>,
}

/// What a `cancel` did.
#[derive(Clone, Debug, PartialEq)]
pub struct CancelOutcome {
    /// Runs (this one and its children) that ended at once: no live worker held them.
    pub cancelled_now: Vec<RunId>,
    /// Runs whose worker was asked to stop them; they end when it has.
    pub requested: Vec<RunId>,
}

#[derive(Clone)]
pub struct Engine {
    store: SharedStore,
    clock: SharedClock,
    registry: Arc<Registry>,
    config: WorkerConfig,
    worker: Arc<std::sync::Mutex<Option<std::sync::Weak<crate::worker::WorkerShared>>>>,
    /// Set once runs from before run labels existed have been described.
    described: Arc<tokio::sync::OnceCell<()>>,
}

impl Engine {
    pub fn new(store: SharedStore, registry: Registry) -> Self {
        Engine {
            store,
            clock: Arc::new(SystemClock),
            registry: Arc::new(registry),
            config: WorkerConfig::default(),
            worker: Default::default(),
            described: Default::default(),
        }
    }

    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_worker_config(mut self, config: WorkerConfig) -> Self {
        self.config = config;
        self
    }

    pub fn store(&self) -> &SharedStore {
        &self.store
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Starts a worker in this process. Runs started through this engine go to it directly.
    pub async fn start_worker(&self) -> Result<Worker, EngineError> {
        let w = Worker::start(
            self.store.clone(),
            self.clock.clone(),
            self.registry.clone(),
            self.config.clone(),
        )
        .await?;
        *self.worker.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::downgrade(w.shared()));
        Ok(w)
    }

    fn local_worker(&self) -> Option<Arc<crate::worker::WorkerShared>> {
        self.worker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .and_then(|w| w.upgrade())
    }

    pub async fn start_run(
        &self,
        function: &str,
        input: Value,
        opts: StartOptions,
    ) -> Result<RunId, EngineError> {
        if function.trim().is_empty() {
            return Err(EngineError::Invalid("the function name is empty".into()));
        }
        // A function this process does not know is left queued for a worker that does.
        let known = self.registry.get(function);
        let version = known.as_ref().map(|f| f.version).unwrap_or(0);
        // The local worker takes the run at once only if it may run it at all.
        let local = self.local_worker().filter(|w| {
            known.is_some()
                && opts
                    .worker_label
                    .as_ref()
                    .is_none_or(|l| w.config.labels.contains(l))
        });
        let id = RunId::new();
        let idempotent = opts.idempotency_key.is_some();
        let deadline_at = opts
            .deadline
            .map(|d| crate::clock::after(self.clock.now_ms(), d));
        let label = crate::registry::describe_run(known.as_deref(), function, &input);
        let fresh = local.as_ref().map(|_| FreshRun {
            function: function.to_string(),
            version,
            input: input.clone(),
            deadline_at,
        });
        let t = Transition::CreateRun(NewRun {
            id,
            function: function.to_string(),
            function_version: version,
            input,
            label,
            idempotency_key: opts.idempotency_key,
            parent: None,
            deadline_at,
            lease_to: local
                .as_ref()
                .map(|w| (w.id.clone(), w.config.lease.as_millis() as i64)),
            worker_label: opts.worker_label,
        });
        let pending = self.store.submit(t, Durability::Durable);
        // Without an idempotency key the new run is certainly this one: start executing it
        // while its creation commits. Its first write queues behind the creation, so both
        // may share one commit; had the creation failed, that write finds no run and stops.
        let mut fresh = fresh;
        if !idempotent {
            if let (Some(w), Some(f)) = (local.as_ref(), fresh.take()) {
                w.adopt_fresh(id, f);
            }
        }
        match pending.await? {
            Applied::Run { id, created } => {
                if let (true, Some(w), Some(fresh)) = (created, local, fresh) {
                    w.adopt_fresh(id, fresh);
                }
                Ok(id)
            }
            other => Err(EngineError::Store(StoreError::Sqlite(format!(
                "unexpected result {other:?}"
            )))),
        }
    }

    /// Cancels a run and its children; the step in flight is stopped.
    pub async fn cancel(&self, run: RunId) -> Result<CancelOutcome, EngineError> {
        self.cancel_by(run, None).await
    }

    /// [`Engine::cancel`], recording who asked (the event's time says when).
    pub async fn cancel_by(
        &self,
        run: RunId,
        by: Option<String>,
    ) -> Result<CancelOutcome, EngineError> {
        match self
            .store
            .submit(Transition::RequestCancel { run, by }, Durability::Durable)
            .await?
        {
            Applied::Cancel {
                cancelled_now,
                requested,
            } => Ok(CancelOutcome {
                cancelled_now,
                requested,
            }),
            other => Err(EngineError::Store(StoreError::Sqlite(format!(
                "unexpected result {other:?}"
            )))),
        }
    }

    /// Settles a step in `needs_attention`; the run continues once none is left.
    pub async fn resolve(
        &self,
        run: RunId,
        key: StepKey,
        resolution: Resolution,
    ) -> Result<(), EngineError> {
        self.resolve_by(run, key, resolution, None).await
    }

    /// [`Engine::resolve`], recording who decided (the event's time says when).
    pub async fn resolve_by(
        &self,
        run: RunId,
        key: StepKey,
        resolution: Resolution,
        by: Option<String>,
    ) -> Result<(), EngineError> {
        self.store
            .submit(
                Transition::Resolve {
                    run,
                    key,
                    resolution,
                    by,
                },
                Durability::Durable,
            )
            .await?;
        Ok(())
    }

    /// A new run with the journal of `run` before step `at`, and `at` itself with `output` if given.
    pub async fn fork(
        &self,
        run: RunId,
        at: StepKey,
        output: Option<Value>,
    ) -> Result<RunId, EngineError> {
        self.fork_by(run, at, output, None).await
    }

    /// [`Engine::fork`], recording who forked in the new run's `run_created` event.
    pub async fn fork_by(
        &self,
        run: RunId,
        at: StepKey,
        output: Option<Value>,
        by: Option<String>,
    ) -> Result<RunId, EngineError> {
        let t = Transition::Fork {
            run,
            at,
            output,
            new_id: RunId::new(),
            by,
        };
        match self.store.submit(t, Durability::Durable).await? {
            Applied::Run { id, .. } => Ok(id),
            other => Err(EngineError::Store(StoreError::Sqlite(format!(
                "unexpected result {other:?}"
            )))),
        }
    }

    /// Sends an event; it is kept until a matching wait consumes it or `ttl` passes.
    pub async fn send_event(
        &self,
        name: &str,
        payload: Value,
        ttl: Duration,
    ) -> Result<i64, EngineError> {
        if name.trim().is_empty() {
            return Err(EngineError::Invalid("the event name is empty".into()));
        }
        let t = Transition::SendEvent {
            name: name.to_string(),
            payload,
            ttl_ms: crate::clock::after(0, ttl),
        };
        match self.store.submit(t, Durability::Durable).await? {
            Applied::EventSent(id) => Ok(id),
            other => Err(EngineError::Store(StoreError::Sqlite(format!(
                "unexpected result {other:?}"
            )))),
        }
    }

    pub async fn run(&self, id: RunId) -> Result<Option<RunRecord>, EngineError> {
        Ok(self.store.run(id).await?)
    }

    pub async fn trace(&self, id: RunId) -> Result<Option<RunTrace>, EngineError> {
        Ok(self.store.trace(id).await?)
    }

    /// The trace with `limit` of its steps after `offset`: a long run's page without the rest.
    /// One step with its attempts.
    pub async fn step_trace(
        &self,
        id: RunId,
        key: StepKey,
    ) -> Result<Option<StepTrace>, EngineError> {
        Ok(self.store.step_trace(id, key).await?)
    }

    pub async fn trace_page(
        &self,
        id: RunId,
        offset: usize,
        limit: usize,
    ) -> Result<Option<RunTrace>, EngineError> {
        Ok(self.store.trace_page(id, offset, limit).await?)
    }

    /// Runs, newest first, filtered and paged by the store.
    pub async fn list_runs(&self, filter: RunFilter) -> Result<Vec<RunRecord>, EngineError> {
        self.described
            .get_or_init(|| async {
                if let Err(e) = self.describe_old_runs().await {
                    tracing::warn!(error = %e, "could not label runs written by an older version");
                }
            })
            .await;
        Ok(self.store.list_runs(filter).await?)
    }

    /// Runs written before run labels existed get them, once, from their functions.
    async fn describe_old_runs(&self) -> Result<usize, EngineError> {
        const BATCH: usize = 500;
        let mut total = 0;
        loop {
            let filter = RunFilter {
                undescribed: true,
                limit: Some(BATCH),
                ..RunFilter::default()
            };
            let runs = self.store.list_runs(filter).await?;
            let labels: Vec<_> = runs
                .iter()
                .map(|r| {
                    let known = self.registry.get(&r.function);
                    let l = crate::registry::describe_run(known.as_deref(), &r.function, &r.input);
                    (r.id, l.label, l.text)
                })
                .collect();
            total += labels.len();
            if labels.is_empty() {
                return Ok(total);
            }
            self.store
                .submit(Transition::DescribeRuns(labels), Durability::Relaxed)
                .await?;
            if runs.len() < BATCH {
                return Ok(total);
            }
        }
    }

    /// Events of one run after `after_seq` (its own sequence): first what was missed, then live.
    pub fn subscribe(&self, run: RunId, after_seq: i64) -> Subscription {
        Subscription::new(self.store.clone(), Some(run), after_seq)
    }

    /// Events of every run after `after_global_seq`: first what was missed, then live.
    pub fn subscribe_all(&self, after_global_seq: i64) -> Subscription {
        Subscription::new(self.store.clone(), None, after_global_seq)
    }

    /// Waits until the run is finished or needs a human, and returns it.
    pub async fn wait_settled(&self, id: RunId) -> Result<RunRecord, EngineError> {
        // Subscribed before reading, so a status change in between is not missed.
        let mut sub = self.subscribe(id, i64::MAX);
        loop {
            let run = self
                .store
                .run(id)
                .await?
                .ok_or(StoreError::RunNotFound(id))?;
            if run.status.is_terminal() || run.status == RunStatus::NeedsAttention {
                return Ok(run);
            }
            if sub.last == i64::MAX || sub.last < run.last_seq {
                sub.last = run.last_seq;
                sub.read_db = false;
            }
            // Only a status change can settle the run: skip the reads for every other event.
            while !matches!(sub.next().await?.kind, EventKind::RunStatusChanged { .. }) {}
        }
    }

    /// The global sequence number of the newest committed event: subscribe after it to
    /// follow only what happens from now on.
    pub async fn current_global_seq(&self) -> Result<i64, EngineError> {
        Ok(self.store.latest_global_seq().await?)
    }
}

/// A gap-free, duplicate-free stream of committed events.
pub struct Subscription {
    store: SharedStore,
    run: Option<RunId>,
    last: i64,
    live: broadcast::Receiver<Arc<Event>>,
    backlog: VecDeque<Event>,
    /// The file may hold events not seen yet: at first, after a gap or a lag.
    read_db: bool,
}

impl Subscription {
    fn new(store: SharedStore, run: Option<RunId>, after: i64) -> Self {
        // Listen before reading the backlog, so nothing committed in between is missed.
        let live = store.live();
        Subscription {
            store,
            run,
            last: after,
            live,
            backlog: VecDeque::new(),
            read_db: true,
        }
    }

    fn seq(&self, e: &Event) -> Option<i64> {
        match self.run {
            Some(run) if e.run_id == Some(run) => e.run_seq,
            Some(_) => None,
            None => Some(e.global_seq),
        }
    }

    /// The sequence number of the last event delivered.
    pub fn position(&self) -> i64 {
        self.last
    }

    pub async fn next(&mut self) -> Result<Event, StoreError> {
        loop {
            if let Some(e) = self.backlog.pop_front() {
                if let Some(s) = self.seq(&e) {
                    if s > self.last {
                        self.last = s;
                        return Ok(e);
                    }
                }
                continue;
            }
            if self.read_db && self.last != i64::MAX {
                let missed = self.store.events_after(self.run, self.last, 500).await?;
                self.read_db = missed.len() == 500;
                if !missed.is_empty() {
                    self.backlog.extend(missed);
                    continue;
                }
            }
            match self.live.recv().await {
                Ok(e) => {
                    let Some(s) = self.seq(&e) else { continue };
                    if s <= self.last {
                        continue;
                    }
                    if s == self.last + 1 || self.last == i64::MAX {
                        self.last = s;
                        return Ok((*e).clone());
                    }
                    self.read_db = true;
                }
                Err(broadcast::error::RecvError::Lagged(_)) => self.read_db = true,
                Err(broadcast::error::RecvError::Closed) => return Err(StoreError::WriterGone),
            }
        }
    }
}
