//! Webhook triggers: checking a request against the trigger's secret, and starting the run.
//! The HTTP server maps [`WebhookError::http_status`]; [`WebhookError::is_refusal`] groups
//! the answers that must look alike (an unknown agent, a bad signature).
//!
//! Order of work for a request: the agents' webhook triggers (kept in memory), the headers
//! alone ([`precheck_webhook`]), the secret (kept in memory, loaded off the runtime), the
//! signature; only a signed request reaches the database.

mod cache;
pub mod verify;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::Mutex;
use waymark_engine::RunId;

use self::cache::{LoadFailure, Loader};
use self::verify::{precheck_webhook, verify_webhook, Delivery, MAX_IDEMPOTENCY_KEY_LEN};
use super::state::TriggerStore;
use super::{TriggerError, WebhookAuth};
use crate::app::AgentApp;
use crate::catalog::{Catalog, CatalogError};
use crate::runtime::StartError;
use crate::secret::Secret;
use crate::spec::AgentSpec;

/// How long what was read is used before it is read again (a change made by another process
/// is seen within this time; one made through this process at once).
const KEEP_FOR: Duration = Duration::from_secs(5);
/// How long a request waits for a read of the keychain or the database: a locked keychain
/// answers 503 in this time, well within a sender's patience, instead of holding the request.
const LOAD_WAIT: Duration = Duration::from_secs(3);

/// Why a webhook request did not start a run. [`WebhookError::kind`] is the machine-readable
/// name; messages never include the secret or the signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    #[error("no agent named {0:?}")]
    UnknownAgent(String),
    #[error("agent {0:?} has no webhook trigger")]
    NoWebhookTrigger(String),
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("bad request: {0}")]
    BadBody(String),
    #[error("the webhook secret {name:?} is not set: store it (`webhook_secrets`) or set the environment variable {name}")]
    SecretUnavailable { name: String },
    /// The secret store (or the database) did not answer in time: a locked keychain.
    #[error("{0} did not answer in time (a locked keychain?)")]
    Unavailable(String),
    #[error("webhook triggers could not be read: {0}")]
    Load(String),
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Start(#[from] StartError),
}

impl WebhookError {
    /// `unknown_agent`, `no_webhook_trigger`, `unauthorized`, `bad_body`,
    /// `secret_unavailable`, `unavailable` or `internal`.
    pub fn kind(&self) -> &'static str {
        match self {
            WebhookError::UnknownAgent(_) => "unknown_agent",
            WebhookError::NoWebhookTrigger(_) => "no_webhook_trigger",
            WebhookError::Unauthorized(_) => "unauthorized",
            WebhookError::BadBody(_) => "bad_body",
            WebhookError::SecretUnavailable { .. } => "secret_unavailable",
            WebhookError::Unavailable(_) => "unavailable",
            WebhookError::Load(_)
            | WebhookError::Trigger(_)
            | WebhookError::Catalog(_)
            | WebhookError::Start(_) => "internal",
        }
    }

    /// Whether this refusal must look like every other to the sender: an unknown agent, one
    /// without a webhook, a missing or bad signature, a stale timestamp, a secret not set.
    /// Told apart, they would tell a stranger which agents exist.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            WebhookError::UnknownAgent(_)
                | WebhookError::NoWebhookTrigger(_)
                | WebhookError::Unauthorized(_)
                | WebhookError::SecretUnavailable { .. }
        )
    }

    /// The HTTP status to answer with: 401 for every refusal, 400 for a signed request that
    /// cannot be a run's input, 503 while the secret cannot be read, else 500.
    /// Whether a secret store did not answer in time (a locked or stuck keychain): the
    /// sender should try again, as when the wait itself runs out.
    pub fn is_store_unanswered(&self) -> bool {
        use crate::secrets::SecretError;
        matches!(
            self,
            WebhookError::Trigger(TriggerError::Secret(SecretError::Timeout { .. }))
                | WebhookError::Catalog(CatalogError::Secret(SecretError::Timeout { .. }))
        )
    }

    pub fn http_status(&self) -> u16 {
        if self.is_refusal() {
            return 401;
        }
        match self {
            WebhookError::BadBody(_) => 400,
            WebhookError::Unavailable(_) => 503,
            _ => 500,
        }
    }
}

