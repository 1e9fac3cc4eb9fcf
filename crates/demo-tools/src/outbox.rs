//! The outbox: the side-effect ledger of `send_email`. Each sent email is one JSON line,
//! appended with a single `write` call on a file opened in append mode, so a process killed
//! at any moment leaves whole lines only, and concurrent senders never interleave.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One line of the outbox file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub message_id: String,
    pub to: String,
    pub subject: String,
    pub body: String,
    /// Milliseconds since the Unix epoch when the line was written.
    pub sent_at_ms: u64,
}

/// Appends `entry` as one line. Blocking: call it from `spawn_blocking`.
pub fn append_entry(path: &Path, entry: &OutboxEntry) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(entry)?;
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // One write call: O_APPEND places it at the end atomically. A short write (disk full) is
    // reported instead of being completed by a second call that could interleave.
    let written = file.write(&line)?;
    if written != line.len() {
        return Err(std::io::Error::other(format!(
            "short write to outbox: {written} of {} bytes",
            line.len()
        )));
    }
    Ok(())
}

/// Reads every line of an outbox file (for tests and the demo). A missing file is empty.
pub fn read_entries(path: &Path) -> std::io::Result<Vec<OutboxEntry>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    text.lines()
        .map(|line| serde_json::from_str(line).map_err(std::io::Error::other))
        .collect()
}

/// The default outbox file when none is given: in the current directory.
pub fn default_outbox_path() -> PathBuf {
    PathBuf::from("demo-tools-outbox.jsonl")
}
