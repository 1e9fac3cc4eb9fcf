//! No error text ever contains the API key: every error path of both HTTP providers is forced
//! with a recognisable fake key, including servers that echo the key back.

use crate::support;

use std::time::Duration;

use serde_json::json;
use support::{closed_base_url, serve, Reply};
use waymark_agent::{
    AnthropicProvider, ChatMessage, HttpConfig, ModelRequest, OpenAiProvider, Provider,
    ProviderError, Secret,
};

const KEY: &str = "sk-FAKE-canary-7f3a9c51";

fn replies() -> Vec<Reply> {
    let echo = format!("Incorrect API key provided: {KEY}");
    let mut stalled = Reply::sse(&[(None, json!({"choices": []}).to_string())]);
    stalled.hang_after = true;
    vec![
        Reply::json(
            401,
            &json!({"error": {"message": echo, "type": "authentication_error"}}),
        ),
        Reply::json(403, &json!({"error": {"message": echo, "type": KEY}})),
        Reply::json(400, &json!({"error": {"message": echo, "code": KEY}})),
        Reply::json(
            400,
            &json!({"error": {"message": format!("context length exceeded {KEY}")}}),
        ),
        Reply::json(429, &json!({"error": {"message": echo}})).header("retry-after", "1"),
        Reply::raw(500, "text/plain", &echo),
        Reply::raw(529, "text/html", &format!("<p>{echo}</p>")),
        Reply::raw(200, "application/json", &format!("{{\"broken\": \"{KEY}")),
        Reply::json(200, &json!({"unexpected": KEY})),
        Reply::sse(&[(None, format!("{{\"garbage {KEY}"))]),
        Reply::sse(&[(None, json!({"error": {"message": echo}}).to_string())]),
        Reply::sse(&[(
            Some("error"),
            json!({"type": "error", "error": {"type": "overloaded_error", "message": echo}})
                .to_string(),
        )]),
        Reply::sse(&[(None, format!("cut short {KEY}"))]),
        Reply::silent(),
        stalled,
    ]
}

fn providers(base_url: &str, key: &str) -> Vec<Result<Provider, ProviderError>> {
    let config = HttpConfig::new(base_url, Some(Secret::new(key)), Duration::from_millis(400));
    vec![
        OpenAiProvider::new(config.clone()).map(Provider::OpenAi),
        AnthropicProvider::new(config).map(Provider::Anthropic),
    ]
}

fn assert_clean(what: &str, e: &ProviderError) {
    let step = e.to_step_error();
    let texts = [
        e.to_string(),
        format!("{e:?}"),
        step.message.clone(),
        format!("{step:?}"),
        serde_json::to_string(&step).unwrap(),
    ];
    for text in texts {
        assert!(!text.contains(KEY), "{what}: the key leaked into {text}");
    }
}

async fn force(what: &str, provider: &Provider) {
    let request = ModelRequest::new("m", vec![ChatMessage::user("hi")]);
    match provider.complete(&request, |_: &str| {}).await {
        Ok(r) => panic!("{what}: expected an error, got {r:?}"),
        Err(e) => assert_clean(what, &e),
    }
}

#[tokio::test]
async fn no_error_text_contains_the_key() {
    let mut kinds = Vec::new();
    for (i, reply) in replies().into_iter().enumerate() {
        let server = serve(reply).await;
        for provider in providers(&server.base_url, KEY) {
            let provider = provider.unwrap();
            assert!(!format!("{provider:?}").contains(KEY));
            let what = format!("reply {i} via {}", provider.kind());
            let request = ModelRequest::new("m", vec![ChatMessage::user("hi")]);
            let e = provider.complete(&request, |_: &str| {}).await.unwrap_err();
            assert_clean(&what, &e);
            if i == 0 {
                // Scrubbed, not dropped: the rest of the server's message is still there.
                assert!(
                    e.to_string().contains("Incorrect API key provided: ***"),
                    "{e}"
                );
            }
            kinds.push(e.to_step_error().kind);
        }
    }
    // The replies did reach every class they were meant to.
    for kind in [
        "unauthorized",
        "forbidden",
        "bad_request",
        "context_length",
        "http_429",
        "http_500",
        "overloaded",
        "invalid_response",
        "timeout",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} in {kinds:?}");
    }

    // Credentials in the base URL stay out of connection errors.
    let closed = closed_base_url()
        .await
        .replace("http://", &format!("http://user:{KEY}@"));
    for provider in providers(&closed, KEY) {
        let provider = provider.unwrap();
        force(&format!("connection via {}", provider.kind()), &provider).await;
    }
}

#[tokio::test]
async fn a_key_that_cannot_be_a_header_is_a_config_error_without_the_key() {
    let bad = format!("{KEY}\n");
    for provider in providers("http://127.0.0.1:9/v1", &bad) {
        let provider = provider.unwrap();
        let request = ModelRequest::new("m", vec![ChatMessage::user("hi")]);
        let e = provider.complete(&request, |_: &str| {}).await.unwrap_err();
        assert_eq!(e.to_step_error().kind, "config");
        assert_clean("bad header", &e);
    }
    let e = OpenAiProvider::new(HttpConfig::new(
        format!("ftp://{KEY}@host"),
        None,
        Duration::from_secs(1),
    ))
    .unwrap_err();
    assert_eq!(e.to_step_error().kind, "config");
    assert_clean("bad base URL", &e);
}
