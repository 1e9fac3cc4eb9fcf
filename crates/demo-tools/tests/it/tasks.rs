//! `build_report` as a task (the io.modelcontextprotocol/tasks extension on 2026-07-28) over
//! Streamable HTTP: created at once, polled to completion with `tasks/get`, cancelled,
//! outliving the client that made it, and gone after `/admin/expire-tasks`.

use crate::common;

use std::time::Duration;

use common::asker::{tool_params, AskedClient, Asker, Declares, Revision};
use common::spawn::HttpServer;
use common::{call, structured, RecordingClient};
use rmcp::model::{
    CallToolResponse, CancelTaskParams, ClientRequest, CreateTaskResult, ErrorCode, GetTaskParams,
    GetTaskResult, Request, RequestMetaObject, ServerResult, TaskPayload, TaskStatus,
};
use rmcp::service::{PeerRequestOptions, ServiceError};
use rmcp::ServiceExt;
use serde_json::{json, Value};

async fn tasks_client(server: &HttpServer) -> AskedClient {
    Asker::new(Revision::Stateless, Declares::TASKS)
        .connect_http(server)
        .await
}

async fn start(client: &AskedClient, steps: u32, step_ms: u64) -> CreateTaskResult {
    let params = tool_params("build_report", json!({"steps": steps, "step_ms": step_ms}));
    match client.call_tool_once(params).await.unwrap() {
        CallToolResponse::Task(task) => task,
        other => panic!("expected a task, got {other:?}"),
    }
}

async fn get(client: &AskedClient, id: &str) -> GetTaskResult {
    client.get_task(GetTaskParams::new(id)).await.unwrap()
}

