//! The window's WebKitGTK settings, for a window that idles most of its life.
//!
//! Accelerated compositing off: WebKitGTK's default composites the page's layers with OpenGL,
//! which keeps layer backing stores and a GL context in the web process (about 70 MiB of its
//! idle PSS under Mesa). The app's pages are lists, forms and a timeline, which the CPU paints
//! well. Measured with `scripts/desktop.sh bench`; the other levers tried there (cache model
//! `DocumentViewer`, page cache, WebGL, WebAudio, media off) changed nothing measurable.

use tauri::Manager as _;

use crate::MAIN_WINDOW;

pub fn tune(app: &tauri::App) {
    let Some(window) = app.get_webview_window(MAIN_WINDOW) else {
        return;
    };
    let applied = window.with_webview(|webview| {
        #[cfg(target_os = "linux")]
        {
            use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt as _, WebViewExt as _};
            if let Some(settings) = webview.inner().settings() {
                settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = webview;
    });
    if let Err(e) = applied {
        tracing::warn!(error = %e, "cannot set the window's WebKit settings");
    }
}
