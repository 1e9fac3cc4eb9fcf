//! The HTTP door under hostile clients, against a real `waymark serve`: the connection cap
//! answers 503 at once, idle and slow-header sockets are cut at the header timeout, shutdown
//! ends open SSE streams, token files readable by others are refused, the data directory and
//! its files are owner-only, and unauthenticated answers name no path.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::support;

use support::{client, start_cmd, Server};

const TOKEN: &str = "door-token-0123456789abcdef";

fn private_token_file(dir: &Path) -> PathBuf {
    support::private_token_file(dir, TOKEN)
}

fn command(home: &Path, args: &[&str]) -> Command {
    let mut cmd = support::serve_command(home, args);
    cmd.env("RUST_LOG", "warn")
        .current_dir(home.parent().unwrap_or(home));
    cmd
}

/// Starts `waymark serve` and reads its address from the first line it prints.
fn start(home: &Path, token_file: Option<&Path>, args: &[&str]) -> Server {
    let mut cmd = command(home, args);
    if let Some(f) = token_file {
        cmd.arg("--token-file").arg(f);
    }
    start_cmd(cmd)
}

async fn runs_list(base: &str, token: &str) -> (u16, String) {
    let r = client()
        .post(format!("{base}/api/v1/runs_list"))
        .bearer_auth(token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("request");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

/// Reads until the server closes the socket (or `limit` passes); what it sent, and when.
async fn read_until_closed(sock: &mut TcpStream, limit: Duration) -> (String, Option<Instant>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let end = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(end, sock.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (String::from_utf8_lossy(&got).into(), Some(Instant::now()))
            }
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).into(), None),
        }
    }
}

#[tokio::test]
async fn the_connection_cap_answers_503_and_idle_sockets_are_cut_at_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let token = private_token_file(dir.path());
    let s = start(
        &dir.path().join("home"),
        Some(&token),
        &["--max-connections", "64", "--header-timeout", "2s"],
    );
    let mut idle = Vec::new();
    for _ in 0..64 {
        idle.push(TcpStream::connect(&s.addr).await.unwrap());
    }
    let opened = Instant::now();
    // The server accepts in order: the 65th finds every slot taken.
    let mut extra = TcpStream::connect(&s.addr).await.unwrap();
    let request = format!("GET /openapi.json HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr);
    extra.write_all(request.as_bytes()).await.unwrap();
    let (answer, closed) = read_until_closed(&mut extra, Duration::from_secs(1)).await;
    assert!(
        answer.starts_with("HTTP/1.1 503"),
        "the 65th connection: {answer:?}"
    );
    assert!(closed.is_some(), "the refused connection is closed at once");

    // Nothing was sent on the 64: the server closes each of them at the header timeout.
    let mut waits = Vec::new();
    for sock in &mut idle {
        let (_, closed) = read_until_closed(sock, Duration::from_secs(6)).await;
        let closed = closed.expect("the server closes an idle socket");
        waits.push(closed.duration_since(opened));
    }
    let (first, last) = (waits.iter().min().unwrap(), waits.iter().max().unwrap());
    assert!(
        *first >= Duration::from_millis(1500) && *last < Duration::from_millis(4500),
        "idle sockets closed between {first:?} and {last:?}"
    );
    drop(idle);
    let (status, body) = runs_list(&s.base, TOKEN).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_slow_header_client_is_cut_off_at_the_header_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let token = private_token_file(dir.path());
    let s = start(
        &dir.path().join("home"),
        Some(&token),
        &["--header-timeout", "2"],
    );
    let mut sock = TcpStream::connect(&s.addr).await.unwrap();
    let started = Instant::now();
    sock.write_all(b"GET /openapi.json HTT").await.unwrap();
    let (answer, closed) = read_until_closed(&mut sock, Duration::from_secs(6)).await;
    let closed = closed.expect("the server cuts the slow client off");
    let after = closed.duration_since(started);
    assert!(
        after >= Duration::from_millis(1500) && after < Duration::from_millis(4500),
        "cut off after {after:?}"
    );
    assert!(!answer.contains("200 OK"), "{answer:?}");
    let (status, _) = runs_list(&s.base, TOKEN).await;
    assert_eq!(status, 200);
}

fn wait_exit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[tokio::test]
async fn sigint_with_an_open_event_stream_exits_promptly_and_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let token = private_token_file(dir.path());
    let mut s = start(&dir.path().join("home"), Some(&token), &[]);
    let sse = client()
        .get(format!("{}/api/v1/events", s.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(sse.status().as_u16(), 200);
    let started = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = wait_exit(&mut s.child, Duration::from_secs(5));
    let status =
        status.unwrap_or_else(|| panic!("still running {:?} after SIGINT", started.elapsed()));
    assert!(status.success(), "{status:?}");
    // The stream was ended by the server, not left hanging.
    let body = tokio::time::timeout(Duration::from_secs(2), sse.text()).await;
    assert!(body.is_ok(), "the event stream ended with the server");
}

#[test]
fn token_files_readable_by_others_are_refused_with_the_chmod_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let token = private_token_file(dir.path());
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o640)).unwrap();
    let home = dir.path().join("home");
    let mut cmd = command(&home, &[]);
    cmd.arg("--token-file").arg(&token);
    let (ok, err) = run_refused(cmd);
    assert!(!ok);
    assert!(
        err.contains(&format!("chmod 600 {}", token.display())),
        "{err}"
    );

    // The generated token file is held to the same rule.
    let home2 = dir.path().join("home2");
    std::fs::create_dir_all(&home2).unwrap();
    let generated = home2.join("api-token");
    std::fs::write(&generated, "g".repeat(32)).unwrap();
    std::fs::set_permissions(&generated, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, err) = run_refused(command(&home2, &[]));
    assert!(!ok);
    assert!(
        err.contains(&format!("chmod 600 {}", generated.display())),
        "{err}"
    );
}

