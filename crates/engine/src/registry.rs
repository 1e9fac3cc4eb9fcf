//! Durable functions, registered by name and version.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use crate::context::RunContext;
use crate::error::RunError;

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
        }
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
