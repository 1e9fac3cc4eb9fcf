//! Time as the engine sees it. Tests swap in a [`ManualClock`] to drive backoff and timers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::future::BoxFuture;
use tokio::sync::watch;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> Millis;
    /// Resolves once `now_ms() >= at`.
    fn sleep_until(&self, at: Millis) -> BoxFuture<'static, ()>;
}

pub type SharedClock = Arc<dyn Clock>;

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

/// `at + d`, saturating: a duration from outside (a TTL, a deadline) can be any size.
pub fn after(at: Millis, d: Duration) -> Millis {
    at.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `at + ms`, saturating.
pub fn after_ms(at: Millis, ms: i64) -> Millis {
    at.saturating_add(ms)
}

pub fn system_now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        system_now_ms()
    }

    fn sleep_until(&self, at: Millis) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            loop {
                let now = system_now_ms();
                if now >= at {
                    return;
                }
                // Wall-clock based: re-check after sleeping in case the clock jumped.
                tokio::time::sleep(Duration::from_millis((at - now) as u64)).await;
            }
        })
    }
}

/// A clock that only moves when the test says so.
pub struct ManualClock {
    now: AtomicI64,
    tick: watch::Sender<Millis>,
    /// Sleeps not yet resolved or dropped, by id.
    sleepers: Arc<Mutex<HashMap<u64, Millis>>>,
    next_sleeper: AtomicU64,
    sleeper_added: watch::Sender<usize>,
}

/// Forgets a sleep when its future goes away, so a dropped timeout is not "pending".
struct SleeperGuard {
    id: u64,
    sleepers: Arc<Mutex<HashMap<u64, Millis>>>,
}

impl Drop for SleeperGuard {
    fn drop(&mut self) {
        self.sleepers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

impl ManualClock {
    pub fn new(start: Millis) -> Arc<Self> {
        Arc::new(ManualClock {
            now: AtomicI64::new(start),
            tick: watch::channel(start).0,
            sleepers: Arc::new(Mutex::new(HashMap::new())),
            next_sleeper: AtomicU64::new(0),
            sleeper_added: watch::channel(0).0,
        })
    }

    pub fn advance(&self, by: Duration) {
        let now =
            self.now.fetch_add(by.as_millis() as i64, Ordering::SeqCst) + by.as_millis() as i64;
        self.tick.send_replace(now);
    }

    pub fn set(&self, at: Millis) {
        self.now.store(at, Ordering::SeqCst);
        self.tick.send_replace(at);
    }

    /// Deadlines of sleeps that have not yet resolved.
    pub fn pending_sleeps(&self) -> Vec<Millis> {
        let now = self.now_ms();
        let s = self.sleepers.lock().unwrap_or_else(|e| e.into_inner());
        s.values().copied().filter(|at| *at > now).collect()
    }

    /// Waits until some sleep is pending, then moves time to the earliest one.
    pub async fn advance_to_next_sleep(&self) -> Millis {
        let mut added = self.sleeper_added.subscribe();
        loop {
            if let Some(at) = self.pending_sleeps().into_iter().min() {
                self.set(at);
                return at;
            }
            if added.changed().await.is_err() {
                return self.now_ms();
            }
        }
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Millis {
        self.now.load(Ordering::SeqCst)
    }

    fn sleep_until(&self, at: Millis) -> BoxFuture<'static, ()> {
        let mut rx = self.tick.subscribe();
        let id = self.next_sleeper.fetch_add(1, Ordering::SeqCst);
        self.sleepers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, at);
        let guard = SleeperGuard {
            id,
            sleepers: self.sleepers.clone(),
        };
        self.sleeper_added.send_modify(|n| *n += 1);
        Box::pin(async move {
            let _guard = guard;
            loop {
                if *rx.borrow_and_update() >= at {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
    }
}
