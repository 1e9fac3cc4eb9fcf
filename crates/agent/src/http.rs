//! What the HTTP providers share: the client, sending with error classification, and reading a
//! server-sent-events body.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use serde_json::Value;

use crate::model::ModelResponse;
use crate::provider::{
    mentions_context_overflow, retry_after_from_headers, HttpConfig, ProviderError,
};
use crate::sse::{SseEvent, SseParser};

/// A body a provider got back on success: a stream of events, or one JSON document from a
/// server that ignored `stream: true`.
/// How one provider's wire format reads an answer, implemented by its stream accumulator:
/// a whole answer is parsed at once, a streamed one event by event.
pub(crate) trait WireFormat: Default {
    fn parse_whole(doc: &Value) -> Result<ModelResponse, ProviderError>;
    /// Takes one event; true once the answer is complete.
    fn event(
        &mut self,
        event: &SseEvent,
        on_partial: &mut (dyn FnMut(&str) + Send),
    ) -> Result<bool, ProviderError>;
    fn finish(self) -> ModelResponse;
}

/// An API key as a header value that HTTP logging never shows.
pub(crate) fn secret_header(text: &str) -> Result<reqwest::header::HeaderValue, ProviderError> {
    let mut value =
        reqwest::header::HeaderValue::from_str(text).map_err(|_| ProviderError::Config {
            message: "the API key contains characters not allowed in a header".into(),
        })?;
    value.set_sensitive(true);
    Ok(value)
}

pub(crate) enum Answer {
    Stream(reqwest::Response),
    Whole(Value),
}

#[derive(Debug)]
pub(crate) struct HttpTransport {
    client: reqwest::Client,
    pub(crate) config: HttpConfig,
    /// The base URL without credentials or query, the only form that goes into error texts.
    shown_url: String,
}

