//! One configured server's life: connected lazily (concurrent first uses share one attempt),
//! reconnected after a crash with exponential backoff, its calls bounded by a semaphore.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, Semaphore};
use tokio::time::Instant;

use super::connection::{Connection, OpenContext, OpenError};
use super::oauth::OAuthBroker;
use super::stderr_tail::StderrTail;
use super::{McpServerDef, ServerStatus};

/// First wait after a failure; it doubles with each failure in a row, up to [`BACKOFF_MAX`].
pub(crate) const BACKOFF_START: Duration = Duration::from_millis(200);
pub(crate) const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// A server that takes longer than this to start and answer `initialize` has failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) struct ServerSlot {
    pub(crate) def: McpServerDef,
    pub(crate) calls: Arc<Semaphore>,
    pub(crate) max_calls: usize,
    pub(crate) tail: StderrTail,
    pub(crate) broker: Arc<OAuthBroker>,
    /// A saved server's tokens go to the keychain; a tried one's stay in memory.
    pub(crate) persist_tokens: bool,
    pub(crate) elicitation: super::ElicitationPolicy,
    /// Held while connecting, so concurrent first uses wait for one attempt.
    state: Mutex<SlotState>,
    /// What `status` (a sync fn) reports, updated with `state`.
    snapshot: std::sync::Mutex<Snapshot>,
}

#[derive(Default)]
struct SlotState {
    conn: Option<Arc<Connection>>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<String>,
}

#[derive(Clone)]
enum Snapshot {
    Idle,
    Connected(Arc<Connection>),
    Failed { error: String, retry_at: Instant },
}

/// Why no connection could be had.
pub(crate) enum SlotError {
    /// The attempt failed, or the server is in backoff past the caller's deadline.
    Connect(String),
    /// The server wants a sign-in first (no retry helps until someone signs in).
    SignIn(String),
    /// The caller's deadline passed while connecting.
    Deadline,
}

impl ServerSlot {
    pub(crate) fn new(
        def: McpServerDef,
        max_calls: usize,
        broker: Arc<OAuthBroker>,
        persist_tokens: bool,
        elicitation: super::ElicitationPolicy,
    ) -> Self {
        let max_calls = max_calls.max(1);
        Self {
            def,
            calls: Arc::new(Semaphore::new(max_calls)),
            max_calls,
            tail: StderrTail::default(),
            broker,
            persist_tokens,
            elicitation,
            state: Mutex::new(SlotState::default()),
            snapshot: std::sync::Mutex::new(Snapshot::Idle),
        }
    }

    /// The live connection, connecting (after any backoff) if there is none.
    pub(crate) async fn connection(
        &self,
        deadline: Option<Instant>,
    ) -> Result<Arc<Connection>, SlotError> {
        loop {
            let mut state = self.state.lock().await;
            if let Some(conn) = &state.conn {
                if !conn.is_closed() {
                    return Ok(conn.clone());
                }
                let conn = conn.clone();
                self.record_failure(&mut state, "the server closed the connection".into());
                drop(state);
                conn.close().await;
                continue;
            }
            if let Some(retry_at) = state.retry_at.filter(|at| *at > Instant::now()) {
                let error = state.last_error.clone().unwrap_or_default();
                drop(state);
                if deadline.is_some_and(|d| d < retry_at) {
                    // Waiting could not help: the retry comes after the caller gives up.
                    let ms = retry_at
                        .saturating_duration_since(Instant::now())
                        .as_millis();
                    return Err(SlotError::Connect(format!(
                        "{error} (next attempt in {ms} ms)"
                    )));
                }
                tokio::time::sleep_until(retry_at).await;
                continue;
            }
            let limit = Instant::now() + CONNECT_TIMEOUT;
            let until = deadline.map_or(limit, |d| d.min(limit));
            let auth = OpenContext {
                broker: &self.broker,
                persist: self.persist_tokens,
                elicitation: self.elicitation,
            };
            let opened = Connection::open(&self.def, &self.tail, auth);
            return match tokio::time::timeout_at(until, opened).await {
                Ok(Ok(conn)) => {
                    let conn = Arc::new(conn);
                    state.conn = Some(conn.clone());
                    // A healthy connection ends the series: its crash waits the first step again.
                    state.failures = 0;
                    state.retry_at = None;
                    state.last_error = None;
                    self.set_snapshot(Snapshot::Connected(conn.clone()));
                    Ok(conn)
                }
                Ok(Err(OpenError::Failed(error))) => {
                    self.record_failure(&mut state, error.clone());
                    Err(SlotError::Connect(error))
                }
                Ok(Err(OpenError::SignIn(needed))) => {
                    // No backoff: nothing changes until someone signs in, and then the next
                    // use should connect at once.
                    self.set_snapshot(Snapshot::Failed {
                        error: needed.reason.clone(),
                        retry_at: Instant::now(),
                    });
                    Err(SlotError::SignIn(needed.reason))
                }
                Err(_) if until == limit => {
                    let error = format!(
                        "no answer to initialize within {} s",
                        CONNECT_TIMEOUT.as_secs()
                    );
                    self.record_failure(&mut state, error.clone());
                    Err(SlotError::Connect(error))
                }
                // The caller's own deadline says nothing about the server.
                Err(_) => Err(SlotError::Deadline),
            };
        }
    }

