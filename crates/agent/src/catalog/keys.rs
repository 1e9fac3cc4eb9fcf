//! Model providers' API keys, kept in the secret store (the OS keychain when there is one);
//! the catalog holds only the reference. Also where keys from the environment may be sent.

use rusqlite::{params, OptionalExtension};

use super::{now_ms, Catalog, CatalogError};
use crate::key_hosts::{normalize_host, EnvKeyHost, BUILTIN_ENV_KEY_HOSTS};
use crate::secret::Secret;
use crate::secrets::SecretRef;
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
        let old = self.with_tx(|tx| {
            let old = stored_ref(tx, provider)?;
            tx.execute(
                "INSERT INTO provider_keys (provider, secret_ref, updated_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT(provider) DO UPDATE SET secret_ref = excluded.secret_ref,
                    updated_at_ms = excluded.updated_at_ms",
                params![provider.as_str(), new.as_str(), now_ms()],
            )?;
            Ok(old)
        });
        match old {
            Ok(Some(old)) => {
                if let Ok(r) = old.parse::<SecretRef>() {
                    let _ = self.secrets().delete(&r);
                }
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => {
                let _ = self.secrets().delete(&new);
                Err(e)
            }
        }
    }

    /// `provider`'s stored API key, if one was set.
    pub fn provider_key(&self, provider: ProviderKind) -> Result<Option<Secret>, CatalogError> {
        let stored = self.with_conn(|c| stored_ref(c, provider))?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let r: SecretRef = stored.parse().map_err(|_| CatalogError::Corrupt {
            what: format!(
                "provider_keys row {}: not a secret reference",
                provider.as_str()
            ),
        })?;
        Ok(Some(self.secrets().get(&r)?))
    }

    /// The providers that have a stored key (never the keys).
    pub fn providers_with_keys(&self) -> Result<Vec<String>, CatalogError> {
        self.with_conn(|c| {
            let mut stmt = c.prepare("SELECT provider FROM provider_keys ORDER BY provider")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Forgets `provider`'s key; `false` when none was stored.
    pub fn delete_provider_key(&self, provider: ProviderKind) -> Result<bool, CatalogError> {
        let old: Option<String> = self.with_tx(|tx| {
            let old = stored_ref(tx, provider)?;
            tx.execute(
                "DELETE FROM provider_keys WHERE provider = ?1",
                [provider.as_str()],
            )?;
            Ok(old)
        })?;
        if let Some(r) = old.as_deref().and_then(|o| o.parse::<SecretRef>().ok()) {
            let _ = self.secrets().delete(&r);
        }
        Ok(old.is_some())
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
        self.with_tx(|tx| {
            match base_url {
                Some(url) => tx.execute(
                    "INSERT INTO provider_settings (provider, base_url, updated_at_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT(provider) DO UPDATE SET base_url = excluded.base_url,
                        updated_at_ms = excluded.updated_at_ms",
                    params![provider.as_str(), url.trim_end_matches('/'), now_ms()],
                )?,
                None => tx.execute(
                    "DELETE FROM provider_settings WHERE provider = ?1",
                    [provider.as_str()],
                )?,
            };
            Ok(())
        })
    }

    /// The base URL set for `provider`, if one is.
    pub fn provider_base_url(
        &self,
        provider: ProviderKind,
    ) -> Result<Option<String>, CatalogError> {
        self.with_conn(|c| {
            c.query_row(
                "SELECT base_url FROM provider_settings WHERE provider = ?1",
                [provider.as_str()],
                |r| r.get(0),
            )
            .optional()
        })
    }
}

/// The reference stored for `provider`, if any.
fn stored_ref(
    conn: &rusqlite::Connection,
    provider: ProviderKind,
) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT secret_ref FROM provider_keys WHERE provider = ?1",
        [provider.as_str()],
        |r| r.get(0),
    )
    .optional()
}

impl Catalog {
    /// The (variable, host) pairs an API key from the environment may be sent to.
    pub fn env_key_hosts(&self) -> Result<Vec<EnvKeyHost>, CatalogError> {
        self.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT variable, host, builtin FROM env_key_hosts ORDER BY variable, host",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(EnvKeyHost {
                    variable: r.get(0)?,
                    host: r.get(1)?,
                    builtin: r.get::<_, i64>(2)? != 0,
                })
            })?;
            rows.collect()
        })
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
        let builtin = BUILTIN_ENV_KEY_HOSTS.contains(&(variable, host.as_str()));
        self.with_tx(|tx| {
            tx.execute(
                "INSERT INTO env_key_hosts (variable, host, builtin, updated_at_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(variable, host) DO UPDATE SET updated_at_ms = excluded.updated_at_ms",
                params![variable, host, builtin, now_ms()],
            )?;
            Ok(())
        })?;
        Ok(EnvKeyHost {
            variable: variable.to_string(),
            host,
            builtin,
        })
    }

    /// Withdraws a pair (a built-in one too); `false` when it was not allowed.
    pub fn disallow_env_key(&self, variable: &str, host: &str) -> Result<bool, CatalogError> {
        let host = normalize_host(host).map_err(|m| CatalogError::Invalid {
            what: format!("the host {m}"),
        })?;
        let n = self.with_tx(|tx| {
            tx.execute(
                "DELETE FROM env_key_hosts WHERE variable = ?1 AND host = ?2",
                params![variable.trim(), host],
            )
        })?;
        Ok(n > 0)
    }
}
