//! The agent commands of the `waymark` binary, run as a user would: agents, runs of agents,
//! approvals, MCP servers and the offline demo, each test in a data directory of its own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Instant;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_waymark");
const DEMO_ANSWER: &str = "Order A-1001 has shipped and should arrive within two days.";

/// `WAYMARK_HOME` in a temp dir, secrets in its file: no test shares state or touches $HOME.
struct Home {
    dir: tempfile::TempDir,
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self:?}"))
    }
}

impl Home {
    fn new() -> Self {
        Home {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `program` (the binary, or a wrapper such as unshare) with the sandbox's environment.
    fn command_via(&self, program: &str, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.env("WAYMARK_HOME", self.data_dir())
            .env("WAYMARK_SECRET_BACKEND", "file")
            .env_remove("WAYMARK_DB")
            .env_remove("RUST_LOG")
            .env_remove("DEMO_TOOLS_OUTBOX")
            .args(args)
            .stdin(Stdio::null());
        c
    }

    fn command(&self, args: &[&str]) -> Command {
        self.command_via(BIN, args)
    }

    fn run(&self, args: &[&str]) -> Ran {
        ran(self.command(args))
    }

    fn ok(&self, args: &[&str]) -> Ran {
        let r = self.run(args);
        assert_eq!(r.code, Some(0), "waymark {args:?} failed:\n{r:?}");
        r
    }

    /// A command that must fail with exit 1 and one `error:` line.
    fn fails(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(r.code, Some(1), "waymark {args:?} should fail:\n{r:?}");
        let line = r.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "want one error line:\n{r:?}");
        assert!(line.starts_with("error: "), "{r:?}");
        line.to_string()
    }
}

fn ran(mut c: Command) -> Ran {
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("run waymark");
    Ran {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

fn outbox_lines(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("no outbox at {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("outbox line ({e}): {l}")))
        .collect()
}

#[test]
fn agents_add_list_show_export_round_trip_and_a_scripted_run_answers() {
    let h = Home::new();
    let specs = h.path("specs");
    std::fs::create_dir_all(&specs).expect("specs dir");
    std::fs::write(
        specs.join("greeter.script.json"),
        r#"{"turns": [{"text": "Hello from the script.", "usage": {"input_tokens": 12, "output_tokens": 5}}]}"#,
    )
    .expect("script");
    let spec = specs.join("greeter.toml");
    std::fs::write(
        &spec,
        "name = \"greeter\"\ndescription = \"Says hello.\"\ninstructions = \"Greet.\"\n\n\
         [model]\nprovider = \"scripted\"\nscript = \"greeter.script.json\"\n",
    )
    .expect("spec");

    // From another folder, so the relative script path must be taken from the spec's.
    let mut add = h.command(&["agents", "add", s(&spec)]);
    add.current_dir(h.dir.path());
    let added = ran(add);
    assert_eq!(added.code, Some(0), "{added:?}");
    assert!(
        added.stdout.starts_with("added agent greeter (sha256:"),
        "{added:?}"
    );

    let list = h.ok(&["agents", "list", "--json"]).json();
    assert_eq!(list[0]["name"], "greeter", "{list}");
    assert_eq!(list[0]["description"], "Says hello.");
    assert!(h.ok(&["agents", "list"]).stdout.contains("greeter"));

    let toml = h.ok(&["agents", "show", "greeter"]).stdout;
    let script = specs.join("greeter.script.json");
    assert!(toml.contains("name = \"greeter\""), "{toml}");
    assert!(
        toml.contains(s(&script)),
        "the script path is absolute: {toml}"
    );
    let json = h.ok(&["agents", "show", "greeter", "--json"]).json();
    assert_eq!(json["model"]["script"], s(&script));

    // Exported as JSON and added again: the same spec, so the same hash.
    let exported = h.path("greeter.json");
    h.ok(&["agents", "export", "greeter", "--output", s(&exported)]);
    let back: Value =
        serde_json::from_str(&std::fs::read_to_string(&exported).expect("export")).expect("json");
    assert_eq!(back, json);
    let again = h.ok(&["agents", "add", s(&exported), "--json"]).json();
    assert_eq!(again["hash"], list[0]["hash"]);
    let as_toml = h
        .ok(&["agents", "export", "greeter", "--format", "toml"])
        .stdout;
    assert_eq!(as_toml.trim_end(), toml.trim_end());

    let r = h.run(&["run", "greeter", "--input", "hi", "--wait", "--json"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let out = r.json();
    assert_eq!(out["answer"], "Hello from the script.", "{out}");
    assert_eq!(out["status"], "succeeded");
    assert_eq!(out["usage"]["total_tokens"], 17);
    let keys: Vec<&str> = out["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["key"].as_str())
        .collect();
    assert!(keys.contains(&"llm/1"), "{out}");

    h.ok(&["agents", "rm", "greeter"]);
    let e = h.fails(&["agents", "show", "greeter"]);
    assert!(e.contains("no agent named \"greeter\""), "{e}");
    let e = h.fails(&["run", "greeter", "--input", "hi"]);
    assert!(e.contains("greeter"), "{e}");
}

#[test]
fn demo_with_yes_answers_and_sends_exactly_one_email() {
    let h = Home::new();
    let r = h.ok(&["demo", "--yes"]);
    assert!(r.stdout.contains(DEMO_ANSWER), "{r:?}");
    for seen in [
        "attempt 1 failed",
        "waits for a person's approval",
        "send_email",
    ] {
        assert!(r.stdout.contains(seen), "no {seen:?} in:\n{r:?}");
    }
    let outbox = h.data_dir().join("demo-outbox.jsonl");
    assert!(r.stdout.contains(s(&outbox)), "{r:?}");
    let mails = outbox_lines(&outbox);
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0]["to"], "ada@example.com");
}

/// No network namespace at all and no provider keys: the demo needs neither.
#[test]
fn demo_runs_without_network_or_api_keys() {
    let probe = Command::new("unshare").args(["-rn", "true"]).status();
    assert!(
        probe.as_ref().is_ok_and(|s| s.success()),
        "`unshare -rn true` must work here (user and network namespaces): {probe:?}"
    );
    let h = Home::new();
    let mut c = h.command_via("unshare", &["-rn", BIN, "demo"]);
    c.env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY");
    let r = ran(c);
    assert_eq!(r.code, Some(0), "{r:?}");
    // stdin is not a terminal and there is no --yes: the demo approves by itself.
    assert!(
        r.stdout.contains("no terminal: approving automatically"),
        "{r:?}"
    );
    assert!(r.stdout.contains(DEMO_ANSWER), "{r:?}");
    assert_eq!(
        outbox_lines(&h.data_dir().join("demo-outbox.jsonl")).len(),
        1
    );
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/mcp")
        .join(name)
}

const SECRETS: [&str; 3] = [
    "sk-claude-secret-123",
    "tok-claude-secret-456",
    "sk-vscode-secret-789",
];

#[test]
fn mcp_import_shows_masked_servers_and_keeps_secrets_out_of_the_database() {
    let h = Home::new();
    let claude = fixture("claude_desktop_config.json");

    // Not a terminal and no --yes: the listing, then a refusal; nothing saved.
    let r = h.run(&["mcp", "import", s(&claude)]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stdout.contains("fs: npx"), "{r:?}");
    assert!(
        r.stderr
            .contains("not saved: pass --yes to save without a prompt"),
        "{r:?}"
    );
    assert_eq!(
        h.ok(&["mcp", "list", "--json"]).json(),
        Value::Array(vec![])
    );

    let r = h.ok(&["mcp", "import", s(&claude), "--yes"]);
    assert!(r.stdout.contains("API_KEY=***"), "{r:?}");
    assert!(r.stdout.contains("Authorization=***"), "{r:?}");

    // VS Code's file names ${workspaceFolder}: it is read from a workspace's .vscode folder.
    let vscode = h.path("ws/.vscode/mcp.json");
    std::fs::create_dir_all(vscode.parent().expect("parent")).expect("mkdir");
    std::fs::copy(fixture("vscode_mcp.json"), &vscode).expect("copy");
    let mut c = h.command(&["mcp", "import", s(&vscode), "--yes"]);
    c.env("WAYMARK_TEST_MCP_KEY", SECRETS[2]);
    let r = ran(c);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout.contains("github-token"),
        "the unresolved input is named: {r:?}"
    );
    assert!(r.stdout.contains("note: "), "{r:?}");

    // Else the search for secrets below would pass on a missing file.
    assert!(h.data_dir().join("waymark.db").is_file());
    let listed = h.ok(&["mcp", "list"]).stdout;
    let json = h.ok(&["mcp", "list", "--json"]).stdout;
    for name in ["fs", "remote", "files", "github", "legacy"] {
        assert!(listed.contains(name), "{name} missing:\n{listed}");
        assert!(
            json.contains(&format!("\"{name}\"")),
            "{name} missing:\n{json}"
        );
    }
    assert!(listed.contains("API_KEY=***"), "{listed}");
    for secret in SECRETS {
        assert!(
            !listed.contains(secret) && !json.contains(secret),
            "{secret} shown"
        );
        for file in ["waymark.db", "waymark.db-wal"] {
            let path = h.data_dir().join(file);
            let bytes = std::fs::read(&path).unwrap_or_default();
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "{secret} is in {}", path.display());
        }
    }

    h.ok(&["mcp", "rm", "legacy"]);
    assert!(!h.ok(&["mcp", "list"]).stdout.contains("legacy"));
    let e = h.fails(&["mcp", "rm", "legacy"]);
    assert!(e.contains("no MCP server named \"legacy\""), "{e}");
}

#[test]
fn a_malformed_mcp_config_is_refused_naming_the_file_and_the_field() {
    let h = Home::new();
    let e = h.fails(&["mcp", "import", s(&fixture("malformed.json")), "--yes"]);
    assert!(e.contains("malformed.json"), "{e}");
    assert!(e.contains("mcpServers.fs.args"), "{e}");
    let e = h.fails(&["mcp", "import", s(&fixture("broken_syntax.json")), "--yes"]);
    assert!(
        e.contains("broken_syntax.json") && e.contains("line 5"),
        "{e}"
    );
    assert_eq!(
        h.ok(&["mcp", "list", "--json"]).json(),
        Value::Array(vec![])
    );
}

#[test]
fn mcp_tools_and_calls_on_the_demo_server_check_arguments_first() {
    let h = Home::new();
    let outbox = h.path("outbox.jsonl");
    // The first lookup answers a tool error on purpose: `isError` exits 2.
    h.ok(&[
        "mcp",
        "add",
        "demo",
        "--env",
        r#"DEMO_TOOLS_FAULTS={"lookup_order": {"fail_next": 1}}"#,
        "--",
        BIN,
        "demo-tools",
        "--outbox",
        s(&outbox),
    ]);
    let listed = h.ok(&["mcp", "list"]).stdout;
    assert!(listed.contains("DEMO_TOOLS_FAULTS=***"), "{listed}");

    let tools = h.ok(&["mcp", "tools", "demo", "--json"]).json();
    let safety = |name: &str| {
        tools
            .as_array()
            .and_then(|t| t.iter().find(|t| t["name"] == name))
            .map(|t| t["safety"].clone())
            .unwrap_or_else(|| panic!("no {name} in {tools}"))
    };
    assert_eq!(safety("lookup_order"), "retry_safe");
    assert_eq!(safety("send_email"), "at_most_once");
    let table = h.ok(&["mcp", "tools", "demo"]).stdout;
    assert!(table.contains("destructive=true"), "{table}");

    let args = r#"{"order_id":"A-1001"}"#;
    let r = h.run(&["mcp", "call", "demo", "lookup_order", args]);
    assert_eq!(
        r.code,
        Some(2),
        "the injected fault is an isError result: {r:?}"
    );
    // Each `mcp call` starts the server afresh, so the fault applies again; arguments from @FILE.
    let args_file = h.path("args.json");
    std::fs::write(&args_file, args).expect("args");
    let r = h.run(&[
        "mcp",
        "call",
        "demo",
        "lookup_order",
        &format!("@{}", s(&args_file)),
    ]);
    assert_eq!(r.code, Some(2), "{r:?}");

    h.ok(&[
        "mcp",
        "add",
        "plain",
        "--",
        BIN,
        "demo-tools",
        "--outbox",
        s(&outbox),
    ]);
    let r = h.ok(&["mcp", "call", "plain", "lookup_order", args]);
    assert!(
        r.stdout.contains("Ada Lovelace") && r.stdout.contains("A-1001"),
        "{r:?}"
    );

    let r = h.run(&["mcp", "call", "plain", "lookup_order", r#"{"order_id":5}"#]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stderr.contains("/order_id") && r.stderr.contains("string"),
        "{r:?}"
    );
    let e = h.fails(&["mcp", "call", "plain", "no_such_tool", "{}"]);
    assert!(
        e.contains("no tool named \"no_such_tool\"") && e.contains("lookup_order"),
        "{e}"
    );
    let e = h.fails(&["mcp", "call", "plain", "lookup_order", "{nope"]);
    assert!(e.contains("not valid JSON"), "{e}");
}

/// A child process that is killed when the test ends, whether it passes or panics.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_run_stops_at_its_approval_and_decisions_check_the_step() {
    let h = Home::new();
    let nobody = "01a20000-0000-7000-8000-000000000000";
    let e = h.fails(&["approve", nobody, "llm/3"]);
    assert!(e.contains("expected approval/N.I"), "{e}");
    let e = h.fails(&["answer", nobody, "approval/4.1", "yes"]);
    assert!(e.contains("expected tool/N.I"), "{e}");
    let e = h.fails(&["approve", nobody, "approval/4.1"]);
    assert!(e.contains("not found"), "{e}");

    // The demo installs its agents and server; then a run of its agent waits for the email.
    h.ok(&["demo", "--yes"]);
    let r = h.run(&[
        "run",
        "demo-support",
        "--input",
        "Where is A-1001?",
        "--wait",
        "--json",
    ]);
    assert_eq!(r.code, Some(2), "{r:?}");
    let out = r.json();
    let run = out["run_id"].as_str().expect("run id").to_string();
    assert_eq!(out["waiting"][0]["kind"], "approval", "{out}");
    assert_eq!(out["waiting"][0]["step"], "approval/4.1");
    assert_eq!(out["waiting"][0]["tool"], "send_email");
    let commands = out["waiting"][0]["commands"].to_string();
    assert!(
        commands.contains(&format!("waymark approve {run} approval/4.1")),
        "{out}"
    );

    let human = h.run(&["run", "demo-support", "--input", "Again?", "--wait"]);
    assert_eq!(human.code, Some(2), "{human:?}");
    assert!(
        human
            .stdout
            .contains("waits for approval to call send_email"),
        "{human:?}"
    );
    assert!(human.stdout.contains("waymark approve "), "{human:?}");

    let e = h.fails(&["approve", &run, "approval/9.1"]);
    assert!(
        e.contains("does not wait for approval") && e.contains("approval/4.1"),
        "{e}"
    );
    let e = h.fails(&["answer", &run, "tool/4.1", "hello"]);
    assert!(e.contains("does not wait for an answer"), "{e}");
    let r = h.ok(&["approve", &run, "4.1"]);
    assert!(
        r.stdout.contains("approved approval/4.1 (send_email)"),
        "{r:?}"
    );

    // A worker in another process picks the decision up and the run finishes.
    let worker = h
        .command(&["worker"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn worker");
    let _worker = Killed(worker);
    let started = Instant::now();
    let r = h.run(&["runs", "wait", &run, "--timeout-secs", "120", "--json"]);
    assert_eq!(r.code, Some(0), "after {:?}: {r:?}", started.elapsed());
    assert_eq!(r.json()["status"], "succeeded");
    let e = h.fails(&["approve", &run, "approval/4.1"]);
    assert!(e.contains("already ended"), "{e}");
}

/// Writes a scripted agent `name` with the given tools (TOML) and model turns (JSON) and adds it.
fn add_scripted(h: &Home, name: &str, tools_toml: &str, turns: &str) {
    let script = h.path(&format!("{name}.script.json"));
    std::fs::write(&script, format!(r#"{{"turns": {turns}}}"#)).expect("script");
    let spec = h.path(&format!("{name}.toml"));
    std::fs::write(
        &spec,
        format!(
            "name = \"{name}\"\ninstructions = \"Help.\"\n\n[model]\nprovider = \"scripted\"\n\
             script = \"{name}.script.json\"\n\n{tools_toml}"
        ),
    )
    .expect("spec");
    h.ok(&["agents", "add", s(&spec)]);
}

#[test]
fn an_agent_remembers_asks_a_person_and_goes_on_with_the_answer() {
    let h = Home::new();
    add_scripted(
        &h,
        "asker",
        "[[tools]]\nkind = \"builtin\"\nname = \"remember\"\n\n\
         [[tools]]\nkind = \"builtin\"\nname = \"ask_human\"\n",
        r#"[
            {"text": "", "tool_calls": [{"id": "c1", "name": "remember", "arguments": {"key": "colour", "value": "likes blue"}}]},
            {"text": "", "tool_calls": [{"id": "c2", "name": "ask_human", "arguments": {"question": "Which size?"}}]},
            {"text": "Size noted."}
        ]"#,
    );
    let r = h.run(&["run", "asker", "--input", "hi", "--wait"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(
        r.stdout
            .contains("step tool/2.1 asks a person: Which size?"),
        "{r:?}"
    );
    let run = r
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("waymark answer "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no answer command in:\n{r:?}"))
        .to_string();

    let memory = h.ok(&["memory", "list", "asker", "--json"]).json();
    assert_eq!(memory[0]["key"], "colour", "{memory}");
    assert_eq!(memory[0]["value"], "likes blue");
    assert!(h
        .ok(&["memory", "list", "asker"])
        .stdout
        .contains("likes blue"));

    let e = h.fails(&["approve", &run, "2.1"]);
    assert!(
        e.contains("does not wait for approval") && e.contains("tool/2.1"),
        "{e}"
    );
    let r = h.ok(&["answer", &run, "tool/2.1", "Large"]);
    assert!(r.stdout.contains("answered tool/2.1"), "{r:?}");

    let worker = h
        .command(&["worker"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn worker");
    let _worker = Killed(worker);
    let r = h.run(&["runs", "wait", &run, "--timeout-secs", "120"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let trace: Value =
        serde_json::from_str(&h.ok(&["runs", "show", &run, "--json"]).stdout).expect("trace json");
    assert_eq!(trace["run"]["output"]["answer"], "Size noted.");
    let asked = trace["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["key"] == "tool/2.1"))
        .map(|s| s["output"].to_string())
        .unwrap_or_default();
    assert!(
        asked.contains("\"Large\""),
        "the answer is the step's output: {asked}"
    );
}
