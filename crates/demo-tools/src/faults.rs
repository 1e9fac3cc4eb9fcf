//! Fault switches per tool: the knobs a test turns to make a tool misbehave.
//!
//! Switches are set at start (the `DEMO_TOOLS_FAULTS` environment variable, a JSON object
//! `{"tool_name": {switches}}`) or at run time through the `configure_faults` tool. They live
//! in one table shared by every connection of the process, so a Streamable HTTP server (which
//! may build a handler per request) and a stdio server behave the same.
//!
//! When several switches are on, one call checks them in this order:
//! 1. `exit_mid_call`: the process exits with code 3 once the request has been received,
//!    before the tool does anything (for `send_email`: before the outbox line is written, so a
//!    test can tell "the call never took effect" from "it took effect but the answer was lost").
//! 2. `fail_next` > 0: the call is answered with a tool error (`isError: true`) and the counter
//!    goes down by one; the tool does nothing.
//!    `error_next` > 0: the same, answered as a JSON-RPC internal error (-32603) instead.
//! 3. `hang`: the call is never answered; it ends only when the client cancels it
//!    (`notifications/cancelled`) or the connection closes. The tool does nothing.
//! 4. `slow_ms`: the call waits that long (sending progress notifications every 100 ms when
//!    the request carries a progress token), then goes on.
//! 5. The tool runs (side effects happen).
//! 6. `invalid_data`: a successful answer is replaced by one that breaks the tool's declared
//!    output (see [`invalid_answer`]); an error answer from the tool is passed through.
//!
//! 7. `structured_content`: a successful answer carries the given object as its
//!    `structuredContent` (set through the environment only).
//!
//! `hang`, `exit_mid_call`, `invalid_data` and `slow_ms` stay on until switched off.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use rmcp::model::{CallToolResult, ContentBlock};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::DemoToolsError;

/// Environment variable read at start: `{"send_email": {"fail_next": 2}}`.
pub const FAULTS_ENV: &str = "DEMO_TOOLS_FAULTS";

/// The tools whose behaviour can be faulted. `configure_faults` itself cannot be: it is the
/// control channel a test needs to switch faults off again.
pub const FAULTABLE_TOOLS: &[&str] = &[
    "lookup_order",
    "lookup_company",
    "set_order_note",
    "send_email",
    "slow_report",
];

/// The text of an `invalid_data` answer: not JSON at all.
pub const INVALID_DATA_TEXT: &str = "{not json";

/// Exit code of the process when `exit_mid_call` fires.
pub const EXIT_MID_CALL_CODE: i32 = 3;

/// The switches of one tool. Every field is optional in JSON and defaults to "off".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSwitches {
    /// The next N calls answer a tool error (`isError: true`), then calls are normal again.
    pub fail_next: u32,
    /// The next N calls answer a JSON-RPC internal error (-32603), then calls are normal again.
    pub error_next: u32,
    /// Calls are never answered (until the client cancels them).
    pub hang: bool,
    /// The process exits (code 3) once a call has been received, before the tool acts.
    pub exit_mid_call: bool,
    /// Successful answers are replaced by content that breaks the declared output schema.
    pub invalid_data: bool,
    /// Calls are answered after this many milliseconds (with progress notifications).
    pub slow_ms: u64,
    /// Successful answers carry this object as their `structuredContent` (the tool still
    /// acts): hostile data from a server, such as keys Waymark's store uses itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub structured_content: Option<serde_json::Map<String, serde_json::Value>>,
}

/// What one call must do, decided once when it arrives (and `fail_next` counted down).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallPlan {
    Exit,
    /// Fail this call; `remaining` more calls will fail after it.
    Fail {
        remaining: u32,
    },
    /// Answer a JSON-RPC error; `remaining` more calls will after it.
    RpcError {
        remaining: u32,
    },
    Hang,
    Run {
        delay: Option<Duration>,
        invalid_data: bool,
        structured_content: Option<serde_json::Map<String, serde_json::Value>>,
    },
}

/// The switches of every tool, shared by all connections of the process.
#[derive(Debug, Default)]
pub struct FaultTable {
    switches: Mutex<BTreeMap<String, FaultSwitches>>,
}

impl FaultTable {
    /// Parses `{"tool": {switches}}`; unknown tools and unknown switches are errors, so a typo
    /// in a test's environment does not silently start a healthy server.
    pub fn from_json(text: &str) -> Result<Self, DemoToolsError> {
        let parsed: BTreeMap<String, FaultSwitches> =
            serde_json::from_str(text).map_err(|e| DemoToolsError::FaultSpec(e.to_string()))?;
        for tool in parsed.keys() {
            check_faultable(tool).map_err(DemoToolsError::FaultSpec)?;
        }
        Ok(Self {
            switches: Mutex::new(parsed),
        })
    }

    /// Reads [`FAULTS_ENV`]; an unset or empty variable means no faults.
    pub fn from_env() -> Result<Self, DemoToolsError> {
        match std::env::var(FAULTS_ENV) {
            Ok(text) if !text.trim().is_empty() => Self::from_json(&text),
            _ => Ok(Self::default()),
        }
    }

