//! `waymark db backup | vacuum | gc | stats` on a database with real runs in it.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_waymark");

fn waymark(home: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("WAYMARK_HOME", home)
        .env("WAYMARK_SECRET_BACKEND", "file")
        .env_remove("WAYMARK_DB")
        .output()
        .expect("run waymark");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn a_backup_opens_and_passes_the_check_and_stats_count_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (ok, text) = waymark(&home, &["demo", "--yes"]);
    assert!(ok, "{text}");
    let (ok, stats) = waymark(&home, &["db", "stats", "--json"]);
    assert!(ok, "{stats}");
    let stats: serde_json::Value = serde_json::from_str(&stats).expect("JSON stats");
    assert!(stats["runs"].as_u64().unwrap_or(0) >= 2, "{stats}");
    let copy = dir.path().join("copy.db");
    let (ok, text) = waymark(&home, &["db", "backup", &copy.to_string_lossy()]);
    assert!(ok, "{text}");
    let (ok, text) = waymark(&home, &["--db", &copy.to_string_lossy(), "db", "check"]);
    assert!(ok && text.starts_with("ok"), "{text}");
    let (ok, text) = waymark(&home, &["--db", &copy.to_string_lossy(), "runs", "list"]);
    assert!(ok && text.contains("succeeded"), "{text}");
    // A second backup to the same file is refused, naming it.
    let (ok, text) = waymark(&home, &["db", "backup", &copy.to_string_lossy()]);
    assert!(!ok && text.contains("copy.db"), "{text}");
    let (ok, text) = waymark(&home, &["db", "gc"]);
    assert!(ok, "{text}");
    let (ok, text) = waymark(&home, &["db", "vacuum"]);
    assert!(ok && text.contains("bytes before"), "{text}");
}
