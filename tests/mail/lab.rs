//! The real mail lab (tests/mail/mail_lab.py: Dovecot IMAP with IDLE, an aiosmtpd SMTP server)
//! driven from Rust tests. Include it from any crate's tests:
//!
//! ```ignore
//! #[path = "../../../tests/mail/lab.rs"]
//! mod lab;
//! let lab = lab::MailLab::start().await;
//! ```
//!
//! Only std, tokio, serde_json and tempfile are used, so any crate can include it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::sync::Mutex;

/// How long one lab command (a delivery, a server restart) may take before the test fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

pub struct MailLab {
    pub imap_port: u16,
    pub smtp_port: u16,
    pub user: String,
    pub password: String,
    pub address: String,
    /// Commands and replies are one line each: one command at a time.
    io: Mutex<LabIo>,
    child: Child,
    files: AtomicU64,
    // Last: removed after the lab has stopped.
    dir: tempfile::TempDir,
}

struct LabIo {
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
}

/// One message the lab's SMTP server accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub message_id: String,
    pub raw: Vec<u8>,
}

impl MailLab {
    pub async fn start() -> MailLab {
        Self::start_with(&[]).await
    }

    /// A lab whose IMAP server does not offer IDLE (clients must poll).
    pub async fn start_without_idle() -> MailLab {
        Self::start_with(&["--no-idle"]).await
    }

    async fn start_with(flags: &[&str]) -> MailLab {
        let root = workspace_root();
        let python = root.join("target/test-deps/py/bin/python");
        if !python.exists() {
            panic!(
                "mail lab: {} is missing: run `make test-deps`",
                python.display()
            );
        }
        let dir = tempfile::tempdir().expect("mail lab: temp dir");
        // Dovecot reads the mailbox as an unprivileged user, who must be able to enter the dir.
        set_mode(dir.path(), 0o755);
        let stderr_path = dir.path().join("lab.stderr");
        let stderr = std::fs::File::create(&stderr_path).expect("mail lab: stderr file");
        let mut child = Command::new(&python)
            .arg(root.join("tests/mail/mail_lab.py"))
            .args(flags)
            .arg(dir.path().join("lab"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("mail lab: could not start {}: {e}", python.display()));
        let stdin = child.stdin.take().expect("mail lab: stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("mail lab: stdout")).lines();
        let first = tokio::time::timeout(COMMAND_TIMEOUT, stdout.next_line()).await;
        let line = match first {
            Ok(Ok(Some(line))) => line,
            other => panic!(
                "mail lab did not start ({other:?}); its stderr:\n{}",
                read_lossy(&stderr_path)
            ),
        };
        let info: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            panic!(
                "mail lab: first line is not JSON ({e}): {line}\n{}",
                read_lossy(&stderr_path)
            )
        });
        if let Some(error) = info.get("error") {
            panic!(
                "mail lab failed to start: {error}\n{}",
                read_lossy(&stderr_path)
            );
        }
        let port = |key: &str| -> u16 {
            info[key]
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or_else(|| panic!("mail lab: no {key} in {line}"))
        };
        let text = |key: &str| -> String {
            info[key]
                .as_str()
                .unwrap_or_else(|| panic!("mail lab: no {key} in {line}"))
                .to_string()
        };
        MailLab {
            imap_port: port("imap_port"),
            smtp_port: port("smtp_port"),
            user: text("user"),
            password: text("password"),
            address: text("address"),
            io: Mutex::new(LabIo {
                stdin: Some(stdin),
                stdout,
            }),
            child,
            files: AtomicU64::new(0),
            dir,
        }
    }

    /// Sends one command line and returns what follows "ok" in the reply; panics on "error".
    pub async fn command(&self, line: &str) -> String {
        let mut io = self.io.lock().await;
        let stdin = io.stdin.as_mut().expect("mail lab: stdin closed");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("mail lab: write command");
        stdin.flush().await.expect("mail lab: flush command");
        let reply = tokio::time::timeout(COMMAND_TIMEOUT, io.stdout.next_line()).await;
        let reply = match reply {
            Ok(Ok(Some(reply))) => reply,
            other => panic!(
                "mail lab: no reply to {line:?} ({other:?}); its stderr:\n{}",
                read_lossy(&self.dir.path().join("lab.stderr"))
            ),
        };
        match reply.strip_prefix("ok") {
            Some(rest) => rest.trim().to_string(),
            None => panic!("mail lab: {line:?} failed: {reply}"),
        }
    }

    /// IMAP APPENDs `raw` to `folder` as the lab's user; returns the new message's UID.
    pub async fn deliver(&self, folder: &str, raw: &[u8]) -> u32 {
        let n = self.files.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.path().join(format!("deliver-{n}.eml"));
        // std::fs: tiny files, and no tokio "fs" feature asked of the crates that include this.
        std::fs::write(&path, raw).expect("mail lab: write message");
        let reply = self
            .command(&format!("deliver {folder} {}", path.display()))
            .await;
        reply
            .parse()
            .unwrap_or_else(|_| panic!("mail lab: deliver replied {reply:?}, not a UID"))
    }

    pub async fn imap_stop(&self) {
        self.command("imap stop").await;
    }

    pub async fn imap_start(&self) {
        self.command("imap start").await;
    }

    pub async fn smtp_stop(&self) {
        self.command("smtp stop").await;
    }

    pub async fn smtp_start(&self) {
        self.command("smtp start").await;
    }

    /// Refuse (550) every recipient containing `text`; None refuses no one.
    pub async fn smtp_refuse(&self, text: Option<&str>) {
        match text {
            Some(text) => self.command(&format!("smtp refuse {text}")).await,
            None => self.command("smtp refuse").await,
        };
    }

    /// Everything the SMTP server accepted so far, oldest first.
    pub async fn received(&self) -> Vec<Received> {
        let reply = self.command("received").await;
        let list: Vec<serde_json::Value> =
            serde_json::from_str(&reply).expect("mail lab: received is a JSON list");
        let mut out = Vec::new();
        for item in list {
            let file = item["file"].as_str().expect("mail lab: received file");
            out.push(Received {
                mail_from: item["mail_from"].as_str().unwrap_or_default().to_string(),
                rcpt_tos: item["rcpt_tos"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|r| r.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
                message_id: item["message_id"].as_str().unwrap_or_default().to_string(),
                raw: std::fs::read(file).expect("mail lab: read received message"),
            });
        }
        out
    }

    /// Where the lab keeps its files (Dovecot's log is under `lab/dovecot/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for MailLab {
    fn drop(&mut self) {
        // End of input tells the lab to stop both servers; give it a moment to do so cleanly
        // before kill_on_drop (Dovecot also dies with its parent).
        self.io.get_mut().stdin.take();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

/// A simple RFC 5322 text message.
pub fn email(from: &str, to: &str, subject: &str, message_id: &str, body: &str) -> Vec<u8> {
    let body = body.replace("\r\n", "\n").replace('\n', "\r\n");
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Mon, 1 Dec 2025 10:00:00 +0000\r\n\
Message-ID: {message_id}\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

fn workspace_root() -> PathBuf {
    let start = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    start
        .ancestors()
        .find(|dir| dir.join("tests/mail/mail_lab.py").exists())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| {
            panic!(
                "mail lab: no tests/mail/mail_lab.py above {}",
                start.display()
            )
        })
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .expect("mail lab: chmod temp dir");
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
