//! Durable functions, registered by name and version.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::context::RunContext;
use crate::error::RunError;

/// What a run list shows of a run and searches in, decided by its function from the input.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunLabel {
    /// A name to filter by (an agent's name); the function's name when absent.
    pub label: Option<String>,
    /// The text a search looks in (the label is always searched too).
    pub text: String,
}

pub type Describer = Arc<dyn Fn(&Value) -> RunLabel + Send + Sync>;

/// At most this much of a run's text is kept for searching.
const SEARCH_TEXT_CHARS: usize = 2000;

/// A run's label and lowercased search text, by the function's describer or, without one,
/// from the input itself (a string as is, anything else as JSON).
pub fn describe_run(function: Option<&DurableFunction>, name: &str, input: &Value) -> RunLabel {
    let described = match function.and_then(|f| f.describe.as_ref()) {
        Some(describe) => describe(input),
        None => RunLabel {
            label: None,
            text: match input {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
        },
    };
    let shown = described.label.as_deref().unwrap_or(name);
    let text: String = format!("{shown}\n{}", described.text)
        .chars()
        .take(SEARCH_TEXT_CHARS)
        .collect();
    RunLabel {
        label: described.label,
        text: text.to_lowercase(),
    }
}

pub type Handler =
    Arc<dyn Fn(RunContext, Value) -> BoxFuture<'static, Result<Value, RunError>> + Send + Sync>;

/// Ordinary async Rust over a [`RunContext`]: every effect goes through `ctx.step` and friends,
/// so re-running the function against its journal reproduces the same decisions.
pub struct DurableFunction {
    pub name: String,
    /// Recorded on each run. Bump it when a change would make old journals replay differently.
    pub version: u32,
    /// Older versions whose runs this build can still resume.
    pub resumes: Vec<u32>,
    pub(crate) handler: Handler,
    pub(crate) describe: Option<Describer>,
}

impl DurableFunction {
    pub fn new<F, Fut>(name: impl Into<String>, version: u32, f: F) -> Self
    where
        F: Fn(RunContext, Value) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Value, RunError>> + Send + 'static,
    {
        DurableFunction {
            name: name.into(),
            version,
            resumes: Vec::new(),
            handler: Arc::new(move |ctx, input| Box::pin(f(ctx, input))),
            describe: None,
        }
    }

    /// How runs of this function are labelled and searched in lists.
    pub fn described_by(mut self, f: impl Fn(&Value) -> RunLabel + Send + Sync + 'static) -> Self {
        self.describe = Some(Arc::new(f));
        self
    }

    /// Declares that runs started by these older versions replay correctly with this one.
    pub fn resumes(mut self, versions: &[u32]) -> Self {
        self.resumes.extend_from_slice(versions);
        self
    }

    /// Whether a run recorded with `version` may be resumed by this build.
    /// Version 0 means the run was started by a process that did not know the function.
    pub fn can_resume(&self, version: u32) -> bool {
        version == 0 || version == self.version || self.resumes.contains(&version)
    }
}

#[derive(Clone, Default)]
pub struct Registry {
    functions: HashMap<String, Arc<DurableFunction>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, f: DurableFunction) -> &mut Self {
        self.functions.insert(f.name.clone(), Arc::new(f));
        self
    }

    pub fn get(&self, name: &str) -> Option<Arc<DurableFunction>> {
        self.functions.get(name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.functions.keys().cloned().collect();
        v.sort();
        v
    }
}
