//! The three interactive tools, each on both ways of asking (see the module docs).
#![allow(deprecated)] // sampling's types, see summary.rs

use rmcp::handler::server::tool::{InputResponses, RequestState};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResponse, ClientResult, ElicitRequest, ElicitResult, ServerRequest};
use rmcp::service::RequestContext;
use rmcp::{tool, tool_router, ErrorData, RoleServer};

use super::link::{self, LinkAccountArgs};
use super::refund::{self, ConfirmRefundArgs};
use super::summary::{self, SummarizeOrderArgs};
use super::{
    ask_peer, cancelled_call, capabilities, input_required, is_stateless, parse_answer, round,
    state, takes_forms, takes_links, takes_sampling, tool_error, AskFailure, Round, NO_HTTP_ORIGIN,
};
use crate::server::DemoTools;

const CONFIRM_KEY: &str = "confirm";
const LINK_KEY: &str = "link";
const NO_FORMS: &str = "this client does not take questions (no elicitation capability)";
const NO_LINKS: &str = "this client does not open links (no URL elicitation capability)";
const NO_SAMPLING: &str = "this client does not lend its model (no sampling capability)";

type Answer = Result<CallToolResponse, ErrorData>;

#[tool_router(router = interactive_router, vis = "pub(crate)")]
impl DemoTools {
    /// Ask the user to confirm a refund (a form: approve, channel to tell the customer by,
    /// optional note). Nothing is refunded: the answer says what the user chose.
    #[tool(annotations(
        title = "Confirm a refund",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false,
        open_world_hint = false
    ))]
    async fn confirm_refund(
        &self,
        Parameters(args): Parameters<ConfirmRefundArgs>,
        RequestState(request_state): RequestState,
        InputResponses(responses): InputResponses,
        context: RequestContext<RoleServer>,
    ) -> Answer {
        if let Some(problem) = args.invalid() {
            return Ok(tool_error(problem));
        }
        if !takes_forms(&capabilities(&context)) {
            return Ok(tool_error(NO_FORMS));
        }
        if !is_stateless(&context) {
            let request = ServerRequest::ElicitRequest(ElicitRequest::new(refund::question(&args)));
            return Ok(match elicit(&context, request).await? {
                Ok(reply) => refund::answer(&args, reply),
                Err(failure) => tool_error(format!("the refund question failed: {failure}")),
            });
        }
        let tool = "confirm_refund";
        Ok(
            match round(tool, &args, CONFIRM_KEY, request_state, responses)? {
                Round::First => {
                    let nonce = state::new_nonce();
                    input_required(
                        tool,
                        &args,
                        &nonce,
                        CONFIRM_KEY,
                        refund::input_request(&args),
                    )
                }
                Round::Unanswered { nonce } => input_required(
                    tool,
                    &args,
                    &nonce,
                    CONFIRM_KEY,
                    refund::input_request(&args),
                ),
                Round::Answered { answer } => {
                    refund::answer(&args, parse_answer(CONFIRM_KEY, answer)?)
                }
            },
        )
    }

    /// Connect the user's account at a service: the user opens a link and confirms.
    #[tool(annotations(
        title = "Link an account",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = true,
        open_world_hint = false
    ))]
    async fn link_account(
        &self,
        Parameters(args): Parameters<LinkAccountArgs>,
        RequestState(request_state): RequestState,
        InputResponses(responses): InputResponses,
        context: RequestContext<RoleServer>,
    ) -> Answer {
        if !takes_links(&capabilities(&context)) {
            return Ok(tool_error(NO_LINKS));
        }
        let origin = self.state.http_origin.as_deref().unwrap_or(NO_HTTP_ORIGIN);
        if !is_stateless(&context) {
            let id = state::new_nonce();
            let question = link::question(&args, origin, &id);
            let request = ServerRequest::ElicitRequest(ElicitRequest::new(question));
            return Ok(match elicit(&context, request).await? {
                Ok(reply) => link::answer(&args, reply),
                Err(failure) => tool_error(format!("the link question failed: {failure}")),
            });
        }
        let tool = "link_account";
        // The nonce doubles as the elicitation id, so a repeated question keeps its link.
        let ask = |nonce: &str| {
            let request = link::input_request(&args, origin, nonce);
            input_required(tool, &args, nonce, LINK_KEY, request)
        };
        Ok(
            match round(tool, &args, LINK_KEY, request_state, responses)? {
                Round::First => ask(&state::new_nonce()),
                Round::Unanswered { nonce } => ask(&nonce),
                Round::Answered { answer } => link::answer(&args, parse_answer(LINK_KEY, answer)?),
            },
        )
    }

    /// Summarize an order in one sentence for the customer, written by the client's model.
    #[tool(annotations(
        title = "Summarize an order",
        read_only_hint = true,
        open_world_hint = false
    ))]
    async fn summarize_order(
        &self,
        Parameters(args): Parameters<SummarizeOrderArgs>,
        RequestState(request_state): RequestState,
        InputResponses(responses): InputResponses,
        context: RequestContext<RoleServer>,
    ) -> Answer {
        let order = match self.state.orders.lookup(&args.order_id) {
            Ok(order) => order,
            Err(problem) => return Ok(tool_error(problem)),
        };
        if !takes_sampling(&capabilities(&context)) {
            return Ok(tool_error(NO_SAMPLING));
        }
        if !is_stateless(&context) {
            return Ok(
                match ask_peer(&context, summary::server_request(&order)).await {
                    Ok(ClientResult::CreateMessageResult(reply)) => summary::answer(&reply),
                    Ok(other) => summary::sampling_failed(&format!(
                        "the client answered something else: {other:?}"
                    )),
                    Err(AskFailure::Cancelled) => return Err(cancelled_call()),
                    Err(failure) => summary::sampling_failed(&failure.describe()),
                },
            );
        }
        let tool = "summarize_order";
        let ask = |nonce: &str| {
            input_required(
                tool,
                &args,
                nonce,
                summary::KEY,
                summary::input_request(&order),
            )
        };
        Ok(
            match round(tool, &args, summary::KEY, request_state, responses)? {
                Round::First => ask(&state::new_nonce()),
                Round::Unanswered { nonce } => ask(&nonce),
                Round::Answered { answer } => match summary::read_reply(answer)? {
                    summary::Reply::Model(reply) => summary::answer(&reply),
                    summary::Reply::Failed(why) => summary::sampling_failed(&why),
                },
            },
        )
    }
}

/// Sends an `elicitation/create` during the call. The outer error ends the call (cancelled);
/// the inner one is a failure to describe in a tool error.
async fn elicit(
    context: &RequestContext<RoleServer>,
    request: ServerRequest,
) -> Result<Result<ElicitResult, String>, ErrorData> {
    match ask_peer(context, request).await {
        Ok(ClientResult::ElicitResult(reply)) => Ok(Ok(reply)),
        Ok(other) => Ok(Err(format!(
            "the client answered something else: {other:?}"
        ))),
        Err(AskFailure::Cancelled) => Err(cancelled_call()),
        Err(failure) => Ok(Err(failure.describe())),
    }
}
