//! The agent stores' contract (the agent crate's `store_contract`, the same functions the
//! SQLite backend passes) on PostgreSQL.

use crate::pg_lab::PgLab;
use crate::store_contract;
use waymark_postgres::{PgAgentConnections, PgConfig, PgStore};

/// The agent stores on a fresh database (migrated by the engine's store, as a host opens it).
async fn stores() -> (std::sync::Arc<PgStore>, String) {
    let url = PgLab::shared().fresh_database();
    let store = PgStore::open(&url, PgConfig::default())
        .await
        .expect("open the database");
    (store, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_holds_on_postgres() {
    // PostgreSQL's text cannot hold NUL: names with one are refused (checked below).
    store_contract::NUL_REFUSED.store(true, std::sync::atomic::Ordering::Relaxed);
    let (_store, url) = stores().await;
    let stores = PgAgentConnections::open(&url, &PgConfig::default()).expect("agent stores");
    store_contract::contract(&stores);
    let again = PgAgentConnections::open(&url, &PgConfig::default()).expect("a second handle");
    assert_eq!(again.settings.env_key_hosts().expect("hosts").len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_on_one_database_write_at_once() {
    let (_store, url) = stores().await;
    let a = PgAgentConnections::open(&url, &PgConfig::default()).expect("first handle");
    let b = PgAgentConnections::open(&url, &PgConfig::default()).expect("second handle");
    store_contract::concurrent_writers(&a, &b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_with_a_nul_is_refused_clearly_and_nothing_is_stored() {
    let (_store, url) = stores().await;
    let stores = PgAgentConnections::open(&url, &PgConfig::default()).expect("agent stores");
    store_contract::nul_is_refused(&stores);
}
