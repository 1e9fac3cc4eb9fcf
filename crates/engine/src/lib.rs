//! Waymark's durable execution engine: runs made of steps, journaled in SQLite, replayed after
//! any crash so that a finished step never runs again. Knows nothing of LLMs, MCP or HTTP.

pub mod clock;
pub mod context;
pub mod crashpoint;
pub mod engine;
pub mod error;
pub mod examples;
pub mod ids;
pub mod limits;
pub mod maintenance;
pub mod matcher;
pub mod model;
pub mod paths;
pub mod policy;
pub mod registry;
pub mod store;
pub mod worker;

pub use clock::{Clock, ManualClock, Millis, SharedClock, SystemClock};
pub use context::{Attempt, RunContext, TimeoutPause};
pub use engine::{CancelOutcome, Engine, StartOptions, Subscription};
pub use error::{EngineError, Interrupt, RunError, StepError, StoreError};
pub use ids::{RunId, StepKey, WorkerId};
pub use maintenance::{
    BackupReport, DbStats, DeletedRuns, GcReport, Maintenance, RetentionGroup, RetentionPolicy,
    RunSize, SkippedRun, VacuumReport,
};
pub use model::{
    AttemptOutcome, AttemptRecord, Event, EventKind, Resolution, RunRecord, RunStatus, RunTrace,
    StepKind, StepRecord, StepStatus, StepTrace,
};
pub use policy::{RetryPolicy, SafetyClass, StepSpec, StepTimeouts};
pub use registry::{DurableFunction, Registry, RunLabel};
pub use store::sqlite::{SqliteConfig, SqliteStore};

/// This build's version (the workspace's: every crate and both doors share it). A database
/// records the version that upgraded it, so an older build can name the one to install.
pub const APP_VERSION: &str = env!("CARGO_PKG_VERSION");
pub use store::{RunFilter, SharedStore, Store};
pub use worker::{Worker, WorkerConfig, WorkerLiveness};
