//! [`TriggerStateStore`](waymark_agent::stores::TriggerStateStore)'s contract.

use std::collections::HashSet;

use waymark_agent::stores::{AgentStores, Removed};

use super::{odd_names, secret_ref};

/// Cron fires (first seen, forward only, retained by set), webhook secret references, and
/// no run for a key nothing started.
pub fn triggers(stores: &AgentStores) {
    let t = &stores.triggers;
    // First seen: recorded as fired now; a later look keeps that.
    assert_eq!(
        t.last_fire("a", "cron:* * * * *@UTC", 1_000)
            .expect("first"),
        1_000
    );
    assert_eq!(
        t.last_fire("a", "cron:* * * * *@UTC", 5_000)
            .expect("again"),
        1_000
    );
    t.record_fire("a", "cron:* * * * *@UTC", 2_000, 2_001)
        .expect("record");
    assert_eq!(
        t.last_fire("a", "cron:* * * * *@UTC", 9_000)
            .expect("moved"),
        2_000
    );
    // Never backwards (another process recorded a later tick).
    t.record_fire("a", "cron:* * * * *@UTC", 1_500, 2_002)
        .expect("older");
    assert_eq!(
        t.last_fire("a", "cron:* * * * *@UTC", 9_000).expect("kept"),
        2_000
    );
    // Recording a trigger never looked at creates it.
    t.record_fire("b", "k", 7, 7).expect("record new");
    assert_eq!(t.last_fire("b", "k", 100).expect("recorded"), 7);

    let odd = odd_names();
    for (i, name) in odd.iter().enumerate() {
        t.record_fire(name, name, i as i64, 0).expect("odd");
    }
    // Retain keeps exactly the listed pairs (odd ones too), whatever else there is.
    let mut keep: HashSet<(String, String)> = odd
        .iter()
        .step_by(2)
        .map(|n| (n.clone(), n.clone()))
        .collect();
    keep.insert(("a".into(), "cron:* * * * *@UTC".into()));
    keep.insert(("never".into(), "seen".into()));
    t.retain(&keep).expect("retain");
    assert_eq!(
        t.last_fire("a", "cron:* * * * *@UTC", 9_000).expect("kept"),
        2_000
    );
    assert_eq!(t.last_fire("b", "k", 100).expect("forgotten, so new"), 100);
    for (i, name) in odd.iter().enumerate() {
        let last = t.last_fire(name, name, -1).expect("odd");
        let expected = if i % 2 == 0 { i as i64 } else { -1 };
        assert_eq!(last, expected, "{name:?}");
    }
    // An empty set forgets everything.
    t.retain(&HashSet::new()).expect("retain none");
    assert_eq!(
        t.last_fire("a", "cron:* * * * *@UTC", 42).expect("fresh"),
        42
    );
    t.retain(&HashSet::new()).expect("clean up");

    assert_eq!(t.run_with_key("webhook:nobody:1").expect("no run"), None);

    assert_eq!(t.webhook_secret_ref("HOOK").expect("none"), None);
    assert_eq!(
        t.delete_webhook_secret_ref("HOOK").expect("absent"),
        Removed::default()
    );
    assert_eq!(
        t.set_webhook_secret_ref("HOOK", &secret_ref("w1"), 1)
            .expect("set"),
        Removed::default()
    );
    assert_eq!(
        t.webhook_secret_ref("HOOK").expect("get"),
        Some(secret_ref("w1"))
    );
    let replaced = t
        .set_webhook_secret_ref("HOOK", &secret_ref("w2"), 2)
        .expect("replace");
    assert_eq!(
        replaced,
        Removed {
            existed: true,
            secrets: vec![secret_ref("w1")]
        }
    );
    assert_eq!(t.webhook_secret_ref("hook").expect("names are exact"), None);
    let gone = t.delete_webhook_secret_ref("HOOK").expect("delete");
    assert_eq!(
        gone,
        Removed {
            existed: true,
            secrets: vec![secret_ref("w2")]
        }
    );
    assert_eq!(t.webhook_secret_ref("HOOK").expect("gone"), None);
}
