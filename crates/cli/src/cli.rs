//! The command line, as clap types. Values that need checking beyond their shape (JSON, run
//! ids, statuses) stay strings here, so their errors come out as one `error:` line.

use std::path::PathBuf;

use clap::{ArgGroup, Args, Parser, Subcommand};

mod agent_args;
mod mail_args;

pub use agent_args::*;
pub use mail_args::*;

#[derive(Debug, Parser)]
#[command(
    name = "waymark",
    version,
    about = "Run durable AI agents and inspect, resolve and fork their runs; run a worker.",
    after_help = "Exit codes: 0 success, 1 error, 2 the run did not succeed (it failed, was cancelled, or waits for a person) or a tool called by hand answered isError."
)]
pub struct Cli {
    /// The database file [default: $WAYMARK_HOME/waymark.db, else the user's data directory]
    #[arg(long, global = true, env = "WAYMARK_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Add, list, show, export and remove saved agents
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// Start a run of a saved agent; with --wait, run it here and print its answer
    Run(RunAgentArgs),
    /// Approve a tool call that waits for a person's approval
    Approve(ApproveArgs),
    /// Reject a tool call that waits for a person's approval (the model is told it was not made)
    Reject(RejectArgs),
    /// Answer the question an agent asked with its ask_human tool, or a server's question
    /// during a tool call (elicit/...: --accept [JSON] | --decline | --cancel)
    Answer(AnswerArgs),
    /// Add, import, list and remove MCP servers; list their tools, call one by hand
    #[command(subcommand)]
    Mcp(McpCommand),
    /// Read what agents remember across runs
    #[command(subcommand)]
    Memory(MemoryCommand),
    /// Store, list and remove model providers' API keys (kept in the OS keychain)
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Mail accounts for email triggers and the send_email tool
    #[command(subcommand)]
    Mail(MailCommand),
    /// List agents' triggers (cron, webhook, email) and their state
    #[command(subcommand)]
    Triggers(TriggersCommand),
    /// Start, list, inspect, cancel, resolve, fork and wait for runs
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Send events to waiting runs, or follow the event stream
    #[command(subcommand)]
    Events(EventsCommand),
    /// Execute runs on this database until Ctrl-C or SIGTERM
    Worker(WorkerArgs),
    /// Serve the API over HTTP (JSON commands, SSE events, OpenAPI) with a worker, until Ctrl-C
    Serve(crate::commands::ServeArgs),
    /// Inspect the database file
    #[command(subcommand)]
    Db(DbCommand),
    /// Run the offline agent demo (scripted model, demo MCP tools, an approval) in this process
    Demo(DemoArgs),
    /// Serve the demo MCP tools (stdio, or Streamable HTTP with --http) for demos and fault tests
    DemoTools(DemoToolsArgs),
}

#[derive(Debug, clap::Args)]
pub struct DemoToolsArgs {
    /// Serve Streamable HTTP on this address (e.g. 127.0.0.1:0) instead of stdio; the endpoint
    /// URL is printed as the one line on stdout.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
    /// The outbox send_email appends to (default: demo-outbox.jsonl in the data directory).
    #[arg(long, value_name = "FILE", env = "DEMO_TOOLS_OUTBOX")]
    pub outbox: Option<std::path::PathBuf>,
}

