//! One interface over the model providers, and the classification of their errors for the
//! engine's retry policy (which reads only `StepError`'s kind, retryable and retry_after_ms).

use std::borrow::Cow;
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

    /// The class of this error, as its step error's kind says it.
    pub fn kind(&self) -> ProviderErrorKind {
        match self {
            ProviderError::Timeout { .. } => ProviderErrorKind::Timeout,
            ProviderError::Connection { .. } => ProviderErrorKind::Connection,
            ProviderError::Http { status, .. } => ProviderErrorKind::from_status(*status),
            ProviderError::ContextLength { .. } => ProviderErrorKind::ContextLength,
            ProviderError::InvalidResponse { .. } => ProviderErrorKind::InvalidResponse,
            ProviderError::ScriptExhausted { .. } => ProviderErrorKind::ScriptExhausted,
            ProviderError::InvalidScript { .. } => ProviderErrorKind::InvalidScript,
            ProviderError::Config { .. } => ProviderErrorKind::Config,
        }
    }

    /// The classification the retry policy acts on: the kind's text and retryability, and the
    /// server's Retry-After.
    pub fn to_step_error(&self) -> StepError {
        let kind = self.kind();
        let message = self.to_string();
        let mut e = if kind.is_retryable() {
            StepError::retryable(kind.as_str(), message)
        } else {
            StepError::fatal(kind.as_str(), message)
        };
        if let ProviderError::Http { retry_after_ms, .. } = self {
            e.retry_after_ms = *retry_after_ms;
        }
        e
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

/// The class of a model call's failure. Its text ([`ProviderErrorKind::as_str`]) is a
/// failed step's `kind`, stored in the journal and shown in the UI, so the texts never
/// change; code compares kinds through this type, never through the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProviderErrorKind {
    /// `timeout`: the call took longer than its timeout.
    Timeout,
    /// `connection`: the server could not be reached, or the connection broke.
    Connection,
    /// `bad_request`: HTTP 400 (other than a context overflow).
    BadRequest,
    /// `unauthorized`: HTTP 401, usually a wrong or missing API key.
    Unauthorized,
    /// `forbidden`: HTTP 403.
    Forbidden,
    /// `not_found`: HTTP 404 (a wrong base URL or model name).
    NotFound,
    /// `overloaded`: Anthropic's 529.
    Overloaded,
    /// `http_<status>`: any other HTTP status (408, 409, 429 and 5xx are retried).
    Http(u16),
    /// `context_length`: the conversation does not fit the model's context window.
    ContextLength,
    /// `invalid_response`: an answer that cannot be understood.
    InvalidResponse,
    /// `script_exhausted`: a scripted model ran out of turns.
    ScriptExhausted,
    /// `invalid_script`: a model script that cannot be read.
    InvalidScript,
    /// `config`: provider settings that cannot work (a bad URL, a redirect).
    Config,
}

impl ProviderErrorKind {
    /// The class of an HTTP error status.
    pub fn from_status(status: u16) -> Self {
        match status {
            400 => ProviderErrorKind::BadRequest,
            401 => ProviderErrorKind::Unauthorized,
            403 => ProviderErrorKind::Forbidden,
            404 => ProviderErrorKind::NotFound,
            529 => ProviderErrorKind::Overloaded,
            other => ProviderErrorKind::Http(other),
        }
    }

