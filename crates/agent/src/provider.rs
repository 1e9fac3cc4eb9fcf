//! One interface over the model providers, and the classification of their errors for the
//! engine's retry policy (which reads only `StepError`'s kind, retryable and retry_after_ms).

use std::time::{Duration, SystemTime};

use waymark_engine::StepError;

use crate::anthropic::AnthropicProvider;
use crate::model::{ModelRequest, ModelResponse};
use crate::openai::OpenAiProvider;
use crate::scripted::ScriptedProvider;
use crate::secret::Secret;

/// Where an HTTP provider's server is, with which key, and how long one call may take.
/// Debug shows whether there is a key, never the key, and the URL without credentials.
#[derive(Clone)]
pub struct HttpConfig {
    /// Up to and including the API version segment, e.g. `http://127.0.0.1:11434/v1`.
    pub base_url: String,
    /// `None` for local servers that take no key.
    pub api_key: Option<Secret>,
    /// The whole call, from connecting to the last streamed byte. The caller derives it from
    /// the step's attempt timeout.
    pub timeout: Duration,
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("base_url", &crate::redact::url_for_display(&self.base_url))
            .field(
                "api_key",
                &self.api_key.as_ref().map(|_| crate::redact::REDACTED),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl HttpConfig {
    pub fn new(base_url: impl Into<String>, api_key: Option<Secret>, timeout: Duration) -> Self {
        HttpConfig {
            base_url: base_url.into(),
            api_key,
            timeout,
        }
    }
}

/// The model providers, dispatched by variant: three known kinds need no trait objects.
#[derive(Debug)]
pub enum Provider {
    OpenAi(OpenAiProvider),
    Anthropic(AnthropicProvider),
    Scripted(ScriptedProvider),
}

impl Provider {
    /// One model turn. `on_partial` receives the answer's text pieces in order as they stream
    /// (the step's live progress); the returned response is the whole turn (the journal's).
    pub async fn complete(
        &self,
        request: &ModelRequest,
        mut on_partial: impl FnMut(&str) + Send,
    ) -> Result<ModelResponse, ProviderError> {
        match self {
            Provider::OpenAi(p) => p.complete(request, &mut on_partial).await,
            Provider::Anthropic(p) => p.complete(request, &mut on_partial).await,
            Provider::Scripted(p) => p.complete(request, &mut on_partial),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Provider::OpenAi(_) => "openai",
            Provider::Anthropic(_) => "anthropic",
            Provider::Scripted(_) => "scripted",
        }
    }
}

/// Why a model call failed. Every text here has had the API key scrubbed from it.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    #[error("the model call timed out after {timeout_ms} ms")]
    Timeout { timeout_ms: u64 },
    #[error("cannot reach the model server: {message}")]
    Connection { message: String },
    /// An HTTP error status, or an error event inside a stream (then `status` is the status the
    /// same error has as a response, e.g. 529 for Anthropic's `overloaded_error`).
    #[error("the model server answered {status}{}: {message}", error_type.as_ref().map(|t| format!(" ({t})")).unwrap_or_default())]
    Http {
        status: u16,
        error_type: Option<String>,
        message: String,
        retry_after_ms: Option<u64>,
    },
    #[error("the conversation does not fit the model's context window: {message}")]
    ContextLength { message: String },
    #[error("the model server's answer cannot be understood: {message}")]
    InvalidResponse { message: String },
    #[error("the model script has {turns} turn(s) but this is model call {}: the script ran out", call + 1)]
    ScriptExhausted { turns: usize, call: usize },
    #[error("invalid model script: {message}")]
    InvalidScript { message: String },
    #[error("invalid model provider settings: {message}")]
    Config { message: String },
}

impl ProviderError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ProviderError::InvalidResponse {
            message: message.into(),
        }
    }

    /// The classification the retry policy acts on. Invalid responses are retryable: a
    /// truncated or garbled answer is usually transient, and the policy's attempt budget turns
    /// it into a final failure after its retries.
    pub fn to_step_error(&self) -> StepError {
        let message = self.to_string();
        match self {
            ProviderError::Timeout { .. } => StepError::retryable("timeout", message),
            ProviderError::Connection { .. } => StepError::retryable("connection", message),
            ProviderError::Http {
                status,
                retry_after_ms,
                ..
            } => {
                let (kind, retryable) = classify_status(*status);
                let mut e = if retryable {
                    StepError::retryable(kind, message)
                } else {
                    StepError::fatal(kind, message)
                };
                e.retry_after_ms = *retry_after_ms;
                e
            }
            ProviderError::ContextLength { .. } => StepError::fatal("context_length", message),
            ProviderError::InvalidResponse { .. } => {
                StepError::retryable("invalid_response", message)
            }
            ProviderError::ScriptExhausted { .. } => StepError::fatal("script_exhausted", message),
            ProviderError::InvalidScript { .. } => StepError::fatal("invalid_script", message),
            ProviderError::Config { .. } => StepError::fatal("config", message),
        }
    }

    /// The same error with `secret` replaced by `***` in every text it carries.
    pub(crate) fn scrubbed(self, secret: Option<&Secret>) -> Self {
        let Some(secret) = secret else { return self };
        let s = |text: String| secret.scrub(&text);
        match self {
            ProviderError::Timeout { .. }
            | ProviderError::ScriptExhausted { .. }
            | ProviderError::InvalidScript { .. } => self,
            ProviderError::Connection { message } => ProviderError::Connection {
                message: s(message),
            },
            ProviderError::Http {
                status,
                error_type,
                message,
                retry_after_ms,
            } => ProviderError::Http {
                status,
                error_type: error_type.map(s),
                message: s(message),
                retry_after_ms,
            },
            ProviderError::ContextLength { message } => ProviderError::ContextLength {
                message: s(message),
            },
            ProviderError::InvalidResponse { message } => ProviderError::InvalidResponse {
                message: s(message),
            },
            ProviderError::Config { message } => ProviderError::Config {
                message: s(message),
            },
        }
    }
}

