//! The run context: what a durable function's code calls. Each call is matched by key against
//! the journal loaded when the execution began; recorded results are returned without running.

mod pause;
mod settle;
mod step;

pub use pause::TimeoutPause;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch;

use crate::clock::Millis;
use crate::error::{Interrupt, RunError, StepError, StoreError};
use crate::ids::{RunId, StepKey};
use crate::model::{StepKind, StepRecord, StepStatus};
use crate::policy::SafetyClass;
use crate::store::{Applied, Durability, Fence, NewRun, NewStep, Transition};
use crate::worker::{FreshRun, WorkerShared};

/// Handed to a step's work: which attempt this is, and a way to report progress.
#[derive(Clone)]
pub struct Attempt {
    pub number: u32,
    pub run_id: RunId,
    pub key: StepKey,
    ctx: RunContext,
    progress: Arc<ProgressGate>,
    pause: Arc<pause::PauseClock>,
}

impl Attempt {
    /// Suspends this attempt's timeout until the guard is dropped: the work is waiting for a
    /// person, whose reply the attempt timeout was never meant to bound.
    pub fn pause_timeout(&self) -> TimeoutPause {
        TimeoutPause::new(self.pause.clone())
    }

    /// The run this attempt belongs to, for work that opens steps of its own (a question
    /// asked in the middle of a call).
    pub fn run(&self) -> &RunContext {
        &self.ctx
    }

    /// Records progress on the step (shown live; the journal keeps the latest value).
    pub fn progress(&self, progress: Value) {
        let mut gate = self
            .progress
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match &mut *gate {
            // The step has no row yet: its marker will carry the latest value.
            GateState::Holding(latest) => *latest = Some(progress),
            GateState::Open => {
                let t = Transition::Progress {
                    fence: self.ctx.inner.fence.clone(),
                    key: self.key.clone(),
                    progress,
                };
                drop(self.ctx.shared().store.submit(t, Durability::Relaxed));
            }
        }
    }
}

/// Progress of an attempt whose marker is not queued yet is held, then handed to the marker.
#[derive(Default)]
pub(crate) struct ProgressGate {
    state: Mutex<GateState>,
}

enum GateState {
    Holding(Option<Value>),
    Open,
}

impl Default for GateState {
    fn default() -> Self {
        GateState::Holding(None)
    }
}

impl ProgressGate {
    /// Runs `send_marker` with the progress held so far; later progress is submitted directly.
    /// Under the lock, so no report falls between the two.
    pub(crate) fn open<T>(&self, send_marker: impl FnOnce(Option<Value>) -> T) -> T {
        let mut gate = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let held = match std::mem::replace(&mut *gate, GateState::Open) {
            GateState::Holding(latest) => latest,
            GateState::Open => None,
        };
        send_marker(held)
    }
}

#[derive(Clone)]
pub struct RunContext {
    inner: Arc<Inner>,
}

struct Inner {
    run_id: RunId,
    function: String,
    fence: Fence,
    shared: Arc<WorkerShared>,
    journal: Mutex<Journal>,
    interrupt: Mutex<Option<Interrupt>>,
    stop: watch::Receiver<Option<Interrupt>>,
    wake: watch::Receiver<u64>,
    in_flight: std::sync::atomic::AtomicUsize,
}

struct Journal {
    recorded: HashMap<StepKey, StepRecord>,
    claimed: HashSet<StepKey>,
}

impl RunContext {
    pub(crate) fn new(
        run_id: RunId,
        function: String,
        fence: Fence,
        shared: Arc<WorkerShared>,
        steps: Vec<StepRecord>,
        stop: watch::Receiver<Option<Interrupt>>,
        wake: watch::Receiver<u64>,
    ) -> Self {
        let recorded = steps.into_iter().map(|s| (s.key.clone(), s)).collect();
        RunContext {
            inner: Arc::new(Inner {
                run_id,
                function,
                fence,
                shared,
                journal: Mutex::new(Journal {
                    recorded,
                    claimed: HashSet::new(),
                }),
                interrupt: Mutex::new(None),
                stop,
                wake,
                in_flight: Default::default(),
            }),
        }
    }

    pub fn run_id(&self) -> RunId {
        self.inner.run_id
    }

    pub fn function(&self) -> &str {
        &self.inner.function
    }

