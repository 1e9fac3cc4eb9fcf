//! The layering, checked from `cargo metadata`: both doors (the `waymark` CLI and the desktop
//! app) start a host and speak only to the API, so neither may depend on the engine or the
//! agent crate (tests may, as dev-dependencies).

use std::process::Command;

use serde_json::Value;

const DOORS: [&str; 2] = ["waymark-cli", "waymark-desktop"];
const BEHIND_THE_API: [&str; 2] = ["waymark-engine", "waymark-agent"];

fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// Each package's normal and build dependencies on workspace crates.
fn runtime_deps(meta: &Value, package: &str) -> Vec<String> {
    let pkg = meta["packages"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == package))
        .unwrap_or_else(|| panic!("{package} is a workspace member"));
    pkg["dependencies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["kind"].is_null() || d["kind"] == "build")
        .filter_map(|d| d["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn neither_door_depends_on_the_engine_or_the_agent_crate() {
    let meta = metadata();
    for door in DOORS {
        let deps = runtime_deps(&meta, door);
        assert!(
            deps.iter().any(|d| d == "waymark-api"),
            "{door} speaks to the API: {deps:?}"
        );
        for crate_behind in BEHIND_THE_API {
            assert!(
                !deps.iter().any(|d| d == crate_behind),
                "{door} depends on {crate_behind}; a door may depend only on the API, the host and the server"
            );
        }
    }
}

#[test]
fn the_check_sees_dependencies_it_would_refuse() {
    // The host is where the engine and the agent crate are wired: a check that cannot see
    // them would pass for any door.
    let deps = runtime_deps(&metadata(), "waymark-host");
    for crate_behind in BEHIND_THE_API {
        assert!(deps.iter().any(|d| d == crate_behind), "{deps:?}");
    }
}
