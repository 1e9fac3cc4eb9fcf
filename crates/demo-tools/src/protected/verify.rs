//! Checking a bearer token: a JWT signed by the authorization server (AS), verified against
//! the keys it publishes. The AS metadata (RFC 8414) gives the issuer and `jwks_uri`; both
//! are fetched on first use, and the keys again when a token names a key id we do not
//! hold (the AS rotated its keys), at most once per [`REFETCH_INTERVAL`].

use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{decode, decode_header, Algorithm, DecodingKey, Validation};
use reqwest::Url;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use tokio::sync::Mutex;

use crate::error::DemoToolsError;

/// Asymmetric algorithms only: with an HMAC algorithm the "secret" would be the AS's public
/// key, and anyone could sign.
const ACCEPTED_ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// A stream of tokens naming unknown keys must not turn into a stream of JWKS requests.
const REFETCH_INTERVAL: Duration = Duration::from_secs(2);

/// How long one request to the AS may take.
const AS_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a token was not accepted. [`Unavailable`](Self::Unavailable) is our problem (the
/// AS could not be asked), every other one is the token's.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token: {0}")]
    Malformed(jsonwebtoken::errors::Error),
    #[error("signing algorithm {0:?} is not accepted")]
    Algorithm(Algorithm),
    #[error("the authorization server has no signing key {0:?}")]
    UnknownKey(String),
    #[error("token rejected: {0}")]
    Invalid(jsonwebtoken::errors::Error),
    #[error("token revoked")]
    Revoked,
    #[error("authorization server unavailable: {0}")]
    Unavailable(String),
}

/// What the server keeps of an accepted token (never the token itself).
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    pub sub: Option<String>,
    pub client_id: Option<String>,
    /// Space-separated scopes (RFC 8693 `scope` claim).
    pub scope: Option<String>,
    pub iat: Option<u64>,
}

impl Claims {
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.as_deref().unwrap_or("").split_whitespace()
    }
}

#[derive(Debug, Deserialize)]
struct AsMetadata {
    issuer: String,
    jwks_uri: String,
}

#[derive(Default)]
struct KeyCache {
    /// The issuer and JWKS address from the AS metadata, once read.
    endpoints: Option<AsMetadata>,
    keys: Vec<Jwk>,
    fetched_at: Option<Instant>,
}

pub struct TokenVerifier {
    authorization_server: Url,
    /// The `aud` every token must name: this server's resource URL (RFC 8707).
    resource: String,
    http: reqwest::Client,
    cache: Mutex<KeyCache>,
}

