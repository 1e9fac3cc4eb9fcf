//! `waymark runs export RUN --replay FILE` then `waymark run AGENT --replay FILE`: the demo
//! run replayed offline gives the same steps and answer; `waymark agents draft` prints a
//! draft it checked.

use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_waymark");

fn waymark(home: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("WAYMARK_HOME", home)
        .env("WAYMARK_SECRET_BACKEND", "file")
        .env_remove("WAYMARK_DB")
        .output()
        .expect("run waymark");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    (
        out.status.success(),
        if out.status.success() {
            text
        } else {
            text + &err
        },
    )
}

fn steps(run: &Value) -> Vec<(String, String)> {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["key"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_demo_run_exported_replays_with_the_same_steps_and_answer() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (ok, text) = waymark(&home, &["demo", "--yes"]);
    assert!(ok, "{text}");
    let (ok, list) = waymark(&home, &["runs", "list", "--json"]);
    assert!(ok, "{list}");
    let runs: Value = serde_json::from_str(&list).unwrap();
    let original = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["parent_run_id"].is_null())
        .expect("the demo run")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let file = dir.path().join("demo.replay.json");
    let (ok, text) = waymark(
        &home,
        &[
            "runs",
            "export",
            &original,
            "--replay",
            &file.to_string_lossy(),
        ],
    );
    assert!(ok, "{text}");
    let (ok, text) = waymark(
        &home,
        &[
            "run",
            "demo-support",
            "--replay",
            &file.to_string_lossy(),
            "--wait",
            "--json",
        ],
    );
    assert!(ok, "{text}");
    let replayed: Value = serde_json::from_str(&text).unwrap();
    let (ok, text) = waymark(&home, &["runs", "show", &original, "--json"]);
    assert!(ok, "{text}");
    let original: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        replayed["answer"].as_str(),
        original["run"]["output"]["answer"].as_str()
    );
    let (ok, text) = waymark(
        &home,
        &[
            "runs",
            "show",
            replayed["run_id"].as_str().unwrap(),
            "--json",
        ],
    );
    assert!(ok, "{text}");
    let replayed_trace: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(steps(&replayed_trace), steps(&original));
    // A file of another agent is refused, naming both.
    let (ok, text) = waymark(
        &home,
        &[
            "run",
            "demo-researcher",
            "--replay",
            &file.to_string_lossy(),
        ],
    );
    assert!(!ok && text.contains("demo-support"), "{text}");
}

#[test]
fn agents_draft_prints_a_checked_draft() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let draft = r#"{"name": "greeter", "instructions": "Greet people.", "model": {"provider": "openai", "model": "gpt-4o-mini"}}"#;
    let script = dir.path().join("draft.json");
    let turns = serde_json::json!({"turns": [{"text": format!("```json\n{draft}\n```")}]});
    std::fs::write(&script, turns.to_string()).unwrap();
    let model = serde_json::json!({"provider": "scripted", "script": script}).to_string();
    let (ok, text) = waymark(
        &home,
        &[
            "agents",
            "draft",
            "An agent that greets people",
            "--model",
            &model,
        ],
    );
    assert!(ok, "{text}");
    assert!(text.contains("name = \"greeter\""), "{text}");
    // Nothing was saved.
    let (ok, list) = waymark(&home, &["agents", "list", "--json"]);
    assert!(ok && !list.contains("greeter"), "{list}");
    let (ok, text) = waymark(&home, &["agents", "draft", "  ", "--model", &model]);
    assert!(!ok && text.contains("description"), "{text}");
}
