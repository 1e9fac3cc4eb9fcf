//! A server's request for a completion (`sampling/createMessage`) during a tool call, answered
//! by the agent's model (or the one its spec names for the server) as a journaled model step
//! nested in the call: `sample/N.I/...`. A person approves the request first (the wait
//! `sample/.../approval`) unless the agent's policy allows it; its tokens and cost count
//! toward the run's limits, and a limit it reaches ends the run.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use waymark_engine::{RunContext, RunError, StepError, StepSpec};

use super::meter::RunMeter;
use super::model_step::{default_model_retry, ModelStepOutput};
use super::questions::QuestionSource;
use super::APPROVAL_EVENT;
use crate::model::{
    ChatMessage, ModelRequest, ModelResponse, StopReason, ToolCall, ToolDefinition,
};
use crate::runtime::AgentRuntime;
use crate::spec::{AgentSpec, ModelSpec, SamplingPolicy};

/// A request holds at most this many messages and this much text.
const MAX_MESSAGES: usize = 200;
const MAX_TEXT_BYTES: usize = 1024 * 1024;
const MAX_TOOLS: usize = 128;

/// What a sampling request needs of its run.
#[derive(Clone)]
pub(crate) struct Lender {
    pub(crate) rt: AgentRuntime,
    pub(crate) spec: Arc<AgentSpec>,
    pub(crate) meter: RunMeter,
}

/// Answers one sampling request at model step `key`. The outer error stops the run (a limit,
/// an interruption); the inner one is the refusal the server is sent.
pub(crate) async fn sample(
    lender: &Lender,
    ctx: &RunContext,
    source: &QuestionSource,
    key: String,
    params: &Value,
) -> Result<Result<Value, String>, RunError> {
    let spec = &lender.spec;
    let server = &source.server;
    if spec.sampling_policy(server) == SamplingPolicy::Deny {
        return Ok(Err(format!(
            "the agent's sampling policy refuses requests from {server}"
        )));
    }
    let model = spec
        .sampling
        .as_ref()
        .and_then(|s| s.models.get(server))
        .unwrap_or(&spec.model)
        .clone();
    let cap = spec
        .sampling
        .as_ref()
        .map(|s| s.max_tokens())
        .unwrap_or(crate::spec::DEFAULT_SAMPLING_MAX_TOKENS);
    let request = match to_model_request(params, &model, cap) {
        Ok(r) => r,
        Err(m) => return Ok(Err(m)),
    };
    if spec.sampling_policy(server) == SamplingPolicy::Ask {
        if let Err(refused) = approval(ctx, source, &key, &request).await? {
            return Ok(Err(refused));
        }
    }
    if let Some(limit) = spec.limits.reached(&lender.meter.usage()) {
        return Err(StepError::fatal("limit_reached", limit.to_string()).into());
    }
    let out = match model_call(lender, ctx, source, key, &model, request).await {
        Ok(out) => out,
        Err(RunError::Step(e)) => return Ok(Err(format!("the model failed: {}", e.message))),
        Err(other) => return Err(other),
    };
    lender.meter.add_sampling(out.usage, out.cost_usd);
    if let Some(limit) = spec.limits.reached(&lender.meter.usage()) {
        return Err(StepError::fatal("limit_reached", limit.to_string()).into());
    }
    Ok(Ok(create_message_result(&out.response, &model.model)))
}

/// Waits for a person's approval of the request (shown to them as sent).
async fn approval(
    ctx: &RunContext,
    source: &QuestionSource,
    key: &str,
    request: &ModelRequest,
) -> Result<Result<(), String>, RunError> {
    let wait = format!("{key}/approval");
    let about = json!({
        "kind": "sampling",
        "server": source.server,
        "tool": source.tool,
        "tool_step": source.tool_step,
        "model": request.model,
        "max_tokens": request.max_tokens,
        "messages": request.messages,
        "tools": request.tools.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
    });
    let matcher = json!({ "run": ctx.run_id(), "step": wait });
    let decision = ctx
        .ask(wait, APPROVAL_EVENT, matcher, source.timeout, about)
        .await?;
    Ok(match decision {
        None => Err("nobody approved the request in time".into()),
        Some(p) if p.get("approved").and_then(Value::as_bool) == Some(true) => Ok(()),
        Some(p) => Err(format!(
            "a person refused the request{}",
            super::tool_step::rejection_reason(&p)
        )),
    })
}

