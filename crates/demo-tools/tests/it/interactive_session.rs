//! The interactive tools on an older revision (2025-11-25, `initialize`), over stdio and
//! Streamable HTTP: the server sends `elicitation/create` or `sampling/createMessage` during
//! the call and answers from the reply; a cancelled call withdraws its question.
#![allow(deprecated)] // sampling's types (SEP-2577)

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use common::asker::{model_says, tool_params, Asker, Declares, Hold, Revision};
use common::spawn::HttpServer;
use common::{is_error, structured, text};
use rmcp::model::{ClientRequest, ElicitRequestParams, ElicitResult, ElicitationAction, Request};
use rmcp::service::PeerRequestOptions;
use rmcp::ErrorData;
use serde_json::{json, Value};

fn accept(content: Value) -> ElicitResult {
    ElicitResult::new(ElicitationAction::Accept).with_content(content)
}

fn refund() -> rmcp::model::CallToolRequestParams {
    tool_params(
        "confirm_refund",
        json!({"order_id": "A-1002", "amount_cents": 5}),
    )
}

/// What the HTTP or stdio connection of one test is.
enum Via<'a> {
    Stdio,
    Http(&'a HttpServer),
}

impl Via<'_> {
    async fn connect(&self, asker: Asker) -> common::asker::AskedClient {
        match self {
            Self::Stdio => asker.connect_stdio().await,
            Self::Http(server) => asker.connect_http(server).await,
        }
    }

    fn origin(&self) -> &str {
        match self {
            Self::Stdio => "https://example.invalid",
            Self::Http(server) => server.origin(),
        }
    }
}

async fn every_tool_asks_during_the_call(via: Via<'_>) {
    let asker = Asker::new(Revision::Session, Declares::EVERYTHING)
        .answering(accept(json!({"approve": true, "channel": "phone"})))
        .sampling(Ok(model_says("test-model", "Two items, delayed.")));
    let questions = asker.questions.clone();
    let sampling = asker.sampling_requests.clone();
    let client = via.connect(asker).await;

    let done = client.call_tool(refund()).await.unwrap();
    assert_eq!(
        text(&done),
        "refund of 0.05 approved for A-1002 by channel phone"
    );
    assert_eq!(structured(&done)["approved"], true);

    let linked = client
        .call_tool(tool_params("link_account", json!({"service": "crm"})))
        .await
        .unwrap();
    assert_eq!(text(&linked), "account for crm linked");

    let questions = questions.lock().unwrap().clone();
    assert_eq!(questions.len(), 2);
    let ElicitRequestParams::FormElicitationParams { message, .. } = &questions[0] else {
        panic!("the refund is a form: {:?}", questions[0])
    };
    assert_eq!(message, "Refund 0.05 on order A-1002?");
    let ElicitRequestParams::UrlElicitationParams {
        url,
        elicitation_id,
        message,
        ..
    } = &questions[1]
    else {
        panic!("the link is a URL: {:?}", questions[1])
    };
    assert_eq!(message, "Open the link to connect crm");
    assert_eq!(*url, format!("{}/link/{elicitation_id}", via.origin()));

    let summary = client
        .call_tool(tool_params(
            "summarize_order",
            json!({"order_id": "A-1002"}),
        ))
        .await
        .unwrap();
    assert_eq!(text(&summary), "Summary (test-model): Two items, delayed.");
    let sampling = sampling.lock().unwrap().clone();
    assert_eq!(sampling.len(), 1);
    assert_eq!(sampling[0].max_tokens, 200);
}

#[tokio::test]
async fn every_tool_asks_during_the_call_over_stdio() {
    every_tool_asks_during_the_call(Via::Stdio).await;
}

#[tokio::test]
async fn every_tool_asks_during_the_call_over_http() {
    let server = HttpServer::start(&[]).await;
    every_tool_asks_during_the_call(Via::Http(&server)).await;
    // Nothing was retried: one call each, none with answers.
    let calls = server.admin(reqwest::Method::GET, "/admin/calls").await;
    let calls = calls["calls"].as_array().unwrap().clone();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(calls.iter().all(|c| c["input_responses"] == false));
}

#[tokio::test]
async fn refusals_and_failures_of_the_client() {
    let server = HttpServer::start(&[]).await;
    let via = Via::Http(&server);
    // Forms only: the link needs the URL mode, the summary sampling.
    let asker = Asker::new(
        Revision::Session,
        Declares {
            forms: true,
            ..Declares::NOTHING
        },
    )
    .answering(ElicitResult::new(ElicitationAction::Decline));
    let client = via.connect(asker).await;
    let declined = client.call_tool(refund()).await.unwrap();
    assert_eq!(text(&declined), "refund declined for A-1002");
    let link = client
        .call_tool(tool_params("link_account", json!({"service": "crm"})))
        .await
        .unwrap();
    assert!(is_error(&link) && text(&link).contains("no URL elicitation capability"));
    let summary = client
        .call_tool(tool_params(
            "summarize_order",
            json!({"order_id": "A-1001"}),
        ))
        .await
        .unwrap();
    assert!(is_error(&summary) && text(&summary).contains("no sampling capability"));

    // No elicitation at all; and a client whose model fails.
    let asker = Asker::new(
        Revision::Session,
        Declares {
            sampling: true,
            ..Declares::NOTHING
        },
    )
    .sampling(Err(ErrorData::internal_error("the model is offline", None)));
    let client = via.connect(asker).await;
    let refused = client.call_tool(refund()).await.unwrap();
    assert_eq!(
        text(&refused),
        "this client does not take questions (no elicitation capability)"
    );
    let failed = client
        .call_tool(tool_params(
            "summarize_order",
            json!({"order_id": "A-1001"}),
        ))
        .await
        .unwrap();
    assert!(is_error(&failed));
    assert!(text(&failed).contains("the model is offline"), "{failed:?}");
    let unknown = client
        .call_tool(tool_params("summarize_order", json!({"order_id": "Z-9"})))
        .await
        .unwrap();
    assert!(is_error(&unknown));
}

async fn a_cancelled_call_withdraws_its_question(via: Via<'_>) {
    let hold = Arc::new(Hold::default());
    let asker = Asker::new(Revision::Session, Declares::EVERYTHING).holding(hold.clone());
    let client = via.connect(asker).await;
    let request = ClientRequest::CallToolRequest(Request::new(refund()));
    let call = client
        .send_request_with_option(request, PeerRequestOptions::no_options())
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), hold.asked.notified())
        .await
        .expect("the question arrived");
    call.cancel(Some("the user went away".to_owned()))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), hold.withdrawn.notified())
        .await
        .expect("the server withdrew its question");
}

#[tokio::test]
async fn a_cancelled_call_withdraws_its_question_over_stdio() {
    a_cancelled_call_withdraws_its_question(Via::Stdio).await;
}

#[tokio::test]
async fn a_cancelled_call_withdraws_its_question_over_http() {
    let server = HttpServer::start(&[]).await;
    a_cancelled_call_withdraws_its_question(Via::Http(&server)).await;
}
