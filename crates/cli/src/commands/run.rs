//! `waymark run AGENT --input TEXT [--wait]`: start a run of a saved agent, optionally execute
//! it here until it answers or waits for a person.

use std::io::IsTerminal as _;
use std::path::Path;
use std::process::ExitCode;

use serde_json::json;

use waymark_api::{RunStatus, RunsStartRequest};
use waymark_host::{WorkerOptions, DEFAULT_SHUTDOWN_LIMIT};

use super::follow::{parked, Follower, Stop};
use super::summary::{blocker_text, db_flag, render, summarize};
use super::{api_error, exit_for, open_host, EXIT_RUN_UNSUCCESSFUL};
use crate::cli::RunAgentArgs;
use crate::output::{emit, json};

/// Exit code of a command stopped by Ctrl-C, as shells report it.
const EXIT_INTERRUPTED: u8 = 130;

pub async fn run(db: &Path, a: RunAgentArgs) -> anyhow::Result<ExitCode> {
    let attach = super::mcp_resources::attachments(&a)?;
    let mut host = open_host(db).await?;
    let start = |api: waymark_api::Api| {
        let (agent, input, key, replay) = (
            a.agent.clone(),
            a.input.clone().unwrap_or_default(),
            a.idempotency_key.clone(),
            a.replay.clone(),
        );
        async move {
            match replay {
                Some(file) => super::replay::start_replay(&api, &agent, &file).await,
                None => {
                    let request = RunsStartRequest {
                        agent,
                        input,
                        attach: Some(attach),
                        idempotency_key: key,
                    };
                    Ok(api.runs_start(request).await.map_err(api_error)?.run_id)
                }
            }
        }
    };
    if !a.wait {
        let id = start(host.api().clone()).await?;
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
    // The worker must exist before the start, so the new run is leased to it directly.
    host.start_worker(WorkerOptions::default()).await?;
    let api = host.api().clone();
    let outcome = async {
        let after = api.current_seq().await.map_err(api_error)?;
        let id = start(api.clone()).await?;
        // A replay never waits for a person (its answers are sent before it starts), so a
        // wait seen on the way is not a stop.
        let stop = if a.replay.is_some() {
            Stop::Settled(Box::new(api.wait_settled(id).await.map_err(api_error)?))
        } else {
            let mut follower = Follower::new(&api, id, after).await?;
            // A server's question inside an open call does not stop the run (this process
            // holds the call): say where to answer it meanwhile.
            let flag = db_flag(db);
            follower
                .next_stop(&api, |e, _| {
                    if let waymark_api::Change::StepWaiting {
                        key,
                        kind: waymark_api::StepKind::Elicitation,
                        ..
                    } = &e.change
                    {
                        let run = e.run_id.map(|r| r.to_string()).unwrap_or_default();
                        eprintln!(
                            "step {key} asks a question from the MCP server; answer it on the run page or with\n  waymark {flag}answer {run} {key} --accept [JSON] | --decline | --cancel"
                        );
                    }
                })
                .await?
        };
        anyhow::Ok((id, stop))
    }
    .await;
    host.shutdown(DEFAULT_SHUTDOWN_LIMIT).await;
    let (id, stop) = outcome?;
    let flag = db_flag(db);
    let (blockers, code) = match stop {
        Stop::Settled(run) if run.status == RunStatus::NeedsAttention => {
            let stuck = parked(&api, id).await?.unwrap_or_default();
            (stuck, exit_for(run.status))
        }
        Stop::Settled(run) => (Vec::new(), exit_for(run.status)),
        Stop::Blocked(b) => (b, ExitCode::from(EXIT_RUN_UNSUCCESSFUL)),
        Stop::Interrupted => {
            eprintln!(
                "interrupted: run {id} continues when a `waymark worker` runs on this database"
            );
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
    };
    let summary = summarize(&api, id, &blockers, &flag).await?;
    if a.json {
        emit(&json(&summary)?)?;
    } else {
        let mut text = render(&summary);
        if !blockers.is_empty() {
            text.push_str("\nThe run needs a person:\n");
            for b in &blockers {
                text.push_str(&blocker_text(b, &flag));
            }
            text.push_str(&format!(
                "then `waymark {flag}worker` continues it (or `waymark {flag}runs show {id}` to look)\n"
            ));
        }
        emit(&text)?;
    }
    Ok(code)
}
