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
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, watch, Notify};
use tokio::task::JoinHandle;
use waymark_engine::RunId;
use waymark_mail::{parse_message, FolderState, IdleOutcome, ImapSession, MessageLimits};

use crate::app::AgentApp;
use crate::email::EmailRunInput;
use crate::spec::{AgentSpec, EmailTrigger};

/// How often the watcher list is compared with the saved agents when nothing says so sooner
/// (another process may have saved one).
const RELOAD_INTERVAL: Duration = Duration::from_secs(5);
const NETWORK_TIMEOUT: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// After a refused sign-in: trying again at once would only be refused again (and may lock
/// the account). A changed account wakes the watcher sooner.
const AUTH_BACKOFF: Duration = Duration::from_secs(300);
/// IMAP servers drop an IDLE after 30 minutes; renew before.
const MAX_IDLE: Duration = Duration::from_secs(25 * 60);

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

type Board = Arc<Mutex<HashMap<(String, String), FolderStatus>>>;

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
struct Watching {
    spec: Arc<AgentSpec>,
    trigger: EmailTrigger,
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
        let wanted = match load(&app).await {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "email triggers: the agents could not be read");
                None
            }
        };
        if let Some(wanted) = wanted {
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
                                && old.iter().zip(&agents).all(|(a, b)| {
                                    a.spec.content_hash() == b.spec.content_hash()
                                        && a.trigger == b.trigger
                                });
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
async fn load(app: &AgentApp) -> Result<Option<Wanted>, String> {
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
    Ok(Some(wanted))
}

/// Where a folder was read up to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    uid_validity: u32,
    last_uid: u32,
}

fn cursor_key(account: &str, folder: &str) -> String {
    format!("mail_cursor:{account}:{folder}")
}

fn status_key(account: &str, folder: &str) -> String {
    format!("mail_status:{account}:{folder}")
}

/// The status a watcher (perhaps in another process) last wrote for a folder.
pub fn stored_folder_status(
    settings: &dyn crate::stores::SettingsStore,
    account: &str,
    folder: &str,
) -> Option<FolderStatus> {
    let text = settings.app_setting(&status_key(account, folder)).ok()??;
    serde_json::from_str(&text).ok()
}

