//! A worker: claims runs (new ones, and those whose lease expired or whose worker died),
//! executes them by replaying their journal, renews its leases, and routes committed events
//! to the runs they wake.

mod execute;

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, watch, Notify};
use tokio::task::JoinHandle;

use crate::clock::SharedClock;
use crate::error::{Interrupt, StoreError};
use crate::ids::{RunId, WorkerId};
use crate::model::{EventKind, RunStatus};
use crate::registry::Registry;
use crate::store::{Applied, Claim, Durability, Fence, SharedStore, Transition};

use execute::execute;

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    /// How long a claim lasts without renewal. Renewed every third of it.
    pub lease: Duration,
    /// How often to look for claimable runs when no event says there are some.
    pub claim_interval: Duration,
    /// Runs held in memory at once (executing or waiting).
    pub max_runs: usize,
    /// How long a shutdown lets attempts in flight finish.
    pub shutdown_grace: Duration,
    /// This worker also takes runs that ask for one of these labels (a machine with a tool or
    /// a stdio server the others lack); runs that ask for none it takes anyway.
    pub labels: Vec<String>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            lease: Duration::from_secs(30),
            claim_interval: Duration::from_secs(1),
            max_runs: 4096,
            shutdown_grace: Duration::from_secs(10),
            labels: Vec::new(),
        }
    }
}

/// Whether a [`Worker`] still runs: it has not been shut down, and is not gone.
#[derive(Clone, Debug)]
pub struct WorkerLiveness(watch::Receiver<bool>);

impl WorkerLiveness {
    pub fn is_running(&self) -> bool {
        // An error: the worker is gone (its state dropped).
        self.0.has_changed().is_ok() && !*self.0.borrow()
    }
}

