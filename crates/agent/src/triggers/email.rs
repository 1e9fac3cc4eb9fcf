//! Email triggers: one watcher per (account, folder), whatever the number of agents watching
//! it. A watcher signs in, reads what arrived after the folder's cursor, starts one run per
//! matching agent and message, then waits with IDLE (or polls when the server has none).
//!
//! Exactly one run per message and agent, across restarts and reconnects:
//! - a run's idempotency key is the agent and the message's Message-ID (or, without one, the
//!   account, folder, UIDVALIDITY and UID), so a redelivered copy starts nothing;
//! - the cursor (UIDVALIDITY, last UID read) is stored after each message, so what arrived
//!   while Waymark was closed is read at the next start, and a message read again after a
//!   crash finds its run already started.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch, Notify};
use tokio::task::JoinHandle;
use waymark_engine::RunId;
use waymark_mail::MessageLimits;

use crate::app::AgentApp;
use crate::spec::{AgentSpec, EmailTrigger};

mod folder;

use folder::FolderWatch;
pub use folder::{email_run_key, stored_folder_status};

/// How often the watcher list is compared with the saved agents when nothing says so sooner
/// (another process may have saved one).
const RELOAD_INTERVAL: Duration = Duration::from_secs(5);
pub(super) const NETWORK_TIMEOUT: Duration = Duration::from_secs(30);
pub(super) const FIRST_BACKOFF: Duration = Duration::from_secs(1);
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// After a refused sign-in: trying again at once would only be refused again (and may lock
/// the account). A changed account wakes the watcher sooner.
pub(super) const AUTH_BACKOFF: Duration = Duration::from_secs(300);
/// IMAP servers drop an IDLE after 30 minutes; renew before.
pub(super) const MAX_IDLE: Duration = Duration::from_secs(25 * 60);

/// What a folder's watcher is doing.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum WatchState {
    Connecting,
    /// Connected; the server says when mail arrives (IDLE).
    Idle,
    /// Connected; the server has no IDLE, so the folder is read every `poll_secs`.
    Polling,
    /// Not connected: `last_error` says why; it tries again by itself.
    Error,
}

/// One watched folder, for the Settings page, `waymark triggers status` and the API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct FolderStatus {
    pub account: String,
    pub folder: String,
    /// The agents whose triggers watch it.
    pub agents: Vec<String>,
    pub state: WatchState,
    pub last_checked_ms: Option<i64>,
    pub last_message_ms: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_ms: Option<i64>,
    pub runs_started: u64,
}

/// What the watchers did, for tests and logs.
#[derive(Clone, Debug, PartialEq)]
pub enum EmailEvent {
    Started {
        agent: String,
        run: RunId,
        uid: u32,
    },
    /// A message that starts nothing (over a limit, unreadable), or a watcher's error.
    Failed {
        account: String,
        folder: String,
        error: String,
    },
    /// A folder was read to its end.
    Checked {
        account: String,
        folder: String,
    },
}

pub(super) type Board = Arc<Mutex<HashMap<(String, String), FolderStatus>>>;

