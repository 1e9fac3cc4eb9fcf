//! The agent stores' contract, for any backend: [`contract`] runs every trait's behaviour on a
//! fresh (empty, migrated) set of stores; [`concurrent_writers`] two handles on one database
//! writing at once. The SQLite test runs it on a real file (`tests/stores_sqlite.rs`); a
//! PostgreSQL backend runs the same functions against its own stores.
//!
//! Panics with what differed; every call that fails is a contract failure too.

#![allow(dead_code)] // each backend's test file uses what it needs

mod agents;
mod memory;
mod settings;
mod triggers;

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use waymark_agent::stores::AgentStores;
use waymark_agent::SecretRef;

pub use agents::{agents, many_agents};
pub use memory::{many_notes, memory};
pub use settings::{servers, settings};
pub use triggers::triggers;

/// Set by a backend whose text cannot hold NUL (PostgreSQL's): names with one are left out of
/// [`odd_names`], and [`nul_is_refused`] checks that such a backend refuses them clearly.
pub static NUL_REFUSED: AtomicBool = AtomicBool::new(false);

/// Names a backend must store and return as given: SQL words, quotes, wildcards, escapes,
/// spaces, case, non-ASCII, control characters (NUL too, unless [`NUL_REFUSED`]), and a
/// long one.
pub fn odd_names() -> Vec<String> {
    let mut names: Vec<String> = [
        "select",
        "NULL",
        "null",
        "'; DROP TABLE agent_specs; --",
        "\"quoted\"",
        "100%",
        "a_b",
        "back\\slash",
        "with space",
        " leading",
        "Zed",
        "zed",
        "école",
        "Ünïcödé",
        "日本語",
        "emoji 🦀",
        "tab\there",
        "line\nbreak",
        "nul\0byte",
        "json {\"a\": [1]}",
        "$1",
        "?1",
        ":name",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    names.push("x".repeat(4096));
    if NUL_REFUSED.load(Ordering::Relaxed) {
        names.retain(|n| !n.contains('\0'));
    }
    names
}

/// On a backend that cannot store NUL: every kind of record with one in a name or a value is
/// refused with an error that says so, and nothing of it is stored.
pub fn nul_is_refused(stores: &AgentStores) {
    let says_nul = |what: &str, e: String| {
        assert!(
            e.contains("NUL"),
            "{what}: the error names the NUL character: {e}"
        );
    };
    let e = stores
        .memory
        .remember("agent", "key\0", "value", 1)
        .expect_err("a NUL in a memory key");
    says_nul("memory key", e.to_string());
    let e = stores
        .memory
        .remember("agent", "key", "va\0lue", 1)
        .expect_err("a NUL in a memory value");
    says_nul("memory value", e.to_string());
    assert!(stores.memory.memory("agent").expect("memory").is_empty());
    let e = stores
        .agents
        .put_agent(&waymark_agent::stores::NewAgentVersion {
            name: "a\0b",
            description: "",
            hash: "sha256:nul",
            spec_json: "{}",
            now_ms: 1,
        })
        .expect_err("a NUL in an agent's name");
    says_nul("agent name", e.to_string());
    assert!(stores.agents.list_agents().expect("agents").is_empty());
    let e = stores
        .settings
        .set_app_setting("k", Some("v\0"), 1)
        .expect_err("a NUL in a setting");
    says_nul("setting", e.to_string());
    assert_eq!(stores.settings.app_setting("k").expect("setting"), None);
}

/// Byte-wise order (Rust's `String` order): the contract's order for names and keys.
pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A syntactically valid secret reference (the stores never resolve it).
pub fn secret_ref(id: &str) -> SecretRef {
    format!("file:{id}").parse().expect("secret reference")
}

/// A spread of `n` indexes in a scrambled but fixed order (writes not in listing order).
pub fn scrambled(n: usize) -> Vec<usize> {
    // 7919 is prime, so stepping by it visits every index once when n is not its multiple.
    let step = if n.is_multiple_of(7919) { 1 } else { 7919 };
    (0..n).map(|i| (i * step) % n).collect()
}

/// Every trait's contract on fresh stores.
pub fn contract(stores: &AgentStores) {
    agents(stores);
    many_agents(stores, 2_000);
    memory(stores);
    many_notes(stores, 3_000);
    servers(stores);
    settings(stores);
    triggers(stores);
}

/// Two handles on one database (two processes' worth) writing at once from two threads:
/// nothing lost, nothing failed (a backend waits for its locks), orders kept.
pub fn concurrent_writers(a: &AgentStores, b: &AgentStores) {
    const EACH: usize = 150;
    let agent = "concurrent";
    thread::scope(|s| {
        for (side, stores) in [("a", a), ("b", b)] {
            s.spawn(move || {
                for i in 0..EACH {
                    let key = format!("{side}-{i:04}");
                    stores
                        .memory
                        .remember(agent, &key, side, 1_000 + i as i64)
                        .unwrap_or_else(|e| panic!("{side} remember {i}: {e}"));
                    stores
                        .triggers
                        .record_fire(agent, side, i as i64, i as i64)
                        .unwrap_or_else(|e| panic!("{side} record_fire {i}: {e}"));
                    if i % 10 == 0 {
                        let name = format!("{side}-agent-{i:04}");
                        let hash = format!("sha256:{name}");
                        let json = format!("{{\"name\":\"{name}\"}}");
                        stores
                            .agents
                            .put_agent(&waymark_agent::stores::NewAgentVersion {
                                name: &name,
                                description: side,
                                hash: &hash,
                                spec_json: &json,
                                now_ms: i as i64,
                            })
                            .unwrap_or_else(|e| panic!("{side} put_agent {i}: {e}"));
                    }
                }
            });
        }
    });
    // Every note from both, read through either handle.
    for reader in [a, b] {
        let notes = reader.memory.memory(agent).expect("memory");
        assert_eq!(notes.len(), 2 * EACH, "every write kept");
        let keys: Vec<String> = notes.iter().map(|n| n.key.clone()).collect();
        assert_eq!(keys, sorted(keys.clone()), "by key");
        // Newest first: each side's own writes stay in the order it made them.
        let recalled = reader.memory.recall(agent, "", usize::MAX).expect("recall");
        assert_eq!(recalled.len(), 2 * EACH);
        for side in ["a", "b"] {
            let mine: Vec<&str> = recalled
                .iter()
                .filter(|n| n.value == side)
                .map(|n| n.key.as_str())
                .collect();
            let expected: Vec<String> = (0..EACH).rev().map(|i| format!("{side}-{i:04}")).collect();
            assert_eq!(mine, expected, "{side}'s notes newest first");
        }
        let agents = reader.agents.list_agents().expect("agents");
        assert_eq!(agents.len(), 2 * EACH.div_ceil(10));
    }
    for side in ["a", "b"] {
        let last = a.triggers.last_fire(agent, side, 0).expect("last fire");
        assert_eq!(last, EACH as i64 - 1, "{side}'s latest fire");
    }
}