/// Whether `label` may name a worker (`--label`) and an agent's `worker_label`: 1 to 64
/// letters, digits, `.`, `-` or `_`.
pub fn is_valid_label(label: &str) -> bool {
    (1..=64).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

pub(crate) struct EventWaitGuard {
    shared: Arc<WorkerShared>,
    name: String,
    run: RunId,
}

impl Drop for EventWaitGuard {
    fn drop(&mut self) {
        let mut waits = self
            .shared
            .event_waits
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(runs) = waits.get_mut(&self.name) {
            if let Some(n) = runs.get_mut(&self.run) {
                *n -= 1;
                if *n == 0 {
                    runs.remove(&self.run);
                }
            }
            if runs.is_empty() {
                waits.remove(&self.name);
            }
        }
    }
}

/// What executing a run needs to know of it.
pub(crate) struct FreshRun {
    pub function: String,
    pub version: u32,
    pub input: serde_json::Value,
    pub deadline_at: Option<crate::clock::Millis>,
}

struct RunSlot {
    epoch: i64,
    stop: watch::Sender<Option<Interrupt>>,
    wake: watch::Sender<u64>,
}

pub(crate) struct WorkerShared {
    pub id: WorkerId,
    pub store: SharedStore,
    pub clock: SharedClock,
    pub registry: Arc<Registry>,
    pub config: WorkerConfig,
    runs: Mutex<HashMap<RunId, RunSlot>>,
    /// Which held runs wait for an event of which name (with how many waits each), so that a
    /// sent event wakes only those.
    event_waits: Mutex<HashMap<String, HashMap<RunId, usize>>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    claim_now: Notify,
    stopping: watch::Sender<bool>,
    // Held for the worker's life: its lock tells other processes this worker is alive.
    _lock: Option<File>,
    lock_path: PathBuf,
}

/// A running worker. Dropping it without [`Worker::shutdown`] aborts its tasks.
pub struct Worker {
    shared: Arc<WorkerShared>,
    loops: Vec<JoinHandle<()>>,
}

impl Worker {
    pub(crate) async fn start(
        store: SharedStore,
        clock: SharedClock,
        registry: Arc<Registry>,
        config: WorkerConfig,
    ) -> Result<Worker, StoreError> {
        let id = WorkerId::new();
        let lock_dir = store.worker_lock_dir();
        let lock_path = lock_dir
            .as_ref()
            .map(|d| d.join(format!("{id}.lock")))
            .unwrap_or_default();
        let lock = match &lock_dir {
            Some(dir) => {
                let lock = std::fs::create_dir_all(dir)
                    .and_then(|_| File::create(&lock_path))
                    .and_then(|f| f.try_lock().map(|_| f).map_err(std::io::Error::other));
                match lock {
                    Ok(f) => Some(f),
                    Err(e) => {
                        tracing::warn!(error = %e, path = %lock_path.display(), "cannot hold a worker lock file; other workers will wait for this one's leases to expire");
                        None
                    }
                }
            }
            None => None,
        };
        store
            .submit(
                Transition::RegisterWorker {
                    worker: id.clone(),
                    pid: std::process::id(),
                    lock_path: lock_path.display().to_string(),
                },
                Durability::Durable,
            )
            .await?;
        let shared = Arc::new(WorkerShared {
            id,
            store,
            clock,
            registry,
            config,
            runs: Mutex::new(HashMap::new()),
            event_waits: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
            claim_now: Notify::new(),
            stopping: watch::channel(false).0,
            _lock: lock,
            lock_path,
        });
        let live = shared.store.live();
        let loops = vec![
            tokio::spawn(dispatch(shared.clone(), live)),
            tokio::spawn(claim_loop(shared.clone())),
            tokio::spawn(renew_loop(shared.clone())),
        ];
        tracing::info!(worker = %shared.id, "worker started");
        Ok(Worker { shared, loops })
    }

    pub fn id(&self) -> &WorkerId {
        &self.shared.id
    }

    pub(crate) fn shared(&self) -> &Arc<WorkerShared> {
        &self.shared
    }

    /// A handle that tells whether this worker still runs (not shut down), for a door's
    /// status display.
    pub fn liveness(&self) -> WorkerLiveness {
        WorkerLiveness(self.shared.stopping.subscribe())
    }

    /// Runs this worker holds in memory right now.
    pub fn held_runs(&self) -> usize {
        self.shared
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    /// Stops claiming, lets attempts in flight finish (up to the grace period), gives every
    /// held run back so another worker can take it at once, and unregisters.
    pub async fn shutdown(mut self) {
        self.shared.stopping.send_replace(true);
        for l in self.loops.drain(..) {
            l.abort();
        }
        let held: Vec<(RunId, i64)> = {
            let runs = self.shared.runs.lock().unwrap_or_else(|e| e.into_inner());
            for slot in runs.values() {
                slot.stop.send_if_modified(|v| {
                    if v.is_none() {
                        *v = Some(Interrupt::WorkerStopping);
                        true
                    } else {
                        false
                    }
                });
            }
            runs.iter().map(|(id, s)| (*id, s.epoch)).collect()
        };
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.shared.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        let all = futures::future::join_all(tasks);
        if tokio::time::timeout(self.shared.config.shutdown_grace, all)
            .await
            .is_err()
        {
            tracing::warn!("attempts still running after the shutdown grace period were abandoned");
        }
        for (run, epoch) in held {
            let fence = Fence {
                run,
                worker: self.shared.id.clone(),
                epoch,
            };
            let _ = self
                .shared
                .store
                .submit(
                    Transition::ReleaseRun {
                        fence,
                        status: None,
                    },
                    Durability::Durable,
                )
                .await;
        }
        let _ = self
            .shared
            .store
            .submit(
                Transition::UnregisterWorker {
                    worker: self.shared.id.clone(),
                },
                Durability::Durable,
            )
            .await;
        if !self.shared.lock_path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.shared.lock_path);
        }
        tracing::info!(worker = %self.shared.id, "worker stopped");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        for l in &self.loops {
            l.abort();
        }
        for t in self
            .shared
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            t.abort();
        }
    }
}