impl HttpTransport {
    pub(crate) fn new(config: HttpConfig) -> Result<Self, ProviderError> {
        let url =
            reqwest::Url::parse(config.base_url.trim()).map_err(|e| ProviderError::Config {
                message: format!("base URL is not a URL: {e}"),
            })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ProviderError::Config {
                message: format!("base URL must be http or https, not {}", url.scheme()),
            });
        }
        let shown_url = format!(
            "{}://{}{}{}",
            url.scheme(),
            url.host_str().unwrap_or_default(),
            url.port().map(|p| format!(":{p}")).unwrap_or_default(),
            url.path().trim_end_matches('/')
        );
        let client = client_builder()
            .build()
            .map_err(|e| ProviderError::Config {
                message: format!("cannot build the HTTP client: {}", error_chain(&e)),
            })?;
        Ok(HttpTransport {
            client,
            config,
            shown_url,
        })
    }

    /// POSTs `body` to `{base_url}/{path}`; a non-success status becomes a classified error.
    pub(crate) async fn post(
        &self,
        path: &str,
        headers: HeaderMap,
        body: &Value,
    ) -> Result<Answer, ProviderError> {
        let url = format!(
            "{}/{}",
            self.config.base_url.trim().trim_end_matches('/'),
            path
        );
        let response = self
            .client
            .post(url)
            .headers(headers)
            .timeout(self.config.timeout)
            .json(body)
            .send()
            .await
            .map_err(|e| self.transport_error(&e, path))?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let retry_after_ms = retry_after_from_headers(response.headers());
            let text = response
                .text()
                .await
                .map_err(|e| self.transport_error(&e, path))?;
            return Err(error_from_body(status, &text, retry_after_ms));
        }
        let is_stream = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if is_stream {
            return Ok(Answer::Stream(response));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&e, path))?;
        serde_json::from_slice(&bytes)
            .map(Answer::Whole)
            .map_err(|e| {
                ProviderError::invalid(format!("the answer is not JSON ({e}): {}", excerpt(&bytes)))
            })
    }

    /// Posts `body` and reads the answer in wire format `W`, whole or streamed; streamed text
    /// reaches `on_partial` as it arrives, a whole answer's text once. Every error comes back
    /// with the API key scrubbed from it: servers echo keys in error bodies.
    pub(crate) async fn exchange<W: WireFormat>(
        &self,
        path: &str,
        headers: HeaderMap,
        body: &Value,
        on_partial: &mut (dyn FnMut(&str) + Send),
    ) -> Result<ModelResponse, ProviderError> {
        self.exchange_raw::<W>(path, headers, body, on_partial)
            .await
            .map_err(|e| e.scrubbed(self.config.api_key.as_ref()))
    }

    async fn exchange_raw<W: WireFormat>(
        &self,
        path: &str,
        headers: HeaderMap,
        body: &Value,
        on_partial: &mut (dyn FnMut(&str) + Send),
    ) -> Result<ModelResponse, ProviderError> {
        match self.post(path, headers, body).await? {
            Answer::Whole(doc) => {
                let response = W::parse_whole(&doc)?;
                if !response.text.is_empty() {
                    on_partial(&response.text);
                }
                Ok(response)
            }
            Answer::Stream(stream) => {
                let mut state = W::default();
                self.read_events(stream, path, |event| state.event(&event, on_partial))
                    .await?;
                Ok(state.finish())
            }
        }
    }

    /// Reads the events of `response` in order until `on_event` says the answer is complete.
    /// A stream that ends before that is a broken answer, not a short one.
    pub(crate) async fn read_events(
        &self,
        response: reqwest::Response,
        path: &str,
        mut on_event: impl FnMut(SseEvent) -> Result<bool, ProviderError>,
    ) -> Result<(), ProviderError> {
        let mut parser = SseParser::default();
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| self.transport_error(&e, path))?;
            for event in parser.push(&chunk)? {
                if on_event(event)? {
                    return Ok(());
                }
            }
        }
        for event in parser.finish()? {
            if on_event(event)? {
                return Ok(());
            }
        }
        Err(ProviderError::invalid(
            "the stream ended before the answer was complete",
        ))
    }

    /// A reqwest failure as a timeout or a connection error. reqwest's own text names the full
    /// URL, which may carry credentials; ours names only the scrubbed one.
    fn transport_error(&self, e: &reqwest::Error, path: &str) -> ProviderError {
        if e.is_timeout() {
            return ProviderError::Timeout {
                timeout_ms: self.config.timeout.as_millis() as u64,
            };
        }
        // Retrying cannot help: the server sends every attempt elsewhere.
        if e.is_redirect() {
            return ProviderError::Config {
                message: format!("{}/{path}: {}", self.shown_url, error_chain(e)),
            };
        }
        ProviderError::Connection {
            message: format!("{}/{path}: {}", self.shown_url, error_chain(e)),
        }
    }
}

/// `e` and its sources, without the URL reqwest puts in its own text.
fn error_chain(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    if parts.is_empty() {
        parts.push(if e.is_body() {
            "the answer's body could not be read".to_string()
        } else {
            "request failed".to_string()
        });
    }
    parts.join(": ")
}

/// An error response of either API (`{"error": {"message", "type", "code"}}`, Anthropic's with
/// an outer `"type": "error"`, or Ollama's `{"error": "text"}`) as a classified error.
pub(crate) fn error_from_body(
    status: u16,
    body: &str,
    retry_after_ms: Option<u64>,
) -> ProviderError {
    let json: Option<Value> = serde_json::from_str(body).ok();
    let error = json.as_ref().and_then(|v| v.get("error"));
    let field = |name: &str| {
        error.and_then(|e| e.get(name)).and_then(|v| {
            v.as_str()
                .map(str::to_string)
                .or_else(|| v.as_u64().map(|n| n.to_string()))
        })
    };
    let message = error
        .and_then(|e| e.as_str().map(str::to_string))
        .or_else(|| field("message"))
        .unwrap_or_else(|| {
            let text = excerpt(body.as_bytes());
            if text.is_empty() {
                reqwest::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("no details")
                    .to_string()
            } else {
                text
            }
        });
    let error_type = field("type");
    let code = field("code");
    let overflow = code.as_deref() == Some("context_length_exceeded")
        || error_type.as_deref() == Some("exceed_context_size_error")
        || (status == 400 && mentions_context_overflow(&message));
    if overflow {
        return ProviderError::ContextLength { message };
    }
    let message = match status {
        401 => format!("{message} (check the API key)"),
        _ => message,
    };
    ProviderError::Http {
        status,
        error_type: error_type.or(code),
        message,
        retry_after_ms,
    }
}

