//! A client that answers the server's questions (elicitation, sampling) from a script and
//! keeps what it was asked, connected over stdio or HTTP on either revision.
#![allow(deprecated)] // rmcp marks sampling deprecated (SEP-2577); the tests exercise it

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientCapabilities, ClientConfig,
    CreateMessageRequestParams, CreateMessageResult, ElicitRequestParams, ElicitResult,
    ElicitationCapability, FormElicitationCapability, Implementation, InputRequest,
    InputRequiredResult, InputResponses, JsonObject, ProtocolVersion, SamplingCapability,
    SamplingMessage, UrlElicitationCapability, TASKS_EXTENSION_ID,
};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RequestContext, RunningService};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{ClientHandler, ErrorData, RoleClient, ServiceExt};
use serde_json::Value;
use tokio::process::Command;
use tokio::sync::Notify;

use super::spawn::HttpServer;

pub type AskedClient = RunningService<RoleClient, Asker>;

/// Which revision the client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revision {
    /// 2026-07-28: `server/discover`, capabilities in every request's `_meta`.
    Stateless,
    /// 2025-11-25 with `initialize`: the server asks by requests of its own.
    Session,
}

/// What the client declares it can do.
#[derive(Debug, Clone, Copy, Default)]
pub struct Declares {
    pub forms: bool,
    pub links: bool,
    pub sampling: bool,
    pub tasks: bool,
}

impl Declares {
    pub const EVERYTHING: Self = Self {
        forms: true,
        links: true,
        sampling: true,
        tasks: false,
    };
    pub const NOTHING: Self = Self {
        forms: false,
        links: false,
        sampling: false,
        tasks: false,
    };
    pub const TASKS: Self = Self {
        forms: false,
        links: false,
        sampling: false,
        tasks: true,
    };

    /// The capabilities, set field by field: rmcp's client capability builder needs its
    /// `server` feature, which a client-only crate does not build.
    pub fn capabilities(self) -> ClientCapabilities {
        let mut caps = ClientCapabilities::default();
        if self.forms || self.links {
            let mut elicitation = ElicitationCapability::new();
            if self.forms {
                elicitation = elicitation.with_form(FormElicitationCapability::new());
            }
            if self.links {
                elicitation = elicitation.with_url(UrlElicitationCapability::new());
            }
            caps.elicitation = Some(elicitation);
        }
        if self.sampling {
            caps.sampling = Some(SamplingCapability::default());
        }
        if self.tasks {
            caps.extensions = Some(BTreeMap::from([(
                TASKS_EXTENSION_ID.to_owned(),
                JsonObject::new(),
            )]));
        }
        caps
    }
}

/// Parks an elicitation until the server withdraws it (`notifications/cancelled`).
#[derive(Debug, Default)]
pub struct Hold {
    pub asked: Notify,
    pub withdrawn: Notify,
}

#[derive(Debug, Clone)]
pub struct Asker {
    config: ClientConfig,
    elicit_reply: ElicitResult,
    sampling_reply: Result<CreateMessageResult, ErrorData>,
    hold: Option<Arc<Hold>>,
    pub questions: Arc<Mutex<Vec<ElicitRequestParams>>>,
    pub sampling_requests: Arc<Mutex<Vec<CreateMessageRequestParams>>>,
}

