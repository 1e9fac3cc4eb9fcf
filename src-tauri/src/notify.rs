//! OS notifications for what needs a person: a call waiting for approval, a step in need of
//! attention, a failed run. Follows the engine's event stream from "now"; a notification that
//! cannot be shown (no notification daemon) is only logged.

use std::time::Duration;

use waymark_api::{Api, ApiEvent, EventFilter, RunIdRequest};
use waymark_api::{EventKind, RunStatus, StepKind};

pub fn spawn(api: Api) {
    tauri::async_runtime::spawn(async move {
        let after = match api.current_seq().await {
            Ok(seq) => seq,
            Err(e) => {
                tracing::warn!(error = %e.message, "no notifications: cannot read the event stream");
                return;
            }
        };
        let mut sub = match api.subscribe(EventFilter::default(), after).await {
            Ok(sub) => sub,
            Err(e) => {
                tracing::warn!(error = %e.message, "no notifications: cannot follow events");
                return;
            }
        };
        loop {
            match sub.next().await {
                Ok(event) => {
                    if let Some((title, body)) = message(&api, &event).await {
                        show(title, body);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e.message, "notifications: event stream error; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
}

async fn message(api: &Api, event: &ApiEvent) -> Option<(&'static str, String)> {
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
    let agent = match api.runs_get(RunIdRequest { run_id }).await {
        Ok(run) => run.summary.agent,
        Err(_) => "a run".to_string(),
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
