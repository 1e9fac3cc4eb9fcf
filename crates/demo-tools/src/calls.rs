//! The record of every `tools/call` the process received, so a client test can count the
//! round trips of an interactive call (first call, retries with answers, task creation) from
//! what the server saw rather than from its own side. Each call also logs one line on stderr;
//! over HTTP the whole record is served at `GET /admin/calls` (see [`crate::admin`]).

use std::sync::Mutex;

use serde::Serialize;

/// One `tools/call` as it arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallRecord {
    pub tool: String,
    /// The call carried `inputResponses` (a retry after `input_required`).
    pub input_responses: bool,
    /// The call declared the tasks extension, so the server could answer with a task.
    pub task: bool,
    /// The call echoed a `requestState`.
    pub request_state: bool,
    /// The client cancelled the call (`notifications/cancelled`) before it was answered.
    pub cancelled: bool,
}

/// Every call of the process, in the order received.
#[derive(Debug, Default)]
pub struct CallLog {
    calls: Mutex<Vec<CallRecord>>,
}

impl CallLog {
    /// Keeps `call` and logs it as `tools/call received tool=NAME input_responses=B task=B`;
    /// returns its place in the record.
    pub fn record(&self, call: CallRecord) -> usize {
        tracing::info!(
            "tools/call received tool={} input_responses={} task={}",
            call.tool,
            call.input_responses,
            call.task
        );
        // A poisoned lock only means another call panicked mid-push; the list is still usable.
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        calls.push(call);
        calls.len() - 1
    }

    /// Marks call `index` as cancelled by the client (and logs it).
    pub fn cancelled(&self, index: usize) {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(call) = calls.get_mut(index) {
            tracing::info!("tools/call cancelled by the client tool={}", call.tool);
            call.cancelled = true;
        }
    }

    /// A copy of every call so far.
    pub fn snapshot(&self) -> Vec<CallRecord> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
