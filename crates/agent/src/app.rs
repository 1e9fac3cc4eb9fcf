//! One process's agent side, wired: the engine's store, the agent-side stores (catalog,
//! trigger state) and secrets, the MCP hub with the catalog's servers, and the agent loop
//! registered. Both doors (the CLI and the desktop app) open this. Everything persistent is
//! behind traits ([`waymark_engine::Store`], [`crate::stores`]); [`AgentApp::open`] picks the
//! SQLite ones, [`AgentApp::with_stores`] takes any.

mod elicitation;

pub use elicitation::{
    check_answer as check_elicitation_answer, ElicitationAnswer, MAX_ANSWER_BYTES,
};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use waymark_engine::{
    Engine, EngineError, Registry, RunId, SharedClock, SharedStore, SqliteStore, StepKey,
    StoreError, SystemClock,
};

use crate::agent_loop::{ANSWER_EVENT, APPROVAL_EVENT};
use crate::catalog::{Catalog, CatalogError};
use crate::mcp::McpHub;
use crate::runtime::{AgentRuntime, StartError};
use crate::secrets::{SecretError, SecretStore};
use crate::stores::{AgentStores, SqliteAgentStore};
use crate::triggers::TriggerStore;

/// How long an approval or answer waits for its run (a run waiting elsewhere picks it up).
const HUMAN_EVENT_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("no agent named \"{0}\" (see `waymark agents list`)")]
    UnknownAgent(String),
    #[error("{0}")]
    Invalid(String),
}

/// The app setting holding the HTTPS URL of Waymark's Client ID Metadata Document: MCP
/// authorization servers that accept one are registered with it. Unset (the default): not used.
pub const CLIENT_METADATA_URL_SETTING: &str = "mcp_client_metadata_url";

#[derive(Clone)]
pub struct AgentApp {
    pub engine: Engine,
    /// The engine's store (runs, steps, attempts, events, blobs); upkeep through
    /// `engine`/[`waymark_engine::Store::maintenance`].
    pub store: SharedStore,
    pub catalog: Catalog,
    /// Cron fires and webhook secrets.
    pub triggers: TriggerStore,
    pub runtime: AgentRuntime,
    pub data_dir: PathBuf,
}

/// Every store an [`AgentApp`] runs on, ready made (by a backend, or a test).
#[derive(Clone)]
pub struct AppStores {
    pub engine: SharedStore,
    pub agent: AgentStores,
    /// Where secret values go (the stores hold only references).
    pub secrets: SecretStore,
}

impl AgentApp {
    /// Opens the database at `db` and the secrets of `data_dir`. `registry` may hold other
    /// durable functions (the CLI's examples); the agent loop is added to it.
    pub fn open(db: &Path, data_dir: &Path, registry: Registry) -> Result<Self, AppError> {
        Self::open_with_clock(db, data_dir, registry, Arc::new(SystemClock))
    }

    /// [`AgentApp::open`] with the engine on `clock` (a `ManualClock` in tests: the cron
    /// scheduler and the engine must share one).
    pub fn open_with_clock(
        db: &Path,
        data_dir: &Path,
        registry: Registry,
        clock: SharedClock,
    ) -> Result<Self, AppError> {
        // The engine first: it creates the file and its journal's schema.
        let engine: SharedStore = SqliteStore::open(db)?;
        let secrets = SecretStore::open(data_dir)?;
        let agent = SqliteAgentStore::open(db)?.stores();
        let stores = AppStores {
            engine,
            agent,
            secrets,
        };
        Self::with_stores(stores, data_dir, registry, clock)
    }

