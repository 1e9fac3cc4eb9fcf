//! Plain HTTP endpoints beside `/mcp` (HTTP mode only), for tests to look inside the server:
//! - `GET /admin/calls`: `{"calls": [{tool, input_responses, task, request_state, cancelled}]}`, every
//!   `tools/call` of the process in order;
//! - `GET /admin/tasks`: `{"tasks": [{id, tool, status, cancelled, status_message}]}`;
//! - `POST /admin/expire-tasks`: drops every task, answers `{"expired": N}`;
//! - `GET /link/{id}`: the page `link_account`'s URL elicitation sends the user to.
//!
//! They are test controls on a loopback server: no token is needed even in
//! protected-resource mode (only `/mcp` is the protected resource).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use serde_json::json;

use crate::server::SharedState;

pub const CALLS_PATH: &str = "/admin/calls";
pub const TASKS_PATH: &str = "/admin/tasks";
pub const EXPIRE_TASKS_PATH: &str = "/admin/expire-tasks";

/// The admin and link routes over the process's shared state.
pub fn routes(state: Arc<SharedState>) -> Router {
    Router::new()
        .route(CALLS_PATH, get(calls))
        .route(TASKS_PATH, get(tasks))
        .route(EXPIRE_TASKS_PATH, post(expire_tasks))
        .route("/link/{id}", get(link_page))
        .with_state(state)
}

async fn calls(State(state): State<Arc<SharedState>>) -> Response {
    json_response(&json!({ "calls": state.calls.snapshot() }))
}

async fn tasks(State(state): State<Arc<SharedState>>) -> Response {
    json_response(&json!({ "tasks": state.tasks.list() }))
}

async fn expire_tasks(State(state): State<Arc<SharedState>>) -> Response {
    json_response(&json!({ "expired": state.tasks.expire_all() }))
}

async fn link_page(Path(id): Path<String>) -> Html<String> {
    tracing::info!(elicitation_id = %id, "link page opened");
    // The id comes from the URL: keep only characters that cannot break the page.
    let id: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    Html(format!(
        "<!doctype html><html><head><title>linked</title></head>\
         <body><p>linked</p><p>{id}</p></body></html>"
    ))
}

/// axum's `Json` needs a feature this crate does not build; the body is the same.
fn json_response(value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => ([(CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
