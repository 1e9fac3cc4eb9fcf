//! Identities: runs are UUIDv7 (time-ordered), steps are named by the caller.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A run's id: a UUIDv7, so ids sort by creation time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub uuid::Uuid);

impl RunId {
    pub fn new() -> Self {
        RunId(uuid::Uuid::now_v7())
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        uuid::Uuid::parse_str(text.trim())
            .map(RunId)
            .map_err(|e| format!("'{text}' is not a run id: {e}"))
    }
}

impl Default for RunId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A step's identity within its run, chosen by the calling code (`llm/3`, `tool/3.1`).
/// Replay matches steps by key, never by position, so parallel steps need no ordering rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StepKey(String);

impl StepKey {
    pub fn new(key: impl Into<String>) -> Self {
        StepKey(key.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
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

impl From<String> for StepKey {
    fn from(s: String) -> Self {
        StepKey(s)
    }
}

/// A worker's identity; leases name it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WorkerId(pub String);

impl WorkerId {
    pub fn new() -> Self {
        WorkerId(uuid::Uuid::now_v7().to_string())
    }
}

impl Default for WorkerId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
