//! The Anthropic provider against a loopback server speaking the Messages wire format.

use crate::support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{serve, Reply};
use waymark_agent::{
    AnthropicProvider, ChatMessage, HttpConfig, ModelRequest, ModelResponse, Provider,
    ProviderError, Secret, StopReason, ToolCall, ToolDefinition, Usage,
};
use waymark_engine::StepError;

fn request() -> ModelRequest {
    let mut r = ModelRequest::new(
        "claude-sonnet-4-5",
        vec![
            ChatMessage::system("You are terse."),
            ChatMessage::user("Weather in Paris and Lyon?"),
            ChatMessage::assistant(
                "Checking.",
                vec![
                    ToolCall::new("toolu_1", "get_weather", json!({"city": "Paris"})),
                    ToolCall::new("toolu_2", "get_weather", json!({"city": "Lyon"})),
                ],
            ),
            ChatMessage::tool_result("toolu_1", "sunny", false),
            ChatMessage::tool_result("toolu_2", "no such city", true),
        ],
    );
    r.tools = vec![ToolDefinition {
        name: "get_weather".into(),
        description: "Current weather".into(),
        input_schema: json!({"type": "object", "properties": {"city": {"type": "string"}}}),
    }];
    r
}

async fn call(
    reply: Reply,
    timeout: Duration,
) -> (Result<ModelResponse, ProviderError>, Vec<String>) {
    let server = serve(reply).await;
    let config = HttpConfig::new(&server.base_url, Some(Secret::new("sk-ant-test")), timeout);
    let provider = Provider::Anthropic(AnthropicProvider::new(config).unwrap());
    let mut partials = Vec::new();
    let result = provider
        .complete(&request(), |s: &str| partials.push(s.to_string()))
        .await;
    (result, partials)
}

async fn step_error(reply: Reply) -> StepError {
    call(reply, Duration::from_secs(5))
        .await
        .0
        .unwrap_err()
        .to_step_error()
}

fn event(name: &'static str, data: Value) -> (Option<&'static str>, String) {
    (Some(name), data.to_string())
}

fn error_body(error_type: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": error_type, "message": message}})
}

#[tokio::test]
async fn streams_text_and_a_tool_use_with_usage() {
    let server = serve(Reply::sse(&[
        event("message_start", json!({"type": "message_start", "message": {"id": "msg_1",
            "type": "message", "role": "assistant", "content": [], "model": "claude-sonnet-4-5",
            "stop_reason": null, "usage": {"input_tokens": 120, "output_tokens": 1}}})),
        event("content_block_start", json!({"type": "content_block_start", "index": 0,
            "content_block": {"type": "text", "text": ""}})),
        event("ping", json!({"type": "ping"})),
        event("content_block_delta", json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": "Paris is "}})),
        event("content_block_delta", json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": "sunny; converting."}})),
        event("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
        event("content_block_start", json!({"type": "content_block_start", "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_3", "name": "convert", "input": {}}})),
        event("content_block_delta", json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": ""}})),
        event("content_block_delta", json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": "{\"celsius\": 2"}})),
        event("content_block_delta", json!({"type": "content_block_delta", "index": 1,
            "delta": {"type": "input_json_delta", "partial_json": "1}"}})),
        event("content_block_stop", json!({"type": "content_block_stop", "index": 1})),
        event("message_delta", json!({"type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": null},
            "usage": {"output_tokens": 33}})),
        event("message_stop", json!({"type": "message_stop"})),
    ]))
    .await;
    let config = HttpConfig::new(
        &server.base_url,
        Some(Secret::new("sk-ant-test")),
        Duration::from_secs(5),
    );
    let provider = Provider::Anthropic(AnthropicProvider::new(config).unwrap());
    let mut partials = Vec::new();
    let response = provider
        .complete(&request(), |s: &str| partials.push(s.to_string()))
        .await
        .unwrap();
    assert_eq!(partials, ["Paris is ", "sunny; converting."]);
    assert_eq!(response.text, "Paris is sunny; converting.");
    assert_eq!(
        response.tool_calls,
        [ToolCall::new("toolu_3", "convert", json!({"celsius": 21}))]
    );
    assert_eq!(response.stop_reason, StopReason::ToolUse);
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 120,
            output_tokens: 33
        }
    );

    let r = &server.requests()[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(r.header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(r.header("authorization"), None);
    assert_eq!(
        r.body,
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 4096,
            "stream": true,
            "system": "You are terse.",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Lyon?"}]},
                {"role": "assistant", "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Lyon"}},
                ]},
                // Both results in one user turn: the API wants the roles to alternate.
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny", "is_error": false},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "content": "no such city", "is_error": true},
                ]},
            ],
            "tools": [{"name": "get_weather", "description": "Current weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        })
    );
}

