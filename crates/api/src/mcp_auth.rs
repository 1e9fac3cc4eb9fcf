//! Signing in to MCP servers (OAuth 2.1), and servers tried without being saved.
//!
//! A sign-in is two calls, because only the door can open a browser: `mcp_sign_in_start`
//! returns the authorization URL (the door opens it or prints it), `mcp_sign_in_finish` waits
//! for the browser's redirect to the host's loopback listener and stores the tokens in the
//! keychain. A door never sees a token.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use waymark_agent::mcp::{
    ElicitationPolicy, McpError, McpServerDef, McpTransport, OAuthClientSettings, SignInState,
    SIGN_IN_LIMIT,
};
use waymark_agent::Secret;

use crate::{Api, ApiError, ErrorCode};

/// How long `mcp_sign_in_finish` waits unless told otherwise.
const DEFAULT_SIGN_IN_WAIT: Duration = Duration::from_secs(300);

/// A server to try without saving it: `url` (Streamable HTTP) or `command` (stdio).
#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct McpTarget {
    #[serde(default)]
    #[ts(optional)]
    pub url: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    #[ts(optional)]
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    #[ts(optional)]
    pub cwd: Option<String>,
    /// What to answer when the server asks the user something during a call (default:
    /// decline).
    #[serde(default)]
    #[ts(optional)]
    pub elicitation: Option<ElicitationPolicy>,
    /// How to sign in when the server asks (HTTP servers).
    #[serde(default)]
    #[ts(optional)]
    pub oauth: Option<McpOAuthClient>,
}

/// How Waymark introduces itself to an HTTP server's authorization server. Everything is
/// optional: without a client id, it registers itself where the server allows.
#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct McpOAuthClient {
    /// A client id registered with the authorization server beforehand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub client_id: Option<String>,
    /// That client's secret (goes to the keychain when the server is saved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Sign in as a machine (client-credentials grant; needs the id and secret).
    #[serde(default)]
    pub client_credentials: bool,
    /// Register with this Client ID Metadata Document (an HTTPS URL) where the authorization
    /// server accepts one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub client_metadata_url: Option<String>,
}

