//! The desktop app's webhook receiver: a hooks-only listener on loopback while at least one
//! agent has a webhook trigger, off otherwise; moved when the port in Settings changes. A
//! tunnel or a proxy forwards to it when senders are elsewhere.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use waymark_api::Api;
use waymark_host::Hooks;

use crate::HooksServer;

/// How often the agents and the port are looked at again (a change in another process, too).
const RECHECK: Duration = Duration::from_secs(2);

/// Runs until `stop` is cancelled (spawn it: `host.api().clone()`, `host.hooks()`).
pub async fn serve_loopback_hooks(api: Api, hooks: Arc<Hooks>, stop: CancellationToken) {
    let mut running: Option<(u16, CancellationToken)> = None;
    loop {
        let wanted = wanted_port(&api).await;
        match (wanted, &running) {
            (Some(port), Some((now, _))) if *now == port => {}
            (None, None) => {}
            (wanted, _) => {
                if let Some((_, token)) = running.take() {
                    token.cancel();
                }
                if let Some(port) = wanted {
                    running = start(&hooks, port).await.map(|token| (port, token));
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(RECHECK) => {}
        }
    }
    if let Some((_, token)) = running {
        token.cancel();
    }
}

/// The port to listen on, when some agent has a webhook trigger.
async fn wanted_port(api: &Api) -> Option<u16> {
    match api.webhook_agents().await {
        Ok(agents) if !agents.is_empty() => {}
        Ok(_) => return None,
        Err(e) => {
            tracing::warn!(error = %e.message, "webhooks: cannot read the agents");
            return None;
        }
    }
    match api.hooks_port().await {
        Ok(port) => Some(port),
        Err(e) => {
            tracing::warn!(error = %e.message, "webhooks: cannot read the port setting");
            None
        }
    }
}

async fn start(hooks: &Arc<Hooks>, port: u16) -> Option<CancellationToken> {
    let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let server = match HooksServer::bind_receiver(hooks.clone(), addr).await {
        Ok(s) => s,
        Err(e) => {
            // Another program holds the port: say so, and try again at the next look.
            tracing::warn!(error = %e, "webhooks: cannot listen on {addr}");
            return None;
        }
    };
    tracing::info!(addr = ?server.addr(), "webhooks: receiving on loopback");
    let token = CancellationToken::new();
    let stopped = token.clone();
    tokio::spawn(server.run(stopped.cancelled_owned()));
    Some(token)
}
