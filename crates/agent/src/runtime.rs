//! What agent runs share in one process: the MCP hub, the agent directory (sub-agents and
//! memory), the price table, model scripts, and the concurrency limits.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use waymark_engine::{Engine, EngineError, Registry, RunId, StartOptions, StepError};

use crate::agent_loop::{self, AgentRunInput};
use crate::anthropic::AnthropicProvider;
use crate::key_hosts::{env_key_target, EnvKeyHost, EnvKeyRefused, EnvKeyTarget};
use crate::mcp::McpHub;
use crate::openai::OpenAiProvider;
use crate::pricing::PriceTable;
use crate::provider::{HttpConfig, Provider, ProviderError};
use crate::scripted::ScriptedProvider;
use crate::secret::Secret;
use crate::spec::{AgentSpec, ModelSpec, ProviderKind};

/// Requests one provider (kind + base URL) may have in flight from this process by default.
pub const DEFAULT_PROVIDER_CONCURRENCY: usize = 8;

/// Where the agent loop finds other agents (for sub-agent tools) and each agent's memory.
/// Each error says by its variant what the run does with it (see [`DirectoryError`]).
pub trait AgentDirectory: Send + Sync {
    fn agent(&self, name: &str) -> Result<Option<AgentSpec>, DirectoryError>;
    fn remember(&self, agent: &str, key: &str, value: &str) -> Result<Value, DirectoryError>;
    fn recall(&self, agent: &str, query: &str, limit: usize) -> Result<Value, DirectoryError>;
    fn forget(&self, agent: &str, key: &str) -> Result<bool, DirectoryError>;
}

/// Why the agent directory could not answer. Implementations classify by cause (a SQLite
/// result code), never by text, because the variant decides what happens next.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// The store is busy or locked by another connection for now: the step fails with a
    /// retryable error, and the engine tries it again by the step's retry policy. The model
    /// never sees it.
    #[error("{0}")]
    Unavailable(String),
    /// The request cannot be done as asked (an empty key, a value too large): the model gets
    /// it as the tool's error result and may correct its call.
    #[error("{0}")]
    Invalid(String),
    /// The store failed in a way trying again will not fix (a damaged or full database, a
    /// saved spec that no longer reads): the step fails for good.
    #[error("{0}")]
    Failed(String),
}

impl DirectoryError {
    /// Whether the same call may succeed if made again shortly.
    pub fn is_transient(&self) -> bool {
        matches!(self, DirectoryError::Unavailable(_))
    }

    /// The step error of kind `kind` a directory failure fails its step with: retryable when
    /// transient, final otherwise. (An [`DirectoryError::Invalid`] the caller can hand to the
    /// model should not get here; if it does, a retry would not change it.)
    pub fn into_step_error(self, kind: &str) -> StepError {
        let transient = self.is_transient();
        let message = self.to_string();
        if transient {
            StepError::retryable(kind, message)
        } else {
            StepError::fatal(kind, message)
        }
    }
}

/// Where an API key comes from when the spec's environment variable is unset (the keychain).
/// Also where a provider is reached when a spec names no base URL (the settings).
pub trait KeySource: Send + Sync {
    fn api_key(&self, provider: ProviderKind) -> Option<Secret>;
    fn base_url(&self, _provider: ProviderKind) -> Option<String> {
        None
    }
    /// The (variable, host) pairs a key from the environment may be sent to.
    fn env_key_hosts(&self) -> Vec<EnvKeyHost> {
        EnvKeyHost::builtins()
    }
}

#[derive(Clone)]
pub struct AgentRuntime {
    inner: Arc<Inner>,
}

struct Inner {
    hub: McpHub,
    directory: Option<Arc<dyn AgentDirectory>>,
    keys: Option<Arc<dyn KeySource>>,
    /// Mail accounts for `send_email`.
    mail: Option<Arc<dyn crate::email::MailAccess>>,
    prices: PriceTable,
    /// Scripts that ship inside the binary, by file name (the offline demo's).
    embedded_scripts: HashMap<String, &'static str>,
    /// Relative script paths are taken from here (the folder of the spec file when known).
    script_dir: Option<PathBuf>,
    provider_concurrency: usize,
    /// Pairs allowed by whoever built the runtime, besides the key source's.
    env_key_hosts: Vec<EnvKeyHost>,
    provider_slots: Mutex<HashMap<String, Arc<Semaphore>>>,
    agent_slots: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// Builds an [`AgentRuntime`].
pub struct AgentRuntimeBuilder {
    inner: Inner,
}

impl AgentRuntimeBuilder {
    pub fn directory(mut self, directory: Arc<dyn AgentDirectory>) -> Self {
        self.inner.directory = Some(directory);
        self
    }

    pub fn keys(mut self, keys: Arc<dyn KeySource>) -> Self {
        self.inner.keys = Some(keys);
        self
    }

