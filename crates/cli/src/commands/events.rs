//! `waymark events ...`: send an event, follow the event stream.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail};
use serde_json::json;

use super::{open_engine, open_store, parse_json, parse_run_id, shutdown_signal};
use crate::cli::{SendArgs, TailArgs};
use crate::output::{emit, event, json};
use waymark_engine::{Engine, SqliteStore};

pub async fn send(db: &Path, a: SendArgs) -> anyhow::Result<ExitCode> {
    let payload = parse_json("the event payload", &a.payload)?;
    let engine = open_engine(db).await?;
    let id = engine
        .send_event(&a.name, payload, Duration::from_secs(a.ttl_secs))
        .await?;
    if a.json {
        emit(&json(&json!({ "event_id": id }))?)?;
    } else {
        emit(&id.to_string())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn tail(db: &Path, a: TailArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(db).await?;
    let run = match &a.run {
        Some(text) => Some(parse_run_id(text)?),
        None => None,
    };
    let after = match (a.after, run) {
        (Some(n), _) => n,
        // A run's stream is short: show it from the start.
        (None, Some(_)) => 0,
        (None, None) => current_global_seq(&store)?,
    };
    let engine = Engine::new(store, crate::examples::registry());
    if let Some(id) = run {
        // Following a run that does not exist would wait forever for nothing.
        if engine.run(id).await?.is_none() {
            bail!("run {id} not found");
        }
    }
    let mut sub = match run {
        Some(id) => engine.subscribe(id, after),
        None => engine.subscribe_all(after),
    };
    loop {
        let e = tokio::select! {
            e = sub.next() => e?,
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

/// The last committed event's global sequence number, so that following all runs starts now.
/// The engine has no call for this (a subscription "after i64::MAX" skips everything), so it
/// is read from the events table directly.
fn current_global_seq(store: &SqliteStore) -> anyhow::Result<i64> {
    store
        .with_connection(|c| {
            c.query_row("SELECT COALESCE(MAX(global_seq), 0) FROM events", [], |r| {
                r.get::<_, i64>(0)
            })
        })
        .map_err(|e| anyhow!(e))
}
