//! `waymark runs export RUN --replay FILE`, `waymark run AGENT --replay FILE` and
//! `waymark agents draft DESCRIPTION`, through the API like the other doors.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context as _};
use serde_json::{json, Value};
use waymark_api::{Api, RunId, RunsReplayRequest};

use waymark_host::DEFAULT_SHUTDOWN_LIMIT;

use super::{api_error, open_api, open_host};
use crate::cli::{AgentDraftArgs, ExportArgs};
use crate::output::{emit, json};

pub async fn export(db: &Path, a: ExportArgs) -> anyhow::Result<ExitCode> {
    let api = open_api(db).await?;
    let out = api
        .call("runs_export", json!({ "run_id": a.run }))
        .await
        .map_err(api_error)?;
    let text = serde_json::to_string_pretty(&out["replay"])?;
    std::fs::write(&a.replay, text)
        .with_context(|| format!("cannot write {}", a.replay.display()))?;
    emit(&format!(
        "wrote {} (replay it offline with: waymark run AGENT --replay {})",
        a.replay.display(),
        a.replay.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// Starts the replay in `file` through the API; `agent` must be the agent the run was of.
pub async fn start_replay(api: &Api, agent: &str, file: &Path) -> anyhow::Result<RunId> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let replay: Value = serde_json::from_str(&text)
        .map_err(|e| anyhow!("{} is not a replay file (JSON): {e}", file.display()))?;
    let of = replay.pointer("/spec/name").and_then(Value::as_str);
    if of != Some(agent) {
        bail!(
            "{} is a replay of agent \"{}\", not \"{agent}\"",
            file.display(),
            of.unwrap_or("?")
        );
    }
    let started = api.runs_replay(RunsReplayRequest { replay }).await;
    Ok(started.map_err(api_error)?.run_id)
}

pub async fn draft(db: &Path, a: AgentDraftArgs) -> anyhow::Result<ExitCode> {
    let host = open_host(db).await?;
    let api = host.api().clone();
    let model: Option<Value> = match &a.model {
        Some(text) => {
            Some(serde_json::from_str(text).map_err(|e| anyhow!("--model is not JSON: {e}"))?)
        }
        None => None,
    };
    let mut request = json!({ "description": a.description });
    if let Some(m) = model {
        request["model"] = m;
    }
    let out = api.call("agents_draft", request).await.map_err(api_error)?;
    host.shutdown(DEFAULT_SHUTDOWN_LIMIT).await;
    if a.json {
        emit(&json(&out)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let toml = api.spec_as_toml(out["spec"].clone()).map_err(api_error)?;
    emit(&toml)?;
    for note in out["notes"].as_array().into_iter().flatten() {
        eprintln!("note: {}", note.as_str().unwrap_or_default());
    }
    eprintln!("a draft, not saved: edit it, then `waymark agents add FILE`");
    Ok(ExitCode::SUCCESS)
}
