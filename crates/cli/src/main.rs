//! `waymark`: the headless door to the durable engine.

mod cli;
mod commands;
mod logging;
mod output;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    if let Some(code) = version() {
        return code;
    }
    let cli = cli::Cli::parse();
    let level = if cli.command.is_service() {
        "info"
    } else {
        "warn"
    };
    // Held to the end of main: dropping it flushes the log file.
    let _log_guard = logging::init(level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(commands::run(cli));
    // Ends the worker's tasks and closes the store (its writer drains what was queued).
    drop(runtime);
    match result {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// `waymark --version` (or `-V`), with `--db` or not: the version, the schema versions this
/// build writes, where the data lives and the database's own schema (read, never written).
fn version() -> Option<ExitCode> {
    let (mut asked, mut db_flag) = (false, None);
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--version" || arg == "-V" {
            asked = true;
        } else if arg == "--db" {
            db_flag = Some(std::path::PathBuf::from(args.next()?));
        } else {
            // Anything else (a command, --db=…): clap's to parse.
            return None;
        }
    }
    if !asked {
        return None;
    }
    let data_dir = waymark_host::paths::data_dir();
    let db = match db_flag {
        Some(db) => Ok(db),
        None => waymark_host::chosen_db(&data_dir)
            .map(|(db, _)| db)
            .map_err(|e| e.to_string()),
    };
    print!(
        "{}",
        waymark_host::version_text(&data_dir, db.as_deref().map_err(Clone::clone))
    );
    Some(ExitCode::SUCCESS)
}

/// The whole anyhow chain joined with ": ", on one line whatever the messages contain.
fn one_line(e: &anyhow::Error) -> String {
    let text = format!("{e:#}");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join(" ")
}

/// `waymark runs list | head` closing the pipe early is not an error worth reporting.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
