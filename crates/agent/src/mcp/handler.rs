//! The client side of one connection: what the hub answers and hears from a server
//! (progress of calls in flight, `tools/list_changed`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rmcp::model::{
    ClientCapabilities, ClientConfig, ElicitRequestParams, ElicitResult, ElicitationAction,
    ElicitationCapability, FormElicitationCapability, Implementation, ProgressNotificationParam,
    ProgressToken, ProtocolVersion,
};
use rmcp::service::{NotificationContext, RequestContext};
use rmcp::{ClientHandler, ErrorData, RoleClient};
use serde_json::Value;

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
        if elicitation == ElicitationPolicy::AcceptDefaults {
            capabilities.elicitation =
                Some(ElicitationCapability::new().with_form(FormElicitationCapability::default()));
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

/// A form's answer made of its schema's defaults; `None` when a required field has none.
fn defaults_of(schema: &Value) -> Option<Value> {
    let properties = schema.get("properties")?.as_object()?;
    let mut answer = serde_json::Map::new();
    for (name, field) in properties {
        if let Some(default) = field.get("default") {
            answer.insert(name.clone(), default.clone());
        }
    }
    let required = schema.get("required").and_then(Value::as_array);
    let complete = required.is_none_or(|names| {
        names
            .iter()
            .filter_map(Value::as_str)
            .all(|n| answer.contains_key(n))
    });
    complete.then_some(Value::Object(answer))
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
        let decline = ElicitResult::new(ElicitationAction::Decline);
        if self.elicitation != ElicitationPolicy::AcceptDefaults {
            return Ok(decline);
        }
        let ElicitRequestParams::FormElicitationParams {
            requested_schema, ..
        } = request
        else {
            // A URL needs a person to open it.
            return Ok(decline);
        };
        let schema = serde_json::to_value(&requested_schema).unwrap_or(Value::Null);
        Ok(match defaults_of(&schema) {
            Some(answer) => ElicitResult::new(ElicitationAction::Accept).with_content(answer),
            None => decline,
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