/// The idempotency key of `agent`'s run for a message: by Message-ID when it has one (a copy
/// delivered again, or to another folder, starts nothing), else by its place.
pub fn email_run_key(agent: &str, message_id: Option<&str>, place: &str) -> String {
    let basis = match message_id {
        Some(id) => format!("mid:{id}"),
        None => format!("uid:{place}"),
    };
    let digest = Sha256::digest(basis.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("email:{agent}:{hex}")
}

enum WatchError {
    /// Signing in was refused: wait long, not in a loop.
    Auth(String),
    Other(String),
}

struct FolderWatch {
    app: AgentApp,
    account: String,
    folder: String,
    agents: watch::Receiver<Arc<Vec<Watching>>>,
    stop: watch::Receiver<bool>,
    wake: Arc<Notify>,
    board: Board,
    events: broadcast::Sender<EmailEvent>,
    limits: MessageLimits,
    persisted_at: Mutex<i64>,
}

impl FolderWatch {
    /// Changes the folder's status; a changed state or error (or a minute gone by) is also
    /// written to the settings store, so another process (`waymark triggers status`) sees it.
    fn update(&self, f: impl FnOnce(&mut FolderStatus)) {
        let snapshot = {
            let mut board = self.board.lock().unwrap_or_else(|e| e.into_inner());
            let Some(s) = board.get_mut(&(self.account.clone(), self.folder.clone())) else {
                return;
            };
            let before = (s.state, s.last_error.clone());
            f(s);
            let now = crate::catalog::now_ms();
            let mut last = self.persisted_at.lock().unwrap_or_else(|e| e.into_inner());
            if before != (s.state, s.last_error.clone()) || now.saturating_sub(*last) > 60_000 {
                *last = now;
                Some(s.clone())
            } else {
                None
            }
        };
        if let Some(status) = snapshot {
            let settings = self.app.catalog.stores().settings.clone();
            let key = status_key(&self.account, &self.folder);
            let Ok(text) = serde_json::to_string(&status) else {
                return;
            };
            // Best effort: the live status is in memory; this copy is for other processes.
            tokio::task::spawn_blocking(move || {
                let _ = settings.set_app_setting(&key, Some(&text), crate::catalog::now_ms());
            });
        }
    }

    fn fail(&self, error: String) {
        let now = crate::catalog::now_ms();
        tracing::warn!(account = %self.account, folder = %self.folder, %error, "email trigger");
        self.update(|s| {
            s.last_error = Some(error.clone());
            s.last_error_ms = Some(now);
        });
        let _ = self.events.send(EmailEvent::Failed {
            account: self.account.clone(),
            folder: self.folder.clone(),
            error,
        });
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    async fn run(mut self) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            if self.stopped() {
                return;
            }
            self.update(|s| s.state = WatchState::Connecting);
            let wait = match self.session(&mut backoff).await {
                Ok(()) => return,
                Err(WatchError::Auth(e)) => {
                    self.fail(e);
                    AUTH_BACKOFF
                }
                Err(WatchError::Other(e)) => {
                    self.fail(e);
                    let wait = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    wait
                }
            };
            self.update(|s| s.state = WatchState::Error);
            let mut stop = self.stop.clone();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// One connection: read what is new, wait, again; `Ok` when told to stop.
    async fn session(&mut self, backoff: &mut Duration) -> Result<(), WatchError> {
        let (account, credential) =
            self.app
                .catalog
                .mail_login(&self.account)
                .await
                .map_err(|e| match e {
                    crate::catalog::mail::CredentialError::Mail(m) if !m.is_retryable() => {
                        WatchError::Auth(m.to_string())
                    }
                    e if e.is_transient() => WatchError::Other(e.to_string()),
                    e => WatchError::Auth(e.to_string()),
                })?;
        let mail_error = |e: waymark_mail::MailError| {
            let text = crate::redact::scrub(&e.to_string());
            if e.kind() == "auth" {
                WatchError::Auth(text)
            } else {
                WatchError::Other(text)
            }
        };
        let mut imap = ImapSession::connect(&account.imap, &credential, NETWORK_TIMEOUT)
            .await
            .map_err(mail_error)?;
        let state = imap.select(&self.folder).await.map_err(mail_error)?;
        *backoff = FIRST_BACKOFF;
        let idle = imap.supports_idle();
        self.update(|s| {
            s.state = if idle {
                WatchState::Idle
            } else {
                WatchState::Polling
            };
            s.last_error = None;
        });
        let mut cursor = self.start_cursor(&mut imap, &state).await?;
        loop {
            let uids = imap.uids_after(cursor.last_uid).await.map_err(mail_error)?;
            for uid in uids {
                self.handle(&mut imap, cursor.uid_validity, uid)
                    .await
                    .map_err(|e| match e {
                        HandleError::Mail(m) => mail_error(m),
                        HandleError::Other(s) => WatchError::Other(s),
                    })?;
                cursor.last_uid = uid;
                self.save_cursor(cursor).await?;
            }
            let now = crate::catalog::now_ms();
            self.update(|s| s.last_checked_ms = Some(now));
            let _ = self.events.send(EmailEvent::Checked {
                account: self.account.clone(),
                folder: self.folder.clone(),
            });
            let poll = Duration::from_secs(
                self.agents
                    .borrow()
                    .iter()
                    .map(|w| w.trigger.poll_secs())
                    .min()
                    .unwrap_or(crate::spec::DEFAULT_POLL_SECS),
            );
            let mut stop = self.stop.clone();
            if idle {
                let stop_signal = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                let (session, outcome) = imap
                    .idle(poll.min(MAX_IDLE), stop_signal)
                    .await
                    .map_err(mail_error)?;
                imap = session;
                if outcome == IdleOutcome::Stopped {
                    imap.logout().await;
                    return Ok(());
                }
            } else {
                // A changed agent (another interval, a new filter) is read at once.
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = stop.wait_for(|s| *s) => {}
                    _ = self.agents.changed() => {}
                }
            }
            if self.stopped() {
                imap.logout().await;
                return Ok(());
            }
        }
    }

    /// The stored cursor; a folder seen for the first time (or renumbered: a new
    /// UIDVALIDITY) starts after its last message, so old mail starts nothing.
    async fn start_cursor(
        &self,
        imap: &mut ImapSession,
        state: &FolderState,
    ) -> Result<Cursor, WatchError> {
        let settings = self.app.catalog.stores().settings.clone();
        let key = cursor_key(&self.account, &self.folder);
        let stored = tokio::task::spawn_blocking(move || settings.app_setting(&key))
            .await
            .map_err(|e| WatchError::Other(e.to_string()))?
            .map_err(|e| WatchError::Other(format!("the folder's cursor: {e}")))?
            .and_then(|text| serde_json::from_str::<Cursor>(&text).ok());
        if let Some(c) = stored.filter(|c| c.uid_validity == state.uid_validity) {
            return Ok(c);
        }
        let last_uid = match state.uid_next {
            Some(next) => next.saturating_sub(1),
            None => imap
                .uids_after(0)
                .await
                .map_err(|e| WatchError::Other(e.to_string()))?
                .last()
                .copied()
                .unwrap_or(0),
        };
        let cursor = Cursor {
            uid_validity: state.uid_validity,
            last_uid,
        };
        self.save_cursor(cursor).await?;
        Ok(cursor)
    }

    async fn save_cursor(&self, cursor: Cursor) -> Result<(), WatchError> {
        let settings = self.app.catalog.stores().settings.clone();
        let key = cursor_key(&self.account, &self.folder);
        let text = serde_json::to_string(&cursor).map_err(|e| WatchError::Other(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            settings.set_app_setting(&key, Some(&text), crate::catalog::now_ms())
        })
        .await
        .map_err(|e| WatchError::Other(e.to_string()))?
        .map_err(|e| WatchError::Other(format!("saving the folder's cursor: {e}")))
    }

    /// One new message: a run per matching agent, then what the triggers say to do with it.
    /// A message over a limit or unreadable is reported on the trigger and skipped.
    async fn handle(
        &self,
        imap: &mut ImapSession,
        uid_validity: u32,
        uid: u32,
    ) -> Result<(), HandleError> {
        let Some(fetched) = imap.fetch(uid, self.limits.max_bytes).await? else {
            return Ok(());
        };
        let Some(raw) = fetched.raw else {
            self.fail(format!(
                "message UID {uid} in {} is {} bytes, over the {}-byte limit: it starts no run",
                self.folder, fetched.size, self.limits.max_bytes
            ));
            return Ok(());
        };
        let email = match parse_message(&raw, &self.limits) {
            Ok(email) => email,
            Err(e) => {
                self.fail(format!(
                    "message UID {uid} in {}: {e}; it starts no run",
                    self.folder
                ));
                return Ok(());
            }
        };
        let sender = email
            .from
            .first()
            .map(|a| a.email.clone())
            .unwrap_or_default();
        let place = format!("{}/{}/{uid_validity}/{uid}", self.account, self.folder);
        let agents = self.agents.borrow().clone();
        let input = EmailRunInput::new(&self.account, &self.folder, email.clone()).to_input();
        let (mut mark_seen, mut move_to) = (false, None);
        for w in agents.iter() {
            // The agent as saved now: the list above may be a few seconds old (an agent saved
            // since, with other filters or actions, is taken as it is now).
            let catalog = self.app.catalog.clone();
            let name = w.spec.name.clone();
            let current = tokio::task::spawn_blocking(move || catalog.agent(&name))
                .await
                .map_err(|e| HandleError::Other(e.to_string()))?
                .map_err(|e| HandleError::Other(format!("reading {}: {e}", w.spec.name)))?;
            let Some(spec) = current else {
                continue;
            };
            let Some(trigger) = spec
                .triggers
                .iter()
                .filter_map(|t| t.email())
                .find(|t| t.account == self.account && t.folder == self.folder)
                .cloned()
            else {
                continue;
            };
            if !trigger.matches(&sender, &email.subject, fetched.seen) {
                continue;
            }
            let key = email_run_key(&spec.name, email.message_id.as_deref(), &place);
            let run = self
                .app
                .runtime
                .start_run(&self.app.engine, &spec, &input, Some(key))
                .await
                .map_err(|e| HandleError::Other(format!("starting {}: {e}", w.spec.name)))?;
            mark_seen |= trigger.mark_seen;
            if move_to.is_none() {
                move_to = trigger.move_to;
            }
            let now = crate::catalog::now_ms();
            self.update(|s| {
                s.runs_started += 1;
                s.last_message_ms = Some(now);
            });
            let _ = self.events.send(EmailEvent::Started {
                agent: w.spec.name.clone(),
                run,
                uid,
            });
        }
        if mark_seen {
            imap.mark_seen(uid).await?;
        }
        if let Some(folder) = move_to {
            imap.move_to(uid, &folder).await?;
        }
        Ok(())
    }
}

enum HandleError {
    Mail(waymark_mail::MailError),
    Other(String),
}

impl From<waymark_mail::MailError> for HandleError {
    fn from(e: waymark_mail::MailError) -> Self {
        HandleError::Mail(e)
    }
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
