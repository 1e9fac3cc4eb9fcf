//! [`ServerStore`]: `mcp_servers`, the secret references as JSON in `secrets_json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use waymark_engine::journal_args as args;
use waymark_engine::store::journal::{Db, Row};
use waymark_engine::StoreError;

use super::SqlAgentStore;
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

fn row(r: &Row) -> Result<Row7, StoreError> {
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
fn old_refs(db: &mut dyn Db, name: &str) -> Result<Option<Vec<SecretRef>>, StoreError> {
    let old: Option<String> = db
        .query_opt(
            "SELECT secrets_json FROM mcp_servers WHERE name = ?1",
            args![name],
        )?
        .map(|r| r.get(0))
        .transpose()?;
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

impl ServerStore for SqlAgentStore {
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
        self.write(|db| {
            let old = old_refs(db, &record.name)?;
            db.execute(
                "INSERT INTO mcp_servers
                    (name, transport, command, args_json, cwd, url, secrets_json, created_at_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
                 ON CONFLICT(name) DO UPDATE SET
                    transport = excluded.transport, command = excluded.command,
                    args_json = excluded.args_json, cwd = excluded.cwd, url = excluded.url,
                    secrets_json = excluded.secrets_json, updated_at_ms = excluded.updated_at_ms",
                args![record.name.as_str(), transport, command, args_json, cwd, url, secrets_json, now_ms],
            )?;
            Ok::<_, CatalogError>(removed(old))
        })
    }

    fn server(&self, name: &str) -> Result<Option<ServerRecord>, CatalogError> {
        let found = self.read(|db| {
            let r = db.query_opt(
                &format!("SELECT {COLUMNS} FROM mcp_servers WHERE name = ?1"),
                args![name],
            )?;
            Ok::<_, CatalogError>(r.map(|r| row(&r)).transpose()?)
        })?;
        found.map(decode).transpose()
    }

    fn servers(&self) -> Result<Vec<ServerRecord>, CatalogError> {
        let rows = self.read(|db| {
            db.query(
                &format!("SELECT {COLUMNS} FROM mcp_servers ORDER BY name"),
                &[],
            )?
            .iter()
            .map(|r| Ok::<_, CatalogError>(row(r)?))
            .collect::<Result<Vec<_>, _>>()
        })?;
        rows.into_iter().map(decode).collect()
    }

    fn delete_server(&self, name: &str) -> Result<Removed, CatalogError> {
        self.write(|db| {
            let old = old_refs(db, name)?;
            db.execute("DELETE FROM mcp_servers WHERE name = ?1", args![name])?;
            Ok::<_, CatalogError>(removed(old))
        })
    }
}
