//! Subscriptions: one run's events or every run's, first what was missed after a sequence
//! number, then live. Both doors forward them (SSE, a Tauri channel) with no logic of their own.

use serde::{Deserialize, Serialize};
use waymark_engine::{Event, RunId, Subscription};

use crate::{Api, ApiError};

/// One event as subscribers receive it.
pub type ApiEvent = Event;

/// Which events a subscription follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventFilter {
    /// One run's events (numbered by the run's own sequence); every run's when absent
    /// (numbered by the global sequence).
    #[serde(default)]
    pub run: Option<RunId>,
}

/// A live subscription. [`EventStream::next`] waits for the next event.
pub struct EventStream {
    inner: Subscription,
    per_run: bool,
}

impl EventStream {
    pub async fn next(&mut self) -> Result<ApiEvent, ApiError> {
        Ok(self.inner.next().await?)
    }

    /// The number a reconnect passes as `after` (SSE's `id:`): the run's sequence for a
    /// run's stream, the global one otherwise.
    pub fn position(&self, event: &ApiEvent) -> i64 {
        match (self.per_run, event.run_seq) {
            (true, Some(seq)) => seq,
            _ => event.global_seq,
        }
    }
}

impl Api {
    /// Follows `filter`'s events after `after` (0: from the start). A run that does not
    /// exist is an error rather than a stream that never speaks.
    pub async fn subscribe(
        &self,
        filter: EventFilter,
        after: i64,
    ) -> Result<EventStream, ApiError> {
        let engine = &self.app().engine;
        let inner = match filter.run {
            Some(id) => match engine.run(id).await? {
                Some(_) => engine.subscribe(id, after),
                None => return Err(ApiError::not_found(format!("run {id} not found"))),
            },
            None => engine.subscribe_all(after),
        };
        Ok(EventStream {
            inner,
            per_run: filter.run.is_some(),
        })
    }

    /// The newest global sequence number: subscribe after it to see only what comes next.
    pub async fn current_seq(&self) -> Result<i64, ApiError> {
        Ok(self.app().engine.current_global_seq().await?)
    }
}
