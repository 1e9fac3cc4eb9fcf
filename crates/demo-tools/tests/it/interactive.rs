//! The interactive tools on 2026-07-28, over Streamable HTTP and stdio: each question comes
//! back as `input_required` and the call is retried with the answer and the echoed state
//! (driven by hand with `call_tool_once`, and once by rmcp's own `call_tool`).
#![allow(deprecated)] // sampling's types (SEP-2577)

use crate::common;

use common::asker::{
    asked, complete, first_round, model_says, retry, tool_params, AskedClient, Asker, Declares,
    Revision,
};
use common::spawn::HttpServer;
use common::{is_error, structured, text};
use rmcp::model::{
    ContextInclusion, ElicitRequestParams, ElicitResult, ElicitationAction, ErrorCode, InputRequest,
};
use rmcp::service::ServiceError;
use serde_json::{json, Value};

const NO_HTTP_ORIGIN: &str = "https://example.invalid";

fn accept(content: Value) -> ElicitResult {
    ElicitResult::new(ElicitationAction::Accept).with_content(content)
}

fn refund_args() -> Value {
    json!({"order_id": "A-1001", "amount_cents": 1250})
}

/// A retry the server must refuse with invalid_params naming requestState.
async fn refused_state(client: &AskedClient, params: rmcp::model::CallToolRequestParams) {
    match client.call_tool_once(params).await {
        Err(ServiceError::McpError(error)) => {
            assert_eq!(error.code, ErrorCode::INVALID_PARAMS, "{error:?}");
            assert!(error.message.contains("requestState"), "{error:?}");
        }
        other => panic!("expected invalid_params, got {other:?}"),
    }
}

async fn confirm_refund_rounds(client: &AskedClient) {
    let params = tool_params("confirm_refund", refund_args());
    let first = first_round(client, params.clone()).await;
    let InputRequest::Elicitation(question) = asked(&first, "confirm") else {
        panic!("a form elicitation under confirm")
    };
    let ElicitRequestParams::FormElicitationParams {
        message,
        requested_schema,
        ..
    } = question.params
    else {
        panic!("a form, not a URL")
    };
    assert_eq!(message, "Refund 12.50 on order A-1001?");
    let schema = serde_json::to_value(requested_schema).unwrap();
    assert_eq!(schema["required"], json!(["approve", "channel"]));
    assert_eq!(
        schema["properties"]["channel"]["enum"],
        json!(["email", "phone"])
    );

    // The echoed state without the answer: asked again.
    let state_only = params
        .clone()
        .with_request_state(first.request_state.clone().unwrap());
    asked(&first_round(client, state_only).await, "confirm");

    let yes = accept(json!({"approve": true, "channel": "email", "note": "sorry for the wait"}));
    let done = complete(client, retry(&params, &first, "confirm", yes)).await;
    assert_eq!(
        text(&done),
        "refund of 12.50 approved for A-1001 by channel email (note: sorry for the wait)"
    );
    assert_eq!(
        structured(&done),
        json!({"order_id": "A-1001", "amount_cents": 1250, "approved": true,
               "channel": "email", "note": "sorry for the wait"})
    );

    let no = accept(json!({"approve": false, "channel": "phone"}));
    let declined = complete(client, retry(&params, &first, "confirm", no)).await;
    assert_eq!(text(&declined), "refund declined for A-1001");
    assert!(!is_error(&declined));
    let decline = ElicitResult::new(ElicitationAction::Decline);
    let declined = complete(client, retry(&params, &first, "confirm", decline)).await;
    assert_eq!(text(&declined), "refund declined for A-1001");

    let cancel = ElicitResult::new(ElicitationAction::Cancel);
    let cancelled = complete(client, retry(&params, &first, "confirm", cancel)).await;
    assert!(is_error(&cancelled));
    assert_eq!(text(&cancelled), "the refund question was cancelled");

    let fax = accept(json!({"approve": true, "channel": "fax"}));
    let bad = complete(client, retry(&params, &first, "confirm", fax)).await;
    assert!(
        is_error(&bad) && text(&bad).contains("`channel`"),
        "{bad:?}"
    );

    // The state belongs to these arguments: another amount, or garbage, is refused.
    let other_amount = tool_params(
        "confirm_refund",
        json!({"order_id": "A-1001", "amount_cents": 99}),
    );
    let yes = accept(json!({"approve": true, "channel": "email"}));
    refused_state(client, retry(&other_amount, &first, "confirm", yes.clone())).await;
    let garbage = params
        .clone()
        .with_input_responses([("confirm".to_owned(), serde_json::to_value(&yes).unwrap())].into())
        .with_request_state("not-hex");
    refused_state(client, garbage).await;
}

async fn link_account_rounds(client: &AskedClient, origin: &str) -> String {
    let params = tool_params("link_account", json!({"service": "calendar"}));
    let first = first_round(client, params.clone()).await;
    let InputRequest::Elicitation(question) = asked(&first, "link") else {
        panic!("a URL elicitation under link")
    };
    let ElicitRequestParams::UrlElicitationParams {
        message,
        url,
        elicitation_id,
        ..
    } = question.params
    else {
        panic!("a URL, not a form")
    };
    assert_eq!(message, "Open the link to connect calendar");
    assert_eq!(url, format!("{origin}/link/{elicitation_id}"));
    assert!(!elicitation_id.is_empty());

    let linked = complete(client, retry(&params, &first, "link", accept(json!({})))).await;
    assert_eq!(text(&linked), "account for calendar linked");
    let decline = ElicitResult::new(ElicitationAction::Decline);
    let declined = complete(client, retry(&params, &first, "link", decline)).await;
    assert_eq!(text(&declined), "linking calendar declined");
    let cancel = ElicitResult::new(ElicitationAction::Cancel);
    assert!(is_error(
        &complete(client, retry(&params, &first, "link", cancel)).await
    ));
    url
}

