//! OAuth 2.1 for HTTP servers (the MCP authorization spec), on rmcp's `auth` module: a server's
//! 401 marks it "sign-in required"; a sign-in discovers the protected-resource and
//! authorization-server metadata, registers the client (pre-registered, a Client ID Metadata
//! Document when the user set one, or dynamic registration), sends the user to the authorization
//! URL (PKCE S256, the `resource` parameter) and takes the redirect on a loopback port; the
//! tokens go to the keychain (or the 0600 file), bound to the server's name, URL and issuer, and
//! are refreshed before they expire. The client-credentials grant signs unattended machines in
//! with no person.

mod redirect;
mod token_store;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::transport::auth::{
    AuthError, AuthorizationManager, AuthorizationMetadata, AuthorizationRequest,
    AuthorizationSession, ClientCredentialsConfig, OAuthState, StoredCredentials,
};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;
use redirect::RedirectListener;
pub(crate) use token_store::TokenStore;
pub use token_store::TokenVault;

/// How a client introduces itself to the server's authorization server.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct OAuthClientSettings {
    /// A client id registered with the authorization server beforehand; without one, the
    /// client registers itself (a Client ID Metadata Document, or dynamic registration).
    pub client_id: Option<String>,
    /// The pre-registered client's secret (a confidential client).
    pub client_secret: Option<Secret>,
    /// Scopes to ask for; empty: those the server's challenge or metadata name.
    pub scopes: Vec<String>,
    /// Sign in with the client-credentials grant (a machine, no person) instead of a browser.
    pub client_credentials: bool,
    /// The HTTPS URL of a Client ID Metadata Document to register with (where the
    /// authorization server accepts one); overrides the app's setting.
    pub client_metadata_url: Option<String>,
}

impl fmt::Debug for OAuthClientSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClientSettings")
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| crate::redact::REDACTED),
            )
            .field("scopes", &self.scopes)
            .field("client_credentials", &self.client_credentials)
            .field("client_metadata_url", &self.client_metadata_url)
            .finish()
    }
}

/// Where a server's sign-in stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SignInState {
    /// The server has not asked for a sign-in (no token stored, no 401 seen).
    NotNeeded,
    SignedIn {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        issuer: Option<String>,
        scopes: Vec<String>,
        /// When the access token expires (it is refreshed before then when a refresh token
        /// was issued).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional, type = "number")]
        expires_at_ms: Option<i64>,
        refreshable: bool,
    },
    /// The server answered 401 (or the refresh was refused): someone must sign in again.
    Required { reason: String },
    /// A sign-in was started and waits for the browser's redirect.
    Waiting { url: String },
}

/// A started sign-in: the URL to open in a browser, and the id to finish it with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignInStart {
    pub id: String,
    pub url: String,
}

/// Why a connection needs a person before it can go on.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SignInNeeded {
    pub(crate) reason: String,
}

/// How long a started sign-in waits for its redirect at most.
pub const SIGN_IN_LIMIT: Duration = Duration::from_secs(600);
/// The name the client registers under.
const CLIENT_NAME: &str = "Waymark";

/// One server's sign-in: its tokens and what its last refusal said.
struct ServerAuth {
    url: String,
    store: TokenStore,
    note: Mutex<AuthNote>,
}

#[derive(Clone, Default)]
struct AuthNote {
    /// Why a sign-in is needed, when one is.
    required: Option<String>,
    /// The server's last `WWW-Authenticate` challenge (its scopes, its metadata URL).
    challenge: Option<String>,
    waiting: Option<String>,
}

struct PendingSignIn {
    server: String,
    state: OAuthState,
    listener: RedirectListener,
}

/// Every server's sign-in state, shared by the hub's connections. Tokens of servers that are
/// tried without being saved stay in memory.
#[derive(Default)]
pub(crate) struct OAuthBroker {
    vault: Mutex<Option<Arc<dyn TokenVault>>>,
    client_metadata_url: Mutex<Option<String>>,
    servers: Mutex<HashMap<String, Arc<ServerAuth>>>,
    pending: tokio::sync::Mutex<HashMap<String, PendingSignIn>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An rmcp auth error as one line for a person.
fn describe(e: &AuthError) -> String {
    crate::redact::scrub(&e.to_string())
}

impl OAuthBroker {
    pub(crate) fn set_vault(&self, vault: Arc<dyn TokenVault>) {
        *lock(&self.vault) = Some(vault);
        lock(&self.servers).clear();
    }

    pub(crate) fn set_client_metadata_url(&self, url: Option<String>) {
        *lock(&self.client_metadata_url) = url;
    }

