//! The IPC commands: every API command by name, the event stream per Channel, and opening a
//! page (a sign-in) in the system browser.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;
use tauri::ipc::Channel;
use tauri::State;
use waymark_api::{Api, ApiError, ApiEvent, EventFilter, RunId};

pub struct DesktopState {
    pub api: Api,
    started: Instant,
    first_call_logged: AtomicBool,
    next_subscription: AtomicU64,
    subscriptions: Arc<Mutex<HashMap<u64, tauri::async_runtime::JoinHandle<()>>>>,
}

impl DesktopState {
    pub fn new(api: Api, started: Instant) -> Self {
        DesktopState {
            api,
            started,
            first_call_logged: AtomicBool::new(false),
            next_subscription: AtomicU64::new(1),
            subscriptions: Arc::default(),
        }
    }
}

/// Any command of the API's command list, dispatched by name as `POST /api/v1/{command}` is.
#[tauri::command]
pub async fn api_call(
    state: State<'_, DesktopState>,
    command: String,
    request: Value,
) -> Result<Value, ApiError> {
    let result = state.api.call(&command, request).await;
    if result.is_ok() && !state.first_call_logged.swap(true, Ordering::Relaxed) {
        // The start-up figure `scripts/desktop.sh bench` reads.
        let ms = state.started.elapsed().as_millis();
        println!("waymark-desktop: first api call ok after {ms} ms");
    }
    result
}

/// Follows one run's events (`run`, after its `after` sequence number) or every run's (after
/// the global one) into `on_event`, first what was missed, then live. Returns the id to stop it.
#[tauri::command]
pub async fn events_subscribe(
    state: State<'_, DesktopState>,
    run: Option<RunId>,
    after: Option<i64>,
    on_event: Channel<ApiEvent>,
) -> Result<u64, ApiError> {
    let mut sub = state
        .api
        .subscribe(EventFilter::of(run), after.unwrap_or(0))
        .await?;
    let id = state.next_subscription.fetch_add(1, Ordering::Relaxed);
    let subscriptions = state.subscriptions.clone();
    // Held while spawning, so the task's own removal comes after the insert.
    let mut map = lock(&state.subscriptions);
    let task = tauri::async_runtime::spawn(async move {
        loop {
            let event = match sub.next().await {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(subscription = id, error = %e.message, "event stream ended");
                    break;
                }
            };
            // The window went away (reload, close): nobody listens any more.
            if on_event.send(event).is_err() {
                break;
            }
        }
        lock(&subscriptions).remove(&id);
    });
    map.insert(id, task);
    Ok(id)
}

#[tauri::command]
pub fn events_unsubscribe(state: State<'_, DesktopState>, id: u64) {
    if let Some(task) = lock(&state.subscriptions).remove(&id) {
        task.abort();
    }
}

/// Opens an `http(s)` URL in the system browser (`$BROWSER`, else the platform's opener) without
/// waiting for it: the webview's own `window.open` stays inside the app.
#[tauri::command]
pub fn open_external(url: String) -> Result<(), ApiError> {
    crate::external::open(&url)
}

/// Whether the app starts at login (its login entry exists).
#[tauri::command]
pub fn start_at_login_get(app: tauri::AppHandle) -> Result<bool, ApiError> {
    use tauri_plugin_autostart::ManagerExt as _;
    app.autolaunch().is_enabled().map_err(login_entry_error)
}

/// Writes or deletes the login entry (the app then starts in the tray); returns the new state.
#[tauri::command]
pub fn start_at_login_set(app: tauri::AppHandle, enabled: bool) -> Result<bool, ApiError> {
    use tauri_plugin_autostart::ManagerExt as _;
    let manager = app.autolaunch();
    if enabled {
        manager.enable()
    } else {
        manager.disable()
    }
    .map_err(login_entry_error)?;
    let now = manager.is_enabled().map_err(login_entry_error)?;
    tracing::info!(enabled = now, "start at login");
    Ok(now)
}

fn login_entry_error(e: tauri_plugin_autostart::Error) -> ApiError {
    ApiError::internal(format!("cannot change the login entry: {e}"))
}

/// A panic while holding the map cannot leave it inconsistent: keep using it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
