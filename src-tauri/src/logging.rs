//! Logs go to stderr and to a daily file `waymark-desktop.*.log` in the data directory's
//! `logs/` (an app started from a menu has no terminal). `RUST_LOG` overrides the level.

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{fmt, EnvFilter, Layer as _};

const KEEP_LOG_FILES: usize = 14;

/// Keep the guard until the process ends: dropping it flushes the file.
pub fn init() -> Option<WorkerGuard> {
    // rmcp's OAuth module logs whole token responses at debug level: never below info.
    let filter = || {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
        match "rmcp::transport::auth=info".parse() {
            Ok(directive) => filter.add_directive(directive),
            Err(_) => filter,
        }
    };
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(filter());
    let dir = waymark_host::paths::log_dir();
    let appender = std::fs::create_dir_all(&dir)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            tracing_appender::rolling::RollingFileAppender::builder()
                .rotation(tracing_appender::rolling::Rotation::DAILY)
                .filename_prefix("waymark-desktop")
                .filename_suffix("log")
                .max_log_files(KEEP_LOG_FILES)
                .build(&dir)
                .map_err(|e| e.to_string())
        });
    let (file, guard) = match appender {
        Ok(a) => {
            let (writer, guard) = tracing_appender::non_blocking(a);
            let layer = fmt::layer()
                .with_writer(writer)
                .with_ansi(false)
                .with_filter(filter());
            (Some(layer), Some(guard))
        }
        Err(e) => {
            eprintln!("waymark-desktop: no log file in {}: {e}", dir.display());
            (None, None)
        }
    };
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
    guard
}
