//! The engine's own commands: durable functions started by name, events sent to waiting
//! runs, the database check, and an agent's memory.

use std::time::Duration;
use waymark_engine::limits;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use waymark_agent::catalog::MemoryEntry;
use waymark_engine::StartOptions;

use crate::runs::RunIdResponse;
use crate::{Api, ApiError};

/// How long a sent event waits for a run to take it when the request says nothing.
const DEFAULT_EVENT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsStartFunctionRequest {
    /// A registered durable function (`example.order`, ...).
    pub function: String,
    #[serde(default)]
    pub input: Value,
    #[serde(default)]
    #[ts(optional)]
    pub idempotency_key: Option<String>,
    /// The whole run must finish within this many seconds.
    #[serde(default)]
    #[ts(optional)]
    #[schemars(range(min = 1, max = limits::MAX_DEADLINE_SECS))]
    pub deadline_secs: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsSendRequest {
    pub name: String,
    #[serde(default)]
    pub payload: Value,
    /// How long the event waits for a run to take it (default a week).
    #[serde(default)]
    #[ts(optional)]
    #[schemars(range(min = 1, max = limits::MAX_EVENT_TTL_SECS))]
    pub ttl_secs: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct EventsSendResponse {
    pub id: i64,
}

#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct DbCheckRequest {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct DbCheckResponse {
    pub ok: bool,
    pub problems: Vec<String>,
    /// The file's schema version (opening it migrated it to this build's).
    pub schema_version: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MemoryListRequest {
    pub agent: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct MemoryListResponse {
    pub entries: Vec<MemoryEntry>,
}

impl Api {
    pub async fn runs_start_function(
        &self,
        req: RunsStartFunctionRequest,
    ) -> Result<RunIdResponse, ApiError> {
        in_range(
            "deadline_secs",
            req.deadline_secs,
            limits::MAX_DEADLINE_SECS,
        )?;
        let opts = StartOptions {
            idempotency_key: req.idempotency_key,
            deadline: req.deadline_secs.map(Duration::from_secs),
            ..StartOptions::default()
        };
        let run_id = self
            .app()
            .engine
            .start_run(&req.function, req.input, opts)
            .await?;
        Ok(RunIdResponse {
            run_id: run_id.into(),
        })
    }

    pub async fn events_send(
        &self,
        req: EventsSendRequest,
    ) -> Result<EventsSendResponse, ApiError> {
        crate::validate::name("name", &req.name)?;
        in_range("ttl_secs", req.ttl_secs, limits::MAX_EVENT_TTL_SECS)?;
        let ttl = req
            .ttl_secs
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_EVENT_TTL);
        let id = self
            .app()
            .engine
            .send_event(&req.name, req.payload, ttl)
            .await?;
        Ok(EventsSendResponse { id })
    }

    pub async fn db_check(&self, _: DbCheckRequest) -> Result<DbCheckResponse, ApiError> {
        let problems = self.app().store.check().await?;
        Ok(DbCheckResponse {
            ok: problems.is_empty(),
            problems,
            schema_version: self.app().store.schema_version(),
        })
    }

    pub async fn memory_list(
        &self,
        req: MemoryListRequest,
    ) -> Result<MemoryListResponse, ApiError> {
        Ok(MemoryListResponse {
            entries: self.app().catalog.memory(&req.agent)?,
        })
    }
}

/// A duration from the API: 1 to its cap, or a 400 naming the field.
fn in_range(field: &str, value: Option<u64>, max: u64) -> Result<(), ApiError> {
    if value == Some(0) {
        return Err(ApiError::invalid(
            field,
            format!("{field} must be at least 1"),
        ));
    }
    limits::check_at_most(field, value, max).map_err(|e| ApiError::invalid(field, e))
}
