//! The last few KB a stdio server wrote to stderr, kept for error messages and status.
//!
//! Draining is not optional: a child that logs on every call blocks once the pipe fills.
//! The tail is shown in errors, statuses and traces, so every secret Waymark holds is blanked
//! out of it ([`crate::redact`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::ChildStderr;
use tokio::sync::watch;

/// How much of the stderr stream is kept.
pub(crate) const TAIL_BYTES: usize = 4096;

/// One server's stderr tail, across restarts (the lines before a crash explain it).
#[derive(Clone, Default)]
pub(crate) struct StderrTail {
    bytes: Arc<Mutex<VecDeque<u8>>>,
}

impl StderrTail {
    /// Reads `stderr` to its end in a task of its own; the receiver turns true at EOF.
    pub(crate) fn drain(&self, mut stderr: ChildStderr) -> watch::Receiver<bool> {
        let (eof_tx, eof_rx) = watch::channel(false);
        let bytes = self.bytes.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            loop {
                match stderr.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => push(&bytes, &buf[..n]),
                }
            }
            let _ = eof_tx.send(true);
        });
        eof_rx
    }

    /// The tail as text, secrets redacted; `None` when the server wrote nothing. A line cut by
    /// the size limit is dropped so the text starts at a line.
    pub(crate) fn text(&self) -> Option<String> {
        let bytes = lock(&self.bytes);
        if bytes.is_empty() {
            return None;
        }
        let full = bytes.len() >= TAIL_BYTES;
        let (a, b) = bytes.as_slices();
        let mut raw = Vec::with_capacity(a.len() + b.len());
        raw.extend_from_slice(a);
        raw.extend_from_slice(b);
        drop(bytes);
        let mut text = String::from_utf8_lossy(&raw).into_owned();
        if full {
            if let Some(i) = text.find('\n') {
                text.drain(..=i);
            }
        }
        let text = crate::redact::scrub(text.trim_end());
        (!text.trim().is_empty()).then_some(text)
    }
}

/// Waits until the child closed stderr (it exited), at most `limit`: the last lines a crashing
/// server writes are the useful ones, and they may still be in the pipe.
pub(crate) async fn wait_eof(eof: &mut watch::Receiver<bool>, limit: Duration) {
    let _ = tokio::time::timeout(limit, eof.wait_for(|done| *done)).await;
}

fn push(bytes: &Mutex<VecDeque<u8>>, chunk: &[u8]) {
    let mut bytes = lock(bytes);
    bytes.extend(chunk.iter().copied());
    let excess = bytes.len().saturating_sub(TAIL_BYTES);
    bytes.drain(..excess);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic mid-push leaves at worst a few bytes too many: still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_bytes_from_a_line_start() {
        let tail = StderrTail::default();
        assert_eq!(tail.text(), None);
        for i in 0..1000 {
            push(&tail.bytes, format!("line {i}\n").as_bytes());
        }
        let text = tail.text().unwrap_or_default();
        assert!(text.len() <= TAIL_BYTES);
        assert!(text.starts_with("line "), "{text:?}");
        assert!(text.ends_with("line 999"), "{text:?}");
    }
}
