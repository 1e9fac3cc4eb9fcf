//! What the webhook receiver reads from the database and the keychain, loaded on a blocking
//! thread and kept: a keychain read can block for as long as the keychain is locked, and
//! must hold neither a runtime thread nor the request longer than [`Loader`]'s wait.
//!
//! One load per key is in flight at a time: requests that come while it runs wait for the
//! same one (a stuck keychain holds one thread, not one per request). A value is used while
//! the catalog's generation is the one it was loaded at (a change through this process) and
//! for at most the time to live (a change by another process).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::{BoxFuture, FutureExt as _, Shared};

/// Why a value could not be had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum LoadFailure {
    /// The load is still running after the wait, or its store did not answer (a locked
    /// keychain): try again later.
    TimedOut,
    /// The load failed (the message is for the log).
    Failed(String),
}

type Load<V> = Shared<BoxFuture<'static, Result<V, LoadFailure>>>;

struct InFlight<V> {
    load: Load<V>,
    generation: u64,
    ticket: u64,
}

struct Slot<V> {
    value: Option<(V, Instant, u64)>,
    loading: Option<InFlight<V>>,
}

impl<V> Default for Slot<V> {
    fn default() -> Self {
        Slot {
            value: None,
            loading: None,
        }
    }
}

pub(super) struct Loader<K, V> {
    slots: Mutex<HashMap<K, Slot<V>>>,
    tickets: std::sync::atomic::AtomicU64,
    ttl: Duration,
    wait: Duration,
}

impl<K, V> Loader<K, V>
where
    K: Clone + Eq + Hash,
    V: Clone + Send + Sync + 'static,
{
    pub(super) fn new(ttl: Duration, wait: Duration) -> Self {
        Loader {
            slots: Mutex::new(HashMap::new()),
            tickets: std::sync::atomic::AtomicU64::new(0),
            ttl,
            wait,
        }
    }

    /// The value of `key` as of `generation`: the kept one while current, else what `load`
    /// returns (run on a blocking thread; one at a time per key), waiting at most the wait.
    pub(super) async fn get<F>(&self, key: &K, generation: u64, load: F) -> Result<V, LoadFailure>
    where
        F: FnOnce() -> Result<V, LoadFailure> + Clone + Send + 'static,
    {
        // A load already in flight may have started before the change that bumped the
        // generation: its value is kept under its own generation, and a second round loads
        // afresh.
        let mut last = Err(LoadFailure::TimedOut);
        for _ in 0..2 {
            let (flight, ticket, loaded_at) = match self.begin(key, generation, load.clone()) {
                Ok(value) => return Ok(value),
                Err(flight) => flight,
            };
            last = tokio::time::timeout(self.wait, flight)
                .await
                .map_err(|_| LoadFailure::TimedOut)?;
            self.finish(key, ticket, &last);
            if loaded_at == generation || last.is_err() {
                break;
            }
        }
        last
    }

    /// Forgets every kept value (loads in flight finish and are kept as usual).
    #[cfg(test)]
    pub(super) fn clear(&self) {
        for slot in self.lock().values_mut() {
            slot.value = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Slot<V>>> {
        // The map is consistent at every await-free step, so a panic elsewhere leaves it usable.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kept value if current, else the load to wait for (started here if none runs).
    #[allow(clippy::type_complexity)]
    fn begin<F>(&self, key: &K, generation: u64, load: F) -> Result<V, (Load<V>, u64, u64)>
    where
        F: FnOnce() -> Result<V, LoadFailure> + Send + 'static,
    {
        let mut slots = self.lock();
        let slot = slots.entry(key.clone()).or_default();
        if let Some((value, at, loaded)) = &slot.value {
            if *loaded == generation && at.elapsed() < self.ttl {
                return Ok(value.clone());
            }
        }
        if let Some(f) = &slot.loading {
            return Err((f.load.clone(), f.ticket, f.generation));
        }
        let ticket = self
            .tickets
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let load: Load<V> = tokio::task::spawn_blocking(load)
            .map(|joined| match joined {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(LoadFailure::Failed(format!("the load stopped: {e}"))),
            })
            .boxed()
            .shared();
        slot.loading = Some(InFlight {
            load: load.clone(),
            generation,
            ticket,
        });
        Err((load, ticket, generation))
    }

    /// Keeps a finished load's value (once: the first waiter to see it does this).
    fn finish(&self, key: &K, ticket: u64, result: &Result<V, LoadFailure>) {
        let mut slots = self.lock();
        let Some(slot) = slots.get_mut(key) else {
            return;
        };
        if slot.loading.as_ref().is_none_or(|f| f.ticket != ticket) {
            return;
        }
        let generation = slot.loading.take().map_or(0, |f| f.generation);
        // Failures are not kept: the next request tries again.
        if let Ok(value) = result {
            slot.value = Some((value.clone(), Instant::now(), generation));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn one_load_per_key_kept_until_the_generation_changes() {
        let loads = Arc::new(AtomicUsize::new(0));
        let loader: Loader<&str, usize> =
            Loader::new(Duration::from_secs(60), Duration::from_secs(5));
        let count = |loads: &Arc<AtomicUsize>| {
            let loads = loads.clone();
            move || Ok(loads.fetch_add(1, Ordering::SeqCst) + 1)
        };
        assert_eq!(loader.get(&"a", 0, count(&loads)).await, Ok(1));
        assert_eq!(loader.get(&"a", 0, count(&loads)).await, Ok(1));
        assert_eq!(loader.get(&"a", 1, count(&loads)).await, Ok(2));
        loader.clear();
        assert_eq!(loader.get(&"a", 1, count(&loads)).await, Ok(3));
        let failing = || Err::<usize, _>(LoadFailure::Failed("no".into()));
        assert_eq!(
            loader.get(&"b", 1, failing).await,
            Err(LoadFailure::Failed("no".into()))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stuck_load_times_out_and_is_not_started_twice() {
        let started = Arc::new(AtomicUsize::new(0));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(Mutex::new(gate));
        let loader: Loader<&str, usize> =
            Loader::new(Duration::from_secs(60), Duration::from_millis(200));
        let stuck = {
            let started = started.clone();
            move || {
                started.fetch_add(1, Ordering::SeqCst);
                let _ = gate.lock().map(|g| g.recv());
                Ok(7)
            }
        };
        for _ in 0..3 {
            let t = Instant::now();
            let r = loader.get(&"k", 0, stuck.clone()).await;
            assert_eq!(r, Err(LoadFailure::TimedOut));
            assert!(t.elapsed() < Duration::from_secs(2));
        }
        assert_eq!(started.load(Ordering::SeqCst), 1);
        let _ = release.send(());
        let mut got = Err(LoadFailure::TimedOut);
        for _ in 0..50 {
            got = loader.get(&"k", 0, stuck.clone()).await;
            if got.is_ok() {
                break;
            }
        }
        assert_eq!(got, Ok(7));
        assert_eq!(started.load(Ordering::SeqCst), 1);
    }
}
