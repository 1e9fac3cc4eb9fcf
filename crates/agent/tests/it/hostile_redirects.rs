//! Credentials stay on their origin: a model server or an MCP server that redirects to another
//! origin gets a clear error instead of its credentials followed there; a redirect within the
//! same origin still works.

use crate::support;

use crate::mcp_servers;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mcp_servers::guarded;
use serde_json::json;
use support::agents::{anthropic_reply, openai_reply, Turn};
use support::{serve, serve_with, Received, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use waymark_agent::mcp::{McpHub, McpServerDef, McpTransport};
use waymark_agent::{
    AnthropicProvider, ChatMessage, HttpConfig, ModelRequest, OpenAiProvider, Provider, Secret,
};

const ANTHROPIC_KEY: &str = "sk-ant-must-stay-home-0123456789";
const OPENAI_KEY: &str = "sk-openai-must-stay-home-0123456789";
const MCP_HEADER: &str = "mcp-header-must-stay-home-4567";

/// Another origin (another port on loopback): it counts every connection and keeps every byte
/// it is sent, and answers 200 so that a client which follows the redirect does not hang.
struct Elsewhere {
    origin: String,
    connections: Arc<AtomicUsize>,
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl Elsewhere {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let origin = format!("http://{}", listener.local_addr().expect("addr"));
        let connections = Arc::new(AtomicUsize::new(0));
        let bytes = Arc::new(Mutex::new(Vec::new()));
        let (count, sink) = (connections.clone(), bytes.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let sink = sink.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    // Whatever arrives within a moment is recorded; then a plain answer.
                    while let Ok(Ok(n)) =
                        tokio::time::timeout(Duration::from_millis(200), socket.read(&mut buf))
                            .await
                    {
                        if n == 0 {
                            break;
                        }
                        sink.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                    let _ = socket
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                        .await;
                });
            }
        });
        Elsewhere {
            origin,
            connections,
            bytes,
        }
    }

    fn assert_untouched(&self) {
        let bytes = self.bytes.lock().unwrap().clone();
        assert_eq!(
            self.connections.load(Ordering::SeqCst),
            0,
            "the other origin was contacted; it received: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
}

fn redirect_to(location: &str) -> Reply {
    Reply::raw(307, "text/plain", "moved").header("location", location)
}

fn request() -> ModelRequest {
    ModelRequest::new("some-model", vec![ChatMessage::user("Hello?")])
}

fn anthropic(base_url: &str) -> Provider {
    let config = HttpConfig::new(
        base_url,
        Some(Secret::new(ANTHROPIC_KEY)),
        Duration::from_secs(10),
    );
    Provider::Anthropic(AnthropicProvider::new(config).expect("provider"))
}

fn openai(base_url: &str) -> Provider {
    let config = HttpConfig::new(
        base_url,
        Some(Secret::new(OPENAI_KEY)),
        Duration::from_secs(10),
    );
    Provider::OpenAi(OpenAiProvider::new(config).expect("provider"))
}

#[tokio::test]
async fn anthropic_key_is_not_followed_to_another_origin() {
    let elsewhere = Elsewhere::start().await;
    let target = format!("{}/v1/messages", elsewhere.origin);
    let server = serve(redirect_to(&target)).await;
    let error = anthropic(&server.base_url)
        .complete(&request(), |_: &str| {})
        .await
        .expect_err("a cross-origin redirect is refused")
        .to_string();
    elsewhere.assert_untouched();
    assert!(error.contains(&elsewhere.origin), "{error}");
    assert!(!error.contains(ANTHROPIC_KEY), "{error}");
    let asked = server.requests();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].header("x-api-key"), Some(ANTHROPIC_KEY));
}

#[tokio::test]
async fn openai_key_is_not_followed_to_another_origin() {
    let elsewhere = Elsewhere::start().await;
    let target = format!("{}/v1/chat/completions", elsewhere.origin);
    let server = serve(redirect_to(&target)).await;
    let error = openai(&server.base_url)
        .complete(&request(), |_: &str| {})
        .await
        .expect_err("a cross-origin redirect is refused")
        .to_string();
    elsewhere.assert_untouched();
    assert!(error.contains(&elsewhere.origin), "{error}");
}

#[tokio::test]
async fn a_same_origin_redirect_is_followed_with_the_key_and_the_body() {
    let server = serve_with(Arc::new(|req: &Received, _| {
        if req.path == "/v1/messages" {
            redirect_to("/v2/messages")
        } else {
            anthropic_reply(&Turn::answer("answered after the move"))
        }
    }))
    .await;
    let answer = anthropic(&server.base_url)
        .complete(&request(), |_: &str| {})
        .await
        .expect("a same-origin redirect is followed");
    assert_eq!(answer.text, "answered after the move");
    let asked = server.requests();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert_eq!(asked[1].path, "/v2/messages");
    assert_eq!(asked[1].header("x-api-key"), Some(ANTHROPIC_KEY));
    assert_eq!(asked[1].body, asked[0].body);
    assert_eq!(asked[1].body["model"], json!("some-model"));

    // OpenAI's client too, with an absolute URL on the same origin.
    let server = serve_with(Arc::new(|req: &Received, _| {
        if req.path == "/v1/chat/completions" {
            let host = req.header("host").unwrap_or_default();
            redirect_to(&format!("http://{host}/v2/chat/completions"))
        } else {
            openai_reply(&Turn::answer("openai after the move"))
        }
    }))
    .await;
    let answer = openai(&server.base_url)
        .complete(&request(), |_: &str| {})
        .await
        .expect("a same-origin redirect is followed");
    assert_eq!(answer.text, "openai after the move");
    let asked = server.requests();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert_eq!(
        asked[1].header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );
}

#[tokio::test]
async fn mcp_headers_are_not_followed_to_another_origin() {
    let elsewhere = Elsewhere::start().await;
    let target = format!("{}/mcp", elsewhere.origin);
    let server = serve(redirect_to(&target)).await;
    let url = server.base_url.replace("/v1", "/mcp");
    let hub = McpHub::new();
    hub.set_server(McpServerDef {
        name: "remote".into(),
        transport: McpTransport::Http {
            url,
            headers: BTreeMap::from([("X-Api-Token".into(), Secret::new(MCP_HEADER))]),
            oauth: Default::default(),
        },
    });
    let error = guarded("connecting", hub.tools("remote"))
        .await
        .expect_err("a cross-origin redirect is refused")
        .to_string();
    elsewhere.assert_untouched();
    assert!(error.contains(&elsewhere.origin), "{error}");
    assert!(!error.contains(MCP_HEADER), "{error}");
    let asked = server.requests();
    assert!(!asked.is_empty());
    assert_eq!(asked[0].header("x-api-token"), Some(MCP_HEADER));
}
