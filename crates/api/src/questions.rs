//! A server's questions during tool calls (MCP elicitation) that wait on runs: answering one.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::commands::OkResponse;
use crate::ids::RunId;
use crate::{Api, ApiError};

pub use waymark_agent::app::{ElicitationAnswer, MAX_ANSWER_BYTES};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsElicitationAnswerRequest {
    pub run_id: RunId,
    /// The question's step, `elicit/...`.
    pub step: String,
    pub action: ElicitationAnswer,
    /// An accepted form's fields (a JSON object that fits the form); nothing otherwise.
    #[serde(default)]
    #[ts(optional, type = "Record<string, unknown>")]
    pub content: Option<Value>,
}

impl Api {
    /// Answers a server's question: accept (a form with its fields), decline or cancel.
    pub async fn runs_elicitation_answer(
        &self,
        req: RunsElicitationAnswerRequest,
    ) -> Result<OkResponse, ApiError> {
        self.require_run(req.run_id).await?;
        self.app()
            .answer_elicitation_by(
                req.run_id.into(),
                &req.step,
                req.action,
                req.content.as_ref(),
                Some(self.actor()),
            )
            .await?;
        Ok(OkResponse::ok())
    }
}
