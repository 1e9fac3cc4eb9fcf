//! The OpenAI-compatible provider against a loopback server speaking the chat completions wire
//! format, streamed and not, and every error class the retry policy acts on.

use crate::support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use support::{closed_base_url, serve, Reply};
use waymark_agent::{
    ChatMessage, HttpConfig, ModelRequest, OpenAiProvider, Provider, ProviderError, Secret,
    StopReason, ToolCall, ToolDefinition, Usage,
};
use waymark_engine::StepError;

fn provider(base_url: &str, key: Option<&str>, timeout: Duration) -> Provider {
    let config = HttpConfig::new(base_url, key.map(Secret::new), timeout);
    Provider::OpenAi(OpenAiProvider::new(config).unwrap())
}

fn request() -> ModelRequest {
    let mut r = ModelRequest::new(
        "gpt-4o-mini",
        vec![
            ChatMessage::system("You are terse."),
            ChatMessage::user("Weather in Paris?"),
            ChatMessage::assistant(
                "",
                vec![ToolCall::new(
                    "call_0",
                    "get_weather",
                    json!({"city": "Lyon"}),
                )],
            ),
            ChatMessage::tool_result("call_0", "boom", true),
        ],
    );
    r.tools = vec![ToolDefinition {
        name: "get_weather".into(),
        description: "Current weather".into(),
        input_schema: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
    }];
    r.max_tokens = Some(256);
    r.temperature = Some(0.5);
    r
}

fn chunk(delta: Value, finish_reason: Value) -> (Option<&'static str>, String) {
    let c = json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]});
    (None, c.to_string())
}

async fn call(
    base_url: &str,
    timeout: Duration,
) -> (
    Result<waymark_agent::ModelResponse, ProviderError>,
    Vec<String>,
) {
    let partials = Arc::new(Mutex::new(Vec::new()));
    let sink = partials.clone();
    let result = provider(base_url, Some("sk-test"), timeout)
        .complete(&request(), move |s: &str| {
            sink.lock().unwrap().push(s.to_string())
        })
        .await;
    let partials = partials.lock().unwrap().clone();
    (result, partials)
}

async fn step_error(reply: Reply) -> StepError {
    let server = serve(reply).await;
    let (result, _) = call(&server.base_url, Duration::from_secs(5)).await;
    result.unwrap_err().to_step_error()
}

#[tokio::test]
async fn streams_text_and_a_tool_call_with_usage() {
    let server = serve(Reply::sse(&[
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({"content": "Let me "}), Value::Null),
        chunk(json!({"content": "check."}), Value::Null),
        chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                "function": {"name": "get_weather", "arguments": ""}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"ci"}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "ty\": \"Paris\"}"}}]}),
            Value::Null,
        ),
        chunk(json!({}), json!("tool_calls")),
        (
            None,
            json!({"id": "chatcmpl-1", "choices": [],
                "usage": {"prompt_tokens": 42, "completion_tokens": 17, "total_tokens": 59}})
            .to_string(),
        ),
        (None, "[DONE]".to_string()),
    ]))
    .await;
    let (result, partials) = call(&server.base_url, Duration::from_secs(5)).await;
    let response = result.unwrap();
    assert_eq!(partials, ["Let me ", "check."]);
    assert_eq!(response.text, "Let me check.");
    assert_eq!(
        response.tool_calls,
        [ToolCall::new(
            "call_1",
            "get_weather",
            json!({"city": "Paris"})
        )]
    );
    assert_eq!(response.stop_reason, StopReason::ToolUse);
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 42,
            output_tokens: 17
        }
    );

    let received = server.requests();
    assert_eq!(received.len(), 1);
    let r = &received[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(r.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(
        r.body,
        json!({
            "model": "gpt-4o-mini",
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": 256,
            "temperature": 0.5,
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "call_0",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Lyon\"}"}}]},
                {"role": "tool", "tool_call_id": "call_0", "content": "Error: boom"},
            ],
            "tools": [{"type": "function", "function": {"name": "get_weather",
                "description": "Current weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        })
    );
}

#[tokio::test]
async fn no_key_sends_no_authorization_and_a_whole_answer_is_accepted() {
    // llama.cpp and friends may ignore `stream: true`; Ollama takes no key.
    let server = serve(Reply::json(
        200,
        &json!({"choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "Hello.",
                "tool_calls": [{"id": "c", "type": "function",
                    "function": {"name": "f", "arguments": "{not json"}}]}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2}}),
    ))
    .await;
    let mut partials = Vec::new();
    let response = provider(&server.base_url, None, Duration::from_secs(5))
        .complete(&request(), |s: &str| partials.push(s.to_string()))
        .await
        .unwrap();
    assert_eq!(server.requests()[0].header("authorization"), None);
    assert_eq!(response.text, "Hello.");
    assert_eq!(partials, ["Hello."]);
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    assert_eq!(response.usage.input_tokens, 3);
    // Arguments that are not JSON stay as text with a reason, for the loop to report.
    let call = &response.tool_calls[0];
    assert_eq!(call.arguments, json!("{not json"));
    assert!(call.arguments_error.is_some());
}

#[tokio::test]
async fn rate_limit_honours_retry_after() {
    let e = step_error(
        Reply::json(
            429,
            &json!({"error": {"message": "Rate limit reached", "type": "requests"}}),
        )
        .header("retry-after", "7"),
    )
    .await;
    assert_eq!(e.kind, "http_429");
    assert!(e.retryable);
    assert_eq!(e.retry_after_ms, Some(7000));
    assert!(e.message.contains("Rate limit reached"), "{}", e.message);
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let e = step_error(Reply::raw(500, "text/plain", "upstream crashed")).await;
    assert_eq!((e.kind.as_str(), e.retryable), ("http_500", true));
    assert_eq!(e.retry_after_ms, None);
    assert!(e.message.contains("upstream crashed"), "{}", e.message);
    let e = step_error(Reply::raw(408, "text/plain", "")).await;
    assert_eq!((e.kind.as_str(), e.retryable), ("http_408", true));
}

