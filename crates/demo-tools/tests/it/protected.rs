//! Protected-resource mode against a real authorization server: npm `oauth2-mock-server`
//! behind tests/oauth/auth_server.mjs (installed by scripts/setup-test-deps.sh).

use crate::common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::spawn::{http_client, HttpServer};
use common::{call, structured, RecordingClient};
use reqwest::StatusCode;
use rmcp::ServiceExt;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

const SCOPE: &str = "mcp:tools";

struct AuthServer {
    issuer: String,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
    _child: Child,
}

impl AuthServer {
    async fn start() -> Self {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let script = root.join("tests/oauth/auth_server.mjs");
        let package = root.join("tests/oauth/node_modules/oauth2-mock-server/package.json");
        assert!(
            package.exists(),
            "npm oauth2-mock-server is not installed in tests/oauth: run `bash scripts/setup-test-deps.sh`"
        );
        let mut child = Command::new("node")
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node (Node.js 20 or newer) runs tests/oauth/auth_server.mjs");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = tokio::time::timeout(Duration::from_secs(20), stdout.next_line())
            .await
            .expect("the authorization server started in time")
            .unwrap()
            .expect("a ready line");
        let ready: Value = serde_json::from_str(&ready).unwrap();
        let issuer = ready["issuer"].as_str().unwrap().to_owned();
        assert_eq!(issuer, format!("http://127.0.0.1:{}", ready["port"]));
        Self {
            issuer,
            stdin,
            stdout,
            _child: child,
        }
    }

    async fn command(&mut self, line: &str) {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        let answer = self.stdout.next_line().await.unwrap().unwrap();
        assert_eq!(answer, format!("ok {line}"));
    }

