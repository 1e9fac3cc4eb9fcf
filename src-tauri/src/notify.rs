//! OS notifications for what needs a person: a call waiting for approval, a step in need of
//! attention, a failed run. Follows the engine's event stream from "now"; a notification that
//! cannot be shown (no notification daemon) is only logged.

use std::time::Duration;

use waymark_engine::{Engine, Event, EventKind, RunStatus, StepKind};

pub fn spawn(engine: Engine) {
    tauri::async_runtime::spawn(async move {
        let after = match engine.current_global_seq().await {
            Ok(seq) => seq,
            Err(e) => {
                tracing::warn!(error = %e, "no notifications: cannot read the event stream");
                return;
            }
        };
        let mut sub = engine.subscribe_all(after);
        loop {
            match sub.next().await {
                Ok(event) => {
                    if let Some((title, body)) = message(&engine, &event).await {
                        show(title, body);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "notifications: event stream error; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
}

async fn message(engine: &Engine, event: &Event) -> Option<(&'static str, String)> {
    let (title, what) = match &event.kind {
        EventKind::StepWaiting {
            key,
            kind: StepKind::Event,
            ..
        } if key.as_str().starts_with("approval/") => (
            "Approval needed",
            format!("a call waits for your approval ({key})"),
        ),
        EventKind::StepNeedsAttention { key, .. } => (
            "Step needs attention",
            format!("step {key} was interrupted and needs your decision"),
        ),
        EventKind::RunStatusChanged {
            status: RunStatus::Failed,
            reason,
        } => (
            "Run failed",
            reason.clone().unwrap_or_else(|| "the run failed".into()),
        ),
        _ => return None,
    };
    let run_id = event.run_id?;
    let agent = match engine.run(run_id).await {
        Ok(Some(run)) => run
            .input
            .pointer("/spec/name")
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .unwrap_or(run.function),
        _ => "a run".to_string(),
    };
    Some((title, format!("{agent}: {what}")))
}

fn show(title: &'static str, body: String) {
    // The D-Bus call blocks: keep it off the async threads.
    tauri::async_runtime::spawn_blocking(move || {
        let shown = notify_rust::Notification::new()
            .appname("Waymark")
            .summary(title)
            .body(&body)
            // The icon the .deb installs under this name.
            .icon("waymark-desktop")
            .show();
        if let Err(e) = shown {
            tracing::info!(error = %e, title, %body, "cannot show a notification");
        }
    });
}
