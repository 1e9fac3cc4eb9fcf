//! MCP server definitions as stored: every env and header value replaced by its reference.

use std::collections::BTreeMap;

use super::Removed;
use crate::catalog::CatalogError;
use crate::secrets::SecretRef;

/// A server definition whose secret values are references into the secret store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerRecord {
    pub name: String,
    pub transport: ServerTransport,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerTransport {
    Stdio {
        command: String,
        args: Vec<String>,
        cwd: Option<String>,
        env: BTreeMap<String, SecretRef>,
    },
    Http {
        url: String,
        headers: BTreeMap<String, SecretRef>,
        oauth: StoredOAuthClient,
    },
}

/// An HTTP server's sign-in settings as stored: the client secret by reference.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredOAuthClient {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<SecretRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub client_credentials: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_metadata_url: Option<String>,
}

impl StoredOAuthClient {
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl ServerRecord {
    /// Every secret reference the definition holds.
    pub fn secrets(&self) -> Vec<SecretRef> {
        match &self.transport {
            ServerTransport::Stdio { env, .. } => env.values().cloned().collect(),
            ServerTransport::Http { headers, oauth, .. } => headers
                .values()
                .cloned()
                .chain(oauth.client_secret.clone())
                .collect(),
        }
    }
}

/// MCP server definitions.
pub trait ServerStore: Send + Sync {
    /// Adds or replaces the server of `record.name`; what it replaced (its references, for the
    /// caller to delete once this stands).
    fn put_server(&self, record: &ServerRecord, now_ms: i64) -> Result<Removed, CatalogError>;

    fn server(&self, name: &str) -> Result<Option<ServerRecord>, CatalogError>;

    /// Every server, by name.
    fn servers(&self) -> Result<Vec<ServerRecord>, CatalogError>;

    /// Removes a server; what it held.
    fn delete_server(&self, name: &str) -> Result<Removed, CatalogError>;
}