    fn shared(&self) -> &WorkerShared {
        &self.inner.shared
    }

    fn now(&self) -> Millis {
        self.shared().clock.now_ms()
    }

    pub(crate) fn interrupt(&self) -> Option<Interrupt> {
        self.inner
            .interrupt
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Remembers why the run must stop; the first reason wins.
    fn interrupted(&self, why: Interrupt) -> RunError {
        let mut slot = self
            .inner
            .interrupt
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let why = slot.get_or_insert(why).clone();
        RunError::Interrupted(why)
    }

    fn store_failed(&self, e: StoreError) -> RunError {
        match e {
            StoreError::LeaseLost(_) => self.interrupted(Interrupt::LeaseLost),
            other => self.interrupted(Interrupt::Store(other.to_string())),
        }
    }

    fn check(&self) -> Result<(), RunError> {
        if let Some(i) = self.interrupt() {
            return Err(RunError::Interrupted(i));
        }
        if let Some(i) = self.inner.stop.borrow().clone() {
            if i != Interrupt::WorkerStopping {
                return Err(self.interrupted(i));
            }
        }
        Ok(())
    }

    /// Resolves when the run must stop. Attempts in flight ignore a worker shutdown, so an
    /// effect that already began gets to record its result.
    async fn stopped(&self, ignore_shutdown: bool) -> Interrupt {
        let mut stop = self.inner.stop.clone();
        let got = stop
            .wait_for(|v| match v {
                Some(Interrupt::WorkerStopping) => !ignore_shutdown,
                Some(_) => true,
                None => false,
            })
            .await
            .map(|v| v.clone());
        match got {
            Ok(v) => v.unwrap_or(Interrupt::WorkerStopping),
            Err(_) => {
                // The worker dropped the sender: it is gone, so is this execution.
                futures::future::pending::<()>().await;
                Interrupt::WorkerStopping
            }
        }
    }

    async fn submit(&self, t: Transition, d: Durability) -> Result<Applied, RunError> {
        self.shared()
            .store
            .submit(t, d)
            .await
            .map_err(|e| self.store_failed(e))
    }

    /// Matches a requested step against the journal. A key the journal lacks while recorded
    /// steps are still unclaimed means the code no longer follows the recorded path.
    async fn lookup(&self, key: &StepKey, kind: StepKind) -> Result<Option<StepRecord>, RunError> {
        self.check()?;
        for round in 0..4 {
            {
                let mut j = self.inner.journal.lock().unwrap_or_else(|e| e.into_inner());
                if j.claimed.contains(key) {
                    return Err(self.interrupted(Interrupt::NonDeterministic(format!(
                        "step key '{key}' was asked for twice in one execution; keys must be unique within a run"
                    ))));
                }
                if let Some(rec) = j.recorded.get(key).cloned() {
                    if rec.kind != kind {
                        return Err(self.interrupted(Interrupt::NonDeterministic(format!(
                            "step '{key}' is recorded as a {} step but the code now asks for a {} step",
                            rec.kind, kind
                        ))));
                    }
                    j.claimed.insert(key.clone());
                    return Ok(Some(rec));
                }
                let unclaimed: Vec<String> = j
                    .recorded
                    .keys()
                    .filter(|k| !j.claimed.contains(*k))
                    .map(|k| k.to_string())
                    .collect();
                if unclaimed.is_empty() {
                    j.claimed.insert(key.clone());
                    return Ok(None);
                }
                if round == 3 {
                    let mut unclaimed = unclaimed;
                    unclaimed.sort();
                    return Err(self.interrupted(Interrupt::NonDeterministic(format!(
                        "the code asks for step '{key}', which the journal does not have, while recorded step(s) {} were never asked for",
                        unclaimed.join(", ")
                    ))));
                }
            }
            // Parallel siblings in a join claim their recorded keys on their first poll: let them.
            tokio::task::yield_now().await;
        }
        Ok(None)
    }

    /// Waits (durably recorded by the caller) until `at`, or until the run must stop.
    async fn wait_until(&self, at: Millis) -> Result<(), RunError> {
        tokio::select! {
            _ = self.shared().clock.sleep_until(at) => Ok(()),
            why = self.stopped(false) => Err(self.interrupted(why)),
        }
    }

    fn waiting_flag(&self) -> bool {
        self.inner
            .in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
            == 0
    }

    /// A durable timer: survives restarts; fires once.
    pub async fn sleep(&self, key: impl Into<StepKey>, duration: Duration) -> Result<(), RunError> {
        let at = crate::clock::after(self.now(), duration);
        self.sleep_until(key, at).await
    }

    pub async fn sleep_until(&self, key: impl Into<StepKey>, at: Millis) -> Result<(), RunError> {
        let key = key.into();
        let wake_at = match self.lookup(&key, StepKind::Sleep).await? {
            Some(rec) if rec.status == StepStatus::Succeeded => return Ok(()),
            Some(rec) => rec.wake_at.unwrap_or(at),
            None => {
                let t = Transition::OpenWait {
                    fence: self.inner.fence.clone(),
                    step: wait_step(
                        &key,
                        StepKind::Sleep,
                        json!({ "until": at }),
                        Some(at),
                        Value::Null,
                    ),
                    run_waiting: self.waiting_flag(),
                };
                self.submit(t, Durability::Durable).await?;
                at
            }
        };
        self.wait_until(wake_at).await?;
        let t = Transition::CompleteStep {
            fence: self.inner.fence.clone(),
            key,
            result: Ok(Value::Null),
        };
        self.submit(t, Durability::Durable).await?;
        Ok(())
    }

    /// Waits for an event named `name` whose payload contains `matcher` (a JSON subset).
    /// Events sent before the wait began count too. `Ok(None)` when the timeout passes first.
    pub async fn wait_for_event(
        &self,
        key: impl Into<StepKey>,
        name: &str,
        matcher: Value,
        timeout: Duration,
    ) -> Result<Option<Value>, RunError> {
        self.wait_event(key.into(), name, matcher, timeout, None)
            .await
    }

    /// [`RunContext::wait_for_event`] for a question put to a person: `about` (what is asked,
    /// by whom) is kept in the step's input, so a reader of the run sees the question.
    pub async fn ask(
        &self,
        key: impl Into<StepKey>,
        name: &str,
        matcher: Value,
        timeout: Duration,
        about: Value,
    ) -> Result<Option<Value>, RunError> {
        self.wait_event(key.into(), name, matcher, timeout, Some(about))
            .await
    }

    async fn wait_event(
        &self,
        key: StepKey,
        name: &str,
        matcher: Value,
        timeout: Duration,
        about: Option<Value>,
    ) -> Result<Option<Value>, RunError> {
        let timeout_at = match self.lookup(&key, StepKind::Event).await? {
            Some(rec) if rec.status == StepStatus::Succeeded => {
                return Ok(event_output(rec.output))
            }
            Some(rec) if rec.status == StepStatus::Failed => {
                return Err(RunError::Step(rec.error.unwrap_or_else(|| {
                    StepError::fatal("failed", "event wait failed")
                })))
            }
            Some(rec) => rec
                .wake_at
                .unwrap_or_else(|| crate::clock::after(self.now(), timeout)),
            None => {
                let at = crate::clock::after(self.now(), timeout);
                let meta = json!({ "name": name, "match": matcher, "timeout_ms": u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX) });
                let mut input = meta.clone();
                if let Some(about) = about {
                    input["about"] = about;
                }
                let t = Transition::OpenWait {
                    fence: self.inner.fence.clone(),
                    step: wait_step(&key, StepKind::Event, input, Some(at), meta),
                    run_waiting: self.waiting_flag(),
                };
                self.submit(t, Durability::Durable).await?;
                at
            }
        };
        // Registered before the first look, so an event sent in between still wakes this wait.
        let _watch = self.inner.shared.watch_events(name, self.inner.run_id);
        let mut wake = self.inner.wake.clone();
        loop {
            wake.borrow_and_update();
            let t = Transition::ConsumeEvent {
                fence: self.inner.fence.clone(),
                key: key.clone(),
                name: name.to_string(),
                matcher: matcher.clone(),
            };
            if let Applied::Consumed(Some((_, payload))) =
                self.submit(t, Durability::Durable).await?
            {
                return Ok(Some(payload));
            }
            tokio::select! {
                _ = wake.changed() => {}
                _ = self.shared().clock.sleep_until(timeout_at) => {
                    let t = Transition::CompleteStep {
                        fence: self.inner.fence.clone(),
                        key: key.clone(),
                        result: Ok(json!({ "timed_out": true })),
                    };
                    self.submit(t, Durability::Durable).await?;
                    return Ok(None);
                }
                why = self.stopped(false) => return Err(self.interrupted(why)),
            }
        }
    }

