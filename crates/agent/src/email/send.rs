//! The `send_email` step. At most once, by construction:
//!
//! 1. the step is `at_most_once`: its attempt marker is on disk before anything goes out, so an
//!    attempt a crash interrupts puts the run in needs_attention instead of sending again;
//! 2. the message's Message-ID is derived from the run and the step, so the same send always
//!    carries the same id;
//! 3. a copy is appended to the account's Sent folder, marked `\Draft`, *before* the SMTP
//!    transaction and unmarked after it: "not in Sent" then proves it never went out, which is
//!    what makes "look it up in Sent" a safe way to settle an interrupted send.

use std::time::Duration;

use serde_json::{json, Value};
use waymark_engine::{RetryPolicy, RunContext, RunError, SafetyClass, StepError, StepSpec};
use waymark_mail::{
    Address, Credential, ImapSession, MailAccount, OutgoingEmail, SendError, SmtpTransaction,
};

use super::EmailRunInput;
use crate::agent_loop::tool_step::{default_tool_retry, settled_step, ToolStepOutput};
use crate::replay::ReplayData;
use crate::runtime::AgentRuntime;
use crate::spec::{AgentSpec, BuiltinTool};

/// How long one attempt (sign in, Sent copy, SMTP transaction) may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(120);
/// Each network exchange within it.
const NETWORK_TIMEOUT: Duration = Duration::from_secs(30);
/// Marks the Sent copy of a message whose SMTP transaction has not finished.
pub(crate) const PENDING_FLAG: &str = "\\Draft";
const MAX_RECIPIENTS: usize = 50;

/// The tool's input schema, as the model and the approval form see it.
pub fn send_email_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "to": {"type": "array", "items": {"type": "string", "maxLength": 320}, "minItems": 1, "maxItems": MAX_RECIPIENTS,
                   "description": "Recipients' addresses. Replies may go to the people of the message that started the run."},
            "cc": {"type": "array", "items": {"type": "string", "maxLength": 320}, "maxItems": MAX_RECIPIENTS},
            "subject": {"type": "string", "maxLength": 998},
            "body": {"type": "string", "maxLength": 200000, "description": "Plain text."}
        },
        "required": ["to", "subject", "body"],
        "additionalProperties": false
    })
}

/// The Message-ID of the email step `key` of `run` sends, on `domain`.
pub fn message_id_for(run: &str, key: &str, domain: &str) -> String {
    let step: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("<waymark.{run}.{step}@{domain}>")
}

/// The draft as the model (or the reviewer) wrote it.
struct Draft {
    to: Vec<String>,
    cc: Vec<String>,
    subject: String,
    body: String,
}

