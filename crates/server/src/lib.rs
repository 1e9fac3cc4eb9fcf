//! The HTTP door as a library: every command of the one API as `POST /api/v1/{command}`, the
//! event stream over SSE, the OpenAPI document and a page that renders it, the web app, and
//! the webhook endpoint `POST /hooks/{agent}`; bearer-token auth (the web app too: no cookie
//! another local port could replay). `waymark serve` starts it over a host; so can any door.
//! Webhooks can also have a listener of their own ([`ServeOptions::hooks_addr`], or
//! [`HooksServer`] alone): the one port a tunnel or a reverse proxy forwards.

mod auth;
mod docs;
mod listener;
mod loopback;
mod routes;
mod webapp;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use waymark_api::Api;
use waymark_host::{Hooks, Host};

pub use auth::Auth;
pub use listener::parse_timeout;
pub use loopback::serve_loopback_hooks;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0}")]
    Token(String),
    #[error("cannot listen on {addr}: {detail}")]
    Bind { addr: SocketAddr, detail: String },
}

/// What every request handler shares.
pub struct ServerState {
    pub api: Api,
    pub auth: Auth,
    pub hooks: Arc<Hooks>,
    /// The built web app every other GET serves.
    pub ui_dir: PathBuf,
    /// Event streams open at once; one over the cap is answered 503.
    pub streams: Arc<Semaphore>,
    /// Cancelled when the server stops: event streams end instead of holding the stop open.
    pub stop: CancellationToken,
}

/// How the server listens and what it accepts.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Loopback by default; port 0 picks a free one.
    pub addr: SocketAddr,
    /// A file holding the API token (at least 16 characters); without it a token is
    /// generated once into `data_dir` (owner-only) and reused.
    pub token_file: Option<PathBuf>,
    pub data_dir: PathBuf,
    /// Connections open at once; each one over it is answered 503 and closed.
    pub max_connections: usize,
    /// Event streams (SSE) open at once; each one over it is answered 503.
    pub max_event_streams: usize,
    /// A client must send a request's headers within this time; an idle connection is
    /// closed after it too.
    pub header_timeout: Duration,
    /// A second address serving only `POST /hooks/{agent}` (what a tunnel or a reverse proxy
    /// forwards, so the API is never exposed with it). The main address serves webhooks too.
    pub hooks_addr: Option<SocketAddr>,
}

impl ServeOptions {
    pub fn new(addr: SocketAddr) -> Self {
        ServeOptions {
            addr,
            token_file: None,
            data_dir: waymark_host::paths::data_dir(),
            max_connections: 256,
            max_event_streams: 64,
            header_timeout: Duration::from_secs(10),
            hooks_addr: None,
        }
    }

    /// Where the token is read from: what a door tells its user to `cat`.
    pub fn token_path(&self) -> PathBuf {
        self.token_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("api-token"))
    }
}

/// A bound server, not yet serving: its address and token are known, so a door can print
/// them before [`Server::run`].
pub struct Server {
    listener: tokio::net::TcpListener,
    state: Arc<ServerState>,
    limits: listener::Limits,
    hooks: Option<HooksServer>,
}

