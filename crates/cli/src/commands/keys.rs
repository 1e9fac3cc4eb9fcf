//! `waymark keys ...`: model providers' API keys, stored in the OS keychain (or the owner-only
//! secrets file where there is none), through the API's settings. The key is read from stdin;
//! nothing prints it. Also where keys from environment variables may be sent.

use std::io::Read as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use waymark_api::{
    KeyedProvider, SettingsEnvKeyHostRequest, SettingsGetRequest, SettingsProviderRequest,
    SettingsSetKeyRequest,
};

use super::{api_error, open_api};
use crate::cli::KeysCommand;
use crate::output::{emit, json};

pub async fn keys(db: &Path, c: KeysCommand) -> anyhow::Result<ExitCode> {
    let api = open_api(db).await?;
    match c {
        KeysCommand::Set(a) => {
            let (provider, name) = provider(&a.provider)?;
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the key from stdin")?;
            let key = text.trim();
            if key.is_empty() {
                bail!("no key on stdin: pipe it in, e.g. `printenv OPENAI_API_KEY | waymark keys set openai`");
            }
            api.settings_set_key(SettingsSetKeyRequest {
                provider,
                key: key.to_string(),
            })
            .await
            .map_err(api_error)?;
            let settings = api
                .settings_get(SettingsGetRequest {})
                .await
                .map_err(api_error)?;
            emit(&format!(
                "stored the {name} key in the {}",
                match settings.secret_store.as_str() {
                    "keyring" => "OS keychain",
                    _ => "owner-only secrets file",
                }
            ))?;
        }
        KeysCommand::List(a) => {
            let providers = api
                .settings_get(SettingsGetRequest {})
                .await
                .map_err(api_error)?
                .providers_with_keys;
            if a.json {
                emit(&json(&providers)?)?;
            } else if providers.is_empty() {
                emit("no stored keys (keys may also come from environment variables)")?;
            } else {
                emit(&providers.join("\n"))?;
            }
        }
        KeysCommand::Rm(a) => {
            let (provider, name) = provider(&a.provider)?;
            let deleted = api
                .settings_delete_key(SettingsProviderRequest { provider })
                .await
                .map_err(api_error)?
                .deleted;
            if !deleted {
                bail!("no stored key for {name}");
            }
            emit(&format!("forgot the {name} key"))?;
        }
        KeysCommand::Allow(a) => {
            let p = api
                .settings_allow_env_key(SettingsEnvKeyHostRequest {
                    variable: a.variable,
                    host: a.host,
                })
                .await
                .map_err(api_error)?;
            emit(&format!(
                "the key in ${} may now be sent to {}",
                p.variable, p.host
            ))?;
        }
        KeysCommand::Disallow(a) => {
            let deleted = api
                .settings_disallow_env_key(SettingsEnvKeyHostRequest {
                    variable: a.variable.clone(),
                    host: a.host.clone(),
                })
                .await
                .map_err(api_error)?
                .deleted;
            if !deleted {
                bail!("{} → {} was not allowed", a.variable, a.host);
            }
            emit(&format!("withdrew {} → {}", a.variable, a.host))?;
        }
        KeysCommand::Hosts(a) => {
            let pairs = api
                .settings_get(SettingsGetRequest {})
                .await
                .map_err(api_error)?
                .env_key_hosts;
            if a.json {
                emit(&json(&pairs)?)?;
            } else {
                let lines: Vec<String> = pairs
                    .iter()
                    .map(|p| {
                        let builtin = if p.builtin { " (built-in)" } else { "" };
                        format!("{} → {}{builtin}", p.variable, p.host)
                    })
                    .collect();
                emit(&lines.join("\n"))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The provider and its name as the CLI spells it.
fn provider(name: &str) -> anyhow::Result<(KeyedProvider, &'static str)> {
    match name {
        "openai" => Ok((KeyedProvider::Openai, "openai")),
        "anthropic" => Ok((KeyedProvider::Anthropic, "anthropic")),
        other => bail!("unknown provider \"{other}\": expected openai or anthropic"),
    }
}
