//! A server's questions during a tool call (`elicitation/create`) as durable waits on the run:
//! a card on the run page, `waymark answer`, `runs_elicitation_answer`. The question and its
//! answer are journaled on the wait step `elicit/N.I/...`.
//!
//! They come two ways. Under 2026-07-28 a call answers `input_required`; the questions are
//! asked between two journaled rounds of the call (`elicit/N.I/rR.K`), so they survive a
//! restart and the call goes on with its answers. Up to 2025-11-25 a question is a request
//! inside the open call (`elicit/N.I/aR.A.K`): it lives only as long as the process that holds
//! the call, so after a restart it is closed as lost and the call is settled by its safety
//! class.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde_json::{json, Value};
use waymark_engine::{Attempt, RunContext, RunError};

use super::sampling::{sample, Lender};
use crate::mcp::interaction::{declined, policy_answer, MAX_INPUT_REQUEST_BYTES};
use crate::mcp::{CallInteraction, ElicitationPolicy};
use crate::replay::ReplayData;

/// Questions and sampling requests one attempt of a call may make; more are refused.
const MAX_ASKED_PER_ATTEMPT: u32 = 64;

/// The event a person's answer to a server's question is sent as.
pub const ELICITATION_EVENT: &str = "elicitation";

/// What a question or sampling request lost with its process is closed with.
pub const LOST_QUESTION: &str = "This was asked inside the server's open request (MCP 2025-11-25 and older), which ended with the process that held it. The call was settled by its safety class: retried if it is safe to repeat, otherwise left for you to decide.";

/// Where the question comes from, for the person reading it.
#[derive(Clone)]
pub(crate) struct QuestionSource {
    pub(crate) server: String,
    pub(crate) tool: String,
    /// The tool step the question belongs to (`tool/N.I`).
    pub(crate) tool_step: String,
    pub(crate) policy: ElicitationPolicy,
    pub(crate) timeout: Duration,
}

/// Asks a person `params` (an `elicitation/create` request's params) at wait `key`, or answers
/// by policy. Returns the `ElicitResult` to send: a question nobody answered in time is
/// cancelled.
pub(crate) async fn ask(
    ctx: &RunContext,
    source: &QuestionSource,
    key: String,
    params: &Value,
    survives_restart: bool,
    replay: Option<&ReplayData>,
) -> Result<Value, RunError> {
    if source.policy != ElicitationPolicy::Ask {
        return Ok(policy_answer(source.policy, params));
    }
    // A question too big to show is declined rather than journaled.
    if params.to_string().len() > MAX_INPUT_REQUEST_BYTES {
        tracing::warn!(server = %source.server, "declined a question of more than {MAX_INPUT_REQUEST_BYTES} bytes");
        return Ok(declined());
    }
    let url_mode = params.get("mode").and_then(Value::as_str) == Some("url");
    let about = json!({
        "server": source.server,
        "tool": source.tool,
        "tool_step": source.tool_step,
        "mode": if url_mode { "url" } else { "form" },
        "message": params.get("message").cloned().unwrap_or(Value::Null),
        "requested_schema": params.get("requestedSchema").cloned().unwrap_or(Value::Null),
        "url": params.get("url").cloned().unwrap_or(Value::Null),
        "elicitation_id": params.get("elicitationId").cloned().unwrap_or(Value::Null),
        "survives_restart": survives_restart,
    });
    let (matcher, timeout) = match replay.and_then(|r| r.human_wait(&key)) {
        Some(token) => (json!({ "run": token, "step": key }), source.timeout),
        None if replay.is_some() => (json!({ "run": ctx.run_id(), "step": key }), Duration::ZERO),
        None => (json!({ "run": ctx.run_id(), "step": key }), source.timeout),
    };
    let answer = ctx
        .ask(key, ELICITATION_EVENT, matcher, timeout, about)
        .await?;
    Ok(match answer {
        None => json!({ "action": "cancel" }),
        Some(p) => to_elicit_result(&p),
    })
}

/// The `ElicitResult` of a person's answer event (`{action, content}`); anything else is a
/// cancel, never an accept.
fn to_elicit_result(payload: &Value) -> Value {
    match payload.get("action").and_then(Value::as_str) {
        Some("accept") => json!({
            "action": "accept",
            "content": payload.get("content").cloned().unwrap_or_else(|| json!({})),
        }),
        Some("decline") => declined(),
        _ => json!({ "action": "cancel" }),
    }
}

/// Takes the questions a server asks inside one attempt of a call (2025-11-25 and older):
/// each is a wait on the run while the attempt's timeout stands still.
pub(crate) struct AttemptQuestions {
    pub(crate) attempt: Attempt,
    pub(crate) source: QuestionSource,
    pub(crate) lender: Lender,
    /// `N.I/aR.A`: the call, round and attempt the requests belong to.
    pub(crate) at: String,
    pub(crate) asked: AtomicU32,
}

impl AttemptQuestions {
    pub(crate) fn new(
        attempt: Attempt,
        source: QuestionSource,
        lender: Lender,
        round: usize,
    ) -> Arc<Self> {
        let n_i = source.tool_step.trim_start_matches("tool/").to_string();
        let at = format!("{n_i}/a{round}.{}", attempt.number);
        Arc::new(AttemptQuestions {
            attempt,
            source,
            lender,
            at,
            asked: AtomicU32::new(0),
        })
    }
}

/// The keys of requests made inside an attempt of call `N.I` start with these: they die with
/// the attempt's process.
pub(crate) fn lost_prefixes(n_i: &str) -> [String; 2] {
    [format!("elicit/{n_i}/a"), format!("sample/{n_i}/a")]
}

impl CallInteraction for AttemptQuestions {
    fn elicit(&self, params: Value) -> BoxFuture<'static, Value> {
        let k = self.asked.fetch_add(1, Ordering::SeqCst) + 1;
        if k > MAX_ASKED_PER_ATTEMPT {
            // A server that keeps asking inside one call is told no.
            return Box::pin(async { declined() });
        }
        let key = format!("elicit/{}.{k}", self.at);
        let attempt = self.attempt.clone();
        let source = self.source.clone();
        Box::pin(async move {
            let _paused = attempt.pause_timeout();
            match ask(attempt.run(), &source, key, &params, false, None).await {
                Ok(answer) => answer,
                // The run is stopping: the call is abandoned with it.
                Err(_) => json!({ "action": "cancel" }),
            }
        })
    }

    fn sample(&self, params: Value) -> BoxFuture<'static, Result<Value, String>> {
        let k = self.asked.fetch_add(1, Ordering::SeqCst) + 1;
        if k > MAX_ASKED_PER_ATTEMPT {
            return Box::pin(async { Err("too many requests in one call".to_string()) });
        }
        let key = format!("sample/{}.{k}", self.at);
        let attempt = self.attempt.clone();
        let source = self.source.clone();
        let lender = self.lender.clone();
        Box::pin(async move {
            let _paused = attempt.pause_timeout();
            match sample(&lender, attempt.run(), &source, key, &params).await {
                Ok(answer) => answer,
                Err(RunError::Step(e)) => {
                    // A limit: the call is told, and the run ends once the call returns.
                    let told = e.message.clone();
                    lender.meter.halt(e);
                    Err(told)
                }
                Err(_) => Err("the run is stopping".into()),
            }
        })
    }
}