impl TokenVerifier {
    pub fn new(authorization_server: &str, resource: String) -> Result<Self, DemoToolsError> {
        let authorization_server = Url::parse(authorization_server).map_err(|e| {
            DemoToolsError::Config(format!(
                "--authorization-server {authorization_server:?} is not a URL: {e}"
            ))
        })?;
        if !matches!(authorization_server.scheme(), "http" | "https") {
            return Err(DemoToolsError::Config(format!(
                "--authorization-server {authorization_server} must be an http(s) URL"
            )));
        }
        // No proxy: the AS of the tests is on loopback, where a proxy from the environment
        // would not reach it. No redirects: metadata and keys come from where we asked.
        let http = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(AS_TIMEOUT)
            .build()
            .map_err(|e| DemoToolsError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            authorization_server,
            resource,
            http,
            cache: Mutex::default(),
        })
    }

    /// Checks signature, `iss`, `exp`, `nbf` (when present) and `aud`, and returns the claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header = decode_header(token).map_err(TokenError::Malformed)?;
        if !ACCEPTED_ALGORITHMS.contains(&header.alg) {
            return Err(TokenError::Algorithm(header.alg));
        }
        let (issuer, key) = self.key_for(header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[issuer]);
        // Exact match of one of the token's audiences (a string or an array of them).
        validation.set_audience(&[&self.resource]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        // Same machine, same clock: tests that let a token expire should not wait a minute.
        validation.leeway = 0;
        decode::<Claims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(TokenError::Invalid)
    }

    /// The issuer to expect and the key for `kid`, fetching metadata and keys as needed.
    async fn key_for(&self, kid: Option<&str>) -> Result<(String, DecodingKey), TokenError> {
        let mut cache = self.cache.lock().await;
        if cache.fetched_at.is_none() {
            self.refresh(&mut cache).await?;
        }
        if let Some(found) = find_key(&cache, kid)? {
            return Ok(found);
        }
        let recently = cache
            .fetched_at
            .is_some_and(|at| at.elapsed() < REFETCH_INTERVAL);
        if !recently {
            tracing::info!(
                kid = kid.unwrap_or("-"),
                "unknown signing key: fetching the JWKS again"
            );
            self.refresh(&mut cache).await?;
            if let Some(found) = find_key(&cache, kid)? {
                return Ok(found);
            }
        }
        Err(TokenError::UnknownKey(kid.unwrap_or("(no kid)").to_owned()))
    }

    async fn refresh(&self, cache: &mut KeyCache) -> Result<(), TokenError> {
        if cache.endpoints.is_none() {
            cache.endpoints = Some(self.fetch_metadata().await?);
        }
        let Some(endpoints) = &cache.endpoints else {
            return Err(TokenError::Unavailable("no metadata".to_owned()));
        };
        let jwks_uri = Url::parse(&endpoints.jwks_uri)
            .map_err(|e| TokenError::Unavailable(format!("jwks_uri: {e}")))?;
        let set: JwkSet = self.fetch_json(jwks_uri).await?;
        tracing::info!(
            keys = set.keys.len(),
            "signing keys fetched from the authorization server"
        );
        cache.keys = set.keys;
        cache.fetched_at = Some(Instant::now());
        Ok(())
    }

    /// Reads the AS metadata (RFC 8414), falling back to OpenID discovery for servers that
    /// publish only that, and checks that it names the AS we were given as its issuer.
    async fn fetch_metadata(&self) -> Result<AsMetadata, TokenError> {
        let mut last_error = None;
        for suffix in ["oauth-authorization-server", "openid-configuration"] {
            let url = well_known_url(&self.authorization_server, suffix);
            match self.fetch_json::<AsMetadata>(url).await {
                Ok(metadata) => {
                    let given = self.authorization_server.as_str().trim_end_matches('/');
                    if metadata.issuer.trim_end_matches('/') != given {
                        // RFC 8414 section 3.3: metadata naming another issuer must not be used.
                        return Err(TokenError::Unavailable(format!(
                            "the metadata names issuer {:?}, not {given:?}",
                            metadata.issuer
                        )));
                    }
                    return Ok(metadata);
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| TokenError::Unavailable("no metadata".to_owned())))
    }

    async fn fetch_json<T: DeserializeOwned>(&self, url: Url) -> Result<T, TokenError> {
        let unavailable = |what: String| TokenError::Unavailable(format!("{url}: {what}"));
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            return Err(unavailable(format!("HTTP {status}")));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        serde_json::from_slice(&body).map_err(|e| unavailable(format!("bad JSON: {e}")))
    }
}

/// The key with id `kid`; without a kid, the only key of the set. `Ok(None)` when absent.
fn find_key(
    cache: &KeyCache,
    kid: Option<&str>,
) -> Result<Option<(String, DecodingKey)>, TokenError> {
    let Some(endpoints) = &cache.endpoints else {
        return Ok(None);
    };
    let jwk = match kid {
        Some(kid) => cache
            .keys
            .iter()
            .find(|jwk| jwk.common.key_id.as_deref() == Some(kid)),
        None if cache.keys.len() == 1 => cache.keys.first(),
        None => None,
    };
    let Some(jwk) = jwk else {
        return Ok(None);
    };
    let key = DecodingKey::from_jwk(jwk).map_err(TokenError::Invalid)?;
    Ok(Some((endpoints.issuer.clone(), key)))
}

/// RFC 8414 section 3.1: the well-known segment goes between the host and the issuer's
/// path (`https://as/tenant` -> `https://as/.well-known/NAME/tenant`).
fn well_known_url(issuer: &Url, name: &str) -> Url {
    let path = issuer.path().trim_end_matches('/');
    let mut url = issuer.clone();
    url.set_path(&format!("/.well-known/{name}{path}"));
    url.set_query(None);
    url.set_fragment(None);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_goes_before_the_issuer_path() {
        let root = Url::parse("http://127.0.0.1:9000").unwrap();
        assert_eq!(
            well_known_url(&root, "oauth-authorization-server").as_str(),
            "http://127.0.0.1:9000/.well-known/oauth-authorization-server"
        );
        let tenant = Url::parse("https://as.test/tenant/").unwrap();
        assert_eq!(
            well_known_url(&tenant, "openid-configuration").as_str(),
            "https://as.test/.well-known/openid-configuration/tenant"
        );
    }
}
