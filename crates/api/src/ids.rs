//! Ids on the wire: a run's UUIDv7 and a step's key, as strings. They wrap the engine's ids,
//! so the engine carries no binding or schema derives.

use std::fmt;

use serde::{Deserialize, Serialize};
use waymark_engine as engine;

/// A run's id: a UUIDv7, so ids sort by creation time.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    ts_rs::TS,
    schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct RunId(
    #[ts(type = "string")]
    #[schemars(with = "uuid::Uuid")]
    engine::RunId,
);

impl RunId {
    /// Parses a run id, naming the text that is not one.
    pub fn parse(text: &str) -> Result<Self, String> {
        engine::RunId::parse(text).map(RunId)
    }

    pub fn engine(self) -> engine::RunId {
        self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for RunId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RunId::parse(s)
    }
}

impl From<engine::RunId> for RunId {
    fn from(id: engine::RunId) -> Self {
        RunId(id)
    }
}

impl From<RunId> for engine::RunId {
    fn from(id: RunId) -> Self {
        id.0
    }
}

/// A step's name within its run (`llm/3`, `tool/3.1`, `approval/3.1`).
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    ts_rs::TS,
    schemars::JsonSchema,
)]
#[serde(transparent)]
pub struct StepKey(String);

impl StepKey {
    pub fn new(key: impl Into<String>) -> Self {
        StepKey(key.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn engine(&self) -> engine::StepKey {
        engine::StepKey::new(self.0.clone())
    }
}

impl fmt::Display for StepKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for StepKey {
    fn from(s: &str) -> Self {
        StepKey(s.to_string())
    }
}

impl From<engine::StepKey> for StepKey {
    fn from(k: engine::StepKey) -> Self {
        StepKey(k.as_str().to_string())
    }
}

impl From<&engine::StepKey> for StepKey {
    fn from(k: &engine::StepKey) -> Self {
        StepKey(k.as_str().to_string())
    }
}

impl From<StepKey> for engine::StepKey {
    fn from(k: StepKey) -> Self {
        engine::StepKey::new(k.0)
    }
}
