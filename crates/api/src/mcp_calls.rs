//! Calls made by hand (the Tools page's try-it form) as they happen: started, followed while
//! the server reports progress or asks a question, answered in place, cancelled on the wire.
//! A follower long-polls `mcp_call_status` with the last version it saw.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{oneshot, watch};
use waymark_agent::mcp::{CallInteraction, CallOptions, ToolProgress};

use crate::commands::OkResponse;
use crate::mcp::{McpCallRequest, McpCallResponse};
use crate::questions::ElicitationAnswer;
use crate::{Api, ApiError, ErrorCode};

/// Calls by hand in flight at once, in one process.
pub const MAX_HAND_CALLS: usize = 16;
/// Finished calls kept for their followers, newest first.
const KEPT_FINISHED: usize = 32;
/// Progress notifications kept per call (the latest ones).
const KEPT_PROGRESS: usize = 100;
/// The longest a status request waits for news.
const MAX_WAIT_MS: u64 = 30_000;
/// A hand call gives up after this long, however long a person takes to answer.
const HAND_CALL_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpCallStartResponse {
    /// Names the call in `mcp_call_status`, `mcp_call_answer` and `mcp_call_cancel`.
    pub call_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpCallStatusRequest {
    pub call_id: String,
    /// The last version the caller saw: the answer waits until there is a newer one.
    #[serde(default)]
    #[ts(optional)]
    pub seen: Option<u64>,
    /// How long to wait for news, in ms (at most 30 000; none: answer at once).
    #[serde(default)]
    #[ts(optional)]
    pub wait_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpCallIdRequest {
    pub call_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpCallAnswerRequest {
    pub call_id: String,
    pub question_id: String,
    pub action: ElicitationAnswer,
    #[serde(default)]
    #[ts(optional, type = "Record<string, unknown>")]
    pub content: Option<Value>,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum HandCallState {
    Running,
    /// The server asked a question; the call waits for `mcp_call_answer`.
    Asking,
    Succeeded,
    Failed,
    Cancelled,
}

/// A server's question during a hand call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct HandCallQuestion {
    pub id: String,
    /// The `elicitation/create` params as the server sent them (untrusted).
    #[ts(type = "Record<string, unknown>")]
    pub params: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpCallStatus {
    pub call_id: String,
    pub server: String,
    pub tool: String,
    /// Grows with every change: pass it back as `seen` to wait for the next.
    pub version: u64,
    pub state: HandCallState,
    /// The latest progress notifications, oldest first.
    pub progress: Vec<ToolProgress>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub question: Option<HandCallQuestion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub result: Option<McpCallResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub error: Option<ApiError>,
}

/// The hand calls of one process.
#[derive(Default)]
pub(crate) struct HandCalls {
    calls: Mutex<Vec<Arc<HandCall>>>,
}

struct HandCall {
    id: String,
    server: String,
    tool: String,
    state: Mutex<CallState>,
    version: watch::Sender<u64>,
    cancel: Mutex<Option<oneshot::Sender<()>>>,
}

struct CallState {
    state: HandCallState,
    progress: Vec<ToolProgress>,
    question: Option<(HandCallQuestion, oneshot::Sender<Value>)>,
    result: Option<McpCallResponse>,
    error: Option<ApiError>,
}

impl HandCall {
    fn change(&self, f: impl FnOnce(&mut CallState)) {
        {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut s);
        }
        self.version.send_modify(|v| *v += 1);
    }

    fn status(&self) -> McpCallStatus {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        McpCallStatus {
            call_id: self.id.clone(),
            server: self.server.clone(),
            tool: self.tool.clone(),
            version: *self.version.borrow(),
            state: s.state,
            progress: s.progress.clone(),
            question: s.question.as_ref().map(|(q, _)| q.clone()),
            result: s.result.clone(),
            error: s.error.clone(),
        }
    }

    fn finished(&self) -> bool {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        matches!(
            s.state,
            HandCallState::Succeeded | HandCallState::Failed | HandCallState::Cancelled
        )
    }
}

/// Puts the server's questions to whoever follows the call.
struct HandQuestions {
    call: Arc<HandCall>,
}

impl CallInteraction for HandQuestions {
    fn elicit(
        &self,
        params: Value,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Value> + Send + 'static>> {
        let call = self.call.clone();
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            let id = uuid::Uuid::now_v7().to_string();
            call.change(|s| {
                s.state = HandCallState::Asking;
                s.question = Some((HandCallQuestion { id, params }, tx));
            });
            // A question nobody answers before the call ends is cancelled with it.
            let answer = rx.await.unwrap_or_else(|_| json!({ "action": "cancel" }));
            call.change(|s| {
                s.state = HandCallState::Running;
                s.question = None;
            });
            answer
        })
    }
}

impl Api {
    /// Starts a call by hand and returns at once; follow it with `mcp_call_status`.
    pub async fn mcp_call_start(
        &self,
        req: McpCallRequest,
    ) -> Result<McpCallStartResponse, ApiError> {
        self.tools_of(&req.server).await?;
        let arguments = self.checked_arguments(&req).await?;
        let calls = self.hand_calls();
        let call = {
            let mut list = calls.calls.lock().unwrap_or_else(|e| e.into_inner());
            if list.iter().filter(|c| !c.finished()).count() >= MAX_HAND_CALLS {
                return Err(ApiError::new(
                    ErrorCode::Conflict,
                    format!("{MAX_HAND_CALLS} calls by hand are running already; wait for one or cancel it"),
                ));
            }
            let call = Arc::new(HandCall {
                id: uuid::Uuid::now_v7().to_string(),
                server: req.server.clone(),
                tool: req.tool.clone(),
                state: Mutex::new(CallState {
                    state: HandCallState::Running,
                    progress: Vec::new(),
                    question: None,
                    result: None,
                    error: None,
                }),
                version: watch::Sender::new(0),
                cancel: Mutex::new(None),
            });
            list.insert(0, call.clone());
            // Forget the oldest finished calls beyond what followers may still read.
            let mut finished = 0;
            list.retain(|c| {
                if !c.finished() {
                    return true;
                }
                finished += 1;
                finished <= KEPT_FINISHED
            });
            call
        };
        let (cancel_tx, cancel_rx) = oneshot::channel();
        *call.cancel.lock().unwrap_or_else(|e| e.into_inner()) = Some(cancel_tx);
        let api = self.clone();
        let running = call.clone();
        tokio::spawn(async move {
            let progress_call = running.clone();
            let options = CallOptions {
                timeout: Some(HAND_CALL_TIMEOUT),
                progress: Some(Arc::new(move |p: ToolProgress| {
                    progress_call.change(|s| {
                        s.progress.push(p);
                        let extra = s.progress.len().saturating_sub(KEPT_PROGRESS);
                        s.progress.drain(..extra);
                    });
                })),
                interaction: Some(Arc::new(HandQuestions {
                    call: running.clone(),
                })),
                keep_invalid_output: true,
                ..CallOptions::default()
            };
            let hub = api.app().hub();
            let call = hub.call_tool(&running.server, &running.tool, arguments, options);
            // Dropping the call on cancel sends `notifications/cancelled` to the server.
            let outcome = tokio::select! {
                out = call => Some(out),
                _ = cancel_rx => None,
            };
            running.change(|s| {
                s.question = None;
                match outcome {
                    None => s.state = HandCallState::Cancelled,
                    Some(Ok(out)) => {
                        s.state = HandCallState::Succeeded;
                        s.result = Some(McpCallResponse::from_output(out));
                    }
                    Some(Err(e)) => {
                        s.state = HandCallState::Failed;
                        s.error = Some(crate::mcp_auth::hub_error(e));
                    }
                }
            });
        });
        Ok(McpCallStartResponse {
            call_id: call.id.clone(),
        })
    }

    /// Where a call by hand is; with `seen`, waits up to `wait_ms` for something newer.
    pub async fn mcp_call_status(
        &self,
        req: McpCallStatusRequest,
    ) -> Result<McpCallStatus, ApiError> {
        let call = self.hand_call(&req.call_id)?;
        if let Some(seen) = req.seen {
            let wait = Duration::from_millis(req.wait_ms.unwrap_or(0).min(MAX_WAIT_MS));
            let mut version = call.version.subscribe();
            let _ = tokio::time::timeout(wait, version.wait_for(|v| *v > seen)).await;
        }
        Ok(call.status())
    }

    /// Cancels a call by hand: the server is told (`notifications/cancelled`).
    pub async fn mcp_call_cancel(&self, req: McpCallIdRequest) -> Result<OkResponse, ApiError> {
        let call = self.hand_call(&req.call_id)?;
        let cancel = call.cancel.lock().unwrap_or_else(|e| e.into_inner()).take();
        match cancel {
            Some(tx) if !call.finished() => {
                let _ = tx.send(());
                Ok(OkResponse::ok())
            }
            _ => Err(ApiError::new(
                ErrorCode::Conflict,
                format!("call {} has already ended", req.call_id),
            )),
        }
    }

    /// Answers the question a call by hand waits on, checked against its form first.
    pub async fn mcp_call_answer(&self, req: McpCallAnswerRequest) -> Result<OkResponse, ApiError> {
        let call = self.hand_call(&req.call_id)?;
        let mut s = call.state.lock().unwrap_or_else(|e| e.into_inner());
        let asked = s
            .question
            .as_ref()
            .filter(|(q, _)| q.id == req.question_id)
            .map(|(q, _)| q.params.clone())
            .ok_or_else(|| {
                ApiError::invalid(
                    "question_id",
                    format!(
                        "call {} does not wait on question {}",
                        req.call_id, req.question_id
                    ),
                )
            })?;
        let about = json!({
            "mode": asked.get("mode").cloned().unwrap_or(json!("form")),
            "requested_schema": asked.get("requestedSchema").cloned().unwrap_or(Value::Null),
        });
        waymark_agent::app::check_elicitation_answer(&about, req.action, req.content.as_ref())
            .map_err(|m| ApiError::invalid("content", m))?;
        let mut answer = json!({ "action": req.action.as_str() });
        if let Some(content) = req.content {
            answer["content"] = content;
        }
        if let Some((_, tx)) = s.question.take() {
            let _ = tx.send(answer);
        }
        Ok(OkResponse::ok())
    }

    fn hand_call(&self, id: &str) -> Result<Arc<HandCall>, ApiError> {
        self.hand_calls()
            .calls
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|c| c.id == id)
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::NotFound,
                    format!("no call by hand {id} (calls are kept only while this process runs)"),
                )
            })
    }
}
