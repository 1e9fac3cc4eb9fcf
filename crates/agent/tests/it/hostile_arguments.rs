//! OpenAI-compatible servers that send a tool call's `function.arguments` as a JSON object
//! instead of the JSON text the API specifies (some local servers do): the tool gets the object.

use crate::support;

use crate::mcp_servers;

use std::sync::Arc;
use std::time::Duration;

use mcp_servers::{demo_tools_bin, stdio_def};
use serde_json::{json, Value};
use support::agents::{openai_reply, turn_index, AgentHarness, TestDirectory, Turn};
use support::{serve, serve_with, Received, Reply};
use waymark_agent::mcp::McpHub;
use waymark_agent::{
    AgentSpec, ChatMessage, HttpConfig, ModelRequest, OpenAiProvider, Provider, ToolCall,
};
use waymark_engine::RunStatus;

/// A chat completion whose tool call carries `arguments` as given (an object here).
fn completion_with_object_arguments(arguments: Value) -> Reply {
    Reply::json(
        200,
        &json!({"id": "chatcmpl-1", "object": "chat.completion", "model": "local",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null,
                "tool_calls": [{"id": "c1", "type": "function",
                    "function": {"name": "lookup_order", "arguments": arguments}}]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5}}),
    )
}

fn provider(base_url: &str) -> Provider {
    let config = HttpConfig::new(base_url, None, Duration::from_secs(10));
    Provider::OpenAi(OpenAiProvider::new(config).expect("provider"))
}

fn request() -> ModelRequest {
    ModelRequest::new("local", vec![ChatMessage::user("Where is A-1001?")])
}

#[tokio::test]
async fn object_arguments_in_a_whole_answer_are_the_call_s_arguments() {
    let server = serve(completion_with_object_arguments(
        json!({"order_id": "A-1001"}),
    ))
    .await;
    let answer = provider(&server.base_url)
        .complete(&request(), |_: &str| {})
        .await
        .expect("an answer");
    assert_eq!(
        answer.tool_calls,
        [ToolCall::new(
            "c1",
            "lookup_order",
            json!({"order_id": "A-1001"})
        )]
    );
}

#[tokio::test]
async fn object_arguments_in_a_stream_are_the_call_s_arguments() {
    let chunk = |delta: Value, finish: Value| {
        (
            None,
            json!({"id": "c", "object": "chat.completion.chunk", "model": "local",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            .to_string(),
        )
    };
    let server = serve(Reply::sse(&[
        chunk(
            json!({"role": "assistant", "tool_calls": [{"index": 0, "id": "c1", "type": "function",
                "function": {"name": "lookup_order", "arguments": {"order_id": "A-1001"}}}]}),
            Value::Null,
        ),
        chunk(json!({}), json!("tool_calls")),
        (None, "[DONE]".to_string()),
    ]))
    .await;
    let answer = provider(&server.base_url)
        .complete(&request(), |_: &str| {})
        .await
        .expect("an answer");
    assert_eq!(
        answer.tool_calls,
        [ToolCall::new(
            "c1",
            "lookup_order",
            json!({"order_id": "A-1001"})
        )]
    );
}

#[tokio::test]
async fn object_arguments_reach_the_mcp_tool() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let outbox = tmp.path().join("outbox.jsonl").display().to_string();
    let hub = McpHub::new();
    hub.set_server(stdio_def(
        "demo-tools",
        &demo_tools_bin(),
        &["--outbox", &outbox],
        &[],
    ));
    let model = serve_with(Arc::new(|req: &Received, _| {
        if turn_index(req) == 0 {
            completion_with_object_arguments(json!({"order_id": "A-1001"}))
        } else {
            openai_reply(&Turn::answer("found it"))
        }
    }))
    .await;
    let dir = tempfile::tempdir().expect("temp dir");
    let h = AgentHarness::open(dir, Arc::new(TestDirectory::default()), hub).await;
    let spec = AgentSpec::from_toml_str(&format!(
        r#"
name = "tools-user"
instructions = "You use tools."
[model]
provider = "openai"
model = "local"
base_url = "{}"
[[tools]]
kind = "mcp"
server = "demo-tools"
tools = ["lookup_order"]
"#,
        model.base_url
    ))
    .expect("spec");
    let run = h.start(&spec, "Where is A-1001?").await;
    let rec = h.settled(run).await;
    assert_eq!(rec.status, RunStatus::Succeeded, "{:?}", rec.error);
    let trace = h.trace(run).await;
    let step = trace
        .steps
        .iter()
        .find(|s| s.step.key.as_str() == "tool/1.1")
        .expect("the tool step");
    let output = step.step.output.clone().unwrap_or_default().to_string();
    assert!(output.contains("A-1001"), "{output}");
    assert!(step.step.error.is_none(), "{:?}", step.step.error);
    // What the model read back is the order, not a schema complaint.
    let told = model.requests()[1].body["messages"][3]["content"].to_string();
    assert!(told.contains("Ada Lovelace"), "{told}");
}