    /// The server's sign-in record; a new one when its URL changed.
    fn auth(&self, server: &str, url: &str, persist: bool) -> Arc<ServerAuth> {
        let mut servers = lock(&self.servers);
        if let Some(auth) = servers.get(server).filter(|a| a.url == url) {
            return auth.clone();
        }
        let vault = lock(&self.vault).clone().filter(|_| persist);
        let store = TokenStore::new(vault.map(|v| (v, token_store::vault_key(server, url))));
        let auth = Arc::new(ServerAuth {
            url: url.to_string(),
            store,
            note: Mutex::new(AuthNote::default()),
        });
        servers.insert(server.to_string(), auth.clone());
        auth
    }

    /// What a connection to the server authorizes with: a manager holding stored tokens (or
    /// client-credentials ones got now), or `None` to connect without (a 401 then marks the
    /// server as needing a sign-in).
    pub(crate) async fn connect_manager(
        &self,
        server: &str,
        url: &str,
        settings: &OAuthClientSettings,
        persist: bool,
    ) -> Result<Option<AuthorizationManager>, ConnectAuthError> {
        let auth = self.auth(server, url, persist);
        let has_token = auth.store.has_token().await;
        if !has_token && !settings.client_credentials {
            return Ok(None);
        }
        let mut manager = AuthorizationManager::new(url)
            .await
            .map_err(|e| ConnectAuthError::Failed(describe(&e)))?;
        manager.set_credential_store(auth.store.clone());
        if has_token {
            let mut restored = manager.initialize_from_store().await;
            if let Err(AuthError::AuthorizationServerMismatch { .. }) = &restored {
                // A 2025-03-26 server, as in `begin`.
                if let Some(metadata) = legacy_metadata(url).await {
                    manager.set_metadata(metadata);
                    restored = manager.initialize_from_store().await;
                }
            }
            match restored {
                Ok(true) => {
                    if let (Some(id), Some(secret)) = (&settings.client_id, &settings.client_secret)
                    {
                        // rmcp restores the client id only; a confidential client's refresh
                        // needs its secret too.
                        let config = rmcp::transport::auth::OAuthClientConfig::new(
                            id.clone(),
                            "http://127.0.0.1/callback",
                        )
                        .with_client_secret(secret.expose());
                        manager
                            .configure_client(config)
                            .map_err(|e| ConnectAuthError::Failed(describe(&e)))?;
                    }
                    return Ok(Some(manager));
                }
                Ok(false) if !settings.client_credentials => {
                    let reason = "the server's authorization server changed since the last \
                                  sign-in"
                        .to_string();
                    self.note_required(server, &reason, None);
                    return Err(ConnectAuthError::SignIn(SignInNeeded { reason }));
                }
                Ok(false) => {}
                Err(e) => return Err(ConnectAuthError::Failed(describe(&e))),
            }
        }
        // The client-credentials grant: a token now, with no person.
        let (Some(client_id), Some(secret)) = (&settings.client_id, &settings.client_secret) else {
            return Err(ConnectAuthError::Failed(
                "the client-credentials grant needs a client id and a client secret".into(),
            ));
        };
        let mut state = OAuthState::Unauthorized(manager);
        let config = ClientCredentialsConfig::ClientSecret {
            client_id: client_id.clone(),
            client_secret: secret.expose().to_string(),
            scopes: settings.scopes.clone(),
            resource: Some(url.to_string()),
        };
        state
            .authenticate_client_credentials(config)
            .await
            .map_err(|e| {
                ConnectAuthError::Failed(format!("client-credentials grant: {}", describe(&e)))
            })?;
        let manager = state.into_authorization_manager().ok_or_else(|| {
            ConnectAuthError::Failed("the client-credentials grant left no session".into())
        })?;
        self.clear_required(server);
        Ok(Some(manager))
    }

    /// The server refused us (401, an `insufficient_scope` 403, a refused refresh).
    pub(crate) fn note_required(&self, server: &str, reason: &str, challenge: Option<&str>) {
        if let Some(auth) = lock(&self.servers).get(server) {
            let mut note = lock(&auth.note);
            note.required = Some(reason.to_string());
            if challenge.is_some() {
                note.challenge = challenge.map(str::to_string);
            }
        }
    }

    /// Notes a refusal for a server whose record may not exist yet.
    pub(crate) fn note_refused(
        &self,
        server: &str,
        url: &str,
        persist: bool,
        reason: &str,
        challenge: Option<&str>,
    ) {
        self.auth(server, url, persist);
        self.note_required(server, reason, challenge);
    }

