//! The tray: the app lives on while its window is hidden (and, started at login, with no
//! window at all). Its menu says whether the worker runs, how many triggers are active and how
//! many runs wait for the user; then Show Waymark and Quit.

use std::time::Duration;

use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager as _};
use waymark_api::{Api, MailRequest, RunStatus, RunsListRequest};
use waymark_host::WorkerLiveness;

use crate::MAIN_WINDOW;

const SHOW: &str = "show";
const QUIT: &str = "quit";
/// How often the status lines are read again.
const STATUS_EVERY: Duration = Duration::from_secs(3);
/// Runs counted at most (the line then says "100+").
const WAITING_CAP: usize = 100;

/// What the tray's status lines say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrayStatus {
    pub worker_running: bool,
    pub triggers_active: usize,
    pub runs_waiting: usize,
}

impl TrayStatus {
    fn worker_line(&self) -> String {
        if self.worker_running {
            "Worker: running".into()
        } else {
            "Worker: stopped".into()
        }
    }

    fn triggers_line(&self) -> String {
        match self.triggers_active {
            0 => "Triggers: none active".into(),
            1 => "Triggers: 1 active".into(),
            n => format!("Triggers: {n} active"),
        }
    }

    fn waiting_line(&self) -> String {
        match self.runs_waiting {
            0 => "No run waits for you".into(),
            1 => "1 run waits for you".into(),
            n if n >= WAITING_CAP => format!("{WAITING_CAP}+ runs wait for you"),
            n => format!("{n} runs wait for you"),
        }
    }
}

/// The status items, kept to rewrite their text.
struct StatusItems {
    worker: MenuItem<tauri::Wry>,
    triggers: MenuItem<tauri::Wry>,
    waiting: MenuItem<tauri::Wry>,
}

pub fn install(app: &tauri::App, api: Api, worker: Option<WorkerLiveness>) -> tauri::Result<()> {
    let status = |text: &str| MenuItem::new(app, text, false, None::<&str>);
    let items = StatusItems {
        worker: status("Worker: starting")?,
        triggers: status("Triggers: …")?,
        waiting: status("Runs: …")?,
    };
    let show = MenuItem::with_id(app, SHOW, "Show Waymark", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, QUIT, "Quit", true, None::<&str>)?;
    let separator = PredefinedMenuItem::separator(app)?;
    let menu = Menu::with_items(
        app,
        &[
            &items.worker,
            &items.triggers,
            &items.waiting,
            &separator,
            &show,
            &quit,
        ],
    )?;
    let mut tray = TrayIconBuilder::with_id("waymark")
        .tooltip("Waymark")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| match event.id().as_ref() {
            SHOW => show_main_window(app),
            QUIT => app.exit(0),
            _ => {}
        })
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click {
                button: MouseButton::Left,
                button_state: MouseButtonState::Up,
                ..
            } = event
            {
                show_main_window(tray.app_handle());
            }
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    tauri::async_runtime::spawn(follow_status(api, worker, items));
    Ok(())
}

/// Reads the status every few seconds and rewrites the lines that changed; each change is
/// logged (`tray: …`), which is how a test or a support request sees what the tray says.
async fn follow_status(api: Api, worker: Option<WorkerLiveness>, items: StatusItems) {
    let mut shown: Option<TrayStatus> = None;
    loop {
        let status = read_status(&api, worker.as_ref()).await;
        if shown.as_ref() != Some(&status) {
            let lines = [
                (&items.worker, status.worker_line()),
                (&items.triggers, status.triggers_line()),
                (&items.waiting, status.waiting_line()),
            ];
            for (item, text) in &lines {
                if let Err(e) = item.set_text(text) {
                    tracing::warn!(error = %e, "cannot update the tray menu");
                }
            }
            tracing::info!("tray: {}; {}; {}", lines[0].1, lines[1].1, lines[2].1);
            shown = Some(status);
        }
        tokio::time::sleep(STATUS_EVERY).await;
    }
}

async fn read_status(api: &Api, worker: Option<&WorkerLiveness>) -> TrayStatus {
    let triggers_active = match api.triggers_list(MailRequest::default()).await {
        Ok(t) => t
            .triggers
            .iter()
            .filter(|t| {
                t.kind != "manual"
                    && matches!(
                        t.state.as_str(),
                        "active" | "idle" | "polling" | "connecting"
                    )
            })
            .count(),
        Err(e) => {
            tracing::warn!(error = %e.message, "tray: cannot list triggers");
            0
        }
    };
    let mut runs_waiting = 0;
    for status in [RunStatus::Waiting, RunStatus::NeedsAttention] {
        let request = RunsListRequest {
            status: Some(status),
            limit: Some(WAITING_CAP),
            ..Default::default()
        };
        match api.runs_list(request).await {
            Ok(page) => runs_waiting += page.runs.len(),
            Err(e) => tracing::warn!(error = %e.message, "tray: cannot count waiting runs"),
        }
    }
    TrayStatus {
        worker_running: worker.is_some_and(WorkerLiveness::is_running),
        triggers_active,
        runs_waiting: runs_waiting.min(WAITING_CAP),
    }
}

pub fn show_main_window(app: &AppHandle) {
    let Some(window) = app.get_webview_window(MAIN_WINDOW) else {
        return;
    };
    let shown = window
        .show()
        .and_then(|()| window.unminimize())
        .and_then(|()| window.set_focus());
    if let Err(e) = shown {
        tracing::warn!(error = %e, "cannot show the window");
    }
}
