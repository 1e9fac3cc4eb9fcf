//! One live connection to a server: the transport (stdio child or Streamable HTTP), the rmcp
//! client running on it, and its cached tool list.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rmcp::model::ProtocolVersion;
use rmcp::service::{
    ClientInitializeError, ClientLifecycleMode, ClientServiceExt, RunningService, ServiceError,
};
use rmcp::transport::auth::AuthClient;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{Peer, RoleClient};
use tokio::sync::{watch, Mutex};

use super::handler::{ConnEvents, HubClient};
use super::oauth::{ConnectAuthError, OAuthBroker, SignInNeeded};
use super::process::{stdio_command, ProcessGroup};
use super::stderr_tail::{wait_eof, StderrTail};
use super::tools::ToolCache;
use super::{McpServerDef, McpTransport};
use crate::http::RefusedRedirect;

/// Listing tools is part of every connection and refresh; a server that never answers it
/// must not hang `tools()` for ever.
pub(crate) const LIST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an error waits for a dying child's last stderr lines.
pub(crate) const STDERR_GRACE: Duration = Duration::from_millis(500);
/// How long `shutdown` waits for a server to close before its process is killed.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a connection could not be opened.
pub(crate) enum OpenError {
    Failed(String),
    /// The server wants a signed-in client (its 401), or the stored sign-in no longer holds.
    SignIn(SignInNeeded),
}

impl From<String> for OpenError {
    fn from(message: String) -> Self {
        OpenError::Failed(message)
    }
}

/// What a connection needs of the hub: how to authorize itself, how to answer questions.
pub(crate) struct OpenContext<'a> {
    pub(crate) broker: &'a OAuthBroker,
    /// Whether the server's tokens go to the keychain (a saved server) or stay in memory.
    pub(crate) persist: bool,
    pub(crate) elicitation: super::ElicitationPolicy,
}

/// Who answered: the server's identity as it gave it.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ServerIdentity {
    pub(crate) name: String,
    pub(crate) version: String,
}

pub(crate) struct Connection {
    pub(crate) peer: Peer<RoleClient>,
    pub(crate) events: Arc<ConnEvents>,
    pub(crate) protocol_version: String,
    pub(crate) server: Option<ServerIdentity>,
    service: Mutex<Option<RunningService<RoleClient, HubClient>>>,
    tools: Mutex<Arc<ToolCache>>,
    tool_count: AtomicUsize,
    stderr_eof: Option<watch::Receiver<bool>>,
    /// A stdio server's process group (empty for HTTP), killed after the server closed.
    group: std::sync::Mutex<ProcessGroup>,
}