/// Watches every folder saved agents' email triggers name. Dropping it stops it.
pub struct EmailWatcher {
    stop: watch::Sender<bool>,
    reload: Arc<Notify>,
    board: Board,
    events: broadcast::Sender<EmailEvent>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Caps on what a message may be before it starts a run.
#[derive(Clone, Debug, Default)]
pub struct EmailWatchOptions {
    pub limits: MessageLimits,
}

impl EmailWatcher {
    pub fn spawn(app: AgentApp, options: EmailWatchOptions) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let reload = Arc::new(Notify::new());
        let board: Board = Arc::default();
        let (events, _) = broadcast::channel(1024);
        let task = tokio::spawn(supervise(
            app,
            options,
            stop_rx,
            reload.clone(),
            board.clone(),
            events.clone(),
        ));
        EmailWatcher {
            stop,
            reload,
            board,
            events,
            task: Mutex::new(Some(task)),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EmailEvent> {
        self.events.subscribe()
    }

    /// Re-reads the agents and accounts now (after a change).
    pub fn reload(&self) {
        self.reload.notify_one();
    }

    /// Every watched folder, by account then folder.
    pub fn status(&self) -> Vec<FolderStatus> {
        let board = self.board.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<FolderStatus> = board.values().cloned().collect();
        out.sort_by(|a, b| (&a.account, &a.folder).cmp(&(&b.account, &b.folder)));
        out
    }

    /// Stops every watcher (an IDLE is ended, the connection logged out) and waits for them.
    pub async fn stop(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for EmailWatcher {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
}

/// An agent watching a folder, with its trigger's terms.
#[derive(Clone)]
pub(super) struct Watching {
    pub(super) spec: Arc<AgentSpec>,
    pub(super) trigger: EmailTrigger,
}

struct FolderTask {
    agents: watch::Sender<Arc<Vec<Watching>>>,
    wake: Arc<Notify>,
    handle: JoinHandle<()>,
}

async fn supervise(
    app: AgentApp,
    options: EmailWatchOptions,
    mut stop: watch::Receiver<bool>,
    reload: Arc<Notify>,
    board: Board,
    events: broadcast::Sender<EmailEvent>,
) {
    let mut tasks: HashMap<(String, String), FolderTask> = HashMap::new();
    let mut generation = None;
    loop {
        let wanted = load(&app).await.map_err(|e| {
            tracing::warn!(error = %e, "email triggers: the agents could not be read");
        });
        if let Ok(wanted) = wanted {
            let changed = generation != Some(app.catalog.generation());
            generation = Some(app.catalog.generation());
            tasks.retain(|key, task| {
                let keep = wanted.contains_key(key);
                if !keep {
                    task.handle.abort();
                    board.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
                }
                keep
            });
            for (key, agents) in wanted {
                let names: Vec<String> = agents.iter().map(|w| w.spec.name.clone()).collect();
                match tasks.get(&key) {
                    Some(task) => {
                        task.agents.send_if_modified(|old| {
                            let same = old.len() == agents.len()
                                && old
                                    .iter()
                                    .zip(&agents)
                                    .all(|(a, b)| a.spec == b.spec && a.trigger == b.trigger);
                            if !same {
                                *old = Arc::new(agents.clone());
                            }
                            !same
                        });
                        if changed {
                            // An account may have changed: a watcher waiting out an error
                            // tries again now.
                            task.wake.notify_one();
                        }
                    }
                    None => {
                        let (tx, rx) = watch::channel(Arc::new(agents));
                        let wake = Arc::new(Notify::new());
                        board.lock().unwrap_or_else(|e| e.into_inner()).insert(
                            key.clone(),
                            FolderStatus {
                                account: key.0.clone(),
                                folder: key.1.clone(),
                                agents: Vec::new(),
                                state: WatchState::Connecting,
                                last_checked_ms: None,
                                last_message_ms: None,
                                last_error: None,
                                last_error_ms: None,
                                runs_started: 0,
                            },
                        );
                        let folder = FolderWatch {
                            app: app.clone(),
                            account: key.0.clone(),
                            folder: key.1.clone(),
                            agents: rx,
                            stop: stop.clone(),
                            wake: wake.clone(),
                            board: board.clone(),
                            events: events.clone(),
                            limits: options.limits.clone(),
                            persisted_at: Mutex::new(0),
                        };
                        let handle = tokio::spawn(folder.run());
                        tasks.insert(
                            key.clone(),
                            FolderTask {
                                agents: tx,
                                wake,
                                handle,
                            },
                        );
                    }
                }
                if let Some(status) = board
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_mut(&key)
                {
                    status.agents = names;
                }
            }
        }
        tokio::select! {
            _ = reload.notified() => {}
            _ = tokio::time::sleep(RELOAD_INTERVAL) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            // Each watcher sees the stop too and logs out; wait for them.
            for (_, task) in tasks.drain() {
                task.wake.notify_one();
                let _ = task.handle.await;
            }
            return;
        }
    }
}

type Wanted = HashMap<(String, String), Vec<Watching>>;

/// The folders saved agents watch, with their agents (sorted by name).
async fn load(app: &AgentApp) -> Result<Wanted, String> {
    let catalog = app.catalog.clone();
    let agents = tokio::task::spawn_blocking(move || catalog.current_agents())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let mut wanted: Wanted = HashMap::new();
    for (name, spec) in agents {
        let spec = match spec {
            Ok(spec) => Arc::new(spec),
            Err(e) => {
                tracing::warn!(agent = %name, error = %e, "agent skipped by email triggers");
                continue;
            }
        };
        for trigger in spec.triggers.iter().filter_map(|t| t.email()) {
            wanted
                .entry((trigger.account.clone(), trigger.folder.clone()))
                .or_default()
                .push(Watching {
                    spec: spec.clone(),
                    trigger: trigger.clone(),
                });
        }
    }
    for list in wanted.values_mut() {
        list.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
    }
    Ok(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_keys_follow_the_message_id_and_stay_short() {
        let a = email_run_key("lead", Some("<m1@acme.test>"), "sales/INBOX/1/7");
        let b = email_run_key("lead", Some("<m1@acme.test>"), "sales/Other/9/1");
        assert_eq!(a, b, "a copy in another folder is the same message");
        assert_ne!(a, email_run_key("other", Some("<m1@acme.test>"), "x"));
        let huge = "x".repeat(100_000);
        assert!(email_run_key("lead", Some(&huge), "p").len() < 80);
        assert_ne!(
            email_run_key("lead", None, "sales/INBOX/1/7"),
            email_run_key("lead", None, "sales/INBOX/1/8")
        );
    }
}
