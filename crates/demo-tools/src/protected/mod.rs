//! Protected-resource mode (`--authorization-server URL`): the HTTP endpoint becomes an
//! OAuth 2.1 resource server, for end-to-end tests of a client's sign-in.
//!
//! - `GET /.well-known/oauth-protected-resource/mcp` (and the same at the root path) serve
//!   RFC 9728 metadata naming the authorization server (AS).
//! - Every `/mcp` request needs `Authorization: Bearer <JWT>` signed by the AS, for this
//!   resource (`aud`), unexpired and not revoked; else 401 with a `WWW-Authenticate`
//!   challenge that points at the metadata. A token lacking a configured scope gets 403.
//! - `POST /admin/revoke` (a test hook) invalidates every token issued until now.
//!
//! Each request is logged on one line, accepted or refused, without its token.

mod verify;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use crate::error::DemoToolsError;
use crate::MCP_PATH;
use verify::{Claims, TokenError, TokenVerifier};

/// Where RFC 9728 metadata lives; the resource's path follows it.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";
/// The test hook that revokes every token issued so far.
pub const REVOKE_PATH: &str = "/admin/revoke";

/// The settings of protected-resource mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtectedResource {
    /// The AS issuer URL: its metadata is read from `URL/.well-known/oauth-authorization-server`.
    pub authorization_server: String,
    /// Scopes every token must carry (all of them); advertised in the metadata and challenges.
    pub scopes: Vec<String>,
}

/// What the middleware and the routes share.
struct Guard {
    /// The metadata document, built once.
    metadata: Vec<u8>,
    /// `resource_metadata="..."` of every challenge.
    metadata_url: String,
    scopes: Vec<String>,
    verifier: TokenVerifier,
    /// Tokens issued (`iat`) at or before this Unix second are revoked; 0 = none.
    revoked_through: AtomicU64,
}

/// Wraps the router that serves [`MCP_PATH`] with the bearer check, and adds the metadata
/// and revocation routes. `origin` is `http://HOST:PORT` of the bound listener: the resource
/// URL (and so the `aud` every token must name) is `origin` + [`MCP_PATH`].
pub fn protect(
    mcp: Router,
    config: ProtectedResource,
    origin: &str,
) -> Result<Router, DemoToolsError> {
    let resource = format!("{origin}{MCP_PATH}");
    let metadata_url = format!("{origin}{METADATA_PATH}{MCP_PATH}");
    let mut document = json!({
        "resource": resource,
        "authorization_servers": [config.authorization_server],
        "bearer_methods_supported": ["header"],
    });
    if !config.scopes.is_empty() {
        document["scopes_supported"] = json!(config.scopes);
    }
    let metadata = serde_json::to_vec(&document)
        .map_err(|e| DemoToolsError::Config(format!("metadata document: {e}")))?;
    tracing::info!(
        %resource,
        authorization_server = %config.authorization_server,
        scopes = %config.scopes.join(" "),
        "protected-resource mode: /mcp needs a bearer token"
    );
    let guard = Arc::new(Guard {
        metadata,
        metadata_url,
        scopes: config.scopes,
        verifier: TokenVerifier::new(&config.authorization_server, resource)?,
        revoked_through: AtomicU64::new(0),
    });
    let open = Router::new()
        .route(METADATA_PATH, get(serve_metadata))
        .route(&format!("{METADATA_PATH}{MCP_PATH}"), get(serve_metadata))
        .route(REVOKE_PATH, post(revoke))
        .with_state(guard.clone());
    // `route_layer`: only the routes already there (the MCP endpoint) need a token.
    Ok(mcp
        .route_layer(middleware::from_fn_with_state(guard, require_token))
        .merge(open))
}

