//! The webhook receiver every listener serves (`POST /hooks/{agent}`): a request in, an
//! answer out (status and JSON body), so an HTTP server needs no knowledge of triggers.

use serde_json::{json, Value};
use waymark_agent::app::AgentApp;
use waymark_agent::triggers::{Delivered, WebhookError, WebhookReceiver};

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
}

impl Hooks {
    pub(crate) fn new(app: AgentApp) -> Result<Self, WebhookError> {
        Ok(Hooks {
            receiver: WebhookReceiver::new(app)?,
        })
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
        match self.receiver.start(agent, headers, body).await {
            Ok(Delivered::Started(run_id)) => HookAnswer {
                status: 201,
                body: json!({"run_id": run_id, "created": true}),
            },
            Ok(Delivered::Repeated(run_id)) => HookAnswer {
                status: 200,
                body: json!({"run_id": run_id, "created": false}),
            },
            Ok(Delivered::Ping) => HookAnswer {
                status: 200,
                body: json!({"ping": true, "created": false}),
            },
            Err(e) => HookAnswer {
                status: e.http_status(),
                body: refusal(agent, &e),
            },
        }
    }
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
