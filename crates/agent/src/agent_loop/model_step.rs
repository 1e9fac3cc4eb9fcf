//! A model call as a durable step. Its journaled input is its predecessor's input plus what
//! was appended since (so a long run's storage grows linearly), and any call's full request
//! can be rebuilt from the journal.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use waymark_engine::{RetryPolicy, RunContext, RunError, StepError, StepSpec};

use super::toolset::ToolSet;
use crate::model::{ChatMessage, ModelRequest, ModelResponse, Usage};
use crate::provider::{Provider, ProviderError, ProviderErrorKind};
use crate::replay::ReplayData;
use crate::runtime::AgentRuntime;
use crate::spec::{AgentSpec, ContextOverflow};

/// The key of the step that lists the run's tools.
pub const TOOLS_STEP: &str = "tools";

/// How often a streaming answer's partial text is written as the step's progress.
const PARTIAL_EVERY: Duration = Duration::from_millis(100);

/// A model step's journaled input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelStepInput {
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// The step whose output is the tool list (first call only; later calls inherit it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools_step: Option<String>,
    /// The previous model call, whose messages this call's begin with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// Messages after the base's: each one written out, or named by the step whose output
    /// it is (the previous answer, a tool's result), so no content is stored twice.
    pub append: Vec<Appended>,
    /// Old tool results were shortened to fit the context window (see [`compact`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub compacted: bool,
}

/// One appended message of a model step's input.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Appended {
    /// The assistant message of model step `from_step`'s answer, or the result of tool step
    /// `from_step` for the call `tool_call_id`.
    FromStep {
        from_step: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_call_id: Option<String>,
    },
    Message(ChatMessage),
}

/// A model step's journaled output: the answer, with usage and cost for the trace and limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelStepOutput {
    pub response: ModelResponse,
    pub usage: Usage,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    pub provider: String,
}

/// The model a run talks to, the provider name its steps record, and in a replay the record
/// (whose failed model calls fail again, so the trace keeps its shape).
pub(crate) struct Model<'a> {
    pub provider: &'a Provider,
    pub kind: &'a str,
    pub replay: Option<&'a ReplayData>,
}

/// The conversation as the loop holds it between calls.
pub(crate) struct Conversation {
    pub messages: Vec<ChatMessage>,
    /// For each message, the step whose output holds it exactly, if one does.
    sources: Vec<Option<String>>,
    /// How many of `messages` the last call's input already covers.
    pub sent: usize,
    pub last_key: Option<String>,
}

impl Conversation {
    pub fn new(spec: &AgentSpec, input: &str) -> Self {
        Conversation {
            messages: vec![
                ChatMessage::system(spec.instructions.clone()),
                ChatMessage::user(input),
            ],
            sources: vec![None, None],
            sent: 0,
            last_key: None,
        }
    }

    /// Appends `message`; `source` names the step whose output it is verbatim.
    pub fn push(&mut self, message: ChatMessage, source: Option<String>) {
        self.messages.push(message);
        self.sources.push(source);
    }

    fn step_input(&self, spec: &AgentSpec, compacted: bool) -> ModelStepInput {
        let append = self.messages[self.sent..]
            .iter()
            .zip(&self.sources[self.sent..])
            .map(|(m, source)| match (source, m) {
                (Some(step), ChatMessage::Tool(r)) => Appended::FromStep {
                    from_step: step.clone(),
                    tool_call_id: Some(r.tool_call_id.clone()),
                },
                (Some(step), _) => Appended::FromStep {
                    from_step: step.clone(),
                    tool_call_id: None,
                },
                (None, m) => Appended::Message(m.clone()),
            })
            .collect();
        ModelStepInput {
            model: spec.model.model.clone(),
            max_tokens: spec.model.max_tokens,
            temperature: spec.model.temperature,
            tools_step: self.last_key.is_none().then(|| TOOLS_STEP.to_string()),
            base: self.last_key.clone(),
            append,
            compacted,
        }
    }
}

/// Base retry policy of model calls (the spec's `retry` changes it).
pub fn default_model_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        initial_interval_ms: 1_000,
        backoff_coefficient: 2.0,
        max_interval_ms: 30_000,
        jitter: 0.1,
        non_retryable_kinds: Vec::new(),
    }
}

