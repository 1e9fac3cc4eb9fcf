//! The one typed API: every command both doors (the `waymark serve` HTTP server and the
//! desktop app) offer, as typed request/response pairs declared in one list
//! ([`commands::COMMANDS`]), one event type ([`ApiEvent`]: what changed and the state it left) and one
//! error type ([`ApiError`]). TypeScript bindings and the OpenAPI document are generated from
//! these types.

mod about;
mod agents;
pub mod bindings;
pub mod commands;
mod database;
mod database_choice;
mod demo;
mod engine_cmds;
mod error;
mod events;
mod hooks;
mod ids;
mod mail;
mod mcp;
mod mcp_auth;
mod mcp_calls;
mod mcp_resources;
pub mod openapi;
mod questions;
mod replay;
mod runs;
mod settings;
mod validate;
mod views;

use waymark_agent::app::AgentApp;

pub use about::*;
pub use agents::*;
pub use commands::{CommandInfo, COMMANDS};
pub use database::*;
pub use database_choice::*;
pub use demo::{DemoInfo, DemoRequest};
pub use engine_cmds::*;
pub use error::{ApiError, ErrorCode};
pub use events::{ApiEvent, AttemptEnd, Change, EventFilter, EventStream, ResolutionKind};
pub use hooks::{
    AgentWebhookResponse, HooksListening, HooksStatus, SettingsSetHooksPortRequest,
    WebhookDelivery, WebhookTriggerInfo, DEFAULT_HOOKS_PORT,
};
pub use ids::{RunId, StepKey};
pub use mail::*;
pub use mcp::*;
pub use mcp_auth::*;
pub use mcp_calls::*;
pub use mcp_resources::*;
pub use questions::*;
pub use replay::*;
pub use runs::*;
pub use settings::*;
pub use views::*;
/// Tools as MCP servers describe them: wire types defined once, in the agent crate.
pub use waymark_agent::mcp::{
    ElicitationPolicy, McpPrompt, McpPromptArgument, McpPromptMessage, McpPromptResult,
    McpResource, McpResourceContent, McpResourceTemplate, McpTool, ServerStatus, SignInState,
    ToolAnnotations, TRIED_SERVER_PREFIX,
};
/// Mail accounts as the API reads and writes them: wire types defined once, in the mail crate.
pub use waymark_mail::{
    ImapSettings, IncomingEmail, MailAccount, MailAuth, Security, SmtpSettings,
};

/// The API over one open database. Cheap to clone.
#[derive(Clone)]
pub struct Api {
    app: AgentApp,
    hand_calls: std::sync::Arc<mcp_calls::HandCalls>,
    actor: String,
    hooks: Option<std::sync::Arc<dyn HooksStatus>>,
    mail: Option<std::sync::Arc<dyn MailStatus>>,
    database: Option<std::sync::Arc<dyn DatabaseChoice>>,
    host_facts: Option<std::sync::Arc<HostFacts>>,
}

impl Api {
    pub fn new(app: AgentApp) -> Self {
        Api {
            app,
            hand_calls: Default::default(),
            actor: "api".into(),
            hooks: None,
            mail: None,
            database: None,
            host_facts: None,
        }
    }

    /// What the host knows of itself (About: data directory, this start's upgrade, the CLI).
    pub fn with_host_facts(mut self, facts: HostFacts) -> Self {
        self.host_facts = Some(std::sync::Arc::new(facts));
        self
    }

    /// How this door's host keeps the choice of database (Settings: this computer / team).
    pub fn with_database_choice(mut self, choice: std::sync::Arc<dyn DatabaseChoice>) -> Self {
        self.database = Some(choice);
        self
    }

    /// What the email triggers of this process know (each watched folder's state).
    pub fn with_mail_status(mut self, mail: std::sync::Arc<dyn MailStatus>) -> Self {
        self.mail = Some(mail);
        self
    }

    pub(crate) fn mail_status(&self) -> Option<&dyn MailStatus> {
        self.mail.as_deref()
    }

    /// What the webhook receiver of this process knows (its URL, the last deliveries).
    pub fn with_hooks_status(mut self, hooks: std::sync::Arc<dyn HooksStatus>) -> Self {
        self.hooks = Some(hooks);
        self
    }

    pub(crate) fn hooks_status(&self) -> Option<&dyn HooksStatus> {
        self.hooks.as_deref()
    }

    /// Names the door in the journal's record of each decision (`cli`, `desktop`; `api`
    /// by default).
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }

    pub(crate) fn hand_calls(&self) -> &mcp_calls::HandCalls {
        &self.hand_calls
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }

    pub fn app(&self) -> &AgentApp {
        &self.app
    }
}
