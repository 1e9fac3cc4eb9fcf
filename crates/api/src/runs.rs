//! Runs: start, list, inspect, and every action a person takes on a run.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use waymark_engine as engine;
use waymark_engine::{RunFilter, RunRecord};

use crate::commands::OkResponse;
use crate::ids::{RunId, StepKey};
use crate::views::{input_text, RunStatus, RunView, StepError, StepView, ToolCallView};
use crate::{Api, ApiError};

const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 500;
/// Deeper pages go by cursor: an offset makes SQLite step over every row before it.
const MAX_OFFSET: usize = 100_000;
const DEFAULT_STEP_PAGE: usize = 200;
const MAX_STEP_PAGE: usize = 5_000;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsStartRequest {
    pub agent: String,
    pub input: String,
    /// MCP resources and prompts to append to the input, read when the run starts.
    #[serde(default)]
    #[ts(optional)]
    pub attach: Option<Vec<crate::mcp_resources::RunAttachment>>,
    /// A second start with the same key returns the first run.
    #[serde(default)]
    #[ts(optional)]
    pub idempotency_key: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct RunIdResponse {
    pub run_id: RunId,
}

#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct RunsListRequest {
    #[serde(default)]
    #[ts(optional)]
    pub status: Option<RunStatus>,
    /// Only runs of this agent.
    #[serde(default)]
    #[ts(optional)]
    pub agent: Option<String>,
    /// Only runs of this durable function (`agent` for agent runs).
    #[serde(default)]
    #[ts(optional)]
    pub function: Option<String>,
    /// Case-insensitive text the run's input or agent name contains.
    #[serde(default)]
    #[ts(optional)]
    pub search: Option<String>,
    /// Include child runs (sub-agents); by default only top-level runs.
    #[serde(default)]
    pub include_children: bool,
    /// Where the previous page ended (its `next_cursor`): the next page follows it. Stable
    /// while runs are added; prefer it to `offset`.
    #[serde(default)]
    #[ts(optional)]
    pub cursor: Option<String>,
    /// Runs to skip (paging), newest first; counted after the cursor when both are given.
    #[serde(default)]
    #[schemars(range(max = 1_000_000_000))]
    pub offset: usize,
    /// At most this many (default 50, at most 500).
    #[serde(default)]
    #[ts(optional)]
    pub limit: Option<usize>,
}

