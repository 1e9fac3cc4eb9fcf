//! MCP server rows: the definition without its secret values, which go to the [`SecretStore`].

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::{now_ms, Catalog, CatalogError};
use crate::mcp_import::{McpServerDef, McpTransport};
use crate::secret::Secret;
use crate::secrets::{SecretRef, SecretStore};

/// What the row keeps in place of the values: names to references.
#[derive(Default, Serialize, Deserialize)]
struct SecretRefs {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    env: BTreeMap<String, SecretRef>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<String, SecretRef>,
}

impl SecretRefs {
    fn all(&self) -> impl Iterator<Item = &SecretRef> {
        self.env.values().chain(self.headers.values())
    }
}

/// A row as read, before its secrets are fetched.
struct StoredServer {
    name: String,
    transport: String,
    command: Option<String>,
    args_json: Option<String>,
    cwd: Option<String>,
    url: Option<String>,
    secrets_json: String,
}

const COLUMNS: &str = "name, transport, command, args_json, cwd, url, secrets_json";

fn stored(row: &Row<'_>) -> rusqlite::Result<StoredServer> {
    Ok(StoredServer {
        name: row.get(0)?,
        transport: row.get(1)?,
        command: row.get(2)?,
        args_json: row.get(3)?,
        cwd: row.get(4)?,
        url: row.get(5)?,
        secrets_json: row.get(6)?,
    })
}

