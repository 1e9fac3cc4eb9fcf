//! `waymark events ...`: send an event, follow the event stream.

use std::path::Path;
use std::process::ExitCode;

use serde_json::json;
use waymark_api::EventFilter;

use super::{api_error, open_api, parse_json, parse_run_id, shutdown_signal};
use crate::cli::{SendArgs, TailArgs};
use crate::output::{emit, event, json};

pub async fn send(db: &Path, a: SendArgs) -> anyhow::Result<ExitCode> {
    let payload = parse_json("the event payload", &a.payload)?;
    let api = super::open_api(db).await?;
    let id = api
        .events_send(waymark_api::EventsSendRequest {
            name: a.name,
            payload,
            ttl_secs: Some(a.ttl_secs),
        })
        .await
        .map_err(super::api_error)?
        .id;
    if a.json {
        emit(&json(&json!({ "event_id": id }))?)?;
    } else {
        emit(&id.to_string())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn tail(db: &Path, a: TailArgs) -> anyhow::Result<ExitCode> {
    let run = match &a.run {
        Some(text) => Some(parse_run_id(text)?),
        None => None,
    };
    let api = open_api(db).await?;
    let after = match (a.after, run) {
        (Some(n), _) => n,
        // A run's stream is short: show it from the start.
        (None, Some(_)) => 0,
        (None, None) => api.current_seq().await.map_err(api_error)?,
    };
    // Following a run that does not exist is an error, not a wait forever for nothing.
    let mut sub = api
        .subscribe(EventFilter::of(run), after)
        .await
        .map_err(api_error)?;
    loop {
        let e = tokio::select! {
            e = sub.next() => e.map_err(api_error)?,
            _ = shutdown_signal() => return Ok(ExitCode::SUCCESS),
        };
        let line = if a.json {
            serde_json::to_string(&e)?
        } else {
            event(&e)
        };
        emit(&line)?;
    }
}
