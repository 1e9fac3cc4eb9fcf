//! `waymark mail ...` and `waymark triggers ...` as clap types.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Add, list, test and remove mail accounts (used by email triggers and send_email)
    #[command(subcommand)]
    Account(MailAccountCommand),
}

#[derive(Debug, Subcommand)]
pub enum MailAccountCommand {
    /// Add a mail account, or change the one of that name. The password is read from stdin
    /// (or named with --password-env) and kept in the OS keychain, never in the database
    Add(Box<MailAccountAddArgs>),
    /// List the mail accounts (never their passwords) and the folders triggers watch
    List(MailListArgs),
    /// Sign in to the account's IMAP and SMTP servers and say how it went
    Test(MailAccountNameArgs),
    /// Remove a mail account and its stored password
    Rm(MailAccountNameArgs),
}

#[derive(Debug, Args)]
pub struct MailAccountAddArgs {
    /// What specs call the account (letters, digits, `_`, `-`, `.`)
    pub name: String,
    /// The From address of what it sends
    #[arg(long, value_name = "ADDRESS")]
    pub address: String,
    /// The name shown beside the address
    #[arg(long, value_name = "NAME")]
    pub display_name: Option<String>,
    #[arg(long, value_name = "HOST")]
    pub imap_host: String,
    /// Default: 993 with tls, 143 otherwise
    #[arg(long, value_name = "PORT")]
    pub imap_port: Option<u16>,
    /// tls, starttls, or plain (plain only to a loopback host)
    #[arg(long, value_name = "SECURITY", default_value = "tls")]
    pub imap_security: String,
    #[arg(long, value_name = "HOST")]
    pub smtp_host: String,
    /// Default: 465 with tls, 587 with starttls, 25 plain
    #[arg(long, value_name = "PORT")]
    pub smtp_port: Option<u16>,
    #[arg(long, value_name = "SECURITY", default_value = "tls")]
    pub smtp_security: String,
    /// The user name for both servers (default: the address)
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// The SMTP user name when it differs; "" sends without signing in
    #[arg(long, value_name = "USER")]
    pub smtp_user: Option<String>,
    /// Read the password from this environment variable when connecting instead of stdin
    #[arg(long, value_name = "VAR", conflicts_with_all = ["xoauth2_command", "keep_password"])]
    pub password_env: Option<String>,
    /// Sign in with XOAUTH2: this command prints an access token
    #[arg(long, value_name = "COMMAND", conflicts_with = "keep_password")]
    pub xoauth2_command: Option<String>,
    /// Keep the account's current password (when changing other settings)
    #[arg(long)]
    pub keep_password: bool,
}

#[derive(Debug, Args)]
pub struct MailAccountNameArgs {
    pub name: String,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct MailListArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum TriggersCommand {
    /// Every agent's triggers
    List(MailListArgs),
    /// Every agent's triggers with their live state (run by `waymark serve` or the desktop
    /// app: this command asks the server at --url, or shows the saved triggers alone)
    Status(MailListArgs),
}