    pub fn mail(mut self, mail: Arc<dyn crate::email::MailAccess>) -> Self {
        self.inner.mail = Some(mail);
        self
    }

    pub fn prices(mut self, prices: PriceTable) -> Self {
        self.inner.prices = prices;
        self
    }

    pub fn embedded_script(mut self, file_name: &str, text: &'static str) -> Self {
        self.inner
            .embedded_scripts
            .insert(file_name.to_string(), text);
        self
    }

    pub fn script_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.inner.script_dir = Some(dir.into());
        self
    }

    /// Allows the key in `variable` to be sent to `host` (or `host:port`), besides the pairs of
    /// the key source (or the built-in ones when there is none).
    pub fn allow_env_key(mut self, variable: &str, host: &str) -> Self {
        self.inner.env_key_hosts.push(EnvKeyHost {
            variable: variable.to_string(),
            host: host.to_ascii_lowercase(),
            builtin: false,
        });
        self
    }

    pub fn provider_concurrency(mut self, n: usize) -> Self {
        self.inner.provider_concurrency = n.max(1);
        self
    }

    pub fn build(self) -> AgentRuntime {
        AgentRuntime {
            inner: Arc::new(self.inner),
        }
    }
}

impl AgentRuntime {
    pub fn builder(hub: McpHub) -> AgentRuntimeBuilder {
        AgentRuntimeBuilder {
            inner: Inner {
                hub,
                directory: None,
                keys: None,
                mail: None,
                prices: PriceTable::builtin(),
                embedded_scripts: HashMap::new(),
                script_dir: None,
                provider_concurrency: DEFAULT_PROVIDER_CONCURRENCY,
                env_key_hosts: Vec::new(),
                provider_slots: Mutex::new(HashMap::new()),
                agent_slots: Mutex::new(HashMap::new()),
            },
        }
    }

    pub fn hub(&self) -> &McpHub {
        &self.inner.hub
    }

    pub fn mail(&self) -> Option<&Arc<dyn crate::email::MailAccess>> {
        self.inner.mail.as_ref()
    }

    pub fn directory(&self) -> Option<&Arc<dyn AgentDirectory>> {
        self.inner.directory.as_ref()
    }

    pub fn prices(&self) -> &PriceTable {
        &self.inner.prices
    }

    /// Registers the agent loop as the durable function [`agent_loop::AGENT_FUNCTION`].
    pub fn register(&self, registry: &mut Registry) {
        registry.register(agent_loop::durable_function(self.clone()));
    }

    /// Starts a run of `spec` with `input`; the run keeps the spec (and a scripted model's
    /// turns) as they are now, so editing the agent later changes only new runs.
    pub async fn start_run(
        &self,
        engine: &Engine,
        spec: &AgentSpec,
        input: &str,
        idempotency_key: Option<String>,
    ) -> Result<RunId, StartError> {
        spec.validate()
            .map_err(|e| StartError::Spec(e.to_string()))?;
        self.check_env_key(&spec.model)?;
        let script = self.load_script(&spec.model).map_err(StartError::Script)?;
        let run_input = AgentRunInput {
            spec: spec.clone(),
            input: input.to_string(),
            script,
            replay: None,
        };
        let value = serde_json::to_value(&run_input)
            .map_err(|e| StartError::Spec(format!("the spec cannot be serialized: {e}")))?;
        let opts = StartOptions {
            idempotency_key,
            deadline: spec.limits.deadline_secs.map(Duration::from_secs),
            worker_label: spec.worker_label.clone(),
        };
        Ok(engine
            .start_run(agent_loop::AGENT_FUNCTION, value, opts)
            .await?)
    }

    /// A scripted model's turns, read now so the run keeps them; `None` for other providers.
    pub fn load_script(&self, model: &ModelSpec) -> Result<Option<Value>, ProviderError> {
        if model.provider != ProviderKind::Scripted {
            return Ok(None);
        }
        let Some(path) = model.script.as_ref() else {
            return Err(ProviderError::InvalidScript {
                message: "a scripted model needs `model.script`, the file of its turns".into(),
            });
        };
        let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let text = match self.inner.embedded_scripts.get(file_name) {
            Some(text) if !path.is_absolute() => text.to_string(),
            _ => {
                let full = self.script_path(path);
                std::fs::read_to_string(&full).map_err(|e| ProviderError::InvalidScript {
                    message: format!("cannot read {}: {e}", full.display()),
                })?
            }
        };
        let value: Value =
            serde_json::from_str(&text).map_err(|e| ProviderError::InvalidScript {
                message: format!("{}: not JSON: {e}", path.display()),
            })?;
        // Parsed once here so a broken script fails the start, not the first model call.
        ScriptedProvider::from_value(value.clone())?;
        Ok(Some(value))
    }

