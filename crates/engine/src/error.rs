//! Errors: what a step's work can return, and what the engine and store report.

use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::ids::{RunId, StepKey};
use crate::model::RunStatus;

/// An error from a step's work, classified where the retry decision is made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct StepError {
    /// A short machine-readable class (`timeout`, `http_429`, `invalid_arguments`, ...).
    pub kind: String,
    pub message: String,
    pub retryable: bool,
    /// The error's own wish for the next attempt's delay (a Retry-After header); it wins over backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// The work may have taken effect before it failed (the connection dropped after the
    /// request went out). An `at_most_once` step then needs a person, not a retry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub in_doubt: bool,
}

impl StepError {
    pub fn retryable(kind: impl Into<String>, message: impl Into<String>) -> Self {
        StepError {
            kind: kind.into(),
            message: message.into(),
            retryable: true,
            retry_after_ms: None,
            in_doubt: false,
        }
    }

    pub fn fatal(kind: impl Into<String>, message: impl Into<String>) -> Self {
        StepError {
            kind: kind.into(),
            message: message.into(),
            retryable: false,
            retry_after_ms: None,
            in_doubt: false,
        }
    }

    /// A retryable error after which the effect may or may not have happened.
    pub fn in_doubt(kind: impl Into<String>, message: impl Into<String>) -> Self {
        StepError {
            in_doubt: true,
            ..StepError::retryable(kind, message)
        }
    }

    pub fn with_retry_after(mut self, d: Duration) -> Self {
        self.retry_after_ms = Some(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        self
    }
}

/// Why a run's code must stop now. Not something user code should handle: propagate it with `?`.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Interrupt {
    #[error("run was cancelled")]
    Cancelled,
    #[error("the run's lease was taken over by another worker")]
    LeaseLost,
    #[error("step {0} needs attention: its at_most_once attempt was interrupted")]
    NeedsAttention(StepKey),
    #[error("non-deterministic replay: {0}")]
    NonDeterministic(String),
    #[error("run deadline exceeded")]
    RunDeadline,
    #[error("journal write failed: {0}")]
    Store(String),
    /// The worker is shutting down: waits end, attempts in flight may finish.
    #[error("the worker is shutting down")]
    WorkerStopping,
}

/// What a durable function's code sees from the run context.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RunError {
    /// A step failed for good (retries exhausted or not retryable). The function may handle it.
    #[error("{0}")]
    Step(StepError),
    /// The engine needs the function to stop. Propagate it.
    #[error("{0}")]
    Interrupted(Interrupt),
}

impl From<StepError> for RunError {
    fn from(e: StepError) -> Self {
        RunError::Step(e)
    }
}

impl From<serde_json::Error> for RunError {
    fn from(e: serde_json::Error) -> Self {
        RunError::Step(StepError::fatal("serialization", e.to_string()))
    }
}

/// Failures of the store: all carry a message a user can act on. Callers branch on the
/// variant (or [`StoreError::is_transient`]), never on the text.
// Clone: a batch that fails as a whole gives every transition in it the same error.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("database {path} is corrupt or not a Waymark database: {detail}")]
    Corrupt { path: String, detail: String },
    #[error("{0}")]
    NewerSchema(Box<NewerSchema>),
    #[error("database is locked by another process (waited {waited_ms} ms): {detail}")]
    Locked { waited_ms: u64, detail: String },
    #[error(
        "database or disk is full; the change was not saved and the journal is unchanged: {0}"
    )]
    Full(String),
    #[error("cannot open database {path}: {detail}")]
    Open { path: String, detail: String },
    #[error("lease lost for run {0}: another worker owns it now")]
    LeaseLost(RunId),
    #[error("run {0} not found")]
    RunNotFound(RunId),
    #[error("step {key} of run {run} not found")]
    StepNotFound { run: RunId, key: StepKey },
    #[error("{0}")]
    Conflict(String),
    #[error("run {run} is {status}: only a finished run (succeeded, failed or cancelled) can be deleted, and a run goes with its child runs")]
    RunNotFinished { run: RunId, status: RunStatus },
    #[error("run {0} is pinned: unpin it first, or force the deletion")]
    RunPinned(RunId),
    #[error("database error: {0}")]
    Sqlite(String),
    /// A value or row larger than the database accepts: the request must change.
    #[error("too big for the database: {0}")]
    TooBig(String),
    /// A database server could not be reached, or the connection dropped (a restart, a network
    /// failure): nothing in flight was saved unless it was read back; trying again may succeed.
    #[error("database {location} cannot be reached: {detail}")]
    Unavailable { location: String, detail: String },
    #[error("the store's writer has stopped")]
    WriterGone,
}

/// A database written by a newer build than this one (boxed: errors stay small).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("database {path} has schema version {found}{}, newer than Waymark {} reads (schema {supported}); nothing was written to it: open it with {}", written_by_text(.written_by), crate::APP_VERSION, upgrade_text(.written_by))]
pub struct NewerSchema {
    pub path: String,
    pub found: i64,
    pub supported: i64,
    /// The Waymark version that upgraded the database to `found`, when it recorded it.
    pub written_by: Option<String>,
}

fn written_by_text(by: &Option<String>) -> String {
    by.as_ref()
        .map(|v| format!(" (written by Waymark {v})"))
        .unwrap_or_default()
}

fn upgrade_text(by: &Option<String>) -> String {
    match by {
        Some(v) => format!("Waymark {v} or newer"),
        None => "a newer Waymark".into(),
    }
}

