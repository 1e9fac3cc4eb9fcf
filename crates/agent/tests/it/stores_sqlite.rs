//! The agent stores' contract (`store_contract`) on the SQLite backend, on real files shared
//! with the engine's store as in a data directory; and what only SQLite can show: a file
//! another connection holds locked, and an app built on stores passed in.

use crate::store_contract;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use waymark_agent::app::{AgentApp, AppStores};
use waymark_agent::stores::{
    AgentStore, AgentStores, AgentSummary, AgentVersion, NewAgentVersion, SqliteAgentStore,
};
use waymark_agent::{AgentSpec, CatalogError, SecretStore};
use waymark_engine::{Engine, Registry, SharedStore, SqliteStore, StartOptions, SystemClock};

/// A data directory's database: the engine's tables first (as `AgentApp::open` does), then
/// the agent stores'.
fn open(dir: &tempfile::TempDir) -> (Arc<SqliteStore>, AgentStores) {
    let db = dir.path().join("waymark.db");
    let engine = SqliteStore::open(&db).expect("engine store");
    let stores = SqliteAgentStore::open(&db).expect("agent stores").stores();
    (engine, stores)
}

#[test]
fn the_contract_holds_on_a_real_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_engine, stores) = open(&dir);
    store_contract::contract(&stores);
    // A second handle on the file sees the same (nothing is cached per handle).
    let again = SqliteAgentStore::open(&dir.path().join("waymark.db"))
        .expect("reopen")
        .stores();
    assert_eq!(again.settings.env_key_hosts().expect("hosts").len(), 3);
}

#[test]
fn two_handles_on_one_file_write_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_engine, a) = open(&dir);
    let b = SqliteAgentStore::open(&dir.path().join("waymark.db"))
        .expect("second handle")
        .stores();
    store_contract::concurrent_writers(&a, &b);
}

#[tokio::test]
async fn the_run_of_an_idempotency_key_is_found() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, stores) = open(&dir);
    let engine = Engine::new(store, Registry::new());
    let opts = StartOptions {
        idempotency_key: Some("webhook:orders:d-1".into()),
        ..StartOptions::default()
    };
    // A function no worker here knows stays queued: enough to hold the key.
    let run = engine
        .start_run("elsewhere", json!({}), opts)
        .await
        .expect("start");
    let t = stores.triggers.clone();
    let found = tokio::task::spawn_blocking(move || {
        (
            t.run_with_key("webhook:orders:d-1"),
            t.run_with_key("webhook:orders:d-2"),
        )
    })
    .await
    .expect("join");
    assert_eq!(found.0.expect("read"), Some(run));
    assert_eq!(found.1.expect("read"), None);
}

#[test]
fn a_locked_file_fails_writes_transiently_and_reads_go_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_engine, stores) = open(&dir);
    stores.memory.remember("a", "k", "v", 1).expect("before");
    // Another process holds the write lock.
    let other = rusqlite::Connection::open(dir.path().join("waymark.db")).expect("other");
    other.execute_batch("BEGIN IMMEDIATE").expect("lock");

    let started = Instant::now();
    // WAL: reads do not wait for the writer.
    assert_eq!(
        stores.memory.memory("a").expect("read while locked").len(),
        1
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "reads did not wait"
    );
    let (catalog, trigger) = std::thread::scope(|s| {
        let m = s.spawn(|| stores.memory.remember("a", "k2", "v", 2));
        let t = s.spawn(|| stores.triggers.record_fire("a", "k", 1, 1));
        (m.join().expect("memory"), t.join().expect("trigger"))
    });
    let e = catalog.expect_err("locked");
    assert!(
        matches!(e, CatalogError::Database(_)) && e.is_transient(),
        "{e:?}"
    );
    assert!(e.to_string().starts_with("catalog database: "), "{e}");
    let e = trigger.expect_err("locked");
    assert!(e.is_transient(), "{e:?}");
    assert!(e.to_string().starts_with("trigger state: "), "{e}");

    other.execute_batch("ROLLBACK").expect("unlock");
    stores.memory.remember("a", "k2", "v", 3).expect("after");
}

/// An [`AgentStore`] that counts the calls it passes on.
struct Counting {
    inner: Arc<dyn AgentStore>,
    calls: AtomicUsize,
}

impl Counting {
    fn count(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

impl AgentStore for Counting {
    fn put_agent(&self, v: &NewAgentVersion<'_>) -> Result<AgentSummary, CatalogError> {
        self.count();
        self.inner.put_agent(v)
    }
    fn agent_json(&self, name: &str) -> Result<Option<String>, CatalogError> {
        self.count();
        self.inner.agent_json(name)
    }
    fn version_json(&self, hash: &str) -> Result<Option<String>, CatalogError> {
        self.count();
        self.inner.version_json(hash)
    }
    fn versions(&self, name: &str) -> Result<Vec<AgentVersion>, CatalogError> {
        self.count();
        self.inner.versions(name)
    }
    fn list_agents(&self) -> Result<Vec<AgentSummary>, CatalogError> {
        self.count();
        self.inner.list_agents()
    }
    fn current_specs(&self) -> Result<Vec<(String, String)>, CatalogError> {
        self.count();
        self.inner.current_specs()
    }
    fn delete_agent(&self, name: &str) -> Result<bool, CatalogError> {
        self.count();
        self.inner.delete_agent(name)
    }
}

#[tokio::test]
async fn an_app_runs_on_the_stores_it_is_given() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (engine, mut stores) = open(&dir);
    let counting = Arc::new(Counting {
        inner: stores.agents.clone(),
        calls: AtomicUsize::new(0),
    });
    stores.agents = counting.clone();
    let secrets = SecretStore::file(dir.path().join("secrets").join("secrets.json"));
    let engine: SharedStore = engine;
    let app = AgentApp::with_stores(
        AppStores {
            engine,
            agent: stores,
            secrets,
        },
        dir.path(),
        Registry::new(),
        Arc::new(SystemClock),
    )
    .expect("app");
    let spec = AgentSpec::from_toml_str(
        "name = \"given\"\ninstructions = \"hi\"\n[model]\nprovider = \"openai\"\nmodel = \"m\"\n",
    )
    .expect("spec");
    app.catalog.put_agent(&spec).expect("save");
    assert_eq!(app.catalog.agents().expect("list").len(), 1);
    let run = app
        .start_agent("given", "hello", None)
        .await
        .expect("start");
    assert!(app.engine.run(run).await.expect("read").is_some());
    assert!(
        counting.calls.load(Ordering::SeqCst) >= 3,
        "save, list and start went through the given store"
    );
    let e = app
        .start_agent("nobody", "x", None)
        .await
        .expect_err("unknown");
    assert!(e.to_string().contains("no agent named \"nobody\""), "{e}");
}