fn strings(args: &Value, field: &str) -> Vec<String> {
    match args.get(field) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

impl Draft {
    fn of(args: &Value) -> Draft {
        let text = |f: &str| {
            args.get(f)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Draft {
            to: strings(args, "to"),
            cc: strings(args, "cc"),
            subject: text("subject"),
            body: text("body"),
        }
    }
}

/// The bare address of `text` (`Ann <ann@x.test>` or `ann@x.test`), lowercased; `None` when
/// it is not one address.
fn bare_address(text: &str) -> Option<String> {
    let inner = match (text.rfind('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close => &text[open + 1..close],
        _ => text,
    };
    let address = inner.trim();
    let (local, domain) = address.split_once('@')?;
    let ok = !local.is_empty()
        && domain.contains('.')
        && !domain.contains('@')
        && address.len() <= 320
        && !address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"()[]\\".contains(c));
    ok.then(|| address.to_lowercase())
}

/// The bare addresses `arguments` would send to, or why they may not be written to: each must
/// be an address, and a participant of the message that started the run (`run_input`) or on
/// the spec's `[email] allow_recipients`. Hostile mail reaches the model: this is what keeps
/// it to the thread. The step checks it, and so does an approval with edited arguments.
pub fn check_recipients(
    spec: &AgentSpec,
    run_input: &str,
    arguments: &Value,
) -> Result<Vec<String>, String> {
    let draft = Draft::of(arguments);
    let mut recipients = Vec::new();
    for text in draft.to.iter().chain(&draft.cc) {
        match bare_address(text) {
            Some(a) => recipients.push(a),
            None => return Err(format!("{text:?} is not an email address")),
        }
    }
    if recipients.is_empty() || recipients.len() > MAX_RECIPIENTS {
        return Err(format!("an email needs 1 to {MAX_RECIPIENTS} recipients"));
    }
    let participants = EmailRunInput::of_input(run_input)
        .map(|t| t.email.participants())
        .unwrap_or_default();
    let settings = spec.email.clone().unwrap_or_default();
    let outside: Vec<&str> = recipients
        .iter()
        .filter(|r| !participants.contains(r) && !settings.allows(r))
        .map(String::as_str)
        .collect();
    if outside.is_empty() {
        return Ok(recipients);
    }
    let thread = if participants.is_empty() {
        "none: this run was not started by an email".to_string()
    } else {
        participants.join(", ")
    };
    Err(format!(
        "send_email may write only to the people of the message that started this run ({thread}) or to the addresses in the spec's [email] allow_recipients; not to {}. Nothing was sent.",
        outside.join(", ")
    ))
}

/// Runs one `send_email` call: the recipient check (journaled like any tool answer), then the
/// send itself as an at-most-once step.
#[allow(clippy::too_many_arguments)]
pub async fn send_email_step(
    rt: &AgentRuntime,
    ctx: &RunContext,
    spec: &AgentSpec,
    arguments: &Value,
    key: String,
    run_input: &str,
    edit: Option<&Value>,
    replay: Option<&ReplayData>,
) -> Result<ToolStepOutput, RunError> {
    let name = BuiltinTool::SendEmail.name();
    let mut input = json!({ "tool": name, "arguments": arguments });
    if let Some(edit) = edit {
        input["edit"] = edit.clone();
    }
    let refuse = |message: String| {
        let spec = StepSpec::retry_safe(key.clone())
            .with_name(name)
            .with_input(input.clone())
            .with_retry(RetryPolicy::no_retries());
        settled_step(ctx, spec, Ok(ToolStepOutput::error(message)))
    };
    if let Some(recorded) = replay.map(|r| r.tool_result(&key)) {
        let spec = StepSpec::retry_safe(key.clone())
            .with_name(name)
            .with_input(input.clone())
            .with_retry(RetryPolicy::no_retries());
        return settled_step(ctx, spec, recorded).await;
    }
    let draft = Draft::of(arguments);
    let recipients = match check_recipients(spec, run_input, arguments) {
        Ok(r) => r,
        Err(why) => return refuse(why).await,
    };
    let thread = EmailRunInput::of_input(run_input);
    let Some(account_name) = spec.sending_account().map(str::to_string) else {
        return refuse("this agent has no mail account to send from ([email] account)".into())
            .await;
    };
    let Some(access) = rt.mail().cloned() else {
        return refuse("this process has no mail accounts".into()).await;
    };
    let account = match access.account(&account_name).await {
        Ok(Some(a)) => a,
        Ok(None) => {
            return refuse(format!(
                "no mail account is named {account_name:?}; add it in Settings → Mail"
            ))
            .await
        }
        Err(e) => return Err(StepError::retryable("mail_account", e.to_string()).into()),
    };
    let domain = account
        .address
        .rsplit_once('@')
        .map(|(_, d)| d.to_string())
        .unwrap_or_else(|| "localhost".into());
    let message_id = message_id_for(&ctx.run_id().to_string(), &key, &domain);
    let (in_reply_to, references) = match &thread {
        Some(t) => {
            let mut refs = t.email.references.clone();
            if let Some(id) = &t.email.message_id {
                if !refs.contains(id) {
                    refs.push(id.clone());
                }
            }
            (t.email.message_id.clone(), refs)
        }
        None => (None, Vec::new()),
    };
    input["account"] = json!(account_name);
    input["from"] = json!(account.address);
    input["message_id"] = json!(message_id);
    input["in_reply_to"] = json!(in_reply_to);
    input["references"] = json!(references);
    let email = OutgoingEmail {
        from: Address {
            name: account.display_name.clone(),
            email: account.address.clone(),
        },
        to: draft
            .to
            .iter()
            .filter_map(|t| bare_address(t))
            .map(plain)
            .collect(),
        cc: draft
            .cc
            .iter()
            .filter_map(|t| bare_address(t))
            .map(plain)
            .collect(),
        subject: draft.subject.clone(),
        body: draft.body.clone(),
        message_id: message_id.clone(),
        in_reply_to,
        references,
    };
    let step = StepSpec {
        safety: SafetyClass::AtMostOnce,
        ..StepSpec::retry_safe(key)
    }
    .with_name(name)
    .with_input(input)
    .with_retry(spec.tool_retry(name, default_tool_retry()))
    .attempt_timeout(SEND_TIMEOUT);
    ctx.step(step, |_| {
        let (access, email, recipients, account_name) = (
            access.clone(),
            email.clone(),
            recipients.clone(),
            account_name.clone(),
        );
        async move {
            let (account, credential) = access
                .login(&account_name)
                .await
                .map_err(|e| step_error("mail_account", e.to_string(), e.is_transient()))?;
            send_once(&account, &credential, &email, &recipients).await?;
            Ok(ToolStepOutput {
                content: format!(
                    "Sent \"{}\" to {} (Message-ID {}).",
                    email.subject,
                    recipients.join(", "),
                    email.message_id
                ),
                is_error: false,
                raw: Some(json!({
                    "message_id": email.message_id,
                    "to": recipients,
                    "subject": email.subject,
                })),
                server: None,
                input_required: None,
                task: None,
            })
        }
    })
    .await
}

fn plain(email: String) -> Address {
    Address { name: None, email }
}

fn step_error(kind: &str, message: String, retryable: bool) -> StepError {
    let message = crate::redact::scrub(&message);
    if retryable {
        StepError::retryable(kind, message)
    } else {
        StepError::fatal(kind, message)
    }
}

fn mail_step_error(e: waymark_mail::MailError) -> StepError {
    step_error(e.kind(), e.to_string(), e.is_retryable())
}

/// The Sent folder of the account: the first of the usual names the server has.
pub(crate) async fn sent_folder(imap: &mut ImapSession) -> Result<String, waymark_mail::MailError> {
    let folders = imap.folders().await?;
    for wanted in [
        "Sent",
        "Sent Items",
        "Sent Messages",
        "[Gmail]/Sent Mail",
        "INBOX.Sent",
        "INBOX/Sent",
    ] {
        if let Some(f) = folders.iter().find(|f| f.eq_ignore_ascii_case(wanted)) {
            return Ok(f.clone());
        }
    }
    Ok("Sent".to_string())
}

/// SMTP up to the message → a pending copy in Sent → the message → the copy unmarked. A
/// failure before the message removes the copy, so the next attempt (or a lookup) knows
/// nothing went out; only a crash between the copy and its unmarking leaves a send in doubt.
async fn send_once(
    account: &MailAccount,
    credential: &Credential,
    email: &OutgoingEmail,
    recipients: &[String],
) -> Result<(), StepError> {
    let raw = email
        .to_bytes(chrono::Utc::now())
        .map_err(|e| StepError::fatal("email", e.to_string()))?;
    let mut imap = ImapSession::connect(&account.imap, credential, NETWORK_TIMEOUT)
        .await
        .map_err(mail_step_error)?;
    let sent = sent_folder(&mut imap).await.map_err(mail_step_error)?;
    let smtp = SmtpTransaction::begin(
        &account.smtp,
        credential,
        &account.address,
        recipients,
        NETWORK_TIMEOUT,
    )
    .await
    .map_err(send_step_error)?;
    // The copy is found (by an earlier attempt that failed before the message) or appended;
    // its UID is known before the message goes out, so unmarking it is one command.
    let mut copies = imap
        .find_message_id(&sent, &email.message_id)
        .await
        .map_err(mail_step_error)?;
    if copies.is_empty() {
        let appended = imap.append(&sent, &["\\Seen", PENDING_FLAG], &raw).await;
        if let Err(e) = appended {
            smtp.abort().await;
            return Err(mail_step_error(e));
        }
        copies = imap
            .find_message_id(&sent, &email.message_id)
            .await
            .map_err(mail_step_error)?;
    }
    match smtp.send(&raw).await {
        Ok(()) => {
            for copy in &copies {
                // The message went out; a copy left marked only makes a later lookup ask.
                let _ = imap.set_flags(copy.uid, &[], &[PENDING_FLAG]).await;
            }
            imap.logout().await;
            Ok(())
        }
        Err(SendError::InDoubt { .. }) => {
            imap.logout().await;
            Err(StepError::in_doubt(
                "send_in_doubt",
                format!(
                    "the SMTP server stopped answering after it was given the message: it may or may not have taken it. Check Sent and the recipient for Message-ID {}",
                    email.message_id
                ),
            ))
        }
        Err(e) => {
            for copy in &copies {
                let _ = imap.delete(copy.uid).await;
            }
            imap.logout().await;
            Err(send_step_error(e))
        }
    }
}

fn send_step_error(e: SendError) -> StepError {
    step_error(e.kind(), e.to_string(), e.is_retryable())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_bare_and_lowercased() {
        assert_eq!(
            bare_address("Ann <Ann@Acme.test>").as_deref(),
            Some("ann@acme.test")
        );
        assert_eq!(bare_address(" bob@x.test ").as_deref(), Some("bob@x.test"));
        for bad in [
            "nobody",
            "a@b",
            "a b@c.test",
            "a@b.test, c@d.test",
            "a@b@c.test",
            "x\r\n@y.test",
        ] {
            assert_eq!(bare_address(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_message_id_is_the_run_and_step() {
        assert_eq!(
            message_id_for("0193", "tool/2.1", "acme.test"),
            "<waymark.0193.tool-2-1@acme.test>"
        );
    }
}
