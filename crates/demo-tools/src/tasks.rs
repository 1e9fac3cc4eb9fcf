//! Tasks (the `io.modelcontextprotocol/tasks` extension, SEP-2663, as rmcp 3.11 models it):
//! `build_report` answers a call that declared the extension with a task handle at once and
//! does the work in the background; the client polls `tasks/get` (status message
//! "step k of N", then the result inline) and may `tasks/cancel` it.
//!
//! Tasks live in this process's memory ([`TaskBook`], shared by every connection), so over
//! Streamable HTTP they outlive the client that started them: a client that is killed and
//! restarted can poll its task again. `POST /admin/expire-tasks` drops them all, after which
//! `tasks/get` answers -32602 (unknown task) as for an expired one.
//!
//! The 2025-11-25 experimental form is not served because rmcp 3.11 cannot carry it: its
//! `CallToolRequestParams` has no `task` field and its `ClientCapabilities` no `tasks` (serde
//! drops both before a handler sees them), `Tool` has no `execution.taskSupport`, a task
//! handle always has the SEP-2663 shape, and `tasks/result` / `tasks/list` are no requests.

use std::sync::Mutex;
use std::time::Duration;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResponse, CallToolResult, CreateTaskResult, DetailedTask, InputResponses,
    ProgressNotificationParam, Task,
};
use rmcp::service::RequestContext;
use rmcp::task_manager::{TaskContext, TaskExit, TaskFuture, TaskManager, TaskOptions};
use rmcp::{tool, tool_router, ErrorData, Peer, RoleServer};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::interactive::tool_error;
use crate::server::{DemoTools, SlowReport, MAX_REPORT_STEPS};

/// `build_report` waits this long per step unless the call asks for another.
pub const DEFAULT_BUILD_STEP_MS: u64 = 200;
/// The longest step `build_report` takes.
pub const MAX_BUILD_STEP_MS: u64 = 60_000;
/// How often a client should poll a task.
pub const POLL_INTERVAL_MS: u64 = 200;
/// How long a task is kept (from creation); rmcp fails a task still running then.
pub const TASK_TTL_MS: u64 = 3_600_000;

/// Every task of the process: rmcp's [`TaskManager`] runs and answers them; the list beside
/// it remembers which tool each came from and whether it was cancelled, for `/admin/tasks`.
#[derive(Default)]
pub struct TaskBook {
    manager: TaskManager,
    records: Mutex<Vec<TaskRecord>>,
}

struct TaskRecord {
    id: String,
    tool: String,
    cancel_requested: bool,
}

/// One task as `GET /admin/tasks` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct TaskSummary {
    pub id: String,
    pub tool: String,
    /// working, input_required, completed, failed or cancelled.
    pub status: String,
    /// Whether `tasks/cancel` was received for it.
    pub cancelled: bool,
    pub status_message: Option<String>,
}

impl std::fmt::Debug for TaskBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskBook")
            .field("tasks", &self.records().len())
            .finish()
    }
}

impl TaskBook {
    fn records(&self) -> std::sync::MutexGuard<'_, Vec<TaskRecord>> {
        // A panic elsewhere while holding the lock leaves a list that is still whole.
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts `work` as a task of `tool`; it can be polled once this returns.
    fn start<W, F>(&self, tool: &str, options: TaskOptions, work: W) -> Task
    where
        W: FnOnce(TaskContext) -> F,
        F: std::future::Future<Output = Result<CallToolResult, TaskExit>> + Send + 'static,
    {
        let task = self
            .manager
            .spawn(options, |context| -> TaskFuture { Box::pin(work(context)) });
        self.records().push(TaskRecord {
            id: task.task_id.clone(),
            tool: tool.to_owned(),
            cancel_requested: false,
        });
        tracing::info!(task_id = %task.task_id, %tool, "task created");
        task
    }

    /// `tasks/get`; an unknown or expired id is -32602.
    pub fn get(&self, task_id: &str) -> Result<DetailedTask, ErrorData> {
        self.manager.get_task(task_id)
    }

    /// `tasks/cancel`: cooperative, the work stops at its next step.
    pub fn cancel(&self, task_id: &str) -> Result<(), ErrorData> {
        self.manager.cancel_task(task_id)?;
        if let Some(record) = self.records().iter_mut().find(|r| r.id == task_id) {
            record.cancel_requested = true;
        }
        tracing::info!(%task_id, "task cancel requested");
        Ok(())
    }

    /// `tasks/update`: answers to what a task asks (`build_report` with `ask_title`); answers
    /// to keys that are not outstanding are ignored, as the spec says; an unknown id is an
    /// error.
    pub fn update(&self, task_id: &str, responses: InputResponses) -> Result<(), ErrorData> {
        self.manager.update_task(task_id, responses)
    }

    /// Every task still known, oldest first.
    pub fn list(&self) -> Vec<TaskSummary> {
        let mut records = self.records();
        // Tasks rmcp dropped after their TTL leave the list too.
        records.retain(|r| self.manager.get_task(&r.id).is_ok());
        records
            .iter()
            .filter_map(|record| {
                let task = self.manager.get_task(&record.id).ok()?;
                let status = serde_json::to_value(task.status())
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                Some(TaskSummary {
                    id: record.id.clone(),
                    tool: record.tool.clone(),
                    status,
                    cancelled: record.cancel_requested,
                    status_message: task.task.status_message,
                })
            })
            .collect()
    }