async fn model_call(
    lender: &Lender,
    ctx: &RunContext,
    source: &QuestionSource,
    key: String,
    model: &ModelSpec,
    request: ModelRequest,
) -> Result<ModelStepOutput, RunError> {
    let rt = &lender.rt;
    let provider = rt
        .provider(model, None)
        .map_err(|e| RunError::Step(e.to_step_error()))?;
    let kind = provider.kind();
    let step = StepSpec::retry_safe(key)
        .with_name(format!(
            "sampling for {}/{}: {kind} {}",
            source.server, source.tool, model.model
        ))
        .with_input(json!({ "server": source.server, "tool": source.tool, "request": request }))
        .with_retry(lender.spec.model_retry(default_model_retry()))
        .attempt_timeout(
            model
                .timeout_secs
                .map(Duration::from_secs)
                .unwrap_or(crate::http::DEFAULT_TIMEOUT),
        );
    ctx.step(step, |_| {
        let (request, provider) = (&request, &provider);
        async move {
            let _slot = rt.provider_slot(model).await;
            let response = provider
                .complete(request, |_| {})
                .await
                .map_err(|e| e.to_step_error())?;
            let usage = response.usage;
            Ok(ModelStepOutput {
                cost_usd: rt.prices().cost_usd(&model.model, usage),
                usage,
                provider: kind.to_string(),
                response,
            })
        }
    })
    .await
}

/// The server's request as the model's: messages (text, tool uses and results), the system
/// prompt, tools, and `maxTokens` cut to `cap`. Images and audio are refused.
fn to_model_request(params: &Value, model: &ModelSpec, cap: u32) -> Result<ModelRequest, String> {
    let raw = params
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("the request has no messages")?;
    if raw.len() > MAX_MESSAGES {
        return Err(format!(
            "the request has {} messages; at most {MAX_MESSAGES} are taken",
            raw.len()
        ));
    }
    let mut messages = Vec::new();
    if let Some(system) = params.get("systemPrompt").and_then(Value::as_str) {
        messages.push(ChatMessage::system(system));
    }
    for (i, m) in raw.iter().enumerate() {
        let blocks: Vec<&Value> = match m.get("content") {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(one) => vec![one],
            None => Vec::new(),
        };
        let mut text = String::new();
        let mut uses = Vec::new();
        for b in blocks {
            match b.get("type").and_then(Value::as_str) {
                Some("text") => text.push_str(b.get("text").and_then(Value::as_str).unwrap_or("")),
                Some("tool_use") => uses.push(ToolCall::new(
                    str_of(b, "id"),
                    str_of(b, "name"),
                    b.get("input").cloned().unwrap_or(json!({})),
                )),
                Some("tool_result") => messages.push(ChatMessage::tool_result(
                    str_of(b, "toolUseId"),
                    tool_result_text(b),
                    b.get("isError").and_then(Value::as_bool) == Some(true),
                )),
                other => {
                    return Err(format!(
                        "message {i} has {} content, which this agent's model is not given",
                        other.unwrap_or("untyped")
                    ))
                }
            }
        }
        match m.get("role").and_then(Value::as_str) {
            Some("assistant") => messages.push(ChatMessage::assistant(text, uses)),
            Some("user") if !text.is_empty() => messages.push(ChatMessage::user(text)),
            Some("user") => {}
            other => return Err(format!("message {i} has the role {other:?}")),
        }
    }
    let size: usize = messages
        .iter()
        .map(|m| serde_json::to_string(m).map_or(0, |s| s.len()))
        .sum();
    if size > MAX_TEXT_BYTES {
        return Err(format!(
            "the request's messages are {size} bytes; at most {MAX_TEXT_BYTES} are taken"
        ));
    }
    let tools: Vec<ToolDefinition> = params
        .get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .take(MAX_TOOLS)
                .map(|t| ToolDefinition {
                    name: str_of(t, "name"),
                    description: str_of(t, "description"),
                    input_schema: t
                        .get("inputSchema")
                        .cloned()
                        .unwrap_or(json!({"type": "object"})),
                })
                .collect()
        })
        .unwrap_or_default();
    let asked = params
        .get("maxTokens")
        .and_then(Value::as_u64)
        .map_or(cap, |n| u32::try_from(n).unwrap_or(u32::MAX));
    Ok(ModelRequest {
        model: model.model.clone(),
        messages,
        tools,
        max_tokens: Some(asked.clamp(1, cap)),
        temperature: params
            .get("temperature")
            .and_then(Value::as_f64)
            .map(|t| t.clamp(0.0, 2.0) as f32)
            .or(model.temperature),
    })
}

