//! Closing what an interrupted attempt left open: its questions and nested steps, which no
//! execution will ask for again.

use serde_json::Value;

use super::RunContext;
use crate::error::{RunError, StepError};
use crate::ids::StepKey;
use crate::model::{AttemptOutcome, StepKind, StepRecord, StepStatus};
use crate::store::{Durability, StepUpdate, Transition};

impl RunContext {
    /// Claims every recorded step whose key starts with `prefix`, a path the code no longer
    /// takes (what an interrupted attempt asked for), so replay does not take them for a
    /// change of code. Closes those still open: a wait with `output`, a task with its
    /// interrupted attempt ended and the error `abandoned` (its message `output.reason`).
    /// Returns the keys it closed.
    pub async fn settle_recorded(
        &self,
        prefix: &str,
        output: Value,
    ) -> Result<Vec<StepKey>, RunError> {
        self.check()?;
        let open: Vec<StepRecord> = {
            let mut j = self.inner.journal.lock().unwrap_or_else(|e| e.into_inner());
            let keys: Vec<StepKey> = j
                .recorded
                .keys()
                .filter(|k| k.as_str().starts_with(prefix) && !j.claimed.contains(*k))
                .cloned()
                .collect();
            let mut open = Vec::new();
            for key in keys {
                if let Some(rec) = j.recorded.get(&key) {
                    if !rec.status.is_terminal() {
                        open.push(rec.clone());
                    }
                }
                j.claimed.insert(key);
            }
            open
        };
        let reason = output
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("abandoned")
            .to_string();
        for rec in &open {
            let fence = self.inner.fence.clone();
            let key = rec.key.clone();
            let t = match (rec.kind, rec.status) {
                (StepKind::Event | StepKind::Sleep, _) => Transition::CompleteStep {
                    fence,
                    key,
                    result: Ok(output.clone()),
                },
                (_, StepStatus::Running) => Transition::FinishAttempt {
                    fence,
                    key,
                    attempt: rec.attempts,
                    outcome: AttemptOutcome::Interrupted,
                    update: StepUpdate::Failed(StepError::fatal("abandoned", reason.clone())),
                    run_waiting: false,
                },
                _ => Transition::CompleteStep {
                    fence,
                    key,
                    result: Err(StepError::fatal("abandoned", reason.clone())),
                },
            };
            self.submit(t, Durability::Durable).await?;
        }
        Ok(open.into_iter().map(|r| r.key).collect())
    }
}