/// Runs a `serve` expected to refuse to start: (exited with success, stderr). One that starts
/// anyway is killed after a bounded wait, and counts as a failure to refuse.
fn run_refused(mut cmd: Command) -> (bool, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_exit(&mut child, Duration::from_secs(20));
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let mut err = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        let _ = stderr.read_to_string(&mut err);
    }
    (status.is_none_or(|s| s.success()), err)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn the_data_directory_and_its_files_are_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let mut s = start(&home, None, &[]);
    let token = std::fs::read_to_string(home.join("api-token")).unwrap();
    assert_eq!(runs_list(&s.base, token.trim()).await.0, 200);
    assert_eq!(mode(&home), 0o700, "the data directory");
    assert_eq!(mode(&home.join("waymark.db")), 0o600, "the database");
    assert_eq!(mode(&home.join("api-token")), 0o600, "the token");
    assert_eq!(mode(&home.join("logs")), 0o700, "the log directory");
    for entry in std::fs::read_dir(home.join("logs")).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    for name in ["waymark.db-wal", "waymark.db-shm"] {
        if home.join(name).exists() {
            assert_eq!(mode(&home.join(name)), 0o600, "{name}");
        }
    }
    // The token is printed once (in the link), never again in the hints.
    let _ = s.child.kill();
    let _ = s.child.wait();
    let mut out = command(&home, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut printed = String::new();
    let mut stdout = out.stdout.take().unwrap();
    let mut buf = [0u8; 4096];
    let end = Instant::now() + Duration::from_secs(30);
    while !printed.contains("approve") && Instant::now() < end {
        match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => printed.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    let _ = out.kill();
    let _ = out.wait();
    assert_eq!(printed.matches(token.trim()).count(), 1, "{printed}");
}

#[tokio::test]
async fn unauthenticated_answers_name_no_path() {
    let dir = tempfile::tempdir().unwrap();
    let token = private_token_file(dir.path());
    let home = dir.path().join("home");
    let mut cmd = command(&home, &["--token-file"]);
    cmd.arg(&token)
        .env("WAYMARK_UI_DIR", dir.path().join("no-ui-here"));
    let s = start_cmd(cmd);
    let (status, body) = runs_list(&s.base, "wrong-token-wrong-token").await;
    assert_eq!(status, 401);
    let no_token = client()
        .post(format!("{}/api/v1/runs_list", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status().as_u16(), 401);
    assert_eq!(no_token.text().await.unwrap(), body, "one fixed message");
    let page = client().get(format!("{}/", s.base)).send().await.unwrap();
    let page = page.text().await.unwrap();
    let tmp = dir.path().to_string_lossy().to_string();
    for answer in [&body, &page] {
        assert!(!answer.contains(&tmp), "{answer}");
        assert!(
            !answer.contains("api-token") && !answer.contains("token.txt"),
            "{answer}"
        );
    }
    assert!(body.len() < 200, "{body}");

    // Webhooks answer before any token: an agent without a webhook (the demo agent is always
    // installed) and no agent at all answer alike, so names cannot be probed.
    let mut answers = Vec::new();
    for agent in ["demo-support", "nobody-by-this-name"] {
        let r = client()
            .post(format!("{}/hooks/{agent}", s.base))
            .body("{}")
            .send()
            .await
            .unwrap();
        answers.push((r.status().as_u16(), r.text().await.unwrap()));
    }
    assert_eq!(answers[0].0, 401);
    assert_eq!(answers[0], answers[1]);
    assert!(!answers[0].1.contains("demo-support"), "{}", answers[0].1);
}

#[tokio::test]
async fn event_streams_over_their_cap_get_503() {
    let dir = tempfile::tempdir().unwrap();
    let token = private_token_file(dir.path());
    let s = start(
        &dir.path().join("home"),
        Some(&token),
        &["--max-event-streams", "2"],
    );
    let open = || {
        client()
            .get(format!("{}/api/v1/events", s.base))
            .bearer_auth(TOKEN)
            .send()
    };
    let a = open().await.unwrap();
    let b = open().await.unwrap();
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    assert_eq!(open().await.unwrap().status().as_u16(), 503);
    // Closing one frees its slot (the server notices the closed stream on its next write, the
    // keep-alive at the latest, so wait for the condition rather than a fixed time).
    drop(a);
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let r = open().await.unwrap();
        if r.status().as_u16() == 200 {
            break;
        }
        assert!(Instant::now() < end, "the slot was never freed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Commands still answer while the streams are at their cap.
    assert_eq!(runs_list(&s.base, TOKEN).await.0, 200);
    drop(b);
}
