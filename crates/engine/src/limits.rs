//! Caps on every duration a user, a spec or a server can set. Validation refuses values above
//! them with an error naming the field; `/openapi.json` publishes them as `maximum`.

/// One attempt of a step (a model call, a tool call): a week.
pub const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;
/// A whole run: a little over a year.
pub const MAX_DEADLINE_SECS: u64 = 400 * 24 * 3600;
/// How long a sent event waits for a run to take it.
pub const MAX_EVENT_TTL_SECS: u64 = 400 * 24 * 3600;
/// A retry backoff interval: a day.
pub const MAX_INTERVAL_MS: u64 = 24 * 3600 * 1000;
/// A server's `Retry-After`: taken up to an hour, then capped.
pub const MAX_RETRY_AFTER_SECS: u64 = 3600;

/// An error naming `field` when `value` is above `max`.
pub fn check_at_most(field: &str, value: Option<u64>, max: u64) -> Result<(), String> {
    match value {
        Some(v) if v > max => Err(format!("{field} must be at most {max} (got {v})")),
        _ => Ok(()),
    }
}
