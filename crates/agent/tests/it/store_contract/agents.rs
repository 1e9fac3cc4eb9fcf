//! [`AgentStore`](waymark_agent::stores::AgentStore)'s contract.

use waymark_agent::stores::{AgentStores, AgentSummary, NewAgentVersion};

use super::{odd_names, scrambled, sorted};

fn put(stores: &AgentStores, name: &str, rev: u32, now_ms: i64) -> AgentSummary {
    let hash = format!("sha256:{name}#{rev}");
    let json = format!("{{\"name\":{name:?},\"rev\":{rev}}}");
    let description = format!("about {name}");
    stores
        .agents
        .put_agent(&NewAgentVersion {
            name,
            description: &description,
            hash: &hash,
            spec_json: &json,
            now_ms,
        })
        .unwrap_or_else(|e| panic!("put {name:?} rev {rev}: {e}"))
}

fn json(name: &str, rev: u32) -> String {
    format!("{{\"name\":{name:?},\"rev\":{rev}}}")
}

/// Versions, the current one, listing, deleting.
pub fn agents(stores: &AgentStores) {
    let a = &stores.agents;
    assert!(a.list_agents().expect("list").is_empty(), "a fresh store");
    assert!(a.current_specs().expect("specs").is_empty());
    assert_eq!(a.agent_json("zeta").expect("get"), None);
    assert_eq!(a.version_json("sha256:none").expect("version"), None);
    assert!(a.versions("zeta").expect("versions").is_empty());
    assert!(!a.delete_agent("zeta").expect("delete absent"));

    let s1 = put(stores, "zeta", 1, 100);
    assert_eq!(
        s1,
        AgentSummary {
            name: "zeta".into(),
            description: "about zeta".into(),
            hash: "sha256:zeta#1".into(),
            updated_at_ms: 100,
        }
    );
    // The same version again: nothing moves.
    assert_eq!(put(stores, "zeta", 1, 200).updated_at_ms, 100);
    // A new version becomes current and moves the time; the old one stays readable.
    let s2 = put(stores, "zeta", 2, 300);
    assert_eq!((s2.hash.as_str(), s2.updated_at_ms), ("sha256:zeta#2", 300));
    assert_eq!(a.agent_json("zeta").expect("get"), Some(json("zeta", 2)));
    assert_eq!(
        a.version_json("sha256:zeta#1").expect("v1"),
        Some(json("zeta", 1))
    );
    // Back to the first version: current again, at the new time; no new version row.
    let back = put(stores, "zeta", 1, 400);
    assert_eq!(
        (back.hash.as_str(), back.updated_at_ms),
        ("sha256:zeta#1", 400)
    );
    // Same-millisecond versions keep their saving order.
    put(stores, "zeta", 3, 400);
    let versions: Vec<(String, i64)> = a
        .versions("zeta")
        .expect("versions")
        .into_iter()
        .map(|v| (v.hash, v.created_at_ms))
        .collect();
    assert_eq!(
        versions,
        [
            ("sha256:zeta#1".to_string(), 100),
            ("sha256:zeta#2".to_string(), 300),
            ("sha256:zeta#3".to_string(), 400),
        ]
    );

    put(stores, "alpha", 1, 500);
    let names: Vec<String> = a
        .list_agents()
        .expect("list")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["alpha", "zeta"]);
    assert_eq!(
        a.current_specs().expect("specs"),
        [
            ("alpha".to_string(), json("alpha", 1)),
            ("zeta".to_string(), json("zeta", 3)),
        ]
    );

    // Deleting takes it off the list; its versions stay (runs name them).
    assert!(a.delete_agent("zeta").expect("delete"));
    assert!(!a.delete_agent("zeta").expect("delete again"));
    assert_eq!(a.agent_json("zeta").expect("gone"), None);
    assert_eq!(a.versions("zeta").expect("versions kept").len(), 3);
    assert_eq!(
        a.version_json("sha256:zeta#2").expect("kept"),
        Some(json("zeta", 2))
    );
    // Coming back with a saved version works.
    assert_eq!(put(stores, "zeta", 2, 600).hash, "sha256:zeta#2");
    assert!(a.delete_agent("zeta").expect("delete"));
    assert!(a.delete_agent("alpha").expect("delete"));
    assert!(a.list_agents().expect("list").is_empty());
}

/// `n` agents written out of order, plus the odd names: listed by name, byte-wise, each
/// readable by its name.
pub fn many_agents(stores: &AgentStores, n: usize) {
    let mut names: Vec<String> = scrambled(n)
        .into_iter()
        .map(|i| format!("agent-{i:05}"))
        .collect();
    names.extend(odd_names());
    for (i, name) in names.iter().enumerate() {
        put(stores, name, 1, i as i64);
    }
    let listed: Vec<String> = stores
        .agents
        .list_agents()
        .expect("list")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(listed.len(), names.len());
    assert_eq!(listed, sorted(names.clone()), "by name, byte-wise");
    let specs: Vec<String> = stores
        .agents
        .current_specs()
        .expect("specs")
        .into_iter()
        .map(|(name, spec)| {
            assert_eq!(spec, json(&name, 1));
            name
        })
        .collect();
    assert_eq!(specs, listed);
    for name in odd_names() {
        assert_eq!(
            stores.agents.agent_json(&name).expect("get"),
            Some(json(&name, 1)),
            "{name:?}"
        );
        // A name is not a pattern: `100%` and `a_b` match only themselves.
        assert_eq!(stores.agents.versions(&name).expect("versions").len(), 1);
    }
    assert_eq!(stores.agents.agent_json("100").expect("no prefix"), None);
    assert_eq!(stores.agents.agent_json("axb").expect("no wildcard"), None);
    for name in &names {
        assert!(
            stores.agents.delete_agent(name).expect("delete"),
            "{name:?}"
        );
    }
    assert!(stores.agents.list_agents().expect("list").is_empty());
}
