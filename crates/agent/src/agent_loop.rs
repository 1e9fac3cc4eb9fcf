//! The agent loop as a durable function: `tools` (the tool list, once) → `llm/N` → its tool
//! calls `tool/N.i` in parallel → `llm/N+1` … until a final answer or a limit. Every model
//! and tool call is a journaled step, so a replay never sends a finished call again.

mod mcp_step;
mod meter;
mod model_step;
pub(crate) mod questions;
mod sampling;
mod task_step;
pub(crate) mod tool_step;
mod toolset;

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use waymark_engine::{DurableFunction, RunContext, RunError, StepError, StepSpec};

pub use model_step::{
    compact, default_model_retry, rebuild_request, ModelStepInput, ModelStepOutput, TOOLS_STEP,
};
pub use questions::{ELICITATION_EVENT, LOST_QUESTION};
pub use tool_step::{
    default_tool_retry, ToolStepOutput, ANSWER_EVENT, APPROVAL_EVENT, DEFAULT_TOOL_TIMEOUT,
};
pub use toolset::{AgentTool, ToolSet, ToolSource};

use crate::arguments::RepairBudget;
use crate::model::{ChatMessage, Usage};
use crate::replay::ReplayData;
use crate::runtime::AgentRuntime;
use crate::spec::AgentSpec;

/// The durable function every agent run executes.
pub const AGENT_FUNCTION: &str = "agent";
/// Bump when a change would make old journals replay differently.
pub const AGENT_FUNCTION_VERSION: u32 = 1;
/// Repairs of tool arguments a run allows before the step fails.
pub const MAX_REPAIRS: u32 = 3;

/// A run's input: the spec as it was at the start, the user's input, and a scripted model's
/// turns (read at the start, so the run does not depend on the file afterwards).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentRunInput {
    pub spec: AgentSpec,
    pub input: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<Value>,
    /// Set for an offline replay: the recorded run this run replays (see [`crate::replay`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayData>,
}

/// A finished run's output.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentRunOutput {
    pub answer: String,
    pub model_calls: u32,
    pub tool_calls: u32,
    pub usage: Usage,
    #[serde(default)]
    pub cost_usd: f64,
}

pub fn durable_function(rt: AgentRuntime) -> DurableFunction {
    DurableFunction::new(AGENT_FUNCTION, AGENT_FUNCTION_VERSION, move |ctx, input| {
        let rt = rt.clone();
        async move { run_agent(rt, ctx, input).await }
    })
    // Lists filter agent runs by the agent's name and search the user's input text.
    .described_by(|input| waymark_engine::RunLabel {
        label: input
            .pointer("/spec/name")
            .and_then(Value::as_str)
            .map(str::to_string),
        text: match input.get("input") {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        },
    })
}

async fn run_agent(rt: AgentRuntime, ctx: RunContext, input: Value) -> Result<Value, RunError> {
    let input: AgentRunInput = serde_json::from_value(input)
        .map_err(|e| StepError::fatal("invalid_input", format!("not an agent run's input: {e}")))?;
    let spec = &input.spec;
    let _slot = rt.agent_slot(spec).await;
    let replay = input.replay.as_ref();
    let provider = match replay {
        Some(r) => r.provider(),
        None => rt.provider(&spec.model, input.script.as_ref()),
    }
    .map_err(|e| e.to_step_error())?;
    // A replay reports the recorded provider, so its model steps' outputs are the recorded ones.
    let model = model_step::Model {
        kind: replay.map_or(provider.kind(), |r| r.provider.as_str()),
        provider: &provider,
        replay,
    };
    let tools_spec = StepSpec::retry_safe(TOOLS_STEP)
        .with_name("list tools")
        .with_retry(default_tool_retry());
    let tools: ToolSet = ctx
        .step(tools_spec, |_| {
            let rt = &rt;
            async move {
                match replay {
                    Some(r) => r.tool_list(),
                    None => toolset::resolve(rt, spec).await,
                }
            }
        })
        .await?;

    let mut convo = model_step::Conversation::new(spec, &input.input);
    let repairs = Mutex::new(RepairBudget::new(MAX_REPAIRS));
    let meter = meter::RunMeter::default();
    let mut output = AgentRunOutput::default();
    for n in 1u32.. {
        if let Some(limit) = spec.limits.reached(&meter.usage()) {
            return Err(StepError::fatal("limit_reached", limit.to_string()).into());
        }
        let step = model_step::call_model(
            &rt,
            &ctx,
            spec,
            &model,
            &tools,
            &mut convo,
            format!("llm/{n}"),
        )
        .await?;
        let response = step.response;
        meter.add_model_call(response.usage, step.cost_usd);
        output.model_calls += 1;
        (output.usage.input_tokens, output.usage.output_tokens) = meter.tokens();
        output.cost_usd = meter.usage().cost_usd;
        convo.push(
            ChatMessage::assistant(response.text.clone(), response.tool_calls.clone()),
            convo.last_key.clone(),
        );
        if response.tool_calls.is_empty() {
            output.answer = response.text;
            return serde_json::to_value(&output)
                .map_err(|e| StepError::fatal("serialization", e.to_string()).into());
        }
        let calls = response.tool_calls.iter().enumerate().map(|(i, call)| {
            tool_step::run_tool_call(
                &rt,
                &ctx,
                spec,
                &tools,
                call,
                format!("tool/{n}.{}", i + 1),
                &repairs,
                replay,
                &input.input,
                &meter,
            )
        });
        let results = ctx.join(calls).await;
        output.tool_calls += results.len() as u32;
        for r in results {
            let (result, source) = r?;
            convo.push(ChatMessage::Tool(result), source);
        }
    }
    Err(StepError::fatal("limit_reached", "too many model calls").into())
}
