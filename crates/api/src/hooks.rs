//! Webhook triggers as a person sets them up: where senders post (the receiver's URL, and
//! whether only this computer can reach it) and how the last delivery went. The host that
//! runs the receiver tells the API ([`HooksStatus`]); an API without one (a CLI command) has
//! no URL to give.

use serde::{Deserialize, Serialize};

use crate::agents::AgentNameRequest;
use crate::commands::OkResponse;
use crate::ids::RunId;
use crate::{Api, ApiError};

/// The desktop app's webhook port when Settings name none.
pub const DEFAULT_HOOKS_PORT: u16 = 4681;
const HOOKS_PORT_SETTING: &str = "hooks_port";

/// The desktop app's webhook port; absent: back to the default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsSetHooksPortRequest {
    /// 0 picks any free port (the URL shows which).
    #[serde(default)]
    #[ts(optional)]
    pub port: Option<u16>,
}

/// Where a webhook receiver listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HooksListening {
    /// `http://127.0.0.1:4681`: a sender posts to `{base_url}/hooks/{agent}`.
    pub base_url: String,
    /// A loopback address: only this computer reaches it (a tunnel or proxy can forward it).
    pub local_only: bool,
}

/// What the host running the receiver knows.
pub trait HooksStatus: Send + Sync + 'static {
    fn listening(&self) -> Option<HooksListening>;
    fn last_delivery(&self, agent: &str) -> Option<WebhookDelivery>;
}

/// How a delivery was answered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct WebhookDelivery {
    pub at: i64,
    /// The HTTP status the sender got (201 a run started, 200 a repeat or a ping, 401
    /// refused, 503 the secret could not be read).
    pub status: u16,
    /// The run it started, or the first run of a repeated delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub run_id: Option<RunId>,
}

/// One webhook trigger of an agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct WebhookTriggerInfo {
    /// `standard_webhooks`, `github`, `hmac_sha256` or `bearer`.
    pub auth: String,
    /// The secret's name (its value is in the secret store, never shown again).
    pub secret_ref: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct AgentWebhookResponse {
    pub triggers: Vec<WebhookTriggerInfo>,
    /// Where senders post; absent while no receiver listens (or the agent has no webhook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub url: Option<String>,
    /// Only this computer reaches the URL.
    pub local_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub last_delivery: Option<WebhookDelivery>,
}

impl Api {
    /// The agent's webhook triggers, where to post to them, and the last delivery.
    pub async fn agents_webhook(
        &self,
        req: AgentNameRequest,
    ) -> Result<AgentWebhookResponse, ApiError> {
        let spec = self
            .app()
            .catalog
            .agent(&req.name)?
            .ok_or_else(|| ApiError::not_found(format!("no agent named \"{}\"", req.name)))?;
        let triggers: Vec<WebhookTriggerInfo> = spec
            .triggers
            .iter()
            .filter_map(|t| t.webhook())
            .map(|(secret_ref, auth)| WebhookTriggerInfo {
                auth: auth.as_str().to_string(),
                secret_ref: secret_ref.to_string(),
            })
            .collect();
        let listening = self.hooks_status().and_then(|h| h.listening());
        let url = listening
            .as_ref()
            .filter(|_| !triggers.is_empty())
            .map(|l| format!("{}/hooks/{}", l.base_url, req.name));
        Ok(AgentWebhookResponse {
            url,
            local_only: listening.is_none_or(|l| l.local_only),
            last_delivery: self.hooks_status().and_then(|h| h.last_delivery(&req.name)),
            triggers,
        })
    }

    /// The port the desktop app receives webhooks on (loopback; 0 any free one).
    pub async fn hooks_port(&self) -> Result<u16, ApiError> {
        let stored = self.app().catalog.app_setting(HOOKS_PORT_SETTING)?;
        // A value this build cannot read (written by hand) falls back to the default.
        Ok(stored
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_HOOKS_PORT))
    }

    pub async fn settings_set_hooks_port(
        &self,
        req: SettingsSetHooksPortRequest,
    ) -> Result<OkResponse, ApiError> {
        let value = req.port.map(|p| p.to_string());
        self.app()
            .catalog
            .set_app_setting(HOOKS_PORT_SETTING, value.as_deref())?;
        Ok(OkResponse::ok())
    }

    /// The agents with a webhook trigger: a receiver is needed while there is one.
    pub async fn webhook_agents(&self) -> Result<Vec<String>, ApiError> {
        // One read of every current spec (the desktop asks every 2 s); a spec that does not
        // parse has no trigger anyone could reach.
        Ok(self
            .app()
            .catalog
            .current_agents()?
            .into_iter()
            .filter(|(_, spec)| {
                spec.as_ref()
                    .is_ok_and(|s| s.triggers.iter().any(|t| t.webhook().is_some()))
            })
            .map(|(name, _)| name)
            .collect())
    }
}
