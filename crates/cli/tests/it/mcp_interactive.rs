//! MCP's interactive parts through `waymark serve` and the CLI as a user meets them, against
//! the demo tool server over Streamable HTTP (which outlives a killed Waymark, and counts the
//! calls it saw): a server's questions in agent runs (`questions`), calls by hand (`hand_calls`)
//! and durable tasks (`tasks`).

#[path = "mcp_interactive/hand_calls.rs"]
mod hand_calls;
#[path = "mcp_interactive/harness.rs"]
mod harness;
#[path = "mcp_interactive/questions.rs"]
mod questions;
#[path = "mcp_interactive/tasks.rs"]
mod tasks;