impl WorkerShared {
    /// The runs this worker is executing, with the lease epoch each runs under.
    fn held(&self) -> Vec<(RunId, i64)> {
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(id, s)| (*id, s.epoch))
            .collect()
    }

    /// Starts executing a run this worker has just been leased.
    pub(crate) fn adopt(self: &Arc<Self>, run: RunId, epoch: i64) {
        self.adopt_with(run, epoch, None)
    }

    /// Starts executing a run this worker has just created and leased, without reading it back.
    pub(crate) fn adopt_fresh(self: &Arc<Self>, run: RunId, fresh: FreshRun) {
        self.adopt_with(run, 1, Some(fresh))
    }

    fn adopt_with(self: &Arc<Self>, run: RunId, epoch: i64, fresh: Option<FreshRun>) {
        let (stop, stop_rx) = watch::channel(None);
        let (wake, wake_rx) = watch::channel(0u64);
        {
            let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(old) = runs.get(&run) {
                if old.epoch >= epoch {
                    return;
                }
                // Re-claimed after our own lease lapsed: the old execution's writes would be fenced off.
                old.stop.send_replace(Some(Interrupt::LeaseLost));
            }
            runs.insert(run, RunSlot { epoch, stop, wake });
        }
        let shared = self.clone();
        let task = tokio::spawn(async move {
            execute(shared.clone(), run, epoch, fresh, stop_rx, wake_rx).await;
            let mut runs = shared.runs.lock().unwrap_or_else(|e| e.into_inner());
            if runs.get(&run).is_some_and(|s| s.epoch == epoch) {
                runs.remove(&run);
            }
            drop(runs);
            shared.claim_now.notify_one();
        });
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    fn stop_run(&self, run: RunId, why: Interrupt) {
        if let Some(slot) = self
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&run)
        {
            slot.stop.send_if_modified(|v| {
                if v.is_none() || *v == Some(Interrupt::WorkerStopping) {
                    *v = Some(why.clone());
                    true
                } else {
                    false
                }
            });
        }
    }

    fn wake(&self, run: Option<RunId>) {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        match run {
            Some(run) => {
                if let Some(slot) = runs.get(&run) {
                    slot.wake.send_modify(|n| *n += 1);
                }
            }
            None => {
                for slot in runs.values() {
                    slot.wake.send_modify(|n| *n += 1);
                }
            }
        }
    }

    fn wake_event_waiters(&self, name: &str) {
        let waiting: Vec<RunId> = self
            .event_waits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .map(|runs| runs.keys().copied().collect())
            .unwrap_or_default();
        for run in waiting {
            self.wake(Some(run));
        }
    }

    /// Registers a wait for events named `name`; the registration ends with the guard.
    pub(crate) fn watch_events(self: &Arc<Self>, name: &str, run: RunId) -> EventWaitGuard {
        *self
            .event_waits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(name.to_string())
            .or_default()
            .entry(run)
            .or_default() += 1;
        EventWaitGuard {
            shared: self.clone(),
            name: name.to_string(),
            run,
        }
    }

    fn fence(&self, run: RunId, epoch: i64) -> Fence {
        Fence {
            run,
            worker: self.id.clone(),
            epoch,
        }
    }

    /// Workers whose lock file nobody holds any more: their leases need not be waited out.
    fn dead_workers(&self, rows: Vec<crate::store::WorkerRow>) -> Vec<String> {
        let mut dead = Vec::new();
        for w in rows {
            // A worker without a lock file (on a shared database, perhaps on another machine)
            // is judged by its leases alone.
            if w.id == self.id.0 || w.lock_path.is_empty() {
                continue;
            }
            let alive = match File::options().read(true).write(true).open(&w.lock_path) {
                Ok(f) => match f.try_lock() {
                    Ok(()) => false,
                    Err(std::fs::TryLockError::WouldBlock) => true,
                    Err(std::fs::TryLockError::Error(_)) => true,
                },
                Err(_) => false,
            };
            if !alive {
                let _ = std::fs::remove_file(&w.lock_path);
                dead.push(w.id);
            }
        }
        dead
    }
}

async fn claim_loop(shared: Arc<WorkerShared>) {
    // Looking for dead workers opens their lock files: do it at start and on each interval,
    // not on every "a run was queued" notification.
    let mut look_for_dead = true;
    loop {
        let claimed_full = claim_once(&shared, look_for_dead).await;
        if claimed_full {
            continue;
        }
        look_for_dead = tokio::select! {
            _ = shared.claim_now.notified() => false,
            _ = tokio::time::sleep(shared.config.claim_interval) => true,
        };
    }
}

