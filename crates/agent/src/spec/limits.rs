//! Bounds on one run, and the reason a run ends when it reaches one.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Bounds on one run; reaching any of them ends the run, naming the limit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Limits {
    /// The most model calls in one run. Always set: it stops a model that never gives a final
    /// answer.
    #[serde(default = "default_max_steps")]
    pub max_steps: u32,
    /// The most tokens (input plus output, summed over the run's model calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub max_tokens: Option<u64>,
    /// The most the run's model calls may cost, in US dollars, by the price table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub max_cost_usd: Option<f64>,
    /// The most wall time from the run's start to its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub deadline_secs: Option<u64>,
    /// The most runs of this agent at once; more wait their turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub max_concurrent_runs: Option<u32>,
}

pub const DEFAULT_MAX_STEPS: u32 = 25;

fn default_max_steps() -> u32 {
    DEFAULT_MAX_STEPS
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_steps: DEFAULT_MAX_STEPS,
            max_tokens: None,
            max_cost_usd: None,
            deadline_secs: None,
            max_concurrent_runs: None,
        }
    }
}

/// What a run has used so far, to hold against its limits.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunUsage {
    /// Model calls made.
    pub steps: u32,
    /// Input plus output tokens over those calls.
    pub tokens: u64,
    pub cost_usd: f64,
    /// Since the run started.
    pub elapsed: Duration,
}

/// Why a run ended at a limit. The message names the spec field, so the user knows what to
/// raise; the serialized form (`{"reached": "max_steps", "limit": 25}`) is for a run's end to record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reached", rename_all = "snake_case")]
pub enum LimitReached {
    #[error("the run made its {limit} model calls without a final answer (limits.max_steps)")]
    MaxSteps { limit: u32 },
    #[error("the run used {used} tokens, reaching its limit of {limit} (limits.max_tokens)")]
    MaxTokens { limit: u64, used: u64 },
    #[error("the run cost ${used:.4}, reaching its limit of ${limit} (limits.max_cost_usd)")]
    MaxCostUsd { limit: f64, used: f64 },
    #[error("the run passed its deadline of {limit_secs} s (limits.deadline_secs)")]
    Deadline { limit_secs: u64 },
}

impl Limits {
    /// The limit `usage` has reached, if any; asked before each model call, so a run never
    /// starts a call it may not make. The deadline comes first: it is the one a person waits
    /// on; then cost, then tokens, then steps.
    pub fn reached(&self, usage: &RunUsage) -> Option<LimitReached> {
        if let Some(secs) = self.deadline_secs {
            if usage.elapsed >= Duration::from_secs(secs) {
                return Some(LimitReached::Deadline { limit_secs: secs });
            }
        }
        if let Some(limit) = self.max_cost_usd {
            if usage.cost_usd >= limit {
                return Some(LimitReached::MaxCostUsd {
                    limit,
                    used: usage.cost_usd,
                });
            }
        }
        if let Some(limit) = self.max_tokens {
            if usage.tokens >= limit {
                return Some(LimitReached::MaxTokens {
                    limit,
                    used: usage.tokens,
                });
            }
        }
        if usage.steps >= self.max_steps {
            return Some(LimitReached::MaxSteps {
                limit: self.max_steps,
            });
        }
        None
    }
}
