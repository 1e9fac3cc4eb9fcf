//! The catalog as the agent loop's directory: sub-agents by name, memory per agent.

use serde_json::Value;

use crate::catalog::Catalog;
use crate::runtime::AgentDirectory;
use crate::spec::AgentSpec;

impl AgentDirectory for Catalog {
    fn agent(&self, name: &str) -> Result<Option<AgentSpec>, String> {
        Catalog::agent(self, name).map_err(|e| e.to_string())
    }

    fn remember(&self, agent: &str, key: &str, value: &str) -> Result<Value, String> {
        let entry = Catalog::remember(self, agent, key, value).map_err(|e| e.to_string())?;
        serde_json::to_value(entry).map_err(|e| e.to_string())
    }

    fn recall(&self, agent: &str, query: &str, limit: usize) -> Result<Value, String> {
        let entries = Catalog::recall(self, agent, query, limit).map_err(|e| e.to_string())?;
        serde_json::to_value(entries).map_err(|e| e.to_string())
    }

    fn forget(&self, agent: &str, key: &str) -> Result<bool, String> {
        Catalog::forget(self, agent, key).map_err(|e| e.to_string())
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
