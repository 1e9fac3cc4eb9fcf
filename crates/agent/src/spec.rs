//! The definition of an agent as data: what it is told, which model it talks to, which tools it
//! may call and on what terms, its limits and what starts it. Read from and written to TOML
//! and JSON; every field is documented in `docs/agent-spec.md`.
//!
//! A run stores the spec it started with ([`AgentSpec::to_canonical_json`]) and so keeps
//! behaving the same when the agent is edited; [`AgentSpec::content_hash`] tells whether two
//! specs are the same.

mod elicitation;
mod email;
mod error;
mod limits;
mod model;
mod sampling;
mod tools;
mod trigger;
mod validate;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use waymark_engine::{RetryPolicy, SafetyClass};

pub use elicitation::{ElicitationSettings, DEFAULT_QUESTION_SECS, MAX_QUESTION_SECS};
pub use email::{
    is_account_name, EmailSettings, EmailTrigger, DEFAULT_FOLDER, DEFAULT_POLL_SECS, MAX_POLL_SECS,
    MIN_POLL_SECS,
};
pub use error::{Format, Problem, SpecError};
pub use limits::{LimitReached, Limits, RunUsage, DEFAULT_MAX_STEPS};
pub use model::{ContextOverflow, ModelSpec, ProviderKind};
pub use sampling::{
    SamplingPolicy, SamplingSettings, DEFAULT_SAMPLING_MAX_TOKENS, MAX_SAMPLING_MAX_TOKENS,
};
pub use tools::{BuiltinTool, RetryOverride, ToolOverride, ToolRef, ToolSelection};
pub use trigger::Trigger;
pub use validate::is_env_name;

/// An agent, as written in its spec file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct AgentSpec {
    /// A slug, `[a-z0-9][a-z0-9_-]{0,63}`: it names the agent in URLs, the CLI, and as a tool of
    /// a parent agent.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The system prompt.
    pub instructions: String,
    pub model: ModelSpec,
    #[serde(default)]
    pub tools: Vec<ToolRef>,
    /// By tool name (as the model sees it). A map sorted by key, so the canonical form is stable.
    #[serde(default)]
    pub tool_overrides: BTreeMap<String, ToolOverride>,
    #[serde(default)]
    pub limits: Limits,
    /// Changes to the default retry policy of model calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub retry: Option<RetryOverride>,
    #[serde(default = "default_triggers")]
    pub triggers: Vec<Trigger>,
    /// The terms of the `send_email` tool. Left out when absent, so specs without it keep
    /// their hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub email: Option<EmailSettings>,
    /// How the servers' questions during tool calls are answered. Left out when absent, so
    /// specs without it keep their hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub elicitation: Option<ElicitationSettings>,
    /// How the servers' requests for a completion during tool calls are answered. Left out
    /// when absent, so specs without it keep their hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub sampling: Option<SamplingSettings>,
    /// Only a worker started with this label runs the agent (a tool or a stdio server that
    /// exists on one machine). Left out when absent, so specs without it keep their hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub worker_label: Option<String>,
}

fn default_triggers() -> Vec<Trigger> {
    vec![Trigger::Manual]
}

impl AgentSpec {
    /// Parses and validates a TOML spec.
    pub fn from_toml_str(text: &str) -> Result<Self, SpecError> {
        let spec = parse_toml(text)?;
        spec.validate()?;
        Ok(spec)
    }

    /// Parses and validates a JSON spec.
    pub fn from_json_str(text: &str) -> Result<Self, SpecError> {
        let spec = parse_json(text)?;
        spec.validate()?;
        Ok(spec)
    }

