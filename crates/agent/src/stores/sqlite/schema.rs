//! The agent stores' tables, in the engine's database file. The engine numbers its own migrations
//! with `PRAGMA user_version`; these are numbered separately in `agent_schema`, so either side
//! can upgrade without knowing the other.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::catalog::CatalogError;

const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE agent_spec_versions (
        hash TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        spec_json TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL
    );
    CREATE INDEX agent_spec_versions_by_name ON agent_spec_versions(name, created_at_ms);

    CREATE TABLE agent_specs (
        name TEXT PRIMARY KEY,
        description TEXT NOT NULL,
        hash TEXT NOT NULL REFERENCES agent_spec_versions(hash),
        created_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL
    );

    -- Secret values are not here: `secrets_json` maps env/header names to secret references.
    CREATE TABLE mcp_servers (
        name TEXT PRIMARY KEY,
        transport TEXT NOT NULL CHECK (transport IN ('stdio', 'http')),
        command TEXT,
        args_json TEXT,
        cwd TEXT,
        url TEXT,
        secrets_json TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL
    );

    -- `seq` orders entries written within the same millisecond.
    CREATE TABLE agent_memory (
        agent TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (agent, key)
    );
    CREATE INDEX agent_memory_newest ON agent_memory(agent, seq);
    "#,
    r#"
    -- Model providers' API keys: the reference only; the value is in the secret store.
    CREATE TABLE provider_keys (
        provider TEXT PRIMARY KEY,
        secret_ref TEXT NOT NULL,
        updated_at_ms INTEGER NOT NULL
    );
    "#,
    r#"
    -- Cron triggers: the last tick each one fired (at first, when it was first seen), so a
    -- restart neither repeats a tick nor replays every one it missed.
    CREATE TABLE trigger_state (
        agent TEXT NOT NULL,
        trigger_key TEXT NOT NULL,
        last_fire_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL,
        PRIMARY KEY (agent, trigger_key)
    );

    -- Webhook secrets by the name a spec's `secret_ref` gives: the reference only; the value
    -- is in the secret store.
    CREATE TABLE webhook_secrets (
        name TEXT PRIMARY KEY,
        secret_ref TEXT NOT NULL,
        updated_at_ms INTEGER NOT NULL
    );
    "#,
    r#"
    -- Where each model provider is reached when a spec names no base URL (a proxy, a
    -- gateway, a local server). Keys are not here: see provider_keys.
    CREATE TABLE provider_settings (
        provider TEXT PRIMARY KEY,
        base_url TEXT NOT NULL,
        updated_at_ms INTEGER NOT NULL
    );
    "#,
    r#"
    -- Where an API key read from an environment variable may be sent: (variable, host or
    -- host:port) pairs the user allowed; the built-in ones (key_hosts::BUILTIN_ENV_KEY_HOSTS)
    -- are seeded here and may be removed. Never a key's value.
    CREATE TABLE env_key_hosts (
        variable TEXT NOT NULL,
        host TEXT NOT NULL,
        builtin INTEGER NOT NULL DEFAULT 0,
        updated_at_ms INTEGER NOT NULL,
        PRIMARY KEY (variable, host)
    );
    INSERT INTO env_key_hosts (variable, host, builtin, updated_at_ms) VALUES
        ('OPENAI_API_KEY', 'api.openai.com', 1, 0),
        ('ANTHROPIC_API_KEY', 'api.anthropic.com', 1, 0),
        ('OPENROUTER_API_KEY', 'openrouter.ai', 1, 0);
    "#,
    r#"
    -- App settings by name (the desktop app's webhook port, ...): plain values, never secrets.
    CREATE TABLE app_settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at_ms INTEGER NOT NULL
    );
    "#,
];

pub const LATEST: i64 = MIGRATIONS.len() as i64;

pub(super) fn migrate(conn: &mut Connection) -> Result<(), CatalogError> {
    // Immediate: two processes opening a fresh file at once must not both apply a migration.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS agent_schema (version INTEGER NOT NULL)")?;
    let found: Option<i64> = tx
        .query_row("SELECT max(version) FROM agent_schema", [], |r| r.get(0))
        .optional()?
        .flatten();
    let found = found.unwrap_or(0);
    if found > LATEST {
        return Err(CatalogError::Corrupt {
            what: format!(
                "the agent catalog's schema is version {found}, newer than Waymark {} knows ({LATEST}); nothing was written to it: open it with a newer Waymark",
                waymark_engine::APP_VERSION
            ),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql)?;
        let version = i as i64 + 1;
        tx.execute("DELETE FROM agent_schema", [])?;
        tx.execute("INSERT INTO agent_schema (version) VALUES (?1)", [version])?;
    }
    tx.commit()?;
    Ok(())
}

/// The agent catalog's schema version in the database file at `path`, read without writing:
/// 0 when the file or its catalog does not exist yet.
pub fn version_of_file(path: &std::path::Path) -> Result<i64, CatalogError> {
    if !path.exists() {
        return Ok(0);
    }
    let conn = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let exists: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'agent_schema'",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(0);
    }
    let found: Option<i64> =
        conn.query_row("SELECT max(version) FROM agent_schema", [], |r| r.get(0))?;
    Ok(found.unwrap_or(0))
}
