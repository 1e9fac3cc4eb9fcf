//! `waymark-desktop`: the desktop door. A Tauri shell over the one API (`waymark-api`): app
//! set-up, the tray, OS notifications and four commands (the API, events, opening a page in the
//! browser). Everything else is in the crates.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod demo_tools;
mod external;
mod logging;
mod notify;
mod startup_error;
mod tray;
mod webview;

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use tauri::{RunEvent, WindowEvent};
use waymark_host::{Host, HostOptions, DEFAULT_SHUTDOWN_LIMIT};

/// The window every part of the app shows, focuses and notifies about.
pub const MAIN_WINDOW: &str = "main";

/// The flag the login entry starts the app with: the tray only, no window.
pub const AUTOSTART_FLAG: &str = "--autostart";

fn main() -> ExitCode {
    let started = Instant::now();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // The demo agent's MCP server is this executable: answer before any window exists.
    if args.get(1).is_some_and(|a| a == "demo-tools") {
        return demo_tools::main(&args[2..]);
    }
    let _log_guard = logging::init();
    let hidden = args.iter().any(|a| a == AUTOSTART_FLAG);
    match run(started, hidden) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("waymark-desktop: {e:#}");
            // Started from a menu or at login there is no terminal: say it in a window too.
            startup_error::show(&format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}

fn run(started: Instant, hidden: bool) -> anyhow::Result<()> {
    // One runtime for the engine and for Tauri's async commands.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("waymark")
        .build()
        .context("cannot start the async runtime")?;
    tauri::async_runtime::set(runtime.handle().clone());

    let (db, chosen_by) = waymark_host::chosen_db(&waymark_host::paths::data_dir())?;
    let options = HostOptions::new(&db)
        .chosen_by(chosen_by)
        .actor("desktop")
        .serving()?;
    let host = runtime.block_on(Host::start(options))?;
    tracing::info!(db = %db.display(), "database open; worker and cron running");
    if let Some(upgrade) = host.upgrade() {
        notify::upgraded(&upgrade.notice());
    }
    let worker = host.worker_liveness();

    let api = host.api().clone();
    let notice_api = api.clone();
    let tray_api = api.clone();
    // Webhooks reach the app on loopback while some agent has a webhook trigger.
    let hooks_stop = tokio_util::sync::CancellationToken::new();
    runtime.spawn(waymark_server::serve_loopback_hooks(
        api.clone(),
        host.hooks(),
        hooks_stop.clone(),
    ));
    let tauri_app = tauri::Builder::default()
        // First: a second launch only shows the window of the first.
        .plugin(tauri_plugin_single_instance::init(|handle, args, _cwd| {
            // The login entry's second start (a slow session) shows nothing; any other shows
            // the first app's window.
            if !args.iter().any(|a| a == AUTOSTART_FLAG) {
                tray::show_main_window(handle);
            }
        }))
        // Start at login (Settings; off until the user turns it on): a login entry that
        // starts the app in the tray.
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec![AUTOSTART_FLAG]),
        ))
        .manage(commands::DesktopState::new(api, started))
        .invoke_handler(tauri::generate_handler![
            commands::api_call,
            commands::events_subscribe,
            commands::events_unsubscribe,
            commands::open_external,
            commands::start_at_login_get,
            commands::start_at_login_set,
        ])
        .setup(move |tauri_app| {
            tray::install(tauri_app, tray_api, worker)?;
            // The window is made here, not from the config: started at login it is made
            // hidden (the tray's Show Waymark or a second launch shows it).
            let config = tauri_app
                .config()
                .app
                .windows
                .iter()
                .find(|w| w.label == MAIN_WINDOW)
                .cloned()
                .context("tauri.conf.json has no main window")?;
            tauri::WebviewWindowBuilder::from_config(tauri_app.handle(), &config)?
                .visible(!hidden)
                .build()?;
            webview::tune(tauri_app);
            if hidden {
                tracing::info!("started at login: in the tray, no window");
            }
            notify::spawn(notice_api);
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window keeps the worker and cron running: it only hides to the tray.
            if let WindowEvent::CloseRequested { api, .. } = event {
                if window.label() == MAIN_WINDOW {
                    api.prevent_close();
                    if let Err(e) = window.hide() {
                        tracing::warn!(error = %e, "cannot hide the window");
                    }
                }
            }
        })
        .build(tauri::generate_context!())
        .context("cannot start the desktop app")?;

    let mut stopping = Some(host);
    tauri_app.run(move |_handle, event| {
        if let RunEvent::Exit = event {
            if let Some(host) = stopping.take() {
                hooks_stop.cancel();
                tauri::async_runtime::block_on(host.shutdown(DEFAULT_SHUTDOWN_LIMIT));
                tracing::info!("stopped");
            }
        }
    });
    Ok(())
}
