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
    },
}

impl ServerRecord {
    /// Every secret reference the definition holds.
    pub fn secrets(&self) -> Vec<SecretRef> {
        match &self.transport {
            ServerTransport::Stdio { env, .. } => env.values().cloned().collect(),
            ServerTransport::Http { headers, .. } => headers.values().cloned().collect(),
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