async fn summarize_order_rounds(client: &AskedClient) {
    let params = tool_params("summarize_order", json!({"order_id": "A-1001"}));
    let first = first_round(client, params.clone()).await;
    let InputRequest::CreateMessage(question) = asked(&first, "summary") else {
        panic!("a sampling request under summary")
    };
    let question = question.params;
    assert_eq!(
        question.system_prompt.as_deref(),
        Some("You write one-sentence order summaries.")
    );
    assert_eq!(question.max_tokens, 200);
    assert_eq!(question.include_context, Some(ContextInclusion::None));
    assert_eq!(question.messages.len(), 1);
    let prompt = serde_json::to_value(&question.messages[0]).unwrap();
    let prompt = prompt["content"]["text"].as_str().unwrap().to_owned();
    assert!(
        prompt.starts_with("Summarize this order for the customer: {")
            && prompt.contains("Ada Lovelace"),
        "{prompt}"
    );

    let reply = model_says("test-model", "Ada's manual has shipped.");
    let done = complete(client, retry(&params, &first, "summary", reply)).await;
    assert_eq!(
        text(&done),
        "Summary (test-model): Ada's manual has shipped."
    );

    let failure = json!({"error": {"code": -32603, "message": "the model is offline"}});
    let failed = complete(client, retry(&params, &first, "summary", failure)).await;
    assert!(is_error(&failed));
    assert!(text(&failed).contains("the model is offline"), "{failed:?}");
}

async fn refused_without_capabilities(client: &AskedClient) {
    for (tool, args, needs) in [
        ("confirm_refund", refund_args(), "no elicitation capability"),
        (
            "link_account",
            json!({"service": "calendar"}),
            "no URL elicitation capability",
        ),
        (
            "summarize_order",
            json!({"order_id": "A-1001"}),
            "no sampling capability",
        ),
    ] {
        let result = complete(client, tool_params(tool, args)).await;
        assert!(is_error(&result), "{tool}: {result:?}");
        assert!(text(&result).contains(needs), "{tool}: {}", text(&result));
    }
}

#[tokio::test]
async fn every_question_round_trips_over_http() {
    let server = HttpServer::start(&[]).await;
    let client = Asker::new(Revision::Stateless, Declares::EVERYTHING)
        .connect_http(&server)
        .await;
    confirm_refund_rounds(&client).await;
    let url = link_account_rounds(&client, server.origin()).await;
    summarize_order_rounds(&client).await;

    // The link of the URL question is served.
    let page = common::spawn::http_client().get(&url).send().await.unwrap();
    assert!(page.status().is_success());
    assert!(page.text().await.unwrap().contains("linked"));

    // The server saw each round: 9 calls of confirm_refund, the first without answers.
    let calls = server.admin(reqwest::Method::GET, "/admin/calls").await;
    let refunds: Vec<&Value> = calls["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["tool"] == "confirm_refund")
        .collect();
    assert_eq!(refunds.len(), 9, "{calls}");
    assert_eq!(
        *refunds[0],
        json!({"tool": "confirm_refund", "input_responses": false, "task": false, "request_state": false, "cancelled": false})
    );
    assert_eq!(refunds[1]["request_state"], true);
    assert_eq!(refunds[1]["input_responses"], false);
    assert_eq!(refunds[2]["input_responses"], true);
    assert!(server
        .log()
        .contains("tools/call received tool=confirm_refund input_responses=true task=false"));
}

#[tokio::test]
async fn every_question_round_trips_over_stdio() {
    let client = Asker::new(Revision::Stateless, Declares::EVERYTHING)
        .connect_stdio()
        .await;
    confirm_refund_rounds(&client).await;
    link_account_rounds(&client, NO_HTTP_ORIGIN).await;
    summarize_order_rounds(&client).await;
}

#[tokio::test]
async fn a_client_without_the_capabilities_gets_tool_errors() {
    let server = HttpServer::start(&[]).await;
    let client = Asker::new(Revision::Stateless, Declares::NOTHING)
        .connect_http(&server)
        .await;
    refused_without_capabilities(&client).await;
    let stdio = Asker::new(Revision::Stateless, Declares::NOTHING)
        .connect_stdio()
        .await;
    refused_without_capabilities(&stdio).await;
}

#[tokio::test]
async fn rmcps_own_call_tool_answers_through_its_handler() {
    let server = HttpServer::start(&[]).await;
    let asker = Asker::new(Revision::Stateless, Declares::EVERYTHING)
        .answering(accept(json!({"approve": true, "channel": "phone"})))
        .sampling(Ok(model_says("m", "Fine.")));
    let questions = asker.questions.clone();
    let client = asker.connect_http(&server).await;
    let done = client
        .call_tool(tool_params("confirm_refund", refund_args()))
        .await
        .unwrap();
    assert_eq!(
        text(&done),
        "refund of 12.50 approved for A-1001 by channel phone"
    );
    assert_eq!(questions.lock().unwrap().len(), 1);
    let summary = client
        .call_tool(tool_params(
            "summarize_order",
            json!({"order_id": "A-1002"}),
        ))
        .await
        .unwrap();
    assert_eq!(text(&summary), "Summary (m): Fine.");
}
