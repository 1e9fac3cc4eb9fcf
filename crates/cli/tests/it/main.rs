//! The CLI's integration tests: the `waymark` binary driven as a user would.
//! One test binary for the crate (one link, one copy of every dependency's generic code);
//! each module is what was one test file.

#[path = "../../../../tests/pg/lab.rs"]
mod pg_lab;
mod support;

mod agents_cli;
mod cli;
mod cli_hostile;
mod db_cli;
mod email;
mod mcp_interactive;
mod mcp_oauth;
mod replay_cli;
mod secrets_cli;
mod serve;
mod serve_door;
mod serve_events;
mod serve_hostile;
mod serve_scenario;
mod serve_team;
mod serve_webhooks;
mod upgrade_cli;
