fn main() {
    // Declaring the app's commands makes them permission-checked: only what
    // capabilities/ grants can be invoked.
    let manifest = tauri_build::AppManifest::new().commands(&[
        "api_call",
        "events_subscribe",
        "events_unsubscribe",
        "open_external",
    ]);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("tauri-build: invalid tauri.conf.json, capabilities or icons");
}
