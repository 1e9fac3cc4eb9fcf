//! MCP servers: the definition goes to the server store without its secret values, which go
//! to the [`SecretStore`](crate::secrets::SecretStore); reading fetches them back.

use std::collections::BTreeMap;

use super::{now_ms, Catalog, CatalogError};
use crate::mcp::OAuthClientSettings;
use crate::mcp_import::{McpServerDef, McpTransport};
use crate::secret::Secret;
use crate::secrets::SecretRef;
use crate::stores::{Removed, ServerRecord, ServerTransport, StoredOAuthClient};

impl Catalog {
    /// Adds or replaces a server. Every env and header value goes to the secret store first;
    /// the store keeps the references; the replaced definition's secrets are deleted after the
    /// row is committed, so a failure leaves at worst an orphaned secret, never a dangling ref.
    pub fn put_server(&self, def: &McpServerDef) -> Result<(), CatalogError> {
        if def.name.trim().is_empty() {
            return Err(CatalogError::Invalid {
                what: "an MCP server needs a name".into(),
            });
        }
        let mut refs = BTreeMap::new();
        let mut client_secret = None;
        let stored = self
            .store_secrets(def, &mut refs)
            .and_then(|()| self.store_client_secret(def, &mut client_secret));
        if let Err(e) = stored {
            self.delete_refs(refs.values().chain(&client_secret));
            return Err(e);
        }
        let transport = match &def.transport {
            McpTransport::Stdio {
                command, args, cwd, ..
            } => ServerTransport::Stdio {
                command: command.clone(),
                args: args.clone(),
                cwd: cwd.clone(),
                env: refs.clone(),
            },
            McpTransport::Http { url, oauth, .. } => ServerTransport::Http {
                url: url.clone(),
                headers: refs.clone(),
                oauth: StoredOAuthClient {
                    client_id: oauth.client_id.clone(),
                    client_secret: client_secret.clone(),
                    scopes: oauth.scopes.clone(),
                    client_credentials: oauth.client_credentials,
                    client_metadata_url: oauth.client_metadata_url.clone(),
                },
            },
        };
        let record = ServerRecord {
            name: def.name.clone(),
            transport,
        };
        match self.stores.servers.put_server(&record, now_ms()) {
            Ok(old) => {
                old.delete_values(self.secrets());
                Ok(())
            }
            Err(e) => {
                self.delete_refs(refs.values().chain(&client_secret));
                Err(e)
            }
        }
    }

    /// A server with its secret values fetched.
    pub fn server(&self, name: &str) -> Result<Option<McpServerDef>, CatalogError> {
        let record = self.stores.servers.server(name)?;
        record.map(|r| self.resolve(r)).transpose()
    }

    /// Every server, secrets fetched, sorted by name.
    pub fn servers(&self) -> Result<Vec<McpServerDef>, CatalogError> {
        let records = self.stores.servers.servers()?;
        records.into_iter().map(|r| self.resolve(r)).collect()
    }

    /// Every server whose secrets this machine holds, sorted by name, and why each other one
    /// cannot be used here. On a team database the servers are shared but each machine keeps
    /// its own secret values: a server added on another machine needs its values set here.
    pub fn servers_here(&self) -> Result<(Vec<McpServerDef>, Vec<String>), CatalogError> {
        let mut usable = Vec::new();
        let mut missing = Vec::new();
        for record in self.stores.servers.servers()? {
            let name = record.name.clone();
            match self.resolve(record) {
                Ok(def) => usable.push(def),
                Err(CatalogError::Secret(e)) => {
                    missing.push(format!("MCP server {name}: {e} on this machine"))
                }
                Err(other) => return Err(other),
            }
        }
        Ok((usable, missing))
    }

    /// Removes a server and its secrets; whether it existed.
    pub fn delete_server(&self, name: &str) -> Result<bool, CatalogError> {
        let old: Removed = self.stores.servers.delete_server(name)?;
        old.delete_values(self.secrets());
        Ok(old.existed)
    }

    fn store_secrets(
        &self,
        def: &McpServerDef,
        refs: &mut BTreeMap<String, SecretRef>,
    ) -> Result<(), CatalogError> {
        let (kind, values) = match &def.transport {
            McpTransport::Stdio { env, .. } => ("env", env),
            McpTransport::Http { headers, .. } => ("header", headers),
        };
        for (key, value) in values {
            let hint = format!("mcp.{}.{kind}.{key}", def.name);
            let r = self.secrets().put(&hint, value)?;
            refs.insert(key.clone(), r);
        }
        Ok(())
    }

    /// An HTTP server's OAuth client secret goes to the secret store like a header value.
    fn store_client_secret(
        &self,
        def: &McpServerDef,
        stored: &mut Option<SecretRef>,
    ) -> Result<(), CatalogError> {
        if let McpTransport::Http {
            oauth:
                OAuthClientSettings {
                    client_secret: Some(secret),
                    ..
                },
            ..
        } = &def.transport
        {
            let hint = format!("mcp.{}.oauth.client_secret", def.name);
            *stored = Some(self.secrets().put(&hint, secret)?);
        }
        Ok(())
    }

    /// Best effort: a secret left behind is harmless, and the caller's change already stands.
    fn delete_refs<'a>(&self, refs: impl Iterator<Item = &'a SecretRef>) {
        for r in refs {
            let _ = self.secrets().delete(r);
        }
    }

    /// Every server, for a listing: one whose secret values this machine lacks (a database
    /// copied or shared from another machine) is listed too, with empty values and why it
    /// cannot be used here, instead of failing the whole list.
    pub fn servers_listed(&self) -> Result<Vec<(McpServerDef, Option<String>)>, CatalogError> {
        let mut listed = Vec::new();
        for record in self.stores.servers.servers()? {
            match self.resolve(record.clone()) {
                Ok(def) => listed.push((def, None)),
                Err(CatalogError::Secret(e)) => {
                    let def = self.resolve_with(record, |_| Ok(Secret::new("")))?;
                    listed.push((def, Some(format!("{e} on this machine"))));
                }
                Err(other) => return Err(other),
            }
        }
        Ok(listed)
    }

    fn resolve(&self, record: ServerRecord) -> Result<McpServerDef, CatalogError> {
        self.resolve_with(record, |r| Ok(self.secrets().get(r)?))
    }

    /// The server `record` describes, each secret value read by `value`.
    fn resolve_with(
        &self,
        record: ServerRecord,
        value: impl Fn(&SecretRef) -> Result<Secret, CatalogError>,
    ) -> Result<McpServerDef, CatalogError> {
        let fetch =
            |m: &BTreeMap<String, SecretRef>| -> Result<BTreeMap<String, Secret>, CatalogError> {
                m.iter().map(|(k, r)| Ok((k.clone(), value(r)?))).collect()
            };
        let transport = match &record.transport {
            ServerTransport::Stdio {
                command,
                args,
                cwd,
                env,
            } => McpTransport::Stdio {
                command: command.clone(),
                args: args.clone(),
                env: fetch(env)?,
                cwd: cwd.clone(),
            },
            ServerTransport::Http {
                url,
                headers,
                oauth,
            } => McpTransport::Http {
                url: url.clone(),
                headers: fetch(headers)?,
                oauth: OAuthClientSettings {
                    client_id: oauth.client_id.clone(),
                    client_secret: oauth.client_secret.as_ref().map(&value).transpose()?,
                    scopes: oauth.scopes.clone(),
                    client_credentials: oauth.client_credentials,
                    client_metadata_url: oauth.client_metadata_url.clone(),
                },
            },
        };
        Ok(McpServerDef {
            name: record.name,
            transport,
        })
    }
}
