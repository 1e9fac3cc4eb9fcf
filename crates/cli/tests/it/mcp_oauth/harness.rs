//! The processes of the sign-in tests: the authorization server (tests/oauth/auth_server.mjs,
//! npm oauth2-mock-server), the demo tools in protected-resource mode, `waymark serve`, and the
//! `waymark` binary run in a data directory of its own with file-backed secrets.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

use crate::support;

pub const BIN: &str = env!("CARGO_BIN_EXE_waymark");
/// The scope the protected server asks for.
pub const SCOPE: &str = "mcp:tools";
/// How long a process may take to say it is ready.
const READY_LIMIT: Duration = Duration::from_secs(30);
/// How long one `waymark` command may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(120);

/// The repository's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// A child whose stdout lines arrive on a channel and whose stderr is kept. Killed on drop.
struct Proc {
    name: &'static str,
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    log: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(name: &'static str, mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let (tx, lines) = mpsc::unbounded_channel();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stdout.next_line().await {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let log = Arc::new(Mutex::new(String::new()));
        keep(child.stderr.take().expect("stderr"), log.clone());
        Self {
            name,
            child,
            lines,
            log,
        }
    }

    /// The next line on stdout (bounded).
    async fn next_line(&mut self) -> String {
        match tokio::time::timeout(READY_LIMIT, self.lines.recv()).await {
            Ok(Some(line)) => line,
            _ => panic!(
                "{} printed no line within {READY_LIMIT:?}; its stderr:\n{}",
                self.name,
                self.log()
            ),
        }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

/// Appends everything `from` writes to `log`.
fn keep(from: impl AsyncRead + Unpin + Send + 'static, log: Arc<Mutex<String>>) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(from).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut log = log.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
}

/// tests/oauth/auth_server.mjs: an OAuth 2.1 authorization server whose /authorize redirects at
/// once (no person), driven by commands on its stdin.
pub struct AuthServer {
    pub issuer: String,
    stdin: ChildStdin,
    proc: Proc,
}

impl AuthServer {
    pub async fn start() -> Self {
        let package = root().join("tests/oauth/node_modules/oauth2-mock-server/package.json");
        assert!(
            package.exists(),
            "npm oauth2-mock-server is not installed in tests/oauth: run `bash scripts/setup-test-deps.sh`"
        );
        let mut cmd = Command::new("node");
        cmd.arg(root().join("tests/oauth/auth_server.mjs"));
        let mut proc = Proc::spawn("the authorization server (node)", cmd);
        let stdin = proc.child.stdin.take().expect("stdin");
        let ready: Value = serde_json::from_str(&proc.next_line().await).expect("a JSON line");
        let issuer = ready["issuer"].as_str().expect("an issuer").to_string();
        Self {
            issuer,
            stdin,
            proc,
        }
    }

    /// One stdin command (`expire-in 2`, `revoke-refresh`), and its `ok` answer.
    pub async fn command(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("the authorization server reads its stdin");
        assert_eq!(self.proc.next_line().await, format!("ok {line}"));
    }

    /// How many token requests of this grant type it answered with `status`.
    pub fn grants(&self, grant_type: &str, status: u16) -> usize {
        let line = format!("token: {grant_type} -> {status}");
        self.proc
            .log()
            .lines()
            .filter(|l| l.ends_with(&line))
            .count()
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }
}

/// `waymark-demo-tools --http` as a protected resource of `issuer`.
pub struct ToolsServer {
    /// `http://127.0.0.1:PORT/mcp`
    pub url: String,
    proc: Proc,
    _dir: tempfile::TempDir,
}

impl ToolsServer {
    pub async fn start(issuer: &str) -> Self {
        let bin = Path::new(BIN).with_file_name("waymark-demo-tools");
        assert!(
            bin.exists(),
            "{} is missing: build it first (cargo build -p waymark-cli -p waymark-demo-tools)",
            bin.display()
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cmd = Command::new(bin);
        cmd.args(["--http", "127.0.0.1:0", "--outbox"])
            .arg(dir.path().join("outbox.jsonl"))
            .args(["--authorization-server", issuer, "--scope", SCOPE])
            .env_remove("DEMO_TOOLS_FAULTS");
        let mut proc = Proc::spawn("waymark-demo-tools", cmd);
        let url = proc.next_line().await;
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
            "{url}"
        );
        Self {
            url,
            proc,
            _dir: dir,
        }
    }

    /// `POST /admin/revoke`: every token issued so far is refused from now on.
    pub async fn revoke_all(&self) {
        let origin = self.url.trim_end_matches("/mcp");
        let answer = http()
            .post(format!("{origin}/admin/revoke"))
            .send()
            .await
            .expect("the server answers");
        assert!(answer.status().is_success(), "{}", answer.status());
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }
}

/// A client for loopback servers (no proxy from the environment); it follows redirects.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// What one `waymark` command did.
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Out {
    /// Asserts it succeeded; itself, to go on.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(
            self.status.success(),
            "{}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// The data directory of the `waymark` commands of one test (`WAYMARK_HOME`, the database, the
/// 0600 secrets.json, the logs), and everything they printed.
pub struct Sandbox {
    dir: tempfile::TempDir,
    pub home: PathBuf,
    pub db: PathBuf,
    /// The stdout and stderr of every command run, `serve`'s included.
    pub printed: String,
}

impl Sandbox {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let home = dir.path().join("home");
        let db = home.join("waymark.db");
        Self {
            dir,
            home,
            db,
            printed: String::new(),
        }
    }

    /// A folder outside the data directory, for the test's own files.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// The `--open-with` command: tests/mcp_oauth/open.mjs fetches the sign-in URL.
    pub fn opener() -> String {
        let script = root().join("crates/cli/tests/it/mcp_oauth/open.mjs");
        let script = script.display().to_string();
        // The CLI splits the command on whitespace.
        assert!(!script.contains(char::is_whitespace), "{script}");
        format!("node {script}")
    }

    /// The environment every process of the test gets: its data directory, file secrets,
    /// debug logs (more to search for tokens), and no browser of the machine's.
    fn environment(&self, cmd: &mut std::process::Command) {
        cmd.env("WAYMARK_HOME", &self.home)
            .env("WAYMARK_SECRET_BACKEND", "file")
            .env("RUST_LOG", "debug")
            .env_remove("WAYMARK_DB")
            .env_remove("BROWSER");
    }

    /// Runs `waymark --db DB ARGS` to its end (bounded).
    pub async fn run(&mut self, args: &[&str]) -> Out {
        let mut cmd = std::process::Command::new(BIN);
        cmd.arg("--db").arg(&self.db).args(args);
        self.environment(&mut cmd);
        let mut cmd = Command::from(cmd);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let child = cmd.spawn().expect("spawn waymark");
        let out = tokio::time::timeout(COMMAND_LIMIT, child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("`waymark {}` ran past {COMMAND_LIMIT:?}", args.join(" ")))
            .expect("waymark ran");
        let out = Out {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            took: started.elapsed(),
        };
        self.printed.push_str(&out.stdout);
        self.printed.push_str(&out.stderr);
        out
    }

    /// The saved server as `waymark mcp list --json` shows it.
    pub async fn listed(&mut self, name: &str) -> Value {
        let out = self.run(&["mcp", "list", "--json"]).await.ok();
        let list: Value = serde_json::from_str(&out.stdout).expect("mcp list --json prints JSON");
        list.as_array()
            .expect("a list")
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {list}"))
            .clone()
    }

    pub fn secrets_file(&self) -> PathBuf {
        self.home.join("secrets.json")
    }

    /// The MCP sign-ins in secrets.json: each entry's key and stored credentials (rmcp's
    /// `StoredCredentials`, kept as a JSON string).
    pub fn sign_ins(&self) -> Vec<(String, Value)> {
        let Ok(text) = std::fs::read_to_string(self.secrets_file()) else {
            return Vec::new();
        };
        let file: Value = serde_json::from_str(&text).expect("secrets.json is JSON");
        file["secrets"]
            .as_object()
            .expect("secrets.json holds {\"secrets\": {...}}")
            .iter()
            .filter(|(key, _)| key.starts_with("mcp-oauth."))
            .map(|(key, value)| {
                let value = value.as_str().expect("a secret is a string");
                (
                    key.clone(),
                    serde_json::from_str(value).expect("stored credentials are JSON"),
                )
            })
            .collect()
    }

    /// The one stored sign-in's tokens.
    #[track_caller]
    pub fn tokens(&self) -> Tokens {
        let sign_ins = self.sign_ins();
        assert_eq!(
            sign_ins.len(),
            1,
            "one sign-in in secrets.json: {sign_ins:?}"
        );
        let response = &sign_ins[0].1["token_response"];
        let text = |field: &str| {
            response[field]
                .as_str()
                .unwrap_or_else(|| panic!("no {field} in the stored token response"))
                .to_string()
        };
        Tokens {
            access: text("access_token"),
            refresh: text("refresh_token"),
        }
    }

    /// Every file under the data directory, secrets.json aside.
    pub fn data_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        files_under(&self.home, &mut files);
        files.retain(|f| *f != self.secrets_file());
        files.sort();
        files
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The file's bytes hold `needle`.
pub fn file_holds(path: &Path, needle: &str) -> bool {
    let bytes = std::fs::read(path).unwrap_or_default();
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// `waymark serve` on the sandbox's database, its output kept in [`Serve::printed`].
pub struct Serve {
    pub base: String,
    proc: Proc,
}

impl Serve {
    pub async fn start(s: &Sandbox) -> Self {
        let token_file = support::private_token_file(s.scratch(), support::TOKEN);
        let db = s.db.display().to_string();
        let token_file = token_file.display().to_string();
        let mut cmd = support::serve_command(&s.home, &["--db", &db, "--token-file", &token_file]);
        s.environment(&mut cmd);
        let mut proc = Proc::spawn("waymark serve", Command::from(cmd));
        let first = proc.next_line().await;
        let base = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {first:?}"))
            .trim_end_matches(',')
            .to_string();
        Self { base, proc }
    }

    /// `POST /api/v1/COMMAND` with the serve token: the status and the JSON body.
    pub async fn call(&self, command: &str, body: Value) -> (u16, Value) {
        support::call(&self.base, command, body).await
    }

    /// Everything it printed so far, stdout and stderr.
    pub fn printed(&mut self) -> String {
        let mut text = String::new();
        while let Ok(line) = self.proc.lines.try_recv() {
            text.push_str(&line);
            text.push('\n');
        }
        text + &self.proc.log()
    }
}
