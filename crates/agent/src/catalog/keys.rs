//! Model providers' API keys, kept in the secret store (the OS keychain when there is one);
//! the settings store holds only the reference. Also where keys from the environment may be
//! sent.

use super::{now_ms, Catalog, CatalogError};
use crate::key_hosts::{normalize_host, EnvKeyHost, BUILTIN_ENV_KEY_HOSTS};
use crate::secret::Secret;
use crate::spec::ProviderKind;

impl Catalog {
    /// Stores `key` as `provider`'s API key, replacing the one before.
    pub fn set_provider_key(
        &self,
        provider: ProviderKind,
        key: &Secret,
    ) -> Result<(), CatalogError> {
        if key.expose().trim().is_empty() {
            return Err(CatalogError::Invalid {
                what: format!("the {} API key is empty", provider.as_str()),
            });
        }
        let new = self
            .secrets()
            .put(&format!("{}-api-key", provider.as_str()), key)?;
        match self
            .stores
            .settings
            .set_provider_key_ref(provider, &new, now_ms())
        {
            Ok(old) => {
                old.delete_values(self.secrets());
                Ok(())
            }
            Err(e) => {
                // Do not leave an unreferenced value behind.
                let _ = self.secrets().delete(&new);
                Err(e)
            }
        }
    }

    /// `provider`'s stored API key, if one was set.
    pub fn provider_key(&self, provider: ProviderKind) -> Result<Option<Secret>, CatalogError> {
        let Some(r) = self.stores.settings.provider_key_ref(provider)? else {
            return Ok(None);
        };
        Ok(Some(self.secrets().get(&r)?))
    }

    /// The providers that have a stored key (never the keys).
    pub fn providers_with_keys(&self) -> Result<Vec<String>, CatalogError> {
        self.stores.settings.providers_with_keys()
    }

    /// Forgets `provider`'s key; `false` when none was stored.
    pub fn delete_provider_key(&self, provider: ProviderKind) -> Result<bool, CatalogError> {
        let old = self.stores.settings.delete_provider_key_ref(provider)?;
        old.delete_values(self.secrets());
        Ok(old.existed)
    }
}

impl Catalog {
    /// Where `provider` is reached when a spec names no base URL; `None` clears it.
    pub fn set_provider_base_url(
        &self,
        provider: ProviderKind,
        base_url: Option<&str>,
    ) -> Result<(), CatalogError> {
        if let Some(url) = base_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(CatalogError::Invalid {
                    what: format!("base URL {url:?} must start with http:// or https://"),
                });
            }
        }
        let url = base_url.map(|u| u.trim_end_matches('/'));
        self.stores
            .settings
            .set_provider_base_url(provider, url, now_ms())
    }

    /// The base URL set for `provider`, if one is.
    pub fn provider_base_url(
        &self,
        provider: ProviderKind,
    ) -> Result<Option<String>, CatalogError> {
        self.stores.settings.provider_base_url(provider)
    }
}

impl Catalog {
    /// An app setting by name, as stored (never a secret).
    pub fn app_setting(&self, key: &str) -> Result<Option<String>, CatalogError> {
        self.stores.settings.app_setting(key)
    }

    /// Sets an app setting (`None` clears it).
    pub fn set_app_setting(&self, key: &str, value: Option<&str>) -> Result<(), CatalogError> {
        self.stores.settings.set_app_setting(key, value, now_ms())
    }

    /// The (variable, host) pairs an API key from the environment may be sent to.
    pub fn env_key_hosts(&self) -> Result<Vec<EnvKeyHost>, CatalogError> {
        self.stores.settings.env_key_hosts()
    }

    /// Allows the value of `variable` to be sent to `host` (a host, `host:port` or a URL);
    /// returns the pair as stored.
    pub fn allow_env_key(&self, variable: &str, host: &str) -> Result<EnvKeyHost, CatalogError> {
        let variable = variable.trim();
        if !crate::spec::is_env_name(variable) {
            // Not echoed: it may be the key itself.
            return Err(CatalogError::Invalid {
                what: "the variable must be the name of an environment variable (like OPENAI_API_KEY), never the key itself".into(),
            });
        }
        let host = normalize_host(host).map_err(|m| CatalogError::Invalid {
            what: format!("the host {m}"),
        })?;
        let pair = EnvKeyHost {
            variable: variable.to_string(),
            builtin: BUILTIN_ENV_KEY_HOSTS.contains(&(variable, host.as_str())),
            host,
        };
        self.stores.settings.allow_env_key(&pair, now_ms())?;
        Ok(pair)
    }

    /// Withdraws a pair (a built-in one too); `false` when it was not allowed.
    pub fn disallow_env_key(&self, variable: &str, host: &str) -> Result<bool, CatalogError> {
        let host = normalize_host(host).map_err(|m| CatalogError::Invalid {
            what: format!("the host {m}"),
        })?;
        self.stores
            .settings
            .disallow_env_key(variable.trim(), &host)
    }
}