impl Connection {
    /// Starts the transport, agrees on a protocol revision (2026-07-28's `server/discover`,
    /// else an older revision's `initialize`) and lists the tools.
    pub(crate) async fn open(
        def: &McpServerDef,
        tail: &StderrTail,
        auth: OpenContext<'_>,
    ) -> Result<Self, OpenError> {
        // `${env:NAME}` references are resolved only here, so their values are never stored.
        let def = &def
            .resolve_env(&|name| std::env::var(name).ok())
            .map_err(|e| e.to_string())?;
        let events = Arc::new(ConnEvents {
            elicitation: auth.elicitation,
            ..ConnEvents::default()
        });
        let client = HubClient::new(events.clone(), auth.elicitation);
        let mut group = ProcessGroup::led_by(None);
        let (served, stderr_eof) = match &def.transport {
            McpTransport::Stdio {
                command,
                args,
                env,
                cwd,
            } => {
                let cmd = stdio_command(command, args, env, cwd.as_deref());
                let (transport, stderr) = TokioChildProcess::builder(cmd)
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|e| format!("cannot start {command:?}: {e}"))?;
                // From here on, any early return kills the whole group.
                group = ProcessGroup::led_by(transport.id());
                let eof = stderr.map(|s| tail.drain(s));
                (
                    client
                        .serve_with_lifecycle(transport, lifecycle())
                        .await
                        .map_err(|e| e.to_string()),
                    eof,
                )
            }
            McpTransport::Http {
                url,
                headers,
                oauth,
            } => {
                let refused = RefusedRedirect::default();
                let manager = auth
                    .broker
                    .connect_manager(&def.name, url, oauth, auth.persist)
                    .await
                    .map_err(|e| match e {
                        ConnectAuthError::SignIn(needed) => OpenError::SignIn(needed),
                        ConnectAuthError::Failed(m) => OpenError::Failed(format!("sign-in: {m}")),
                    })?;
                let (http, config) = http_transport(url, headers, refused.clone())?;
                let served = match manager {
                    Some(manager) => {
                        http_handshake(&client, AuthClient::new(http, manager), config).await
                    }
                    None => http_handshake(&client, http, config).await,
                };
                match served {
                    Ok(service) => (Ok(service), None),
                    Err(e) => {
                        if let Some(needed) = sign_in_needed(&e) {
                            let challenge = e.auth_challenge();
                            auth.broker.note_refused(
                                &def.name,
                                url,
                                auth.persist,
                                &needed.reason,
                                challenge,
                            );
                            return Err(OpenError::SignIn(needed));
                        }
                        // rmcp keeps only reqwest's top text, which does not say where it
                        // pointed.
                        let text = match refused.take() {
                            Some(redirect) => format!("{redirect} ({e})"),
                            None => e.to_string(),
                        };
                        (Err(text), None)
                    }
                }
            }
        };
        let service = match served {
            Ok(service) => service,
            Err(e) => return Err(with_tail(e, stderr_eof, tail).await.into()),
        };
        let peer = service.peer().clone();
        let protocol_version = peer
            .peer_info()
            .map(|info| info.protocol_version.to_string())
            .unwrap_or_default();
        let server = peer
            .peer_info()
            .and_then(|info| info.server_info.clone())
            .map(|i| ServerIdentity {
                name: i.name,
                version: i.version,
            });
        // A server without the tools capability (resources or prompts only) has no tools.
        let has_tools = peer
            .peer_info()
            .is_some_and(|info| info.capabilities.tools.is_some());
        let listed = if has_tools {
            match tokio::time::timeout(LIST_TIMEOUT, peer.list_all_tools()).await {
                Ok(Ok(listed)) => listed,
                Ok(Err(e)) if e.is_authorization_required() || e.auth_challenge().is_some() => {
                    // Signed in, yet refused: the token is dead (its authorization server
                    // moved, it was revoked and cannot be refreshed) or lacks a scope.
                    let reason = "the server refused the sign-in's token (HTTP 401/403) and it \
                                  could not be refreshed";
                    if let McpTransport::Http { url, .. } = &def.transport {
                        auth.broker.note_refused(
                            &def.name,
                            url,
                            auth.persist,
                            reason,
                            e.auth_challenge(),
                        );
                    }
                    return Err(OpenError::SignIn(SignInNeeded {
                        reason: reason.into(),
                    }));
                }
                Ok(Err(e)) => {
                    let error = format!("tools/list failed: {e}");
                    return Err(with_tail(error, stderr_eof, tail).await.into());
                }
                Err(_) => {
                    let secs = LIST_TIMEOUT.as_secs();
                    return Err(format!("tools/list got no answer in {secs} s").into());
                }
            }
        } else {
            Vec::new()
        };
        let cache = ToolCache::new(listed);
        Ok(Self {
            peer,
            events,
            protocol_version,
            server,
            tool_count: AtomicUsize::new(cache.tools.len()),
            tools: Mutex::new(Arc::new(cache)),
            service: Mutex::new(Some(service)),
            stderr_eof,
            group: std::sync::Mutex::new(group),
        })
    }

    /// Whether the server declared a capability (`resources`, `prompts`, …).
    pub(crate) fn has_capability(
        &self,
        check: impl Fn(&rmcp::model::ServerCapabilities) -> bool,
    ) -> bool {
        self.peer
            .peer_info()
            .is_some_and(|info| check(&info.capabilities))
    }

    /// The service loop ended: the process exited, or the HTTP session is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.peer.is_transport_closed()
    }

    pub(crate) fn tool_count(&self) -> usize {
        self.tool_count.load(Ordering::SeqCst)
    }

    /// The cached tools, listed again first if the server said they changed.
    pub(crate) async fn tools(&self) -> Result<Arc<ToolCache>, ServiceError> {
        let mut cached = self.tools.lock().await;
        if self.events.tools_changed.swap(false, Ordering::SeqCst) {
            match self.list().await {
                Ok(cache) => *cached = cache,
                Err(e) => {
                    self.events.tools_changed.store(true, Ordering::SeqCst);
                    return Err(e);
                }
            }
        }
        Ok(cached.clone())
    }

    /// Lists the tools now, whatever the cache holds.
    pub(crate) async fn refresh_tools(&self) -> Result<Arc<ToolCache>, ServiceError> {
        let mut cached = self.tools.lock().await;
        self.events.tools_changed.store(false, Ordering::SeqCst);
        let cache = self.list().await?;
        *cached = cache.clone();
        Ok(cache)
    }

    async fn list(&self) -> Result<Arc<ToolCache>, ServiceError> {
        let listed = tokio::time::timeout(LIST_TIMEOUT, self.peer.list_all_tools())
            .await
            .map_err(|_| ServiceError::Timeout {
                timeout: LIST_TIMEOUT,
            })??;
        let cache = ToolCache::new(listed);
        self.tool_count.store(cache.tools.len(), Ordering::SeqCst);
        Ok(Arc::new(cache))
    }

    /// Gives a crashed child a moment to finish writing stderr (bounded).
    pub(crate) async fn wait_stderr_eof(&self) {
        if let Some(eof) = &self.stderr_eof {
            wait_eof(&mut eof.clone(), STDERR_GRACE).await;
        }
    }

    /// Closes the connection: a stdio child gets its stdin closed, then SIGTERM, then a kill;
    /// then whatever it started itself (its process group) is killed.
    pub(crate) async fn close(&self) {
        let service = self.service.lock().await.take();
        if let Some(mut service) = service {
            let _ = service.close_with_timeout(CLOSE_TIMEOUT).await;
        }
        self.group.lock().unwrap_or_else(|e| e.into_inner()).kill();
    }
}