    /// The app on ready-made stores (another backend's, or a test's). `data_dir` holds what is
    /// not in the stores (logs, tokens, the demo's outbox).
    pub fn with_stores(
        stores: AppStores,
        data_dir: &Path,
        mut registry: Registry,
        clock: SharedClock,
    ) -> Result<Self, AppError> {
        let triggers = TriggerStore::new(stores.agent.triggers.clone());
        let catalog = Catalog::new(stores.agent, stores.secrets);
        let hub = McpHub::new();
        // Sign-in tokens live beside the other secrets (keychain or 0600 file), never in SQLite.
        hub.set_token_vault(Arc::new(catalog.secrets().clone()));
        hub.set_client_metadata_url(catalog.app_setting(CLIENT_METADATA_URL_SETTING)?);
        let (servers, missing) = catalog.servers_here()?;
        for def in servers {
            hub.set_server(def);
        }
        for why in missing {
            // Its tools answer that the server is unknown here until its values are set.
            tracing::warn!("{why}");
        }
        let runtime = crate::demo::with_embedded_scripts(AgentRuntime::builder(hub))
            .directory(Arc::new(catalog.clone()))
            .keys(Arc::new(catalog.clone()))
            .mail(Arc::new(catalog.clone()))
            .build();
        runtime.register(&mut registry);
        let engine = Engine::new(stores.engine.clone(), registry).with_clock(clock);
        Ok(AgentApp {
            engine,
            store: stores.engine,
            catalog,
            triggers,
            runtime,
            data_dir: data_dir.to_path_buf(),
        })
    }

    pub fn hub(&self) -> &McpHub {
        self.runtime.hub()
    }

    /// Starts a run of the saved agent `name`.
    pub async fn start_agent(
        &self,
        name: &str,
        input: &str,
        idempotency_key: Option<String>,
    ) -> Result<RunId, AppError> {
        let spec = self
            .catalog
            .agent(name)?
            .ok_or_else(|| AppError::UnknownAgent(name.to_string()))?;
        Ok(self
            .runtime
            .start_run(&self.engine, &spec, input, idempotency_key)
            .await?)
    }

    /// Approves or rejects the call waiting at `step` (`tool/N.i` or `approval/N.i`).
    pub async fn decide(
        &self,
        run: RunId,
        step: &str,
        approved: bool,
        reason: Option<&str>,
    ) -> Result<(), AppError> {
        self.decide_by(run, step, approved, reason, None).await
    }

    /// [`AgentApp::decide`], recording who decided (`cli`, `api`, ...) in the wait's payload.
    pub async fn decide_by(
        &self,
        run: RunId,
        step: &str,
        approved: bool,
        reason: Option<&str>,
        by: Option<&str>,
    ) -> Result<(), AppError> {
        // A server's sampling request waits at `sample/.../approval`, keyed as itself.
        let step = match step.strip_prefix("sample/") {
            Some(rest) if rest.ends_with("/approval") => step.to_string(),
            Some(_) => format!("{step}/approval"),
            None => tool_step_key(step, "approval/")?,
        };
        let mut payload = json!({ "run": run, "step": step, "approved": approved });
        if let Some(reason) = reason {
            payload["reason"] = json!(reason);
        }
        self.send_human_event(APPROVAL_EVENT, payload, by).await
    }

    /// Approves the call waiting at `step` with the reviewer's `arguments` in place of the
    /// model's: checked here against the tool's input schema (the run checks them again), so
    /// a bad edit is refused before the run sees it.
    pub async fn approve_edited_by(
        &self,
        run: RunId,
        step: &str,
        arguments: &Value,
        by: Option<&str>,
    ) -> Result<(), AppError> {
        let step = tool_step_key(step, "approval/")?;
        self.check_edit(run, &step, arguments).await?;
        let payload = json!({ "run": run, "step": step, "approved": true, "arguments": arguments });
        self.send_human_event(APPROVAL_EVENT, payload, by).await
    }