    /// A call found `conn` dead (the process exited, the transport closed): forget it, and
    /// make the next use reconnect after the backoff.
    pub(crate) async fn connection_lost(&self, conn: &Arc<Connection>, error: String) {
        let mut state = self.state.lock().await;
        let current = state.conn.as_ref().is_some_and(|c| Arc::ptr_eq(c, conn));
        if current {
            self.record_failure(&mut state, error);
        }
        drop(state);
        if current {
            conn.close().await;
        }
    }

    /// Closes the connection; the next use starts a new one at once.
    pub(crate) async fn shutdown(&self) {
        let mut state = self.state.lock().await;
        let conn = state.conn.take();
        *state = SlotState::default();
        self.set_snapshot(Snapshot::Idle);
        drop(state);
        if let Some(conn) = conn {
            conn.close().await;
        }
    }

    pub(crate) fn status(&self) -> ServerStatus {
        let snapshot = self
            .snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let stderr_tail = self.tail.text();
        match snapshot {
            Snapshot::Idle => ServerStatus::Idle,
            Snapshot::Connected(conn) if conn.is_closed() => ServerStatus::Failed {
                error: "the server closed the connection".into(),
                stderr_tail,
                retry_in_ms: millis(backoff(1)),
            },
            Snapshot::Connected(conn) => ServerStatus::Connected {
                protocol_version: conn.protocol_version.clone(),
                tool_count: conn.tool_count(),
                server_name: conn.server.as_ref().map(|s| s.name.clone()),
                server_version: conn.server.as_ref().map(|s| s.version.clone()),
            },
            Snapshot::Failed { error, retry_at } => ServerStatus::Failed {
                error,
                stderr_tail,
                retry_in_ms: millis(retry_at.saturating_duration_since(Instant::now())),
            },
        }
    }

    fn record_failure(&self, state: &mut SlotState, error: String) {
        state.conn = None;
        state.failures = state.failures.saturating_add(1);
        let retry_at = Instant::now() + backoff(state.failures);
        state.retry_at = Some(retry_at);
        state.last_error = Some(error.clone());
        self.set_snapshot(Snapshot::Failed { error, retry_at });
    }

    fn set_snapshot(&self, snapshot: Snapshot) {
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = snapshot;
    }
}

/// The wait before attempt number `failures + 1`.
pub(crate) fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    BACKOFF_START
        .saturating_mul(1u32 << doublings)
        .min(BACKOFF_MAX)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(2), Duration::from_millis(400));
        assert_eq!(backoff(3), Duration::from_millis(800));
        assert_eq!(backoff(7), Duration::from_secs(10));
        assert_eq!(backoff(u32::MAX), Duration::from_secs(10));
    }
}
