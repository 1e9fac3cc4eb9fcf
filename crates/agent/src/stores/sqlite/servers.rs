//! [`ServerStore`] on SQLite: `mcp_servers`, the secret references as JSON in `secrets_json`.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension, Row, Transaction};
use serde::{Deserialize, Serialize};

use super::SqliteAgentStore;
use crate::catalog::CatalogError;
use crate::secrets::SecretRef;
use crate::stores::{Removed, ServerRecord, ServerStore, ServerTransport, StoredOAuthClient};

/// What `secrets_json` holds: names to references, and an HTTP server's sign-in settings (whose
/// client secret is a reference too).
#[derive(Default, Serialize, Deserialize)]
struct SecretRefs {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    env: BTreeMap<String, SecretRef>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<String, SecretRef>,
    #[serde(default, skip_serializing_if = "StoredOAuthClient::is_default")]
    oauth: StoredOAuthClient,
}

impl SecretRefs {
    fn into_all(self) -> Vec<SecretRef> {
        self.env
            .into_values()
            .chain(self.headers.into_values())
            .chain(self.oauth.client_secret)
            .collect()
    }
}

/// A row as read, before it is decoded.
struct Row7 {
    name: String,
    transport: String,
    command: Option<String>,
    args_json: Option<String>,
    cwd: Option<String>,
    url: Option<String>,
    secrets_json: String,
}

const COLUMNS: &str = "name, transport, command, args_json, cwd, url, secrets_json";

fn row(r: &Row<'_>) -> rusqlite::Result<Row7> {
    Ok(Row7 {
        name: r.get(0)?,
        transport: r.get(1)?,
        command: r.get(2)?,
        args_json: r.get(3)?,
        cwd: r.get(4)?,
        url: r.get(5)?,
        secrets_json: r.get(6)?,
    })
}

fn decode(row: Row7) -> Result<ServerRecord, CatalogError> {
    let corrupt = |field: &str, detail: String| CatalogError::Corrupt {
        what: format!("mcp_servers row {:?}, {field}: {detail}", row.name),
    };
    let refs: SecretRefs = serde_json::from_str(&row.secrets_json)
        .map_err(|e| corrupt("secrets_json", e.to_string()))?;
    let transport = match row.transport.as_str() {
        "stdio" => ServerTransport::Stdio {
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
            cwd: row.cwd.clone(),
            env: refs.env,
        },
        "http" => ServerTransport::Http {
            url: row
                .url
                .clone()
                .ok_or_else(|| corrupt("url", "missing".into()))?,
            headers: refs.headers,
            oauth: refs.oauth,
        },
        other => return Err(corrupt("transport", format!("unknown {other:?}"))),
    };
    Ok(ServerRecord {
        name: row.name,
        transport,
    })
}

/// The references of the row `name` holds, as far as they read; `None` without a row.
fn old_refs(tx: &Transaction<'_>, name: &str) -> rusqlite::Result<Option<Vec<SecretRef>>> {
    let old: Option<String> = tx
        .query_row(
            "SELECT secrets_json FROM mcp_servers WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    Ok(old.map(|o| {
        serde_json::from_str::<SecretRefs>(&o)
            .map(SecretRefs::into_all)
            .unwrap_or_default()
    }))
}

fn removed(old: Option<Vec<SecretRef>>) -> Removed {
    Removed {
        existed: old.is_some(),
        secrets: old.unwrap_or_default(),
    }
}

impl ServerStore for SqliteAgentStore {
    fn put_server(&self, record: &ServerRecord, now_ms: i64) -> Result<Removed, CatalogError> {
        let mut refs = SecretRefs::default();
        let (transport, command, args_json, cwd, url) = match &record.transport {
            ServerTransport::Stdio {
                command,
                args,
                cwd,
                env,
            } => {
                refs.env = env.clone();
                let args = serde_json::to_string(args).map_err(|e| CatalogError::Corrupt {
                    what: format!("server {} args: {e}", record.name),
                })?;
                (
                    "stdio",
                    Some(command.as_str()),
                    Some(args),
                    cwd.as_deref(),
                    None,
                )
            }
            ServerTransport::Http {
                url,
                headers,
                oauth,
            } => {
                refs.headers = headers.clone();
                refs.oauth = oauth.clone();
                ("http", None, None, None, Some(url.as_str()))
            }
        };
        let secrets_json = serde_json::to_string(&refs).map_err(|e| CatalogError::Corrupt {
            what: format!("server {} secret references: {e}", record.name),
        })?;
        self.write(|tx| {
            let old = old_refs(tx, &record.name)?;
            tx.execute(
                "INSERT INTO mcp_servers
                    (name, transport, command, args_json, cwd, url, secrets_json, created_at_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
                 ON CONFLICT(name) DO UPDATE SET
                    transport = excluded.transport, command = excluded.command,
                    args_json = excluded.args_json, cwd = excluded.cwd, url = excluded.url,
                    secrets_json = excluded.secrets_json, updated_at_ms = excluded.updated_at_ms",
                params![record.name, transport, command, args_json, cwd, url, secrets_json, now_ms],
            )?;
            Ok(removed(old))
        })
    }

    fn server(&self, name: &str) -> Result<Option<ServerRecord>, CatalogError> {
        let found = self.read(|c| {
            Ok::<_, CatalogError>(
                c.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM mcp_servers WHERE name = ?1"
                ))?
                .query_row([name], row)
                .optional()?,
            )
        })?;
        found.map(decode).transpose()
    }

    fn servers(&self) -> Result<Vec<ServerRecord>, CatalogError> {
        let rows = self.read(|c| {
            let mut stmt =
                c.prepare_cached(&format!("SELECT {COLUMNS} FROM mcp_servers ORDER BY name"))?;
            let rows = stmt.query_map([], row)?;
            Ok::<_, CatalogError>(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        rows.into_iter().map(decode).collect()
    }

    fn delete_server(&self, name: &str) -> Result<Removed, CatalogError> {
        self.write(|tx| {
            let old = old_refs(tx, name)?;
            tx.execute("DELETE FROM mcp_servers WHERE name = ?1", [name])?;
            Ok(removed(old))
        })
    }
}
