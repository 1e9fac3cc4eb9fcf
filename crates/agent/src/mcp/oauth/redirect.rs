//! The loopback redirect listener of a sign-in (RFC 8252 §7.3): a port on 127.0.0.1 that the
//! authorization server's redirect reaches with `code`, `state` and `iss` in the query.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The path the redirect URI names.
const CALLBACK_PATH: &str = "/callback";
/// A request line and headers longer than this are not a browser's redirect.
const MAX_REQUEST: usize = 16 * 1024;
/// How long one connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct RedirectListener {
    pub(crate) redirect_uri: String,
    /// The full redirect URL (with its query) once the browser arrives.
    pub(crate) arrived: oneshot::Receiver<String>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RedirectListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RedirectListener {
    pub(crate) async fn bind() -> Result<Self, String> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| format!("cannot open a loopback port for the sign-in redirect: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("cannot read the redirect port: {e}"))?
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let redirect_uri = format!("{base}{CALLBACK_PATH}");
        let (tx, arrived) = oneshot::channel();
        let task = tokio::spawn(serve(listener, base, tx));
        Ok(Self {
            redirect_uri,
            arrived,
            task,
        })
    }
}

/// Answers connections until one is the redirect: anything else (a favicon, a probe) gets 404
/// and the listener keeps waiting.
async fn serve(listener: TcpListener, base: String, tx: oneshot::Sender<String>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let target = match tokio::time::timeout(READ_TIMEOUT, request_target(&mut stream)).await {
            Ok(Some(target)) => target,
            _ => continue,
        };
        let is_callback =
            target == CALLBACK_PATH || target.starts_with(&format!("{CALLBACK_PATH}?"));
        if !is_callback {
            let _ = respond(&mut stream, "404 Not Found", "Not the sign-in redirect.").await;
            continue;
        }
        let failed = target.contains("error=");
        let body = if failed {
            "Sign-in was not completed. You can close this tab; Waymark shows the reason."
        } else {
            "Signed in to the MCP server. You can close this tab and go back to Waymark."
        };
        let _ = respond(&mut stream, "200 OK", body).await;
        let _ = tx.send(format!("{base}{target}"));
        return;
    }
}

/// The request target of a `GET` (path and query), if the request is one.
async fn request_target(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() + n > MAX_REQUEST {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = std::str::from_utf8(&buf).ok()?;
    let line = text.lines().next()?;
    let mut parts = line.split(' ');
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(target)) if target.starts_with('/') => Some(target.to_string()),
        _ => None,
    }
}

async fn respond(
    stream: &mut tokio::net::TcpStream,
    status: &str,
    text: &str,
) -> std::io::Result<()> {
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>Waymark</title><p style=\"font:16px sans-serif;margin:3em\">{text}</p>"
    );
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}