/// Runs model call `key` over the conversation. On a context-length error, when the spec
/// allows it, shortens old tool results and tries once more as `key.compact`.
pub(crate) async fn call_model(
    rt: &AgentRuntime,
    ctx: &RunContext,
    spec: &AgentSpec,
    model: &Model<'_>,
    tools: &ToolSet,
    convo: &mut Conversation,
    key: String,
) -> Result<ModelStepOutput, RunError> {
    match model_step(rt, ctx, spec, model, tools, convo, key.clone(), false).await {
        Err(RunError::Step(e)) if compacts_after(&e, spec.model.on_context_overflow) => {
            let compact_key = format!("{key}.compact");
            model_step(rt, ctx, spec, model, tools, convo, compact_key, true).await
        }
        other => other,
    }
}

/// Whether a model call that failed with `e` is tried once more with old tool results
/// shortened: only a context-length failure (live, or read back from the journal in a
/// replay), and only when the spec asks for it.
fn compacts_after(e: &StepError, on_overflow: ContextOverflow) -> bool {
    ProviderErrorKind::of(e) == Some(ProviderErrorKind::ContextLength)
        && on_overflow == ContextOverflow::DropOldestToolResults
}

#[allow(clippy::too_many_arguments)]
async fn model_step(
    rt: &AgentRuntime,
    ctx: &RunContext,
    spec: &AgentSpec,
    model: &Model<'_>,
    tools: &ToolSet,
    convo: &mut Conversation,
    key: String,
    compacted: bool,
) -> Result<ModelStepOutput, RunError> {
    let provider = model.provider;
    let input = convo.step_input(spec, compacted);
    let mut messages = convo.messages.clone();
    if compacted {
        compact(&mut messages);
    }
    let request = ModelRequest {
        model: spec.model.model.clone(),
        messages: messages.clone(),
        tools: tools.definitions(),
        max_tokens: spec.model.max_tokens,
        temperature: spec.model.temperature,
    };
    let journaled = serde_json::to_value(&input)
        .map_err(|e| StepError::fatal("serialization", e.to_string()))?;
    let mut step = StepSpec::retry_safe(key.clone())
        .with_input(journaled)
        .with_retry(match model.replay {
            // A recorded outcome is final: trying again could only give the same answer.
            Some(_) => RetryPolicy::no_retries(),
            None => spec.model_retry(default_model_retry()),
        })
        .with_name(format!("{} {}", model.kind, spec.model.model));
    step = step.attempt_timeout(
        spec.model
            .timeout_secs
            .map(Duration::from_secs)
            .unwrap_or(crate::http::DEFAULT_TIMEOUT),
    );
    let recorded_failure = model
        .replay
        .and_then(|r| r.model_failures.get(&key).cloned());
    let output: ModelStepOutput = ctx
        .step(step, |attempt| {
            let request = &request;
            let recorded_failure = recorded_failure.clone();
            async move {
                if let Some(e) = recorded_failure {
                    return Err(e);
                }
                let _slot = rt.provider_slot(&spec.model).await;
                let mut partial = String::new();
                let mut last = Instant::now();
                let response = provider
                    .complete(request, |piece| {
                        partial.push_str(piece);
                        if last.elapsed() >= PARTIAL_EVERY {
                            last = Instant::now();
                            attempt.progress(json!({ "partial": partial }));
                        }
                    })
                    .await
                    .map_err(|e: ProviderError| e.to_step_error())?;
                let usage = response.usage;
                Ok(ModelStepOutput {
                    cost_usd: rt.prices().cost_usd(&spec.model.model, usage),
                    usage,
                    provider: model.kind.to_string(),
                    response,
                })
            }
        })
        .await?;
    convo.messages = messages;
    convo.sent = convo.messages.len();
    convo.last_key = Some(key);
    Ok(output)
}

/// Replaces the older half of the tool results with a placeholder, so the conversation fits.
/// Deterministic: [`rebuild_request`] applies it again to rebuild a compacted call.
pub fn compact(messages: &mut [ChatMessage]) {
    let total = messages
        .iter()
        .filter(|m| matches!(m, ChatMessage::Tool(_)))
        .count();
    let drop = total.div_ceil(2);
    let mut dropped = 0;
    for m in messages.iter_mut() {
        if dropped == drop {
            break;
        }
        if let ChatMessage::Tool(r) = m {
            r.content = "[this tool result was removed to fit the context window]".into();
            dropped += 1;
        }
    }
}

