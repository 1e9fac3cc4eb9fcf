//! The agent builder against a loopback OpenAI server (and the scripted provider): what the
//! model is sent, a valid draft, a bad answer repaired, and answers that never become valid.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::agents::{openai_reply, Turn};
use support::{serve_with, Received, Server};
use waymark_agent::builder::{draft_agent, BuilderError};
use waymark_agent::mcp::{McpTool, ToolAnnotations};
use waymark_agent::spec::{ToolRef, ToolSelection};
use waymark_agent::{HttpConfig, OpenAiProvider, Provider, ScriptedProvider};

fn tool(name: &str, description: &str, annotations: ToolAnnotations) -> McpTool {
    McpTool {
        name: name.into(),
        title: None,
        description: description.into(),
        input_schema: json!({"type": "object", "properties": {"order_id": {"type": "string"}}}),
        annotations,
    }
}

fn servers() -> Vec<(String, Vec<McpTool>)> {
    vec![
        (
            "demo-tools".into(),
            vec![
                tool(
                    "lookup_order",
                    "Looks an order up by id.",
                    ToolAnnotations {
                        read_only: Some(true),
                        ..Default::default()
                    },
                ),
                tool(
                    "send_email",
                    "Sends an email to a customer.",
                    ToolAnnotations {
                        destructive: Some(true),
                        ..Default::default()
                    },
                ),
            ],
        ),
        (
            "files".into(),
            vec![tool(
                "read_file",
                "Reads a file.",
                ToolAnnotations {
                    read_only: Some(true),
                    ..Default::default()
                },
            )],
        ),
    ]
}

const DESCRIPTION: &str = "Answers customers' questions about their orders and emails them.";

fn draft_json(tools: Value) -> String {
    json!({
        "name": "support-agent",
        "description": "Answers order questions.",
        "instructions": "Look the order up with lookup_order, then answer. Email with send_email.",
        "model": {"provider": "openai", "model": "gpt-4o-mini"},
        "tools": [{"kind": "mcp", "server": "demo-tools", "tools": tools}],
        "tool_overrides": {"send_email": {"needs_approval": true}}
    })
    .to_string()
}

fn valid() -> String {
    draft_json(json!(["lookup_order", "send_email"]))
}

/// Answers the `n`th request with `answers[n]` (the last one after that).
async fn model_answering(answers: Vec<String>) -> Server {
    serve_with(Arc::new(move |_: &Received, n: usize| {
        openai_reply(&Turn::answer(&answers[n.min(answers.len() - 1)]))
    }))
    .await
}

fn openai(server: &Server) -> Provider {
    let config = HttpConfig::new(server.base_url.clone(), None, Duration::from_secs(10));
    Provider::OpenAi(OpenAiProvider::new(config).expect("provider"))
}

