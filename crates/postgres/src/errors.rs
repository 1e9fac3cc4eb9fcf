//! PostgreSQL's failures as the engine's store errors, classified by SQLSTATE (never by text).

use tokio_postgres::error::{DbError, SqlState};
use waymark_engine::StoreError;

/// A failed statement or a lost connection.
pub(crate) fn db_err(e: tokio_postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        // No server answer: the connection is gone (closed, reset, timed out).
        return StoreError::Sqlite(format!("connection to PostgreSQL lost: {e}"));
    };
    let detail = describe(db);
    let code = db.code();
    if *code == SqlState::DISK_FULL || *code == SqlState::OUT_OF_MEMORY {
        StoreError::Full(detail)
    } else if *code == SqlState::T_R_SERIALIZATION_FAILURE
        || *code == SqlState::T_R_DEADLOCK_DETECTED
        || *code == SqlState::LOCK_NOT_AVAILABLE
    {
        StoreError::Locked {
            waited_ms: 0,
            detail,
        }
    } else {
        StoreError::Sqlite(detail)
    }
}

/// The pool could not hand out a connection: the server is unreachable or refuses us.
pub(crate) fn pool_err(location: &str, e: deadpool_postgres::PoolError) -> StoreError {
    let detail = match e {
        deadpool_postgres::PoolError::Backend(e) => e.as_db_error().map_or(e.to_string(), describe),
        other => other.to_string(),
    };
    StoreError::Open {
        path: location.to_string(),
        detail,
    }
}

/// The server's message with its SQLSTATE, as errors show it.
fn describe(db: &DbError) -> String {
    format!("{} ({})", db.message(), db.code().code())
}