/// Rebuilds the request model step `key` sent, from the journal's step inputs and outputs
/// (`inputs` and `outputs` by step key).
pub fn rebuild_request(
    inputs: &HashMap<String, Value>,
    outputs: &HashMap<String, Value>,
    key: &str,
) -> Result<ModelRequest, String> {
    let mut chain = Vec::new();
    let mut at = Some(key.to_string());
    while let Some(k) = at {
        let raw = inputs
            .get(&k)
            .ok_or_else(|| format!("the journal has no step {k}"))?;
        let input: ModelStepInput = serde_json::from_value(raw.clone())
            .map_err(|e| format!("step {k} is not a model call: {e}"))?;
        at = input.base.clone();
        chain.push(input);
        if chain.len() > 100_000 {
            return Err("the chain of model calls loops".into());
        }
    }
    chain.reverse();
    let first = chain.first().ok_or("empty chain")?;
    let tools_key = first
        .tools_step
        .clone()
        .ok_or("the first call names no tool list")?;
    let tools: ToolSet = match outputs.get(&tools_key) {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| format!("tool list: {e}"))?,
        None => return Err(format!("the journal has no output for {tools_key}")),
    };
    let mut messages = Vec::new();
    for input in &chain {
        for a in &input.append {
            messages.push(match a {
                Appended::Message(m) => m.clone(),
                Appended::FromStep {
                    from_step,
                    tool_call_id,
                } => message_from_step(outputs, from_step, tool_call_id.as_deref())?,
            });
        }
        if input.compacted {
            compact(&mut messages);
        }
    }
    let last = chain.last().ok_or("empty chain")?;
    Ok(ModelRequest {
        model: last.model.clone(),
        messages,
        tools: tools.definitions(),
        max_tokens: last.max_tokens,
        temperature: last.temperature,
    })
}

/// The message a step's output stands for: a model step's answer, or a tool step's result.
fn message_from_step(
    outputs: &HashMap<String, Value>,
    key: &str,
    tool_call_id: Option<&str>,
) -> Result<ChatMessage, String> {
    let output = outputs
        .get(key)
        .ok_or_else(|| format!("the journal has no output for {key}"))?;
    let Some(call_id) = tool_call_id else {
        let out: ModelStepOutput = serde_json::from_value(output.clone())
            .map_err(|e| format!("{key} is not a model answer: {e}"))?;
        return Ok(ChatMessage::assistant(
            out.response.text,
            out.response.tool_calls,
        ));
    };
    // A sub-agent's step holds its run's output; any other tool step its result.
    let (content, is_error) = match output.get("answer").and_then(Value::as_str) {
        Some(answer) => (answer.to_string(), false),
        None => (
            output
                .get("content")
                .and_then(Value::as_str)
                .ok_or_else(|| format!("{key} has no tool result"))?
                .to_string(),
            output
                .get("is_error")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        ),
    };
    Ok(ChatMessage::tool_result(call_id, content, is_error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_length_error_compacts_through_its_kind() {
        let overflow = ProviderError::ContextLength {
            message: "maximum context length is 4096 tokens".into(),
        }
        .to_step_error();
        // The stored text is unchanged, and the decision reads it through the enum.
        assert_eq!(overflow.kind, "context_length");
        assert!(compacts_after(
            &overflow,
            ContextOverflow::DropOldestToolResults
        ));
        assert!(!compacts_after(&overflow, ContextOverflow::Fail));
        // A replay's recorded failure comes back from the journal as JSON: same decision.
        let stored = serde_json::to_value(&overflow).expect("serialize");
        let replayed: StepError = serde_json::from_value(stored).expect("deserialize");
        assert!(compacts_after(
            &replayed,
            ContextOverflow::DropOldestToolResults
        ));
        // Any other failure, even one that mentions the context in its message, does not.
        for other in [
            ProviderError::Http {
                status: 400,
                error_type: None,
                message: "context_length".into(),
                retry_after_ms: None,
            },
            ProviderError::Timeout { timeout_ms: 1 },
            ProviderError::invalid("context length"),
        ] {
            assert!(!compacts_after(
                &other.to_step_error(),
                ContextOverflow::DropOldestToolResults
            ));
        }
        assert!(!compacts_after(
            &StepError::fatal("memory", "context_length"),
            ContextOverflow::DropOldestToolResults
        ));
    }
}