/// Polls until the task is terminal (bounded), keeping every status message seen.
async fn poll_to_end(client: &AskedClient, id: &str) -> (GetTaskResult, Vec<String>) {
    let mut messages = Vec::new();
    for _ in 0..500 {
        let task = get(client, id).await;
        if let Some(message) = &task.task.task.status_message {
            if messages.last() != Some(message) {
                messages.push(message.clone());
            }
        }
        if task.task.status().is_terminal() {
            return (task, messages);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("task {id} did not end; saw {messages:?}")
}

fn unknown_task(result: Result<impl std::fmt::Debug, ServiceError>) {
    match result {
        Err(ServiceError::McpError(error)) => {
            assert_eq!(error.code, ErrorCode::INVALID_PARAMS, "{error:?}")
        }
        other => panic!("expected -32602 for an unknown task, got {other:?}"),
    }
}

async fn admin_task(server: &HttpServer, id: &str) -> Value {
    let tasks = server.admin(reqwest::Method::GET, "/admin/tasks").await;
    tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no task {id} in {tasks}"))
}

#[tokio::test]
async fn a_task_is_created_at_once_and_polled_to_its_result() {
    let server = HttpServer::start(&[]).await;
    let client = tasks_client(&server).await;
    let created = start(&client, 3, 30).await;
    let task = &created.task;
    assert_eq!(task.status, TaskStatus::Working);
    assert_eq!(task.poll_interval_ms, Some(200));
    assert!(task.ttl_ms.is_some());
    assert!(
        uuid::Uuid::parse_str(&task.task_id).is_ok(),
        "{}",
        task.task_id
    );

    let (done, messages) = poll_to_end(&client, &task.task_id).await;
    assert_eq!(done.task.status(), TaskStatus::Completed);
    assert_eq!(messages.last().map(String::as_str), Some("step 3 of 3"));
    let TaskPayload::Completed { result } = &done.task.payload else {
        panic!("a completed task carries its result")
    };
    assert_eq!(result["structuredContent"]["steps_done"], 3);

    let listed = admin_task(&server, &task.task_id).await;
    assert_eq!(listed["tool"], "build_report");
    assert_eq!(listed["status"], "completed");
    assert_eq!(listed["cancelled"], false);
    assert_eq!(listed["status_message"], "step 3 of 3");
    let calls = server.admin(reqwest::Method::GET, "/admin/calls").await;
    assert_eq!(calls["calls"][0]["task"], true);
}

#[tokio::test]
async fn a_cancelled_task_stops() {
    let server = HttpServer::start(&[]).await;
    let client = tasks_client(&server).await;
    let created = start(&client, 1000, 60_000).await;
    let id = created.task.task_id.clone();
    client
        .cancel_task(CancelTaskParams::new(&id))
        .await
        .unwrap();
    let (done, _) = poll_to_end(&client, &id).await;
    assert_eq!(done.task.status(), TaskStatus::Cancelled);
    let listed = admin_task(&server, &id).await;
    assert_eq!(listed["status"], "cancelled");
    assert_eq!(listed["cancelled"], true);
}

#[tokio::test]
async fn a_task_outlives_its_client_until_expired() {
    let server = HttpServer::start(&[]).await;
    let first = tasks_client(&server).await;
    let created = start(&first, 4, 50).await;
    let id = created.task.task_id.clone();
    first.cancel().await.unwrap();

    // Another client (a restarted runner) polls the same task to its end.
    let second = tasks_client(&server).await;
    let (done, _) = poll_to_end(&second, &id).await;
    assert_eq!(done.task.status(), TaskStatus::Completed);

    let long = start(&second, 1000, 60_000).await;
    let expired = server
        .admin(reqwest::Method::POST, "/admin/expire-tasks")
        .await;
    assert_eq!(expired["expired"], 2);
    unknown_task(second.get_task(GetTaskParams::new(&id)).await);
    unknown_task(
        second
            .get_task(GetTaskParams::new(&long.task.task_id))
            .await,
    );
    unknown_task(second.cancel_task(CancelTaskParams::new(&id)).await);
    let tasks = server.admin(reqwest::Method::GET, "/admin/tasks").await;
    assert_eq!(tasks["tasks"], json!([]));
}

#[tokio::test]
async fn without_the_extension_the_report_runs_inline_with_progress() {
    let server = HttpServer::start(&[]).await;
    let client = RecordingClient::with_initialize()
        .serve(server.transport(None))
        .await
        .unwrap();
    let report = call(&client, "build_report", json!({"steps": 3, "step_ms": 10})).await;
    assert_eq!(structured(&report)["steps_done"], 3);
    assert_eq!(client.service().wait_for_progress(3).await.len(), 3);
    let bad = call(&client, "build_report", json!({"steps": 0})).await;
    assert!(common::is_error(&bad));
    let tasks = server.admin(reqwest::Method::GET, "/admin/tasks").await;
    assert_eq!(tasks["tasks"], json!([]));
}

#[tokio::test]
async fn tasks_work_over_stdio_too() {
    let client = Asker::new(Revision::Stateless, Declares::TASKS)
        .connect_stdio()
        .await;
    let created = start(&client, 2, 10).await;
    let (done, _) = poll_to_end(&client, &created.task.task_id).await;
    assert_eq!(done.task.status(), TaskStatus::Completed);
}

#[tokio::test]
async fn one_call_can_ask_for_a_task_through_its_own_meta() {
    // The client's config does not declare the extension; this one request does, by replacing
    // the clientCapabilities rmcp puts in its `_meta`.
    let server = HttpServer::start(&[]).await;
    let client = Asker::new(Revision::Stateless, Declares::NOTHING)
        .connect_http(&server)
        .await;
    let mut meta = RequestMetaObject::new();
    meta.set_client_capabilities(Declares::TASKS.capabilities());
    let params = tool_params("build_report", json!({"steps": 1, "step_ms": 10}));
    let request = ClientRequest::CallToolRequest(Request::new(params.clone()));
    let options = PeerRequestOptions::no_options().with_meta(meta);
    let answer = client
        .send_request_with_option(request, options)
        .await
        .unwrap()
        .await_response()
        .await
        .unwrap();
    let ServerResult::CreateTaskResult(created) = answer else {
        panic!("expected a task, got {answer:?}")
    };
    // Polling needs the extension declared too: without it, -32021.
    match client
        .get_task(GetTaskParams::new(&created.task.task_id))
        .await
    {
        Err(ServiceError::McpError(error)) => {
            assert_eq!(error.code, ErrorCode::MISSING_REQUIRED_CLIENT_CAPABILITY)
        }
        other => panic!("expected -32021, got {other:?}"),
    }
    // The same call without the override runs inline.
    let inline = client.call_tool_once(params).await.unwrap();
    assert!(
        matches!(inline, CallToolResponse::Complete(_)),
        "{inline:?}"
    );
}

#[tokio::test]
async fn a_session_client_that_declared_the_extension_at_initialize_gets_tasks_too() {
    let server = HttpServer::start(&[]).await;
    let client = Asker::new(Revision::Session, Declares::TASKS)
        .connect_http(&server)
        .await;
    let created = start(&client, 1, 10).await;
    let (done, _) = poll_to_end(&client, &created.task.task_id).await;
    assert_eq!(done.task.status(), TaskStatus::Completed);
}
