//! The demo tool server's tests.
//! One test binary for the crate (one link, one copy of every dependency's generic code);
//! each module is what was one test file.

mod common;

mod http;
mod in_process;
mod interactive;
mod interactive_session;
mod protected;
mod revisions;
mod stdio_child;
mod tasks;