async fn serve_metadata(State(guard): State<Arc<Guard>>) -> Response {
    let mut response = Response::new(Body::from(guard.metadata.clone()));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

async fn revoke(State(guard): State<Arc<Guard>>) -> StatusCode {
    let now = unix_seconds();
    guard.revoked_through.store(now, Ordering::SeqCst);
    tracing::info!(
        revoked_through = now,
        "auth: every token issued until now is revoked"
    );
    StatusCode::NO_CONTENT
}

/// Why a request is refused, and so which status and challenge it gets.
enum Refusal {
    /// No bearer token: a bare challenge (RFC 6750 section 3.1 gives no error code then).
    NoToken,
    /// A token that is not valid for this resource.
    InvalidToken(TokenError),
    /// A valid token without every configured scope.
    InsufficientScope,
    /// The AS could not be asked: our failure, not the client's.
    Unavailable(TokenError),
}

async fn require_token(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match guard.check(bearer_token(&request)).await {
        Ok(claims) => {
            tracing::info!(
                %method,
                %path,
                sub = claims.sub.as_deref().unwrap_or("-"),
                client_id = claims.client_id.as_deref().unwrap_or("-"),
                "auth: accepted"
            );
            next.run(request).await
        }
        Err(refusal) => {
            let response = guard.refuse(&refusal);
            let reason = match &refusal {
                Refusal::NoToken => "no bearer token".to_owned(),
                Refusal::InvalidToken(e) | Refusal::Unavailable(e) => e.to_string(),
                Refusal::InsufficientScope => "insufficient scope".to_owned(),
            };
            tracing::info!(%method, %path, status = response.status().as_u16(), %reason, "auth: refused");
            response
        }
    }
}

impl Guard {
    async fn check(&self, token: Option<&str>) -> Result<Claims, Refusal> {
        let token = token.ok_or(Refusal::NoToken)?;
        let claims = self.verifier.verify(token).await.map_err(|e| match e {
            TokenError::Unavailable(_) => Refusal::Unavailable(e),
            other => Refusal::InvalidToken(other),
        })?;
        let revoked_through = self.revoked_through.load(Ordering::SeqCst);
        // A token without `iat` cannot show it came after the revocation.
        if revoked_through > 0 && claims.iat.is_none_or(|iat| iat <= revoked_through) {
            return Err(Refusal::InvalidToken(TokenError::Revoked));
        }
        let granted: Vec<&str> = claims.scopes().collect();
        if !self.scopes.iter().all(|s| granted.contains(&s.as_str())) {
            return Err(Refusal::InsufficientScope);
        }
        Ok(claims)
    }

    fn refuse(&self, refusal: &Refusal) -> Response {
        let scope = self.scopes.join(" ");
        let mut params = Vec::new();
        let (status, error, description) = match refusal {
            Refusal::NoToken => (
                StatusCode::UNAUTHORIZED,
                None,
                "a bearer token is required".to_owned(),
            ),
            Refusal::InvalidToken(e) => (
                StatusCode::UNAUTHORIZED,
                Some("invalid_token"),
                e.to_string(),
            ),
            Refusal::InsufficientScope => (
                StatusCode::FORBIDDEN,
                Some("insufficient_scope"),
                format!("the token must grant: {scope}"),
            ),
            Refusal::Unavailable(e) => {
                let body =
                    json!({"error": "temporarily_unavailable", "error_description": e.to_string()});
                return (StatusCode::SERVICE_UNAVAILABLE, json_body(&body)).into_response();
            }
        };
        if let Some(error) = error {
            params.push(format!("error=\"{error}\""));
            params.push(format!("error_description=\"{}\"", quotable(&description)));
        }
        if !scope.is_empty() {
            params.push(format!("scope=\"{}\"", quotable(&scope)));
        }
        params.push(format!("resource_metadata=\"{}\"", self.metadata_url));
        let challenge = format!("Bearer {}", params.join(", "));
        let body =
            json!({"error": error.unwrap_or("unauthorized"), "error_description": description});
        let mut response = (status, json_body(&body)).into_response();
        match HeaderValue::from_str(&challenge) {
            Ok(value) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
            // Cannot happen with `quotable` text; a refusal without challenge is still one.
            Err(e) => tracing::warn!("WWW-Authenticate not sent: {e}"),
        }
        response
    }
}

/// The token of `Authorization: Bearer <token>` (the scheme is case-insensitive).
fn bearer_token(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Text fit for a quoted-string of a header: no quotes, backslashes or control characters.
fn quotable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .collect()
}

fn json_body(value: &serde_json::Value) -> ([(header::HeaderName, HeaderValue); 1], Vec<u8>) {
    // Serializing a `Value` cannot fail; an empty body would still carry the status.
    let body = serde_json::to_vec(value).unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_with(authorization: &str) -> Request {
        Request::builder()
            .header(header::AUTHORIZATION, authorization)
            .body(Body::empty())
            .unwrap()
    }

    #[test]
    fn reads_only_bearer_tokens() {
        assert_eq!(
            bearer_token(&request_with("Bearer abc.def")),
            Some("abc.def")
        );
        assert_eq!(bearer_token(&request_with("bearer  abc")), Some("abc"));
        assert_eq!(bearer_token(&request_with("Basic dXNlcg==")), None);
        assert_eq!(bearer_token(&request_with("Bearer ")), None);
    }

    #[test]
    fn quotable_text_keeps_the_header_valid() {
        assert_eq!(quotable("bad \"aud\"\n"), "bad 'aud'?");
    }
}
