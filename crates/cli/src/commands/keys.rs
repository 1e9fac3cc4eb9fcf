//! `waymark keys ...`: model providers' API keys, stored in the OS keychain (or the owner-only
//! secrets file where there is none). The key is read from stdin; nothing prints it.

use std::io::Read as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context as _};
use waymark_agent::spec::ProviderKind;
use waymark_agent::Secret;

use super::open_app;
use crate::cli::KeysCommand;
use crate::output::{emit, json};

pub async fn keys(db: &Path, c: KeysCommand) -> anyhow::Result<ExitCode> {
    let app = open_app(db).await?;
    match c {
        KeysCommand::Set(a) => {
            let provider = provider(&a.provider)?;
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the key from stdin")?;
            let key = text.trim();
            if key.is_empty() {
                bail!("no key on stdin: pipe it in, e.g. `printenv OPENAI_API_KEY | waymark keys set openai`");
            }
            app.catalog
                .set_provider_key(provider, &Secret::new(key))
                .map_err(|e| anyhow!(e))?;
            emit(&format!(
                "stored the {} key in the {}",
                provider.as_str(),
                match app.catalog.secrets().backend_name() {
                    "keyring" => "OS keychain",
                    _ => "owner-only secrets file",
                }
            ))?;
        }
        KeysCommand::List(a) => {
            let providers = app.catalog.providers_with_keys()?;
            if a.json {
                emit(&json(&providers)?)?;
            } else if providers.is_empty() {
                emit("no stored keys (keys may also come from environment variables)")?;
            } else {
                emit(&providers.join("\n"))?;
            }
        }
        KeysCommand::Rm(a) => {
            let provider = provider(&a.provider)?;
            if !app.catalog.delete_provider_key(provider)? {
                bail!("no stored key for {}", provider.as_str());
            }
            emit(&format!("forgot the {} key", provider.as_str()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn provider(name: &str) -> anyhow::Result<ProviderKind> {
    match name {
        "openai" => Ok(ProviderKind::OpenAi),
        "anthropic" => Ok(ProviderKind::Anthropic),
        other => bail!("unknown provider \"{other}\": expected openai or anthropic"),
    }
}