/// Claims what this worker has room for; true when it filled that room (there may be more).
async fn claim_once(shared: &Arc<WorkerShared>, look_for_dead: bool) -> bool {
    let held = shared.runs.lock().unwrap_or_else(|e| e.into_inner()).len();
    let capacity = shared.config.max_runs.saturating_sub(held);
    if capacity == 0 {
        return false;
    }
    let dead = if look_for_dead {
        match shared.store.workers().await {
            Ok(rows) => shared.dead_workers(rows),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list workers");
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };
    if dead.is_empty() {
        // A read first: an idle worker should not take the write lock every interval.
        let now = shared.clock.now_ms();
        if !shared
            .store
            .has_claimable(now, shared.config.labels.clone())
            .await
            .unwrap_or(true)
        {
            return false;
        }
    } else {
        tracing::info!(
            count = dead.len(),
            "taking over the runs of workers that died"
        );
    }
    let t = Transition::ClaimRuns {
        worker: shared.id.clone(),
        lease_ms: crate::clock::after(0, shared.config.lease),
        limit: capacity,
        dead_workers: dead,
        held: shared.held(),
        labels: shared.config.labels.clone(),
    };
    match shared.store.submit(t, Durability::Relaxed).await {
        Ok(Applied::Claimed(claims)) => {
            let full = claims.len() == capacity;
            for Claim { run, epoch } in claims {
                shared.adopt(run, epoch);
            }
            full
        }
        Ok(_) => false,
        Err(e) => {
            tracing::warn!(error = %e, "claiming runs failed");
            false
        }
    }
}

async fn renew_loop(shared: Arc<WorkerShared>) {
    let every = shared.config.lease / 3;
    loop {
        tokio::time::sleep(every).await;
        let held = shared.held();
        // Without lock files (a shared database), an idle worker's renewal is its heartbeat.
        if held.is_empty() && shared.store.worker_lock_dir().is_some() {
            continue;
        }
        let t = Transition::RenewLeases {
            worker: shared.id.clone(),
            runs: held,
            lease_ms: shared.config.lease.as_millis() as i64,
        };
        match shared.store.submit(t, Durability::Relaxed).await {
            Ok(Applied::Renewed { lost }) => {
                for run in lost {
                    tracing::warn!(%run, "lease lost: another worker took this run over");
                    shared.stop_run(run, Interrupt::LeaseLost);
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "renewing leases failed"),
        }
    }
}

/// Routes committed events to the runs they concern.
async fn dispatch(
    shared: Arc<WorkerShared>,
    mut live: broadcast::Receiver<std::sync::Arc<crate::model::Event>>,
) {
    loop {
        let event = match live.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(_)) => {
                shared.wake(None);
                shared.claim_now.notify_one();
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        match &event.kind {
            EventKind::RunCancelRequested { .. } => {
                if let Some(run) = event.run_id {
                    shared.stop_run(run, Interrupt::Cancelled);
                }
            }
            EventKind::EventSent { name, .. } => shared.wake_event_waiters(name),
            EventKind::StepFinished { .. } => shared.wake(event.run_id),
            // A run created for this worker is already executing here: nothing to claim.
            EventKind::RunCreated { .. }
                if !event.run_id.is_some_and(|r| {
                    shared
                        .runs
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .contains_key(&r)
                }) =>
            {
                shared.claim_now.notify_one()
            }
            EventKind::RunStatusChanged {
                status: RunStatus::Queued,
                ..
            } => shared.claim_now.notify_one(),
            EventKind::RunClaimed { worker, epoch } if *worker != shared.id.0 => {
                // Someone else holds this run now: whatever this worker still does for it is stale.
                if let Some(run) = event.run_id {
                    let ours = shared
                        .runs
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(&run)
                        .map(|s| s.epoch);
                    if ours.is_some_and(|e| e < *epoch) {
                        shared.stop_run(run, Interrupt::LeaseLost);
                    }
                }
            }
            _ => {}
        }
    }
}
