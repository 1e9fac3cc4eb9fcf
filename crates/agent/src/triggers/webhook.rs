//! Webhook triggers: checking a request against the trigger's secret, and starting the run.
//! Pure functions plus one receiver; the HTTP server maps [`WebhookError::http_status`].

use std::sync::Arc;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Mutex;
use waymark_engine::RunId;

use super::state::TriggerStore;
use super::{TriggerError, WebhookAuth};
use crate::app::AgentApp;
use crate::catalog::CatalogError;
use crate::runtime::StartError;
use crate::secret::Secret;
use crate::spec::Trigger;

/// `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub const SIGNATURE_HEADER: &str = "x-waymark-signature";
/// `Bearer <secret>`.
pub const AUTHORIZATION_HEADER: &str = "authorization";
/// A sender's key for its request: the same key twice starts one run.
pub const IDEMPOTENCY_HEADER: &str = "idempotency-key";
/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 200;

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
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Start(#[from] StartError),
}

impl WebhookError {
    /// `unknown_agent`, `no_webhook_trigger`, `unauthorized`, `bad_body`,
    /// `secret_unavailable` or `internal`.
    pub fn kind(&self) -> &'static str {
        match self {
            WebhookError::UnknownAgent(_) => "unknown_agent",
            WebhookError::NoWebhookTrigger(_) => "no_webhook_trigger",
            WebhookError::Unauthorized(_) => "unauthorized",
            WebhookError::BadBody(_) => "bad_body",
            WebhookError::SecretUnavailable { .. } => "secret_unavailable",
            WebhookError::Trigger(_) | WebhookError::Catalog(_) | WebhookError::Start(_) => {
                "internal"
            }
        }
    }

    /// The HTTP status to answer with. An agent without a webhook trigger is a 404 like an
    /// unknown one: the endpoint does not exist for it.
    pub fn http_status(&self) -> u16 {
        match self {
            WebhookError::UnknownAgent(_) | WebhookError::NoWebhookTrigger(_) => 404,
            WebhookError::Unauthorized(_) => 401,
            WebhookError::BadBody(_) => 400,
            _ => 500,
        }
    }
}

/// The value of header `name` (any case); the first when repeated.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Checks that the request proves it knows `secret`, the way `trigger` asks (HMAC-SHA256
/// signature of the body, or a bearer token). Comparisons take constant time.
pub fn verify_webhook(
    trigger: &Trigger,
    headers: &[(String, String)],
    body: &[u8],
    secret: &Secret,
) -> Result<(), WebhookError> {
    let Some((_, auth)) = trigger.webhook() else {
        return Err(WebhookError::NoWebhookTrigger(String::new()));
    };
    if secret.expose().is_empty() {
        // An empty key would let anyone sign.
        return Err(WebhookError::Unauthorized("the trigger's secret is empty"));
    }
    match auth {
        WebhookAuth::HmacSha256 => {
            let value = header(headers, SIGNATURE_HEADER)
                .ok_or(WebhookError::Unauthorized("no X-Waymark-Signature header"))?;
            let hex_sig =
                value
                    .trim()
                    .strip_prefix("sha256=")
                    .ok_or(WebhookError::Unauthorized(
                        "X-Waymark-Signature must be sha256=<hex>",
                    ))?;
            let sig = hex::decode(hex_sig).map_err(|_| {
                WebhookError::Unauthorized("X-Waymark-Signature must be sha256=<hex>")
            })?;
            let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
                .map_err(|_| WebhookError::Unauthorized("the trigger's secret is unusable"))?;
            mac.update(body);
            // `verify_slice` compares in constant time.
            mac.verify_slice(&sig)
                .map_err(|_| WebhookError::Unauthorized("the signature does not match"))
        }
        WebhookAuth::Bearer => {
            let value = header(headers, AUTHORIZATION_HEADER)
                .ok_or(WebhookError::Unauthorized("no Authorization header"))?;
            let token = value
                .trim()
                .split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim())
                .ok_or(WebhookError::Unauthorized(
                    "Authorization must be Bearer <secret>",
                ))?;
            // Digests first, so the comparison's time tells nothing of the secret's length.
            let given = Sha256::digest(token.as_bytes());
            let expected = Sha256::digest(secret.expose().as_bytes());
            if bool::from(given.ct_eq(&expected)) {
                Ok(())
            } else {
                Err(WebhookError::Unauthorized(
                    "the bearer token does not match",
                ))
            }
        }
    }
}

