//! A loopback model server: answers every `POST …/chat/completions` with one non-streamed
//! OpenAI chat completion, over HTTP/1.1 keep-alive (reqwest reuses its connection, so the
//! figure is the exchange, not a TCP handshake per call).

use anyhow::Result;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running server; it stops with the runtime that spawned it.
pub(crate) struct ModelServer {
    /// `http://127.0.0.1:PORT/v1`, as `HttpConfig::base_url` wants it.
    pub(crate) base_url: String,
}

pub(crate) async fn start() -> Result<ModelServer> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let _ = socket.set_nodelay(true);
            tokio::spawn(connection(socket));
        }
    });
    Ok(ModelServer {
        base_url: format!("http://{addr}/v1"),
    })
}

/// The answer: a short assistant message, with usage, as OpenAI sends it.
fn completion(n: u64) -> String {
    json!({
        "id": format!("chatcmpl-bench-{n}"),
        "object": "chat.completion",
        "created": 1_700_000_000u64,
        "model": "bench-model",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": format!("Order A-1001 is shipped ({n}).")},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 42, "completion_tokens": 9, "total_tokens": 51}
    })
    .to_string()
}

/// Serves requests on one connection until the client closes it.
async fn connection(mut socket: TcpStream) {
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    let mut chunk = vec![0u8; 16 * 1024];
    let mut served = 0u64;
    loop {
        // The head, then as many body bytes as content-length says.
        let head_end = loop {
            if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + length);
        served += 1;
        let body = completion(served);
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: keep-alive\r\n\r\n{body}",
            body.len()
        );
        if socket.write_all(reply.as_bytes()).await.is_err() {
            return;
        }
    }
}
