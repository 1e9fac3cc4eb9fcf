//! One watched folder: its connection, its cursor, and what it does with each new message.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, watch, Notify};
use waymark_mail::{parse_message, FolderState, IdleOutcome, ImapSession, MessageLimits};

use super::{
    Board, EmailEvent, FolderStatus, WatchState, Watching, AUTH_BACKOFF, FIRST_BACKOFF,
    MAX_BACKOFF, MAX_IDLE, NETWORK_TIMEOUT,
};
use crate::app::AgentApp;
use crate::email::EmailRunInput;

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

pub(super) struct FolderWatch {
    pub(super) app: AgentApp,
    pub(super) account: String,
    pub(super) folder: String,
    pub(super) agents: watch::Receiver<Arc<Vec<Watching>>>,
    pub(super) stop: watch::Receiver<bool>,
    pub(super) wake: Arc<Notify>,
    pub(super) board: Board,
    pub(super) events: broadcast::Sender<EmailEvent>,
    pub(super) limits: MessageLimits,
    pub(super) persisted_at: Mutex<i64>,
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

    pub(super) async fn run(mut self) {
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
