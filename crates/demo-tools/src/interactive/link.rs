//! `link_account`: a URL elicitation. The user is sent to `<origin>/link/<elicitationId>`
//! (served by the HTTP server, see [`crate::admin`]) and tells the client when done.

use rmcp::model::{
    CallToolResponse, ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction,
    InputRequest,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{tool_error, tool_text};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LinkAccountArgs {
    /// The service to connect, for example "calendar".
    pub service: String,
}

/// The URL question; `elicitation_id` is also the last segment of the link.
pub fn question(args: &LinkAccountArgs, origin: &str, elicitation_id: &str) -> ElicitRequestParams {
    ElicitRequestParams::UrlElicitationParams {
        meta: None,
        message: format!("Open the link to connect {}", args.service),
        url: format!("{origin}/link/{elicitation_id}"),
        elicitation_id: elicitation_id.to_owned(),
    }
}

pub fn input_request(args: &LinkAccountArgs, origin: &str, elicitation_id: &str) -> InputRequest {
    InputRequest::Elicitation(ElicitRequest::new(question(args, origin, elicitation_id)))
}

pub fn answer(args: &LinkAccountArgs, reply: ElicitResult) -> CallToolResponse {
    match reply.action {
        ElicitationAction::Accept => {
            tool_text(format!("account for {} linked", args.service)).into()
        }
        ElicitationAction::Decline => {
            tool_text(format!("linking {} declined", args.service)).into()
        }
        // Cancel, or an action newer than this server: either way not an answer.
        _ => tool_error(format!("linking {} was cancelled", args.service)),
    }
}
