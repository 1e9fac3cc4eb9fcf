//! OS notifications for what needs a person: a call waiting for approval, a step in need of
//! attention, a failed run (the host's notices, from "now"); a notification that
//! cannot be shown (no notification daemon) is only logged.

use waymark_api::Api;

/// Shows the host's notices as OS notifications.
pub fn spawn(api: Api) {
    let notices = waymark_host::notices::follow(api, |notice| show(notice.title, notice.body));
    tauri::async_runtime::spawn(notices);
}

/// This start upgraded an older database: say so once (the About box keeps it).
pub fn upgraded(notice: &str) {
    show("Database upgraded", notice.to_string());
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