/// What a delivery did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivered {
    /// A new run.
    Started(RunId),
    /// A delivery id seen before: nothing started; the first delivery's run.
    Repeated(RunId),
    /// A signed GitHub `ping`: nothing to run.
    Ping,
}

impl Delivered {
    /// The run and whether it is new; `None` for a ping.
    pub fn run(self) -> Option<(RunId, bool)> {
        match self {
            Delivered::Started(run) => Some((run, true)),
            Delivered::Repeated(run) => Some((run, false)),
            Delivered::Ping => None,
        }
    }
}

/// The run's idempotency key for a delivery id (`webhook-id`, `X-GitHub-Delivery`,
/// `Idempotency-Key`): `webhook:<agent>:<id>`; `None` without one (or with a blank one).
pub fn webhook_run_key(agent: &str, delivery_id: Option<&str>) -> Option<String> {
    let key = delivery_id?.trim();
    (!key.is_empty()).then(|| format!("webhook:{agent}:{key}"))
}

/// The run's input from the request body: JSON pretty-printed, other UTF-8 text as it is.
pub fn webhook_input(body: &[u8]) -> Result<String, WebhookError> {
    if let Ok(value) = serde_json::from_slice::<Value>(body) {
        if let Ok(pretty) = serde_json::to_string_pretty(&value) {
            return Ok(pretty);
        }
    }
    String::from_utf8(body.to_vec())
        .map_err(|_| WebhookError::BadBody("the body is neither JSON nor UTF-8 text".into()))
}

/// An agent with webhook triggers, as kept in memory: its spec (what a run starts with) and
/// each trigger's secret name and scheme.
struct Hooked {
    spec: Arc<AgentSpec>,
    triggers: Vec<(String, WebhookAuth)>,
}

type HookTable = Arc<HashMap<String, Hooked>>;

/// Every saved agent that has a webhook trigger (read on a blocking thread).
fn load_hook_table(catalog: &Catalog) -> Result<HookTable, LoadFailure> {
    let mut table = HashMap::new();
    let agents = catalog
        .current_agents()
        .map_err(|e| LoadFailure::Failed(e.to_string()))?;
    for (name, spec) in agents {
        let spec = match spec {
            Ok(spec) => spec,
            Err(e) => {
                // One unreadable agent does not take the others' webhooks down.
                tracing::warn!(agent = %name, error = %e, "agent skipped by webhooks");
                continue;
            }
        };
        let triggers: Vec<(String, WebhookAuth)> = spec
            .triggers
            .iter()
            .filter_map(|t| t.webhook())
            .map(|(name, auth)| (name.to_string(), auth))
            .collect();
        if !triggers.is_empty() {
            table.insert(
                name,
                Hooked {
                    spec: Arc::new(spec),
                    triggers,
                },
            );
        }
    }
    Ok(Arc::new(table))
}

/// Starts agents from webhook requests. Keeps the agents' webhook triggers and their secrets
/// in memory (see [`cache`]); cheap to clone, clones share them.
#[derive(Clone)]
pub struct WebhookReceiver {
    app: AgentApp,
    store: TriggerStore,
    /// Serializes the "was this key seen?" check with the start in this process, so two
    /// concurrent requests with one key get one `Started`.
    starting: Arc<Mutex<()>>,
    table: Arc<Loader<(), HookTable>>,
    secrets: Arc<Loader<String, Option<Secret>>>,
}

impl WebhookReceiver {
    pub fn new(app: AgentApp) -> Result<Self, WebhookError> {
        let store = app.triggers.clone();
        Ok(WebhookReceiver {
            app,
            store,
            starting: Arc::new(Mutex::new(())),
            table: Arc::new(Loader::new(KEEP_FOR, LOAD_WAIT)),
            secrets: Arc::new(Loader::new(KEEP_FOR, LOAD_WAIT)),
        })
    }