impl From<ProviderError> for StepError {
    fn from(e: ProviderError) -> Self {
        e.to_step_error()
    }
}

/// The step error kind of an HTTP status and whether another attempt may succeed.
fn classify_status(status: u16) -> (String, bool) {
    match status {
        400 => ("bad_request".into(), false),
        401 => ("unauthorized".into(), false),
        403 => ("forbidden".into(), false),
        404 => ("not_found".into(), false),
        408 | 409 | 429 => (format!("http_{status}"), true),
        // Anthropic's "overloaded": a capacity problem on their side, not ours.
        529 => ("overloaded".into(), true),
        500..=599 => (format!("http_{status}"), true),
        _ => (format!("http_{status}"), false),
    }
}

/// A `Retry-After` value (delay seconds, possibly fractional, or an HTTP date) as milliseconds
/// from `now`; a date in the past means "now".
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).round() as u64);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(now)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0),
    )
}

/// The retry delay a response asks for: OpenAI's `retry-after-ms` is finer, so it wins over
/// the standard `Retry-After`.
pub(crate) fn retry_after_from_headers(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        if ms.is_finite() && ms >= 0.0 {
            return Some(ms.round() as u64);
        }
    }
    get("retry-after").and_then(|v| parse_retry_after(v, SystemTime::now()))
}

/// Whether an error message says the prompt is too long for the model. Servers disagree on
/// codes (OpenAI `context_length_exceeded`, llama.cpp `exceed_context_size_error`, vLLM and
/// Anthropic none), so the wording is the common ground.
pub(crate) fn mentions_context_overflow(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "context length",
        "context window",
        "context size",
        "context limit",
        "maximum context",
        "prompt is too long",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_classify_as_the_policy_expects() {
        let http = |status| ProviderError::Http {
            status,
            error_type: None,
            message: "m".into(),
            retry_after_ms: Some(5),
        };
        for (status, kind, retryable) in [
            (400, "bad_request", false),
            (401, "unauthorized", false),
            (403, "forbidden", false),
            (404, "not_found", false),
            (408, "http_408", true),
            (409, "http_409", true),
            (429, "http_429", true),
            (500, "http_500", true),
            (503, "http_503", true),
            (529, "overloaded", true),
            (422, "http_422", false),
        ] {
            let e = http(status).to_step_error();
            assert_eq!(
                (e.kind.as_str(), e.retryable),
                (kind, retryable),
                "{status}"
            );
            assert_eq!(e.retry_after_ms, Some(5));
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(7000));
        assert_eq!(parse_retry_after(" 1.5 ", now), Some(1500));
        assert_eq!(parse_retry_after("-1", now), None);
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&later, now), Some(30_000));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(0));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn context_overflow_wordings() {
        assert!(mentions_context_overflow(
            "This model's maximum context length is 4096 tokens."
        ));
        assert!(mentions_context_overflow(
            "prompt is too long: 208310 tokens > 200000 maximum"
        ));
        assert!(!mentions_context_overflow("Rate limit reached"));
    }
}