fn messages(r: &Received) -> Vec<Value> {
    r.body["messages"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_valid_draft_and_the_request_holds_the_servers_tools() {
    let fenced = format!("Here it is:\n```json\n{}\n```", valid());
    let server = model_answering(vec![fenced]).await;
    let draft = draft_agent(&openai(&server), "gpt-4o", DESCRIPTION, &servers(), 2)
        .await
        .expect("draft");
    assert_eq!(draft.repairs, 0);
    assert_eq!(draft.spec.name, "support-agent");
    assert_eq!(
        draft.spec.tools,
        vec![ToolRef::Mcp {
            server: "demo-tools".into(),
            tools: ToolSelection::Named(vec!["lookup_order".into(), "send_email".into()]),
        }]
    );
    assert!(draft.spec.needs_approval("send_email"));

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let body = &requests[0].body;
    assert_eq!(body["model"], "gpt-4o");
    let sent = messages(&requests[0]);
    assert_eq!(sent[0]["role"], "system");
    let system = sent[0]["content"].as_str().unwrap_or("");
    assert!(
        system.contains("instructions") && system.contains("tool_overrides"),
        "{system}"
    );
    let user = sent[1]["content"].as_str().unwrap_or("");
    for expected in [
        DESCRIPTION,
        "demo-tools",
        "lookup_order",
        "send_email",
        "files",
        "read_file",
        "destructive",
        "read-only",
        "at_most_once",
        "order_id",
    ] {
        assert!(user.contains(expected), "no {expected} in: {user}");
    }
}

#[tokio::test]
async fn an_unknown_tool_is_sent_back_and_repaired() {
    let wrong = draft_json(json!(["lookup_order", "send_email", "delete_everything"]));
    let server = model_answering(vec![wrong.clone(), valid()]).await;
    let draft = draft_agent(&openai(&server), "gpt-4o", DESCRIPTION, &servers(), 2)
        .await
        .expect("draft");
    assert_eq!(draft.repairs, 1);
    assert_eq!(draft.spec.name, "support-agent");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    // The second request holds the first answer and what was wrong with it.
    let second = messages(&requests[1]);
    assert_eq!(second.len(), 4);
    assert_eq!(second[2]["role"], "assistant");
    assert_eq!(second[2]["content"], wrong.as_str());
    let repair = second[3]["content"].as_str().unwrap_or("");
    assert!(
        repair.contains("delete_everything") && repair.contains("lookup_order, send_email"),
        "{repair}"
    );
}

#[tokio::test]
async fn broken_json_is_sent_back_and_repaired() {
    let server = model_answering(vec!["{\"name\": \"support-agent\",".into(), valid()]).await;
    let draft = draft_agent(&openai(&server), "gpt-4o", DESCRIPTION, &servers(), 1)
        .await
        .expect("draft");
    assert_eq!(draft.repairs, 1);
    assert_eq!(server.requests().len(), 2);
    let repair = messages(&server.requests()[1])[3]["content"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(repair.contains("not one JSON object"), "{repair}");
}

#[tokio::test]
async fn answers_that_stay_invalid_are_rejected_after_max_repairs() {
    let mut bad: Value = serde_json::from_str(&valid()).unwrap();
    bad["tools"][0]["server"] = json!("github");
    bad["name"] = json!("Support Agent!");
    let server = model_answering(vec![bad.to_string()]).await;
    let err = draft_agent(&openai(&server), "gpt-4o", DESCRIPTION, &servers(), 2)
        .await
        .unwrap_err();
    assert_eq!(
        server.requests().len(),
        3,
        "the first answer and two repairs"
    );
    let BuilderError::Invalid {
        problems, repairs, ..
    } = &err
    else {
        panic!("not Invalid: {err}");
    };
    assert_eq!(*repairs, 2);
    assert!(
        problems.iter().any(|p| p.starts_with("name")),
        "{problems:?}"
    );
    let text = err.to_string();
    assert!(text.contains("after 2 repair"), "{text}");
    // The spec's own rules come first; the server is checked once the spec is valid.
    let fixed_name = {
        let mut v = bad.clone();
        v["name"] = json!("support-agent");
        v.to_string()
    };
    let server = model_answering(vec![fixed_name]).await;
    let err = draft_agent(&openai(&server), "gpt-4o", DESCRIPTION, &servers(), 0)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no MCP server named \"github\"") && err.contains("demo-tools, files"),
        "{err}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_scripted_provider_drafts_and_repairs_too() {
    let unknown_override = {
        let mut v: Value = serde_json::from_str(&valid()).unwrap();
        v["tool_overrides"]["send_mail"] = json!({"needs_approval": true});
        v.to_string()
    };
    let mut without_model: Value = serde_json::from_str(&valid()).unwrap();
    without_model.as_object_mut().unwrap().remove("model");
    without_model["tool_overrides"] = json!({});
    let script = ScriptedProvider::from_value(json!({"turns": [
        {"text": unknown_override},
        {"text": without_model.to_string()}
    ]}))
    .expect("script");
    let draft = draft_agent(
        &Provider::Scripted(script),
        "any",
        DESCRIPTION,
        &servers(),
        3,
    )
    .await
    .expect("draft");
    assert_eq!(draft.repairs, 1);
    assert_eq!(draft.spec.model.model, "gpt-4o-mini");
    let notes = draft.notes.join("\n");
    assert!(notes.contains("model:"), "{notes}");
    assert!(
        notes.contains("send_email") && notes.contains("approval"),
        "{notes}"
    );
    assert!(!notes.contains("lookup_order"), "{notes}");

    let empty = draft_agent(
        &Provider::Scripted(ScriptedProvider::new(vec![])),
        "any",
        "  ",
        &servers(),
        1,
    )
    .await
    .unwrap_err();
    assert!(matches!(empty, BuilderError::EmptyDescription), "{empty}");
}