impl Catalog {
    /// Adds or replaces a server. Every env and header value goes to the secret store first;
    /// the row keeps the references; the replaced definition's secrets are deleted after the
    /// row is committed, so a failure leaves at worst an orphaned secret, never a dangling ref.
    pub fn put_server(&self, def: &McpServerDef) -> Result<(), CatalogError> {
        if def.name.trim().is_empty() {
            return Err(CatalogError::Invalid {
                what: "an MCP server needs a name".into(),
            });
        }
        let mut refs = SecretRefs::default();
        let stored = self.store_secrets(def, &mut refs);
        if let Err(e) = stored {
            self.delete_refs(refs.all());
            return Err(e);
        }
        let (transport, command, args_json, cwd, url) = match &def.transport {
            McpTransport::Stdio {
                command, args, cwd, ..
            } => (
                "stdio",
                Some(command.as_str()),
                Some(
                    serde_json::to_string(args).map_err(|e| CatalogError::Corrupt {
                        what: format!("server {} args: {e}", def.name),
                    })?,
                ),
                cwd.as_deref(),
                None,
            ),
            McpTransport::Http { url, .. } => ("http", None, None, None, Some(url.as_str())),
        };
        let secrets_json = serde_json::to_string(&refs).map_err(|e| CatalogError::Corrupt {
            what: format!("server {} secret references: {e}", def.name),
        })?;
        let written = self.with_tx(|tx| {
            let old: Option<String> = tx
                .query_row(
                    "SELECT secrets_json FROM mcp_servers WHERE name = ?1",
                    [&def.name],
                    |r| r.get(0),
                )
                .optional()?;
            let now = now_ms();
            tx.execute(
                "INSERT INTO mcp_servers
                    (name, transport, command, args_json, cwd, url, secrets_json, created_at_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
                 ON CONFLICT(name) DO UPDATE SET
                    transport = excluded.transport, command = excluded.command,
                    args_json = excluded.args_json, cwd = excluded.cwd, url = excluded.url,
                    secrets_json = excluded.secrets_json, updated_at_ms = excluded.updated_at_ms",
                params![def.name, transport, command, args_json, cwd, url, secrets_json, now],
            )?;
            Ok(old)
        });
        match written {
            Ok(old) => {
                if let Some(old) = old.and_then(|o| serde_json::from_str::<SecretRefs>(&o).ok()) {
                    self.delete_refs(old.all());
                }
                Ok(())
            }
            Err(e) => {
                self.delete_refs(refs.all());
                Err(e)
            }
        }
    }

    /// A server with its secret values fetched.
    pub fn server(&self, name: &str) -> Result<Option<McpServerDef>, CatalogError> {
        let row = self.with_conn(|c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM mcp_servers WHERE name = ?1"),
                [name],
                stored,
            )
            .optional()
        })?;
        row.map(|r| self.resolve(r)).transpose()
    }

    /// Every server, secrets fetched, sorted by name.
    pub fn servers(&self) -> Result<Vec<McpServerDef>, CatalogError> {
        let rows = self.with_conn(|c| {
            let mut stmt =
                c.prepare(&format!("SELECT {COLUMNS} FROM mcp_servers ORDER BY name"))?;
            let rows = stmt.query_map([], stored)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter().map(|r| self.resolve(r)).collect()
    }

    /// Removes a server and its secrets; whether it existed.
    pub fn delete_server(&self, name: &str) -> Result<bool, CatalogError> {
        let old = self.with_tx(|tx| {
            let old: Option<String> = tx
                .query_row(
                    "SELECT secrets_json FROM mcp_servers WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()?;
            tx.execute("DELETE FROM mcp_servers WHERE name = ?1", [name])?;
            Ok(old)
        })?;
        match old {
            Some(old) => {
                if let Ok(refs) = serde_json::from_str::<SecretRefs>(&old) {
                    self.delete_refs(refs.all());
                }
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn store_secrets(&self, def: &McpServerDef, refs: &mut SecretRefs) -> Result<(), CatalogError> {
        let (kind, values, into) = match &def.transport {
            McpTransport::Stdio { env, .. } => ("env", env, &mut refs.env),
            McpTransport::Http { headers, .. } => ("header", headers, &mut refs.headers),
        };
        for (key, value) in values {
            let hint = format!("mcp.{}.{kind}.{key}", def.name);
            let r = self.secrets.put(&hint, value)?;
            into.insert(key.clone(), r);
        }
        Ok(())
    }

    /// Best effort: a secret left behind is harmless, and the caller's change already stands.
    fn delete_refs<'a>(&self, refs: impl Iterator<Item = &'a SecretRef>) {
        for r in refs {
            let _ = self.secrets.delete(r);
        }
    }

    fn resolve(&self, row: StoredServer) -> Result<McpServerDef, CatalogError> {
        let corrupt = |field: &str, detail: String| CatalogError::Corrupt {
            what: format!("mcp_servers row {:?}, {field}: {detail}", row.name),
        };
        let refs: SecretRefs = serde_json::from_str(&row.secrets_json)
            .map_err(|e| corrupt("secrets_json", e.to_string()))?;
        let fetch =
            |m: &BTreeMap<String, SecretRef>| -> Result<BTreeMap<String, Secret>, CatalogError> {
                m.iter()
                    .map(|(k, r)| Ok((k.clone(), resolve_one(&self.secrets, r)?)))
                    .collect()
            };
        let transport = match row.transport.as_str() {
            "stdio" => McpTransport::Stdio {
                command: row
                    .command
                    .clone()
                    .ok_or_else(|| corrupt("command", "missing".into()))?,
                args: match &row.args_json {
                    Some(a) => {
                        serde_json::from_str(a).map_err(|e| corrupt("args_json", e.to_string()))?
                    }
                    None => Vec::new(),
                },
                env: fetch(&refs.env)?,
                cwd: row.cwd.clone(),
            },
            "http" => McpTransport::Http {
                url: row
                    .url
                    .clone()
                    .ok_or_else(|| corrupt("url", "missing".into()))?,
                headers: fetch(&refs.headers)?,
            },
            other => return Err(corrupt("transport", format!("unknown {other:?}"))),
        };
        Ok(McpServerDef {
            name: row.name,
            transport,
        })
    }
}

fn resolve_one(store: &SecretStore, r: &SecretRef) -> Result<Secret, CatalogError> {
    Ok(store.get(r)?)
}
