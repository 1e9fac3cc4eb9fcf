//! How an agent lends its model to MCP servers that ask for a completion in the middle of a
//! tool call (`sampling/createMessage`): after a person's approval, freely, or never.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::Problem;
use super::model::ModelSpec;

/// A sampling request's `maxTokens` is capped at this unless the spec says otherwise.
pub const DEFAULT_SAMPLING_MAX_TOKENS: u32 = 1024;
pub const MAX_SAMPLING_MAX_TOKENS: u32 = 32_768;
const MAX_SERVERS: usize = 200;

/// What the agent does with a server's request for a completion.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SamplingPolicy {
    /// A person approves each request (the request is shown) before the model sees it.
    Ask,
    /// The model answers without asking anyone.
    Allow,
    /// Every request is refused.
    Deny,
}

/// `[sampling]` in a spec.
#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct SamplingSettings {
    /// For every server not in `servers`; `ask` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub policy: Option<SamplingPolicy>,
    /// By MCP server name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub servers: BTreeMap<String, SamplingPolicy>,
    /// The model that answers a server's requests, by server name; the agent's own model
    /// when a server has none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, ModelSpec>,
    /// A request's `maxTokens` is cut to this; 1024 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub max_tokens: Option<u32>,
}

impl SamplingSettings {
    pub fn policy_for(&self, server: &str) -> SamplingPolicy {
        self.servers
            .get(server)
            .copied()
            .or(self.policy)
            .unwrap_or(SamplingPolicy::Ask)
    }

    pub fn max_tokens(&self) -> u32 {
        self.max_tokens
            .unwrap_or(DEFAULT_SAMPLING_MAX_TOKENS)
            .min(MAX_SAMPLING_MAX_TOKENS)
    }

    pub(super) fn check(&self, out: &mut Vec<Problem>) {
        if let Some(n) = self.max_tokens {
            if n == 0 || n > MAX_SAMPLING_MAX_TOKENS {
                out.push(Problem::new(
                    "sampling.max_tokens",
                    format!("must be between 1 and {MAX_SAMPLING_MAX_TOKENS}"),
                ));
            }
        }
        if self.servers.len() > MAX_SERVERS || self.models.len() > MAX_SERVERS {
            out.push(Problem::new(
                "sampling.servers",
                format!("may name at most {MAX_SERVERS} servers"),
            ));
        }
        for name in self.servers.keys().chain(self.models.keys()) {
            if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
                out.push(Problem::new(
                    "sampling.servers",
                    format!("{name:?} is not a server name"),
                ));
            }
        }
    }
}