    /// Drops every task (running ones are stopped); returns how many there were.
    pub fn expire_all(&self) -> usize {
        let mut records = self.records();
        let count = records.len();
        self.manager.shutdown();
        records.clear();
        tracing::info!(count, "every task expired");
        count
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct BuildReportArgs {
    /// Number of steps (1 to 1000).
    pub steps: u32,
    /// Milliseconds per step (default 200, at most 60000).
    pub step_ms: Option<u64>,
    /// As a task, ask the client for the report's title (a form) after the first step: the
    /// task is `input_required` until `tasks/update` answers.
    pub ask_title: Option<bool>,
}

impl BuildReportArgs {
    fn step(&self) -> Result<Duration, String> {
        if !(1..=MAX_REPORT_STEPS).contains(&self.steps) {
            return Err(format!(
                "steps must be between 1 and {MAX_REPORT_STEPS}, got {}",
                self.steps
            ));
        }
        match self.step_ms.unwrap_or(DEFAULT_BUILD_STEP_MS) {
            ms if ms > MAX_BUILD_STEP_MS => Err(format!(
                "step_ms must be at most {MAX_BUILD_STEP_MS}, got {ms}"
            )),
            ms => Ok(Duration::from_millis(ms)),
        }
    }
}

#[tool_router(router = task_router, vis = "pub(crate)")]
impl DemoTools {
    /// Build a report step by step. Runs as a task (answered at once, polled with tasks/get)
    /// when the client declares the io.modelcontextprotocol/tasks extension; otherwise inline
    /// with a progress notification per step.
    #[tool(annotations(
        title = "Build a report",
        read_only_hint = true,
        open_world_hint = false
    ))]
    async fn build_report(
        &self,
        Parameters(args): Parameters<BuildReportArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let step = match args.step() {
            Ok(step) => step,
            Err(problem) => return Ok(tool_error(problem)),
        };
        let steps = args.steps;
        let ask_title = args.ask_title == Some(true);
        let wants_task = context
            .client_capabilities()
            .is_some_and(|caps| caps.supports_tasks());
        if !wants_task {
            let progress = context
                .meta
                .get_progress_token()
                .map(|t| (t, &context.peer));
            return Ok(match run_steps(steps, step, &context.ct, progress).await {
                Some(report) => report_result(&report).into(),
                None => tool_error("build_report cancelled"),
            });
        }
        let options = TaskOptions::new()
            .with_ttl_ms(TASK_TTL_MS)
            .with_poll_interval_ms(POLL_INTERVAL_MS)
            .with_status_message(format!("step 0 of {steps}"));
        let task = self
            .state
            .tasks
            .start("build_report", options, move |task| async move {
                let mut title = None;
                for done in 1..=steps {
                    tokio::select! {
                        _ = task.cancelled() => return Err(TaskExit::Cancelled),
                        _ = tokio::time::sleep(step) => {}
                    }
                    task.set_status_message(format!("step {done} of {steps}"));
                    if ask_title && done == 1 {
                        task.set_status_message("waiting for the report's title");
                        let answer = task.request_input("title", title_question()).await?;
                        title = Some(title_of(&answer));
                    }
                }
                Ok(match title {
                    Some(title) => report_result(&SlowReport {
                        steps_done: steps,
                        report: format!("{title}: report complete after {steps} steps"),
                    }),
                    None => report_result_of(steps),
                })
            });
        Ok(CreateTaskResult::new(task).into())
    }
}

/// The form a task asks when the call wants a title.
fn title_question() -> rmcp::model::InputRequest {
    let schema = serde_json::json!({
        "type": "object",
        "properties": {"title": {"type": "string", "title": "Report title", "maxLength": 80}},
        "required": ["title"]
    });
    // A constant: failing to parse it is a bug, not bad input.
    let schema = serde_json::from_value(schema).expect("the title form schema is valid");
    rmcp::model::InputRequest::Elicitation(rmcp::model::ElicitRequest::new(
        rmcp::model::ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: "What should the report be called?".into(),
            requested_schema: schema,
        },
    ))
}

/// The title from the client's answer; "Untitled" for a decline, a cancel or anything odd.
fn title_of(answer: &serde_json::Value) -> String {
    let accepted = answer.get("action").and_then(serde_json::Value::as_str) == Some("accept");
    answer
        .pointer("/content/title")
        .and_then(serde_json::Value::as_str)
        .filter(|t| accepted && !t.trim().is_empty())
        .map(|t| t.chars().take(80).collect())
        .unwrap_or_else(|| "Untitled".into())
}

fn report_result_of(steps: u32) -> CallToolResult {
    report_result(&SlowReport {
        steps_done: steps,
        report: format!("report complete after {steps} steps"),
    })
}

fn report_result(report: &SlowReport) -> CallToolResult {
    // Serializing a struct of a number and a string cannot fail.
    CallToolResult::structured(serde_json::to_value(report).unwrap_or_default())
}

/// Runs `steps` steps of `step` each inline, with a progress notification per step when the
/// call asked for progress. `None` if the call was cancelled first.
pub(crate) async fn run_steps(
    steps: u32,
    step: Duration,
    ct: &CancellationToken,
    progress: Option<(rmcp::model::ProgressToken, &Peer<RoleServer>)>,
) -> Option<SlowReport> {
    for done in 1..=steps {
        tokio::select! {
            _ = ct.cancelled() => return None,
            _ = tokio::time::sleep(step) => {}
        }
        if let Some((token, peer)) = &progress {
            let note = ProgressNotificationParam::new(token.clone(), f64::from(done))
                .with_total(f64::from(steps))
                .with_message(format!("step {done} of {steps}"));
            // A client that went away cannot be told; the work still finishes.
            let _ = peer.notify_progress(note).await;
        }
    }
    Some(SlowReport {
        steps_done: steps,
        report: format!("report complete after {steps} steps"),
    })
}