impl StoreError {
    /// Whether a database at schema version `found` can be opened by a build that writes
    /// `supported`: a negative version is a foreign tool's (it would skip every migration), a
    /// newer one is refused rather than guessed at. `location` names the database.
    pub fn check_schema_version(
        found: i64,
        supported: i64,
        location: &str,
        written_by: impl FnOnce() -> Option<String>,
    ) -> Result<(), StoreError> {
        if found < 0 {
            return Err(StoreError::Corrupt {
                path: location.to_string(),
                detail: format!("schema version {found} is negative: not a Waymark database"),
            });
        }
        if found > supported {
            return Err(StoreError::NewerSchema(Box::new(NewerSchema {
                path: location.to_string(),
                found,
                supported,
                written_by: written_by(),
            })));
        }
        Ok(())
    }

    /// Classifies a SQLite failure by its result code (never by its text): busy and locked
    /// become [`StoreError::Locked`], a full disk or page cap [`StoreError::Full`], a damaged
    /// file [`StoreError::Corrupt`] (its path is filled in by callers that know it).
    pub fn from_sqlite(e: rusqlite::Error, busy_timeout_ms: u64) -> Self {
        use rusqlite::ErrorCode;
        if let rusqlite::Error::SqliteFailure(f, ref msg) = e {
            let detail = msg.clone().unwrap_or_else(|| f.to_string());
            return match f.code {
                ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => StoreError::Locked {
                    waited_ms: busy_timeout_ms,
                    detail,
                },
                ErrorCode::DiskFull => StoreError::Full(detail),
                ErrorCode::TooBig => StoreError::TooBig(detail),
                ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => StoreError::Corrupt {
                    path: String::new(),
                    detail,
                },
                _ => StoreError::Sqlite(detail),
            };
        }
        StoreError::Sqlite(e.to_string())
    }

    /// Where any failure means the file at `path` is not a usable Waymark database (reading
    /// its schema, migrating it, checking it): [`StoreError::Corrupt`], unless the code says
    /// the file was only locked or the disk full, which say nothing about the file's state.
    pub(crate) fn from_sqlite_or_corrupt(
        e: rusqlite::Error,
        busy_timeout_ms: u64,
        path: &str,
    ) -> Self {
        let detail = e.to_string();
        match StoreError::from_sqlite(e, busy_timeout_ms) {
            kept @ (StoreError::Locked { .. } | StoreError::Full(_)) => kept,
            _ => StoreError::Corrupt {
                path: path.to_string(),
                detail,
            },
        }
    }

    /// Whether the same operation may succeed if tried again shortly, with nothing changed:
    /// only a database busy or locked by another connection (its holder commits or rolls
    /// back). [`StoreError::WriterGone`] is not: the writer thread stops only when the store
    /// is closed (shutdown) or has died, and it never restarts, so a retry on the same store
    /// fails the same way; the work resumes from the journal in the next process. A full disk,
    /// a damaged file or a newer schema need a person.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Locked { .. } | StoreError::Unavailable { .. }
        )
    }
}

/// Errors of engine operations called from outside a run (start, cancel, resolve, fork).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("function '{0}' is not registered")]
    UnknownFunction(String),
    #[error("invalid request: {0}")]
    Invalid(String),
}

/// A panic's message, when it has one.
pub fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: std::ffi::c_int, text: &str) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some(text.into()))
    }

    #[test]
    fn sqlite_failures_are_typed_by_their_code_not_their_text() {
        use rusqlite::ffi;
        // Texts chosen to mislead a text match: the code alone decides.
        let e = StoreError::from_sqlite(failure(ffi::SQLITE_BUSY, "full of work"), 250);
        assert!(
            matches!(&e, StoreError::Locked { waited_ms: 250, .. }),
            "{e:?}"
        );
        assert!(e.is_transient());
        let e = StoreError::from_sqlite(failure(ffi::SQLITE_LOCKED, "x"), 0);
        assert!(matches!(e, StoreError::Locked { .. }) && e.is_transient());
        let e = StoreError::from_sqlite(failure(ffi::SQLITE_FULL, "table locked"), 0);
        assert!(matches!(e, StoreError::Full(_)) && !e.is_transient());
        let e = StoreError::from_sqlite(failure(ffi::SQLITE_CORRUPT, "locked"), 0);
        assert!(matches!(e, StoreError::Corrupt { .. }) && !e.is_transient());
        let e = StoreError::from_sqlite(failure(ffi::SQLITE_NOTADB, "x"), 0);
        assert!(matches!(e, StoreError::Corrupt { .. }));
        let e = StoreError::from_sqlite(failure(ffi::SQLITE_CONSTRAINT, "database is locked"), 0);
        assert!(matches!(e, StoreError::Sqlite(_)) && !e.is_transient());
        assert!(!StoreError::WriterGone.is_transient());
    }

    #[test]
    fn reading_a_schema_calls_only_real_damage_corrupt() {
        use rusqlite::ffi;
        let e = StoreError::from_sqlite_or_corrupt(failure(ffi::SQLITE_BUSY, "busy"), 0, "/db");
        assert!(matches!(e, StoreError::Locked { .. }), "{e:?}");
        let e = StoreError::from_sqlite_or_corrupt(failure(ffi::SQLITE_FULL, "full"), 0, "/db");
        assert!(matches!(e, StoreError::Full(_)), "{e:?}");
        let e = StoreError::from_sqlite_or_corrupt(
            failure(ffi::SQLITE_ERROR, "no such table"),
            0,
            "/db",
        );
        assert!(
            matches!(&e, StoreError::Corrupt { path, .. } if path == "/db"),
            "{e:?}"
        );
    }
}