    /// The switches of one tool as they are now.
    pub fn get(&self, tool: &str) -> FaultSwitches {
        self.lock().get(tool).cloned().unwrap_or_default()
    }

    /// Applies `update` to one tool's switches and returns the result.
    pub fn update(
        &self,
        tool: &str,
        update: impl FnOnce(&mut FaultSwitches),
    ) -> Result<FaultSwitches, String> {
        check_faultable(tool)?;
        let mut table = self.lock();
        let entry = table.entry(tool.to_owned()).or_default();
        update(entry);
        Ok(entry.clone())
    }

    /// Decides what a call of `tool` does now, counting `fail_next` down.
    pub fn plan_call(&self, tool: &str) -> CallPlan {
        let mut table = self.lock();
        let Some(switches) = table.get_mut(tool) else {
            return CallPlan::Run {
                delay: None,
                invalid_data: false,
                structured_content: None,
            };
        };
        if switches.exit_mid_call {
            return CallPlan::Exit;
        }
        if switches.fail_next > 0 {
            switches.fail_next -= 1;
            return CallPlan::Fail {
                remaining: switches.fail_next,
            };
        }
        if switches.error_next > 0 {
            switches.error_next -= 1;
            return CallPlan::RpcError {
                remaining: switches.error_next,
            };
        }
        if switches.hang {
            return CallPlan::Hang;
        }
        CallPlan::Run {
            delay: (switches.slow_ms > 0).then(|| Duration::from_millis(switches.slow_ms)),
            invalid_data: switches.invalid_data,
            structured_content: switches.structured_content.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, FaultSwitches>> {
        // A panic while holding the lock cannot leave the map half-updated (each update is a
        // plain field assignment), so a poisoned lock is still safe to use.
        self.switches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn check_faultable(tool: &str) -> Result<(), String> {
    if FAULTABLE_TOOLS.contains(&tool) {
        Ok(())
    } else {
        Err(format!(
            "unknown tool {tool:?} for fault switches (known: {})",
            FAULTABLE_TOOLS.join(", ")
        ))
    }
}

/// The answer of a failing call (`fail_next`).
pub fn injected_failure(tool: &str, remaining: u32) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(format!(
        "injected fault: {tool} failed on purpose (fail_next; {remaining} more call(s) will fail)"
    ))])
}

/// The answer of an `invalid_data` call. Every faultable tool declares an output schema (a
/// JSON object with required fields) and answers that object as JSON text too. This answer
/// instead claims success (`isError: false`) but carries:
/// - one text content block `{not json`, which does not parse as JSON;
/// - `structuredContent` `{"unexpected": "{not json"}`: an object (so rmcp passes it through
///   unchanged to peers of every protocol version) that has none of the required fields of
///   the declared output schema, so it violates it.
pub fn invalid_answer() -> CallToolResult {
    let mut result = CallToolResult::success(vec![ContentBlock::text(INVALID_DATA_TEXT)]);
    result.structured_content = Some(serde_json::json!({ "unexpected": INVALID_DATA_TEXT }));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_next_answers_json_rpc_errors_after_the_tool_errors() {
        let table = FaultTable::from_json(r#"{"lookup_order": {"fail_next": 1, "error_next": 1}}"#)
            .unwrap();
        assert_eq!(
            table.plan_call("lookup_order"),
            CallPlan::Fail { remaining: 0 }
        );
        assert_eq!(
            table.plan_call("lookup_order"),
            CallPlan::RpcError { remaining: 0 }
        );
        assert!(matches!(
            table.plan_call("lookup_order"),
            CallPlan::Run { .. }
        ));
    }

    #[test]
    fn fail_next_counts_down_then_runs() {
        let table = FaultTable::from_json(r#"{"send_email": {"fail_next": 2}}"#).unwrap();
        assert_eq!(
            table.plan_call("send_email"),
            CallPlan::Fail { remaining: 1 }
        );
        assert_eq!(
            table.plan_call("send_email"),
            CallPlan::Fail { remaining: 0 }
        );
        assert_eq!(
            table.plan_call("send_email"),
            CallPlan::Run {
                delay: None,
                invalid_data: false,
                structured_content: None,
            }
        );
    }

    #[test]
    fn exit_wins_over_every_other_switch() {
        let table = FaultTable::from_json(
            r#"{"lookup_order": {"fail_next": 1, "hang": true, "exit_mid_call": true}}"#,
        )
        .unwrap();
        assert_eq!(table.plan_call("lookup_order"), CallPlan::Exit);
    }

    #[test]
    fn unknown_tools_and_switches_are_rejected() {
        assert!(FaultTable::from_json(r#"{"nope": {}}"#).is_err());
        assert!(FaultTable::from_json(r#"{"send_email": {"fail_nxt": 1}}"#).is_err());
        assert!(FaultTable::from_json(r#"{"configure_faults": {"hang": true}}"#).is_err());
    }
}
