//! `waymark keys ...`: model providers' API keys, stored in the OS keychain (or the owner-only
//! secrets file where there is none), through the API's settings. The key is read from stdin;
//! nothing prints it.

use std::io::Read as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use waymark_api::{
    KeyedProvider, SettingsGetRequest, SettingsProviderRequest, SettingsSetKeyRequest,
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
