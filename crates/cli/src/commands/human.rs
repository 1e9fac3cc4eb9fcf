//! `waymark approve | reject | answer`: a person's decision for a run that waits for one.
//! The step is checked against the journal first, so a typo is an error instead of an event
//! that nothing ever consumes.

use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use waymark_api::{
    Api, ElicitationAnswer, RunId, RunIdRequest, RunStepRequest, RunsAnswerRequest,
    RunsElicitationAnswerRequest, RunsRejectRequest, StepKind, StepStatus, StepView,
};

use super::{api_error, open_api, parse_run_id};
use crate::cli::{AnswerArgs, ApproveArgs, RejectArgs};
use crate::output::{emit, short_json};

pub async fn approve(db: &Path, a: ApproveArgs) -> anyhow::Result<ExitCode> {
    decide(db, &a.run, &a.step, true, None).await
}

pub async fn reject(db: &Path, a: RejectArgs) -> anyhow::Result<ExitCode> {
    decide(db, &a.run, &a.step, false, a.reason.as_deref()).await
}

async fn decide(
    db: &Path,
    run: &str,
    step: &str,
    approved: bool,
    reason: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let id = parse_run_id(run)?;
    // A server's sampling request waits at sample/.../approval.
    let key = match step.trim().strip_prefix("sample/") {
        Some(rest) if rest.ends_with("/approval") => step.trim().to_string(),
        Some(_) => format!("{}/approval", step.trim()),
        None => format!(
            "approval/{}",
            call_number(step, &["approval/", "tool/"], "approval/N.I")?
        ),
    };
    let api = open_api(db).await?;
    let steps = waiting_step(&api, id, &key, "approval").await?;
    let decided = if approved {
        api.runs_approve(RunStepRequest {
            run_id: id,
            step: key.clone(),
            arguments: None,
        })
        .await
    } else {
        api.runs_reject(RunsRejectRequest {
            run_id: id,
            step: key.clone(),
            reason: reason.map(str::to_string),
        })
        .await
    };
    decided.map_err(api_error)?;
    let tool = steps
        .iter()
        .find(|s| s.key.as_str() == key)
        .and_then(|s| s.call.as_ref())
        .map(|c| format!(" ({})", c.tool))
        .unwrap_or_default();
    let verb = if approved { "approved" } else { "rejected" };
    emit(&format!(
        "{verb} {key}{tool} of run {id}; a worker on this database continues the run"
    ))?;
    Ok(ExitCode::SUCCESS)
}