impl McpOAuthClient {
    pub(crate) fn settings(&self) -> Result<OAuthClientSettings, ApiError> {
        if self.client_credentials && (self.client_id.is_none() || self.client_secret.is_none()) {
            return Err(ApiError::invalid(
                "client_credentials",
                "the client-credentials grant needs client_id and client_secret",
            ));
        }
        if let Some(url) = &self.client_metadata_url {
            if !url.starts_with("https://") {
                return Err(ApiError::invalid(
                    "client_metadata_url",
                    "a client metadata document must be at an https:// URL",
                ));
            }
        }
        Ok(OAuthClientSettings {
            client_id: self.client_id.clone().filter(|s| !s.trim().is_empty()),
            client_secret: self
                .client_secret
                .clone()
                .filter(|s| !s.is_empty())
                .map(Secret::new),
            scopes: self.scopes.clone(),
            client_credentials: self.client_credentials,
            client_metadata_url: self.client_metadata_url.clone(),
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpTryRequest {
    pub target: McpTarget,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpTryResponse {
    /// The name the tried server goes by (`~try:…`) in `mcp_tools`, `mcp_call` and the
    /// sign-in commands, while this host runs.
    pub server: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpSignInStartResponse {
    pub sign_in_id: String,
    /// The authorization URL to open in a browser.
    pub url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct McpSignInFinishRequest {
    pub sign_in_id: String,
    /// How long to wait for the browser (default 300 s, at most 600 s).
    #[serde(default)]
    #[ts(optional)]
    pub wait_secs: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct McpSignInStateResponse {
    pub server: String,
    pub sign_in: SignInState,
}

/// A hub error as an API error: a wanted sign-in has its own code, so a door knows to start one.
pub(crate) fn hub_error(e: McpError) -> ApiError {
    let code = match &e {
        McpError::SignInRequired { .. } => ErrorCode::SignInRequired,
        McpError::UnknownServer(_) => ErrorCode::NotFound,
        _ => ErrorCode::Upstream,
    };
    ApiError::new(code, e.to_string())
}

impl McpTarget {
    /// The target as a server definition (named by the hub when it is added).
    fn to_def(&self) -> Result<McpServerDef, ApiError> {
        let secrets = |values: &BTreeMap<String, String>| -> BTreeMap<String, Secret> {
            values
                .iter()
                .map(|(k, v)| (k.clone(), Secret::new(v.clone())))
                .collect()
        };
        let transport = match (&self.url, &self.command) {
            (Some(url), None) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(ApiError::invalid(
                        "target.url",
                        "the URL must start with http:// or https://",
                    ));
                }
                McpTransport::Http {
                    url: url.clone(),
                    headers: secrets(&self.headers),
                    oauth: self.oauth.clone().unwrap_or_default().settings()?,
                }
            }
            (None, Some(command)) if !command.trim().is_empty() => McpTransport::Stdio {
                command: command.clone(),
                args: self.args.clone(),
                env: secrets(&self.env),
                cwd: self.cwd.clone(),
            },
            _ => {
                return Err(ApiError::invalid(
                    "target",
                    "give either a url (http) or a command (stdio)",
                ))
            }
        };
        Ok(McpServerDef {
            name: String::new(),
            transport,
        })
    }
}

impl Api {
    /// Makes a server usable without saving it (nothing is stored; its sign-in tokens stay in
    /// memory): its tools and calls are then `mcp_tools` and `mcp_call` with the name returned.
    pub async fn mcp_try(&self, req: McpTryRequest) -> Result<McpTryResponse, ApiError> {
        let policy = req.target.elicitation.unwrap_or_default();
        let server = self
            .app()
            .hub()
            .set_tried_server(req.target.to_def()?, policy);
        Ok(McpTryResponse { server })
    }

    /// Starts a sign-in to an HTTP server (saved, or tried: its `~try:` name).
    pub async fn mcp_sign_in_start(
        &self,
        req: crate::mcp::McpServerRequest,
    ) -> Result<McpSignInStartResponse, ApiError> {
        self.known_server(&req.server)?;
        let started = self
            .app()
            .hub()
            .begin_sign_in(&req.server)
            .await
            .map_err(hub_error)?;
        Ok(McpSignInStartResponse {
            sign_in_id: started.id,
            url: started.url,
        })
    }

    /// Waits for a started sign-in to come back from the browser, and stores its tokens.
    pub async fn mcp_sign_in_finish(
        &self,
        req: McpSignInFinishRequest,
    ) -> Result<McpSignInStateResponse, ApiError> {
        let wait = req
            .wait_secs
            .map_or(DEFAULT_SIGN_IN_WAIT, Duration::from_secs)
            .min(SIGN_IN_LIMIT);
        let hub = self.app().hub();
        let server = hub
            .finish_sign_in(&req.sign_in_id, wait)
            .await
            .map_err(|e| ApiError::new(ErrorCode::Upstream, e.to_string()))?;
        let sign_in = hub.sign_in_state(&server).await.map_err(hub_error)?;
        Ok(McpSignInStateResponse { server, sign_in })
    }

    /// Signs out of a server: its tokens leave the keychain.
    pub async fn mcp_sign_out(
        &self,
        req: crate::mcp::McpServerRequest,
    ) -> Result<McpSignInStateResponse, ApiError> {
        self.known_server(&req.server)?;
        let hub = self.app().hub();
        hub.sign_out(&req.server).await.map_err(hub_error)?;
        let sign_in = hub.sign_in_state(&req.server).await.map_err(hub_error)?;
        Ok(McpSignInStateResponse {
            server: req.server,
            sign_in,
        })
    }

    /// A saved server, or one tried in this process.
    pub(crate) fn known_server(&self, server: &str) -> Result<(), ApiError> {
        let tried = server.starts_with(waymark_agent::mcp::TRIED_SERVER_PREFIX)
            && self.app().hub().status(server).is_some();
        if tried || self.app().catalog.server(server)?.is_some() {
            Ok(())
        } else {
            Err(ApiError::not_found(format!(
                "no MCP server named \"{server}\""
            )))
        }
    }
}
