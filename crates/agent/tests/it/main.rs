//! The agent crate's integration tests.
//! One test binary for the crate (one link, one copy of every dependency's generic code);
//! each module is what was one test file.

#[path = "support/mcp_servers.rs"]
mod mcp_servers;
mod store_contract;
mod support;

mod agent_app;
mod agent_mcp;
mod agent_published;
mod agent_runs;
mod agent_sampling;
mod anthropic;
mod arguments;
mod builder;
mod catalog;
mod hostile_arguments;
mod hostile_redirects;
mod hostile_secrets;
mod mcp_demo_tools;
mod mcp_import;
mod mcp_published;
mod memory_store;
mod openai;
mod replay;
mod secrets;
mod spec;
mod stores_sqlite;
mod triggers;
