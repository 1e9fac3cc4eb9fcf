//! `waymark-desktop-floor`: the memory floor of the desktop app. One Tauri window of the app's
//! size on an empty page, nothing else: `scripts/desktop.sh bench` measures its idle PSS next to
//! the app's, so the app's cost is read against what WebKitGTK and Tauri cost by themselves.

use std::time::Instant;

use tauri::webview::PageLoadEvent;

fn main() {
    let started = Instant::now();
    tauri::Builder::default()
        .on_page_load(move |_webview, payload| {
            if payload.event() == PageLoadEvent::Finished {
                // The line `scripts/desktop.sh bench` waits for before its idle clock starts.
                let ms = started.elapsed().as_millis();
                println!("waymark-desktop-floor: page loaded after {ms} ms");
            }
        })
        .run(tauri::generate_context!())
        .expect("cannot start the floor window");
}
