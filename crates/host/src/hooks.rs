//! The webhook receiver every listener serves (`POST /hooks/{agent}`): a request in, an
//! answer out (status and JSON body), so an HTTP server needs no knowledge of triggers.

use serde_json::{json, Value};
use waymark_agent::app::AgentApp;
use waymark_agent::triggers::{WebhookError, WebhookReceiver};

/// What to answer a webhook sender.
#[derive(Clone, Debug, PartialEq)]
pub struct HookAnswer {
    pub status: u16,
    pub body: Value,
}

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
    pub async fn deliver(
        &self,
        agent: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> HookAnswer {
        match self.receiver.start(agent, headers, body).await {
            Ok((run_id, created)) => HookAnswer {
                status: if created { 201 } else { 200 },
                body: json!({"run_id": run_id, "created": created}),
            },
            Err(e) => HookAnswer {
                status: e.http_status(),
                body: refusal(&e),
            },
        }
    }
}

/// What an unauthenticated sender learns: no agent names (an unknown agent and one without a
/// webhook answer alike), no secret names, no paths. The log has the details.
fn refusal(e: &WebhookError) -> Value {
    let (code, message) = match e.http_status() {
        404 => ("not_found", "no webhook here".to_string()),
        400 | 401 => (e.kind(), e.to_string()),
        _ => {
            tracing::warn!(error = %e, "a webhook could not be served");
            ("internal", "the webhook cannot be served now".to_string())
        }
    };
    json!({"code": code, "message": message})
}
