//! `waymark-desktop`: the desktop door. A Tauri shell over the one API (`waymark-api`): app
//! set-up, the tray, OS notifications and three commands. Everything else is in the crates.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod demo_tools;
mod logging;
mod notify;
mod tray;

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context as _;
use tauri::{Manager as _, RunEvent, WindowEvent};
use waymark_agent::app::AgentApp;
use waymark_api::Api;

/// The window every part of the app shows, focuses and notifies about.
pub const MAIN_WINDOW: &str = "main";

fn main() -> ExitCode {
    let started = Instant::now();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // The demo agent's MCP server is this executable: answer before any window exists.
    if args.get(1).is_some_and(|a| a == "demo-tools") {
        return demo_tools::main(&args[2..]);
    }
    let _log_guard = logging::init();
    match run(started) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("waymark-desktop: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(started: Instant) -> anyhow::Result<()> {
    // One runtime for the engine and for Tauri's async commands.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("waymark")
        .build()
        .context("cannot start the async runtime")?;
    tauri::async_runtime::set(runtime.handle().clone());

    let db = waymark_engine::paths::default_db_path();
    let (app, worker, cron) = runtime.block_on(start_engine(&db))?;
    tracing::info!(db = %db.display(), "database open; worker and cron running");

    let api = Api::new(app.clone()).with_actor("desktop");
    let tauri_app = tauri::Builder::default()
        // First: a second launch only shows the window of the first.
        .plugin(tauri_plugin_single_instance::init(|handle, _args, _cwd| {
            tray::show_main_window(handle);
        }))
        .manage(commands::DesktopState::new(api, started))
        .invoke_handler(tauri::generate_handler![
            commands::api_call,
            commands::events_subscribe,
            commands::events_unsubscribe,
        ])
        .setup(move |tauri_app| {
            tray::install(tauri_app)?;
            notify::spawn(app.engine.clone());
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

    let mut stopping = Some((worker, cron));
    tauri_app.run(move |handle, event| {
        if let RunEvent::Exit = event {
            if let Some((worker, cron)) = stopping.take() {
                let app = handle.state::<commands::DesktopState>().api.app().clone();
                tauri::async_runtime::block_on(async move {
                    cron.stop().await;
                    worker.shutdown().await;
                    app.hub().shutdown().await;
                });
                tracing::info!("stopped");
            }
        }
    });
    Ok(())
}

/// As `waymark serve` starts: the database every door shares, the offline demo, the worker and
/// the cron scheduler.
async fn start_engine(
    db: &std::path::Path,
) -> anyhow::Result<(
    AgentApp,
    waymark_engine::Worker,
    waymark_agent::triggers::CronScheduler,
)> {
    let db = db.to_path_buf();
    let data_dir = waymark_engine::paths::data_dir();
    // Opening may probe the OS keychain and wait on SQLite locks: keep it off the async threads.
    let app = tokio::task::spawn_blocking(move || {
        // The engine's example functions too, so a run the CLI started on the shared database
        // runs the same way when this app's worker leases it.
        AgentApp::open(&db, &data_dir, waymark_engine::examples::registry())
            .map_err(|e| anyhow::anyhow!(e))
    })
    .await
    .context("opening the database")??;
    let exe = std::env::current_exe().context("locating this executable")?;
    waymark_agent::demo::install(&app, &exe).map_err(|e| anyhow::anyhow!(e))?;
    let worker = app.engine.start_worker().await?;
    let cron = waymark_agent::triggers::CronScheduler::spawn(app.clone())
        .map_err(|e| anyhow::anyhow!(e))?;
    Ok((app, worker, cron))
}
