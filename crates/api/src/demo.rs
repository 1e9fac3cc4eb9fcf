//! The offline demo agent, as doors describe it to a person (hints, the start form).

use serde::{Deserialize, Serialize};

use crate::Api;

/// The demo agent's name, the input its scripted turns expect, and the step that waits for
/// approval (its email).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct DemoInfo {
    pub agent: String,
    pub input: String,
    pub approval_step: String,
}

#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct DemoRequest {}

impl Api {
    pub async fn demo_get(&self, _: DemoRequest) -> Result<DemoInfo, crate::ApiError> {
        Ok(self.demo())
    }

    pub fn demo(&self) -> DemoInfo {
        DemoInfo {
            agent: waymark_agent::demo::DEMO_AGENT.into(),
            input: waymark_agent::demo::DEMO_INPUT.into(),
            approval_step: waymark_agent::demo::DEMO_APPROVAL_STEP.into(),
        }
    }
}
