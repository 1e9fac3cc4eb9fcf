//! End-to-end helpers: worker processes that can be frozen and killed, and an engine in the
//! test process on the same database file.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub struct WorkerProcess {
    pub child: Child,
    pub pid: i32,
    lines: mpsc::Receiver<String>,
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl WorkerProcess {
    pub fn spawn(
        db: &Path,
        ledger: &Path,
        extra_args: &[&str],
        env: &[(&str, String)],
    ) -> WorkerProcess {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_waymark-test-worker"));
        cmd.arg("--db")
            .arg(db)
            .arg("--ledger")
            .arg(ledger)
            .args(extra_args);
        cmd.env(
            "RUST_LOG",
            std::env::var("TEST_WORKER_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .env_remove("CHAOS_PAUSE_AT")
        .env_remove("CHAOS_PAUSE_AFTER");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn test worker");
        let pid = child.id() as i32;
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stderr_text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stderr_text.clone();
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap_or_else(|e| e.into_inner());
                s.push_str(&line);
                s.push('\n');
            }
        });
        WorkerProcess {
            child,
            pid,
            lines,
            stderr: stderr_text,
        }
    }

    /// The next stdout line that starts with `prefix`, or None if the process ends or the
    /// timeout passes first.
    pub fn wait_line(&self, prefix: &str, timeout: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return Some(line),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(self.pid, sig);
        }
    }

    pub fn kill9(mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }

    pub fn stderr_contains(&self, text: &str) -> bool {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(text)
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

pub fn ledger_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

pub fn temp_paths() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("waymark.db");
    let ledger = dir.path().join("ledger.txt");
    (dir, db, ledger)
}