    /// The edited `arguments` of the call at `tool_key` (`tool/N.I`) against its tool's schema.
    async fn check_edit(
        &self,
        run: RunId,
        tool_key: &str,
        arguments: &Value,
    ) -> Result<(), AppError> {
        let invalid = |m: String| AppError::Invalid(m);
        let (n, i) = tool_key
            .trim_start_matches("tool/")
            .split_once('.')
            .and_then(|(n, i)| Some((n.to_string(), i.parse::<usize>().ok()?)))
            .ok_or_else(|| invalid(format!("{tool_key} is not a tool call's step")))?;
        let output_of = |key: String| async move {
            Ok::<_, AppError>(
                self.engine
                    .step_trace(run, StepKey::new(key))
                    .await?
                    .and_then(|t| t.step.output),
            )
        };
        let model_output = output_of(format!("llm/{n}"))
            .await?
            .ok_or_else(|| invalid(format!("run {run} has no model call llm/{n}")))?;
        let (name, _) = crate::step_role::tool_call_in(&model_output, i.saturating_sub(1))
            .ok_or_else(|| invalid(format!("llm/{n} asked for no call {i}")))?;
        let tools: crate::agent_loop::ToolSet =
            output_of(crate::agent_loop::TOOLS_STEP.to_string())
                .await?
                .and_then(|v| serde_json::from_value(v).ok())
                .ok_or_else(|| invalid(format!("run {run} has no tool list")))?;
        let tool = tools
            .get(&name)
            .ok_or_else(|| invalid(format!("the run has no tool named {name:?}")))?;
        if let Ok(validator) = crate::arguments::ArgumentValidator::new(&name, &tool.input_schema) {
            validator
                .check(arguments)
                .map_err(|v| invalid(format!("the edited arguments: {v}")))?;
        }
        let sends_email = matches!(
            tool.source,
            crate::agent_loop::ToolSource::Builtin {
                builtin: crate::spec::BuiltinTool::SendEmail
            }
        );
        if sends_email {
            // The same rule the send applies, told to the reviewer now rather than to the
            // model after the approval.
            let input: crate::agent_loop::AgentRunInput = self
                .engine
                .run(run)
                .await?
                .and_then(|r| serde_json::from_value(r.input).ok())
                .ok_or_else(|| invalid(format!("run {run} is not an agent run")))?;
            crate::email::check_recipients(&input.spec, &input.input, arguments)
                .map_err(invalid)?;
        }
        Ok(())
    }

    /// Answers the `ask_human` question waiting at `step`.
    pub async fn answer(&self, run: RunId, step: &str, text: &str) -> Result<(), AppError> {
        self.answer_by(run, step, text, None).await
    }

    /// [`AgentApp::answer`], recording who answered in the wait's payload.
    pub async fn answer_by(
        &self,
        run: RunId,
        step: &str,
        text: &str,
        by: Option<&str>,
    ) -> Result<(), AppError> {
        let step = tool_step_key(step, "tool/")?;
        let payload = json!({ "run": run, "step": step, "text": text });
        self.send_human_event(ANSWER_EVENT, payload, by).await
    }

    /// A person's decision or answer to a waiting run, with who gave it (`cli`, `api`, ...).
    async fn send_human_event(
        &self,
        event: &str,
        mut payload: Value,
        by: Option<&str>,
    ) -> Result<(), AppError> {
        if let Some(by) = by {
            payload["by"] = json!(by);
        }
        self.engine
            .send_event(event, payload, HUMAN_EVENT_TTL)
            .await?;
        Ok(())
    }
}

/// `tool/3.1` from `tool/3.1`, `approval/3.1` or `3.1`.
fn tool_step_key(step: &str, also: &str) -> Result<String, AppError> {
    let n = step
        .strip_prefix("tool/")
        .or_else(|| step.strip_prefix(also))
        .unwrap_or(step);
    let valid = n.split_once('.').is_some_and(|(a, b)| {
        !a.is_empty()
            && !b.is_empty()
            && a.chars().all(|c| c.is_ascii_digit())
            && b.chars().all(|c| c.is_ascii_digit())
    });
    if !valid {
        return Err(AppError::Invalid(format!(
            "\"{step}\" is not a tool call's step: expected tool/N.I (as `waymark runs show` lists it)"
        )));
    }
    Ok(format!("tool/{n}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_keys_in_every_spelling() {
        assert_eq!(tool_step_key("tool/3.1", "approval/").unwrap(), "tool/3.1");
        assert_eq!(
            tool_step_key("approval/3.1", "approval/").unwrap(),
            "tool/3.1"
        );
        assert_eq!(tool_step_key("3.12", "tool/").unwrap(), "tool/3.12");
        let e = tool_step_key("llm/3", "tool/").unwrap_err().to_string();
        assert!(e.contains("tool/N.I"), "{e}");
    }
}
