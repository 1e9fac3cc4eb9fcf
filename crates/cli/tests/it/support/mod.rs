//! `waymark serve` as a real process for the HTTP door's tests: started on a free loopback
//! port with an owner-only token file, its address read from the first line it prints.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_waymark");

pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// `127.0.0.1:PORT`
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        // The whole process group: a server started through a wrapper (dbus-run-session) is
        // the wrapper's child and would outlive it.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `DIR/token.txt` holding `token`, mode 0600 (serve refuses a token file others can read).
pub fn private_token_file(dir: &Path, token: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("token dir");
    let path = dir.join("token.txt");
    std::fs::write(&path, token).expect("token file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

/// `waymark serve --addr 127.0.0.1:0 ARGS` with its data in `home` and file-backed secrets.
pub fn serve_command(home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--addr", "127.0.0.1:0"])
        .args(args)
        .env("WAYMARK_HOME", home)
        .env("WAYMARK_SECRET_BACKEND", "file");
    cmd
}

/// Starts the command and waits for the line that names its address.
pub fn start_cmd(mut cmd: Command) -> Server {
    use std::os::unix::process::CommandExt as _;
    let mut child = cmd
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn waymark serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().and_then(Result::ok).expect("an address line");
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("an address")
        .trim_end_matches(',')
        .to_string();
    std::thread::spawn(move || for _ in lines {});
    let addr = base.trim_start_matches("http://").to_string();
    Server { child, base, addr }
}

/// A server in `home` with `token`, extra environment, and relative paths landing in `home`.
pub fn start_with_token(home: &Path, token: &str, env: &[(&str, &str)]) -> Server {
    let token_file = private_token_file(home, token);
    let mut cmd = serve_command(home, &[]);
    cmd.arg("--token-file")
        .arg(&token_file)
        .envs(env.iter().copied())
        .current_dir(home);
    start_cmd(cmd)
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// The server's generated `/openapi.json`.
pub async fn openapi(base: &str) -> serde_json::Value {
    client()
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("openapi is JSON")
}

/// The token the serve tests start their servers with.
pub const TOKEN: &str = "test-token-0123456789abcdef";

pub fn start(home: &Path) -> Server {
    start_with_env(home, &[])
}

pub fn start_with_env(home: &Path, env: &[(&str, &str)]) -> Server {
    start_with_token(home, TOKEN, env)
}

/// A command with [`TOKEN`]: its status and JSON body.
pub async fn call(base: &str, command: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = client()
        .post(format!("{base}/api/v1/{command}"))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(serde_json::Value::Null))
}

/// An agent that asks a person a question (ask_human), then answers.
pub fn write_agent(dir: &Path) -> serde_json::Value {
    let script = dir.join("script.json");
    std::fs::write(
        &script,
        r#"{"turns": [{"tool_calls": [{"id": "c1", "name": "ask_human", "arguments": {"question": "Which city?"}}]}, {"text": "Done."}]}"#,
    )
    .unwrap();
    serde_json::json!({"name": "asker", "instructions": "Ask, then answer.",
        "model": {"provider": "scripted", "script": script},
        "tools": [{"kind": "builtin", "name": "ask_human"}]})
}

/// Waits until the run stops moving by itself: finished, needing attention, or waiting.
pub async fn settled(base: &str, run: &str) -> serde_json::Value {
    for _ in 0..1500 {
        let (_, got) = call(base, "runs_get", serde_json::json!({"run_id": run})).await;
        let status = got["run"]["status"].as_str().unwrap_or("").to_string();
        if [
            "succeeded",
            "failed",
            "cancelled",
            "needs_attention",
            "waiting",
        ]
        .contains(&status.as_str())
        {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("run {run} did not settle");
}