/// A run as listed: no payloads, just what a list shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct RunSummary {
    pub id: RunId,
    /// The agent's name for agent runs, else the durable function's.
    pub agent: String,
    /// The durable function (`agent` for agent runs) and the version that started the run.
    pub function: String,
    pub function_version: u32,
    pub status: RunStatus,
    /// The start of the run's input text.
    pub input_preview: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub error: Option<StepError>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub parent_run_id: Option<RunId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub forked_from: Option<RunId>,
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub finished_at: Option<i64>,
    pub step_count: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct RunsListResponse {
    pub runs: Vec<RunSummary>,
    /// Whether more runs follow this page.
    pub more: bool,
    /// Pass as `cursor` for the page after this one (absent on the last page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunIdRequest {
    pub run_id: RunId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct RunGetResponse {
    pub run: RunView,
    /// Every step in the run's order, with its attempts.
    pub steps: Vec<StepView>,
    /// The run's child runs (sub-agents).
    pub children: Vec<RunId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsGetStepRequest {
    pub run_id: RunId,
    pub step: StepKey,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsGetPageRequest {
    pub run_id: RunId,
    /// Steps to skip, in the run's order.
    #[serde(default)]
    pub offset: usize,
    /// At most this many steps (default 200, at most 5,000).
    #[serde(default)]
    #[ts(optional)]
    pub limit: Option<usize>,
}

/// A run with one page of its steps: a long run's first view without its whole journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct RunGetPageResponse {
    pub run: RunView,
    /// The steps from `offset` on (at most `limit`), with their attempts.
    pub steps: Vec<StepView>,
    pub children: Vec<RunId>,
    /// How many steps the run has in all.
    pub total_steps: usize,
    pub offset: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct RunsCancelResponse {
    /// Runs (this one and its children) that ended at once.
    pub cancelled_now: Vec<RunId>,
    /// Runs whose worker was asked to stop them.
    pub requested: Vec<RunId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsResolveRequest {
    pub run_id: RunId,
    pub step: StepKey,
    pub resolution: Resolution,
}

/// The three ways a person settles a step whose at_most_once attempt was interrupted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(tag = "resolution", rename_all = "snake_case")]
pub enum Resolution {
    /// Run the step again, accepting that its effect may repeat.
    Retry,
    /// The effect happened: record this as the step's output.
    Done { output: Value },
    /// Fail the step with this message.
    Fail { message: String },
}

impl From<Resolution> for engine::Resolution {
    fn from(r: Resolution) -> Self {
        match r {
            Resolution::Retry => engine::Resolution::Retry,
            Resolution::Done { output } => engine::Resolution::Done { output },
            Resolution::Fail { message } => engine::Resolution::Fail { message },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunStepRequest {
    pub run_id: RunId,
    /// `tool/N.I` or `approval/N.I`.
    pub step: String,
    /// Approve with these arguments in place of the model's (checked against the tool's
    /// input schema; the step records who changed what, and the model is told).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub arguments: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsRejectRequest {
    pub run_id: RunId,
    pub step: String,
    #[serde(default)]
    #[ts(optional)]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsAnswerRequest {
    pub run_id: RunId,
    pub step: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsForkRequest {
    pub run_id: RunId,
    /// The step to fork at: the new run copies the steps before it.
    pub step: StepKey,
    /// The step's output in the new run; absent: the step runs again.
    #[serde(default)]
    #[ts(optional)]
    pub output: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsRetryStepRequest {
    pub run_id: RunId,
    pub step: StepKey,
}

/// A page cursor: `<created_at>.<run id>` of the last run listed.
fn parse_cursor(text: &str) -> Result<(i64, engine::RunId), ApiError> {
    let bad = || ApiError::invalid("cursor", "not a cursor from runs_list's next_cursor");
    let (at, id) = text.split_once('.').ok_or_else(bad)?;
    let at: i64 = at.parse().map_err(|_| bad())?;
    let id = engine::RunId::parse(id).map_err(|_| bad())?;
    Ok((at, id))
}

pub(crate) fn summary(run: &RunRecord) -> RunSummary {
    let text = input_text(&run.input);
    // An email-triggered run reads as its message, not as the start of its JSON.
    let text = match waymark_agent::email::EmailRunInput::of_input(&text) {
        Some(e) => {
            let from = e
                .email
                .from
                .first()
                .map(|a| match &a.name {
                    Some(name) if !name.is_empty() => format!("{name} <{}>", a.email),
                    _ => a.email.clone(),
                })
                .unwrap_or_default();
            format!("Email from {from}: {}", e.email.subject)
        }
        None => text,
    };
    let preview: String = text.chars().take(200).collect();
    RunSummary {
        id: run.id.into(),
        agent: crate::views::agent_of(run),
        function: run.function.clone(),
        function_version: run.function_version,
        status: run.status.into(),
        input_preview: preview,
        error: run.error.clone().map(Into::into),
        parent_run_id: run.parent_run_id.map(Into::into),
        forked_from: run.forked_from.map(Into::into),
        created_at: run.created_at,
        finished_at: run.finished_at,
        step_count: run.step_count,
    }
}

impl Api {
    pub async fn runs_start(&self, req: RunsStartRequest) -> Result<RunIdResponse, ApiError> {
        let input = match &req.attach {
            Some(attach) if !attach.is_empty() => {
                self.input_with_attachments(&req.input, attach).await?
            }
            _ => req.input.clone(),
        };
        let run_id = self
            .app()
            .start_agent(&req.agent, &input, req.idempotency_key)
            .await?;
        Ok(RunIdResponse {
            run_id: run_id.into(),
        })
    }

    pub async fn runs_list(&self, req: RunsListRequest) -> Result<RunsListResponse, ApiError> {
        let limit = req.limit.unwrap_or(DEFAULT_PAGE);
        if limit == 0 || limit > MAX_PAGE {
            return Err(ApiError::invalid(
                "limit",
                format!("limit must be 1 to {MAX_PAGE}"),
            ));
        }
        if req.offset > MAX_OFFSET {
            return Err(ApiError::invalid(
                "offset",
                format!("offset must be at most {MAX_OFFSET}; page with `cursor`"),
            ));
        }
        let after = req.cursor.as_deref().map(parse_cursor).transpose()?;
        let filter = RunFilter {
            status: req.status.map(Into::into),
            function: req.function.clone(),
            label: req.agent.clone(),
            top_level: !req.include_children,
            search: req.search.as_deref().map(str::to_lowercase),
            after,
            offset: req.offset,
            limit: Some(limit + 1),
            ..RunFilter::default()
        };
        let mut runs = self.app().engine.list_runs(filter).await?;
        let more = runs.len() > limit;
        runs.truncate(limit);
        let next_cursor = more
            .then(|| runs.last().map(|r| format!("{}.{}", r.created_at, r.id)))
            .flatten();
        Ok(RunsListResponse {
            runs: runs.iter().map(summary).collect(),
            more,
            next_cursor,
        })
    }

    /// Not found unless `run` exists: one row read, not its whole trace.
    pub(crate) async fn require_run(&self, run: RunId) -> Result<(), ApiError> {
        match self.app().engine.run(run.into()).await? {
            Some(_) => Ok(()),
            None => Err(ApiError::not_found(format!("run {run} not found"))),
        }
    }

    pub async fn runs_get(&self, req: RunIdRequest) -> Result<RunGetResponse, ApiError> {
        let trace = self
            .app()
            .engine
            .trace(req.run_id.into())
            .await?
            .ok_or_else(|| ApiError::not_found(format!("run {} not found", req.run_id)))?;
        let mut steps: Vec<StepView> = trace.steps.into_iter().map(StepView::from_trace).collect();
        self.attach_calls(req.run_id, &mut steps).await?;
        Ok(RunGetResponse {
            run: RunView::from_record(trace.run),
            steps,
            children: trace.children.into_iter().map(Into::into).collect(),
        })
    }

    pub async fn runs_get_step(&self, req: RunsGetStepRequest) -> Result<StepView, ApiError> {
        let step = self
            .app()
            .engine
            .step_trace(req.run_id.into(), req.step.engine())
            .await?
            .map(StepView::from_trace)
            .ok_or_else(|| {
                ApiError::not_found(format!("run {} has no step {}", req.run_id, req.step))
            })?;
        let mut steps = [step];
        self.attach_calls(req.run_id, &mut steps).await?;
        let [step] = steps;
        Ok(step)
    }

    pub async fn runs_get_page(
        &self,
        req: RunsGetPageRequest,
    ) -> Result<RunGetPageResponse, ApiError> {
        let limit = req.limit.unwrap_or(DEFAULT_STEP_PAGE);
        if limit == 0 || limit > MAX_STEP_PAGE {
            return Err(ApiError::invalid(
                "limit",
                format!("limit must be 1 to {MAX_STEP_PAGE}"),
            ));
        }
        // Only the page is read: a 10,000-step run's whole trace is ~6 MB of JSON.
        let trace = self
            .app()
            .engine
            .trace_page(req.run_id.into(), req.offset, limit)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("run {} not found", req.run_id)))?;
        let total_steps = usize::try_from(trace.run.step_count).unwrap_or(0);
        let mut steps: Vec<StepView> = trace.steps.into_iter().map(StepView::from_trace).collect();
        self.attach_calls(req.run_id, &mut steps).await?;
        Ok(RunGetPageResponse {
            run: RunView::from_record(trace.run),
            steps,
            children: trace.children.into_iter().map(Into::into).collect(),
            total_steps,
            offset: req.offset,
        })
    }

    pub async fn runs_cancel(&self, req: RunIdRequest) -> Result<RunsCancelResponse, ApiError> {
        // An unknown run is the engine's not-found already.
        let out = self
            .app()
            .engine
            .cancel_by(req.run_id.into(), Some(self.actor().to_string()))
            .await?;
        Ok(RunsCancelResponse {
            cancelled_now: out.cancelled_now.into_iter().map(Into::into).collect(),
            requested: out.requested.into_iter().map(Into::into).collect(),
        })
    }

    pub async fn runs_resolve(&self, req: RunsResolveRequest) -> Result<OkResponse, ApiError> {
        self.app()
            .engine
            .resolve_by(
                req.run_id.into(),
                req.step.into(),
                req.resolution.into(),
                Some(self.actor().to_string()),
            )
            .await?;
        Ok(OkResponse::ok())
    }

    pub async fn runs_approve(&self, req: RunStepRequest) -> Result<OkResponse, ApiError> {
        self.require_run(req.run_id).await?;
        match &req.arguments {
            Some(arguments) => {
                self.app()
                    .approve_edited_by(req.run_id.into(), &req.step, arguments, Some(self.actor()))
                    .await?
            }
            None => {
                self.app()
                    .decide_by(req.run_id.into(), &req.step, true, None, Some(self.actor()))
                    .await?
            }
        }
        Ok(OkResponse::ok())
    }

    pub async fn runs_reject(&self, req: RunsRejectRequest) -> Result<OkResponse, ApiError> {
        self.require_run(req.run_id).await?;
        self.app()
            .decide_by(
                req.run_id.into(),
                &req.step,
                false,
                req.reason.as_deref(),
                Some(self.actor()),
            )
            .await?;
        Ok(OkResponse::ok())
    }

    pub async fn runs_answer(&self, req: RunsAnswerRequest) -> Result<OkResponse, ApiError> {
        self.require_run(req.run_id).await?;
        self.app()
            .answer_by(req.run_id.into(), &req.step, &req.text, Some(self.actor()))
            .await?;
        Ok(OkResponse::ok())
    }

    /// A failed step run again: a new run with the journal before the step, from which the
    /// step and everything after it run again (the failed run stays as it was).
    pub async fn runs_retry_step(
        &self,
        req: RunsRetryStepRequest,
    ) -> Result<RunIdResponse, ApiError> {
        self.require_run(req.run_id).await?;
        let step = self
            .app()
            .engine
            .step_trace(req.run_id.into(), req.step.engine())
            .await?
            .map(StepView::from_trace)
            .ok_or_else(|| {
                ApiError::invalid(
                    "step",
                    format!("run {} has no step {}", req.run_id, req.step),
                )
            })?;
        if step.status != crate::views::StepStatus::Failed {
            return Err(ApiError::conflict(format!(
                "step {} is {}, not failed: only a failed step is retried (resolve a step that needs attention instead)",
                req.step, step.status
            )));
        }
        let run_id = self
            .app()
            .engine
            .fork_by(
                req.run_id.into(),
                req.step.into(),
                None,
                Some(self.actor().to_string()),
            )
            .await?;
        Ok(RunIdResponse {
            run_id: run_id.into(),
        })
    }

    pub async fn runs_fork(&self, req: RunsForkRequest) -> Result<RunIdResponse, ApiError> {
        let run_id = self
            .app()
            .engine
            .fork_by(
                req.run_id.into(),
                req.step.into(),
                req.output,
                Some(self.actor().to_string()),
            )
            .await?;
        Ok(RunIdResponse {
            run_id: run_id.into(),
        })
    }
}

impl Api {
    /// Gives approvals and questions their tool call, from the model calls among `steps` or,
    /// for those not among them (another page), read from the run.
    pub(crate) async fn attach_calls(
        &self,
        run: RunId,
        steps: &mut [StepView],
    ) -> Result<(), ApiError> {
        let wanted: Vec<(usize, String, usize)> = steps
            .iter()
            .enumerate()
            .filter_map(|(at, s)| s.needs_call().map(|(llm, index)| (at, llm, index)))
            .collect();
        // Model calls read from the run because the page does not hold them, by key.
        let mut read: std::collections::HashMap<String, Option<Value>> = Default::default();
        for (at, llm, index) in wanted {
            let on_page = steps.iter().find(|s| s.key.as_str() == llm);
            let call = match on_page {
                Some(model_call) => model_call
                    .output
                    .as_ref()
                    .and_then(|o| ToolCallView::from_model_output(o, index)),
                None => {
                    if !read.contains_key(&llm) {
                        let trace = self
                            .app()
                            .engine
                            .step_trace(run.into(), waymark_engine::StepKey::new(llm.clone()))
                            .await?;
                        read.insert(llm.clone(), trace.and_then(|t| t.step.output));
                    }
                    read.get(&llm)
                        .and_then(Option::as_ref)
                        .and_then(|o| ToolCallView::from_model_output(o, index))
                }
            };
            steps[at].call = call;
        }
        Ok(())
    }

    /// Waits until the run has finished or needs a person, and returns it then.
    pub async fn wait_settled(&self, run_id: RunId) -> Result<RunView, ApiError> {
        let run = self.app().engine.wait_settled(run_id.into()).await?;
        Ok(RunView::from_record(run))
    }

    /// The durable functions this API's engine can run (`runs_start_function`'s names).
    pub fn functions(&self) -> Vec<String> {
        self.app().engine.registry().names()
    }
}