/// The run's idempotency key for a request with `Idempotency-Key: key`:
/// `webhook:<agent>:<key>`; `None` without one (or with a blank one).
pub fn webhook_run_key(agent: &str, idempotency_key_header: Option<&str>) -> Option<String> {
    let key = idempotency_key_header?.trim();
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

/// Starts agents from webhook requests. Holds its database connection; cheap to clone.
#[derive(Clone)]
pub struct WebhookReceiver {
    app: AgentApp,
    store: TriggerStore,
    /// Serializes the "was this key seen?" check with the start in this process, so two
    /// concurrent requests with one key get one `new = true`.
    starting: Arc<Mutex<()>>,
}

impl WebhookReceiver {
    pub fn new(app: AgentApp) -> Result<Self, WebhookError> {
        let store = TriggerStore::open(app.store.path())?;
        Ok(WebhookReceiver {
            app,
            store,
            starting: Arc::new(Mutex::new(())),
        })
    }

    pub fn store(&self) -> &TriggerStore {
        &self.store
    }

    /// Stores the webhook secret `name` (what a trigger's `secret_ref` names) in the app's
    /// secret store.
    pub fn set_secret(&self, name: &str, value: &Secret) -> Result<(), WebhookError> {
        Ok(self
            .store
            .set_webhook_secret(self.app.catalog.secrets(), name, value)?)
    }

    /// The secret a trigger's `secret_ref` names: the one stored under that name, else the
    /// environment variable of that name.
    pub fn resolve_secret(&self, name: &str) -> Result<Secret, WebhookError> {
        if let Some(s) = self
            .store
            .webhook_secret(self.app.catalog.secrets(), name)?
        {
            return Ok(s);
        }
        Secret::from_env(name).ok_or_else(|| WebhookError::SecretUnavailable {
            name: name.to_string(),
        })
    }

    /// Checks a `POST /hooks/{agent}` request and starts the run: the run's id, and whether
    /// it is new (`false`: the `Idempotency-Key` was seen before and this is the first run).
    pub async fn start(
        &self,
        agent: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<(RunId, bool), WebhookError> {
        let spec = self
            .app
            .catalog
            .agent(agent)?
            .ok_or_else(|| WebhookError::UnknownAgent(agent.to_string()))?;
        let hooks: Vec<&Trigger> = spec
            .triggers
            .iter()
            .filter(|t| t.webhook().is_some())
            .collect();
        if hooks.is_empty() {
            return Err(WebhookError::NoWebhookTrigger(agent.to_string()));
        }
        // Any one of the agent's webhook triggers may admit the request; the last refusal
        // is the one reported.
        let mut outcome = Err(WebhookError::Unauthorized("no webhook trigger admitted it"));
        for trigger in hooks {
            let Some((name, _)) = trigger.webhook() else {
                continue;
            };
            let secret = match self.resolve_secret(name) {
                Ok(s) => s,
                Err(e) => {
                    outcome = Err(e);
                    continue;
                }
            };
            outcome = verify_webhook(trigger, headers, body, &secret);
            if outcome.is_ok() {
                break;
            }
        }
        outcome?;
        let raw_key = header(headers, IDEMPOTENCY_HEADER);
        if let Some(k) = raw_key {
            if k.len() > MAX_IDEMPOTENCY_KEY_LEN || k.chars().any(char::is_control) {
                return Err(WebhookError::BadBody(format!(
                    "Idempotency-Key must be at most {MAX_IDEMPOTENCY_KEY_LEN} bytes of text"
                )));
            }
        }
        let input = webhook_input(body)?;
        let Some(key) = webhook_run_key(agent, raw_key) else {
            let run = self
                .app
                .runtime
                .start_run(&self.app.engine, &spec, &input, None)
                .await?;
            return Ok((run, true));
        };
        let _one_at_a_time = self.starting.lock().await;
        if let Some(run) = self.store.run_with_key(&key)? {
            return Ok((run, false));
        }
        let run = self
            .app
            .runtime
            .start_run(&self.app.engine, &spec, &input, Some(key))
            .await?;
        Ok((run, true))
    }
}

/// [`WebhookReceiver::start`] with a receiver made for this one request (a server keeps one
/// [`WebhookReceiver`] instead).
pub async fn start_webhook_run(
    app: &AgentApp,
    agent: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<(RunId, bool), WebhookError> {
    WebhookReceiver::new(app.clone())?
        .start(agent, headers, body)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hmac_hex(secret: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
        mac.update(body);
        hex::encode(mac.finalize().into_bytes())
    }

    fn h(name: &str, value: &str) -> Vec<(String, String)> {
        vec![(name.to_string(), value.to_string())]
    }

    #[test]
    fn hmac_signatures() {
        let t = Trigger::Webhook {
            secret_ref: "S".into(),
        };
        let secret = Secret::new("s3cret");
        let body = br#"{"a":1}"#;
        let good = format!("sha256={}", hmac_hex("s3cret", body));
        assert!(verify_webhook(&t, &h("X-Waymark-Signature", &good), body, &secret).is_ok());
        let upper = format!("sha256={}", hmac_hex("s3cret", body).to_uppercase());
        assert!(verify_webhook(&t, &h("x-waymark-signature", &upper), body, &secret).is_ok());
        for bad in [
            format!("sha256={}", hmac_hex("other", body)),
            hmac_hex("s3cret", body),
            "sha256=zz".to_string(),
        ] {
            let e = verify_webhook(&t, &h("X-Waymark-Signature", &bad), body, &secret);
            assert_eq!(e.map_err(|e| e.kind()), Err("unauthorized"), "{bad}");
        }
        let e = verify_webhook(&t, &h("X-Waymark-Signature", &good), b"{}", &secret);
        assert_eq!(e.map_err(|e| e.http_status()), Err(401));
        let e = verify_webhook(&t, &[], body, &secret);
        assert_eq!(e.map_err(|e| e.kind()), Err("unauthorized"));
    }

    #[test]
    fn bearer_tokens() {
        let t = Trigger::WebhookBearer {
            secret_ref: "S".into(),
        };
        let secret = Secret::new("s3cret");
        assert!(verify_webhook(&t, &h("Authorization", "Bearer s3cret"), b"", &secret).is_ok());
        assert!(verify_webhook(&t, &h("authorization", "bearer  s3cret "), b"", &secret).is_ok());
        for bad in ["Bearer s3cre", "Basic s3cret", "s3cret", "Bearer "] {
            let e = verify_webhook(&t, &h("Authorization", bad), b"", &secret);
            assert_eq!(e.map_err(|e| e.kind()), Err("unauthorized"), "{bad}");
        }
        // A bearer trigger does not take a signature, nor the other way round.
        let sig = format!("sha256={}", hmac_hex("s3cret", b""));
        assert!(verify_webhook(&t, &h("X-Waymark-Signature", &sig), b"", &secret).is_err());
        assert!(verify_webhook(&Trigger::Manual, &[], b"", &secret).is_err());
    }

    #[test]
    fn keys_and_inputs() {
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
    }
}