/// The start of a body for an error text: enough to recognise it, never a whole page.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// How many redirects one request follows at most (reqwest's own default).
const MAX_REDIRECTS: usize = 10;

/// The client every HTTP request of ours starts from (model providers, MCP servers): no proxy
/// from the environment (it would route 127.0.0.1 servers, Ollama and tests, through a proxy
/// that cannot reach them), and redirects followed within the origin only.
pub(crate) fn client_builder() -> reqwest::ClientBuilder {
    client_builder_noting(RefusedRedirect::default())
}

/// [`client_builder`], whose refused redirects are also noted in `refused`: for callers whose
/// errors pass through a library that keeps only the top error's text (rmcp).
pub(crate) fn client_builder_noting(refused: RefusedRedirect) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(same_origin_redirects(refused))
}

/// The last redirect a client refused, as the error text that names it.
#[derive(Clone, Default)]
pub(crate) struct RefusedRedirect(Arc<Mutex<Option<String>>>);

impl RefusedRedirect {
    pub(crate) fn take(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn note(&self, error: &RedirectRefused) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_string());
    }
}

/// Follows a redirect only to the origin the request was first sent to (scheme, host and port
/// equal, so never https to http): API keys and custom headers are credentials for that origin
/// alone. Any other redirect fails the request with a [`RedirectRefused`] naming the target.
fn same_origin_redirects(refused: RefusedRedirect) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let Some(first) = attempt.previous().first() else {
            return attempt.follow();
        };
        let error = if attempt.previous().len() > MAX_REDIRECTS {
            RedirectRefused::TooMany {
                count: MAX_REDIRECTS,
            }
        } else if same_origin(first, attempt.url()) {
            return attempt.follow();
        } else {
            RedirectRefused::OtherOrigin {
                from: first.origin().ascii_serialization(),
                to: attempt.url().origin().ascii_serialization(),
            }
        };
        refused.note(&error);
        attempt.error(error)
    })
}

fn same_origin(a: &reqwest::Url, b: &reqwest::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Why a redirect was not followed. Names origins only: a path or query may carry a token.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RedirectRefused {
    #[error("the server at {from} redirected to another origin, {to}; Waymark follows redirects within the same origin only, so credentials never leave it (configure {to} directly if it is trusted)")]
    OtherOrigin { from: String, to: String },
    #[error("more than {count} redirects")]
    TooMany { count: usize },
}

/// A timeout suitable when the caller has no step timeout at hand.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> reqwest::Url {
        reqwest::Url::parse(text).expect("a URL")
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let base = url("https://api.example.com/v1/messages");
        assert!(same_origin(
            &base,
            &url("https://api.example.com:443/v2/x?y=1")
        ));
        assert!(!same_origin(
            &base,
            &url("http://api.example.com/v1/messages")
        ));
        assert!(!same_origin(&base, &url("https://api.example.com:8443/v1")));
        assert!(!same_origin(&base, &url("https://evil.example.com/v1")));
        let local = url("http://127.0.0.1:11434/v1");
        assert!(same_origin(&local, &url("http://127.0.0.1:11434/api")));
        assert!(!same_origin(&local, &url("http://localhost:11434/v1")));
    }
}
