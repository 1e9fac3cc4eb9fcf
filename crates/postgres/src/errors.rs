//! PostgreSQL's failures as the engine's store errors, classified by SQLSTATE (never by text).

use postgres::error::{DbError, SqlState};
use waymark_engine::StoreError;

/// A failed statement or a lost connection.
pub(crate) fn db_err(e: postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        let io = std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>());
        if e.is_closed() || io {
            // No server answer: the connection is gone (closed, reset, timed out).
            return StoreError::Unavailable {
                location: "PostgreSQL".into(),
                detail: format!("the connection was lost: {e}"),
            };
        }
        // Refused on this side (a value that cannot be sent, a row that cannot be read).
        let detail = match std::error::Error::source(&e) {
            Some(cause) => cause.to_string(),
            None => e.to_string(),
        };
        return StoreError::Sqlite(detail);
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
    } else if code.code().starts_with("54") {
        // Program limit exceeded: a value or row larger than the server takes.
        StoreError::TooBig(detail)
    } else if code.code().starts_with("57P") || code.code().starts_with("08") {
        // The server is shutting down or restarting (57P01..57P03), or the connection failed.
        StoreError::Unavailable {
            location: "PostgreSQL".into(),
            detail,
        }
    } else {
        StoreError::Sqlite(detail)
    }
}

/// A connection could not be made: the server is unreachable or refuses us.
pub(crate) fn connect_err(location: &str, e: postgres::Error) -> StoreError {
    let detail = match e.as_db_error() {
        Some(db) => describe(db),
        None => with_causes(&e),
    };
    StoreError::Unavailable {
        location: location.to_string(),
        detail,
    }
}

/// `e` and what caused it, as far down as it goes ("error performing TLS handshake: invalid
/// peer certificate: ..."), each message once.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

/// The server's message with its SQLSTATE, as errors show it.
fn describe(db: &DbError) -> String {
    format!("{} ({})", db.message(), db.code().code())
}
