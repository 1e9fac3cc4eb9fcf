//! What a run has used, counted where it is spent: the loop's model calls and the model
//! calls that answer servers' sampling requests inside tool calls, which run in parallel.

use std::sync::{Arc, Mutex};

use waymark_engine::StepError;

use crate::model::Usage;
use crate::spec::RunUsage;

#[derive(Clone, Default)]
pub(crate) struct RunMeter(Arc<Mutex<MeterState>>);

#[derive(Default)]
struct MeterState {
    usage: RunUsage,
    input_tokens: u64,
    output_tokens: u64,
    /// Why the run must end, found where it could not be ended at once (a limit reached by
    /// sampling inside a call: the call finishes first).
    halt: Option<StepError>,
}

impl RunMeter {
    pub(crate) fn usage(&self) -> RunUsage {
        self.lock().usage.clone()
    }

    /// Input and output tokens so far.
    pub(crate) fn tokens(&self) -> (u64, u64) {
        let s = self.lock();
        (s.input_tokens, s.output_tokens)
    }

    /// One of the loop's model calls: it counts toward `max_steps` too.
    pub(crate) fn add_model_call(&self, usage: Usage, cost_usd: Option<f64>) {
        let mut s = self.lock();
        s.usage.steps = s.usage.steps.saturating_add(1);
        Self::add(&mut s, usage, cost_usd);
    }

    /// A model call that answered a server's sampling request: tokens and cost only.
    pub(crate) fn add_sampling(&self, usage: Usage, cost_usd: Option<f64>) {
        Self::add(&mut self.lock(), usage, cost_usd);
    }

    fn add(s: &mut MeterState, usage: Usage, cost_usd: Option<f64>) {
        s.input_tokens = s.input_tokens.saturating_add(usage.input_tokens);
        s.output_tokens = s.output_tokens.saturating_add(usage.output_tokens);
        s.usage.tokens = s
            .usage
            .tokens
            .saturating_add(usage.input_tokens.saturating_add(usage.output_tokens));
        s.usage.cost_usd += cost_usd.unwrap_or(0.0);
    }

    pub(crate) fn halt(&self, why: StepError) {
        self.lock().halt.get_or_insert(why);
    }

    pub(crate) fn halted(&self) -> Option<StepError> {
        self.lock().halt.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MeterState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
