//! [`MemoryStore`](waymark_agent::stores::MemoryStore)'s contract.

use waymark_agent::stores::AgentStores;

use super::{odd_names, scrambled, sorted};

fn keys(entries: &[waymark_agent::MemoryEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.key.as_str()).collect()
}

/// Upserts, newest-first recall with Unicode case folding, listing by key, forgetting.
pub fn memory(stores: &AgentStores) {
    let m = &stores.memory;
    let agent = "helper";
    assert!(m.memory(agent).expect("empty").is_empty());
    assert!(m.recall(agent, "", 10).expect("empty").is_empty());
    assert_eq!(m.memory_entry(agent, "k").expect("none"), None);
    assert!(!m.forget(agent, "k").expect("forget absent"));

    let e = m.remember(agent, "user.name", "Ada", 10).expect("remember");
    assert_eq!(
        (e.key.as_str(), e.value.as_str(), e.updated_at_ms),
        ("user.name", "Ada", 10)
    );
    // Same millisecond: the write order decides what is newest.
    m.remember(agent, "city", "Zürich", 10).expect("remember");
    m.remember(agent, "school", "ÉCOLE Polytechnique", 10)
        .expect("remember");
    m.remember(agent, "pct", "100% sure", 10).expect("remember");
    m.remember("other", "city", "Lyon", 10)
        .expect("another agent");

    assert_eq!(
        keys(&m.memory(agent).expect("list")),
        ["city", "pct", "school", "user.name"]
    );
    assert_eq!(
        keys(&m.recall(agent, "", 10).expect("all")),
        ["pct", "school", "city", "user.name"]
    );
    assert_eq!(
        keys(&m.recall(agent, "", 2).expect("limit")),
        ["pct", "school"]
    );
    assert!(m.recall(agent, "", 0).expect("limit 0").is_empty());
    // Case folds beyond ASCII, in keys and values.
    assert_eq!(keys(&m.recall(agent, "école", 10).expect("é")), ["school"]);
    assert_eq!(keys(&m.recall(agent, "ZÜRICH", 10).expect("ü")), ["city"]);
    assert_eq!(
        keys(&m.recall(agent, "USER.", 10).expect("key")),
        ["user.name"]
    );
    // The query is text, not a pattern.
    assert_eq!(keys(&m.recall(agent, "%", 10).expect("%")), ["pct"]);
    assert!(m.recall(agent, "_", 10).expect("_").is_empty());
    assert!(m.recall(agent, "lyon", 10).expect("not mine").is_empty());

    // Overwriting updates and makes it the newest.
    let e = m.remember(agent, "city", "Bern", 20).expect("overwrite");
    assert_eq!(e.updated_at_ms, 20);
    assert_eq!(keys(&m.recall(agent, "", 1).expect("newest")), ["city"]);
    let got = m.memory_entry(agent, "city").expect("get").expect("some");
    assert_eq!((got.value.as_str(), got.updated_at_ms), ("Bern", 20));
    assert_eq!(m.memory(agent).expect("list").len(), 4, "no duplicate");

    assert!(m.forget(agent, "city").expect("forget"));
    assert!(!m.forget(agent, "city").expect("again"));
    assert_eq!(m.memory_entry(agent, "city").expect("gone"), None);
    assert_eq!(
        m.memory_entry("other", "city")
            .expect("other's")
            .map(|e| e.value),
        Some("Lyon".into())
    );

    // Odd keys, values and agent names round-trip.
    for name in odd_names() {
        m.remember(&name, &name, &name, 30).expect("odd");
        let got = m.memory_entry(&name, &name).expect("get").expect("some");
        assert_eq!(got.value, name);
        assert_eq!(keys(&m.memory(&name).expect("list")), [name.as_str()]);
        assert!(m.forget(&name, &name).expect("forget"));
    }
    for k in ["user.name", "school", "pct"] {
        assert!(m.forget(agent, k).expect("clean up"));
    }
    assert!(m.forget("other", "city").expect("clean up"));
}

/// `n` notes written out of key order: listed by key, recalled newest first, paged by limit.
pub fn many_notes(stores: &AgentStores, n: usize) {
    let m = &stores.memory;
    let agent = "archivist";
    let order = scrambled(n);
    for (t, i) in order.iter().enumerate() {
        m.remember(
            agent,
            &format!("note-{i:05}"),
            &format!("value {i}"),
            t as i64,
        )
        .expect("remember");
    }
    let listed: Vec<String> = m
        .memory(agent)
        .expect("list")
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(listed.len(), n);
    assert_eq!(listed, sorted(listed.clone()));
    let newest: Vec<String> = order
        .iter()
        .rev()
        .take(25)
        .map(|i| format!("note-{i:05}"))
        .collect();
    let recalled = m.recall(agent, "", 25).expect("recall");
    assert_eq!(
        keys(&recalled),
        newest.iter().map(String::as_str).collect::<Vec<_>>()
    );
    // A query narrows in the store, and the limit applies after it.
    let hits = m.recall(agent, "VALUE 1", usize::MAX).expect("query");
    assert!(hits.iter().all(|e| e.value.starts_with("value 1")));
    let expected = (0..n).filter(|i| i.to_string().starts_with('1')).count();
    assert_eq!(hits.len(), expected);
    for i in 0..n {
        assert!(m.forget(agent, &format!("note-{i:05}")).expect("forget"));
    }
    assert!(m.memory(agent).expect("empty").is_empty());
}
