//! Settings: model providers' stored keys (references only), their base URLs, and where keys
//! from the environment may be sent.

use super::Removed;
use crate::catalog::CatalogError;
use crate::key_hosts::EnvKeyHost;
use crate::secrets::SecretRef;
use crate::spec::ProviderKind;

/// Provider settings and the environment keys' allowlist. The caller validates and
/// normalizes (hosts, URLs); the secret values are in the secret store.
pub trait SettingsStore: Send + Sync {
    /// Makes `key` `provider`'s stored key; what it replaced.
    fn set_provider_key_ref(
        &self,
        provider: ProviderKind,
        key: &SecretRef,
        now_ms: i64,
    ) -> Result<Removed, CatalogError>;

    /// `provider`'s key reference, if one is stored ([`CatalogError::Corrupt`] when the row
    /// does not hold one).
    fn provider_key_ref(&self, provider: ProviderKind) -> Result<Option<SecretRef>, CatalogError>;

    /// The providers with a stored key, by name.
    fn providers_with_keys(&self) -> Result<Vec<String>, CatalogError>;

    fn delete_provider_key_ref(&self, provider: ProviderKind) -> Result<Removed, CatalogError>;

    /// Where `provider` is reached when a spec names none; `None` clears it.
    fn set_provider_base_url(
        &self,
        provider: ProviderKind,
        base_url: Option<&str>,
        now_ms: i64,
    ) -> Result<(), CatalogError>;

    fn provider_base_url(&self, provider: ProviderKind) -> Result<Option<String>, CatalogError>;

    /// The allowed (variable, host) pairs, by variable then host. A new database holds
    /// [`crate::key_hosts::BUILTIN_ENV_KEY_HOSTS`].
    fn env_key_hosts(&self) -> Result<Vec<EnvKeyHost>, CatalogError>;

    /// Allows a pair (already normalized); an allowed pair keeps its `builtin` flag.
    fn allow_env_key(&self, pair: &EnvKeyHost, now_ms: i64) -> Result<(), CatalogError>;

    /// Withdraws a pair; whether it was allowed.
    fn disallow_env_key(&self, variable: &str, host: &str) -> Result<bool, CatalogError>;

    /// An app setting by name (`hooks_port`, ...); the caller parses and validates it.
    fn app_setting(&self, key: &str) -> Result<Option<String>, CatalogError>;

    /// Sets an app setting; `None` clears it.
    fn set_app_setting(
        &self,
        key: &str,
        value: Option<&str>,
        now_ms: i64,
    ) -> Result<(), CatalogError>;
}
