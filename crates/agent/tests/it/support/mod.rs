//! A loopback model server: answers every connection on 127.0.0.1 with one scripted HTTP reply,
//! written piece by piece so streaming clients see the pieces arrive separately.

#![allow(dead_code)] // each test file uses a different part

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub mod agents;

#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub parts: Vec<String>,
    /// Between parts, so each reaches the client as its own read.
    pub gap: Duration,
    /// Never send anything: a server that accepted the request and hangs.
    pub silent: bool,
    /// After the parts, keep the connection open without closing it: a stalled stream.
    pub hang_after: bool,
}

impl Reply {
    pub fn json(status: u16, body: &Value) -> Self {
        Reply::raw(status, "application/json", &body.to_string())
    }

    pub fn raw(status: u16, content_type: &str, body: &str) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            parts: vec![body.to_string()],
            gap: Duration::ZERO,
            silent: false,
            hang_after: false,
        }
    }

    /// An SSE body: each `data` value is sent as its own event (and its own write).
    pub fn sse(events: &[(Option<&str>, String)]) -> Self {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            parts: events
                .iter()
                .map(|(name, data)| match name {
                    Some(name) => format!("event: {name}\ndata: {data}\n\n"),
                    None => format!("data: {data}\n\n"),
                })
                .collect(),
            gap: Duration::from_millis(15),
            silent: false,
            hang_after: false,
        }
    }

    pub fn silent() -> Self {
        Reply {
            silent: true,
            ..Reply::raw(200, "text/plain", "")
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A request as the server received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Value,
    /// The body's bytes as they arrived.
    pub raw_body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

pub struct Server {
    pub base_url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl Server {
    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

pub async fn serve(reply: Reply) -> Server {
    serve_with(Arc::new(move |_: &Received, _: usize| reply.clone())).await
}

/// Decides each reply from the request and how many requests came before it.
pub type Handler = Arc<dyn Fn(&Received, usize) -> Reply + Send + Sync>;

/// A server whose replies `handler` chooses.
pub async fn serve_with(handler: Handler) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let (handler, log) = (handler.clone(), log.clone());
            tokio::spawn(answer(socket, handler, log));
        }
    });
    Server {
        base_url: format!("http://{addr}/v1"),
        received,
    }
}

/// A base URL where nothing listens: the port was free a moment ago.
pub async fn closed_base_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/v1")
}

async fn answer(mut socket: TcpStream, handler: Handler, log: Arc<Mutex<Vec<Received>>>) {
    let Some(request) = read_request(&mut socket).await else {
        return;
    };
    let reply = {
        let mut log = log.lock().unwrap();
        let reply = handler(&request, log.len());
        log.push(request);
        reply
    };
    if reply.silent {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return;
    }
    let reason = match reply.status {
        200 => "OK",
        _ => "Status",
    };
    let mut head = format!(
        "HTTP/1.1 {} {reason}\r\nconnection: close\r\n",
        reply.status
    );
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    if socket.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    for part in &reply.parts {
        if socket.write_all(part.as_bytes()).await.is_err() {
            return;
        }
        let _ = socket.flush().await;
        if !reply.gap.is_zero() {
            tokio::time::sleep(reply.gap).await;
        }
    }
    if reply.hang_after {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let _ = socket.shutdown().await;
}

async fn read_request(socket: &mut TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let raw_body = buf[head_end..head_end + length].to_vec();
    let body = serde_json::from_slice(&raw_body).unwrap_or(Value::Null);
    Some(Received {
        method,
        path,
        headers,
        body,
        raw_body,
    })
}