    fn clear_required(&self, server: &str) {
        if let Some(auth) = lock(&self.servers).get(server) {
            let mut note = lock(&auth.note);
            note.required = None;
            note.waiting = None;
        }
    }

    /// Starts a browser sign-in: discovery, registration, the authorization URL, and a loopback
    /// listener for the redirect. Finish it with [`OAuthBroker::finish`].
    pub(crate) async fn begin(
        &self,
        server: &str,
        url: &str,
        settings: &OAuthClientSettings,
        persist: bool,
    ) -> Result<SignInStart, String> {
        let auth = self.auth(server, url, persist);
        let challenge = lock(&auth.note).challenge.clone();
        // A step-up asks for what the last sign-in got and what the server now names, so the
        // new token still does what the old one did (SEP-2350).
        let granted = match auth.store.current().await {
            Ok(Some(credentials)) => credentials.granted_scopes,
            _ => Vec::new(),
        };
        let challenged = challenge
            .as_deref()
            .map(challenge_scopes)
            .unwrap_or_default();
        let mut step_up = granted.clone();
        for scope in &challenged {
            if !step_up.contains(scope) {
                step_up.push(scope.clone());
            }
        }
        let listener = RedirectListener::bind().await?;
        let mut manager = AuthorizationManager::new(url)
            .await
            .map_err(|e| describe(&e))?;
        manager.set_credential_store(auth.store.clone());
        let mut request = AuthorizationRequest::new(&listener.redirect_uri)
            .with_initial_scope_selection()
            .with_client_name(CLIENT_NAME);
        if let Some(challenge) = challenge {
            request = request.with_challenge(challenge);
        }
        if !settings.scopes.is_empty() {
            request = request.with_scopes(settings.scopes.iter().cloned());
        } else if !granted.is_empty() && !challenged.is_empty() {
            request = request.with_scopes(step_up);
        }
        if let Some(id) = &settings.client_id {
            request = request.with_preregistered_client(id.clone());
            if let Some(secret) = &settings.client_secret {
                request = request.with_client_secret(secret.expose());
            }
        } else if let Some(cimd) = settings
            .client_metadata_url
            .clone()
            .or_else(|| lock(&self.client_metadata_url).clone())
        {
            request = request.with_client_metadata_url(cimd);
        }
        let mut state = OAuthState::Unauthorized(manager);
        match state.start_authorization(request.clone()).await {
            Ok(()) => {}
            Err(e @ AuthError::AuthorizationServerMismatch { .. }) => {
                // A 2025-03-26 server (no protected-resource metadata) keeps its authorization
                // server's metadata at its own origin, whose issuer that revision never tied
                // to the origin: take it as published there.
                let (OAuthState::Unauthorized(mut manager), Some(metadata)) =
                    (state, legacy_metadata(url).await)
                else {
                    return Err(describe(&e));
                };
                manager.set_metadata(metadata);
                let session = AuthorizationSession::new(manager, request)
                    .await
                    .map_err(|(_, e)| describe(&e))?;
                state = OAuthState::Session(session);
            }
            Err(e) => return Err(describe(&e)),
        }
        let authorize_url = state
            .get_authorization_url()
            .await
            .map_err(|e| describe(&e))?;
        let id = uuid::Uuid::now_v7().simple().to_string();
        lock(&auth.note).waiting = Some(authorize_url.clone());
        let mut pending = self.pending.lock().await;
        // One sign-in per server at a time: a new start replaces the old one.
        pending.retain(|_, p| p.server != server);
        pending.insert(
            id.clone(),
            PendingSignIn {
                server: server.to_string(),
                state,
                listener,
            },
        );
        Ok(SignInStart {
            id,
            url: authorize_url,
        })
    }

    /// Waits (up to `wait`) for the browser's redirect, checks it (state, `iss`), exchanges the
    /// code and stores the tokens. Returns the server's name.
    pub(crate) async fn finish(&self, id: &str, wait: Duration) -> Result<String, String> {
        let pending = self.pending.lock().await.remove(id);
        let Some(PendingSignIn {
            server,
            mut state,
            mut listener,
        }) = pending
        else {
            return Err(format!(
                "no sign-in {id:?} is waiting (it finished, or was replaced)"
            ));
        };
        let arrived = tokio::time::timeout(wait.min(SIGN_IN_LIMIT), &mut listener.arrived).await;
        let finished = match arrived {
            Ok(Ok(redirect)) => state
                .handle_callback_url(&redirect)
                .await
                .map_err(|e| format!("the sign-in was refused: {}", describe(&e))),
            Ok(Err(_)) => Err("the redirect listener stopped".to_string()),
            Err(_) => Err(format!(
                "no sign-in arrived within {} s",
                wait.min(SIGN_IN_LIMIT).as_secs()
            )),
        };
        if let Some(auth) = lock(&self.servers).get(&server) {
            lock(&auth.note).waiting = None;
        }
        finished?;
        self.clear_required(&server);
        if let Some(auth) = lock(&self.servers).get(&server) {
            lock(&auth.note).challenge = None;
        }
        Ok(server)
    }

