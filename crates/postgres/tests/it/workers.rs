//! Worker liveness on a shared database: no lock files, so a worker renews a heartbeat every
//! third of its lease, idle or not, and the rows of workers silent for long are cleared.

use std::time::Duration;

use crate::pg_lab::PgLab;
use waymark_engine::{Engine, Registry, WorkerConfig};
use waymark_postgres::{PgConfig, PgStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_beats_and_long_silent_workers_are_cleared() {
    let lab = PgLab::shared();
    let url = lab.fresh_database();
    let db = PgLab::database_of(&url).to_string();
    let store = PgStore::open(&url, PgConfig::default())
        .await
        .expect("open");
    // A worker of another machine that died an hour ago, and one seen a moment ago.
    lab.psql(
        &db,
        "INSERT INTO workers(id, host, pid, started_at, heartbeat_at) VALUES
            ('gone', 'elsewhere', 1, 0, (extract(epoch from now()) * 1000)::bigint - 3600000),
            ('recent', 'elsewhere', 2, 0, (extract(epoch from now()) * 1000)::bigint)",
    );
    let config = WorkerConfig {
        lease: Duration::from_millis(600),
        ..WorkerConfig::default()
    };
    let engine = Engine::new(store.clone(), Registry::new()).with_worker_config(config);
    let worker = engine.start_worker().await.expect("worker");
    let me = worker.id().0.clone();
    let beat = |id: &str| -> i64 {
        lab.psql(
            &db,
            &format!("SELECT heartbeat_at FROM workers WHERE id = '{id}'"),
        )
        .parse()
        .unwrap_or(0)
    };
    // The idle worker's heartbeat moves on (renewals every 200 ms): wait for two of them.
    let first = {
        let mut seen = 0;
        for _ in 0..100 {
            seen = beat(&me);
            if seen > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(seen > 0, "no heartbeat from an idle worker");
        seen
    };
    let mut later = first;
    for _ in 0..100 {
        later = beat(&me);
        if later > first {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(later > first, "the heartbeat did not move on");
    let ids = lab.psql(&db, "SELECT string_agg(id, ',' ORDER BY id) FROM workers");
    let ids: Vec<&str> = ids.split(',').collect();
    assert!(
        !ids.contains(&"gone"),
        "the long-silent worker's row stays: {ids:?}"
    );
    assert!(
        ids.contains(&"recent") && ids.contains(&me.as_str()),
        "{ids:?}"
    );
    worker.shutdown().await;
}