/// The error text, with the child's last stderr lines when it wrote any (it may have exited).
async fn with_tail(error: String, eof: Option<watch::Receiver<bool>>, tail: &StderrTail) -> String {
    if let Some(mut eof) = eof {
        wait_eof(&mut eof, STDERR_GRACE).await;
    }
    // The error may quote what the server sent; the tail is scrubbed already.
    let error = crate::redact::scrub(&error);
    match tail.text() {
        Some(t) => format!("{error}; its stderr ended with: {t}"),
        None => error,
    }
}

/// 2026-07-28 first (`server/discover`); a server that does not know it (an error, an HTTP 4xx
/// other than 401/403, or no answer within 10 s) gets the newest revision with `initialize`,
/// and may answer an older one.
fn lifecycle() -> ClientLifecycleMode {
    ClientLifecycleMode::Auto {
        preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        legacy_version: Some(ProtocolVersion::LATEST_WITH_INITIALIZE),
    }
}

/// The HTTP handshake: `server/discover`, else `initialize` on the same connection (rmcp's
/// Auto mode); a server that answers `server/discover` wrongly (an empty result, as some
/// older ones answer any unknown method) gets a fresh connection that starts with
/// `initialize`.
async fn http_handshake<C>(
    client: &HubClient,
    http: C,
    config: StreamableHttpClientTransportConfig,
) -> Result<RunningService<RoleClient, HubClient>, ClientInitializeError>
where
    C: rmcp::transport::streamable_http_client::StreamableHttpClient
        + Clone
        + Send
        + Sync
        + 'static,
{
    let transport = StreamableHttpClientTransport::with_client(http.clone(), config.clone());
    match client
        .clone()
        .serve_with_lifecycle(transport, lifecycle())
        .await
    {
        Err(e) if sign_in_needed(&e).is_none() => {
            tracing::debug!(error = %e, "server/discover failed; trying initialize");
            let transport = StreamableHttpClientTransport::with_client(http, config);
            rmcp::ServiceExt::serve(client.clone(), transport).await
        }
        other => other,
    }
}

/// Whether the handshake failed because the server wants a (new) sign-in.
fn sign_in_needed(e: &ClientInitializeError) -> Option<SignInNeeded> {
    if !e.is_authorization_required() && e.auth_challenge().is_none() {
        return None;
    }
    let scope = e
        .auth_challenge()
        .filter(|c| c.contains("insufficient_scope"))
        .map(|_| " with more scopes");
    Some(SignInNeeded {
        reason: format!(
            "the server asks for a sign-in{} (HTTP 401/403 with an OAuth challenge)",
            scope.unwrap_or("")
        ),
    })
}

type HttpParts = (reqwest::Client, StreamableHttpClientTransportConfig);

fn http_transport(
    url: &str,
    headers: &std::collections::BTreeMap<String, crate::secret::Secret>,
    refused: RefusedRedirect,
) -> Result<HttpParts, String> {
    // Same-origin redirects only: the custom headers are credentials for this origin.
    let http = crate::http::client_builder_noting(refused)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let mut custom = HashMap::new();
    for (name, value) in headers {
        let header = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("invalid header name {name:?}"))?;
        // The value is a secret: never quote it in the error.
        let mut value = reqwest::header::HeaderValue::from_str(value.expose())
            .map_err(|_| format!("the value of header {name:?} is not a valid header value"))?;
        value.set_sensitive(true);
        custom.insert(header, value);
    }
    let config =
        StreamableHttpClientTransportConfig::with_uri(url.to_string()).custom_headers(custom);
    Ok((http, config))
}
