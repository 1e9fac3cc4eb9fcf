//! Settings: where the data lives, providers' API keys (write-only), and where keys from the
//! environment may be sent.

use serde::{Deserialize, Serialize};
use waymark_agent::spec::ProviderKind;
use waymark_agent::Secret;

use crate::commands::{DeletedResponse, OkResponse};
use crate::{Api, ApiError};

#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct SettingsGetRequest {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct SettingsResponse {
    pub data_dir: String,
    /// `keyring` (the OS keychain) or `file` (owner-only file in the data directory).
    pub secret_store: String,
    /// Providers with a stored key. Keys themselves are never returned.
    pub providers_with_keys: Vec<String>,
    /// Each provider: where it is reached and whether a key is stored.
    pub providers: Vec<ProviderSetting>,
    /// Where an API key read from an environment variable may be sent (a spec's
    /// `model.api_key_env` with its `base_url`); any other pair is refused.
    pub env_key_hosts: Vec<EnvKeyHostSetting>,
    /// The loopback port the desktop app receives webhooks on (0: any free port).
    pub hooks_port: u16,
    /// The HTTPS URL of this client's metadata document (a Client ID Metadata Document) that
    /// MCP sign-ins register with where the authorization server accepts one; unset: not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub client_metadata_url: Option<String>,
    /// The database in use and the one the next start uses (where the door chooses it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub database: Option<crate::DatabaseSetting>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsSetClientMetadataUrlRequest {
    /// An `https://` URL with a path; null or empty: stop using one.
    #[serde(default)]
    #[ts(optional)]
    pub url: Option<String>,
}

/// One allowed destination of a key from the environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct EnvKeyHostSetting {
    /// The environment variable's name (never its value).
    pub variable: String,
    /// A host (any port) or `host:port`.
    pub host: String,
    /// One of the pairs every database starts with (it may be removed like any other).
    pub builtin: bool,
}

/// A (variable, host) pair to allow or withdraw.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsEnvKeyHostRequest {
    /// The environment variable's name, like `OPENROUTER_API_KEY`.
    pub variable: String,
    /// A host (`api.example.com`, any port), `host:port`, or a base URL (its host and port).
    pub host: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct ProviderSetting {
    pub provider: KeyedProvider,
    /// Set in the settings; specs without a `base_url` use it. Absent: the provider's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub base_url: Option<String>,
    pub has_key: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsSetProviderRequest {
    pub provider: KeyedProvider,
    /// Where specs without their own `base_url` reach this provider; absent or null clears it.
    #[serde(default)]
    #[ts(optional)]
    pub base_url: Option<String>,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum KeyedProvider {
    Openai,
    Anthropic,
}

impl KeyedProvider {
    fn kind(self) -> ProviderKind {
        match self {
            KeyedProvider::Openai => ProviderKind::OpenAi,
            KeyedProvider::Anthropic => ProviderKind::Anthropic,
        }
    }
}

#[derive(Clone, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsSetKeyRequest {
    pub provider: KeyedProvider,
    pub key: String,
}

impl std::fmt::Debug for SettingsSetKeyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsSetKeyRequest")
            .field("provider", &self.provider)
            .field("key", &"***")
            .finish()
    }
}

/// A webhook trigger's secret, by the name its `secret_ref` gives (write-only).
#[derive(Clone, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsSetWebhookSecretRequest {
    pub name: String,
    pub secret: String,
}

impl std::fmt::Debug for SettingsSetWebhookSecretRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SettingsSetWebhookSecretRequest")
            .field("name", &self.name)
            .field("secret", &"***")
            .finish()
    }
}

/// Generate a new Standard Webhooks secret (`whsec_…`) and store it under `name`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsGenerateWebhookSecretRequest {
    /// The name a trigger's `secret_ref` gives.
    pub name: String,
}

/// The generated secret, returned this once (give it to the sender; it is not shown again).
#[derive(Clone, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct WebhookSecretResponse {
    pub name: String,
    /// `whsec_` and 32 random bytes in base64: a Standard Webhooks secret, also usable as a
    /// GitHub or `hmac_sha256` one.
    pub secret: String,
}

impl std::fmt::Debug for WebhookSecretResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSecretResponse")
            .field("name", &self.name)
            .field("secret", &"***")
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsProviderRequest {
    pub provider: KeyedProvider,
}

/// A secret's name as a trigger's `secret_ref` gives it.
fn check_secret_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid(
            "name",
            "the secret needs the name its trigger's secret_ref gives",
        ));
    }
    Ok(())
}

impl Api {
    pub async fn settings_get(&self, _: SettingsGetRequest) -> Result<SettingsResponse, ApiError> {
        let catalog = &self.app().catalog;
        let with_keys = catalog.providers_with_keys()?;
        let mut providers = Vec::new();
        for p in [KeyedProvider::Openai, KeyedProvider::Anthropic] {
            providers.push(ProviderSetting {
                provider: p,
                base_url: catalog.provider_base_url(p.kind())?,
                has_key: with_keys.iter().any(|k| k == p.kind().as_str()),
            });
        }
        Ok(SettingsResponse {
            data_dir: self.app().data_dir.display().to_string(),
            secret_store: catalog.secrets().backend_name().to_string(),
            providers_with_keys: with_keys,
            providers,
            env_key_hosts: catalog
                .env_key_hosts()?
                .into_iter()
                .map(|p| EnvKeyHostSetting {
                    variable: p.variable,
                    host: p.host,
                    builtin: p.builtin,
                })
                .collect(),
            hooks_port: self.hooks_port().await?,
            client_metadata_url: catalog
                .app_setting(waymark_agent::app::CLIENT_METADATA_URL_SETTING)?,
            database: self.database_setting(),
        })
    }

