//! Named points in the commit path where a test can stop the process (to `kill -9` it there).
//! Without an installed hook, reaching a point costs one atomic load.

use std::sync::OnceLock;

type Hook = Box<dyn Fn(&str) + Send + Sync>;

static HOOK: OnceLock<Hook> = OnceLock::new();

/// Installs the process-wide hook; only the first call takes effect.
pub fn install(hook: impl Fn(&str) + Send + Sync + 'static) {
    let _ = HOOK.set(Box::new(hook));
}

pub fn reach(point: &str) {
    if let Some(h) = HOOK.get() {
        h(point);
    }
}

pub fn installed() -> bool {
    HOOK.get().is_some()
}
