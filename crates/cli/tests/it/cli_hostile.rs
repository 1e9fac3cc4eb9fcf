//! Hostile input through the CLI door, as a user's shell would send it: forged payload
//! references, overflowing durations, bad paths, a stdio server that dumps its environment.
//! Each gets a clear one-line error or works, and the database keeps working afterwards.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_waymark");

struct Sandbox {
    dir: tempfile::TempDir,
    db: PathBuf,
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("runs.db");
        Sandbox { dir, db }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Ran {
        let out = Command::new(BIN)
            .env("WAYMARK_HOME", self.dir.path().join("home"))
            .env("WAYMARK_SECRET_BACKEND", "file")
            .env_remove("WAYMARK_DB")
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .arg("--db")
            .arg(&self.db)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run waymark");
        Ran {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn ok(&self, args: &[&str]) -> Value {
        let r = self.run(args, &[]);
        assert_eq!(r.code, Some(0), "{args:?}: {}{}", r.stdout, r.stderr);
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {}", r.stdout))
    }

    /// Fails with exit 1 and one clear line that contains `names`.
    fn refused(&self, args: &[&str], names: &str) {
        let r = self.run(args, &[]);
        assert_ne!(r.code, Some(0), "{args:?} was accepted: {}", r.stdout);
        assert!(r.stderr.contains(names), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
    }

    fn list_loads(&self) {
        let listed = self.ok(&["runs", "list", "--json"]);
        assert!(
            listed.is_array() || listed.get("runs").is_some(),
            "{listed}"
        );
    }
}

#[test]
fn a_forged_payload_reference_is_kept_as_given_and_the_list_still_loads() {
    let s = Sandbox::new();
    for input in [
        json!({"$waymark_blob": "00"}),
        json!({"$$waymark_blob": "00", "x": [{"$waymark_blob": null}]}),
    ] {
        let text = input.to_string();
        let started = s.ok(&[
            "runs",
            "start",
            "not.registered",
            "--input",
            &text,
            "--json",
        ]);
        let run = started["run_id"].as_str().expect("run id").to_string();
        let shown = s.ok(&["runs", "show", &run, "--json"]);
        let stored = shown
            .pointer("/run/input")
            .or_else(|| shown.pointer("/trace/run/input"))
            .or_else(|| shown.get("input"))
            .cloned();
        assert_eq!(stored, Some(input), "{shown}");
        s.list_loads();
    }
}

#[test]
fn overflowing_durations_are_refused_by_name_and_writes_go_on() {
    let s = Sandbox::new();
    s.refused(
        &[
            "events",
            "send",
            "x",
            "{}",
            "--ttl-secs",
            "9223372036854775",
        ],
        "ttl_secs",
    );
    s.ok(&["events", "send", "x", "{}", "--json"]);
    s.refused(
        &[
            "runs",
            "start",
            "example.order",
            "--deadline-secs",
            "18446744073709551615",
        ],
        "deadline_secs",
    );
    s.list_loads();
}

#[test]
fn an_agent_whose_tool_timeout_would_overflow_is_refused_naming_the_field() {
    let s = Sandbox::new();
    let spec = s.path("slow.toml");
    std::fs::write(
        &spec,
        r#"name = "slow"
instructions = "x"
[model]
provider = "scripted"
script = "none.json"
[[tools]]
kind = "builtin"
name = "ask_human"
[tool_overrides.ask_human]
timeout_secs = 18446744073709551615
"#,
    )
    .expect("spec");
    let path = spec.display().to_string();
    s.refused(
        &["agents", "add", &path],
        "tool_overrides.ask_human.timeout_secs",
    );
}

#[test]
fn a_backup_into_a_missing_folder_is_a_clear_error() {
    let s = Sandbox::new();
    s.ok(&["runs", "start", "not.registered", "--json"]);
    let target = s.path("no/such/folder/backup.db");
    let target = target.display().to_string();
    s.refused(&["db", "backup", &target], "folder");
    s.list_loads();
}

fn demo_tools_binary() -> PathBuf {
    // The workspace's own demo MCP server, built next to this binary.
    Path::new(BIN)
        .parent()
        .expect("bin dir")
        .join("waymark-demo-tools")
}

#[test]
fn a_stdio_server_added_by_the_cli_gets_no_provider_key() {
    let s = Sandbox::new();
    let dump = s.path("env.txt");
    let demo = demo_tools_binary();
    let script = format!(
        "env > '{}'; exec '{}' --outbox '{}'",
        dump.display(),
        demo.display(),
        s.path("outbox.jsonl").display()
    );
    let r = s.run(
        &[
            "mcp",
            "add",
            "dumper",
            "--env",
            "MINE=configured-value",
            "--",
            "sh",
            "-c",
            &script,
        ],
        &[],
    );
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    let secret = "sk-proj-cli-hostile-0123456789";
    let r = s.run(
        &["mcp", "tools", "dumper", "--json"],
        &[("OPENAI_API_KEY", secret), ("ANTHROPIC_API_KEY", secret)],
    );
    let env = std::fs::read_to_string(&dump).expect("the server wrote its environment");
    assert!(
        !env.contains(secret),
        "a provider key reached the server: {env}"
    );
    assert!(env.contains("MINE=configured-value"), "{env}");
    assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");
    assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret));
}

#[test]
fn a_postgres_url_is_a_server_database_never_a_folder_and_its_password_never_shown() {
    let sandbox = Sandbox::new();
    for url in [
        // A password in the URL is refused before anything is tried.
        "postgres://waymark:pw-not-to-show@127.0.0.1:1/runs",
        // Nothing listens there: a clear error naming the database.
        "postgresql://127.0.0.1:1/runs",
    ] {
        let out = Command::new(BIN)
            .current_dir(sandbox.dir.path())
            .env("WAYMARK_HOME", sandbox.path("home"))
            .env("WAYMARK_SECRET_BACKEND", "file")
            .env("WAYMARK_DB", url)
            .env_remove("RUST_LOG")
            .args(["runs", "list"])
            .stdin(Stdio::null())
            .output()
            .expect("run waymark");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{url}: {stderr}");
        assert!(
            stderr.contains("postgres"),
            "names what was given: {stderr}"
        );
        assert!(
            !stderr.contains("pw-not-to-show"),
            "never repeats the URL: {stderr}"
        );
        let made: Vec<String> = std::fs::read_dir(sandbox.dir.path())
            .expect("list")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("postgres"))
            .collect();
        assert!(made.is_empty(), "no folder named after the URL: {made:?}");
    }
}