    fn script_path(&self, path: &Path) -> PathBuf {
        match &self.inner.script_dir {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// Where `model`'s key from the environment would be sent, if one is concerned.
    pub fn env_key_target(&self, model: &ModelSpec) -> Option<EnvKeyTarget> {
        let configured = self
            .inner
            .keys
            .as_ref()
            .and_then(|k| k.base_url(model.provider));
        env_key_target(model, configured.as_deref(), &|var| {
            Secret::from_env(var).is_some()
        })
    }

    /// Refuses a model whose key from the environment would go to a host the user has not
    /// allowed for that variable (checked when a run starts, an agent is saved, and before
    /// every model call, since the allowlist can change while a run waits).
    pub fn check_env_key(&self, model: &ModelSpec) -> Result<(), EnvKeyRefused> {
        let Some(target) = self.env_key_target(model) else {
            return Ok(());
        };
        let mut pairs = match &self.inner.keys {
            Some(k) => k.env_key_hosts(),
            None => EnvKeyHost::builtins(),
        };
        pairs.extend(self.inner.env_key_hosts.iter().cloned());
        target.check(&pairs)
    }

    /// The provider for `model`. Keys come from the spec's environment variable (only to a
    /// host allowed for it), else the key source (the keychain); never from the run's input
    /// or the database.
    pub fn provider(
        &self,
        model: &ModelSpec,
        script: Option<&Value>,
    ) -> Result<Provider, ProviderError> {
        if model.provider != ProviderKind::Scripted {
            self.check_env_key(model)
                .map_err(|e| ProviderError::Config {
                    message: e.to_string(),
                })?;
        }
        let timeout = model
            .timeout_secs
            .map(Duration::from_secs)
            .unwrap_or(crate::http::DEFAULT_TIMEOUT);
        let http = |kind: ProviderKind| -> Result<HttpConfig, ProviderError> {
            // The spec's URL, else the one in the settings, else the provider's own.
            let configured = match &model.base_url {
                Some(_) => None,
                None => self.inner.keys.as_ref().and_then(|k| k.base_url(kind)),
            };
            let base_url = configured.as_deref().or(model.base_url()).ok_or_else(|| {
                ProviderError::Config {
                    message: format!("provider {} needs `model.base_url`", kind.as_str()),
                }
            })?;
            let key = match model.api_key_env() {
                Some(var) => Secret::from_env(var),
                None => None,
            }
            .or_else(|| {
                // The keychain's key goes only where the settings send this provider (its own
                // server by default): a spec pointing elsewhere must name its variable.
                if model.base_url.is_none() {
                    self.inner.keys.as_ref().and_then(|k| k.api_key(kind))
                } else {
                    None
                }
            });
            Ok(HttpConfig::new(base_url, key, timeout))
        };
        match model.provider {
            ProviderKind::OpenAi => Ok(Provider::OpenAi(OpenAiProvider::new(http(
                ProviderKind::OpenAi,
            )?)?)),
            ProviderKind::Anthropic => Ok(Provider::Anthropic(AnthropicProvider::new(http(
                ProviderKind::Anthropic,
            )?)?)),
            ProviderKind::Scripted => {
                let script = script.ok_or_else(|| ProviderError::InvalidScript {
                    message: "the run has no scripted turns".into(),
                })?;
                Ok(Provider::Scripted(ScriptedProvider::from_value(
                    script.clone(),
                )?))
            }
        }
    }

    /// A slot for one request to this model's server; waits while the server has
    /// [`DEFAULT_PROVIDER_CONCURRENCY`] requests in flight from this process.
    pub(crate) async fn provider_slot(&self, model: &ModelSpec) -> Option<OwnedSemaphorePermit> {
        let key = format!(
            "{}:{}",
            model.provider.as_str(),
            model.base_url().unwrap_or("")
        );
        let n = self.inner.provider_concurrency;
        slot(&self.inner.provider_slots, key, n).await
    }

    /// A slot for one run of `agent` when its spec limits concurrent runs.
    pub(crate) async fn agent_slot(&self, spec: &AgentSpec) -> Option<OwnedSemaphorePermit> {
        let n = spec.limits.max_concurrent_runs? as usize;
        slot(&self.inner.agent_slots, spec.name.clone(), n).await
    }
}

async fn slot(
    map: &Mutex<HashMap<String, Arc<Semaphore>>>,
    key: String,
    n: usize,
) -> Option<OwnedSemaphorePermit> {
    let sem = {
        let mut m = map.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(key)
            .or_insert_with(|| Arc::new(Semaphore::new(n.max(1))))
            .clone()
    };
    sem.acquire_owned().await.ok()
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid agent spec: {0}")]
    Spec(String),
    #[error("{0}")]
    Script(ProviderError),
    #[error(transparent)]
    EnvKey(#[from] EnvKeyRefused),
    #[error(transparent)]
    Engine(#[from] EngineError),
}
