//! Runs exported as offline replays, and agents drafted from a description.

use crate::ids::RunId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use waymark_agent::builder::{draft_agent, BuilderError};
use waymark_agent::replay::{export_run, ReplayError, ReplayFile};
use waymark_agent::spec::ModelSpec;
use waymark_agent::AgentSpec;

use crate::runs::RunIdResponse;
use crate::{Api, ApiError, ErrorCode};

/// Repairs the builder allows the model before it gives up.
const DRAFT_REPAIRS: u32 = 2;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsExportRequest {
    pub run_id: RunId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct RunsExportResponse {
    /// The replay file (format `waymark-replay`): the spec, input, model turns, tool results
    /// and human answers of the run and its sub-agent runs.
    pub replay: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsReplayRequest {
    /// A replay file as `runs_export` returns it.
    pub replay: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentsDraftRequest {
    /// What the agent should do, in plain words.
    pub description: String,
    /// The model that drafts (a spec's `model` table); OpenAI's gpt-4o-mini when absent.
    #[serde(default)]
    #[ts(optional)]
    pub model: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct AgentsDraftResponse {
    /// The drafted spec, not saved: the user edits it, then `agents_save`.
    pub spec: AgentSpec,
    pub repairs: u32,
    /// What to look at before saving.
    pub notes: Vec<String>,
}

fn replay_error(e: ReplayError) -> ApiError {
    match e {
        ReplayError::UnknownRun(_) => ApiError::not_found(e.to_string()),
        ReplayError::NotFinished { .. } => ApiError::conflict(e.to_string()),
        ReplayError::Format(_) | ReplayError::NotAnAgentRun { .. } => {
            ApiError::invalid("replay", e.to_string())
        }
        ReplayError::Engine(e) => e.into(),
        other => ApiError::new(ErrorCode::InvalidInput, other.to_string()),
    }
}

impl Api {
    pub async fn runs_export(
        &self,
        req: RunsExportRequest,
    ) -> Result<RunsExportResponse, ApiError> {
        let file = export_run(&self.app().engine, req.run_id.into())
            .await
            .map_err(replay_error)?;
        let text = file.to_json_string().map_err(replay_error)?;
        let replay = serde_json::from_str(&text).map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(RunsExportResponse { replay })
    }

    pub async fn runs_replay(&self, req: RunsReplayRequest) -> Result<RunIdResponse, ApiError> {
        let file = ReplayFile::from_json_str(&req.replay.to_string()).map_err(replay_error)?;
        let run_id = self
            .app()
            .runtime
            .start_replay(&self.app().engine, &file)
            .await
            .map_err(|e| ApiError::invalid("replay", e.to_string()))?;
        Ok(RunIdResponse {
            run_id: run_id.into(),
        })
    }

    pub async fn agents_draft(
        &self,
        req: AgentsDraftRequest,
    ) -> Result<AgentsDraftResponse, ApiError> {
        let model: ModelSpec = match req.model {
            Some(v) => serde_json::from_value(v)
                .map_err(|e| ApiError::invalid("model", format!("model: {e}")))?,
            None => serde_json::from_value(
                serde_json::json!({"provider": "openai", "model": "gpt-4o-mini"}),
            )
            .map_err(|e| ApiError::internal(e.to_string()))?,
        };
        // The provider's own server needs a key: say so now rather than after a failed call.
        // A base URL (the spec's or the settings') may be a local server that takes none.
        let own_server = model.base_url.is_none()
            && self
                .app()
                .catalog
                .provider_base_url(model.provider)?
                .is_none();
        if own_server && model.provider != waymark_agent::spec::ProviderKind::Scripted {
            let from_env = model
                .api_key_env()
                .and_then(waymark_agent::Secret::from_env)
                .is_some();
            if !from_env && self.app().catalog.provider_key(model.provider)?.is_none() {
                return Err(ApiError::invalid(
                    "model",
                    format!(
                        "no API key for {}: set {} or store one in the settings",
                        model.provider.as_str(),
                        model.api_key_env().unwrap_or("the provider's key variable")
                    ),
                ));
            }
        }
        let script = self
            .app()
            .runtime
            .load_script(&model)
            .map_err(|e| ApiError::invalid("model.script", e.to_string()))?;
        let provider = self
            .app()
            .runtime
            .provider(&model, script.as_ref())
            .map_err(|e| ApiError::invalid("model", e.to_string()))?;
        // The connected servers' tools, so the draft names only tools that exist.
        let mut servers = Vec::new();
        for def in self.app().catalog.servers()? {
            if let Ok(tools) = self.app().hub().tools(&def.name).await {
                servers.push((def.name.clone(), tools));
            }
        }
        let draft = draft_agent(
            &provider,
            &model.model,
            &req.description,
            &servers,
            DRAFT_REPAIRS,
        )
        .await
        .map_err(|e| match e {
            BuilderError::EmptyDescription => ApiError::invalid("description", e.to_string()),
            BuilderError::Model(_) => ApiError::new(ErrorCode::Upstream, e.to_string()),
            other => ApiError::new(ErrorCode::Upstream, other.to_string()),
        })?;
        Ok(AgentsDraftResponse {
            spec: draft.spec,
            repairs: draft.repairs,
            notes: draft.notes,
        })
    }
}
