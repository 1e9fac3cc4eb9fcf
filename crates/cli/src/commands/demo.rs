//! `waymark demo`: the offline agent demo in this process. A scripted model (no network, no
//! key) drives the demo-support agent over the demo MCP server (this executable's
//! `demo-tools`); each step is printed as it happens, and the email waits for an approval.

use std::collections::HashSet;
use std::io::IsTerminal as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::Value;
use waymark_api::{
    Api, ApiEvent, Change, RunId, RunStepRequest, RunsGetStepRequest, RunsRejectRequest,
    RunsStartRequest, StepKind, StepView,
};
use waymark_host::{Host, HostOptions, WorkerOptions, DEFAULT_SHUTDOWN_LIMIT};

use super::follow::{moves, parked, Blocker, Follower, Stop};
use super::mcp::confirm;
use super::summary::{blocker_text, db_flag, render, summarize};
use super::{api_error, exit_for, EXIT_RUN_UNSUCCESSFUL};
use crate::cli::DemoArgs;
use crate::output::{duration, emit, short_json};

/// Exit code of a command stopped by Ctrl-C, as shells report it.
const EXIT_INTERRUPTED: u8 = 130;

pub async fn demo(db: &Path, a: DemoArgs) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find this executable for demo-tools")?;
    let mut options = HostOptions::new(db).actor("cli");
    // The demo's MCP server and agents are saved as `mcp add` and `agents add` would.
    options.demo_exe = Some(exe);
    options.worker = Some(WorkerOptions::default());
    let host = super::started(Host::start(options).await?)?;
    let api = host.api().clone();
    let outbox = host.data_dir().join("demo-outbox.jsonl");
    let outcome = drive(&api, &a).await;
    host.shutdown(DEFAULT_SHUTDOWN_LIMIT).await;
    let (id, stop) = outcome?;
    let flag = db_flag(db);
    let (blockers, code) = match stop {
        Stop::Settled(run) => {
            let stuck = if run.status.is_terminal() {
                Vec::new()
            } else {
                parked(&api, id).await?.unwrap_or_default()
            };
            (stuck, exit_for(run.status))
        }
        Stop::Blocked(b) => (b, ExitCode::from(EXIT_RUN_UNSUCCESSFUL)),
        Stop::Interrupted => {
            eprintln!(
                "interrupted: run {id} continues when a `waymark worker` runs on this database"
            );
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
    };
    let summary = summarize(&api, id, &blockers, &flag).await?;
    let mut text = format!("\nfinal answer:\n{}", render(&summary));
    for b in &blockers {
        text.push_str(&blocker_text(b, &flag));
    }
    text.push_str(&format!(
        "outbox: {}\n\nInspect it again with: waymark {flag}runs show {id}",
        outbox.display()
    ));
    emit(&text)?;
    Ok(code)
}

/// Starts the run and prints its events until it settles, approving the email on the way.
async fn drive(api: &Api, a: &DemoArgs) -> anyhow::Result<(RunId, Stop)> {
    let after = api.current_seq().await.map_err(api_error)?;
    let demo = api.demo();
    let request = RunsStartRequest {
        agent: demo.agent.clone(),
        input: demo.input.clone(),
        attach: None,
        idempotency_key: None,
    };
    let id = api.runs_start(request).await.map_err(api_error)?.run_id;
    emit(&format!(
        "demo: agent {}, run {id}\ninput: {}\n",
        demo.agent, demo.input
    ))?;
    let mut follower = Follower::new(api, id, after).await?;
    let mut decided: HashSet<(RunId, String)> = HashSet::new();
    let mut stop = follower.check(api).await?;
    loop {
        match stop.take() {
            Some(Stop::Blocked(blockers)) => {
                let fresh: Vec<Blocker> = blockers
                    .into_iter()
                    .filter(|b| !decided.contains(&(b.run(), b.key().to_string())))
                    .collect();
                if fresh.iter().any(|b| !matches!(b, Blocker::Approval { .. })) {
                    return Ok((id, Stop::Blocked(fresh)));
                }
                for b in fresh {
                    approve(api, &b, a.yes).await?;
                    decided.insert((b.run(), b.key().to_string()));
                }
            }
            Some(other) => return Ok((id, other)),
            None => {}
        }
        let Some((e, sub)) = follower.next_event().await? else {
            return Ok((id, Stop::Interrupted));
        };
        if let Some(line) = describe(api, &e, sub).await? {
            emit(&line)?;
        }
        if moves(&e) {
            stop = follower.check(api).await?;
        }
    }
}

/// Asks on a terminal (unless --yes), else approves: the demo must finish unattended.
async fn approve(api: &Api, b: &Blocker, yes: bool) -> anyhow::Result<()> {
    let Blocker::Approval {
        run,
        key,
        tool,
        arguments,
    } = b
    else {
        return Ok(());
    };
    let tool = tool.as_deref().unwrap_or("the tool");
    let args = arguments.clone().unwrap_or(Value::Null);
    emit(&format!("  {key:<12} {tool} {}", short_json(&args)))?;
    let (approved, reason) = if yes {
        emit("  approving (--yes)")?;
        (true, None)
    } else if std::io::stdin().is_terminal() {
        let to = args
            .get("to")
            .and_then(Value::as_str)
            .map(|t| format!(" to {t}"))
            .unwrap_or_default();
        let question = format!("Approve {tool}{to}? [y/N] ");
        // Reading the terminal blocks: let the worker's tasks move to other threads meanwhile.
        let ok = tokio::task::block_in_place(|| confirm(&question))?;
        (ok, (!ok).then_some("declined at the demo's prompt"))
    } else {
        emit("  no terminal: approving automatically")?;
        (true, None)
    };
    let decided = if approved {
        let request = RunStepRequest {
            run_id: *run,
            step: key.to_string(),
            arguments: None,
        };
        api.runs_approve(request).await
    } else {
        let request = RunsRejectRequest {
            run_id: *run,
            step: key.to_string(),
            reason: reason.map(str::to_string),
        };
        api.runs_reject(request).await
    };
    decided.map_err(api_error)?;
    let verb = if approved { "approved" } else { "rejected" };
    emit(&format!("  {key:<12} {verb}"))?;
    Ok(())
}

