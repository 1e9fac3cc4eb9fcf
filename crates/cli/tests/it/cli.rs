//! The `waymark` binary, run as a user would: real processes on a database in a temp dir.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_waymark");

/// A data directory and a database of its own, so tests never share state or touch $HOME.
struct Sandbox {
    dir: tempfile::TempDir,
    db: PathBuf,
}

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
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

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("runs.db");
        Sandbox { dir, db }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.env("WAYMARK_HOME", self.dir.path().join("home"))
            .env_remove("WAYMARK_DB")
            .env_remove("RUST_LOG")
            .arg("--db")
            .arg(&self.db)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Ran {
        let Output {
            status,
            stdout,
            stderr,
        } = self.command(args).output().expect("run waymark");
        Ran {
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        }
    }

    /// Runs a command that must succeed.
    fn ok(&self, args: &[&str]) -> Ran {
        let r = self.run(args);
        assert_eq!(r.code, Some(0), "waymark {args:?} failed:\n{r:?}");
        r
    }

    fn spawn(&self, args: &[&str], stderr_to: &Path) -> Killed {
        let log = std::fs::File::create(stderr_to).expect("stderr file");
        let child = self
            .command(args)
            .stdout(Stdio::piped())
            // Kept in a file that a failing test prints.
            .env("RUST_LOG", "info,waymark_engine=debug")
            .stderr(log)
            .spawn()
            .expect("spawn waymark");
        Killed(child)
    }
}

/// A child process that is killed when the test ends, whether it passes or panics.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Killed {
    /// Sends SIGTERM (through kill(1): no libc dependency for one call) and waits for the exit.
    fn terminate(&mut self, within: Duration) -> Option<i32> {
        let pid = self.0.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let until = Instant::now() + within;
        while Instant::now() < until {
            if let Ok(Some(status)) = self.0.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the process did not exit within {within:?} of SIGTERM");
    }
}

fn one_error_line(r: &Ran) -> &str {
    let line = r.stderr.trim_end();
    assert_eq!(line.lines().count(), 1, "want one error line:\n{r:?}");
    assert!(line.starts_with("error: "), "{r:?}");
    assert!(
        !line.contains("panicked") && !line.contains("backtrace"),
        "{r:?}"
    );
    line
}

fn step<'a>(trace: &'a Value, key: &str) -> &'a Value {
    trace["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["key"] == key))
        .unwrap_or_else(|| panic!("no step {key} in {trace:#}"))
}

