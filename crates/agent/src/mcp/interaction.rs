//! A server's requests to the client in the middle of a call: questions (`elicitation/create`)
//! and, later, model completions. They arrive two ways: as requests inside the open call
//! (revisions up to 2025-11-25), or in the call's `input_required` result (2026-07-28), which
//! the caller answers by sending the call again with the responses. Either way the call's
//! [`CallInteraction`] answers; without one, the connection's [`ElicitationPolicy`] does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use rmcp::model::InputRequiredResult;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::watch;

use super::ElicitationPolicy;

/// At most this many rounds of `input_required` answered in one call: a server that keeps
/// asking must not keep a call alive for ever.
pub const MAX_INPUT_ROUNDS: usize = 10;
/// A round asks at most this many things at once, each at most this big (JSON), with a
/// request state at most this big: all of it is journaled, and a person reads the questions.
pub const MAX_INPUT_REQUESTS: usize = 16;
pub const MAX_INPUT_REQUEST_BYTES: usize = 256 * 1024;
pub const MAX_REQUEST_STATE_BYTES: usize = 256 * 1024;

/// Who answers a call's server-side requests. The answer is the result object the protocol
/// expects (an `ElicitResult`: `{"action": "accept", "content": {...}}`).
pub trait CallInteraction: Send + Sync {
    /// Answers an `elicitation/create` request, given its params (form or URL mode).
    fn elicit(&self, params: Value) -> BoxFuture<'static, Value>;

    /// Answers a `sampling/createMessage` request, given its params: a `CreateMessageResult`,
    /// or why the request is refused (sent to the server as an error).
    fn sample(&self, _params: Value) -> BoxFuture<'static, Result<Value, String>> {
        Box::pin(async {
            Err(
                "this call has no model to lend: only a call made by an agent run answers sampling"
                    .to_string(),
            )
        })
    }
}

/// A refused sampling request, as an input response (MRTR has no error slot of its own: the
/// JSON-RPC error object stands in the result's place).
pub fn sampling_refused(message: &str) -> Value {
    json!({ "code": -1, "message": message })
}

/// A call the server wants input for before it can finish (2026-07-28): what it asks, keyed
/// by the server's ids, and the state to send back with the answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct InputRequired {
    /// Each request as `{"method": ..., "params": ...}`.
    pub requests: BTreeMap<String, Value>,
    /// Opaque to the client: echoed back exactly, never read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub request_state: Option<String>,
}

impl InputRequired {
    pub(crate) fn from_result(result: InputRequiredResult) -> Result<Self, String> {
        let asked = result.input_requests.unwrap_or_default();
        if asked.len() > MAX_INPUT_REQUESTS {
            return Err(format!(
                "the server asked {} things at once; at most {MAX_INPUT_REQUESTS} are taken",
                asked.len()
            ));
        }
        if let Some(state) = &result.request_state {
            if state.len() > MAX_REQUEST_STATE_BYTES {
                return Err(format!(
                    "the server's requestState is {} bytes; at most {MAX_REQUEST_STATE_BYTES} are kept",
                    state.len()
                ));
            }
        }
        let requests = asked
            .into_iter()
            .map(|(id, request)| {
                let value = serde_json::to_value(&request)
                    .map_err(|e| format!("input request {id:?} does not serialize: {e}"))?;
                let size = value.to_string().len();
                if size > MAX_INPUT_REQUEST_BYTES || id.len() > 256 {
                    return Err(format!(
                        "input request {:?} is {size} bytes; at most {MAX_INPUT_REQUEST_BYTES} are taken",
                        id.chars().take(64).collect::<String>()
                    ));
                }
                Ok((id, value))
            })
            .collect::<Result<_, _>>()?;
        Ok(InputRequired {
            requests,
            request_state: result.request_state,
        })
    }
}

/// The answers to an [`InputRequired`], sent with the call's next round.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InputResume {
    pub responses: BTreeMap<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_state: Option<String>,
}

/// What one input request is, read from its `{"method", "params"}`.
pub enum InputRequestKind {
    Elicitation(Value),
    Sampling(Value),
    Roots,
    Unknown(String),
}

impl InputRequestKind {
    pub fn of(request: &Value) -> Self {
        let params = request.get("params").cloned().unwrap_or(json!({}));
        match request.get("method").and_then(Value::as_str) {
            Some("elicitation/create") => InputRequestKind::Elicitation(params),
            Some("sampling/createMessage") => InputRequestKind::Sampling(params),
            Some("roots/list") => InputRequestKind::Roots,
            Some(other) => InputRequestKind::Unknown(other.to_string()),
            None => InputRequestKind::Unknown("(no method)".into()),
        }
    }
}

/// A decline, the answer to a question nobody may answer.
pub fn declined() -> Value {
    json!({ "action": "decline" })
}

/// The policy's answer to a question without a person: a form filled with its schema's
/// defaults, or a decline (a URL needs a person to open it).
pub fn policy_answer(policy: ElicitationPolicy, params: &Value) -> Value {
    if policy != ElicitationPolicy::AcceptDefaults || params.get("mode") == Some(&json!("url")) {
        return declined();
    }
    match params.get("requestedSchema").and_then(defaults_of) {
        Some(content) => json!({ "action": "accept", "content": content }),
        None => declined(),
    }
}