/// One line for the events worth seeing; `None` for the rest (claims, leases, events sent).
async fn describe(api: &Api, e: &ApiEvent, sub: bool) -> anyhow::Result<Option<String>> {
    let Some(run) = e.run_id else { return Ok(None) };
    let who = if sub { "  [sub-agent] " } else { "  " };
    let step = e.step.as_ref();
    let text = match &e.change {
        Change::AttemptStarted { key, attempt, .. } => {
            let again = if *attempt > 1 {
                format!(" (attempt {attempt})")
            } else {
                String::new()
            };
            format!("{:<12} {} started{again}", key.to_string(), label(step))
        }
        Change::AttemptFinished {
            key,
            attempt,
            error: Some(err),
            retry_at,
            ..
        } => {
            let retry = retry_at
                .map(|at| format!("; retry in {}", duration(at - e.at)))
                .unwrap_or_default();
            format!(
                "{:<12} attempt {attempt} failed: {}: {}{retry}",
                key.to_string(),
                err.kind,
                err.message
            )
        }
        Change::AttemptFinished {
            key,
            step_status,
            error: None,
            ..
        } if step_status.is_terminal() => {
            let what = match step {
                Some(s) => outcome(&complete(api, run, s).await?),
                None => String::new(),
            };
            format!(
                "{:<12} {} {step_status}{what}",
                key.to_string(),
                label(step)
            )
        }
        Change::StepWaiting { key, kind, .. } => {
            let key = key.to_string();
            match kind {
                StepKind::Approval => format!("{key:<12} waits for a person's approval"),
                StepKind::Question => format!("{key:<12} waits for a person's answer"),
                StepKind::Elicitation => {
                    format!("{key:<12} waits for a person to answer the server's question")
                }
                StepKind::ChildRun => format!("{key:<12} waits for its sub-agent"),
                _ => return Ok(None),
            }
        }
        // Tasks were told by their last attempt; approvals by the decision itself.
        Change::StepFinished { key, status, error } => {
            let what = match (error, step) {
                (Some(err), _) => format!("{status}: {}: {}", err.kind, err.message),
                (None, Some(s)) if s.kind == StepKind::ChildRun => {
                    let s = complete(api, run, s).await?;
                    let answer = s.output.as_ref().and_then(|o| o.get("answer"));
                    let answer = answer.and_then(Value::as_str).unwrap_or_default();
                    format!("sub-agent answered: {}", cut(answer, 120))
                }
                (None, Some(s)) if s.kind != StepKind::ChildRun => return Ok(None),
                (None, _) => status.to_string(),
            };
            format!("{:<12} {what}", key.to_string())
        }
        Change::StepNeedsAttention { key, attempt } => format!(
            "{:<12} attempt {attempt} was interrupted: needs a person",
            key.to_string()
        ),
        Change::RunStatusChanged { status, .. } if sub => format!("run {run} is {status}"),
        _ => return Ok(None),
    };
    Ok(Some(format!("{who}{text}")))
}

/// The step with its payloads: an event leaves large ones out.
async fn complete(api: &Api, run: RunId, step: &StepView) -> anyhow::Result<StepView> {
    if !step.payloads_omitted {
        return Ok(step.clone());
    }
    api.runs_get_step(RunsGetStepRequest {
        run_id: run,
        step: step.key.clone(),
    })
    .await
    .map_err(api_error)
}

fn label(step: Option<&StepView>) -> String {
    match step {
        Some(s) if s.kind == StepKind::ModelCall => "model".to_string(),
        Some(s) => s.name.clone().unwrap_or_else(|| s.kind.to_string()),
        None => String::new(),
    }
}

/// What a finished step produced, briefly: the model's words and the tools it asked for, a
/// tool's text (errors included: the model reads them).
fn outcome(s: &StepView) -> String {
    let Some(out) = &s.output else {
        return String::new();
    };
    if s.kind == StepKind::ModelCall {
        let text = out
            .pointer("/response/text")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let calls: Vec<&str> = out
            .pointer("/response/tool_calls")
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .filter_map(|c| c.get("name").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        let calls = if calls.is_empty() {
            String::new()
        } else {
            format!(" -> {}", calls.join(", "))
        };
        return format!(": \"{}\"{calls}", cut(text, 100));
    }
    if let Some(tools) = out.get("tools").and_then(Value::as_array) {
        let names: Vec<&str> = tools
            .iter()
            .filter_map(|t| t.get("name").and_then(Value::as_str))
            .collect();
        return format!(": {}", names.join(", "));
    }
    match (
        out.get("content").and_then(Value::as_str),
        out.get("is_error"),
    ) {
        (Some(text), Some(Value::Bool(true))) => {
            format!(" (tool error for the model: {})", cut(text, 160))
        }
        (Some(text), _) => format!(": {}", cut(text, 120)),
        (None, _) if out.is_null() => String::new(),
        (None, _) => format!(": {}", short_json(out)),
    }
}

fn cut(text: &str, max: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= max {
        return text;
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}
