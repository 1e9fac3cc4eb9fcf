//! The MCP server: the demo tools, and the fault gate every faultable call passes through.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::{Json, Parameters};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CancelTaskParams, DiscoverRequestMethod,
    DiscoverResult, GetPromptRequestParams, GetPromptResponse, GetTaskParams, GetTaskResult,
    Implementation, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
    PaginatedRequestParams, ProgressNotificationParam, ProtocolVersion, ReadResourceRequestParams,
    ReadResourceResponse, RequestMetaObject, ServerCapabilities, ServerConfig, UpdateTaskParams,
};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_handler, tool_router, ErrorData, Peer, RoleServer, ServerHandler};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::calls::{CallLog, CallRecord};
use crate::catalog;
use crate::companies::{self, CompanyDetails};
use crate::faults::{
    injected_failure, invalid_answer, CallPlan, FaultSwitches, FaultTable, EXIT_MID_CALL_CODE,
    FAULTABLE_TOOLS,
};
use crate::orders::{OrderBook, OrderDetails};
use crate::outbox::{append_entry, OutboxEntry};
use crate::revision::ProtocolMode;
use crate::tasks::{run_steps, TaskBook};

/// `slow_report` refuses more steps than this, so a bad argument cannot keep a call busy
/// for hours.
pub const MAX_REPORT_STEPS: u32 = 1_000;
/// Delay between two `slow_report` steps unless the call asks for another.
pub const DEFAULT_STEP_MS: u64 = 100;
/// How often a `slow_ms` delay reports progress.
const SLOW_PROGRESS_TICK: Duration = Duration::from_millis(100);

/// Calls of faultable tools being handled now, in this process. Each call logs the count when
/// it starts (`in_flight=N` on stderr), so a client test can check its concurrency limit from
/// what the server saw rather than from timing.
static CALLS_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Counts one call in [`CALLS_IN_FLIGHT`] until dropped (also when the call is cancelled).
struct InFlight;