impl Command {
    /// A worker is a long-running service: its progress is worth seeing on stderr.
    pub fn is_service(&self) -> bool {
        matches!(self, Command::Worker(_) | Command::Serve(_))
    }
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Start a run of a function and print its id
    Start(StartArgs),
    /// List runs, newest first
    List(ListArgs),
    /// Show a run with every step and attempt
    Show(ShowArgs),
    /// Cancel a run and its children
    Cancel(CancelArgs),
    /// Settle a step that needs attention: retry it, mark it done, or fail it
    Resolve(ResolveArgs),
    /// Start a new run from a run's journal before STEP, optionally with STEP's output given
    Fork(ForkArgs),
    /// Wait until a run has finished or needs attention; exit 0 only if it succeeded
    Wait(WaitArgs),
    /// Export a finished agent run as an offline replay file
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    pub run: String,
    /// The replay file to write (replay it with `waymark run AGENT --replay FILE`)
    #[arg(long, value_name = "FILE")]
    pub replay: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// The registered function to run (built in: example.order, example.approval, example.parent)
    pub function: String,
    /// The run's input as JSON, or @FILE to read it from a file
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub input: String,
    /// A second start with the same key returns the first run instead of starting another
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// Fail the run if it has not finished this many seconds after it starts
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub deadline_secs: Option<u64>,
    /// Execute the run in this process, wait for it, and print its trace
    #[arg(long)]
    pub wait: bool,
    /// Print JSON: {"run_id": ...}, or the trace with --wait
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only runs with this status (queued, running, waiting, needs_attention, succeeded, failed, cancelled)
    #[arg(long, value_name = "STATUS")]
    pub status: Option<String>,
    /// Only runs of this function
    #[arg(long, value_name = "NAME")]
    pub function: Option<String>,
    /// At most this many runs
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    pub run: String,
    /// Print the whole trace as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    pub run: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("resolution").required(true).args(["retry", "done", "fail", "look_in_sent"])))]
pub struct ResolveArgs {
    pub run: String,
    /// The step's key, as `runs show` prints it
    pub step: String,
    /// Run the step again, accepting that its effect may repeat
    #[arg(long)]
    pub retry: bool,
    /// The effect happened: record this JSON as the step's output
    #[arg(long, value_name = "JSON")]
    pub done: Option<String>,
    /// Fail the step with this message
    #[arg(long, value_name = "MESSAGE")]
    pub fail: Option<String>,
    /// A send_email step: look its Message-ID up in the account's Sent folder; found, it is
    /// done; not found, it is sent now; still pending there, you decide
    #[arg(long)]
    pub look_in_sent: bool,
}

#[derive(Debug, Args)]
pub struct ForkArgs {
    pub run: String,
    /// The step to fork at: steps before it are copied, it and later ones run again
    pub step: String,
    /// Use this JSON as STEP's output instead of running it
    #[arg(long, value_name = "JSON")]
    pub output: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    pub run: String,
    /// Give up after this many seconds (exit 1)
    #[arg(long, value_name = "SECS")]
    pub timeout_secs: Option<u64>,
    /// Print the settled run record as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Send an event; a run waiting for NAME with a matching payload wakes up
    Send(SendArgs),
    /// Print events as they are committed, until Ctrl-C
    Tail(TailArgs),
}

#[derive(Debug, Args)]
pub struct SendArgs {
    pub name: String,
    /// The payload as JSON, or @FILE
    #[arg(value_name = "JSON")]
    pub payload: String,
    /// Keep an unconsumed event this long
    #[arg(long, value_name = "SECS", default_value_t = 7 * 24 * 3600)]
    pub ttl_secs: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    /// Only this run's events (from its first, unless --after is given)
    #[arg(long, value_name = "RUN")]
    pub run: Option<String>,
    /// Start after this sequence number (the run's own with --run, else the global one);
    /// without it, all runs are followed from now on
    #[arg(long, value_name = "SEQ")]
    pub after: Option<i64>,
    /// One JSON object per line
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Runs held at once (executing or waiting)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_runs: Option<u64>,
    /// How long a claim on a run lasts without renewal
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub lease_secs: Option<u64>,
    /// Also run the agents whose `worker_label` is NAME (repeatable); agents without one run
    /// on every worker
    #[arg(long = "label", value_name = "NAME", value_parser = worker_label)]
    pub labels: Vec<String>,
}

fn worker_label(s: &str) -> Result<String, String> {
    if waymark_host::is_valid_worker_label(s) {
        Ok(s.to_string())
    } else {
        Err("a label is 1 to 64 letters, digits, `.`, `-` or `_`".into())
    }
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Check the file's integrity and schema; exit 1 on any problem
    Check(CheckArgs),
    /// Copy the database to FILE while it is in use (SQLite online backup); the copy is checked
    Backup(BackupArgs),
    /// Give freed space back to the disk (VACUUM)
    Vacuum,
    /// Delete stored payloads no run refers to any more
    Gc,
    /// Size, row counts and the largest runs
    Stats(CheckArgs),
    /// Keep the team database's password (read from stdin) in this machine's keychain, so
    /// `--db postgres://user@host/db` needs no password anywhere else
    Password(PasswordArgs),
    /// Copy this database (agents, MCP servers, settings, runs and their journals) into an
    /// empty team database, verified table by table; secret values stay on this machine
    Copy(CopyArgs),
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The team database: postgres://user@host:port/database (no password in it)
    #[arg(long, value_name = "URL")]
    pub to: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Remove the kept password instead
    #[arg(long)]
    pub forget: bool,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The new file (must not exist)
    pub file: std::path::PathBuf,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[arg(long)]
    pub json: bool,
}
