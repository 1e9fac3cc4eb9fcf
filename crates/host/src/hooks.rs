//! The webhook receiver every listener serves (`POST /hooks/{agent}`): a request in, an
//! answer out (status and JSON body), so an HTTP server needs no knowledge of triggers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use serde_json::{json, Value};
use waymark_agent::app::AgentApp;
use waymark_agent::triggers::{Delivered, WebhookError, WebhookReceiver};
use waymark_api::{HooksListening, HooksStatus, WebhookDelivery};

/// Agents whose last delivery is remembered: anyone may post to any name, so the memory is
/// bounded (the oldest entry goes).
const MAX_REMEMBERED: usize = 1_000;

/// What to answer a webhook sender.
#[derive(Clone, Debug, PartialEq)]
pub struct HookAnswer {
    pub status: u16,
    pub body: Value,
}

/// The one answer to every refusal, whatever its reason (an unknown agent, a bad signature,
/// a stale timestamp): told apart, they would tell a stranger which agents exist.
pub const REFUSAL_MESSAGE: &str =
    "not accepted: check the URL, the secret and the signature scheme (the server's log says which)";

pub struct Hooks {
    receiver: WebhookReceiver,
    listening: Mutex<Option<HooksListening>>,
    deliveries: Mutex<HashMap<String, WebhookDelivery>>,
}

impl Hooks {
    pub(crate) fn new(app: AgentApp) -> Result<Self, WebhookError> {
        Ok(Hooks {
            receiver: WebhookReceiver::new(app)?,
            listening: Mutex::new(None),
            deliveries: Mutex::new(HashMap::new()),
        })
    }

    /// A listener that serves `/hooks/*` says where.
    pub fn set_listening(&self, addr: SocketAddr) {
        *lock(&self.listening) = Some(listening_at(addr));
    }

    /// Where the receiver listens now, if anywhere (`http://127.0.0.1:4681`).
    pub fn listening_url(&self) -> Option<String> {
        lock(&self.listening).as_ref().map(|l| l.base_url.clone())
    }

    /// The listener at `addr` stopped (a newer one elsewhere stays recorded).
    pub fn stopped_listening(&self, addr: SocketAddr) {
        let mut now = lock(&self.listening);
        if now.as_ref() == Some(&listening_at(addr)) {
            *now = None;
        }
    }

    fn remember(&self, agent: &str, status: u16, run_id: Option<waymark_api::RunId>) {
        let delivery = WebhookDelivery {
            at: waymark_engine::clock::system_now_ms(),
            status,
            run_id,
        };
        let mut map = lock(&self.deliveries);
        if map.len() >= MAX_REMEMBERED && !map.contains_key(agent) {
            let oldest = map
                .iter()
                .min_by_key(|(_, d)| d.at)
                .map(|(name, _)| name.clone());
            if let Some(name) = oldest {
                map.remove(&name);
            }
        }
        map.insert(agent.to_string(), delivery);
    }

    /// Checks one delivery and starts its run. `headers` are the request's, names in any case.
    /// 201 a new run; 200 a delivery seen before (the first run's id: senders retry until
    /// they get a 2xx) or a GitHub ping; 401 every refusal alike; 503 while the secret
    /// cannot be read (a locked keychain).
    pub async fn deliver(
        &self,
        agent: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> HookAnswer {
        let (status, body, run_id) = match self.receiver.start(agent, headers, body).await {
            Ok(Delivered::Started(run_id)) => (
                201,
                json!({"run_id": run_id, "created": true}),
                Some(run_id),
            ),
            Ok(Delivered::Repeated(run_id)) => (
                200,
                json!({"run_id": run_id, "created": false}),
                Some(run_id),
            ),
            Ok(Delivered::Ping) => (200, json!({"ping": true, "created": false}), None),
            Err(e) => {
                let status = e.http_status();
                // A name with no webhook behind it is a stranger's probe: nothing to show
                // anyone, and remembering it would let probes push real agents out.
                if matches!(
                    e,
                    WebhookError::UnknownAgent(_) | WebhookError::NoWebhookTrigger(_)
                ) {
                    return HookAnswer {
                        status,
                        body: refusal(agent, &e),
                    };
                }
                (status, refusal(agent, &e), None)
            }
        };
        self.remember(agent, status, run_id.map(Into::into));
        HookAnswer { status, body }
    }
}

impl HooksStatus for Hooks {
    fn listening(&self) -> Option<HooksListening> {
        lock(&self.listening).clone()
    }

    fn last_delivery(&self, agent: &str) -> Option<WebhookDelivery> {
        lock(&self.deliveries).get(agent).cloned()
    }
}

fn listening_at(addr: SocketAddr) -> HooksListening {
    HooksListening {
        base_url: format!("http://{addr}"),
        local_only: addr.ip().is_loopback(),
    }
}

/// A panic while holding a lock leaves plain data behind: keep using it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What an unauthenticated sender learns: no agent names, no secret names, no paths, and one
/// answer for every refusal. The log has the details.
fn refusal(agent: &str, e: &WebhookError) -> Value {
    let (code, message) = if e.is_refusal() {
        tracing::info!(agent, reason = %e, "a webhook request was refused");
        ("unauthorized", REFUSAL_MESSAGE.to_string())
    } else {
        match e.http_status() {
            // Only a signed request gets this far.
            400 => (e.kind(), e.to_string()),
            503 => {
                tracing::warn!(agent, error = %e, "a webhook waits for its secret");
                (
                    "unavailable",
                    "the webhook's secret cannot be read now; try again".to_string(),
                )
            }
            _ => {
                tracing::warn!(agent, error = %e, "a webhook could not be served");
                ("internal", "the webhook cannot be served now".to_string())
            }
        }
    };
    json!({"code": code, "message": message})
}
