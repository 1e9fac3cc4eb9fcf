//! How an agent takes the questions its MCP servers ask in the middle of a tool call
//! (`elicitation/create`): put to a person, answered with the form's defaults, or declined.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::Problem;
use crate::mcp::ElicitationPolicy;

/// How long a question waits for a person when the spec sets nothing; then it is cancelled.
pub const DEFAULT_QUESTION_SECS: u64 = 24 * 3600;
/// A question never waits longer than this (a person's approval has the same bound).
pub const MAX_QUESTION_SECS: u64 = 30 * 24 * 3600;
const MAX_SERVERS: usize = 200;

/// `[elicitation]` in a spec.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ElicitationSettings {
    /// For every server not in `servers`; `ask` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub policy: Option<ElicitationPolicy>,
    /// By MCP server name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub servers: BTreeMap<String, ElicitationPolicy>,
    /// How long a question waits for a person before it is cancelled; a day when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub timeout_secs: Option<u64>,
}

impl ElicitationSettings {
    pub fn policy_for(&self, server: &str) -> ElicitationPolicy {
        self.servers
            .get(server)
            .copied()
            .or(self.policy)
            .unwrap_or(ElicitationPolicy::Ask)
    }

    pub fn question_timeout(&self) -> Duration {
        Duration::from_secs(
            self.timeout_secs
                .unwrap_or(DEFAULT_QUESTION_SECS)
                .min(MAX_QUESTION_SECS),
        )
    }

    pub(super) fn check(&self, out: &mut Vec<Problem>) {
        if let Some(secs) = self.timeout_secs {
            if secs == 0 || secs > MAX_QUESTION_SECS {
                out.push(Problem::new(
                    "elicitation.timeout_secs",
                    format!("must be between 1 and {MAX_QUESTION_SECS} (30 days)"),
                ));
            }
        }
        if self.servers.len() > MAX_SERVERS {
            out.push(Problem::new(
                "elicitation.servers",
                format!("may name at most {MAX_SERVERS} servers"),
            ));
        }
        for name in self.servers.keys() {
            if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
                out.push(Problem::new(
                    "elicitation.servers",
                    format!("{name:?} is not a server name"),
                ));
            }
        }
    }
}