    /// Forgets the server's tokens (the keychain entry too).
    pub(crate) async fn sign_out(&self, server: &str) -> Result<(), String> {
        let auth = lock(&self.servers).get(server).cloned();
        if let Some(auth) = auth {
            auth.store.forget().await?;
            *lock(&auth.note) = AuthNote::default();
        }
        Ok(())
    }

    /// Forgets a removed server's tokens, found by its name and URL.
    pub(crate) async fn forget(
        &self,
        server: &str,
        url: &str,
        persist: bool,
    ) -> Result<(), String> {
        let auth = self.auth(server, url, persist);
        auth.store.forget().await?;
        lock(&self.servers).remove(server);
        Ok(())
    }

    pub(crate) async fn state(&self, server: &str, url: &str, persist: bool) -> SignInState {
        let auth = self.auth(server, url, persist);
        let note = lock(&auth.note).clone();
        if let Some(url) = note.waiting {
            return SignInState::Waiting { url };
        }
        if let Some(reason) = note.required {
            return SignInState::Required { reason };
        }
        match auth.store.current().await {
            Ok(Some(credentials)) if credentials.token_response.is_some() => {
                signed_in(&credentials)
            }
            // A sign-in kept without its tokens: they were refused (see TokenStore).
            Ok(Some(_)) => SignInState::Required {
                reason: "the stored sign-in can no longer be used (its refresh was refused, or \
                         the authorization server changed)"
                    .into(),
            },
            Ok(None) => SignInState::NotNeeded,
            Err(e) => SignInState::Required {
                reason: format!("the stored sign-in cannot be read: {e}"),
            },
        }
    }
}

/// The `scope` parameter of a `WWW-Authenticate` challenge, split on spaces.
fn challenge_scopes(challenge: &str) -> Vec<String> {
    let Some(at) = challenge.find("scope=\"") else {
        return Vec::new();
    };
    let rest = &challenge[at + "scope=\"".len()..];
    let value = rest.split('"').next().unwrap_or_default();
    value.split_whitespace().map(str::to_string).collect()
}

/// The authorization server metadata of a 2025-03-26 server: none of the protected-resource
/// documents exist, and the server's origin serves RFC 8414 metadata itself.
async fn legacy_metadata(url: &str) -> Option<AuthorizationMetadata> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let origin = parsed.origin().ascii_serialization();
    let http = crate::http::client_builder_noting(crate::http::RefusedRedirect::default())
        .timeout(Duration::from_secs(30))
        .build()
        .ok()?;
    let path = parsed.path().trim_end_matches('/');
    let resource_docs = [
        format!("{origin}/.well-known/oauth-protected-resource{path}"),
        format!("{origin}/.well-known/oauth-protected-resource"),
    ];
    for doc in resource_docs {
        let found = http.get(&doc).send().await.ok()?;
        if found.status().is_success() {
            return None;
        }
    }
    let answer = http
        .get(format!("{origin}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .ok()?;
    if !answer.status().is_success() {
        return None;
    }
    answer.json::<AuthorizationMetadata>().await.ok()
}

fn signed_in(credentials: &StoredCredentials) -> SignInState {
    use oauth2::TokenResponse as _;
    let response = credentials.token_response.as_ref();
    let expires_at_ms = match (
        response.and_then(|r| r.expires_in()),
        credentials.token_received_at,
    ) {
        (Some(left), Some(at)) => i64::try_from(at.saturating_mul(1000))
            .ok()
            .and_then(|at| at.checked_add(i64::try_from(left.as_millis()).ok()?)),
        _ => None,
    };
    SignInState::SignedIn {
        issuer: credentials.issuer.clone(),
        scopes: credentials.granted_scopes.clone(),
        expires_at_ms,
        refreshable: response.is_some_and(|r| r.refresh_token().is_some()),
    }
}

/// Why a connection's authorization could not be set up.
pub(crate) enum ConnectAuthError {
    SignIn(SignInNeeded),
    Failed(String),
}
