//! `waymark runs ...`: start, list, show, cancel, resolve, fork, wait.

use std::io::IsTerminal as _;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail};
use serde_json::json;
use waymark_api::{
    Api, ErrorCode, Resolution, RunGetResponse, RunId, RunIdRequest, RunStatus, RunView,
    RunsForkRequest, RunsResolveRequest, StepKey, StepStatus,
};
use waymark_host::WorkerOptions;

use super::{api_error, exit_for, open_api, open_host, parse_json, parse_run_id, shutdown_signal};
use crate::cli::{CancelArgs, ForkArgs, ListArgs, ResolveArgs, ShowArgs, StartArgs, WaitArgs};
use crate::output::{emit, json, run_list, trace};

const ALL_STATUSES: [RunStatus; 7] = [
    RunStatus::Queued,
    RunStatus::Running,
    RunStatus::Waiting,
    RunStatus::NeedsAttention,
    RunStatus::Succeeded,
    RunStatus::Failed,
    RunStatus::Cancelled,
];

/// Exit code of a command stopped by Ctrl-C, as shells report it.
const EXIT_INTERRUPTED: u8 = 130;

pub async fn start(db: &Path, a: StartArgs) -> anyhow::Result<ExitCode> {
    let input = parse_json("--input", &a.input)?;
    let mut host = open_host(db).await?;
    let request = waymark_api::RunsStartFunctionRequest {
        function: a.function.clone(),
        input,
        idempotency_key: a.idempotency_key,
        deadline_secs: a.deadline_secs,
    };
    let functions = host.api().functions();
    let known = functions.contains(&a.function);
    if !a.wait {
        if !known {
            eprintln!(
                "note: '{}' is not built into this waymark ({}); the run waits for a worker that has it",
                a.function,
                functions.join(", ")
            );
        }
        let id = host
            .api()
            .runs_start_function(request)
            .await
            .map_err(api_error)?
            .run_id;
        if a.json {
            emit(&json(&json!({ "run_id": id }))?)?;
        } else {
            emit(&id.to_string())?;
            if std::io::stderr().is_terminal() {
                eprintln!("queued: a `waymark worker` on this database runs it");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !known {
        bail!(
            "--wait runs the function in this process, and '{}' is not built in ({}); start it without --wait for a worker that has it",
            a.function,
            functions.join(", ")
        );
    }
    // The worker must exist before the start, so the new run is leased to it directly.
    host.start_worker(WorkerOptions::default()).await?;
    let api = host.api().clone();
    let outcome = async {
        let id = api
            .runs_start_function(request)
            .await
            .map_err(api_error)?
            .run_id;
        let settled = settle(&api, id, None).await?;
        anyhow::Ok((id, settled))
    }
    .await;
    host.shutdown(waymark_host::DEFAULT_SHUTDOWN_LIMIT).await;
    let (id, settled) = outcome?;
    finish_waited(&api, id, settled, a.json).await
}

/// After waiting in this process: print the trace, and say what a run that did not succeed needs.
pub(super) async fn finish_waited(
    api: &Api,
    id: RunId,
    settled: Settled,
    as_json: bool,
) -> anyhow::Result<ExitCode> {
    match settled {
        Settled::Done(run) => {
            print_trace(api, id, as_json).await?;
            Ok(exit_for(run.status))
        }
        Settled::Interrupted => {
            eprintln!(
                "interrupted: run {id} continues when a `waymark worker` runs on this database"
            );
            Ok(ExitCode::from(EXIT_INTERRUPTED))
        }
        Settled::TimedOut(_) => bail!("run {id} did not settle"),
    }
}

pub async fn list(db: &Path, a: ListArgs) -> anyhow::Result<ExitCode> {
    let status = match a.status.as_deref() {
        Some(s) => Some(parse_status(s)?),
        None => None,
    };
    let api = super::open_api(db).await?;
    let runs = api
        .runs_list(waymark_api::RunsListRequest {
            status,
            function: a.function,
            include_children: true,
            limit: Some(usize::try_from(a.limit.min(500)).unwrap_or(500)),
            ..Default::default()
        })
        .await
        .map_err(super::api_error)?
        .runs;
    if a.json {
        emit(&json(&runs)?)?;
    } else {
        emit(&run_list(&runs))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_status(s: &str) -> anyhow::Result<RunStatus> {
    let s = s.trim();
    ALL_STATUSES
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| {
            let valid: Vec<&str> = ALL_STATUSES.iter().map(|s| s.as_str()).collect();
            anyhow!("unknown status '{s}'; valid statuses: {}", valid.join(", "))
        })
}

pub async fn show(db: &Path, a: ShowArgs) -> anyhow::Result<ExitCode> {
    let id = parse_run_id(&a.run)?;
    let api = open_api(db).await?;
    let got = api
        .runs_get(RunIdRequest { run_id: id })
        .await
        .map_err(api_error)?;
    print_run_trace(&got, a.json)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints the trace of a run this process waited for.
pub(super) async fn print_trace(api: &Api, id: RunId, as_json: bool) -> anyhow::Result<()> {
    let got = api
        .runs_get(RunIdRequest { run_id: id })
        .await
        .map_err(api_error)?;
    print_run_trace(&got, as_json)
}

/// Prints the trace (pretty JSON, or for people with hints on what to do next).
fn print_run_trace(t: &RunGetResponse, as_json: bool) -> anyhow::Result<()> {
    let id = t.run.id;
    if as_json {
        emit(&json(t)?)?;
        return Ok(());
    }
    let mut text = trace(t);
    let stuck: Vec<&StepKey> = t
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::NeedsAttention)
        .map(|s| &s.key)
        .collect();
    for key in stuck {
        text.push_str(&format!(
            "\nStep {key} was interrupted and may or may not have taken effect. Decide with:\n  waymark runs resolve {id} {key} --retry | --done JSON | --fail MESSAGE\n"
        ));
    }
    emit(&text)?;
    Ok(())
}

pub async fn cancel(db: &Path, a: CancelArgs) -> anyhow::Result<ExitCode> {
    let id = parse_run_id(&a.run)?;
    let api = open_api(db).await?;
    let out = api
        .runs_cancel(RunIdRequest { run_id: id })
        .await
        .map_err(api_error)?;
    if a.json {
        emit(&json(
            &json!({ "cancelled_now": out.cancelled_now, "requested": out.requested }),
        )?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = String::new();
    for r in &out.cancelled_now {
        text.push_str(&format!("cancelled      {r}\n"));
    }
    for r in &out.requested {
        text.push_str(&format!("asked to stop  {r} (its worker ends it)\n"));
    }
    if text.is_empty() {
        let status = match api.runs_get(RunIdRequest { run_id: id }).await {
            Ok(got) => got.run.status.to_string(),
            Err(e) if e.code == ErrorCode::NotFound => "gone".into(),
            Err(e) => return Err(api_error(e)),
        };
        text = format!("run {id} has already ended ({status}); nothing to cancel");
    }
    emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn resolve(db: &Path, a: ResolveArgs) -> anyhow::Result<ExitCode> {
    let id = parse_run_id(&a.run)?;
    if a.look_in_sent {
        let api = open_api(db).await?;
        let settled = api
            .runs_settle_send(waymark_api::RunsSettleSendRequest {
                run_id: id,
                step: StepKey::new(a.step.clone()),
            })
            .await
            .map_err(api_error)?;
        let text = match settled.outcome.as_str() {
            "sent" => format!("{} is in Sent: step {} of run {id} is done", settled.message_id, a.step),
            "not_sent" => format!("{} is not in Sent, so it never went out: step {} of run {id} sends it now", settled.message_id, a.step),
            _ => format!("{} is in Sent but still marked pending: the SMTP server may or may not have taken it. Ask the recipient, then `waymark runs resolve {id} {} --done '{{}}'` or `--retry`", settled.message_id, a.step),
        };
        emit(&text)?;
        return Ok(if settled.outcome == "in_doubt" {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        });
    }
    // clap's group guarantees exactly one of the four.
    let resolution = match (a.retry, a.done, a.fail) {
        (true, _, _) => Resolution::Retry,
        (_, Some(done), _) => Resolution::Done {
            output: parse_json("--done", &done)?,
        },
        (_, _, Some(message)) => Resolution::Fail { message },
        (false, None, None) => {
            bail!("give one of --retry, --done JSON, --fail MESSAGE or --look-in-sent")
        }
    };
    let label = match &resolution {
        Resolution::Retry => "retry",
        Resolution::Done { .. } => "done",
        Resolution::Fail { .. } => "fail",
    };
    let api = open_api(db).await?;
    api.runs_resolve(RunsResolveRequest {
        run_id: id,
        step: StepKey::new(a.step.clone()),
        resolution,
    })
    .await
    .map_err(api_error)?;
    emit(&format!("resolved step {} of run {id}: {label}", a.step))?;
    Ok(ExitCode::SUCCESS)
}

pub async fn fork(db: &Path, a: ForkArgs) -> anyhow::Result<ExitCode> {
    let id = parse_run_id(&a.run)?;
    let output = match &a.output {
        Some(text) => Some(parse_json("--output", text)?),
        None => None,
    };
    let api = open_api(db).await?;
    let new = api
        .runs_fork(RunsForkRequest {
            run_id: id,
            step: StepKey::new(a.step),
            output,
        })
        .await
        .map_err(api_error)?
        .run_id;
    if a.json {
        emit(&json(&json!({ "run_id": new }))?)?;
    } else {
        emit(&new.to_string())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn wait(db: &Path, a: WaitArgs) -> anyhow::Result<ExitCode> {
    let id = parse_run_id(&a.run)?;
    // No worker here: the store notices other processes' commits by polling.
    let host = open_host(db).await?;
    let timeout = a.timeout_secs.map(Duration::from_secs);
    match settle(host.api(), id, timeout).await? {
        Settled::Done(run) => {
            if a.json {
                emit(&json(&run)?)?;
            } else {
                let error = run.error.as_ref().map(|e| format!(": {e}"));
                emit(&format!("{}{}", run.status, error.unwrap_or_default()))?;
            }
            Ok(exit_for(run.status))
        }
        Settled::TimedOut(status) => bail!(
            "run {id} did not settle within {} s (it is {status})",
            a.timeout_secs.unwrap_or_default()
        ),
        Settled::Interrupted => Ok(ExitCode::from(EXIT_INTERRUPTED)),
    }
}

pub(super) enum Settled {
    /// Finished, or needs a human.
    Done(Box<RunView>),
    /// Ctrl-C or SIGTERM came first.
    Interrupted,
    /// The timeout passed; the run's status at that moment.
    TimedOut(RunStatus),
}

/// Waits until the run has finished or needs a human, a signal arrives, or the timeout passes.
pub(super) async fn settle(
    api: &Api,
    id: RunId,
    timeout: Option<Duration>,
) -> anyhow::Result<Settled> {
    let limit = async {
        match timeout {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        r = api.wait_settled(id) => Ok(Settled::Done(Box::new(r.map_err(api_error)?))),
        _ = shutdown_signal() => Ok(Settled::Interrupted),
        _ = limit => {
            let status = api.runs_get(RunIdRequest { run_id: id }).await.ok().map(|r| r.run.status);
            Ok(Settled::TimedOut(status.unwrap_or(RunStatus::Queued)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_parses_and_unknown_ones_list_the_valid() {
        for s in ALL_STATUSES {
            assert_eq!(parse_status(s.as_str()).ok(), Some(s));
        }
        let e = parse_status("done").err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("needs_attention, succeeded")));
    }
}