fn run_id(trace: &Value) -> String {
    trace["run"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no run id in {trace:#}"))
        .to_string()
}

#[test]
fn an_order_started_with_wait_succeeds_and_its_trace_shows_the_retry() {
    let s = Sandbox::new();
    let human = s.ok(&[
        "runs",
        "start",
        "example.order",
        "--input",
        r#"{"item": "pen", "qty": 3}"#,
        "--wait",
    ]);
    assert!(human.stdout.contains("succeeded"), "{human:?}");
    assert!(human.stdout.contains("inventory service busy"), "{human:?}");

    let started = s.ok(&[
        "runs",
        "start",
        "example.order",
        "--input",
        r#"{"item": "pen", "qty": 3}"#,
        "--wait",
        "--json",
    ]);
    let id = run_id(&started.json());
    let trace = s.ok(&["runs", "show", &id, "--json"]).json();
    assert_eq!(trace["run"]["status"], "succeeded");
    let keys: Vec<&str> = trace["steps"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["key"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        [
            "inventory/check",
            "timer/cool-off",
            "payment/charge",
            "email/confirm"
        ]
    );
    let inventory = step(&trace, "inventory/check");
    let outcomes: Vec<&str> = inventory["attempt_list"]
        .as_array()
        .map(|a| a.iter().filter_map(|a| a["outcome"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(outcomes, ["error", "ok"], "{inventory:#}");
    assert_eq!(step(&trace, "payment/charge")["safety"], "at_most_once");
    assert_eq!(trace["run"]["output"]["qty"], 3);

    let listed = s
        .ok(&["runs", "list", "--status", "succeeded", "--json"])
        .json();
    let ids: Vec<&str> = listed
        .as_array()
        .map(|a| a.iter().filter_map(|r| r["id"].as_str()).collect())
        .unwrap_or_default();
    assert!(ids.contains(&id.as_str()), "{listed:#}");
    assert_eq!(ids.len(), 2);
    let failed = s
        .ok(&["runs", "list", "--status", "failed", "--json"])
        .json();
    assert_eq!(failed.as_array().map(Vec::len), Some(0));
    let table = s.ok(&["runs", "list"]);
    assert!(table.stdout.contains(&id) && table.stdout.contains("example.order@1"));
}

#[test]
fn a_parent_run_returns_its_child_order() {
    let s = Sandbox::new();
    let trace = s
        .ok(&["runs", "start", "example.parent", "--wait", "--json"])
        .json();
    assert_eq!(trace["run"]["status"], "succeeded", "{trace:#}");
    assert_eq!(trace["run"]["output"]["item"], "notebook");
    let child = trace["children"][0].as_str().expect("one child run");
    let child_trace = s.ok(&["runs", "show", child, "--json"]).json();
    assert_eq!(child_trace["run"]["status"], "succeeded");
    assert_eq!(child_trace["run"]["parent_run_id"], trace["run"]["id"]);
}

#[test]
fn a_failed_run_exits_2_with_its_trace() {
    let s = Sandbox::new();
    let r = s.run(&[
        "runs",
        "start",
        "example.order",
        "--input",
        r#"{"qty": 1}"#,
        "--wait",
    ]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(
        r.stdout.contains("failed") && r.stdout.contains("invalid_input"),
        "{r:?}"
    );
}

#[test]
fn unknown_runs_bad_ids_bad_json_and_bad_statuses_are_one_line_errors() {
    let s = Sandbox::new();
    let missing = "01a213bf-37f1-7586-8edf-000000000000";
    let r = s.run(&["runs", "show", missing]);
    assert_eq!(r.code, Some(1));
    assert_eq!(
        one_error_line(&r),
        format!("error: run {missing} not found")
    );

    let r = s.run(&["runs", "show", "not-a-run"]);
    assert_eq!(r.code, Some(1));
    assert!(one_error_line(&r).contains("not a run id"));

    let r = s.run(&["runs", "start", "example.order", "--input", "{item: pen}"]);
    assert_eq!(r.code, Some(1));
    assert!(one_error_line(&r).contains("--input"), "{r:?}");

    let r = s.run(&["runs", "list", "--status", "done"]);
    assert_eq!(r.code, Some(1));
    assert!(one_error_line(&r).contains("queued, running, waiting, needs_attention"));

    let r = s.run(&["runs", "resolve", missing, "payment/charge", "--done", "{"]);
    assert_eq!(r.code, Some(1));
    assert!(one_error_line(&r).contains("--done"), "{r:?}");

    // Exactly one resolution is required: clap refuses none, and two.
    let r = s.run(&["runs", "resolve", missing, "payment/charge"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    let r = s.run(&["runs", "resolve", missing, "k", "--retry", "--fail", "no"]);
    assert_eq!(r.code, Some(2), "{r:?}");
}

#[test]
fn db_check_passes_on_a_fresh_database() {
    let s = Sandbox::new();
    let r = s.ok(&["db", "check"]);
    assert_eq!(r.stdout.lines().next(), Some("ok"), "{r:?}");
    assert!(r.stdout.contains("schema version"), "{r:?}");
    let j = s.ok(&["db", "check", "--json"]).json();
    assert_eq!(j["ok"], true);
    assert!(j["schema_version"].as_i64().is_some_and(|v| v >= 1));
    assert!(j["size_bytes"].as_u64().is_some_and(|n| n > 0));
}

#[test]
fn db_check_reports_a_file_of_random_bytes_as_corrupt() {
    let s = Sandbox::new();
    // xorshift: random enough to be no database, and the same on every run.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let bytes: Vec<u8> = (0..16 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    std::fs::write(&s.db, bytes).expect("write junk");
    let r = s.run(&["db", "check"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(one_error_line(&r).contains("corrupt"), "{r:?}");
    let r = s.run(&["runs", "list"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(one_error_line(&r).contains("corrupt"), "{r:?}");
}

#[test]
fn a_queued_run_is_cancelled_at_once() {
    let s = Sandbox::new();
    let id = s.ok(&["runs", "start", "example.approval"]).stdout;
    let id = id.trim();
    assert_eq!(
        s.ok(&["runs", "show", id, "--json"]).json()["run"]["status"],
        "queued"
    );
    let r = s.ok(&["runs", "cancel", id, "--json"]).json();
    assert_eq!(r["cancelled_now"][0], id);
    assert_eq!(
        s.ok(&["runs", "show", id, "--json"]).json()["run"]["status"],
        "cancelled"
    );
    let r = s.run(&["runs", "wait", id, "--timeout-secs", "5"]);
    assert_eq!((r.code, r.stdout.trim()), (Some(2), "cancelled"), "{r:?}");
}

/// The worker, the starter, the event sender and the waiter are four processes on one file.
#[test]
fn an_event_sent_from_another_process_wakes_a_run_on_a_worker_process() {
    let s = Sandbox::new();
    let worker_log = s.dir.path().join("worker.stderr");
    let mut worker = s.spawn(&["worker", "--lease-secs", "5"], &worker_log);
    let worker_said = || std::fs::read_to_string(&worker_log).unwrap_or_default();

    let id = s
        .ok(&[
            "runs",
            "start",
            "example.approval",
            "--input",
            r#"{"change": "deploy"}"#,
            "--json",
        ])
        .json()["run_id"]
        .as_str()
        .map(str::to_string)
        .expect("run id");

    // Nothing in this process can be awaited, so poll the CLI until the worker has parked the run.
    let trace = poll_trace(
        &s,
        &id,
        "the wait for approval",
        |t| step_status(t, "approval/wait") == Some("waiting"),
        &mut worker,
        &worker_log,
    );
    assert_eq!(trace["run"]["status"], "waiting", "{trace:#}");

    let payload = format!(r#"{{"run": "{id}", "by": "ann"}}"#);
    let event = s.ok(&["events", "send", "approval", &payload]);
    assert!(event.stdout.trim().parse::<i64>().is_ok(), "{event:?}");
    let r = s.run(&["runs", "wait", &id, "--timeout-secs", "30"]);
    assert_eq!(r.code, Some(0), "{r:?}\nworker:\n{}", worker_said());
    assert_eq!(r.stdout.trim(), "succeeded");
    let trace = s.ok(&["runs", "show", &id, "--json"]).json();
    assert_eq!(trace["run"]["output"]["decision"]["by"], "ann");

    // A fork with an edited decision reuses the recorded wait and runs on the same worker.
    let fork = s
        .ok(&[
            "runs",
            "fork",
            &id,
            "approval/record",
            "--output",
            r#"{"approved": true, "by": "bob"}"#,
        ])
        .stdout;
    let fork = fork.trim();
    let r = s.run(&["runs", "wait", fork, "--timeout-secs", "30", "--json"]);
    assert_eq!(r.code, Some(0), "{r:?}\nworker:\n{}", worker_said());
    let run = r.json();
    assert_eq!(run["forked_from"], id.as_str());
    assert_eq!(run["output"]["decision"]["by"], "bob");

    assert_eq!(worker.terminate(Duration::from_secs(20)), Some(0));
    assert!(
        worker_said().contains("worker started"),
        "{}",
        worker_said()
    );
}

/// Polls `runs show --json` until `done` holds for the trace.
fn poll_trace(
    s: &Sandbox,
    id: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
    worker: &mut Killed,
    log: &Path,
) -> Value {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let trace = s.ok(&["runs", "show", id, "--json"]).json();
        if done(&trace) {
            return trace;
        }
        if let Ok(Some(status)) = worker.0.try_wait() {
            panic!(
                "the worker exited ({status}):\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < until,
            "{what} never happened: {trace:#}\nworker:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// kill -9 during an at_most_once charge: the next worker does not charge again but stops
/// the run for a human, who says the charge happened; the run then finishes.
#[test]
fn a_charge_interrupted_by_kill_9_waits_for_a_human_to_resolve_it() {
    let s = Sandbox::new();
    let log = s.dir.path().join("worker.stderr");
    let mut first = s.spawn(&["worker"], &log);
    let input = r#"{"item": "lamp", "qty": 1, "charge_ms": 60000}"#;
    let id = s
        .ok(&["runs", "start", "example.order", "--input", input])
        .stdout;
    let id = id.trim();
    poll_trace(
        &s,
        id,
        "the charge starting",
        |t| step_status(t, "payment/charge") == Some("running"),
        &mut first,
        &log,
    );
    first.0.kill().expect("kill -9 the worker");
    let _ = first.0.wait();

    let log2 = s.dir.path().join("worker2.stderr");
    let _second = s.spawn(&["worker"], &log2);
    let r = s.run(&["runs", "wait", id, "--timeout-secs", "30"]);
    assert_eq!(
        (r.code, r.stdout.trim()),
        (Some(2), "needs_attention"),
        "{r:?}"
    );
    let shown = s.ok(&["runs", "show", id]);
    assert!(
        shown
            .stdout
            .contains(&format!("waymark runs resolve {id} payment/charge")),
        "{shown:?}"
    );
    let trace = s.ok(&["runs", "show", id, "--json"]).json();
    let attempts = &step(&trace, "payment/charge")["attempt_list"];
    assert_eq!(attempts[0]["outcome"], "interrupted", "{trace:#}");
    assert_eq!(
        attempts.as_array().map(Vec::len),
        Some(1),
        "charged twice: {trace:#}"
    );

    let done = r#"{"receipt": "rcpt_by_hand", "amount_cents": 1250}"#;
    s.ok(&["runs", "resolve", id, "payment/charge", "--done", done]);
    let r = s.run(&["runs", "wait", id, "--timeout-secs", "30", "--json"]);
    assert_eq!(
        r.code,
        Some(0),
        "{r:?}\nworker:\n{}",
        std::fs::read_to_string(&log2).unwrap_or_default()
    );
    assert_eq!(r.json()["output"]["receipt"], "rcpt_by_hand");
}

fn step_status<'a>(trace: &'a Value, key: &str) -> Option<&'a str> {
    trace["steps"]
        .as_array()?
        .iter()
        .find(|s| s["key"] == key)?["status"]
        .as_str()
}

#[test]
fn events_tail_prints_a_runs_history_as_json_lines() {
    let s = Sandbox::new();
    let trace = s
        .ok(&[
            "runs",
            "start",
            "example.order",
            "--input",
            r#"{"item": "ink", "qty": 1}"#,
            "--wait",
            "--json",
        ])
        .json();
    let id = run_id(&trace);
    let mut tail = s.spawn(
        &["events", "tail", "--run", &id, "--json"],
        &s.dir.path().join("tail.stderr"),
    );
    let stdout = tail.0.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("tail stopped early; saw {seen:#?}"));
        let e: Value = serde_json::from_str(&line).expect("a JSON line");
        assert_eq!(e["run_id"], id.as_str());
        let done = e["type"] == "run_status_changed" && e["status"] == "succeeded";
        seen.push(e);
        if done {
            break;
        }
    }
    assert_eq!(seen[0]["type"], "run_created");
    let seqs: Vec<i64> = seen.iter().filter_map(|e| e["run_seq"].as_i64()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
}

#[test]
fn demo_runs_the_agent_and_says_how_to_see_it_again() {
    let s = Sandbox::new();
    let r = s.ok(&["demo", "--yes"]);
    assert!(
        r.stdout.contains("succeeded") && r.stdout.contains("send_email"),
        "{r:?}"
    );
    let hint = r
        .stdout
        .lines()
        .find(|l| l.starts_with("Inspect it again with: waymark "))
        .unwrap_or_else(|| panic!("no hint: {r:?}"));
    let id = hint.rsplit(' ').next().unwrap_or_default();
    assert_eq!(
        s.ok(&["runs", "show", id, "--json"]).json()["run"]["status"],
        "succeeded"
    );
    assert!(
        hint.contains("--db"),
        "the sandbox's database is not the default one: {hint}"
    );
}

/// `waymark demo-tools` speaks MCP on stdio: the same executable carries the demo's tool server.
#[test]
fn demo_tools_serves_mcp_on_stdio_from_the_same_binary() {
    use std::io::Write;
    let sb = Sandbox::new();
    let mut child = sb
        .command(&["demo-tools"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn waymark demo-tools");
    let mut stdin = child.stdin.take().expect("stdin");
    let requests = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"cli-test","version":"1"}}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    ];
    for r in requests {
        writeln!(stdin, "{r}").expect("write request");
    }
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut tools = None;
    for line in lines.by_ref().map_while(Result::ok) {
        let msg: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON-RPC ({e}): {line}"));
        if msg["id"] == 2 {
            tools = Some(msg["result"]["tools"].clone());
            break;
        }
    }
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    let tools = tools.expect("a tools/list answer");
    let send = tools
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "send_email"))
        .expect("send_email is listed");
    assert_eq!(send["annotations"]["destructiveHint"], true);
}