pub async fn answer(db: &Path, a: AnswerArgs) -> anyhow::Result<ExitCode> {
    let id = parse_run_id(&a.run)?;
    if a.step.trim().starts_with("elicit/") {
        return answer_server(db, id, a).await;
    }
    if a.accept.is_some() || a.decline || a.cancel {
        bail!("--accept, --decline and --cancel answer a server's question (elicit/...); {} is not one", a.step);
    }
    let Some(text) = a.text else {
        bail!("the answer's TEXT is missing: waymark answer RUN STEP TEXT");
    };
    let n = call_number(&a.step, &["tool/"], "tool/N.I")?;
    let api = open_api(db).await?;
    let key = format!("tool/{n}");
    waiting_step(&api, id, &key, "an answer").await?;
    api.runs_answer(RunsAnswerRequest {
        run_id: id,
        step: key.clone(),
        text,
    })
    .await
    .map_err(api_error)?;
    emit(&format!(
        "answered {key} of run {id}; a worker on this database continues the run"
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// A server's question (`elicit/...`): accepted (with a form's fields), declined or cancelled.
async fn answer_server(db: &Path, id: RunId, a: AnswerArgs) -> anyhow::Result<ExitCode> {
    let key = a.step.trim().to_string();
    let (action, content) = match (&a.accept, a.decline, a.cancel) {
        (Some(json), false, false) if json.trim().is_empty() => (ElicitationAnswer::Accept, None),
        (Some(json), false, false) => {
            let content: serde_json::Value = serde_json::from_str(json).map_err(|e| {
                anyhow::anyhow!("--accept takes the form's fields as a JSON object: {e}")
            })?;
            (ElicitationAnswer::Accept, Some(content))
        }
        (None, true, false) => (ElicitationAnswer::Decline, None),
        (None, false, true) => (ElicitationAnswer::Cancel, None),
        _ => bail!("a server's question takes one of --accept [JSON], --decline or --cancel"),
    };
    if a.text.is_some() {
        bail!(
            "a server's question is answered with --accept [JSON], --decline or --cancel, not TEXT"
        );
    }
    let api = open_api(db).await?;
    waiting_step(&api, id, &key, "an answer").await?;
    api.runs_elicitation_answer(RunsElicitationAnswerRequest {
        run_id: id,
        step: key.clone(),
        action,
        content,
    })
    .await
    .map_err(api_error)?;
    emit(&format!(
        "{} the question at {key} of run {id}; the call goes on",
        match action {
            ElicitationAnswer::Accept => "accepted",
            ElicitationAnswer::Decline => "declined",
            ElicitationAnswer::Cancel => "cancelled",
        }
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// `N.I` from `N.I` or any of `prefixes` + `N.I`.
fn call_number<'a>(step: &'a str, prefixes: &[&str], expected: &str) -> anyhow::Result<&'a str> {
    let step = step.trim();
    let n = prefixes
        .iter()
        .find_map(|p| step.strip_prefix(p))
        .unwrap_or(step);
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    match n.split_once('.') {
        Some((a, b)) if digits(a) && digits(b) => Ok(n),
        _ => bail!(
            "\"{step}\" is not a tool call's step: expected {expected} (as `waymark run --wait` or `waymark runs show` lists it)"
        ),
    }
}

/// The run's steps, once `key` is known to wait for a person's event there (read through the
/// API, so the error can say which step waits instead).
async fn waiting_step(
    api: &Api,
    id: RunId,
    key: &str,
    what: &str,
) -> anyhow::Result<Vec<StepView>> {
    let trace = api
        .runs_get(RunIdRequest { run_id: id })
        .await
        .map_err(api_error)?;
    if trace.run.status.is_terminal() {
        bail!(
            "run {id} has already ended ({}); nothing in it waits for {what}",
            trace.run.status
        );
    }
    let found = trace.steps.iter().find(|s| s.key.as_str() == key);
    match found {
        Some(s) if waits_for_person(s) => Ok(trace.steps),
        Some(s) if s.status.is_terminal() => bail!(
            "step {key} of run {id} is already settled ({}{})",
            s.status,
            s.output
                .as_ref()
                .map(|o| format!(": {}", short_json(o)))
                .unwrap_or_default()
        ),
        _ => {
            let waiting: Vec<String> = trace
                .steps
                .iter()
                .filter(|s| waits_for_person(s))
                .map(|s| s.key.to_string())
                .collect();
            let now = if waiting.is_empty() {
                "no step of it waits for a person now".to_string()
            } else {
                format!("waiting now: {}", waiting.join(", "))
            };
            bail!("step {key} of run {id} does not wait for {what}; {now}")
        }
    }
}

/// An approval or a question that is waiting: what a person's decision settles.
fn waits_for_person(s: &StepView) -> bool {
    matches!(
        s.kind,
        StepKind::Approval | StepKind::Question | StepKind::Elicitation
    ) && s.status == StepStatus::Waiting
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_numbers_in_every_spelling() {
        let p = ["approval/", "tool/"];
        assert_eq!(call_number("approval/4.1", &p, "x").ok(), Some("4.1"));
        assert_eq!(call_number("tool/4.12", &p, "x").ok(), Some("4.12"));
        assert_eq!(call_number("3.2", &p, "x").ok(), Some("3.2"));
        for bad in ["llm/3", "approval/4", "4.", ".1", "tool/a.1", ""] {
            let e = call_number(bad, &p, "approval/N.I")
                .err()
                .map(|e| e.to_string());
            assert!(
                e.as_deref().is_some_and(|e| e.contains("approval/N.I")),
                "{bad}: {e:?}"
            );
        }
    }
}
