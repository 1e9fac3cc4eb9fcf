//! The cron scheduler: one task per process that starts saved agents on their schedules.

use std::collections::HashSet;
use std::time::Duration;

use futures::future::{self, BoxFuture, FutureExt};
use serde_json::json;
use tokio::sync::{broadcast, watch, Notify};
use tokio::task::JoinHandle;
use waymark_engine::{Millis, RunId};

use std::sync::Arc;

use super::schedule::CronSchedule;
use super::state::TriggerStore;
use super::TriggerError;
use crate::app::AgentApp;
use crate::spec::{AgentSpec, Trigger};

/// How often (in real time) the scheduler re-reads the catalog for agents added, changed or
/// removed, besides waking for a tick or [`CronScheduler::reload`].
pub const POLL_INTERVAL: Duration = Duration::from_secs(30);

/// What the scheduler did, for whoever listens (logs, the UI, tests).
#[derive(Clone, Debug, PartialEq)]
pub enum CronEvent {
    /// A tick started `run` (or found the run another process had started for it).
    Fired {
        agent: String,
        scheduled_ms: Millis,
        run: RunId,
    },
    /// A trigger could not be evaluated or its run could not start. A tick whose run failed
    /// to start is recorded all the same: it is skipped, not retried in a tight loop.
    Failed {
        agent: String,
        scheduled_ms: Option<Millis>,
        error: String,
    },
    /// Done for now: sleeping until the next tick (`None`: no schedule ahead), a reload or
    /// the next poll.
    Waiting { until_ms: Option<Millis> },
}

/// The idempotency key of a cron tick's run.
pub fn cron_run_key(agent: &str, scheduled_ms: Millis) -> String {
    format!("cron:{agent}:{scheduled_ms}")
}

/// The input text of a cron tick's run: one line of JSON,
/// `{"trigger":"cron","schedule":…,"timezone":…,"scheduled_at":"<RFC 3339>"}`, the time in
/// the schedule's zone.
pub fn cron_run_input(schedule: &str, sched: &CronSchedule, scheduled_ms: Millis) -> String {
    json!({
        "trigger": "cron",
        "schedule": schedule,
        "timezone": sched.time_zone().name(),
        "scheduled_at": sched.rfc3339(scheduled_ms),
    })
    .to_string()
}

/// Fires saved agents' cron triggers until stopped. Dropping it stops it too.
pub struct CronScheduler {
    stop: watch::Sender<bool>,
    reload: Arc<Notify>,
    events: broadcast::Sender<CronEvent>,
    task: Option<JoinHandle<()>>,
}

impl CronScheduler {
    /// Starts the scheduler over `app`, on `app.engine`'s clock.
    pub fn spawn(app: AgentApp) -> Result<Self, TriggerError> {
        Ok(Self::spawn_with_events(app)?.0)
    }

    /// [`CronScheduler::spawn`], with a receiver subscribed before the first pass, so it
    /// misses nothing.
    pub fn spawn_with_events(
        app: AgentApp,
    ) -> Result<(Self, broadcast::Receiver<CronEvent>), TriggerError> {
        let store = app.triggers.clone();
        let (stop, stop_rx) = watch::channel(false);
        let reload = Arc::new(Notify::new());
        let (events, rx) = broadcast::channel(256);
        let task = tokio::spawn(run(app, store, stop_rx, reload.clone(), events.clone()));
        let scheduler = CronScheduler {
            stop,
            reload,
            events,
            task: Some(task),
        };
        Ok((scheduler, rx))
    }

    pub fn subscribe(&self) -> broadcast::Receiver<CronEvent> {
        self.events.subscribe()
    }

    /// Re-reads the catalog now (after saving or deleting an agent).
    pub fn reload(&self) {
        self.reload.notify_one();
    }