async fn bind_addr(addr: SocketAddr) -> Result<(tokio::net::TcpListener, SocketAddr), ServerError> {
    let bind_error = |e: std::io::Error| ServerError::Bind {
        addr,
        detail: e.to_string(),
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    Ok((listener, bound))
}

impl Server {
    pub async fn bind(host: &Host, options: ServeOptions) -> Result<Server, ServerError> {
        let token = auth::load_token(options.token_file.as_deref(), &options.data_dir)?;
        let (listener, addr) = bind_addr(options.addr).await?;
        let limits = listener::Limits {
            max_connections: options.max_connections,
            header_timeout: options.header_timeout,
        };
        let hooks = match options.hooks_addr {
            Some(a) => Some(HooksServer::bind_with(host, a, limits).await?),
            None => {
                // This listener serves /hooks/* too.
                host.hooks().set_listening(addr);
                None
            }
        };
        let state = Arc::new(ServerState {
            api: host.api().clone(),
            auth: Auth::new(token, addr.port(), addr.ip()),
            hooks: host.hooks(),
            ui_dir: webapp::ui_dir(),
            streams: Arc::new(Semaphore::new(options.max_event_streams)),
            stop: CancellationToken::new(),
        });
        Ok(Server {
            listener,
            state,
            limits,
            hooks,
        })
    }

    pub fn addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// The hooks-only listener's address, when [`ServeOptions::hooks_addr`] asked for one.
    pub fn hooks_addr(&self) -> Option<SocketAddr> {
        self.hooks.as_ref().and_then(HooksServer::addr)
    }

    pub fn token(&self) -> &str {
        self.state.auth.token()
    }

    /// Serves until `signal` resolves; then closes the listener, ends event streams and
    /// gives requests in flight a few seconds.
    pub async fn run(self, signal: impl Future<Output = ()>) {
        let stop = self.state.stop.clone();
        let receiver = self.state.hooks.clone();
        let addr = self.listener.local_addr().ok();
        let router = routes::router(self.state);
        let Some(hooks) = self.hooks else {
            listener::run(self.listener, router, self.limits, stop, signal).await;
            if let Some(addr) = addr {
                receiver.stopped_listening(addr);
            }
            return;
        };
        // One signal stops both listeners.
        let both = CancellationToken::new();
        let hooks_stop = both.clone();
        tokio::join!(
            async {
                signal.await;
                both.cancel();
            },
            listener::run(
                self.listener,
                router,
                self.limits,
                stop,
                hooks_stop.clone().cancelled_owned()
            ),
            hooks.run(hooks_stop.cancelled_owned()),
        );
    }
}

/// A listener that serves only `POST /hooks/{agent}`: no API, no token, no web app, and any
/// `Host` (a tunnel or a proxy names this machine its own way; the signature authenticates).
/// A door starts one alone (the desktop app, on loopback, for a tunnel to forward to):
/// `HooksServer::bind(&host, addr).await?.run(signal).await`.
pub struct HooksServer {
    listener: tokio::net::TcpListener,
    hooks: Arc<Hooks>,
    limits: listener::Limits,
}

impl HooksServer {
    /// Binds `addr` (port 0 picks a free one) with the default limits.
    pub async fn bind(host: &Host, addr: SocketAddr) -> Result<HooksServer, ServerError> {
        let defaults = ServeOptions::new(addr);
        let limits = listener::Limits {
            max_connections: defaults.max_connections,
            header_timeout: defaults.header_timeout,
        };
        Self::bind_with(host, addr, limits).await
    }

    /// [`HooksServer::bind`] for a receiver a door already holds.
    pub async fn bind_receiver(
        hooks: Arc<Hooks>,
        addr: SocketAddr,
    ) -> Result<HooksServer, ServerError> {
        let defaults = ServeOptions::new(addr);
        let limits = listener::Limits {
            max_connections: defaults.max_connections,
            header_timeout: defaults.header_timeout,
        };
        Self::bind_hooks(hooks, addr, limits).await
    }

    async fn bind_with(
        host: &Host,
        addr: SocketAddr,
        limits: listener::Limits,
    ) -> Result<HooksServer, ServerError> {
        Self::bind_hooks(host.hooks(), addr, limits).await
    }

    async fn bind_hooks(
        hooks: Arc<Hooks>,
        addr: SocketAddr,
        limits: listener::Limits,
    ) -> Result<HooksServer, ServerError> {
        let (listener, bound) = bind_addr(addr).await?;
        hooks.set_listening(bound);
        Ok(HooksServer {
            listener,
            hooks,
            limits,
        })
    }

    pub fn addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until `signal` resolves, then stops as [`Server::run`] does.
    pub async fn run(self, signal: impl Future<Output = ()>) {
        let receiver = self.hooks.clone();
        let addr = self.listener.local_addr().ok();
        let router = routes::hooks_router(self.hooks).fallback(routes::hooks_only_fallback);
        listener::run(
            self.listener,
            router,
            self.limits,
            CancellationToken::new(),
            signal,
        )
        .await;
        if let Some(addr) = addr {
            receiver.stopped_listening(addr);
        }
    }
}