/// A form's answer made of its schema's defaults; `None` when a required field has none.
pub fn defaults_of(schema: &Value) -> Option<Value> {
    let properties = schema.get("properties")?.as_object()?;
    let mut answer = serde_json::Map::new();
    for (name, field) in properties {
        if let Some(default) = field.get("default") {
            answer.insert(name.clone(), default.clone());
        }
    }
    let required = schema.get("required").and_then(Value::as_array);
    let complete = required.is_none_or(|names| {
        names
            .iter()
            .filter_map(Value::as_str)
            .all(|n| answer.contains_key(n))
    });
    complete.then_some(Value::Object(answer))
}

/// Answers one round of input requests without a durable caller: through the call's
/// interaction when it has one, else by policy. Sampling is refused with a reason.
pub(crate) async fn answer_locally(
    required: &InputRequired,
    interaction: Option<&Arc<dyn CallInteraction>>,
    policy: ElicitationPolicy,
) -> Result<InputResume, String> {
    let mut responses = BTreeMap::new();
    for (id, request) in &required.requests {
        let answer = match InputRequestKind::of(request) {
            InputRequestKind::Elicitation(params) => match interaction {
                Some(sink) => sink.elicit(params).await,
                None => policy_answer(policy, &params),
            },
            InputRequestKind::Roots => json!({ "roots": [] }),
            InputRequestKind::Sampling(params) => {
                let answer = match interaction {
                    Some(sink) => sink.sample(params).await,
                    None => Err("this client lends no model here".to_string()),
                };
                answer.unwrap_or_else(|e| sampling_refused(&e))
            }
            InputRequestKind::Unknown(method) => {
                return Err(format!(
                    "the server sent an input request ({id}) of an unknown kind: {method}"
                ))
            }
        };
        responses.insert(id.clone(), answer);
    }
    Ok(InputResume {
        responses,
        request_state: required.request_state.clone(),
    })
}

/// The calls in flight on one connection that can take a server's requests, oldest first.
/// A request inside an open call carries nothing that names its call, so it goes to the one
/// call that can take it; with several, to the oldest.
#[derive(Default)]
pub(crate) struct InteractionRouter {
    calls: Mutex<Vec<(u64, Arc<dyn CallInteraction>)>>,
    next: std::sync::atomic::AtomicU64,
    /// Questions being answered now, so a call's own deadline can wait for the person.
    asking: watch::Sender<u32>,
}

impl InteractionRouter {
    pub(crate) fn register(
        self: &Arc<Self>,
        sink: Arc<dyn CallInteraction>,
    ) -> InteractionRegistration {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.lock().push((id, sink));
        InteractionRegistration {
            router: self.clone(),
            id,
        }
    }

    pub(crate) fn current(&self) -> Option<Arc<dyn CallInteraction>> {
        self.lock().first().map(|(_, sink)| sink.clone())
    }

    /// Counts a question as open until the guard drops.
    pub(crate) fn asking(self: &Arc<Self>) -> AskingGuard {
        self.asking.send_modify(|n| *n = n.saturating_add(1));
        AskingGuard {
            router: self.clone(),
        }
    }

    pub(crate) fn watch_asking(&self) -> watch::Receiver<u32> {
        self.asking.subscribe()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Arc<dyn CallInteraction>)>> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) struct InteractionRegistration {
    router: Arc<InteractionRouter>,
    id: u64,
}

impl Drop for InteractionRegistration {
    fn drop(&mut self) {
        self.router.lock().retain(|(id, _)| *id != self.id);
    }
}

pub(crate) struct AskingGuard {
    router: Arc<InteractionRouter>,
}

impl Drop for AskingGuard {
    fn drop(&mut self) {
        self.router.asking.send_modify(|n| *n = n.saturating_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_a_form_only_when_every_required_field_has_one() {
        let schema = json!({"properties": {"a": {"default": 1}, "b": {"type": "string"}}, "required": ["a"]});
        assert_eq!(defaults_of(&schema), Some(json!({"a": 1})));
        let schema = json!({"properties": {"a": {"default": 1}, "b": {}}, "required": ["a", "b"]});
        assert_eq!(defaults_of(&schema), None);
    }

    #[test]
    fn too_many_or_too_big_requests_are_refused_naming_the_limit() {
        let ask = |n: usize| {
            let requests: rmcp::model::InputRequests = (0..n)
                .map(|i| {
                    let params = serde_json::from_value(json!({
                        "message": "?", "requestedSchema": {"type": "object", "properties": {}}
                    }))
                    .unwrap();
                    (
                        format!("q{i}"),
                        rmcp::model::InputRequest::Elicitation(rmcp::model::ElicitRequest::new(
                            params,
                        )),
                    )
                })
                .collect();
            InputRequiredResult::from_input_requests(requests)
        };
        assert!(InputRequired::from_result(ask(MAX_INPUT_REQUESTS)).is_ok());
        let e = InputRequired::from_result(ask(MAX_INPUT_REQUESTS + 1)).unwrap_err();
        assert!(e.contains("at most 16"), "{e}");
        let big = InputRequiredResult::from_request_state("x".repeat(MAX_REQUEST_STATE_BYTES + 1));
        assert!(InputRequired::from_result(big)
            .unwrap_err()
            .contains("requestState"));
    }

    #[test]
    fn a_url_question_is_never_accepted_by_policy() {
        let params = json!({"mode": "url", "url": "https://x.test", "message": "m"});
        assert_eq!(
            policy_answer(ElicitationPolicy::AcceptDefaults, &params),
            declined()
        );
    }
}