    /// A client_credentials token for `resource` (RFC 8707) with `scope`.
    async fn client_credentials(&self, resource: &str, scope: &str) -> String {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", "demo-tools-test"),
            ("scope", scope),
            ("resource", resource),
        ];
        let answer = http_client()
            .post(format!("{}/token", self.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(&form))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        let body: Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// The authorization-code flow with PKCE S256, as a client with no person does it:
    /// the authorize endpoint redirects at once.
    async fn authorization_code(&self, resource: &str) -> String {
        // The challenge is BASE64URL(SHA-256(verifier)), computed once with openssl.
        let verifier = "dBjftJeZ4CVP-mJ92K9XQz7fOc8UUFK-0VTyvXjY3dM";
        let challenge = "0qEEGKmVkTv00Pt8C4ko-fOdePeAUbE078fuqAW6G-0";
        let redirect_uri = "http://127.0.0.1:9/callback";
        let query = [
            ("response_type", "code"),
            ("client_id", "demo-tools-test"),
            ("redirect_uri", redirect_uri),
            ("scope", SCOPE),
            ("state", "st-42"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("resource", resource),
        ];
        let authorize = format!("{}/authorize?{}", self.issuer, form_encode(&query));
        let answer = http_client().get(authorize).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::FOUND);
        let location = answer.headers()["location"].to_str().unwrap().to_owned();
        let location = reqwest::Url::parse(&location).unwrap();
        let param = |name: &str| {
            location
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        assert_eq!(param("state").as_deref(), Some("st-42"));
        assert_eq!(param("iss").as_deref(), Some(self.issuer.as_str()));
        let code = param("code").expect("a code");
        let form = [
            ("grant_type", "authorization_code"),
            ("client_id", "demo-tools-test"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ];
        let answer = http_client()
            .post(format!("{}/token", self.issuer))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_encode(&form))
            .send()
            .await
            .unwrap();
        let status = answer.status();
        let body: Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["scope"], SCOPE);
        body["access_token"].as_str().unwrap().to_owned()
    }
}

fn form_encode(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://x/").unwrap();
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or("").to_owned()
}

/// A request the server answers with 200 once the token is accepted.
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;

/// A raw POST (an `initialize`) to the MCP endpoint: status and `WWW-Authenticate`.
async fn post_mcp(server: &HttpServer, token: Option<&str>) -> (StatusCode, String) {
    let mut request = http_client()
        .post(&server.url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(INITIALIZE);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let answer = request.send().await.unwrap();
    let challenge = answer
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (answer.status(), challenge)
}

async fn start_pair() -> (AuthServer, HttpServer) {
    let auth = AuthServer::start().await;
    let server =
        HttpServer::start(&["--authorization-server", &auth.issuer, "--scope", SCOPE]).await;
    (auth, server)
}

#[tokio::test]
async fn refuses_requests_without_a_token_and_points_at_the_metadata() {
    let (auth, server) = start_pair().await;
    let metadata_url = format!(
        "{}/.well-known/oauth-protected-resource/mcp",
        server.origin()
    );

    let (status, challenge) = post_mcp(&server, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge,
        format!(r#"Bearer scope="{SCOPE}", resource_metadata="{metadata_url}""#)
    );

    let expected = json!({
        "resource": server.url,
        "authorization_servers": [auth.issuer],
        "scopes_supported": [SCOPE],
        "bearer_methods_supported": ["header"],
    });
    let root = format!("{}/.well-known/oauth-protected-resource", server.origin());
    for url in [metadata_url, root] {
        let answer = http_client().get(&url).send().await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{url}");
        let document: Value = serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap();
        assert_eq!(document, expected, "{url}");
    }

    let (status, challenge) = post_mcp(&server, Some("not.a.jwt")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge.starts_with(r#"Bearer error="invalid_token""#),
        "{challenge}"
    );
    assert!(challenge.contains("resource_metadata="), "{challenge}");
}

#[tokio::test]
async fn accepts_tokens_for_this_resource_until_they_are_revoked() {
    let (mut auth, server) = start_pair().await;

    // A machine client's token, used by rmcp's client as a bearer `auth_header`.
    let token = auth.client_credentials(&server.url, SCOPE).await;
    let client = RecordingClient::with_initialize()
        .serve(server.transport(Some(&token)))
        .await
        .unwrap();
    let order = structured(&call(&client, "lookup_order", json!({"order_id": "A-1003"})).await);
    assert_eq!(order["customer"], "Alan Turing");

    // A signed-in user's token (authorization code + PKCE) works too.
    let user_token = auth.authorization_code(&server.url).await;
    assert_eq!(post_mcp(&server, Some(&user_token)).await.0, StatusCode::OK);

    // A token for another resource, or without the scope, does not.
    let other = auth
        .client_credentials("http://127.0.0.1:1/mcp", SCOPE)
        .await;
    let (status, challenge) = post_mcp(&server, Some(&other)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    let unscoped = auth.client_credentials(&server.url, "openid").await;
    let (status, challenge) = post_mcp(&server, Some(&unscoped)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        challenge.starts_with(r#"Bearer error="insufficient_scope""#)
            && challenge.contains(&format!(r#"scope="{SCOPE}""#)),
        "{challenge}"
    );

    // `aud URL` makes the AS put another audience in whatever is asked.
    auth.command("aud http://127.0.0.1:2/elsewhere").await;
    let wrong_aud = auth.client_credentials(&server.url, SCOPE).await;
    assert_eq!(
        post_mcp(&server, Some(&wrong_aud)).await.0,
        StatusCode::UNAUTHORIZED
    );
    auth.command(&format!("aud {}", server.url)).await;

    // Revocation: every token issued until now stops working, in the open session too.
    let revoke = format!("{}/admin/revoke", server.origin());
    let answer = http_client().post(revoke).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    let (status, challenge) = post_mcp(&server, Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge.contains(r#"error="invalid_token""#),
        "{challenge}"
    );
    assert!(client.list_all_tools().await.is_err());

    // `iat` counts whole seconds: a token from the next second is new.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let fresh = auth.client_credentials(&server.url, SCOPE).await;
    assert_eq!(post_mcp(&server, Some(&fresh)).await.0, StatusCode::OK);

    // The log tells every decision, and never a token.
    let log = server.log();
    assert!(
        log.contains("auth: accepted") && log.contains("auth: refused"),
        "{log}"
    );
    for secret in [&token, &user_token, &other, &unscoped, &wrong_aud, &fresh] {
        assert!(!log.contains(secret.as_str()), "a token is in the log");
    }
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let (mut auth, server) = start_pair().await;
    auth.command("expire-in 1").await;
    let token = auth.client_credentials(&server.url, SCOPE).await;
    assert_eq!(post_mcp(&server, Some(&token)).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let (status, challenge) = post_mcp(&server, Some(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        challenge.contains("expired") || challenge.contains("Expired"),
        "{challenge}"
    );
}