    pub fn store(&self) -> &TriggerStore {
        &self.store
    }

    /// Stores the webhook secret `name` (what a trigger's `secret_ref` names) in the app's
    /// secret store; every receiver of this process uses it from the next request on.
    pub fn set_secret(&self, name: &str, value: &Secret) -> Result<(), WebhookError> {
        let stored = self
            .store
            .set_webhook_secret(self.app.catalog.secrets(), name, value);
        // Also after a failure: the old value may be gone.
        self.app.catalog.touch();
        Ok(stored?)
    }

    /// The secret a trigger's `secret_ref` names: the one stored under that name, else the
    /// environment variable of that name. Blocks (the keychain): not for the async runtime.
    pub fn resolve_secret(&self, name: &str) -> Result<Secret, WebhookError> {
        resolve_secret(&self.store, &self.app.catalog, name)?.ok_or_else(|| {
            WebhookError::SecretUnavailable {
                name: name.to_string(),
            }
        })
    }

    /// Checks a `POST /hooks/{agent}` request and starts its run: a new run, the run of an
    /// earlier delivery with the same id, or nothing for a GitHub ping.
    pub async fn start(
        &self,
        agent: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Delivered, WebhookError> {
        let generation = self.app.catalog.generation();
        let now_secs = self.app.engine.clock().now_ms().div_euclid(1000);
        let catalog = self.app.catalog.clone();
        let table = self
            .table
            .get(&(), generation, move || load_hook_table(&catalog))
            .await
            .map_err(|e| load_error("the agent catalog", e))?;
        let Some(hooked) = table.get(agent) else {
            // As much work as a bad signature, so the time taken does not tell either.
            equalize(body);
            return Err(WebhookError::UnknownAgent(agent.to_string()));
        };
        let (auth, delivery) = self
            .authenticate(hooked, headers, body, generation, now_secs)
            .await?;
        if auth == WebhookAuth::Github && delivery.event.as_deref() == Some("ping") {
            return Ok(Delivered::Ping);
        }
        if let Some(id) = &delivery.id {
            if id.len() > MAX_IDEMPOTENCY_KEY_LEN || id.chars().any(char::is_control) {
                return Err(WebhookError::BadBody(format!(
                    "the delivery id must be at most {MAX_IDEMPOTENCY_KEY_LEN} bytes of text"
                )));
            }
        }
        let input = webhook_input(body)?;
        let spec = &hooked.spec;
        let Some(key) = webhook_run_key(agent, delivery.id.as_deref()) else {
            let run = self
                .app
                .runtime
                .start_run(&self.app.engine, spec, &input, None)
                .await?;
            return Ok(Delivered::Started(run));
        };
        let _one_at_a_time = self.starting.lock().await;
        if let Some(run) = self.store.run_with_key(&key)? {
            return Ok(Delivered::Repeated(run));
        }
        let run = self
            .app
            .runtime
            .start_run(&self.app.engine, spec, &input, Some(key))
            .await?;
        Ok(Delivered::Started(run))
    }

    /// The first of the agent's webhook triggers that admits the request. Headers first:
    /// a trigger whose headers are missing or stale costs no secret read.
    async fn authenticate(
        &self,
        hooked: &Hooked,
        headers: &[(String, String)],
        body: &[u8],
        generation: u64,
        now_secs: i64,
    ) -> Result<(WebhookAuth, Delivery), WebhookError> {
        let mut refusal = WebhookError::Unauthorized("no webhook trigger admitted it");
        let mut unavailable = None;
        for (name, auth) in &hooked.triggers {
            if let Err(e) = precheck_webhook(*auth, headers, now_secs) {
                refusal = e;
                continue;
            }
            let load = {
                let (store, catalog, name) =
                    (self.store.clone(), self.app.catalog.clone(), name.clone());
                move || {
                    resolve_secret(&store, &catalog, &name).map_err(|e| {
                        if e.is_store_unanswered() {
                            LoadFailure::TimedOut
                        } else {
                            LoadFailure::Failed(e.to_string())
                        }
                    })
                }
            };
            let loaded = self.secrets.get(name, generation, load).await;
            let secret = match loaded {
                Ok(Some(secret)) => secret,
                Ok(None) => {
                    refusal = WebhookError::SecretUnavailable { name: name.clone() };
                    continue;
                }
                Err(e) => {
                    unavailable = Some(load_error("the webhook secret store", e));
                    continue;
                }
            };
            match verify_webhook(*auth, headers, body, &secret, now_secs) {
                Ok(delivery) => return Ok((*auth, delivery)),
                Err(e) => refusal = e,
            }
        }
        // A secret that could not be read may be the one that would have admitted it: the
        // sender should try again rather than give up.
        Err(unavailable.unwrap_or(refusal))
    }
}

/// The stored secret `name`, else the environment variable; `None` when neither is set.
fn resolve_secret(
    store: &TriggerStore,
    catalog: &Catalog,
    name: &str,
) -> Result<Option<Secret>, WebhookError> {
    if let Some(s) = store.webhook_secret(catalog.secrets(), name)? {
        return Ok(Some(s));
    }
    Ok(Secret::from_env(name))
}

fn load_error(what: &str, e: LoadFailure) -> WebhookError {
    match e {
        LoadFailure::TimedOut => WebhookError::Unavailable(what.to_string()),
        LoadFailure::Failed(detail) => WebhookError::Load(detail),
    }
}

/// One HMAC over the body, thrown away.
fn equalize(body: &[u8]) {
    if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(b"no agent of that name") {
        mac.update(body);
        std::hint::black_box(mac.finalize());
    }
}

/// [`WebhookReceiver::start`] with a receiver made for this one request (a server keeps one
/// [`WebhookReceiver`] instead).
pub async fn start_webhook_run(
    app: &AgentApp,
    agent: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Delivered, WebhookError> {
    WebhookReceiver::new(app.clone())?
        .start(agent, headers, body)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_inputs_and_statuses() {
        assert_eq!(
            webhook_run_key("a", Some(" k1 ")).as_deref(),
            Some("webhook:a:k1")
        );
        assert_eq!(webhook_run_key("a", Some("  ")), None);
        assert_eq!(webhook_run_key("a", None), None);
        assert_eq!(
            webhook_input(br#"{"b":[1]}"#).ok().as_deref(),
            Some("{\n  \"b\": [\n    1\n  ]\n}")
        );
        assert_eq!(webhook_input(b"hello").ok().as_deref(), Some("hello"));
        let e = webhook_input(&[0xff, 0xfe]).map_err(|e| (e.kind(), e.http_status()));
        assert_eq!(e, Err(("bad_body", 400)));
        // Every refusal is one status; the reasons stay in the log.
        for e in [
            WebhookError::UnknownAgent("x".into()),
            WebhookError::NoWebhookTrigger("x".into()),
            WebhookError::Unauthorized("bad"),
            WebhookError::SecretUnavailable { name: "S".into() },
        ] {
            assert_eq!((e.is_refusal(), e.http_status()), (true, 401), "{e}");
        }
        assert_eq!(WebhookError::Unavailable("k".into()).http_status(), 503);
    }

    #[test]
    fn odd_bodies_become_inputs_without_failing() {
        // Nested past the JSON parser's limit: not JSON, so the text as it is (no overflow).
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(webhook_input(deep.as_bytes()).ok(), Some(deep));
        // A number past f64's range is not JSON to the parser either.
        assert_eq!(webhook_input(b"1e400").ok().as_deref(), Some("1e400"));
        // NUL bytes are text.
        assert_eq!(webhook_input(b"a\0b").ok().as_deref(), Some("a\0b"));
        assert_eq!(
            webhook_input(br#"{"k":"\u0000"}"#).ok().as_deref(),
            Some("{\n  \"k\": \"\\u0000\"\n}")
        );
        assert_eq!(webhook_input(b"").ok().as_deref(), Some(""));
    }
}
