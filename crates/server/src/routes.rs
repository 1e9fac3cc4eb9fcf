//! The routes: one handler serves every command of the API's command list.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use futures::StreamExt as _;
use serde_json::Value;
use waymark_api::RunId;
use waymark_api::{ApiError, ErrorCode, EventFilter};
use waymark_host::Hooks;

use crate::ServerState;

type Shared = Arc<ServerState>;

/// Everything: the API, the web app and the webhooks.
pub fn router(state: Shared) -> Router {
    let api = Router::new()
        .route("/api/v1/events", get(events))
        .route("/api/v1/{command}", post(command))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_auth));
    let hooks = state.hooks.clone();
    Router::new()
        .merge(api)
        .route("/openapi.json", get(openapi))
        .route("/api/docs", get(crate::docs::page))
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            same_site_only,
        ))
        .with_state(state)
        // After the layer, so outside it: a webhook arrives under whatever name the sender,
        // a tunnel or a proxy gives this machine, and its signature is what authenticates it.
        .merge(hooks_router(hooks))
}

/// Only `POST /hooks/{agent}`; anything else is a 404 that names nothing.
pub fn hooks_router(hooks: Arc<Hooks>) -> Router {
    Router::new()
        .route("/hooks/{agent}", post(webhook))
        .with_state(hooks)
}

/// The hooks-only listener's answer to everything but a webhook.
pub async fn hooks_only_fallback() -> Response {
    error_response(ApiError::not_found(
        "only POST /hooks/{agent} is served here",
    ))
}

fn error_response(e: ApiError) -> Response {
    let status =
        StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(e)).into_response()
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// DNS rebinding and cross-site requests are refused before anything else runs.
async fn same_site_only(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let refused = if !s.auth.host_ok(header_str(headers, header::HOST)) {
        "this server answers only to its own address (Host header refused)"
    } else if !s.auth.origin_ok(header_str(headers, header::ORIGIN)) {
        "requests from other sites are refused (Origin header)"
    } else {
        return next.run(req).await;
    };
    let body = ApiError::new(ErrorCode::Unauthorized, refused);
    (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
}

async fn require_auth(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    if !s.auth.bearer_ok(header_str(headers, header::AUTHORIZATION)) {
        // One fixed answer: nothing about this machine (paths, names) to whoever asks.
        return error_response(ApiError::new(
            ErrorCode::Unauthorized,
            "missing or wrong token: send Authorization: Bearer <token>",
        ));
    }
    next.run(req).await
}

async fn command(State(s): State<Shared>, Path(name): Path<String>, body: Bytes) -> Response {
    let request: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return error_response(ApiError::new(
                    ErrorCode::InvalidInput,
                    format!("the body is not JSON: {e}"),
                ))
            }
        }
    };
    match s.api.call(&name, request).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => error_response(e),
    }
}

/// `POST /hooks/{agent}`: authenticated by the trigger's own secret, never the API token.
async fn webhook(
    State(hooks): State<Arc<Hooks>>,
    Path(agent): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
        .collect();
    let answer = hooks.deliver(&agent, &pairs, &body).await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(answer.body)).into_response()
}

async fn openapi() -> Response {
    axum::Json(waymark_api::openapi::document(env!("CARGO_PKG_VERSION"))).into_response()
}

/// `GET /api/v1/events[?run=ID]`: SSE; `id:` is the run's or the global sequence number, and
/// a reconnect with `Last-Event-ID` gets exactly what it missed.
async fn events(State(s): State<Shared>, headers: HeaderMap, req: Request) -> Response {
    let query = req.uri().query().unwrap_or("");
    let mut run: Option<RunId> = None;
    let mut after: i64 = 0;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "run" => match RunId::parse(v) {
                Ok(id) => run = Some(id),
                Err(e) => return error_response(ApiError::invalid("run", e.to_string())),
            },
            "after" => match v.parse() {
                Ok(n) => after = n,
                Err(_) => return error_response(ApiError::invalid("after", "not a number")),
            },
            _ => {}
        }
    }
    if let Some(last) = header_str(&headers, header::HeaderName::from_static("last-event-id")) {
        match last.trim().parse() {
            Ok(n) => after = n,
            Err(_) => {
                return error_response(ApiError::invalid("Last-Event-ID", "not a sequence number"))
            }
        }
    }
    // Each stream holds a slot until it ends; past the cap, 503 rather than an unbounded pile.
    let Ok(slot) = s.streams.clone().try_acquire_owned() else {
        return error_response(ApiError::new(
            ErrorCode::Unavailable,
            "too many event streams are open; try again",
        ));
    };
    let sub = match s.api.subscribe(EventFilter::of(run), after).await {
        Ok(sub) => sub,
        Err(e) => return error_response(e),
    };
    let stopped = s.stop.clone().cancelled_owned();
    let stream = futures::stream::unfold((sub, slot), move |(mut sub, slot)| async move {
        let event = sub.next().await.ok()?;
        let id = sub.position(&event);
        let sse = SseEvent::default()
            .id(id.to_string())
            .json_data(&event)
            .unwrap_or_else(|_| SseEvent::default().id(id.to_string()).data("{}"));
        Some((Ok::<_, std::convert::Infallible>(sse), (sub, slot)))
    })
    // The server's stop ends the stream, so an open stream never holds the stop open.
    .take_until(stopped);
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Every other GET is the web app's (`ui/dist`).
async fn fallback(State(s): State<Shared>, req: Request) -> Response {
    if req.method() != axum::http::Method::GET {
        return error_response(ApiError::not_found(format!(
            "no route {} {}",
            req.method(),
            req.uri().path()
        )));
    }
    crate::webapp::serve_file(&s.ui_dir, req.uri().path()).await
}
