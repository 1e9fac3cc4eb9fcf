//! The client side of one connection: what the hub answers and hears from a server
//! (progress of calls in flight, `tools/list_changed`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[allow(deprecated)]
use rmcp::model::{
    ClientCapabilities, ClientConfig, CreateMessageRequestParams, CreateMessageResult,
    ElicitRequestParams, ElicitResult, ElicitationCapability, ErrorCode, FormElicitationCapability,
    Implementation, ProgressNotificationParam, ProgressToken, ProtocolVersion, SamplingCapability,
    UrlElicitationCapability,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ClientHandler, ErrorData, RoleClient};
use serde_json::Value;

use super::interaction::{policy_answer, InteractionRouter};
use super::{ElicitationPolicy, ProgressCallback, ToolProgress};

/// Progress for tokens nobody registered yet is kept this long (in notifications): rmcp picks
/// a request's token when it sends it, so the first notification can beat the registration.
const EARLY_PROGRESS_KEPT: usize = 64;

/// What a connection's notifications change, shared by the handler and the hub.
#[derive(Default)]
pub(crate) struct ConnEvents {
    pub(crate) progress: Arc<ProgressRouter>,
    /// Set by `notifications/tools/list_changed`; the next `tools` use lists again.
    pub(crate) tools_changed: AtomicBool,
    /// The calls in flight that take the server's questions.
    pub(crate) interactions: Arc<InteractionRouter>,
    /// What the connection answers when no call takes a question.
    pub(crate) elicitation: ElicitationPolicy,
}

/// The hub's rmcp client handler (one per connection).
#[derive(Clone)]
pub(crate) struct HubClient {
    config: ClientConfig,
    events: Arc<ConnEvents>,
    elicitation: ElicitationPolicy,
}

impl HubClient {
    pub(crate) fn new(events: Arc<ConnEvents>, elicitation: ElicitationPolicy) -> Self {
        // A server asks questions only of a client that says it takes them.
        let mut capabilities = ClientCapabilities::default();
        capabilities.elicitation = match elicitation {
            ElicitationPolicy::Decline => None,
            ElicitationPolicy::AcceptDefaults => {
                Some(ElicitationCapability::new().with_form(FormElicitationCapability::default()))
            }
            // A person can open a link as well as fill in a form.
            ElicitationPolicy::Ask => Some(
                ElicitationCapability::new()
                    .with_form(FormElicitationCapability::default())
                    .with_url(UrlElicitationCapability::default()),
            ),
        };
        // The hub's own connections lend the agent's model (with tools, 2025-11-25), subject to
        // the agent's sampling policy; tried servers do not.
        if elicitation == ElicitationPolicy::Ask {
            let mut sampling = SamplingCapability::default();
            sampling.tools = Some(Default::default());
            capabilities.sampling = Some(sampling);
            // A long call may come back as a task: its handle is journaled and polled.
            capabilities.extensions = Some(
                [(
                    rmcp::model::TASKS_EXTENSION_ID.to_string(),
                    Default::default(),
                )]
                .into_iter()
                .collect(),
            );
        }
        // The `initialize` handshake (servers before 2026-07-28) offers the newest revision
        // that has it; `server/discover` offers 2026-07-28 (see `connection::lifecycle`).
        let config = ClientConfig::new(
            capabilities,
            Implementation::new("waymark", env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE);
        Self {
            config,
            events,
            elicitation,
        }
    }
}

impl ClientHandler for HubClient {
    fn get_info(&self) -> ClientConfig {
        self.config.clone()
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.events.progress.dispatch(params);
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.events.tools_changed.store(true, Ordering::SeqCst);
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let params = serde_json::to_value(&request).unwrap_or(Value::Null);
        let sink = match self.elicitation {
            ElicitationPolicy::Ask => self.events.interactions.current(),
            _ => None,
        };
        let answer = match sink {
            Some(sink) => {
                // The call's own deadline waits while a person is asked.
                let _asking = self.events.interactions.asking();
                sink.elicit(params).await
            }
            None => policy_answer(self.elicitation, &params),
        };
        serde_json::from_value(answer).map_err(|e| {
            ErrorData::internal_error(
                format!("the answer to the question is malformed: {e}"),
                None,
            )
        })
    }

    // Sampling is deprecated by SEP-2577 but still in 2025-11-25 and 2026-07-28, which the
    // interactive-MCP issue asks for.
    #[allow(deprecated)]
    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let refused = |m: String| ErrorData::new(ErrorCode(-1), m, None);
        let Some(sink) = self.events.interactions.current() else {
            return Err(refused("no call here lends a model".into()));
        };
        let params = serde_json::to_value(&params).unwrap_or(Value::Null);
        // A person may be asked to approve the request first: the call's deadline waits.
        let _asking = self.events.interactions.asking();
        let answer = sink.sample(params).await.map_err(refused)?;
        serde_json::from_value(answer).map_err(|e| {
            ErrorData::internal_error(format!("the model's answer is malformed: {e}"), None)
        })
    }
}

/// Routes progress notifications to the callback of the call that owns the token.
#[derive(Default)]
pub(crate) struct ProgressRouter {
    inner: Mutex<RouterInner>,
}

#[derive(Default)]
struct RouterInner {
    callbacks: HashMap<ProgressToken, ProgressCallback>,
    early: VecDeque<ProgressNotificationParam>,
}

impl ProgressRouter {
    /// Forwards `token`'s progress to `callback` until the returned guard is dropped.
    pub(crate) fn register(
        self: &Arc<Self>,
        token: ProgressToken,
        callback: ProgressCallback,
    ) -> ProgressRegistration {
        let early: Vec<ProgressNotificationParam> = {
            let mut inner = self.lock();
            inner.callbacks.insert(token.clone(), callback.clone());
            let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut inner.early)
                .into_iter()
                .partition(|p| p.progress_token == token);
            inner.early = others.into();
            mine
        };
        for p in early {
            callback(to_progress(p));
        }
        ProgressRegistration {
            router: self.clone(),
            token,
        }
    }

    fn dispatch(&self, params: ProgressNotificationParam) {
        let callback = {
            let mut inner = self.lock();
            match inner.callbacks.get(&params.progress_token) {
                Some(cb) => cb.clone(),
                None => {
                    inner.early.push_back(params);
                    if inner.early.len() > EARLY_PROGRESS_KEPT {
                        inner.early.pop_front();
                    }
                    return;
                }
            }
        };
        // Called without the lock: a callback may be slow or call back into the hub.
        callback(to_progress(params));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RouterInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Unregisters a call's progress callback when the call ends.
pub(crate) struct ProgressRegistration {
    router: Arc<ProgressRouter>,
    token: ProgressToken,
}

impl Drop for ProgressRegistration {
    fn drop(&mut self) {
        self.router.lock().callbacks.remove(&self.token);
    }
}

fn to_progress(p: ProgressNotificationParam) -> ToolProgress {
    ToolProgress {
        progress: p.progress,
        total: p.total,
        message: p.message,
    }
}