    /// Stops the scheduler and waits for its task to end (a run being started finishes
    /// starting first).
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for CronScheduler {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn run(
    app: AgentApp,
    store: TriggerStore,
    mut stop: watch::Receiver<bool>,
    reload: Arc<Notify>,
    events: broadcast::Sender<CronEvent>,
) {
    let clock = app.engine.clock().clone();
    loop {
        if *stop.borrow() {
            return;
        }
        let now = clock.now_ms();
        let next = match pass(&app, &store, now, &events).await {
            Ok(next) => next,
            Err(e) => {
                let _ = events.send(CronEvent::Failed {
                    agent: String::new(),
                    scheduled_ms: None,
                    error: e.to_string(),
                });
                None
            }
        };
        // The sleep is registered with the clock before `Waiting` goes out, so a listener
        // that moves a test clock on `Waiting` always wakes this task.
        let tick: BoxFuture<'static, ()> = match next {
            Some(at) => clock.sleep_until(at),
            None => future::pending().boxed(),
        };
        let _ = events.send(CronEvent::Waiting { until_ms: next });
        tokio::select! {
            _ = tick => {}
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
            _ = reload.notified() => {}
            changed = stop.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// One look at every saved agent: fires the ticks due at `now`, and returns the earliest tick
/// ahead.
async fn pass(
    app: &AgentApp,
    store: &TriggerStore,
    now: Millis,
    events: &broadcast::Sender<CronEvent>,
) -> Result<Option<Millis>, TriggerError> {
    let agents = app
        .catalog
        .current_agents()
        .map_err(|e| TriggerError::Invalid {
            what: e.to_string(),
        })?;
    let mut keep = HashSet::new();
    let mut earliest: Option<Millis> = None;
    for (name, spec) in agents {
        let spec = match spec {
            Ok(spec) => spec,
            Err(e) => {
                let _ = events.send(CronEvent::Failed {
                    agent: name,
                    scheduled_ms: None,
                    error: e.to_string(),
                });
                continue;
            }
        };
        for trigger in &spec.triggers {
            let Trigger::Cron { schedule, timezone } = trigger else {
                continue;
            };
            let key = trigger_key(schedule, timezone.as_deref());
            if !keep.insert((spec.name.clone(), key.clone())) {
                continue;
            }
            let sched = match CronSchedule::parse(schedule, timezone.as_deref()) {
                Ok(s) => s,
                Err(e) => {
                    let _ = events.send(CronEvent::Failed {
                        agent: spec.name.clone(),
                        scheduled_ms: None,
                        error: format!("schedule {schedule:?}: {e}"),
                    });
                    continue;
                }
            };
            let last = store.last_fire(&spec.name, &key, now)?;
            // Only the latest missed tick: a scheduler that was down for a day fires once.
            if let Some(due) = sched.latest_at_or_before(now).filter(|d| *d > last) {
                fire(app, &spec, schedule, &sched, due, events).await;
                store.record_fire(&spec.name, &key, due, now)?;
            }
            if let Some(next) = sched.next_after(now.max(last)) {
                earliest = Some(earliest.map_or(next, |e| e.min(next)));
            }
        }
    }
    store.retain(&keep)?;
    Ok(earliest)
}

async fn fire(
    app: &AgentApp,
    spec: &AgentSpec,
    schedule: &str,
    sched: &CronSchedule,
    due: Millis,
    events: &broadcast::Sender<CronEvent>,
) {
    let input = cron_run_input(schedule, sched, due);
    let key = cron_run_key(&spec.name, due);
    let event = match app
        .runtime
        .start_run(&app.engine, spec, &input, Some(key))
        .await
    {
        Ok(run) => CronEvent::Fired {
            agent: spec.name.clone(),
            scheduled_ms: due,
            run,
        },
        Err(e) => CronEvent::Failed {
            agent: spec.name.clone(),
            scheduled_ms: Some(due),
            error: e.to_string(),
        },
    };
    let _ = events.send(event);
}

/// A cron trigger's identity within its agent: a changed schedule or zone is a new trigger,
/// with no missed ticks of its own.
fn trigger_key(schedule: &str, timezone: Option<&str>) -> String {
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    format!("cron:{}@{}", fields.join(" "), timezone.unwrap_or("UTC"))
}
