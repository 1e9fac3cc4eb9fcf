//! Dispatch, and what every command shares: opening the database, parsing ids and JSON.

mod agents;
mod db;
mod demo;
mod events;
mod follow;
mod human;
mod keys;
mod mail;
mod mcp;
mod mcp_resources;
mod mcp_sign_in;
mod replay;
mod run;
mod runs;
mod serve;
mod summary;
mod worker;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, Context as _};
use serde_json::Value;
use waymark_api::{RunId, RunStatus};
use waymark_host::{DatabaseChosenBy, Host, HostOptions};

pub use serve::ServeArgs;

use crate::cli::{
    AgentsCommand, Cli, Command, DbCommand, EventsCommand, MailCommand, McpCommand, MemoryCommand,
    RunsCommand,
};

/// The run ended without succeeding (failed, cancelled, or needs a human): not an error of
/// the command, but a script must be able to tell.
pub const EXIT_RUN_UNSUCCESSFUL: u8 = 2;

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let (db, chosen_by) = db_path(cli.db)?;
    match cli.command {
        Command::Runs(c) => match c {
            RunsCommand::Start(a) => runs::start(&db, a).await,
            RunsCommand::List(a) => runs::list(&db, a).await,
            RunsCommand::Show(a) => runs::show(&db, a).await,
            RunsCommand::Cancel(a) => runs::cancel(&db, a).await,
            RunsCommand::Resolve(a) => runs::resolve(&db, a).await,
            RunsCommand::Fork(a) => runs::fork(&db, a).await,
            RunsCommand::Wait(a) => runs::wait(&db, a).await,
            RunsCommand::Export(a) => replay::export(&db, a).await,
        },
        Command::Events(c) => match c {
            EventsCommand::Send(a) => events::send(&db, a).await,
            EventsCommand::Tail(a) => events::tail(&db, a).await,
        },
        Command::Worker(a) => worker::worker(&db, a).await,
        Command::Db(DbCommand::Check(a)) => db::check(&db, a).await,
        Command::Db(DbCommand::Password(a)) => db::password(&db, a),
        Command::Db(DbCommand::Copy(a)) => db::copy(&db, a).await,
        Command::Db(c) => db::maintain(&db, c).await,
        Command::Demo(a) => demo::demo(&db, a).await,
        Command::Agents(c) => match c {
            AgentsCommand::Add(a) => agents::add(&db, a).await,
            AgentsCommand::List(a) => agents::list(&db, a).await,
            AgentsCommand::Show(a) => agents::show(&db, a).await,
            AgentsCommand::Export(a) => agents::export(&db, a).await,
            AgentsCommand::Rm(a) => agents::rm(&db, a).await,
            AgentsCommand::Draft(a) => replay::draft(&db, a).await,
        },
        Command::Run(a) => run::run(&db, a).await,
        Command::Approve(a) => human::approve(&db, a).await,
        Command::Reject(a) => human::reject(&db, a).await,
        Command::Answer(a) => human::answer(&db, a).await,
        Command::Mcp(c) => match c {
            McpCommand::Add(a) => mcp::add(&db, a).await,
            McpCommand::Import(a) => mcp::import(&db, a).await,
            McpCommand::List(a) => mcp::list(&db, a).await,
            McpCommand::Rm(a) => mcp::rm(&db, a).await,
            McpCommand::Tools(a) => mcp::tools(&db, a).await,
            McpCommand::Call(a) => mcp::call(&db, a).await,
            McpCommand::Login(a) => mcp_sign_in::login(&db, a).await,
            McpCommand::Resources(a) => mcp_resources::resources(&db, a).await,
            McpCommand::Prompts(a) => mcp_resources::prompts(&db, a).await,
            McpCommand::Logout(a) => mcp_sign_in::logout(&db, a).await,
        },
        Command::Memory(MemoryCommand::List(a)) => agents::memory(&db, a).await,
        Command::Keys(c) => keys::keys(&db, c).await,
        Command::Mail(MailCommand::Account(c)) => mail::account(&db, c).await,
        Command::Triggers(c) => mail::triggers(&db, c).await,
        Command::Serve(a) => serve::serve(&db, chosen_by, a).await,
        Command::DemoTools(a) => demo_tools(a).await,
    }
}

