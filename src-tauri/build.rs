fn main() {
    // Relative relocations packed (DT_RELR, glibc 2.36+, GNU ld 2.38+): the loader reads a few
    // KiB at start instead of megabytes of `.rela.dyn`, which stayed resident for the app's life.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu")
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    // Declaring the app's commands makes them permission-checked: only what
    // capabilities/ grants can be invoked.
    let manifest = tauri_build::AppManifest::new().commands(&[
        "api_call",
        "events_subscribe",
        "events_unsubscribe",
        "open_external",
        "start_at_login_get",
        "start_at_login_set",
    ]);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("tauri-build: invalid tauri.conf.json, capabilities or icons");
}
