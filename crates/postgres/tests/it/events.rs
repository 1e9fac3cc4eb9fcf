//! The global event sequence stays gap-free for readers when commits overlap: two workers
//! (two stores, as two processes have), the first holding its commit after it has numbered
//! its event; a subscriber following the sequence misses nothing.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::pg_lab::PgLab;
use waymark_engine::store::{Applied, Durability, Transition};
use waymark_engine::{Event, Store};
use waymark_postgres::{PgConfig, PgStore};

/// Set by the test: the next commit of a sent event waits before COMMIT (its event is
/// numbered, its transaction still open).
static HOLD_NEXT: AtomicBool = AtomicBool::new(false);
/// Counts commits that waited.
static HELD: AtomicU32 = AtomicU32::new(0);

fn install_hold() {
    waymark_engine::crashpoint::install(|point| {
        if point == "before_commit:send_event" && HOLD_NEXT.swap(false, Ordering::SeqCst) {
            HELD.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(600));
        }
    });
}

async fn send(store: &PgStore, name: &str) -> i64 {
    let t = Transition::SendEvent {
        name: name.into(),
        payload: serde_json::json!({ "from": name }),
        ttl_ms: 60_000,
    };
    match store.submit(t, Durability::Durable).await.expect("sent") {
        Applied::EventSent(id) => id,
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_misses_no_event_when_one_commit_waits_after_numbering() {
    install_hold();
    let lab = PgLab::shared();
    let url = lab.fresh_database();
    let config = || PgConfig {
        poll_interval: Duration::from_millis(50),
        ..PgConfig::default()
    };
    let first = PgStore::open(&url, config()).await.expect("first worker");
    let second = PgStore::open(&url, config()).await.expect("second worker");
    let reader = PgStore::open(&url, config()).await.expect("a reader");
    let mut live = reader.live();

    // A reader that polls the global sequence the whole time, as an SSE client's catch-up does.
    let polling = Arc::new(AtomicBool::new(true));
    let poller = {
        let (reader, polling) = (reader.clone(), polling.clone());
        tokio::spawn(async move {
            let mut cursor = 0;
            let mut seen: Vec<i64> = Vec::new();
            loop {
                let more = !polling.load(Ordering::SeqCst);
                for e in reader.events_after(None, cursor, 100).await.expect("read") {
                    cursor = e.global_seq;
                    seen.push(e.global_seq);
                }
                if more {
                    return seen;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    HOLD_NEXT.store(true, Ordering::SeqCst);
    let held = {
        let first = first.clone();
        tokio::spawn(async move { send(&first, "held").await })
    };
    // The second worker commits while the first holds its numbered, uncommitted event.
    while HELD.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let quick = send(&second, "quick").await;
    let held = held.await.expect("the held commit");
    assert!(
        held < quick,
        "the held event was sent first: {held} < {quick}"
    );
    polling.store(false, Ordering::SeqCst);
    let seen = poller.await.expect("poller");

    let all: Vec<i64> = reader
        .events_after(None, 0, 1000)
        .await
        .expect("read all")
        .iter()
        .map(|e| e.global_seq)
        .collect();
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(seen, all, "the poller saw every event, in order, each once");

    // The live stream of a third process got both too, in order.
    let mut streamed: Vec<Arc<Event>> = Vec::new();
    while streamed.len() < 2 {
        let e = tokio::time::timeout(Duration::from_secs(10), live.recv())
            .await
            .expect("the event reaches the other process")
            .expect("stream");
        streamed.push(e);
    }
    let streamed: Vec<i64> = streamed.iter().map(|e| e.global_seq).collect();
    assert_eq!(streamed, all);
}