fn str_of(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn tool_result_text(block: &Value) -> String {
    match block.get("content") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|c| c.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// The model's answer as a `CreateMessageResult`.
fn create_message_result(response: &ModelResponse, model: &str) -> Value {
    let stop = match &response.stop_reason {
        StopReason::EndTurn => "endTurn".to_string(),
        StopReason::ToolUse => "toolUse".to_string(),
        StopReason::MaxTokens => "maxTokens".to_string(),
        StopReason::StopSequence => "stopSequence".to_string(),
        StopReason::ContentFilter => "contentFilter".to_string(),
        StopReason::Other(s) => s.clone(),
    };
    let content = if response.tool_calls.is_empty() {
        json!({ "type": "text", "text": response.text })
    } else {
        let mut blocks = Vec::new();
        if !response.text.is_empty() {
            blocks.push(json!({ "type": "text", "text": response.text }));
        }
        for c in &response.tool_calls {
            blocks.push(
                json!({ "type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments }),
            );
        }
        Value::Array(blocks)
    };
    json!({ "role": "assistant", "content": content, "model": model, "stopReason": stop })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ModelSpec {
        serde_json::from_value(json!({"provider": "openai", "model": "gpt-4o-mini"})).unwrap()
    }

    #[test]
    fn a_request_with_tools_becomes_the_models_and_is_capped() {
        let params = json!({
            "systemPrompt": "Be brief.",
            "maxTokens": 999_999,
            "messages": [
                {"role": "user", "content": {"type": "text", "text": "Weather in Lyon?"}},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "weather", "input": {"city": "Lyon"}}]},
                {"role": "user", "content": [{"type": "tool_result", "toolUseId": "t1", "content": [{"type": "text", "text": "sunny"}]}]}
            ],
            "tools": [{"name": "weather", "description": "Weather", "inputSchema": {"type": "object"}}]
        });
        let r = to_model_request(&params, &model(), 512).unwrap();
        assert_eq!(r.max_tokens, Some(512));
        assert_eq!(r.tools[0].name, "weather");
        assert_eq!(r.messages.len(), 4);
        assert!(
            matches!(&r.messages[2], ChatMessage::Assistant { tool_calls, .. } if tool_calls[0].name == "weather")
        );
        assert!(matches!(&r.messages[3], ChatMessage::Tool(t) if t.content == "sunny"));
    }

    #[test]
    fn images_and_strange_roles_are_refused_naming_the_message() {
        let image = json!({"messages": [{"role": "user", "content": {"type": "image", "data": "x", "mimeType": "image/png"}}]});
        let e = to_model_request(&image, &model(), 100).unwrap_err();
        assert!(e.contains("message 0") && e.contains("image"), "{e}");
        let role =
            json!({"messages": [{"role": "system", "content": {"type": "text", "text": "x"}}]});
        assert!(to_model_request(&role, &model(), 100).is_err());
        assert!(to_model_request(&json!({}), &model(), 100).is_err());
    }

    #[test]
    fn tool_calls_come_back_as_tool_use_blocks() {
        let response = ModelResponse {
            text: String::new(),
            tool_calls: vec![ToolCall::new("t2", "weather", json!({"city": "Paris"}))],
            stop_reason: StopReason::ToolUse,
            usage: Default::default(),
        };
        let r = create_message_result(&response, "gpt-4o-mini");
        assert_eq!(r["stopReason"], "toolUse");
        assert_eq!(r["content"][0]["type"], "tool_use");
        assert_eq!(r["model"], "gpt-4o-mini");
    }
}
