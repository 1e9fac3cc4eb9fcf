//! The PostgreSQL backend against a real server: Debian's PostgreSQL in a private cluster
//! per test (tests/pg/lab.rs).

#[path = "../../../../tests/pg/lab.rs"]
mod pg_lab;

mod agent_stores;
mod connect;
mod events;
mod schema;
#[path = "../../../agent/tests/it/store_contract/mod.rs"]
mod store_contract;
mod workers;
