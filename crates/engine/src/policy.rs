//! What a step promises about itself: its key, safety class, retry policy and timeouts.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::StepKey;

/// What an interrupted attempt means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SafetyClass {
    /// Running it twice is harmless: an interrupted attempt is simply retried.
    RetrySafe,
    /// Its effect must not repeat: the `started` marker is on disk before the work begins,
    /// and an interrupted attempt puts the run in `needs_attention` for a human to decide.
    AtMostOnce,
}

impl SafetyClass {
    pub fn as_str(self) -> &'static str {
        match self {
            SafetyClass::RetrySafe => "retry_safe",
            SafetyClass::AtMostOnce => "at_most_once",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "retry_safe" => Some(SafetyClass::RetrySafe),
            "at_most_once" => Some(SafetyClass::AtMostOnce),
            _ => None,
        }
    }
}

/// Exponential backoff with jitter, in the Temporal mould.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Total attempts including the first; 1 means no retries.
    pub max_attempts: u32,
    pub initial_interval_ms: u64,
    pub backoff_coefficient: f64,
    pub max_interval_ms: u64,
    /// Fraction (0..=1) of each delay that is randomised, to spread retries of many runs.
    pub jitter: f64,
    /// Error kinds that end the step at once, whatever the error itself says.
    #[serde(default)]
    pub non_retryable_kinds: Vec<String>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_interval_ms: 1_000,
            backoff_coefficient: 2.0,
            max_interval_ms: 60_000,
            jitter: 0.1,
            non_retryable_kinds: Vec::new(),
        }
    }
}

impl RetryPolicy {
    pub fn no_retries() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The delay before attempt `next_attempt` (2 for the first retry), without jitter.
    pub fn base_delay(&self, next_attempt: u32) -> Duration {
        let exp = next_attempt.saturating_sub(2) as i32;
        let ms = self.initial_interval_ms as f64 * self.backoff_coefficient.max(1.0).powi(exp);
        Duration::from_millis(ms.min(self.max_interval_ms as f64) as u64)
    }

    /// The delay before attempt `next_attempt`, with jitter applied.
    pub fn delay(&self, next_attempt: u32) -> Duration {
        let base = self.base_delay(next_attempt).as_millis() as f64;
        let jitter = self.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 || base == 0.0 {
            return Duration::from_millis(base as u64);
        }
        let spread = base * jitter;
        let offset = rand::rng().random_range(-spread..=spread);
        Duration::from_millis((base + offset).max(0.0) as u64)
    }

    pub fn is_non_retryable(&self, kind: &str) -> bool {
        self.non_retryable_kinds.iter().any(|k| k == kind)
    }
}

/// Start-to-close per attempt, schedule-to-close for the whole step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StepTimeouts {
    pub attempt: Option<Duration>,
    pub step: Option<Duration>,
}

/// Everything the engine needs to know about a step before running it.
#[derive(Clone, Debug)]
pub struct StepSpec {
    pub key: StepKey,
    pub safety: SafetyClass,
    pub retry: RetryPolicy,
    pub timeouts: StepTimeouts,
    /// Shown in the trace; large values are stored once in the blob table.
    pub input: Value,
    /// A label for the trace (for example the tool's name).
    pub name: Option<String>,
}

impl StepSpec {
    pub fn retry_safe(key: impl Into<StepKey>) -> Self {
        StepSpec {
            key: key.into(),
            safety: SafetyClass::RetrySafe,
            retry: RetryPolicy::default(),
            timeouts: StepTimeouts::default(),
            input: Value::Null,
            name: None,
        }
    }

    pub fn at_most_once(key: impl Into<StepKey>) -> Self {
        StepSpec {
            safety: SafetyClass::AtMostOnce,
            ..Self::retry_safe(key)
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn with_input(mut self, input: Value) -> Self {
        self.input = input;
        self
    }

    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    pub fn attempt_timeout(mut self, d: Duration) -> Self {
        self.timeouts.attempt = Some(d);
        self
    }

    pub fn step_timeout(mut self, d: Duration) -> Self {
        self.timeouts.step = Some(d);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_interval_ms: 100,
            backoff_coefficient: 2.0,
            max_interval_ms: 500,
            jitter: 0.0,
            non_retryable_kinds: vec![],
        };
        let d: Vec<u64> = (2..=6).map(|n| p.delay(n).as_millis() as u64).collect();
        assert_eq!(d, vec![100, 200, 400, 500, 500]);
    }

    #[test]
    fn jitter_stays_within_its_spread() {
        let p = RetryPolicy {
            jitter: 0.5,
            initial_interval_ms: 1000,
            ..RetryPolicy::default()
        };
        for _ in 0..200 {
            let d = p.delay(2).as_millis() as u64;
            assert!((500..=1500).contains(&d), "{d}");
        }
    }
}