impl InFlight {
    fn start(tool: &str) -> Self {
        let in_flight = CALLS_IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
        tracing::info!(%tool, in_flight, "call started");
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        CALLS_IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What every connection of one process shares: fault switches, notes, the outbox path.
#[derive(Debug)]
pub struct SharedState {
    pub faults: FaultTable,
    pub orders: OrderBook,
    pub outbox: PathBuf,
    /// The protocol revisions this process answers.
    pub protocol: ProtocolMode,
    /// Every `tools/call` received.
    pub calls: CallLog,
    /// The tasks of `build_report`.
    pub tasks: TaskBook,
    /// `http://HOST:PORT` when serving HTTP: the origin of `link_account`'s links.
    pub http_origin: Option<String>,
}

/// The MCP handler. Cheap to clone; all state is behind the shared `Arc`.
#[derive(Debug, Clone)]
pub struct DemoTools {
    pub(crate) state: Arc<SharedState>,
    tool_router: ToolRouter<Self>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct LookupOrderArgs {
    /// The order id, for example "A-1001".
    pub order_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct LookupCompanyArgs {
    /// The company's domain, for example "acme.test", or an email address at it
    /// ("ann@acme.test": the part after '@' is used). Case and surrounding spaces are ignored.
    pub domain: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SetOrderNoteArgs {
    /// The order id, for example "A-1001".
    pub order_id: String,
    /// The note to keep on the order (replaces any earlier note).
    pub note: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OrderNote {
    pub order_id: String,
    pub note: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SendEmailArgs {
    /// Recipient address.
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct EmailSent {
    /// Unique id of the message, also written on its outbox line.
    pub message_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SlowReportArgs {
    /// Number of steps (at most 1000); one progress notification per step.
    pub steps: u32,
    /// Milliseconds per step (default 100).
    pub step_ms: Option<u64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SlowReport {
    pub steps_done: u32,
    pub report: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ConfigureFaultsArgs {
    /// The tool whose switches to change: lookup_order, lookup_company, set_order_note,
    /// send_email or slow_report.
    pub tool: String,
    /// Switch every fault of the tool off before applying the other fields.
    pub clear: Option<bool>,
    /// The next N calls answer a tool error.
    pub fail_next: Option<u32>,
    /// The next N calls answer a JSON-RPC internal error.
    pub error_next: Option<u32>,
    /// Calls are never answered until the client cancels them.
    pub hang: Option<bool>,
    /// The process exits (code 3) when a call arrives, before the tool acts.
    pub exit_mid_call: Option<bool>,
    /// Successful answers are replaced by text "{not json" and structured content that
    /// breaks the output schema (the tool still acts).
    pub invalid_data: Option<bool>,
    /// Calls are answered after this many milliseconds, with progress notifications.
    pub slow_ms: Option<u64>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ToolFaults {
    pub tool: String,
    pub switches: FaultSwitches,
}

impl DemoTools {
    pub fn new(state: Arc<SharedState>) -> Self {
        Self {
            state,
            tool_router: Self::tool_router() + Self::interactive_router() + Self::task_router(),
        }
    }
}

#[tool_router]
impl DemoTools {
    /// Look up an order in the shop's order table: customer, status, items, total, note.
    #[tool(annotations(
        title = "Look up an order",
        read_only_hint = true,
        open_world_hint = false
    ))]
    async fn lookup_order(
        &self,
        Parameters(args): Parameters<LookupOrderArgs>,
    ) -> Result<Json<OrderDetails>, String> {
        self.state.orders.lookup(&args.order_id).map(Json)
    }

    /// Look up a company by its domain or by an email address at it, to enrich a sales lead:
    /// name, industry, employees, country, the plan that fits it, and what sales knows.
    #[tool(annotations(
        title = "Look up a company",
        read_only_hint = true,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn lookup_company(
        &self,
        Parameters(args): Parameters<LookupCompanyArgs>,
    ) -> Result<Json<CompanyDetails>, String> {
        companies::lookup_company(&args.domain).map(Json)
    }

    /// Set the note of an order. Setting the same note again changes nothing.
    #[tool(annotations(
        title = "Set an order note",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn set_order_note(
        &self,
        Parameters(args): Parameters<SetOrderNoteArgs>,
    ) -> Result<Json<OrderNote>, String> {
        self.state.orders.set_note(&args.order_id, &args.note)?;
        Ok(Json(OrderNote {
            order_id: args.order_id,
            note: args.note,
        }))
    }

    /// Send an email to a customer. Every call sends a new message: it cannot be undone.
    #[tool(annotations(
        title = "Send an email",
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = false,
        open_world_hint = true
    ))]
    async fn send_email(
        &self,
        Parameters(args): Parameters<SendEmailArgs>,
    ) -> Result<Json<EmailSent>, String> {
        let entry = OutboxEntry {
            message_id: format!("msg-{}", uuid::Uuid::now_v7()),
            to: args.to,
            subject: args.subject,
            body: args.body,
            sent_at_ms: unix_millis(),
        };
        let path = self.state.outbox.clone();
        let message_id = entry.message_id.clone();
        let written = tokio::task::spawn_blocking(move || append_entry(&path, &entry)).await;
        match written {
            Ok(Ok(())) => {
                tracing::info!(%message_id, "email appended to the outbox");
                Ok(Json(EmailSent { message_id }))
            }
            Ok(Err(e)) => Err(format!(
                "could not write to the outbox {}: {e}",
                self.state.outbox.display()
            )),
            Err(e) => Err(format!("outbox writer task failed: {e}")),
        }
    }

    /// Produce a report slowly, one step at a time, with a progress notification per step.
    #[tool(annotations(title = "Slow report", read_only_hint = true, open_world_hint = false))]
    async fn slow_report(
        &self,
        Parameters(args): Parameters<SlowReportArgs>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
        ct: CancellationToken,
    ) -> Result<Json<SlowReport>, String> {
        if args.steps > MAX_REPORT_STEPS {
            return Err(format!(
                "steps must be at most {MAX_REPORT_STEPS}, got {}",
                args.steps
            ));
        }
        let step = Duration::from_millis(args.step_ms.unwrap_or(DEFAULT_STEP_MS));
        let progress = meta.get_progress_token().map(|token| (token, &peer));
        let report = run_steps(args.steps, step, &ct, progress).await;
        report
            .map(Json)
            .ok_or_else(|| "slow_report cancelled".to_owned())
    }

    /// Switch injected faults of one tool on or off (test control; not itself faultable).
    #[tool(annotations(
        title = "Configure faults",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn configure_faults(
        &self,
        Parameters(args): Parameters<ConfigureFaultsArgs>,
    ) -> Result<Json<ToolFaults>, String> {
        let switches = self.state.faults.update(&args.tool, |switches| {
            if args.clear == Some(true) {
                *switches = FaultSwitches::default();
            }
            if let Some(n) = args.fail_next {
                switches.fail_next = n;
            }
            if let Some(n) = args.error_next {
                switches.error_next = n;
            }
            if let Some(on) = args.hang {
                switches.hang = on;
            }
            if let Some(on) = args.exit_mid_call {
                switches.exit_mid_call = on;
            }
            if let Some(on) = args.invalid_data {
                switches.invalid_data = on;
            }
            if let Some(ms) = args.slow_ms {
                switches.slow_ms = ms;
            }
        })?;
        tracing::info!(tool = %args.tool, ?switches, "fault switches changed");
        Ok(Json(ToolFaults {
            tool: args.tool,
            switches,
        }))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for DemoTools {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_tools()
            .enable_resources()
            .enable_prompts()
            .enable_tasks()
            .build();
        let info = ServerConfig::new(capabilities)
            .with_server_info(Implementation::new(
                "waymark-demo-tools",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Demo shop tools: look up orders, note them, email customers, look up the \
                 company of a sales lead. configure_faults injects failures for tests.",
            );
        match self.state.protocol.info_version() {
            Some(version) => info.with_protocol_version(version),
            None => info,
        }
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.state.protocol.supported_versions()
    }

    async fn discover(
        &self,
        _context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, ErrorData> {
        if self.state.protocol.refuses_discover() {
            tracing::info!(protocol = %self.state.protocol, "server/discover refused: this server predates it");
            return Err(ErrorData::method_not_found::<DiscoverRequestMethod>());
        }
        Ok(DiscoverResult::from_server_info(
            self.supported_protocol_versions().into_owned(),
            self.get_info(),
        ))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        catalog::list_resources()
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        catalog::list_templates()
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        catalog::read(&self.state.orders, &request.uri)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        catalog::list_prompts()
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        catalog::get_prompt(
            &self.state.orders,
            &request.name,
            request.arguments.as_ref(),
        )
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        self.state
            .tasks
            .get(&request.task_id)
            .map(GetTaskResult::new)
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.state.tasks.cancel(&request.task_id)
    }

    async fn update_task(
        &self,
        request: UpdateTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.state
            .tasks
            .update(&request.task_id, request.input_responses)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let record = self.state.calls.record(CallRecord {
            tool: request.name.to_string(),
            input_responses: request.input_responses.is_some(),
            task: context
                .client_capabilities()
                .is_some_and(|caps| caps.supports_tasks()),
            request_state: request.request_state.is_some(),
            cancelled: false,
        });
        // rmcp cancels a request's token when the client cancels it, and again once its answer
        // is sent: before the answer, a cancelled token is the client's doing.
        let ct = context.ct.clone();
        let answer = self.answer_call(request, context).await;
        if ct.is_cancelled() {
            self.state.calls.cancelled(record);
        }
        answer
    }
}

impl DemoTools {
    async fn answer_call(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let tool = request.name.to_string();
        if !FAULTABLE_TOOLS.contains(&tool.as_str()) {
            return self.run_tool(request, context).await;
        }
        let _in_flight = InFlight::start(&tool);
        match self.state.faults.plan_call(&tool) {
            CallPlan::Exit => {
                tracing::warn!(%tool, "fault exit_mid_call: exiting with code {EXIT_MID_CALL_CODE}");
                std::process::exit(EXIT_MID_CALL_CODE);
            }
            CallPlan::Fail { remaining } => {
                tracing::warn!(%tool, remaining, "fault fail_next: answering a tool error");
                Ok(injected_failure(&tool, remaining).into())
            }
            CallPlan::RpcError { remaining } => {
                tracing::warn!(%tool, remaining, "fault error_next: answering a JSON-RPC error");
                Err(ErrorData::internal_error(
                    format!("injected fault: {tool} failed on purpose (error_next; {remaining} more call(s) will fail)"),
                    None,
                ))
            }
            CallPlan::Hang => {
                tracing::warn!(%tool, "fault hang: not answering until cancelled");
                context.ct.cancelled().await;
                tracing::info!(%tool, "hanging call cancelled by the client");
                Err(ErrorData::internal_error("request cancelled", None))
            }
            CallPlan::Run {
                delay,
                invalid_data,
                structured_content,
            } => {
                if let Some(delay) = delay {
                    tracing::warn!(%tool, ?delay, "fault slow_ms: delaying the answer");
                    if !wait_with_progress(delay, &context).await {
                        return Err(ErrorData::internal_error("request cancelled", None));
                    }
                }
                let response = self.run_tool(request, context).await?;
                match response {
                    CallToolResponse::Complete(result)
                        if invalid_data && result.is_error != Some(true) =>
                    {
                        tracing::warn!(%tool, "fault invalid_data: answering {{not json");
                        Ok(invalid_answer().into())
                    }
                    CallToolResponse::Complete(mut result)
                        if structured_content.is_some() && result.is_error != Some(true) =>
                    {
                        tracing::warn!(%tool, "fault structured_content: answering the given object");
                        result.structured_content =
                            structured_content.map(serde_json::Value::Object);
                        Ok(result.into())
                    }
                    other => Ok(other),
                }
            }
        }
    }

    async fn run_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let call = ToolCallContext::new(self, request, context);
        self.tool_router.call(call).await
    }
}

/// Sleeps `delay`, sending a progress notification every tick when the request has a
/// progress token (so a client's timeout that resets on progress keeps waiting). Returns
/// false if the client cancelled the call meanwhile.
async fn wait_with_progress(delay: Duration, context: &RequestContext<RoleServer>) -> bool {
    let token = context.meta.get_progress_token();
    let started = tokio::time::Instant::now();
    let total_ms = delay.as_millis() as f64;
    loop {
        let elapsed = started.elapsed();
        if elapsed >= delay {
            return true;
        }
        let tick = SLOW_PROGRESS_TICK.min(delay - elapsed);
        tokio::select! {
            _ = context.ct.cancelled() => return false,
            _ = tokio::time::sleep(tick) => {}
        }
        if let Some(token) = &token {
            let done_ms = started.elapsed().min(delay).as_millis() as f64;
            let progress = ProgressNotificationParam::new(token.clone(), done_ms)
                .with_total(total_ms)
                .with_message("injected delay (slow_ms)");
            let _ = context.peer.notify_progress(progress).await;
        }
    }
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
