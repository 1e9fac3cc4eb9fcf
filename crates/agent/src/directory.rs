//! The catalog as the agent loop's directory: sub-agents by name, memory per agent.

use serde_json::Value;

use crate::catalog::{Catalog, CatalogError};
use crate::runtime::{AgentDirectory, DirectoryError};
use crate::spec::AgentSpec;
use crate::stores::DbErrorKind;

impl AgentDirectory for Catalog {
    fn agent(&self, name: &str) -> Result<Option<AgentSpec>, DirectoryError> {
        Catalog::agent(self, name).map_err(directory_error)
    }

    fn remember(&self, agent: &str, key: &str, value: &str) -> Result<Value, DirectoryError> {
        let entry = Catalog::remember(self, agent, key, value).map_err(directory_error)?;
        serde_json::to_value(entry).map_err(|e| DirectoryError::Failed(e.to_string()))
    }

    fn recall(&self, agent: &str, query: &str, limit: usize) -> Result<Value, DirectoryError> {
        let entries = Catalog::recall(self, agent, query, limit).map_err(directory_error)?;
        serde_json::to_value(entries).map_err(|e| DirectoryError::Failed(e.to_string()))
    }

    fn forget(&self, agent: &str, key: &str) -> Result<bool, DirectoryError> {
        Catalog::forget(self, agent, key).map_err(directory_error)
    }
}

/// A catalog failure by its cause: a busy or locked database is transient, a request the
/// database or the catalog refuses is the caller's to fix, anything else is the store's.
fn directory_error(e: CatalogError) -> DirectoryError {
    let message = e.to_string();
    if e.is_transient() {
        return DirectoryError::Unavailable(message);
    }
    match &e {
        CatalogError::Invalid { .. } => DirectoryError::Invalid(message),
        CatalogError::Database(db) if db.kind() == DbErrorKind::TooBig => {
            DirectoryError::Invalid(format!("the value is too large to store: {message}"))
        }
        _ => DirectoryError::Failed(message),
    }
}

/// Keys saved with `waymark keys set` (in the OS keychain, or the owner-only file).
impl crate::runtime::KeySource for Catalog {
    fn api_key(&self, provider: crate::spec::ProviderKind) -> Option<crate::secret::Secret> {
        self.provider_key(provider).ok().flatten()
    }

    fn base_url(&self, provider: crate::spec::ProviderKind) -> Option<String> {
        self.provider_base_url(provider).ok().flatten()
    }

    /// An unreadable table allows nothing: refusing a key is the safe failure.
    fn env_key_hosts(&self) -> Vec<crate::key_hosts::EnvKeyHost> {
        Catalog::env_key_hosts(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: std::ffi::c_int) -> CatalogError {
        // The text would mislead a text match: only the code may decide.
        CatalogError::from(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            Some("database is locked".into()),
        ))
    }

    #[test]
    fn catalog_failures_classify_by_cause() {
        use rusqlite::ffi;
        for code in [ffi::SQLITE_BUSY, ffi::SQLITE_LOCKED] {
            let e = directory_error(sqlite(code));
            assert!(matches!(e, DirectoryError::Unavailable(_)) && e.is_transient());
            assert!(e.into_step_error("memory").retryable);
        }
        let e = directory_error(CatalogError::Invalid {
            what: "a memory entry needs an agent and a non-empty key".into(),
        });
        assert_eq!(
            e,
            DirectoryError::Invalid("a memory entry needs an agent and a non-empty key".into())
        );
        assert!(matches!(
            directory_error(sqlite(ffi::SQLITE_TOOBIG)),
            DirectoryError::Invalid(_)
        ));
        for code in [
            ffi::SQLITE_CORRUPT,
            ffi::SQLITE_FULL,
            ffi::SQLITE_CONSTRAINT,
        ] {
            let e = directory_error(sqlite(code));
            assert!(matches!(e, DirectoryError::Failed(_)), "{code}: {e:?}");
            let step = e.into_step_error("memory");
            assert!(!step.retryable);
            assert_eq!(step.kind, "memory");
        }
    }
}
