//! Suspending an attempt's timeout while the work waits for a person (a server's question in
//! the middle of a tool call): the attempt timeout bounds the work, not a person's reply.

use std::sync::Arc;

use tokio::sync::watch;

use crate::clock::{Millis, SharedClock};

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PauseState {
    /// Pauses open now (questions can overlap).
    open: u32,
    /// When the first of the open pauses began.
    since: Millis,
    /// Time spent paused by pauses that ended.
    total_ms: Millis,
}

/// One attempt's pause bookkeeping, shared by its work and the engine's timeout watch.
pub(crate) struct PauseClock {
    state: watch::Sender<PauseState>,
    clock: SharedClock,
}

impl PauseClock {
    pub(crate) fn new(clock: SharedClock) -> Arc<Self> {
        Arc::new(PauseClock {
            state: watch::Sender::new(PauseState::default()),
            clock,
        })
    }

    /// Resolves when `deadline`, pushed back by the time spent paused, has passed with no
    /// pause open.
    pub(crate) async fn sleep_past(&self, deadline: Millis) {
        let mut rx = self.state.subscribe();
        loop {
            let state = *rx.borrow_and_update();
            if state.open > 0 {
                if rx.changed().await.is_err() {
                    return std::future::pending().await;
                }
                continue;
            }
            let at = deadline.saturating_add(state.total_ms);
            tokio::select! {
                _ = self.clock.sleep_until(at) => return,
                changed = rx.changed() => {
                    if changed.is_err() {
                        return std::future::pending().await;
                    }
                }
            }
        }
    }

    fn begin(&self) {
        let now = self.clock.now_ms();
        self.state.send_modify(|s| {
            if s.open == 0 {
                s.since = now;
            }
            s.open = s.open.saturating_add(1);
        });
    }

    fn end(&self) {
        let now = self.clock.now_ms();
        self.state.send_modify(|s| {
            s.open = s.open.saturating_sub(1);
            if s.open == 0 {
                s.total_ms = s.total_ms.saturating_add((now - s.since).max(0));
            }
        });
    }
}

/// While held, the attempt's timeout does not run; dropping it resumes the count where it
/// stopped. The step timeout (all attempts) keeps running.
pub struct TimeoutPause {
    clock: Arc<PauseClock>,
}

impl TimeoutPause {
    pub(crate) fn new(clock: Arc<PauseClock>) -> Self {
        clock.begin();
        TimeoutPause { clock }
    }
}

impl Drop for TimeoutPause {
    fn drop(&mut self) {
        self.clock.end();
    }
}
