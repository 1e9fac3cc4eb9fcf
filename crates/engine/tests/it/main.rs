//! The engine's integration tests, each on real SQLite files.
//! One test binary for the crate (one link, one copy of every dependency's generic code);
//! each module is what was one test file.

mod common;

mod basics;
mod faults;
mod hostile;
mod journal;
mod labels;
mod maintenance;
mod retries;
mod waits;