    /// Sets (or clears) the Client ID Metadata Document URL that MCP sign-ins register with.
    pub async fn settings_set_client_metadata_url(
        &self,
        req: SettingsSetClientMetadataUrlRequest,
    ) -> Result<crate::commands::OkResponse, ApiError> {
        let url = req
            .url
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty());
        if let Some(u) = &url {
            let parsed = check_client_metadata_url(u);
            if let Err(why) = parsed {
                return Err(ApiError::invalid("url", why));
            }
        }
        self.app().catalog.set_app_setting(
            waymark_agent::app::CLIENT_METADATA_URL_SETTING,
            url.as_deref(),
        )?;
        self.app().hub().set_client_metadata_url(url);
        Ok(crate::commands::OkResponse::ok())
    }

    pub async fn settings_set_provider(
        &self,
        req: SettingsSetProviderRequest,
    ) -> Result<OkResponse, ApiError> {
        let url = req
            .base_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        if let Some(u) = url {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(ApiError::invalid(
                    "base_url",
                    "the base URL must start with http:// or https://",
                ));
            }
        }
        self.app()
            .catalog
            .set_provider_base_url(req.provider.kind(), url)?;
        Ok(OkResponse::ok())
    }

    pub async fn settings_set_key(
        &self,
        req: SettingsSetKeyRequest,
    ) -> Result<OkResponse, ApiError> {
        if req.key.trim().is_empty() {
            return Err(ApiError::invalid("key", "the key is empty"));
        }
        self.app()
            .catalog
            .set_provider_key(req.provider.kind(), &Secret::new(req.key.trim()))?;
        Ok(OkResponse::ok())
    }

    pub async fn settings_set_webhook_secret(
        &self,
        req: SettingsSetWebhookSecretRequest,
    ) -> Result<OkResponse, ApiError> {
        check_secret_name(&req.name)?;
        if req.secret.len() < 16 {
            return Err(ApiError::invalid(
                "secret",
                "a webhook secret must be at least 16 characters",
            ));
        }
        self.store_webhook_secret(req.name.trim(), Secret::new(req.secret))
            .await?;
        Ok(OkResponse::ok())
    }

    /// Generates a `whsec_…` secret, stores it under `name` (replacing the one before) and
    /// returns it, this once.
    pub async fn settings_generate_webhook_secret(
        &self,
        req: SettingsGenerateWebhookSecretRequest,
    ) -> Result<WebhookSecretResponse, ApiError> {
        check_secret_name(&req.name)?;
        let secret = waymark_agent::triggers::generate_webhook_secret();
        let name = req.name.trim().to_string();
        self.store_webhook_secret(&name, secret.clone()).await?;
        Ok(WebhookSecretResponse {
            name,
            secret: secret.expose().to_string(),
        })
    }

    /// Into the secret store (the keychain: a blocking call, so off the runtime); the webhook
    /// receivers of this process use it from the next request on.
    async fn store_webhook_secret(&self, name: &str, secret: Secret) -> Result<(), ApiError> {
        let app = self.app().clone();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || {
            waymark_agent::triggers::WebhookReceiver::new(app)?.set_secret(&name, &secret)
        })
        .await
        .map_err(|e| ApiError::internal(format!("storing the secret stopped: {e}")))?
        .map_err(|e| ApiError::internal(e.to_string()))
    }

    /// Allows the key in an environment variable to be sent to a host; returns the pair as
    /// stored (the host normalized).
    pub async fn settings_allow_env_key(
        &self,
        req: SettingsEnvKeyHostRequest,
    ) -> Result<EnvKeyHostSetting, ApiError> {
        let field = if waymark_agent::spec::is_env_name(req.variable.trim()) {
            "host"
        } else {
            "variable"
        };
        let p = self
            .app()
            .catalog
            .allow_env_key(&req.variable, &req.host)
            .map_err(|e| ApiError::invalid(field, e.to_string()))?;
        Ok(EnvKeyHostSetting {
            variable: p.variable,
            host: p.host,
            builtin: p.builtin,
        })
    }

    /// Withdraws a (variable, host) pair; specs sending that key there are refused after.
    pub async fn settings_disallow_env_key(
        &self,
        req: SettingsEnvKeyHostRequest,
    ) -> Result<DeletedResponse, ApiError> {
        let deleted = self
            .app()
            .catalog
            .disallow_env_key(&req.variable, &req.host)
            .map_err(|e| ApiError::invalid("host", e.to_string()))?;
        Ok(DeletedResponse { deleted })
    }

    pub async fn settings_delete_key(
        &self,
        req: SettingsProviderRequest,
    ) -> Result<DeletedResponse, ApiError> {
        Ok(DeletedResponse {
            deleted: self
                .app()
                .catalog
                .delete_provider_key(req.provider.kind())?,
        })
    }
}

/// A Client ID Metadata Document's URL is its client id: https, a host, and a path (the spec
/// refuses a bare origin).
fn check_client_metadata_url(url: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("https://") else {
        return Err("a client metadata document must be at an https:// URL".into());
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err("the URL has no host".into());
    }
    if path.is_empty() || url.contains('#') || url.len() > 2048 {
        return Err("the URL needs a path to the document (https://HOST/PATH), no fragment".into());
    }
    Ok(())
}