#[tokio::test]
async fn unauthorized_is_final_with_a_clear_message() {
    let e = step_error(Reply::json(
        401,
        &json!({"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error",
            "code": "invalid_api_key"}}),
    ))
    .await;
    assert_eq!((e.kind.as_str(), e.retryable), ("unauthorized", false));
    assert!(
        e.message.contains("401") && e.message.contains("check the API key"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("sk-test"), "{}", e.message);
    let e = step_error(Reply::json(
        404,
        &json!({"error": "model 'llama9' not found"}),
    ))
    .await;
    assert_eq!((e.kind.as_str(), e.retryable), ("not_found", false));
    assert!(e.message.contains("llama9"), "{}", e.message);
}

#[tokio::test]
async fn context_length_is_its_own_final_class() {
    let e = step_error(Reply::json(
        400,
        &json!({"error": {"message": "This model's maximum context length is 128000 tokens.",
            "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}),
    ))
    .await;
    assert_eq!((e.kind.as_str(), e.retryable), ("context_length", false));
    assert!(e.message.contains("context window"), "{}", e.message);
    // vLLM says it in words only.
    let e = step_error(Reply::json(
        400,
        &json!({"object": "error", "message": "x", "error": {"message":
            "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens"}}),
    ))
    .await;
    assert_eq!(e.kind, "context_length");
    let e = step_error(Reply::json(
        400,
        &json!({"error": {"message": "bad temperature"}}),
    ))
    .await;
    assert_eq!((e.kind.as_str(), e.retryable), ("bad_request", false));
}

#[tokio::test]
async fn garbage_answers_are_invalid_responses() {
    let e = step_error(Reply::raw(200, "application/json", "{\"choices\": [tru")).await;
    assert_eq!(e.kind, "invalid_response");
    let e = step_error(Reply::json(200, &json!({"object": "nothing useful"}))).await;
    assert_eq!(e.kind, "invalid_response");
    let e = step_error(Reply::sse(&[
        chunk(json!({"content": "Hi"}), Value::Null),
        (None, "{broken".to_string()),
    ]))
    .await;
    assert_eq!(e.kind, "invalid_response");
    assert!(e.message.contains("{broken"), "{}", e.message);
    // A stream cut before `[DONE]` is incomplete, not a short answer.
    let e = step_error(Reply::sse(&[chunk(json!({"content": "Hi"}), Value::Null)])).await;
    assert_eq!(e.kind, "invalid_response");
    assert!(e.retryable);
}

#[tokio::test]
async fn an_error_inside_the_stream_is_classified() {
    let e = step_error(Reply::sse(&[
        chunk(json!({"content": "Hi"}), Value::Null),
        (
            None,
            json!({"error": {"message": "Provider returned error", "code": 502}}).to_string(),
        ),
    ]))
    .await;
    assert_eq!((e.kind.as_str(), e.retryable), ("http_502", true));
}

#[tokio::test]
async fn silence_times_out_and_is_retryable() {
    let server = serve(Reply::silent()).await;
    let started = std::time::Instant::now();
    let (result, _) = call(&server.base_url, Duration::from_millis(300)).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let e = result.unwrap_err();
    assert_eq!(e, ProviderError::Timeout { timeout_ms: 300 });
    let e = e.to_step_error();
    assert_eq!((e.kind.as_str(), e.retryable), ("timeout", true));

    // A stream that stops mid-answer runs into the same whole-call timeout.
    let mut stalled = Reply::sse(&[chunk(json!({"content": "Hi"}), Value::Null)]);
    stalled.hang_after = true;
    let server = serve(stalled).await;
    let (result, partials) = call(&server.base_url, Duration::from_millis(500)).await;
    assert_eq!(partials, ["Hi"]);
    assert_eq!(result.unwrap_err().to_step_error().kind, "timeout");
}

#[tokio::test]
async fn nothing_listening_is_a_retryable_connection_error() {
    let (result, _) = call(&closed_base_url().await, Duration::from_secs(5)).await;
    let e = result.unwrap_err().to_step_error();
    assert_eq!((e.kind.as_str(), e.retryable), ("connection", true));
    assert!(e.message.contains("127.0.0.1"), "{}", e.message);
}

#[tokio::test]
async fn a_call_runs_on_a_spawned_task_and_streams_through_a_channel() {
    // How the engine will use it: the call on its own task, partials forwarded as events.
    let server = serve(Reply::sse(&[
        chunk(json!({"content": "one "}), Value::Null),
        chunk(json!({"content": "two "}), Value::Null),
        chunk(json!({"content": "three"}), json!("stop")),
        (None, "[DONE]".to_string()),
    ]))
    .await;
    let provider = provider(&server.base_url, None, Duration::from_secs(5));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let task = tokio::spawn(async move {
        provider
            .complete(&request(), move |s: &str| {
                let _ = tx.send(s.to_string());
            })
            .await
    });
    let mut seen = Vec::new();
    while let Some(piece) = rx.recv().await {
        seen.push(piece);
    }
    let response = task.await.unwrap().unwrap();
    assert_eq!(seen, ["one ", "two ", "three"]);
    assert_eq!(response.text, "one two three");
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    assert_eq!(response.usage, Usage::default());
}
