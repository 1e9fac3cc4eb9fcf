//! Where one server's sign-in tokens live: rmcp's [`CredentialStore`] over the OS keychain (or
//! the owner-only file), at a key bound to the server's name and URL, cached in memory because
//! rmcp reads the store before every request.

use std::sync::Arc;

use rmcp::transport::auth::{AuthError, CredentialStore, StoredCredentials};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

/// Somewhere outside the database that keeps a string per key: the keychain or the 0600 file
/// ([`crate::secrets::SecretStore`]). Calls may block; they are made on a blocking thread.
pub trait TokenVault: Send + Sync {
    fn load(&self, key: &str) -> Result<Option<String>, String>;
    fn save(&self, key: &str, value: &str) -> Result<(), String>;
    fn delete(&self, key: &str) -> Result<(), String>;
}

impl TokenVault for crate::secrets::SecretStore {
    fn load(&self, key: &str) -> Result<Option<String>, String> {
        self.get_at(key)
            .map(|found| found.map(|s| s.expose().to_string()))
            .map_err(|e| e.to_string())
    }

    fn save(&self, key: &str, value: &str) -> Result<(), String> {
        self.put_at(key, &crate::Secret::new(value))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn delete(&self, key: &str) -> Result<(), String> {
        self.delete_at(key).map_err(|e| e.to_string())
    }
}

/// The vault key of a server's tokens: a hash of its name and URL, so tokens stay bound to the
/// resource they were issued for (a server whose URL changes signs in again).
pub(crate) fn vault_key(server: &str, url: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(server.as_bytes());
    hash.update([0]);
    hash.update(url.as_bytes());
    let digest = hash.finalize();
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("mcp-oauth.{hex}")
}

/// One server's tokens. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub(crate) struct TokenStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None`: kept in memory only (a server tried without being saved).
    vault: Option<(Arc<dyn TokenVault>, String)>,
    cache: Mutex<Option<Option<StoredCredentials>>>,
}

impl TokenStore {
    pub(crate) fn new(vault: Option<(Arc<dyn TokenVault>, String)>) -> Self {
        Self {
            inner: Arc::new(Inner {
                vault,
                cache: Mutex::new(None),
            }),
        }
    }

    /// The stored credentials, read once from the vault.
    pub(crate) async fn current(&self) -> Result<Option<StoredCredentials>, String> {
        let mut cache = self.inner.cache.lock().await;
        if let Some(loaded) = cache.as_ref() {
            return Ok(loaded.clone());
        }
        let loaded = match &self.inner.vault {
            None => None,
            Some((vault, key)) => {
                let (vault, key) = (vault.clone(), key.clone());
                let text = tokio::task::spawn_blocking(move || vault.load(&key))
                    .await
                    .map_err(|e| format!("the token store stopped: {e}"))??;
                // A value that does not parse (written by another version, or damaged) is a
                // sign-in to do again, not an error that blocks the server.
                text.and_then(|t| serde_json::from_str::<StoredCredentials>(&t).ok())
            }
        };
        if let Some(credentials) = &loaded {
            register_tokens(credentials);
        }
        *cache = Some(loaded.clone());
        Ok(loaded)
    }

    /// Whether an access token is stored.
    pub(crate) async fn has_token(&self) -> bool {
        matches!(self.current().await, Ok(Some(c)) if c.token_response.is_some())
    }

    async fn write(&self, value: Option<StoredCredentials>) -> Result<(), String> {
        let cache = self.inner.cache.lock().await;
        self.write_locked(cache, value).await
    }

    async fn write_locked(
        &self,
        mut cache: tokio::sync::MutexGuard<'_, Option<Option<StoredCredentials>>>,
        value: Option<StoredCredentials>,
    ) -> Result<(), String> {
        if let Some((vault, key)) = &self.inner.vault {
            let (vault, key) = (vault.clone(), key.clone());
            let text = match &value {
                Some(c) => Some(serde_json::to_string(c).map_err(|e| e.to_string())?),
                None => None,
            };
            tokio::task::spawn_blocking(move || match text {
                Some(text) => vault.save(&key, &text),
                None => vault.delete(&key),
            })
            .await
            .map_err(|e| format!("the token store stopped: {e}"))??;
        }
        *cache = Some(value);
        Ok(())
    }

    pub(crate) async fn forget(&self) -> Result<(), String> {
        self.write(None).await
    }

    /// The authorization server refused to refresh `rejected` (`invalid_grant`): its tokens
    /// are dead. They are dropped and what the sign-in was (client, scopes, issuer) is kept, so
    /// the server shows as needing a sign-in again, in this process and the next. Credentials
    /// that replaced `rejected` meanwhile (a new sign-in) are left alone.
    async fn drop_refused(&self, rejected: &StoredCredentials) -> Result<(), String> {
        // Loaded into the cache first; then checked and written under one lock.
        self.current().await?;
        let mut kept = rejected.clone();
        kept.token_response = None;
        self.write_if(Some(kept), |current| {
            current.is_some_and(|c| same_tokens(c, rejected))
        })
        .await
    }

    /// Writes `value` if `check` holds for what is stored, under the same lock.
    async fn write_if(
        &self,
        value: Option<StoredCredentials>,
        check: impl FnOnce(Option<&StoredCredentials>) -> bool,
    ) -> Result<(), String> {
        let cache = self.inner.cache.lock().await;
        if !check(cache.as_ref().and_then(Option::as_ref)) {
            return Ok(());
        }
        self.write_locked(cache, value).await
    }
}

/// Whether both hold the same access token.
fn same_tokens(a: &StoredCredentials, b: &StoredCredentials) -> bool {
    use oauth2::TokenResponse as _;
    let access = |c: &StoredCredentials| {
        c.token_response
            .as_ref()
            .map(|r| r.access_token().secret().clone())
    };
    access(a).is_some() && access(a) == access(b)
}

/// Tokens are secrets: any log line or error text that quotes one is scrubbed.
fn register_tokens(credentials: &StoredCredentials) {
    use oauth2::TokenResponse as _;
    use rmcp::transport::auth::OAuthTokenResponse;
    let Some(response): Option<&OAuthTokenResponse> = credentials.token_response.as_ref() else {
        return;
    };
    crate::redact::register(response.access_token().secret());
    if let Some(refresh) = response.refresh_token() {
        crate::redact::register(refresh.secret());
    }
}

#[async_trait::async_trait]
impl CredentialStore for TokenStore {
    async fn load(&self) -> Result<Option<StoredCredentials>, AuthError> {
        self.current()
            .await
            .map_err(AuthError::CredentialStoreError)
    }

    async fn save(&self, credentials: StoredCredentials) -> Result<(), AuthError> {
        register_tokens(&credentials);
        self.write(Some(credentials))
            .await
            .map_err(AuthError::CredentialStoreError)
    }

    async fn clear(&self) -> Result<(), AuthError> {
        self.write(None)
            .await
            .map_err(AuthError::CredentialStoreError)
    }

    async fn on_refresh_token_rejected(
        &self,
        credentials: &StoredCredentials,
    ) -> Result<(), AuthError> {
        self.drop_refused(credentials)
            .await
            .map_err(AuthError::CredentialStoreError)
    }
}
