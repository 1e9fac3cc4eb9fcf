//! Logs go to stderr and to a daily file in the data directory's `logs/`. `RUST_LOG` overrides
//! both levels.

use std::io::IsTerminal as _;
use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// Old daily files beyond this many are deleted by the appender.
const KEEP_LOG_FILES: usize = 14;

/// Installs the subscriber. Keep the returned guard alive until the process ends: dropping it
/// flushes the file writer's queue.
pub fn init(stderr_level: &str) -> Option<WorkerGuard> {
    let filter = |default: &str| {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
        quiet_token_logs(filter)
    };
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_filter(filter(stderr_level));
    let dir = waymark_host::paths::log_dir();
    let (file, guard, file_error) = match appender(&dir) {
        Ok(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_filter(filter("info"));
            (Some(layer), Some(guard), None)
        }
        Err(e) => (None, None, Some(e)),
    };
    // Another subscriber can only exist in tests that call this twice; keep the first.
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
    if let Some(e) = file_error {
        // Info, so a worker says it while one-shot commands stay quiet.
        tracing::info!(dir = %dir.display(), error = %e, "no log file; logging to stderr only");
    }
    guard
}

fn appender(dir: &Path) -> Result<RollingFileAppender, String> {
    // The data directory too (the log directory is its first child to be made): owner-only.
    if let Some(data_dir) = dir.parent().filter(|d| !d.as_os_str().is_empty()) {
        waymark_host::paths::create_private_dir(data_dir).map_err(|e| e.to_string())?;
    }
    waymark_host::paths::create_private_dir(dir).map_err(|e| e.to_string())?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix("waymark")
        .filename_suffix("log")
        .max_log_files(KEEP_LOG_FILES)
        .build(dir)
        .map_err(|e| e.to_string())?;
    owner_only_files(dir);
    Ok(appender)
}

/// The appender creates its files with the process's umask: make them owner-only. A file
/// the next day's rotation makes is covered by the directory's own 0700.
fn owner_only_files(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        // Regular files only: a symlink's target is not ours to change.
        for entry in entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        {
            let _ = std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o600));
        }
    }
}

/// rmcp's OAuth module logs whole token responses at debug level (an OIDC `id_token` in full):
/// it never logs below info, whatever `RUST_LOG` asks.
pub fn quiet_token_logs(filter: EnvFilter) -> EnvFilter {
    match "rmcp::transport::auth=info".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}
