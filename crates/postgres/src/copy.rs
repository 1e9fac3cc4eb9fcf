//! `waymark db copy --to postgres://…`: a local database moved to a team one. Every table that
//! holds the user's work (runs and their journals, payloads, agents, MCP servers, settings,
//! memory, trigger state) is copied row for row in one PostgreSQL transaction, then read back
//! and compared table by table (row counts and a digest of every value) before it commits: a
//! copy that does not match is rolled back and leaves the team database as it was.
//!
//! Secret values never move: rows hold references into this machine's keychain or secrets
//! file, and the report lists them, so each other machine can be given its own values.

use std::collections::BTreeMap;
use std::path::Path;

use postgres::types::ToSql;
use postgres::Transaction;
use rusqlite::types::ValueRef;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use waymark_engine::store::journal::{Arg, Cell};
use waymark_engine::StoreError;

use crate::db::{cells, Bound};
use crate::errors::db_err;
use crate::{schema, Connector, PgConfig};

/// The tables copied, parents before the rows that refer to them. `counters` and `workers`
/// belong to the team database itself (event numbering, who is running where).
const TABLES: &[&str] = &[
    "runs",
    "steps",
    "attempts",
    "events",
    "external_events",
    "blobs",
    "agent_spec_versions",
    "agent_specs",
    "mcp_servers",
    "agent_memory",
    "provider_keys",
    "trigger_state",
    "webhook_secrets",
    "provider_settings",
    "env_key_hosts",
    "app_settings",
];

/// Tables a new team database fills with defaults: replaced by the copy's rows.
const DEFAULTED: &[&str] = &["env_key_hosts", "app_settings"];

/// Rows inserted per statement.
const ROWS_PER_INSERT: usize = 100;

/// What a copy did: every table's rows and digest (the same on both sides, or there is no
/// copy), and the secret references each machine needs a value for.
#[derive(Debug, Serialize)]
pub struct CopyReport {
    /// The team database, without a password.
    pub to: String,
    pub tables: Vec<TableCopy>,
    /// Secret references in the copied rows. This machine's keychain (or secrets file) has
    /// them; every other machine that runs these agents needs its own value.
    pub secret_refs: Vec<SecretUse>,
}

#[derive(Debug, Serialize)]
pub struct TableCopy {
    pub table: String,
    pub rows: u64,
    /// SHA-256 over the sorted digests of the rows' values, as read back from the team
    /// database (equal to the source's).
    pub sha256: String,
}

#[derive(Debug, Serialize)]
pub struct SecretUse {
    /// What holds the reference: `mcp server NAME`, `provider key NAME`, `webhook NAME`.
    pub owner: String,
    /// Where in it: an environment variable, a header, an OAuth client secret.
    pub field: String,
    /// The reference (`keyring:<id>` or `file:<id>`); never a value.
    pub reference: String,
}

/// A table's rows and digest while they are counted.
#[derive(Default)]
struct Tally {
    rows: u64,
    row_digests: Vec<[u8; 32]>,
}

impl Tally {
    fn add(&mut self, row: &[Cell]) {
        self.rows += 1;
        self.row_digests.push(row_digest(row));
    }

    /// Order-free, so the two sides need not sort rows alike (collations differ).
    fn digest(mut self) -> (u64, String) {
        self.row_digests.sort_unstable();
        let mut hasher = Sha256::new();
        for d in &self.row_digests {
            hasher.update(d);
        }
        let hex = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        (self.rows, hex)
    }
}

