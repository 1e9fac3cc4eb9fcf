//! `waymark runs export RUN --replay FILE`, `waymark run AGENT --replay FILE` and
//! `waymark agents draft DESCRIPTION`, through the API like the other doors.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context as _};
use serde_json::{json, Value};
use waymark_agent::replay::ReplayFile;
use waymark_api::{Api, RunsReplayRequest};
use waymark_engine::RunId;

use super::{api_error, open_api};
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
    let replay = ReplayFile::read(file).map_err(|e| anyhow!(e))?;
    if replay.spec.name != agent {
        bail!(
            "{} is a replay of agent \"{}\", not \"{agent}\"",
            file.display(),
            replay.spec.name
        );
    }
    let replay = serde_json::to_value(&replay)?;
    let started = api.runs_replay(RunsReplayRequest { replay }).await;
    Ok(started.map_err(api_error)?.run_id)
}

pub async fn draft(db: &Path, a: AgentDraftArgs) -> anyhow::Result<ExitCode> {
    let api = open_api(db).await?;
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
    api.app().hub().shutdown().await;
    if a.json {
        emit(&json(&out)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let spec = waymark_agent::AgentSpec::from_json_str(&out["spec"].to_string())
        .map_err(|e| anyhow!(e))?;
    emit(&spec.to_toml_string().map_err(|e| anyhow!(e))?)?;
    for note in out["notes"].as_array().into_iter().flatten() {
        eprintln!("note: {}", note.as_str().unwrap_or_default());
    }
    eprintln!("a draft, not saved: edit it, then `waymark agents add FILE`");
    Ok(ExitCode::SUCCESS)
}
