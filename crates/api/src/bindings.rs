//! The TypeScript bindings of every type the UI sees, written by ts-rs from the Rust types.
//! `ui/src/bindings/` holds them committed; a test fails when they are stale
//! (`make bindings` rewrites them).

use std::path::Path;

use ts_rs::TS as _;

/// Where the committed bindings live, relative to the workspace root.
pub const BINDINGS_DIR: &str = "ui/src/bindings";

/// Writes every binding into `dir`. 64-bit integers become `number`: ids, times and sequence
/// numbers all stay below 2^53.
pub fn export_all(dir: &Path) -> Result<(), ts_rs::ExportError> {
    let cfg = ts_rs::Config::new()
        .with_out_dir(dir)
        .with_large_int("number");
    crate::commands::export_command_types(&cfg)?;
    crate::ApiError::export_all(&cfg)?;
    crate::ApiEvent::export_all(&cfg)?;
    // The UI's provider choices are checked against it (a Record over every kind).
    waymark_agent::spec::ProviderKind::export_all(&cfg)?;
    // What agents_get and agents_draft return; the builder reads specs through it.
    waymark_agent::spec::AgentSpec::export_all(&cfg)?;
    // An email-triggered run's input carries the message (`{trigger: "email", email}`).
    waymark_mail::IncomingEmail::export_all(&cfg)?;
    let map = crate::commands::command_map_typescript(&cfg);
    std::fs::write(dir.join("Commands.ts"), map).map_err(ts_rs::ExportError::Io)?;
    Ok(())
}