/// Every value with its kind and length, so no two different rows encode alike.
fn row_digest(row: &[Cell]) -> [u8; 32] {
    let mut h = Sha256::new();
    for cell in row {
        let (tag, bytes): (u8, Vec<u8>) = match cell {
            Cell::Null => (0, Vec::new()),
            Cell::Int(v) => (1, v.to_le_bytes().to_vec()),
            Cell::Bool(v) => (1, i64::from(*v).to_le_bytes().to_vec()),
            Cell::Real(v) => (2, v.to_le_bytes().to_vec()),
            Cell::Text(t) => (3, t.as_bytes().to_vec()),
            Cell::Bytes(b) => (4, b.clone()),
        };
        h.update([tag]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    h.finalize().into()
}

fn copy_err(to: &str, detail: String) -> StoreError {
    StoreError::Conflict(format!("copying to {to}: {detail}"))
}

/// Copies the SQLite database at `source` (already at this build's schema: open it once first)
/// into the empty team database `url`. `now_ms` judges which runs a worker holds right now:
/// those are refused, since two workers on two databases would both run them.
pub fn copy_sqlite_to_postgres(
    source: &Path,
    url: &str,
    config: &PgConfig,
    now_ms: i64,
) -> Result<CopyReport, StoreError> {
    let (connector, mut conn) = Connector::first_connection(url, config)?;
    let to = connector.location.clone();
    let sqlite = rusqlite::Connection::open_with_flags(
        source,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Open {
        path: source.display().to_string(),
        detail: e.to_string(),
    })?;
    let source_err = |e: rusqlite::Error| StoreError::Open {
        path: source.display().to_string(),
        detail: e.to_string(),
    };
    // One snapshot of the source, however busy its own workers are.
    sqlite.execute_batch("BEGIN").map_err(source_err)?;
    let held: i64 = sqlite
        .query_row(
            "SELECT count(*) FROM runs WHERE lease_owner IS NOT NULL AND lease_expires_at > ?1 \
             AND status IN ('queued', 'running', 'waiting')",
            [now_ms],
            |r| r.get(0),
        )
        .map_err(source_err)?;
    if held > 0 {
        return Err(copy_err(
            &to,
            format!(
                "{held} run(s) are held by a worker on this machine right now: stop the app, \
                 `waymark serve` and `waymark worker` on this database first (a stopped \
                 worker's leases end within a minute), then copy"
            ),
        ));
    }

    schema::migrate(&mut conn.client, &to)?;
    let mut tx = conn.client.transaction().map_err(db_err)?;
    // Every writer of the team database takes this row first: none commits during the copy.
    tx.batch_execute("SELECT value FROM counters WHERE name = 'events' FOR UPDATE")
        .map_err(db_err)?;
    refuse_unless_empty(&mut tx, &to)?;
    for table in DEFAULTED {
        tx.batch_execute(&format!("DELETE FROM {table}"))
            .map_err(db_err)?;
    }

    let mut tables = Vec::new();
    for table in TABLES {
        let columns = columns_of(&mut tx, table)?;
        let source_tally = copy_table(&sqlite, &mut tx, table, &columns, &to)?;
        let copied_tally = read_back(&mut tx, table, &columns)?;
        let (rows, sha256) = source_tally.digest();
        let (copied_rows, copied_sha) = copied_tally.digest();
        if (rows, &sha256) != (copied_rows, &copied_sha) {
            return Err(copy_err(
                &to,
                format!(
                    "{table} did not copy faithfully ({rows} row(s) read, {copied_rows} \
                     written; digests {sha256:.12} and {copied_sha:.12}); nothing was committed"
                ),
            ));
        }
        tables.push(TableCopy {
            table: table.to_string(),
            rows,
            sha256,
        });
    }
    // Numbers handed out from now on follow the copied ones.
    tx.batch_execute(
        "UPDATE counters SET value = (SELECT COALESCE(max(global_seq), 0) FROM events) \
             WHERE name = 'events';
         SELECT setval(pg_get_serial_sequence('external_events', 'id'), \
             (SELECT COALESCE(max(id), 0) + 1 FROM external_events), false);
         SELECT setval(pg_get_serial_sequence('agent_spec_versions', 'rowid'), \
             (SELECT COALESCE(max(rowid), 0) + 1 FROM agent_spec_versions), false);",
    )
    .map_err(db_err)?;
    let secret_refs = secret_uses(&sqlite).map_err(source_err)?;
    tx.commit().map_err(db_err)?;
    Ok(CopyReport {
        to,
        tables,
        secret_refs,
    })
}

/// A copy goes into an empty team database only: merging two histories is not a copy.
fn refuse_unless_empty(tx: &mut Transaction<'_>, to: &str) -> Result<(), StoreError> {
    let row = tx
        .query_one(
            "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM agent_specs), \
             (SELECT count(*) FROM mcp_servers), (SELECT count(*) FROM events)",
            &[],
        )
        .map_err(db_err)?;
    let (runs, agents, servers, events): (i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    if runs + agents + servers + events > 0 {
        return Err(copy_err(
            to,
            format!(
                "the team database is not empty ({runs} run(s), {agents} agent(s), {servers} \
                 MCP server(s)): copy into a new database"
            ),
        ));
    }
    Ok(())
}

/// The team database's columns of `table`, in order: the source is read by the same names.
fn columns_of(tx: &mut Transaction<'_>, table: &str) -> Result<Vec<String>, StoreError> {
    let rows = tx
        .query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            &[&table],
        )
        .map_err(db_err)?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

fn cell_of(value: ValueRef<'_>) -> Result<Cell, String> {
    Ok(match value {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(v) => Cell::Int(v),
        ValueRef::Real(v) => Cell::Real(v),
        ValueRef::Text(t) => Cell::Text(
            std::str::from_utf8(t)
                .map_err(|_| "a text value is not UTF-8".to_string())?
                .to_string(),
        ),
        ValueRef::Blob(b) => Cell::Bytes(b.to_vec()),
    })
}

fn arg_of(cell: &Cell) -> Result<Arg<'_>, String> {
    Ok(match cell {
        Cell::Null => Arg::Null,
        Cell::Int(v) => Arg::Int(*v),
        Cell::Bool(v) => Arg::Int(i64::from(*v)),
        Cell::Real(v) => return Err(format!("a real number ({v}) where the schema has none")),
        Cell::Text(t) => Arg::Text(t.as_str().into()),
        Cell::Bytes(b) => Arg::Bytes(b),
    })
}

/// Streams `table` from the source into the team database; the source's tally.
fn copy_table(
    sqlite: &rusqlite::Connection,
    tx: &mut Transaction<'_>,
    table: &str,
    columns: &[String],
    to: &str,
) -> Result<Tally, StoreError> {
    let source_err = |detail: String| StoreError::Open {
        path: format!("the local database's {table}"),
        detail,
    };
    let list = columns.join(", ");
    let mut stmt = sqlite
        .prepare(&format!("SELECT {list} FROM {table}"))
        .map_err(|e| source_err(e.to_string()))?;
    let mut rows = stmt.query([]).map_err(|e| source_err(e.to_string()))?;
    let mut tally = Tally::default();
    let mut batch: Vec<Vec<Cell>> = Vec::with_capacity(ROWS_PER_INSERT);
    while let Some(row) = rows.next().map_err(|e| source_err(e.to_string()))? {
        let cells = (0..columns.len())
            .map(|i| {
                let value = row.get_ref(i).map_err(|e| e.to_string())?;
                cell_of(value).map_err(|e| format!("column {}: {e}", columns[i]))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(source_err)?;
        tally.add(&cells);
        batch.push(cells);
        if batch.len() == ROWS_PER_INSERT {
            insert_rows(tx, table, columns, &batch, to)?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        insert_rows(tx, table, columns, &batch, to)?;
    }
    Ok(tally)
}

fn insert_rows(
    tx: &mut Transaction<'_>,
    table: &str,
    columns: &[String],
    batch: &[Vec<Cell>],
    to: &str,
) -> Result<(), StoreError> {
    let width = columns.len();
    let groups: Vec<String> = (0..batch.len())
        .map(|r| {
            let marks: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    // `agent_spec_versions.rowid` is an identity the database would otherwise number itself.
    let overriding = if table == "agent_spec_versions" {
        " OVERRIDING SYSTEM VALUE"
    } else {
        ""
    };
    let sql = format!(
        "INSERT INTO {table} ({}){overriding} VALUES {}",
        columns.join(", "),
        groups.join(", ")
    );
    let args = batch
        .iter()
        .flat_map(|row| row.iter().zip(columns))
        .map(|(cell, column)| arg_of(cell).map_err(|e| format!("{table}.{column}: {e}")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| copy_err(to, e))?;
    let bound: Vec<Bound<'_>> = args.iter().map(Bound).collect();
    let params: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|b| b as &(dyn ToSql + Sync)).collect();
    tx.execute(&sql, &params).map_err(|e| {
        let e = db_err(e);
        copy_err(to, format!("writing {table}: {e}"))
    })?;
    Ok(())
}

/// The team database's rows of `table` as the copy left them, read in pages (a cursor inside
/// the copy's transaction).
fn read_back(
    tx: &mut Transaction<'_>,
    table: &str,
    columns: &[String],
) -> Result<Tally, StoreError> {
    let statement = tx
        .prepare(&format!("SELECT {} FROM {table}", columns.join(", ")))
        .map_err(db_err)?;
    let portal = tx.bind(&statement, &[]).map_err(db_err)?;
    let mut tally = Tally::default();
    loop {
        let page = tx.query_portal(&portal, 1000).map_err(db_err)?;
        for row in &page {
            tally.add(&cells(row)?.0);
        }
        if page.len() < 1000 {
            return Ok(tally);
        }
    }
}

/// Every secret reference in the source's rows, and what holds it.
fn secret_uses(sqlite: &rusqlite::Connection) -> Result<Vec<SecretUse>, rusqlite::Error> {
    let mut uses = Vec::new();
    let mut servers = sqlite.prepare("SELECT name, secrets_json FROM mcp_servers ORDER BY name")?;
    let rows = servers.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (name, json) = row?;
        let mut found = BTreeMap::new();
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&json) {
            references_in(&value, String::new(), &mut found);
        }
        uses.extend(found.into_iter().map(|(field, reference)| SecretUse {
            owner: format!("mcp server {name}"),
            field,
            reference,
        }));
    }
    for (table, key, owner) in [
        ("provider_keys", "provider", "provider key"),
        ("webhook_secrets", "name", "webhook"),
    ] {
        let mut stmt = sqlite.prepare(&format!(
            "SELECT {key}, secret_ref FROM {table} ORDER BY {key}"
        ))?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (name, reference) = row?;
            uses.push(SecretUse {
                owner: format!("{owner} {name}"),
                field: "secret".into(),
                reference,
            });
        }
    }
    Ok(uses)
}

/// The string leaves of `value` that are secret references, by their path (`env.TOKEN`).
fn references_in(value: &serde_json::Value, path: String, out: &mut BTreeMap<String, String>) {
    match value {
        serde_json::Value::String(s) if s.starts_with("keyring:") || s.starts_with("file:") => {
            out.insert(path, s.clone());
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let sub = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                references_in(v, sub, out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                references_in(v, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}
