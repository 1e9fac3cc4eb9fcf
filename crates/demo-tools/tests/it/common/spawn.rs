//! The built binary serving Streamable HTTP on a free loopback port, with extra options, its
//! stderr kept so a test can read the server's log.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct HttpServer {
    /// The endpoint, `http://127.0.0.1:PORT/mcp`.
    pub url: String,
    log: Arc<Mutex<String>>,
    _child: Child,
    _dir: tempfile::TempDir,
}

impl HttpServer {
    /// Starts `waymark-demo-tools --http 127.0.0.1:0 ARGS...` and reads its endpoint URL.
    pub async fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_waymark-demo-tools"))
            .args(["--http", "127.0.0.1:0", "--outbox"])
            .arg(dir.path().join("outbox.jsonl"))
            .args(args)
            .env_remove("DEMO_TOOLS_FAULTS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("the server printed its URL in time")
            .unwrap()
            .unwrap_or_else(|| panic!("no URL on stdout; log:\n{}", log.lock().unwrap()));
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
            "{url}"
        );
        Self {
            url,
            log,
            _child: child,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> &str {
        self.url.trim_end_matches("/mcp")
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// `GET` (or `POST` with no body) of a JSON endpoint beside `/mcp`, e.g. `/admin/calls`.
    pub async fn admin(&self, method: reqwest::Method, path: &str) -> serde_json::Value {
        let url = format!("{}{path}", self.origin());
        let response = http_client().request(method, &url).send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        serde_json::from_str(&response.text().await.unwrap()).unwrap()
    }

    /// A transport to the server, with a bearer token if given.
    pub fn transport(&self, token: Option<&str>) -> StreamableHttpClientTransport<reqwest::Client> {
        let mut config = StreamableHttpClientTransportConfig::with_uri(self.url.clone());
        if let Some(token) = token {
            config = config.auth_header(token);
        }
        StreamableHttpClientTransport::with_client(http_client(), config)
    }
}

/// A client that ignores any proxy of the environment (the servers are on loopback) and
/// follows no redirects (a test reads them).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}