    /// The kind as a step error stores it.
    pub fn as_str(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            ProviderErrorKind::Timeout => "timeout",
            ProviderErrorKind::Connection => "connection",
            ProviderErrorKind::BadRequest => "bad_request",
            ProviderErrorKind::Unauthorized => "unauthorized",
            ProviderErrorKind::Forbidden => "forbidden",
            ProviderErrorKind::NotFound => "not_found",
            ProviderErrorKind::Overloaded => "overloaded",
            ProviderErrorKind::Http(status) => return Cow::Owned(format!("http_{status}")),
            ProviderErrorKind::ContextLength => "context_length",
            ProviderErrorKind::InvalidResponse => "invalid_response",
            ProviderErrorKind::ScriptExhausted => "script_exhausted",
            ProviderErrorKind::InvalidScript => "invalid_script",
            ProviderErrorKind::Config => "config",
        })
    }

    /// The kind a stored text names; `None` for kinds no provider produces (a tool's, the
    /// engine's). `timeout` is also an MCP call's kind: read it with the step's source in mind.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "timeout" => ProviderErrorKind::Timeout,
            "connection" => ProviderErrorKind::Connection,
            "bad_request" => ProviderErrorKind::BadRequest,
            "unauthorized" => ProviderErrorKind::Unauthorized,
            "forbidden" => ProviderErrorKind::Forbidden,
            "not_found" => ProviderErrorKind::NotFound,
            "overloaded" => ProviderErrorKind::Overloaded,
            "context_length" => ProviderErrorKind::ContextLength,
            "invalid_response" => ProviderErrorKind::InvalidResponse,
            "script_exhausted" => ProviderErrorKind::ScriptExhausted,
            "invalid_script" => ProviderErrorKind::InvalidScript,
            "config" => ProviderErrorKind::Config,
            other => {
                let digits = other.strip_prefix("http_")?;
                // Digits only: `u16::from_str` would also take a sign.
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                ProviderErrorKind::Http(digits.parse().ok()?)
            }
        })
    }

    /// The kind of a model step's error (a live one or one read back from the journal).
    pub fn of(error: &StepError) -> Option<Self> {
        Self::parse(&error.kind)
    }

    /// Whether another attempt may succeed. Invalid responses are retryable: a truncated or
    /// garbled answer is usually transient, and the policy's attempt budget turns it into a
    /// final failure after its retries.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderErrorKind::Timeout
            | ProviderErrorKind::Connection
            | ProviderErrorKind::InvalidResponse
            // Anthropic's "overloaded": a capacity problem on their side, not ours.
            | ProviderErrorKind::Overloaded => true,
            ProviderErrorKind::Http(status) => matches!(status, 408 | 409 | 429 | 500..=599),
            ProviderErrorKind::BadRequest
            | ProviderErrorKind::Unauthorized
            | ProviderErrorKind::Forbidden
            | ProviderErrorKind::NotFound
            | ProviderErrorKind::ContextLength
            | ProviderErrorKind::ScriptExhausted
            | ProviderErrorKind::InvalidScript
            | ProviderErrorKind::Config => false,
        }
    }
}

impl std::fmt::Display for ProviderErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_str())
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
    fn every_kind_keeps_its_stored_text_and_reads_back() {
        let all = [
            (ProviderErrorKind::Timeout, "timeout"),
            (ProviderErrorKind::Connection, "connection"),
            (ProviderErrorKind::BadRequest, "bad_request"),
            (ProviderErrorKind::Unauthorized, "unauthorized"),
            (ProviderErrorKind::Forbidden, "forbidden"),
            (ProviderErrorKind::NotFound, "not_found"),
            (ProviderErrorKind::Overloaded, "overloaded"),
            (ProviderErrorKind::Http(429), "http_429"),
            (ProviderErrorKind::Http(503), "http_503"),
            (ProviderErrorKind::ContextLength, "context_length"),
            (ProviderErrorKind::InvalidResponse, "invalid_response"),
            (ProviderErrorKind::ScriptExhausted, "script_exhausted"),
            (ProviderErrorKind::InvalidScript, "invalid_script"),
            (ProviderErrorKind::Config, "config"),
        ];
        for (kind, text) in all {
            assert_eq!(kind.as_str(), text);
            assert_eq!(ProviderErrorKind::parse(text), Some(kind), "{text}");
        }
        for foreign in [
            "memory",
            "mcp_connect",
            "http_",
            "http_x",
            "http_99999",
            "http_+42",
        ] {
            assert_eq!(ProviderErrorKind::parse(foreign), None, "{foreign}");
        }
        // Each error variant's step error carries its kind's text, as before.
        let cases = [
            (ProviderError::Timeout { timeout_ms: 1 }, "timeout", true),
            (
                ProviderError::Connection {
                    message: "m".into(),
                },
                "connection",
                true,
            ),
            (
                ProviderError::ContextLength {
                    message: "m".into(),
                },
                "context_length",
                false,
            ),
            (ProviderError::invalid("m"), "invalid_response", true),
            (
                ProviderError::ScriptExhausted { turns: 1, call: 1 },
                "script_exhausted",
                false,
            ),
            (
                ProviderError::InvalidScript {
                    message: "m".into(),
                },
                "invalid_script",
                false,
            ),
            (
                ProviderError::Config {
                    message: "m".into(),
                },
                "config",
                false,
            ),
        ];
        for (error, kind, retryable) in cases {
            let e = error.to_step_error();
            assert_eq!((e.kind.as_str(), e.retryable), (kind, retryable));
            assert_eq!(ProviderErrorKind::of(&e), Some(error.kind()));
            assert_eq!(e.retry_after_ms, None);
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
