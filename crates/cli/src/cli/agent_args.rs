//! The agent-side commands: agents, runs of agents, human decisions, MCP servers, memory, demo.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Save the agent described by a spec file (.toml or .json), adding or replacing it
    Add(AgentAddArgs),
    /// List saved agents
    List(JsonFlag),
    /// Print an agent's spec (TOML, or JSON with --json)
    Show(AgentShowArgs),
    /// Write an agent's spec to a file or stdout
    Export(AgentExportArgs),
    /// Remove an agent (its past runs keep the spec they started with)
    Rm(AgentNameArgs),
    /// Draft an agent from a plain description with a model; prints the spec (not saved)
    Draft(AgentDraftArgs),
}

#[derive(Debug, Args)]
pub struct AgentDraftArgs {
    /// What the agent should do
    pub description: String,
    /// The drafting model as a spec's `model` table in JSON, e.g.
    /// '{"provider":"openai","model":"gpt-4o-mini"}' (the default)
    #[arg(long, value_name = "JSON")]
    pub model: Option<String>,
    /// Print the whole answer as JSON (spec, repairs, notes)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AgentAddArgs {
    /// The spec file; its extension (.toml or .json) says how to read it. A scripted model's
    /// relative `model.script` is taken from this file's folder.
    pub file: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AgentShowArgs {
    pub name: String,
    /// Print the spec as JSON instead of TOML
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SpecFormat {
    Toml,
    Json,
}

#[derive(Debug, Args)]
pub struct AgentExportArgs {
    pub name: String,
    /// The file format [default: from the --output extension, else toml]
    #[arg(long, value_enum)]
    pub format: Option<SpecFormat>,
    /// Write to this file instead of stdout
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AgentNameArgs {
    pub name: String,
}

#[derive(Debug, Args)]
pub struct RunAgentArgs {
    /// The saved agent to run (see `waymark agents list`)
    pub agent: String,
    /// What the user says to the agent
    #[arg(long, value_name = "TEXT", required_unless_present = "replay")]
    pub input: Option<String>,
    /// Replay an exported run (`waymark runs export RUN --replay FILE`) instead: its model
    /// turns, tool results and answers come from the file; nothing is called
    #[arg(long, value_name = "FILE", conflicts_with = "input")]
    pub replay: Option<std::path::PathBuf>,
    /// Run the agent in this process until it answers or waits for a person, then print the
    /// answer and a summary of its steps
    #[arg(long)]
    pub wait: bool,
    /// Print JSON: {"run_id": ...}, or the result with --wait
    #[arg(long)]
    pub json: bool,
    /// A second start with the same key returns the first run instead of starting another
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// Append an MCP server's resource to the input, read when the run starts (repeatable)
    #[arg(long = "attach", value_name = "SERVER:URI", conflicts_with = "replay")]
    pub attach: Vec<String>,
    /// Append an MCP server's prompt (with `--prompt-arg K=V`) to the input (repeatable)
    #[arg(
        long = "attach-prompt",
        value_name = "SERVER:PROMPT",
        conflicts_with = "replay"
    )]
    pub attach_prompt: Vec<String>,
    /// An argument of the attached prompts (repeatable)
    #[arg(long = "prompt-arg", value_name = "K=V", requires = "attach_prompt")]
    pub prompt_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ApproveArgs {
    pub run: String,
    /// The waiting call's step: approval/N.I (or tool/N.I, or N.I)
    pub step: String,
}

#[derive(Debug, Args)]
pub struct RejectArgs {
    pub run: String,
    /// The waiting call's step: approval/N.I (or tool/N.I, or N.I)
    pub step: String,
    /// Why, as the model is told
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct AnswerArgs {
    pub run: String,
    /// The ask_human call's step, tool/N.I (or N.I); or a server's question, elicit/...
    pub step: String,
    /// The answer to ask_human, as the agent reads it
    pub text: Option<String>,
    /// A server's question: accept it, a form with its fields as a JSON object (a link
    /// without any)
    #[arg(long, value_name = "JSON", num_args = 0..=1, default_missing_value = "", conflicts_with_all = ["decline", "cancel", "text"])]
    pub accept: Option<String>,
    /// A server's question: say no to it
    #[arg(long, conflicts_with_all = ["cancel", "text"])]
    pub decline: bool,
    /// A server's question: dismiss it
    #[arg(long, conflicts_with = "text")]
    pub cancel: bool,
}

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Save a server: `mcp add NAME [--env K=V]... [--cwd DIR] -- COMMAND ARGS...` for a local
    /// process, or `mcp add NAME --url URL [--header K=V]...` for a remote one. Env and header
    /// values are kept in the secret store, not in the database.
    Add(McpAddArgs),
    /// Import servers from a Claude Desktop, Cursor or VS Code config file
    Import(McpImportArgs),
    /// List saved servers (secret values masked)
    List(JsonFlag),
    /// Remove a server and its secrets
    Rm(McpNameArgs),
    /// Connect to a server and list its tools with their safety class: a saved one by NAME, or
    /// one not saved with `--url URL` or `-- COMMAND ARGS...`
    Tools(McpToolsArgs),
    /// Call a tool by hand (`NAME TOOL [JSON]`, or `TOOL [JSON]` with `--url` or `--
    /// COMMAND`); the arguments are checked against its input schema first (not with --unchecked). Exits non-zero on
    /// an error or an isError result
    Call(McpCallArgs),
    /// Sign in to a saved HTTP server that asks for OAuth (opens or prints the sign-in URL)
    Login(McpLoginArgs),
    /// List a saved server's resources and templates, or read one with --read URI
    Resources(McpResourcesArgs),
    /// List a saved server's prompts, or get one with --get NAME [--arg K=V]...
    Prompts(McpPromptsArgs),
    /// Sign out of a saved HTTP server: its tokens leave the keychain
    Logout(McpNameArgs),
}

#[derive(Debug, Args)]
pub struct McpAddArgs {
    /// The server's name, as agent specs refer to it
    pub name: String,
    /// An environment variable for the process (repeatable); the value is a secret
    #[arg(long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// The process's working directory
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// A Streamable HTTP server's endpoint, instead of a command
    #[arg(long, value_name = "URL", conflicts_with_all = ["env", "cwd", "command"])]
    pub url: Option<String>,
    /// An HTTP header sent with every request (repeatable); the value is a secret
    #[arg(long = "header", value_name = "K=V", requires = "url")]
    pub headers: Vec<String>,
    /// OAuth: a client id registered with the server's authorization server beforehand
    #[arg(long, value_name = "ID", requires = "url")]
    pub client_id: Option<String>,
    /// OAuth: that client's secret (kept in the secret store)
    #[arg(long, value_name = "SECRET", requires = "client_id")]
    pub client_secret: Option<String>,
    /// OAuth: a scope to ask for (repeatable; default: what the server names)
    #[arg(long = "scope", value_name = "SCOPE", requires = "url")]
    pub scopes: Vec<String>,
    /// OAuth: sign in as a machine with the client-credentials grant (no browser)
    #[arg(long, requires = "client_secret")]
    pub client_credentials: bool,
    /// The command that starts the server, and its arguments, after `--`
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct McpImportArgs {
    /// claude_desktop_config.json, Cursor's mcp.json, or VS Code's .vscode/mcp.json
    pub file: PathBuf,
    /// Save without asking
    #[arg(long, short)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct McpNameArgs {
    pub name: String,
}

#[derive(Debug, Args)]
pub struct McpToolsArgs {
    /// A saved server's name (leave out with --url or -- COMMAND)
    pub name: Option<String>,
    #[command(flatten)]
    pub target: McpTargetArgs,
    /// Print the tool list as JSON, each tool with a `safety` field
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct McpCallArgs {
    /// NAME TOOL [JSON] for a saved server; TOOL [JSON] with --url or -- COMMAND. JSON is the
    /// arguments object, or @FILE
    #[arg(value_name = "NAME TOOL JSON", num_args = 1..=3, required = true)]
    pub words: Vec<String>,
    #[command(flatten)]
    pub target: McpTargetArgs,
    /// Give up (and cancel the call) after this many seconds
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub timeout_secs: u64,
    /// Print the whole result (content blocks, structured content, isError) as JSON
    #[arg(long)]
    pub json: bool,
    /// Send the arguments as given, without checking them against the tool's input schema
    /// first: to see what the server itself does with them
    #[arg(long)]
    pub unchecked: bool,
}

/// A server to try without saving it, and how to sign in to it.
#[derive(Debug, Args)]
pub struct McpTargetArgs {
    /// A Streamable HTTP server's endpoint (not saved)
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// An HTTP header sent with every request (repeatable)
    #[arg(long = "header", value_name = "K=V", requires = "url")]
    pub headers: Vec<String>,
    /// An environment variable of the command (repeatable)
    #[arg(long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// When the server asks a question during a call: decline it, or accept a form with its
    /// schema's defaults
    #[arg(long, value_name = "POLICY", default_value = "decline", value_parser = ["decline", "accept-defaults"])]
    pub elicitation: String,
    #[command(flatten)]
    pub sign_in: SignInArgs,
    /// The command that starts a stdio server (not saved), and its arguments, after `--`
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// How to sign in when an HTTP server asks for OAuth.
#[derive(Debug, Args)]
pub struct SignInArgs {
    /// A client id registered with the server's authorization server beforehand
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,
    /// That client's secret
    #[arg(long, value_name = "SECRET", requires = "client_id")]
    pub client_secret: Option<String>,
    /// A scope to ask for (repeatable; default: what the server names)
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// Sign in as a machine with the client-credentials grant (no browser)
    #[arg(long, requires = "client_secret")]
    pub client_credentials: bool,
    /// Register with this Client ID Metadata Document (an https:// URL)
    #[arg(long, value_name = "URL")]
    pub client_metadata_url: Option<String>,
    /// Open the sign-in URL with this command (the URL is its last argument); default:
    /// $BROWSER, else the URL is printed for you to open
    #[arg(long, value_name = "CMD")]
    pub open_with: Option<String>,
    /// How long to wait for the browser's sign-in
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub sign_in_wait_secs: u64,
}

#[derive(Debug, Args)]
pub struct McpResourcesArgs {
    pub name: String,
    /// Read this resource and print its contents
    #[arg(long, value_name = "URI")]
    pub read: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct McpPromptsArgs {
    pub name: String,
    /// Get this prompt and print its messages
    #[arg(long, value_name = "PROMPT")]
    pub get: Option<String>,
    /// An argument of the prompt (repeatable)
    #[arg(long = "arg", value_name = "K=V", requires = "get")]
    pub args: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct McpLoginArgs {
    pub name: String,
    /// Open the sign-in URL with this command (the URL is its last argument); default:
    /// $BROWSER, else the URL is printed for you to open
    #[arg(long, value_name = "CMD")]
    pub open_with: Option<String>,
    /// How long to wait for the browser's sign-in
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub sign_in_wait_secs: u64,
}

#[derive(Debug, Subcommand)]
pub enum MemoryCommand {
    /// List an agent's notes
    List(MemoryListArgs),
}

#[derive(Debug, Args)]
pub struct MemoryListArgs {
    pub agent: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Approve the demo's email without asking
    #[arg(long, short)]
    pub yes: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Store a provider's API key in the OS keychain (or the owner-only secrets file); the key
    /// is read from stdin, never from the command line, so it stays out of shell history
    Set(KeyProviderArgs),
    /// List the providers that have a stored key (never the keys)
    List(JsonFlag),
    /// Forget a provider's stored key
    Rm(KeyProviderArgs),
    /// Allow the key in an environment variable (a spec's api_key_env) to be sent to a host
    Allow(EnvKeyHostArgs),
    /// Withdraw an allowed (variable, host) pair
    Disallow(EnvKeyHostArgs),
    /// List where keys from environment variables may be sent
    Hosts(JsonFlag),
}

#[derive(Debug, Args)]
pub struct EnvKeyHostArgs {
    /// The environment variable's name, like OPENROUTER_API_KEY
    pub variable: String,
    /// A host (any port), host:port, or a base URL
    pub host: String,
}

#[derive(Debug, Args)]
pub struct KeyProviderArgs {
    /// openai or anthropic
    pub provider: String,
}