#[tokio::test]
async fn a_whole_message_is_accepted() {
    let (result, partials) = call(
        Reply::json(
            200,
            &json!({"id": "msg_1", "type": "message", "role": "assistant",
            "content": [{"type": "text", "text": "Done."},
                {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {"x": 1}}],
            "stop_reason": "end_turn", "usage": {"input_tokens": 5, "output_tokens": 2}}),
        ),
        Duration::from_secs(5),
    )
    .await;
    let response = result.unwrap();
    assert_eq!(partials, ["Done."]);
    assert_eq!(response.tool_calls[0].arguments, json!({"x": 1}));
    assert_eq!(response.stop_reason, StopReason::EndTurn);
    assert_eq!(response.usage.output_tokens, 2);
}

#[tokio::test]
async fn overloaded_and_rate_limited_are_retryable_with_retry_after() {
    let e = step_error(
        Reply::json(529, &error_body("overloaded_error", "Overloaded")).header("retry-after", "3"),
    )
    .await;
    assert_eq!(
        (e.kind.as_str(), e.retryable, e.retry_after_ms),
        ("overloaded", true, Some(3000))
    );
    let e = step_error(
        Reply::json(
            429,
            &error_body(
                "rate_limit_error",
                "Number of requests has exceeded your rate limit",
            ),
        )
        .header("retry-after", "7"),
    )
    .await;
    assert_eq!(
        (e.kind.as_str(), e.retryable, e.retry_after_ms),
        ("http_429", true, Some(7000))
    );
    let e = step_error(Reply::json(
        500,
        &error_body("api_error", "Internal server error"),
    ))
    .await;
    assert_eq!((e.kind.as_str(), e.retryable), ("http_500", true));
    let e = step_error(Reply::json(409, &error_body("api_error", "conflict"))).await;
    assert_eq!((e.kind.as_str(), e.retryable), ("http_409", true));
}

#[tokio::test]
async fn overloaded_inside_the_stream_is_retryable() {
    let e = step_error(Reply::sse(&[
        event(
            "message_start",
            json!({"type": "message_start", "message": {"usage": {"input_tokens": 1}}}),
        ),
        event("error", error_body("overloaded_error", "Overloaded")),
    ]))
    .await;
    assert_eq!((e.kind.as_str(), e.retryable), ("overloaded", true));
    assert!(e.message.contains("Overloaded"), "{}", e.message);
}

#[tokio::test]
async fn auth_and_request_errors_are_final() {
    let e = step_error(Reply::json(
        401,
        &error_body("authentication_error", "invalid x-api-key"),
    ))
    .await;
    assert_eq!((e.kind.as_str(), e.retryable), ("unauthorized", false));
    assert!(
        e.message.contains("invalid x-api-key") && e.message.contains("check the API key"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("sk-ant-test"));
    let e = step_error(Reply::json(
        403,
        &error_body("permission_error", "no access"),
    ))
    .await;
    assert_eq!((e.kind.as_str(), e.retryable), ("forbidden", false));
    let e = step_error(Reply::json(
        404,
        &error_body("not_found_error", "model: claude-9"),
    ))
    .await;
    assert_eq!((e.kind.as_str(), e.retryable), ("not_found", false));
    let e = step_error(Reply::json(
        400,
        &error_body("invalid_request_error", "max_tokens: too large"),
    ))
    .await;
    assert_eq!((e.kind.as_str(), e.retryable), ("bad_request", false));
}

#[tokio::test]
async fn context_window_overflow_is_its_own_final_class() {
    let e = step_error(Reply::json(
        400,
        &error_body(
            "invalid_request_error",
            "prompt is too long: 208310 tokens > 200000 maximum",
        ),
    ))
    .await;
    assert_eq!((e.kind.as_str(), e.retryable), ("context_length", false));
    assert!(
        e.message.contains("context window") && e.message.contains("208310"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn garbage_is_an_invalid_response() {
    let e = step_error(Reply::raw(200, "application/json", "<html>gateway</html>")).await;
    assert_eq!(e.kind, "invalid_response");
    let e = step_error(Reply::sse(&[(Some("message_start"), "{nope".to_string())])).await;
    assert_eq!(e.kind, "invalid_response");
    // Without `message_stop` the answer may be cut short.
    let e = step_error(Reply::sse(&[event(
        "message_start",
        json!({"type": "message_start", "message": {}}),
    )]))
    .await;
    assert_eq!(e.kind, "invalid_response");
}

#[tokio::test]
async fn silence_times_out_and_is_retryable() {
    let (result, _) = call(Reply::silent(), Duration::from_millis(300)).await;
    let e = result.unwrap_err().to_step_error();
    assert_eq!((e.kind.as_str(), e.retryable), ("timeout", true));
    assert!(e.message.contains("300 ms"), "{}", e.message);
}
