//! Which model an agent talks to, and how.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The provider families the agent crate can call.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// OpenAI-compatible chat completions: OpenAI, Ollama, vLLM, llama.cpp, LM Studio, OpenRouter.
    #[serde(rename = "openai")]
    OpenAi,
    Anthropic,
    /// Replays model turns from a file: the offline demo and deterministic tests.
    Scripted,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Scripted => "scripted",
        }
    }

    /// The environment variable read for the key when the spec names none.
    pub fn default_api_key_env(self) -> Option<&'static str> {
        match self {
            ProviderKind::OpenAi => Some("OPENAI_API_KEY"),
            ProviderKind::Anthropic => Some("ANTHROPIC_API_KEY"),
            ProviderKind::Scripted => None,
        }
    }

    /// The server used when the spec names no `base_url`.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            ProviderKind::OpenAi => Some(crate::openai::DEFAULT_BASE_URL),
            ProviderKind::Anthropic => Some(crate::anthropic::DEFAULT_BASE_URL),
            ProviderKind::Scripted => None,
        }
    }
}

/// What to do when the conversation no longer fits the model's context window.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ts_rs::TS,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ContextOverflow {
    /// End the run with the provider's context-length error.
    #[default]
    Fail,
    /// Replace the oldest tool results with a short placeholder and try the call once more.
    DropOldestToolResults,
}

impl ContextOverflow {
    fn is_default(&self) -> bool {
        *self == ContextOverflow::default()
    }
}

/// The model: provider, model id and call parameters. It holds no key: only the *name* of the
/// environment variable that has it, so a spec file can be shared and stored as it is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ModelSpec {
    pub provider: ProviderKind,
    /// The model id sent to the provider (`gpt-4o-mini`, `claude-sonnet-4-5`, `llama3.2`).
    /// May be empty only for `scripted`.
    #[serde(default)]
    pub model: String,
    /// The API root, up to and including its version segment; the provider's own when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub base_url: Option<String>,
    /// The name of the environment variable that holds the API key (never the key itself).
    /// When absent: `OPENAI_API_KEY` / `ANTHROPIC_API_KEY` if `base_url` is absent too, else no
    /// key; an unset variable means no key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub api_key_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub temperature: Option<f32>,
    /// The most tokens one model call may generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub max_tokens: Option<u32>,
    /// How long one model call may take, from connecting to its last streamed byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub timeout_secs: Option<u64>,
    /// The turns file of a `scripted` model; a relative path is resolved against the spec
    /// file's folder (see [`ModelSpec::script_path`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub script: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "ContextOverflow::is_default")]
    pub on_context_overflow: ContextOverflow,
}

impl ModelSpec {
    /// The environment variable to read the key from. The provider's default variable applies
    /// only to the provider's own server: an OpenAI key is not sent to a `base_url` elsewhere
    /// (a local server, a proxy) unless the spec names the variable.
    pub fn api_key_env(&self) -> Option<&str> {
        match (&self.api_key_env, &self.base_url) {
            (Some(var), _) => Some(var),
            (None, Some(_)) => None,
            (None, None) => self.provider.default_api_key_env(),
        }
    }

    /// The API root to call.
    pub fn base_url(&self) -> Option<&str> {
        self.base_url
            .as_deref()
            .or(self.provider.default_base_url())
    }

    /// The script file, with a relative path taken from `spec_dir` (the folder of the spec file)
    /// so that a spec and its script can move together.
    pub fn script_path(&self, spec_dir: &Path) -> Option<PathBuf> {
        self.script.as_ref().map(|p| {
            if p.is_absolute() {
                p.clone()
            } else {
                spec_dir.join(p)
            }
        })
    }
}
