//! API keys through the whole binary: a key from the environment and one stored with
//! `waymark keys set` reach the model server, and neither appears in the database, its -wal,
//! the logs, an exported spec, or anything a command prints, not even when the server echoes
//! the key back in an error.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

const BIN: &str = env!("CARGO_BIN_EXE_waymark");
const ENV_KEY: &str = "sk-env-key-5f1d2c3b4a59687766554433";
const STORED_KEY: &str = "sk-stored-key-0a1b2c3d4e5f6a7b8c9d";

/// An OpenAI-compatible server on 127.0.0.1: it answers each request with a final answer,
/// or with a 401 that quotes the key (as OpenAI's does) when the path says so. It records
/// every Authorization header.
fn model_server(auth: Arc<Mutex<Vec<String>>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for socket in listener.incoming().flatten() {
            let auth = auth.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(socket.try_clone().expect("clone"));
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    return;
                }
                let (mut length, mut key) = (0usize, String::new());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() || line.trim().is_empty() {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    if lower.starts_with("authorization:") {
                        key = line["authorization:".len()..].trim().to_string();
                    }
                }
                let mut body = vec![0u8; length];
                let _ = reader.read_exact(&mut body);
                auth.lock().unwrap().push(key.clone());
                let (status, reply) = if request_line.contains("/bad/") {
                    let msg = format!("Incorrect API key provided: {key}");
                    (
                        "401 Unauthorized",
                        serde_json::json!({"error": {"message": msg, "type": "invalid_request_error"}}),
                    )
                } else {
                    (
                        "200 OK",
                        serde_json::json!({"id": "x", "object": "chat.completion", "model": "m",
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": "All good."}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 3, "completion_tokens": 2}}),
                    )
                };
                let reply = reply.to_string();
                let mut out = socket;
                let _ = write!(
                    out,
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
            });
        }
    });
    format!("http://{addr}")
}

struct Sandbox {
    dir: tempfile::TempDir,
    printed: String,
}

impl Sandbox {
    fn home(&self) -> std::path::PathBuf {
        self.dir.path().join("home")
    }

    /// Runs the binary; everything it prints is kept to search for keys.
    fn run(&mut self, args: &[&str], stdin: &str) -> std::process::Output {
        let mut child = Command::new(BIN)
            .args(args)
            .env("WAYMARK_HOME", self.home())
            .env("WAYMARK_SECRET_BACKEND", "file")
            .env("WAYMARK_TEST_KEY", ENV_KEY)
            .env("RUST_LOG", "debug")
            .env_remove("OPENAI_API_KEY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn waymark");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).expect("stdin");
        drop(input);
        let out = child.wait_with_output().expect("wait");
        self.printed.push_str(&String::from_utf8_lossy(&out.stdout));
        self.printed.push_str(&String::from_utf8_lossy(&out.stderr));
        out
    }
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn api_keys_reach_the_model_and_nothing_else() {
    let auth = Arc::new(Mutex::new(Vec::new()));
    let base = model_server(auth.clone());
    let mut s = Sandbox {
        dir: tempfile::tempdir().expect("temp dir"),
        printed: String::new(),
    };
    let spec = |name: &str, path: &str| {
        format!(
            "name = \"{name}\"\ninstructions = \"Be brief.\"\n[model]\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\nbase_url = \"{base}{path}\"\napi_key_env = \"WAYMARK_TEST_KEY\"\n[retry]\nmax_attempts = 1\n"
        )
    };
    let good = s.dir.path().join("good.toml");
    let bad = s.dir.path().join("bad.toml");
    std::fs::write(&good, spec("good", "/v1")).unwrap();
    std::fs::write(&bad, spec("bad", "/bad/v1")).unwrap();
    // The key in WAYMARK_TEST_KEY goes to the loopback server only once allowed there.
    let out = s.run(&["agents", "add", &good.to_string_lossy()], "");
    let refused = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "saved without the pair allowed");
    assert!(
        refused.contains("WAYMARK_TEST_KEY") && refused.contains("127.0.0.1"),
        "{refused}"
    );
    let out = s.run(&["keys", "allow", "WAYMARK_TEST_KEY", "127.0.0.1"], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in [&good, &bad] {
        let out = s.run(&["agents", "add", &f.to_string_lossy()], "");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The environment's key goes to the server; the run succeeds.
    let out = s.run(&["run", "good", "--input", "hi", "--wait", "--json"], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(auth
        .lock()
        .unwrap()
        .iter()
        .any(|a| a == &format!("Bearer {ENV_KEY}")));
    let run_id = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    // A server that echoes the key in its 401: the error names the problem, not the key.
    let out = s.run(&["run", "bad", "--input", "hi", "--wait"], "");
    assert_eq!(out.status.code(), Some(2));
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("401"), "{text}");

    // A stored key: listed by provider only.
    let out = s.run(&["keys", "set", "openai"], &format!("{STORED_KEY}\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = s.run(&["keys", "list"], "");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "openai");

    // Everything a user could look at: exports, traces, the files of the data directory.
    let export = s.dir.path().join("export.json");
    s.run(
        &[
            "agents",
            "export",
            "good",
            "--output",
            &export.to_string_lossy(),
        ],
        "",
    );
    s.run(&["runs", "show", &run_id, "--json"], "");
    s.run(&["runs", "list", "--json"], "");
    let mut files = vec![export];
    files_under(&s.home(), &mut files);
    let secrets_file = s.home().join("secrets.json");
    let mut searched = 0;
    for f in files.iter().filter(|f| **f != secrets_file) {
        let bytes = std::fs::read(f).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        for key in [ENV_KEY, STORED_KEY] {
            assert!(!text.contains(key), "a key is in {}", f.display());
        }
        searched += 1;
    }
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    assert!(names.iter().any(|n| n.ends_with("waymark.db")), "{names:?}");
    assert!(
        names.iter().any(|n| n.contains("logs")),
        "no log file was written: {names:?}"
    );
    assert!(searched >= 3);
    for key in [ENV_KEY, STORED_KEY] {
        assert!(!s.printed.contains(key), "a command printed a key");
    }
}
