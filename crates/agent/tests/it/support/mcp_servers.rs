//! Real MCP servers for the hub's tests: our demo tool server (built here if needed) and the
//! published ones that `scripts/setup-test-deps.sh` installs.
#![allow(dead_code)] // each test file uses a different part

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};
use waymark_agent::mcp::{McpServerDef, McpTransport};
use waymark_agent::Secret;

/// A failure guard, not a timing assertion: what a test waits for normally comes in well
/// under a second.
pub const GUARD: Duration = Duration::from_secs(30);

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `waymark-demo-tools` binary of this build. `cargo test --workspace` (what `make test`
/// runs) builds it before any test runs, because the demo-tools crate's own integration tests
/// need it; a test run of this crate alone builds it here, once per test process (a
/// dev-dependency on the crate builds its library, not its binary).
pub fn demo_tools_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // target/<profile>/deps/<test exe> → target/<profile>
        let exe = std::env::current_exe().expect("the test's own path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test runs from target/<profile>/deps");
        let bin = profile_dir.join("waymark-demo-tools");
        if std::env::var_os("WAYMARK_DEMO_TOOLS_BUILT").is_some() && bin.exists() {
            return bin;
        }
        let target_dir = profile_dir.parent().expect("target/<profile> has a parent");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = std::process::Command::new(cargo);
        build
            .args([
                "build",
                "-p",
                "waymark-demo-tools",
                "--bin",
                "waymark-demo-tools",
            ])
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(workspace_root());
        if profile_dir.file_name().is_some_and(|n| n == "release") {
            build.arg("--release");
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building waymark-demo-tools failed");
        assert!(bin.exists(), "{} missing after the build", bin.display());
        bin
    })
    .clone()
}

pub fn stdio_def(name: &str, command: &Path, args: &[&str], env: &[(&str, &str)]) -> McpServerDef {
    McpServerDef {
        name: name.into(),
        transport: McpTransport::Stdio {
            command: command.to_string_lossy().into_owned(),
            args: args.iter().map(|a| a.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), Secret::new(*v)))
                .collect(),
            cwd: None,
        },
    }
}

pub fn http_def(name: &str, url: &str) -> McpServerDef {
    McpServerDef {
        name: name.into(),
        transport: McpTransport::Http {
            url: url.into(),
            headers: BTreeMap::new(),
            oauth: Default::default(),
        },
    }
}

/// Polls `check` until it is true; panics with `what` after [`GUARD`]. For state that has no
/// event to await (another process's log lines).
pub async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + GUARD;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `fut` under [`GUARD`], so a hang fails the test instead of stalling the suite.
pub async fn guarded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, fut)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {GUARD:?}"))
}

/// A server process the test started itself (HTTP servers), its stderr collected.
pub struct ServerProcess {
    pub child: Child,
    pub stderr: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Starts `cmd` with stdout and stderr piped and stderr collected.
    pub fn spawn(mut cmd: Command) -> (Self, tokio::process::ChildStdout) {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the server starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut err = child.stderr.take().expect("piped stderr");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            loop {
                match err.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sink
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n])),
                }
            }
        });
        (Self { child, stderr }, stdout)
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

/// `waymark-demo-tools --http 127.0.0.1:0`, and the endpoint URL it prints.
pub async fn start_demo_tools_http(outbox: &Path, faults: Option<&str>) -> (ServerProcess, String) {
    let mut cmd = Command::new(demo_tools_bin());
    cmd.args(["--http", "127.0.0.1:0", "--outbox"]).arg(outbox);
    cmd.env_remove("DEMO_TOOLS_FAULTS");
    if let Some(faults) = faults {
        cmd.env("DEMO_TOOLS_FAULTS", faults);
    }
    let (server, stdout) = ServerProcess::spawn(cmd);
    let mut lines = BufReader::new(stdout).lines();
    let url = guarded("the endpoint line", lines.next_line())
        .await
        .expect("stdout readable")
        .expect("a URL line on stdout");
    (server, url)
}

/// Waits until something accepts connections on 127.0.0.1:`port` (a server starting up).
pub async fn wait_for_port(port: u16, server: &mut ServerProcess) {
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!(
                "the server exited ({status}) before listening: {}",
                server.stderr_text()
            );
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing listens on port {port}: {}",
            server.stderr_text()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A free loopback port (bound, read, released: a server started next takes it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Live (not zombie) processes whose command line contains `marker` (e.g. a temp dir only
/// one test uses; Linux `/proc`).
pub fn live_processes_with(marker: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| {
            let path = e.path();
            let cmdline = std::fs::read(path.join("cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
            // pid (comm) state ...: a zombie has exited, only its parent has not reaped it.
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next());
            String::from_utf8_lossy(&cmdline).contains(marker) && state.is_some_and(|s| s != "Z")
        })
        .count()
}