impl Asker {
    pub fn new(revision: Revision, declares: Declares) -> Self {
        let mut config = ClientConfig::new(
            declares.capabilities(),
            Implementation::new("demo-tools-asker", "0"),
        );
        if revision == Revision::Session {
            config = config.with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE);
        }
        Self {
            config,
            elicit_reply: ElicitResult::new(rmcp::model::ElicitationAction::Decline),
            sampling_reply: Err(ErrorData::internal_error(
                "no sampling reply scripted",
                None,
            )),
            hold: None,
            questions: Arc::default(),
            sampling_requests: Arc::default(),
        }
    }

    /// Every elicitation is answered `reply`.
    pub fn answering(mut self, reply: ElicitResult) -> Self {
        self.elicit_reply = reply;
        self
    }

    /// Every sampling request is answered `reply` (an error is the client's own failure).
    pub fn sampling(mut self, reply: Result<CreateMessageResult, ErrorData>) -> Self {
        self.sampling_reply = reply;
        self
    }

    /// Elicitations are never answered; `hold` tells when one arrived and when it was
    /// withdrawn.
    pub fn holding(mut self, hold: Arc<Hold>) -> Self {
        self.hold = Some(hold);
        self
    }

    pub fn questions(&self) -> Vec<ElicitRequestParams> {
        self.questions.lock().unwrap().clone()
    }

    fn lifecycle(&self) -> Option<ClientLifecycleMode> {
        (self.config.protocol_version != ProtocolVersion::LATEST_WITH_INITIALIZE).then(|| {
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            }
        })
    }

    pub async fn connect_http(self, server: &HttpServer) -> AskedClient {
        match self.lifecycle() {
            Some(lifecycle) => self
                .serve_with_lifecycle(server.transport(None), lifecycle)
                .await
                .unwrap(),
            None => self.serve(server.transport(None)).await.unwrap(),
        }
    }

    /// Spawns the binary as a stdio child (it ends with the client).
    pub async fn connect_stdio(self) -> AskedClient {
        let command = Command::new(env!("CARGO_BIN_EXE_waymark-demo-tools")).configure(|cmd| {
            cmd.arg("--outbox")
                .arg(std::env::temp_dir().join("demo-tools-asker-outbox.jsonl"));
            cmd.env_remove("DEMO_TOOLS_FAULTS");
        });
        let (transport, _) = TokioChildProcess::builder(command)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        match self.lifecycle() {
            Some(lifecycle) => self
                .serve_with_lifecycle(transport, lifecycle)
                .await
                .unwrap(),
            None => self.serve(transport).await.unwrap(),
        }
    }
}

impl ClientHandler for Asker {
    fn get_info(&self) -> ClientConfig {
        self.config.clone()
    }

    async fn create_elicitation(
        &self,
        request: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        self.questions.lock().unwrap().push(request);
        if let Some(hold) = &self.hold {
            hold.asked.notify_one();
            context.ct.cancelled().await;
            hold.withdrawn.notify_one();
            return Err(ErrorData::internal_error("withdrawn", None));
        }
        Ok(self.elicit_reply.clone())
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        self.sampling_requests.lock().unwrap().push(params);
        self.sampling_reply.clone()
    }
}

/// A model's answer to a sampling request.
pub fn model_says(model: &str, text: &str) -> CreateMessageResult {
    CreateMessageResult::new(SamplingMessage::assistant_text(text), model.to_owned())
}

pub fn tool_params(name: &str, args: Value) -> CallToolRequestParams {
    super::params(name, args)
}

/// A `tools/call` that must answer `input_required`.
pub async fn first_round(
    client: &AskedClient,
    params: CallToolRequestParams,
) -> InputRequiredResult {
    match client.call_tool_once(params).await.unwrap() {
        CallToolResponse::InputRequired(result) => result,
        other => panic!("expected input_required, got {other:?}"),
    }
}

/// A `tools/call` that must complete.
pub async fn complete(client: &AskedClient, params: CallToolRequestParams) -> CallToolResult {
    match client.call_tool_once(params).await.unwrap() {
        CallToolResponse::Complete(result) => result,
        other => panic!("expected a complete result, got {other:?}"),
    }
}

/// The one request of an `input_required` result, under `key`.
pub fn asked(result: &InputRequiredResult, key: &str) -> InputRequest {
    let requests = result.input_requests.as_ref().expect("input requests");
    assert_eq!(requests.len(), 1, "{requests:?}");
    requests
        .get(key)
        .cloned()
        .unwrap_or_else(|| panic!("no {key} in {requests:?}"))
}

/// The retry of `params` answering `key` with `answer`, echoing the state.
pub fn retry(
    params: &CallToolRequestParams,
    asked: &InputRequiredResult,
    key: &str,
    answer: impl serde::Serialize,
) -> CallToolRequestParams {
    let responses = InputResponses::from([(key.to_owned(), serde_json::to_value(answer).unwrap())]);
    params
        .clone()
        .with_input_responses(responses)
        .with_request_state(asked.request_state.clone().expect("a request state"))
}