    /// Starts `function` as a durable child run and waits for its result. Its failure
    /// comes back as this step's error.
    pub async fn child(
        &self,
        key: impl Into<StepKey>,
        function: &str,
        input: Value,
    ) -> Result<Value, RunError> {
        let key = key.into();
        match self.lookup(&key, StepKind::Child).await? {
            Some(rec) if rec.status == StepStatus::Succeeded => {
                return Ok(rec.output.unwrap_or(Value::Null))
            }
            Some(rec) if rec.status == StepStatus::Failed => {
                return Err(RunError::Step(rec.error.unwrap_or_else(|| {
                    StepError::fatal("child_failed", "child run failed")
                })))
            }
            Some(_) => {}
            None => {
                let child_id = RunId::new();
                let child_input = input.clone();
                let shared = self.shared();
                let version = shared
                    .registry
                    .get(function)
                    .map(|f| f.version)
                    .unwrap_or(0);
                let t = Transition::StartChild {
                    fence: self.inner.fence.clone(),
                    step: wait_step(
                        &key,
                        StepKind::Child,
                        json!({ "function": function, "input": input }),
                        None,
                        json!({ "child_run_id": child_id }),
                    ),
                    child: NewRun {
                        id: child_id,
                        function: function.to_string(),
                        function_version: version,
                        input: child_input.clone(),
                        label: crate::registry::describe_run(
                            shared.registry.get(function).as_deref(),
                            function,
                            &child_input,
                        ),
                        idempotency_key: None,
                        parent: Some((self.inner.run_id, key.clone())),
                        deadline_at: None,
                        lease_to: Some((shared.id.clone(), shared.config.lease.as_millis() as i64)),
                        // A child runs where its parent does.
                        worker_label: None,
                    },
                    run_waiting: self.waiting_flag(),
                };
                self.submit(t, Durability::Durable).await?;
                let fresh = FreshRun {
                    function: function.to_string(),
                    version,
                    input: child_input,
                    deadline_at: None,
                };
                self.inner.shared.adopt_fresh(child_id, fresh);
            }
        }
        let mut wake = self.inner.wake.clone();
        loop {
            wake.borrow_and_update();
            let rec = self
                .shared()
                .store
                .step(self.inner.run_id, key.clone())
                .await
                .map_err(|e| self.store_failed(e))?;
            match rec {
                Some(r) if r.status == StepStatus::Succeeded => {
                    return Ok(r.output.unwrap_or(Value::Null))
                }
                Some(r) if r.status == StepStatus::Failed => {
                    return Err(RunError::Step(r.error.unwrap_or_else(|| {
                        StepError::fatal("child_failed", "child run failed")
                    })))
                }
                _ => {}
            }
            tokio::select! {
                _ = wake.changed() => {}
                why = self.stopped(false) => return Err(self.interrupted(why)),
            }
        }
    }

    /// Awaits several steps together (parallel tool calls). Each keeps its own key, so the
    /// order they finish in does not matter on replay.
    pub async fn join<F: Future>(&self, futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
        futures::future::join_all(futures).await
    }

    pub(crate) fn unclaimed(&self) -> Vec<StepKey> {
        let j = self.inner.journal.lock().unwrap_or_else(|e| e.into_inner());
        j.recorded
            .keys()
            .filter(|k| !j.claimed.contains(*k))
            .cloned()
            .collect()
    }
}

fn wait_step(
    key: &StepKey,
    kind: StepKind,
    input: Value,
    wake_at: Option<Millis>,
    meta: Value,
) -> NewStep {
    NewStep {
        progress: None,
        key: key.clone(),
        kind,
        safety: SafetyClass::RetrySafe,
        name: None,
        input,
        deadline_at: None,
        wake_at,
        meta,
    }
}

fn event_output(output: Option<Value>) -> Option<Value> {
    let output = output?;
    if output.get("timed_out").and_then(Value::as_bool) == Some(true) {
        return None;
    }
    output.get("payload").cloned()
}