/// Faults may be preset with DEMO_TOOLS_FAULTS, as for the standalone server.
async fn demo_tools(a: crate::cli::DemoToolsArgs) -> anyhow::Result<ExitCode> {
    let outbox = a
        .outbox
        .unwrap_or_else(|| waymark_host::paths::data_dir().join("demo-outbox.jsonl"));
    let config = waymark_demo_tools::DemoToolsConfig::from_env(outbox)?;
    waymark_demo_tools::serve_until_ctrl_c(config, a.http).await?;
    Ok(ExitCode::SUCCESS)
}

/// `--db` (or `$WAYMARK_DB`, which clap reads into it), else the path every door uses.
/// `--db` (or `$WAYMARK_DB`), else the database the Settings chose, else this computer's file;
/// and what chose it.
fn db_path(flag: Option<PathBuf>) -> anyhow::Result<(PathBuf, DatabaseChosenBy)> {
    match flag.filter(|p| !p.as_os_str().is_empty()) {
        Some(db) => Ok((db, DatabaseChosenBy::Environment)),
        None => Ok(waymark_host::chosen_db(&waymark_host::paths::data_dir())?),
    }
}

/// A host on the database (no worker, no triggers), recording `cli` as the door in the
/// journal's decisions.
pub(crate) async fn open_host(db: &Path) -> anyhow::Result<Host> {
    started(Host::start(HostOptions::new(db).actor("cli")).await?)
}

/// A host just started: its upgrade of an older database, if it made one, as a one-line
/// notice on stderr (stdout stays the command's own output).
pub(crate) fn started(host: Host) -> anyhow::Result<Host> {
    if let Some(upgrade) = host.upgrade() {
        eprintln!("waymark: {}", upgrade.notice());
    }
    Ok(host)
}

/// The one API over the database, for a command that only reads or decides.
pub(crate) async fn open_api(db: &Path) -> anyhow::Result<waymark_api::Api> {
    Ok(open_host(db).await?.api().clone())
}

/// An API error as the CLI's one-line error: its message.
pub(crate) fn api_error(e: waymark_api::ApiError) -> anyhow::Error {
    anyhow!(e.message)
}

fn parse_run_id(text: &str) -> anyhow::Result<RunId> {
    RunId::parse(text).map_err(|e| anyhow!(e))
}

/// JSON from a flag's value, or from a file when the value is `@PATH`. Errors name the flag.
fn parse_json(flag: &str, text: &str) -> anyhow::Result<Value> {
    let (text, from) = match text.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path).with_context(|| format!("{flag}: cannot read {path}"))?,
            format!(" (from {path})"),
        ),
        None => (text.to_string(), String::new()),
    };
    serde_json::from_str(&text).map_err(|e| anyhow!("{flag} is not valid JSON{from}: {e}"))
}

fn exit_for(status: RunStatus) -> ExitCode {
    match status {
        RunStatus::Succeeded => ExitCode::SUCCESS,
        RunStatus::Failed
        | RunStatus::Cancelled
        | RunStatus::NeedsAttention
        | RunStatus::Queued
        | RunStatus::Running
        | RunStatus::Waiting => ExitCode::from(EXIT_RUN_UNSUCCESSFUL),
    }
}

/// Resolves on Ctrl-C, or on SIGTERM where there is one (service managers send it).
pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    // Without a Ctrl-C handler, never resolve rather than stop at once.
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_name_the_flag() {
        let e = parse_json("--input", "{nope").err().map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.starts_with("--input is not valid JSON")));
        assert!(parse_json("--input", r#"{"a": 1}"#).is_ok());
    }
}