    /// Reads a `.toml` or `.json` file and validates it; errors name the file.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let format = Format::from_path(path).ok_or_else(|| SpecError::UnknownExtension {
            path: path.to_path_buf(),
        })?;
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        match format {
            Format::Toml => Self::from_toml_str(&text),
            Format::Json => Self::from_json_str(&text),
        }
        .map_err(|e| e.in_file(path))
    }

    pub fn to_toml_string(&self) -> Result<String, SpecError> {
        toml::to_string_pretty(self).map_err(|e| SpecError::Write {
            format: Format::Toml,
            message: e.to_string(),
        })
    }

    pub fn to_json_string(&self) -> Result<String, SpecError> {
        serde_json::to_string_pretty(self).map_err(|e| SpecError::Write {
            format: Format::Json,
            message: e.to_string(),
        })
    }

    /// Every rule the spec breaks, by field; `Ok` when there are none.
    pub fn validate(&self) -> Result<(), SpecError> {
        let problems = validate::problems(self);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SpecError::Invalid {
                file: None,
                problems,
            })
        }
    }

    /// One line of JSON with fields in a fixed order, maps sorted by key, and each value as
    /// parsed (so a default left out of a file and one written in give the same text): two
    /// specs that mean the same thing have the same text however their files were laid out.
    pub fn to_canonical_json(&self) -> String {
        // Serializing these types cannot fail: every map key is a string and no field has a
        // fallible serializer (non-finite floats become `null`). Not reachable from input.
        serde_json::to_string(self).expect("an AgentSpec always serializes to JSON")
    }

    /// `sha256:` and the hex SHA-256 of the canonical JSON.
    pub fn content_hash(&self) -> String {
        let digest = Sha256::digest(self.to_canonical_json().as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }

    /// The override for a tool, if the spec has one.
    pub fn tool_override(&self, tool: &str) -> Option<&ToolOverride> {
        self.tool_overrides.get(tool)
    }

    /// How questions from `server` during a call are answered.
    pub fn elicitation_policy(&self, server: &str) -> crate::mcp::ElicitationPolicy {
        self.elicitation
            .as_ref()
            .map(|e| e.policy_for(server))
            .unwrap_or(crate::mcp::ElicitationPolicy::Ask)
    }

    /// How requests for a completion from `server` during a call are answered.
    pub fn sampling_policy(&self, server: &str) -> SamplingPolicy {
        self.sampling
            .as_ref()
            .map(|s| s.policy_for(server))
            .unwrap_or(SamplingPolicy::Ask)
    }

    /// Whether each call of `tool` waits for a person's approval.
    pub fn needs_approval(&self, tool: &str) -> bool {
        self.tool_override(tool).is_some_and(|o| o.needs_approval)
            || (tool == BuiltinTool::SendEmail.name()
                && self.uses_builtin(BuiltinTool::SendEmail)
                && !self.email.as_ref().is_some_and(|e| e.send_without_approval))
    }

    fn uses_builtin(&self, builtin: BuiltinTool) -> bool {
        self.tools
            .iter()
            .any(|t| matches!(t, ToolRef::Builtin { name } if *name == builtin))
    }

    /// The account `send_email` sends from: `[email] account`, else the email trigger's.
    pub fn sending_account(&self) -> Option<&str> {
        self.email
            .as_ref()
            .and_then(|e| e.account.as_deref())
            .or_else(|| {
                self.triggers
                    .iter()
                    .find_map(|t| t.email())
                    .map(|t| t.account.as_str())
            })
    }

    /// The tool's safety class: the spec's override, else `derived` (from its annotations).
    pub fn tool_safety(&self, tool: &str, derived: SafetyClass) -> SafetyClass {
        self.tool_override(tool)
            .and_then(|o| o.safety)
            .unwrap_or(derived)
    }

    /// The retry policy for calls of `tool`: `base` with the spec's override put in.
    pub fn tool_retry(&self, tool: &str, base: RetryPolicy) -> RetryPolicy {
        match self.tool_override(tool).and_then(|o| o.retry.as_ref()) {
            Some(r) => r.apply(base),
            None => base,
        }
    }

    /// The retry policy for model calls: `base` with the spec's `retry` put in.
    pub fn model_retry(&self, base: RetryPolicy) -> RetryPolicy {
        match &self.retry {
            Some(r) => r.apply(base),
            None => base,
        }
    }
}

fn parse_toml(text: &str) -> Result<AgentSpec, SpecError> {
    let de = toml::Deserializer::parse(text).map_err(|e| toml_error(text, None, &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = field_path(e.path());
        toml_error(text, field, e.inner())
    })
}

fn toml_error(text: &str, field: Option<String>, e: &toml::de::Error) -> SpecError {
    let (line, column) = match e.span() {
        Some(span) => {
            let (l, c) = error::line_column(text, span.start);
            (Some(l), Some(c))
        }
        None => (None, None),
    };
    SpecError::Parse {
        file: None,
        format: Format::Toml,
        field,
        line,
        column,
        message: e.message().trim().to_string(),
    }
}

fn parse_json(text: &str) -> Result<AgentSpec, SpecError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let spec: AgentSpec = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = field_path(e.path());
        json_error(field, e.inner())
    })?;
    // Trailing text after the object is an error too, not silently ignored.
    de.end().map_err(|e| json_error(None, &e))?;
    Ok(spec)
}

fn json_error(field: Option<String>, e: &serde_json::Error) -> SpecError {
    // serde_json appends " at line L column C" to its messages; the position is kept apart.
    let text = e.to_string();
    let message = match text.rfind(" at line ") {
        Some(i) if e.line() > 0 => text[..i].to_string(),
        _ => text,
    };
    SpecError::Parse {
        file: None,
        format: Format::Json,
        field,
        line: (e.line() > 0).then_some(e.line()),
        column: (e.line() > 0).then_some(e.column()),
        message,
    }
}

/// The path serde was in when it failed, `None` at the top level.
fn field_path(path: &serde_path_to_error::Path) -> Option<String> {
    let p = path.to_string();
    (p != "." && !p.is_empty()).then_some(p)
}
