//! Where a door finds the data directory, the database and the logs: one function each, the
//! same for every door.

pub use waymark_engine::paths::{create_private_dir, create_private_file, data_dir, log_dir};
