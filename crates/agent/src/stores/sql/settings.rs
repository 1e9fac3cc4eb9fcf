//! [`SettingsStore`] on SQLite: `provider_keys` (references), `provider_settings` and
//! `env_key_hosts`.

use waymark_engine::journal_args as args;
use waymark_engine::store::journal::Db;
use waymark_engine::StoreError;

use super::SqlAgentStore;
use crate::catalog::CatalogError;
use crate::key_hosts::EnvKeyHost;
use crate::secrets::SecretRef;
use crate::spec::ProviderKind;
use crate::stores::{Removed, SettingsStore};

/// The reference text stored for `provider`, if any.
fn stored_ref(db: &mut dyn Db, provider: ProviderKind) -> Result<Option<String>, StoreError> {
    db.query_opt(
        "SELECT secret_ref FROM provider_keys WHERE provider = ?1",
        args![provider.as_str()],
    )?
    .map(|r| r.get(0))
    .transpose()
}

/// The first column of the row `sql` finds, if any.
pub(super) fn one_text(
    db: &mut dyn Db,
    sql: &str,
    arg: &str,
) -> Result<Option<String>, StoreError> {
    db.query_opt(sql, args![arg])?.map(|r| r.get(0)).transpose()
}

/// What replacing or deleting a row holding `old` took away.
pub(super) fn removed_ref(old: Option<String>) -> Removed {
    Removed {
        existed: old.is_some(),
        secrets: old.and_then(|o| o.parse().ok()).into_iter().collect(),
    }
}

impl SettingsStore for SqlAgentStore {
    fn set_provider_key_ref(
        &self,
        provider: ProviderKind,
        key: &SecretRef,
        now_ms: i64,
    ) -> Result<Removed, CatalogError> {
        self.write(|db| {
            let old = stored_ref(db, provider)?;
            db.execute(
                "INSERT INTO provider_keys (provider, secret_ref, updated_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT(provider) DO UPDATE SET secret_ref = excluded.secret_ref,
                    updated_at_ms = excluded.updated_at_ms",
                args![provider.as_str(), key.as_str(), now_ms],
            )?;
            Ok(removed_ref(old))
        })
    }

    fn provider_key_ref(&self, provider: ProviderKind) -> Result<Option<SecretRef>, CatalogError> {
        let stored = self.read(|db| Ok::<_, CatalogError>(stored_ref(db, provider)?))?;
        stored
            .map(|s| {
                s.parse().map_err(|_| CatalogError::Corrupt {
                    what: format!(
                        "provider_keys row {}: not a secret reference",
                        provider.as_str()
                    ),
                })
            })
            .transpose()
    }

    fn providers_with_keys(&self) -> Result<Vec<String>, CatalogError> {
        self.read(|db| {
            db.query("SELECT provider FROM provider_keys ORDER BY provider", &[])?
                .iter()
                .map(|r| Ok(r.get(0)?))
                .collect()
        })
    }

    fn delete_provider_key_ref(&self, provider: ProviderKind) -> Result<Removed, CatalogError> {
        self.write(|db| {
            let old = stored_ref(db, provider)?;
            db.execute(
                "DELETE FROM provider_keys WHERE provider = ?1",
                args![provider.as_str()],
            )?;
            Ok(removed_ref(old))
        })
    }

    fn set_provider_base_url(
        &self,
        provider: ProviderKind,
        base_url: Option<&str>,
        now_ms: i64,
    ) -> Result<(), CatalogError> {
        self.write(|db| {
            match base_url {
                Some(url) => db.execute(
                    "INSERT INTO provider_settings (provider, base_url, updated_at_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT(provider) DO UPDATE SET base_url = excluded.base_url,
                        updated_at_ms = excluded.updated_at_ms",
                    args![provider.as_str(), url, now_ms],
                )?,
                None => db.execute(
                    "DELETE FROM provider_settings WHERE provider = ?1",
                    args![provider.as_str()],
                )?,
            };
            Ok(())
        })
    }

    fn app_setting(&self, key: &str) -> Result<Option<String>, CatalogError> {
        self.read(|db| {
            Ok(one_text(
                db,
                "SELECT value FROM app_settings WHERE key = ?1",
                key,
            )?)
        })
    }

    fn set_app_setting(
        &self,
        key: &str,
        value: Option<&str>,
        now_ms: i64,
    ) -> Result<(), CatalogError> {
        self.write(|db| {
            match value {
                Some(v) => db.execute(
                    "INSERT INTO app_settings (key, value, updated_at_ms) VALUES (?1, ?2, ?3)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value,
                        updated_at_ms = excluded.updated_at_ms",
                    args![key, v, now_ms],
                )?,
                None => db.execute("DELETE FROM app_settings WHERE key = ?1", args![key])?,
            };
            Ok(())
        })
    }

    fn provider_base_url(&self, provider: ProviderKind) -> Result<Option<String>, CatalogError> {
        self.read(|db| {
            Ok(one_text(
                db,
                "SELECT base_url FROM provider_settings WHERE provider = ?1",
                provider.as_str(),
            )?)
        })
    }

    fn env_key_hosts(&self) -> Result<Vec<EnvKeyHost>, CatalogError> {
        self.read(|db| {
            db.query(
                "SELECT variable, host, builtin FROM env_key_hosts ORDER BY variable, host",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(EnvKeyHost {
                    variable: r.get(0)?,
                    host: r.get(1)?,
                    builtin: r.get::<i64>(2)? != 0,
                })
            })
            .collect()
        })
    }

    fn allow_env_key(&self, pair: &EnvKeyHost, now_ms: i64) -> Result<(), CatalogError> {
        self.write(|db| {
            db.execute(
                "INSERT INTO env_key_hosts (variable, host, builtin, updated_at_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(variable, host) DO UPDATE SET updated_at_ms = excluded.updated_at_ms",
                args![&pair.variable, &pair.host, pair.builtin, now_ms],
            )?;
            Ok(())
        })
    }

    fn disallow_env_key(&self, variable: &str, host: &str) -> Result<bool, CatalogError> {
        self.write(|db| {
            let n = db.execute(
                "DELETE FROM env_key_hosts WHERE variable = ?1 AND host = ?2",
                args![variable, host],
            )?;
            Ok(n > 0)
        })
    }
}
