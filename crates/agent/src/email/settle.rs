//! Settling a `send_email` step that a crash interrupted, by looking its Message-ID up in
//! the account's Sent folder. The copy goes there (marked pending) before the SMTP transaction
//! and is unmarked after it, so:
//! - found, unmarked: the message went out; the step is done;
//! - not found: it never went out; the step runs again (still at most once);
//! - found, still marked: the SMTP transaction may or may not have finished. Nothing is
//!   decided: a person checks with the recipient and marks the step done or sends again.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use waymark_engine::{Resolution, RunId, StepKey};
use waymark_mail::ImapSession;

use super::send::{sent_folder, PENDING_FLAG};
use crate::agent_loop::tool_step::ToolStepOutput;
use crate::app::AgentApp;

const LOOKUP_TIMEOUT: Duration = Duration::from_secs(30);

/// What the lookup found, and so what became of the step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SendSettlement {
    /// In Sent: the step is marked done with that as its output.
    Sent,
    /// Not in Sent: the message never went out; the step is sent again.
    NotSent,
    /// In Sent, still marked pending: nobody can tell from here. The step still needs a person.
    InDoubt,
}

/// Why a send could not be settled by a lookup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettleError {
    #[error("run {run} has no step {step}")]
    NoStep { run: RunId, step: String },
    #[error("step {step} is not a send_email step (it has no Message-ID to look up)")]
    NotASend { step: String },
    #[error("step {step} is {status}: only a send that needs attention is settled this way")]
    NotInDoubt { step: String, status: String },
    #[error("mail account: {0}")]
    Account(String),
    #[error("looking in Sent: {0}")]
    Mail(#[from] waymark_mail::MailError),
    #[error(transparent)]
    Engine(#[from] waymark_engine::EngineError),
}

/// Looks the send at `step` of `run` up in Sent and settles it accordingly (see the module);
/// returns what was found and the Message-ID looked for.
pub async fn settle_send(
    app: &AgentApp,
    run: RunId,
    step: &str,
    by: Option<&str>,
) -> Result<(SendSettlement, String), SettleError> {
    let trace = app
        .engine
        .step_trace(run, StepKey::new(step))
        .await?
        .ok_or_else(|| SettleError::NoStep {
            run,
            step: step.to_string(),
        })?;
    let input = &trace.step.input;
    let field = |name: &str| input.get(name).and_then(Value::as_str).map(str::to_string);
    let (Some(account), Some(message_id)) = (field("account"), field("message_id")) else {
        return Err(SettleError::NotASend {
            step: step.to_string(),
        });
    };
    if trace.step.status != waymark_engine::StepStatus::NeedsAttention {
        return Err(SettleError::NotInDoubt {
            step: step.to_string(),
            status: trace.step.status.to_string(),
        });
    }
    let (account, credential) = app
        .catalog
        .mail_login(&account)
        .await
        .map_err(|e| SettleError::Account(e.to_string()))?;
    let mut imap = ImapSession::connect(&account.imap, &credential, LOOKUP_TIMEOUT).await?;
    let sent = sent_folder(&mut imap).await?;
    let copies = imap.find_message_id(&sent, &message_id).await?;
    imap.logout().await;
    let settlement = if copies.is_empty() {
        SendSettlement::NotSent
    } else if copies
        .iter()
        .all(|c| c.flags.iter().any(|f| f.eq_ignore_ascii_case(PENDING_FLAG)))
    {
        SendSettlement::InDoubt
    } else {
        SendSettlement::Sent
    };
    let resolution = match settlement {
        SendSettlement::Sent => {
            let subject = input
                .pointer("/arguments/subject")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let output = ToolStepOutput {
                content: format!(
                    "Sent \"{subject}\" (Message-ID {message_id}; found in {sent} after an interruption)."
                ),
                is_error: false,
                raw: Some(json!({ "message_id": message_id, "found_in": sent })),
                server: None,
                input_required: None,
                task: None,
            };
            Some(Resolution::Done {
                output: serde_json::to_value(output).unwrap_or(Value::Null),
            })
        }
        SendSettlement::NotSent => Some(Resolution::Retry),
        SendSettlement::InDoubt => None,
    };
    if let Some(resolution) = resolution {
        app.engine
            .resolve_by(run, StepKey::new(step), resolution, by.map(str::to_string))
            .await?;
    }
    Ok((settlement, message_id))
}
